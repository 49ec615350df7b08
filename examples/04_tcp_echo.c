/*
 * 04_tcp_echo.c: a TCP listener on 127.0.0.1 (port 0: the kernel picks one) and a
 * client stream doing one echo round trip with a forked server, plus TCP options.
 */
/* kill, mkdtemp, accept4: the POSIX and GNU parts of libc, also when this file is
 * compiled on its own against the installed library (`pkg-config --cflags --libs flare`). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "flare/tcp.h"

static int serve_one(flare_tcp_listener *l)
{
    flare_tcp_stream conn;
    char buf[512];
    if (flare_tcp_listener_accept_stream(l, &conn, NULL) < 0) return 1;
    ssize_t n;
    while ((n = flare_tcp_stream_read(&conn, buf, sizeof buf, NULL)) > 0) /* 0 = client's FIN */
        if (flare_tcp_stream_write_all(&conn, buf, (size_t)n, NULL) < 0) return 1;
    flare_tcp_stream_close(&conn);
    return n == 0 ? 0 : 1;
}

int main(void)
{
    flare_error err;
    pid_t child = -1;
    flare_tcp_listener l;
    flare_tcp_listen_options lopts = {.backlog = 16, .accept_blocking = true};
    if (flare_tcp_listen_str(&l, "127.0.0.1:0", &lopts, &err) < 0) goto fail;
    char where[FLARE_SOCK_ADDR_STR_MAX];
    flare_sock_addr_format(&l.local, where, sizeof where);
    printf("listening on %s\n", where);

    child = fork();
    if (child == 0) _exit(serve_one(&l));
    flare_tcp_listener_close(&l); /* the child holds its own copy */

    /* TCP_NODELAY is on by default; add a 5 s receive timeout and keep-alive probes. */
    flare_tcp_stream s;
    flare_tcp_connect_options copts = {.timeout_ms = 3000, .recv_timeout_ms = 5000};
    if (flare_tcp_connect(&s, "127.0.0.1", l.local.port, &copts, &err) < 0) goto fail;
    if (flare_tcp_stream_set_keepalive(&s, true, 60, 10, 5, &err) < 0) goto fail;

    const char msg[] = "hello, flare";
    if (flare_tcp_stream_write_all(&s, msg, sizeof msg - 1, &err) < 0) goto fail;
    flare_tcp_stream_shutdown(&s, FLARE_TCP_SHUT_WRITE, &err); /* no more to send */
    char echo[64];
    size_t got = 0;
    ssize_t n;
    while ((n = flare_tcp_stream_read(&s, echo + got, sizeof echo - got, &err)) > 0)
        got += (size_t)n;
    if (n < 0) goto fail;
    flare_tcp_stream_close(&s);

    int status = 0;
    waitpid(child, &status, 0);
    printf("echoed %zu bytes: %.*s\n", got, (int)got, echo);
    if (got != sizeof msg - 1 || memcmp(echo, msg, got) != 0 || status != 0) {
        fprintf(stderr, "echo mismatch or server failure\n");
        return 1;
    }
    return 0;
fail:
    if (child > 0) kill(child, SIGKILL);
    fprintf(stderr, "error: %s (%s)\n", err.message, flare_error_name(err.code));
    return 1;
}
