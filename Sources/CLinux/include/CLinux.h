// Linux interfaces the Glibc module does not export: epoll, eventfd, signalfd, accept4.
#ifndef CLINUX_H
#define CLINUX_H
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <signal.h>

/// accept4(2) with SOCK_NONBLOCK | SOCK_CLOEXEC.
int clinux_accept_nonblocking(int fd, struct sockaddr *address, socklen_t *length);
/// The fd stored in an epoll event (the union is not visible to Swift as a plain field).
static inline int clinux_event_fd(const struct epoll_event *e) { return e->data.fd; }
static inline void clinux_set_event_fd(struct epoll_event *e, int fd) { e->data.fd = fd; }
#endif
