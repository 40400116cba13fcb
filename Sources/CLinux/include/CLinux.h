// Linux interfaces the Glibc module does not export: epoll, eventfd, signalfd, accept4.
#ifndef CLINUX_H
#define CLINUX_H
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/types.h>

/// LAN discovery groups: IPv4 administratively scoped (RFC 2365), IPv6 link-local (RFC 4291).
#define CLINUX_DISCOVERY_GROUP4 "239.255.76.84"
#define CLINUX_DISCOVERY_GROUP6 "ff02::4c61:7474"

/// C's stdout (Swift 6 refuses the global variable as shared mutable state; the stream itself
/// is locked by libc per call).
static inline FILE *clinux_stdout(void) { return stdout; }

/// A TCP socket's progress (TCP_INFO): the segments sent and not yet acknowledged, and the
/// milliseconds since an acknowledgement last arrived. 0, or -1 and errno (not a TCP socket).
int clinux_tcp_progress(int fd, uint32_t *unacked, uint32_t *since_ack_ms);
/// accept4(2) with SOCK_NONBLOCK | SOCK_CLOEXEC.
int clinux_accept_nonblocking(int fd, struct sockaddr *address, socklen_t *length);
/// The fd stored in an epoll event (the union is not visible to Swift as a plain field).
static inline int clinux_event_fd(const struct epoll_event *e) { return e->data.fd; }
static inline void clinux_set_event_fd(struct epoll_event *e, int fd) { e->data.fd = fd; }
/// A non-blocking UDP socket for discovery (SO_REUSEADDR/SO_REUSEPORT so that several nodes on
/// one host share the port; broadcast allowed; multicast TTL/hops 1) bound to the wildcard address
/// and joined to the discovery group on every multicast interface. -1 and errno on failure.
int clinux_discovery_socket(int family, uint16_t port);
/// Joins the discovery group on interfaces that appeared since; returns how many are joined.
int clinux_discovery_join(int fd, int family);
/// Sends one datagram to the discovery group on every up, non-loopback multicast interface (IPv4:
/// also to each subnet's broadcast address). Returns the number of datagrams sent.
int clinux_discovery_send(int fd, int family, const void *bytes, size_t length, uint16_t port);
/// recvfrom(2) with MSG_TRUNC (returns the full datagram length); the sender's address as text
/// in `host` (IPv6 link-local with "%ifname").
ssize_t clinux_recv_from(int fd, void *buffer, size_t capacity, char *host, size_t host_capacity);
/// Parses "addr" or "fe80::1%eth0" into a sockaddr_in6; -1 if invalid.
int clinux_scoped_sockaddr6(const char *host, uint16_t port, struct sockaddr_in6 *out);
/// prctl(PR_SET_PDEATHSIG, sig): `sig` is sent to this process when the thread that started it
/// exits. Returns 1 if the parent is already gone (getppid() != expected), 0 if set, -1 on error.
int clinux_exit_with_parent(int sig, pid_t expected_parent);
#endif
