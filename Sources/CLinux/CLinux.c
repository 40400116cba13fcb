#define _GNU_SOURCE
#include <sys/socket.h>
#include "CLinux.h"

int clinux_accept_nonblocking(int fd, struct sockaddr *address, socklen_t *length) {
    return accept4(fd, address, length, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <string.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static const char *clinux_group4 = CLINUX_DISCOVERY_GROUP4;
static const char *clinux_group6 = CLINUX_DISCOVERY_GROUP6;

static int clinux_udp_socket(int family, uint16_t port) {
    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1, hops = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    int rc;
    if (family == AF_INET) {
        setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one);
        setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &hops, sizeof hops);
        setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &one, sizeof one);
        struct sockaddr_in a = {0};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_ANY);
        rc = bind(fd, (struct sockaddr *)&a, sizeof a);
    } else {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops);
        setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &one, sizeof one);
        struct sockaddr_in6 a = {0};
        a.sin6_family = AF_INET6;
        a.sin6_port = htons(port);
        a.sin6_addr = in6addr_any;
        rc = bind(fd, (struct sockaddr *)&a, sizeof a);
    }
    if (rc != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/// Interfaces that are up, not loopback, and can multicast.
static int clinux_usable(const struct ifaddrs *i) {
    return i->ifa_addr && (i->ifa_flags & IFF_UP) && !(i->ifa_flags & IFF_LOOPBACK) && (i->ifa_flags & IFF_MULTICAST);
}

/// Calls `body` once per up, non-loopback, multicast-capable interface with an address of
/// `family` (an interface with several addresses is visited once); returns the sum of what
/// `body` returned, or -1 if the interfaces cannot be listed.
typedef int (*clinux_interface_body)(int fd, unsigned index, const struct ifaddrs *entry, void *context);

static int clinux_each_interface(int fd, int family, clinux_interface_body body, void *context) {
    struct ifaddrs *list;
    if (getifaddrs(&list) != 0) return -1;
    int total = 0;
    for (struct ifaddrs *i = list; i; i = i->ifa_next) {
        if (!clinux_usable(i) || i->ifa_addr->sa_family != family) continue;
        int seen = 0;
        for (struct ifaddrs *j = list; j != i; j = j->ifa_next)
            if (clinux_usable(j) && j->ifa_addr->sa_family == family && strcmp(j->ifa_name, i->ifa_name) == 0) seen = 1;
        if (seen) continue;
        unsigned index = if_nametoindex(i->ifa_name);
        if (index != 0) total += body(fd, index, i, context);
    }
    freeifaddrs(list);
    return total;
}

static int clinux_join_one(int fd, unsigned index, const struct ifaddrs *entry, void *context) {
    (void)context;
    if (entry->ifa_addr->sa_family == AF_INET) {
        struct ip_mreqn m = {0};
        inet_pton(AF_INET, clinux_group4, &m.imr_multiaddr);
        m.imr_ifindex = (int)index;
        return setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m) == 0 || errno == EADDRINUSE;
    }
    struct ipv6_mreq m = {0};
    inet_pton(AF_INET6, clinux_group6, &m.ipv6mr_multiaddr);
    m.ipv6mr_interface = index;
    return setsockopt(fd, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, &m, sizeof m) == 0 || errno == EADDRINUSE;
}

int clinux_discovery_join(int fd, int family) { return clinux_each_interface(fd, family, clinux_join_one, NULL); }

int clinux_discovery_socket(int family, uint16_t port) {
    int fd = clinux_udp_socket(family, port);
    if (fd < 0) return -1;
    clinux_discovery_join(fd, family);
    return fd;
}

struct clinux_datagram {
    const void *bytes;
    size_t length;
    uint16_t port;
};

