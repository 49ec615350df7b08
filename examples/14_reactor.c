/*
 * 14_reactor.c: the reactor and timing wheel used directly for a custom line
 * protocol. The server upper-cases each line it receives and closes a connection
 * after 200 ms of silence; a client in the same loop sends two lines, prints the
 * replies and sees the idle close. Everything runs on one thread, on loopback.
 */
/* kill, mkdtemp, accept4: the POSIX and GNU parts of libc, also when this file is
 * compiled on its own against the installed library (`pkg-config --cflags --libs flare`). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "flare/net.h"
#include "flare/runtime.h"

typedef struct line_conn {
    int fd;
    flare_timer idle; /* closes the connection after 200 ms without input */
    flare_reactor *reactor;
} line_conn;

static void conn_close(line_conn *c)
{
    flare_timer_cancel(flare_reactor_timers(c->reactor), &c->idle);
    flare_reactor_remove(c->reactor, c->fd);
    close(c->fd);
    free(c);
}

static void on_idle(flare_timer *t, void *data)
{
    (void)t;
    printf("server: idle for 200 ms, closing\n");
    conn_close(data);
}

static void on_conn(flare_reactor *r, int fd, uint32_t events, void *data)
{
    line_conn *c = data;
    char buf[512];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            buf[i] = (char)toupper((unsigned char)buf[i]);
        if (write(fd, buf, (size_t)n) != n) break; /* tiny replies: never partial here */
        flare_reactor_timer_in(r, &c->idle, 200);
    }
    if (n == 0) conn_close(c);
}

static void on_accept(flare_reactor *r, int fd, uint32_t events, void *data)
{
    int cfd;
    while ((cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        line_conn *c = calloc(1, sizeof *c);
        if (!c) {
            close(cfd);
            continue;
        }
        c->fd = cfd;
        c->reactor = r;
        flare_timer_init(&c->idle, on_idle, c);
        flare_reactor_add(r, cfd, FLARE_EV_READ, on_conn, c, NULL);
        flare_reactor_timer_in(r, &c->idle, 200);
    }
}

static void on_client(flare_reactor *r, int fd, uint32_t events, void *data)
{
    int *replies = data;
    char buf[512];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        printf("client got: %.*s", (int)n, buf);
        *replies += (int)n;
    }
    if (n == 0) {
        printf("client: server closed the connection\n");
        flare_reactor_remove(r, fd);
        flare_reactor_stop(r);
    }
}

int main(void)
{
    flare_reactor *r;
    flare_error err;
    if (flare_reactor_new(&r, &err) < 0) return fprintf(stderr, "%s\n", err.message), 1;

    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (bind(lfd, (struct sockaddr *)&sa, len) < 0 || listen(lfd, 16) < 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &len) < 0)
        return perror("listen"), 1;
    flare_reactor_add(r, lfd, FLARE_EV_READ, on_accept, NULL, NULL);

    int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(cfd, (struct sockaddr *)&sa, len) < 0) return perror("connect"), 1;
    const char hello[] = "hello\nreactor\n";
    if (write(cfd, hello, sizeof hello - 1) != (ssize_t)(sizeof hello - 1)) return 1;
    int replies = 0;
    flare_socket_set_nonblocking(cfd, true, NULL); /* edge-triggered reads drain until EAGAIN */
    flare_reactor_add(r, cfd, FLARE_EV_READ, on_client, &replies, NULL);

    if (flare_reactor_run(r, &err) < 0) return fprintf(stderr, "%s\n", err.message), 1;
    close(cfd);
    flare_reactor_remove(r, lfd);
    close(lfd);
    flare_reactor_free(r);
    return replies == (int)sizeof hello - 1 ? 0 : 1;
}
