/*
 * 12_tls.c: HTTPS in miniature. A throwaway certificate from the openssl CLI, a
 * forked server driving a non-blocking flare_tls_conn (poll on what it wants, as a
 * reactor would), and a verified client stream doing one GET-like exchange.
 */
/* kill, mkdtemp, accept4: the POSIX and GNU parts of libc, also when this file is
 * compiled on its own against the installed library (`pkg-config --cflags --libs flare`). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "flare/tls.h"

static char dir[] = "/tmp/flare-example-XXXXXX", cert[64], key[64];

static void wait_for(const flare_tls_conn *c) /* FLARE_EAGAIN said which readiness */
{
    poll(&(struct pollfd){c->fd, c->want == FLARE_EV_WRITE ? POLLOUT : POLLIN, 0}, 1, 5000);
}

static void remove_files(void)
{
    unlink(cert);
    unlink(key);
    rmdir(dir);
}

static int serve_one(flare_tcp_listener *l)
{
    flare_tls_cert_config cc = {.cert_file = cert, .key_file = key};
    flare_tls_server_config cfg = {.certs = &cc, .cert_count = 1};
    flare_tls_server_ctx *ctx;
    flare_tls_conn c;
    int fd = flare_tcp_listener_accept(l, NULL, NULL); /* a non-blocking fd */
    if (fd < 0 || flare_tls_server_ctx_new(&ctx, &cfg, NULL) < 0 ||
        flare_tls_conn_init_server(&c, ctx, fd, NULL) < 0)
        return 1;
    char req[512];
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello\n";
    ssize_t n; /* each step repeats while it answers FLARE_EAGAIN */
    while ((n = flare_tls_conn_handshake(&c, NULL)) == FLARE_EAGAIN)
        wait_for(&c);
    if (n == 0)
        while ((n = flare_tls_conn_read(&c, req, sizeof req, NULL)) == FLARE_EAGAIN)
            wait_for(&c);
    if (n > 0)
        while ((n = flare_tls_conn_write(&c, resp, sizeof resp - 1, NULL)) == FLARE_EAGAIN)
            wait_for(&c);
    if (n > 0)
        while (flare_tls_conn_shutdown(&c, NULL) == FLARE_EAGAIN)
            wait_for(&c);
    flare_tls_conn_free(&c);
    flare_tls_server_ctx_free(ctx);
    close(fd);
    return n > 0 ? 0 : 1;
}

int main(void)
{
    char cmd[512];
    snprintf(cert, sizeof cert, "%s/cert.pem", mkdtemp(dir));
    snprintf(key, sizeof key, "%s/key.pem", dir);
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
             "-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 "
             "-keyout %s -out %s 2>/dev/null",
             key, cert);
    atexit(remove_files);
    if (system(cmd) != 0) return fprintf(stderr, "no openssl CLI: skipped\n"), 77;
    flare_error err;
    flare_tcp_listener l;
    pid_t child = -1;
    flare_tls_stream s = {.tcp.fd = -1}; /* closed until connected */
    if (flare_tcp_listen_str(&l, "127.0.0.1:0", NULL, &err) < 0) goto fail;
    child = fork();
    if (child == 0) _exit(serve_one(&l));
    flare_tcp_listener_close(&l);

    /* The self-signed certificate is its own CA; SNI and verification use "localhost". */
    flare_tls_client_config cfg = {.ca_file = cert, .timeout_ms = 3000, .io_timeout_ms = 3000};
    if (flare_tls_connect(&s, "localhost", l.local.port, &cfg, &err) < 0) goto fail;
    printf("%s with %s\n", flare_tls_conn_version(&s.conn), flare_tls_conn_cipher(&s.conn));
    const char req[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
    if (flare_tls_stream_write_all(&s, req, sizeof req - 1, &err) < 0) goto fail;
    char buf[256];
    ssize_t n, got = 0;
    while ((n = flare_tls_stream_read(&s, buf + got, sizeof buf - 1 - (size_t)got, &err)) > 0)
        got += n; /* 0 = the server's close_notify */
    if (n < 0) goto fail;
    buf[got] = '\0';
    printf("%s", buf);
    flare_tls_stream_close(&s);
    int status = 1;
    waitpid(child, &status, 0);
    return status == 0 ? 0 : 1;
fail:
    flare_tls_stream_close(&s);
    if (child > 0) kill(child, SIGKILL);
    fprintf(stderr, "error: %s (%s)\n", err.message, flare_error_name(err.code));
    return 1;
}