static int clinux_send_one(int fd, unsigned index, const struct ifaddrs *entry, void *context) {
    const struct clinux_datagram *d = context;
    int sent = 0;
    if (entry->ifa_addr->sa_family == AF_INET) {
        // Multicast out of this interface, and its subnet's broadcast address.
        struct ip_mreqn m = {0};
        m.imr_ifindex = (int)index;
        setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof m);
        struct sockaddr_in to = {0};
        to.sin_family = AF_INET;
        to.sin_port = htons(d->port);
        inet_pton(AF_INET, clinux_group4, &to.sin_addr);
        if (sendto(fd, d->bytes, d->length, MSG_NOSIGNAL, (struct sockaddr *)&to, sizeof to) == (ssize_t)d->length) sent++;
        if ((entry->ifa_flags & IFF_BROADCAST) && entry->ifa_broadaddr) {
            struct sockaddr_in b = *(const struct sockaddr_in *)entry->ifa_broadaddr;
            b.sin_port = htons(d->port);
            if (sendto(fd, d->bytes, d->length, MSG_NOSIGNAL, (struct sockaddr *)&b, sizeof b) == (ssize_t)d->length) sent++;
        }
        return sent;
    }
    // IPv6: the link-local group, scoped to this interface.
    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &index, sizeof index);
    struct sockaddr_in6 to = {0};
    to.sin6_family = AF_INET6;
    to.sin6_port = htons(d->port);
    to.sin6_scope_id = index;
    inet_pton(AF_INET6, clinux_group6, &to.sin6_addr);
    return sendto(fd, d->bytes, d->length, MSG_NOSIGNAL, (struct sockaddr *)&to, sizeof to) == (ssize_t)d->length;
}

int clinux_discovery_send(int fd, int family, const void *bytes, size_t length, uint16_t port) {
    struct clinux_datagram d = {bytes, length, port};
    return clinux_each_interface(fd, family, clinux_send_one, &d);
}

ssize_t clinux_recv_from(int fd, void *buffer, size_t capacity, char *host, size_t host_capacity) {
    struct sockaddr_storage from;
    socklen_t len = sizeof from;
    ssize_t n = recvfrom(fd, buffer, capacity, MSG_TRUNC, (struct sockaddr *)&from, &len);
    if (n < 0) return n;
    host[0] = 0;
    if (from.ss_family == AF_INET) {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&from)->sin_addr, host, (socklen_t)host_capacity);
    } else if (from.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&from;
        inet_ntop(AF_INET6, &a->sin6_addr, host, (socklen_t)host_capacity);
        if (a->sin6_scope_id != 0) {
            char name[IF_NAMESIZE];
            size_t used = strlen(host);
            if (if_indextoname(a->sin6_scope_id, name) && used + 1 + strlen(name) < host_capacity) {
                host[used] = '%';
                strcpy(host + used + 1, name);
            }
        }
    }
    return n;
}

int clinux_scoped_sockaddr6(const char *host, uint16_t port, struct sockaddr_in6 *out) {
    char text[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
    size_t n = strlen(host);
    if (n >= sizeof text) return -1;
    memcpy(text, host, n + 1);
    memset(out, 0, sizeof *out);
    out->sin6_family = AF_INET6;
    out->sin6_port = htons(port);
    char *percent = strchr(text, '%');
    if (percent) {
        *percent = 0;
        out->sin6_scope_id = if_nametoindex(percent + 1);
        if (out->sin6_scope_id == 0) return -1;
    }
    return inet_pton(AF_INET6, text, &out->sin6_addr) == 1 ? 0 : -1;
}

int clinux_exit_with_parent(int sig, pid_t expected_parent) {
    if (prctl(PR_SET_PDEATHSIG, sig) != 0) return -1;
    return getppid() == expected_parent ? 0 : 1;
}

int clinux_tcp_progress(int fd, uint32_t *unacked, uint32_t *since_ack_ms) {
    struct tcp_info info;
    socklen_t length = sizeof info;
    memset(&info, 0, sizeof info);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0) return -1;
    *unacked = info.tcpi_unacked;
    *since_ack_ms = info.tcpi_last_ack_recv;
    return 0;
}
