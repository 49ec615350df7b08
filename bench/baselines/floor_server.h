/*
 * floor_server.h: what the two floor servers (floor.c, ws_floor.c) share: the
 * command line, the listening socket on 127.0.0.1, and one level-triggered epoll
 * loop that hands each connection's readiness to the including file's
 *   int  on_accepted(int ep, int fd);   0, or -1 to refuse the connection
 *   void on_readable(int ep, int fd);
 *   int  on_writable(int ep, int fd);   -1: close
 *   void close_conn(int fd);
 * Connections are indexed by descriptor, below floor_conn_limit().
 */
#ifndef FLOOR_SERVER_H
#define FLOOR_SERVER_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4 */
#endif
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static int on_accepted(int ep, int fd);
static void on_readable(int ep, int fd);
static int on_writable(int ep, int fd);
static void close_conn(int fd);

static size_t floor_conn_cap;

/* How many connection slots to allocate: one per possible descriptor. */
static size_t floor_conn_limit(void)
{
    struct rlimit rl;
    floor_conn_cap = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        floor_conn_cap = rl.rlim_cur;
    return floor_conn_cap;
}

static void floor_accept(int ep, int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return; /* EAGAIN, or out of descriptors: level-triggered, retried */
        if ((size_t)fd >= floor_conn_cap) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        if (on_accepted(ep, fd) < 0) {
            close(fd);
        } else if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            close_conn(fd);
        }
    }
}

/* Listens on 127.0.0.1:argv[1] and serves until killed; returns only on an error. */
static int floor_serve(const char *name, int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s PORT\n", name);
        return 64;
    }
    long port = strtol(argv[1], NULL, 10);
    if (port <= 0 || port > 65535) {
        fprintf(stderr, "%s: bad port '%s'\n", name, argv[1]);
        return 64;
    }
    signal(SIGPIPE, SIG_IGN);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 4096) < 0) {
        fprintf(stderr, "%s: listen on 127.0.0.1:%ld: %s\n", name, port, strerror(errno));
        return 1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.fd = lfd};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0) {
        fprintf(stderr, "%s: epoll: %s\n", name, strerror(errno));
        return 1;
    }

    struct epoll_event events[256];
    for (;;) {
        int n = epoll_wait(ep, events, 256, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            fprintf(stderr, "%s: epoll_wait: %s\n", name, strerror(errno));
            return 1;
        }
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == lfd) {
                floor_accept(ep, lfd);
            } else if (events[i].events & EPOLLIN) {
                on_readable(ep, fd);
            } else if (events[i].events & EPOLLOUT) {
                if (on_writable(ep, fd) < 0) close_conn(fd);
            } else {
                close_conn(fd);
            }
        }
    }
}

#endif
