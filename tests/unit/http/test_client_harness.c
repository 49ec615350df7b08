/*
 * test_client_harness.c: the raw scripted server and the live flare_http_server
 * used by the client tests (see test_client_harness.h).
 */
#include "test_client_harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

static void *raw_thread(void *arg)
{
    raw_server *s = arg;
    while (!s->stop) {
        struct pollfd p = {.fd = s->listen_fd, .events = POLLIN};
        if (poll(&p, 1, 20) <= 0) continue;
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0) continue;
        pthread_mutex_lock(&s->lock);
        int index = s->connections++;
        pthread_mutex_unlock(&s->lock);
        s->handler(s, fd, index);
        close(fd);
        pthread_mutex_lock(&s->lock);
        s->closed++;
        pthread_mutex_unlock(&s->lock);
    }
    return NULL;
}

void raw_start(raw_server *s, raw_handler handler, void *ctx)
{
    memset(s, 0, sizeof *s);
    s->handler = handler;
    s->ctx = ctx;
    pthread_mutex_init(&s->lock, NULL);
    s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s->listen_fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    assert_int_equal(bind(s->listen_fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->listen_fd, 64), 0);
    assert_int_equal(getsockname(s->listen_fd, (struct sockaddr *)&a, &alen), 0);
    s->port = ntohs(a.sin_port);
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%u", s->port);
    assert_int_equal(pthread_create(&s->thread, NULL, raw_thread, s), 0);
}

void raw_stop(raw_server *s)
{
    s->stop = 1;
    pthread_join(s->thread, NULL);
    close(s->listen_fd);
    for (int i = 0; i < s->nrequests; i++)
        free(s->requests[i]);
    pthread_mutex_destroy(&s->lock);
}

static long content_length(const char *head)
{
    const char *v = raw_header(head, "Content-Length");
    return *v ? strtol(v, NULL, 10) : 0;
}

ssize_t raw_read_request(raw_server *s, int fd)
{
    char *buf = malloc(RAW_REQUEST_MAX + 1);
    size_t len = 0;
    char *end = NULL;
    while (!end) {
        if (len == RAW_REQUEST_MAX) goto fail;
        ssize_t n = recv(fd, buf + len, RAW_REQUEST_MAX - len, 0);
        if (n == 0 && len == 0) {
            free(buf);
            return 0;
        }
        if (n <= 0) goto fail;
        len += (size_t)n;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
    }
    size_t head_len = (size_t)(end + 4 - buf);
    char saved = buf[head_len];
    buf[head_len] = '\0';
    long body = content_length(buf);
    bool chunked = strcasestr(buf, "transfer-encoding: chunked") != NULL;
    buf[head_len] = saved;
    /* A chunked body ends at its last chunk (no trailers here: the client sends none). */
    while (chunked ? !(len - head_len >= 5 && !memcmp(buf + len - 5, "0\r\n\r\n", 5) &&
                       (len - head_len == 5 || !memcmp(buf + len - 7, "\r\n", 2)))
                   : len < head_len + (size_t)body) {
        if (len == RAW_REQUEST_MAX) goto fail;
        ssize_t n = recv(fd, buf + len, RAW_REQUEST_MAX - len, 0);
        if (n <= 0) goto fail;
        len += (size_t)n;
    }
    buf[len] = '\0';
    pthread_mutex_lock(&s->lock);
    if (s->nrequests < RAW_MAX_REQUESTS) {
        s->requests[s->nrequests] = buf;
        s->request_len[s->nrequests++] = len;
        buf = NULL;
    }
    pthread_mutex_unlock(&s->lock);
    free(buf);
    return (ssize_t)len;
fail:
    free(buf);
    return -1;
}

void raw_send(int fd, const char *data, size_t len)
{
    if (!len) len = strlen(data);
    while (len) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return; /* the client went away: the test decides what that means */
        data += n;
        len -= (size_t)n;
    }
}

void raw_respond(int fd, int status, const char *extra, const char *body)
{
    char head[1024];
    snprintf(head, sizeof head, "HTTP/1.1 %d X\r\n%sContent-Length: %zu\r\n\r\n", status,
             extra ? extra : "", strlen(body));
    raw_send(fd, head, 0);
    raw_send(fd, body, 0);
}

const char *raw_request(raw_server *s, int i)
{
    pthread_mutex_lock(&s->lock);
    const char *r = i < s->nrequests ? s->requests[i] : NULL;
    pthread_mutex_unlock(&s->lock);
    return r;
}

int raw_request_count(raw_server *s)
{
    pthread_mutex_lock(&s->lock);
    int n = s->nrequests;
    pthread_mutex_unlock(&s->lock);
    return n;
}

int raw_connection_count(raw_server *s)
{
    pthread_mutex_lock(&s->lock);
    int n = s->connections;
    pthread_mutex_unlock(&s->lock);
    return n;
}

bool raw_wait_closed(raw_server *s, int n)
{
    for (int i = 0; i < 500; i++) {
        pthread_mutex_lock(&s->lock);
        int closed = s->closed;
        pthread_mutex_unlock(&s->lock);
        if (closed >= n) return true;
        usleep(10000);
    }
    return false;
}

const char *raw_header(const char *req, const char *name)
{
    static __thread char value[4096];
    size_t nl = strlen(name);
    const char *line = strstr(req, "\r\n");
    value[0] = '\0';
    while (line && line[2] != '\r' && line[2] != '\0') {
        line += 2;
        const char *eol = strstr(line, "\r\n");
        if (!eol) break;
        if ((size_t)(eol - line) > nl && line[nl] == ':' && !strncasecmp(line, name, nl)) {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            snprintf(value, sizeof value, "%.*s", (int)(eol - v), v);
            return value;
        }
        line = eol;
    }
    return value;
}

static void *live_thread(void *arg)
{
    live_server *s = arg;
    flare_error err;
    if (flare_reactor_run(s->reactor, &err) < 0) fprintf(stderr, "reactor: %s\n", err.message);
    return NULL;
}

void live_init(live_server *s)
{
    flare_error err;
    memset(s, 0, sizeof *s);
    if (flare_reactor_new(&s->reactor, &err) < 0) fail_msg("reactor: %s", err.message);
    if (flare_http_server_new(&s->srv, s->reactor, NULL, &err) < 0)
        fail_msg("server: %s", err.message);
    if (flare_http_server_listen(s->srv, "127.0.0.1:0", &s->port, &err) < 0)
        fail_msg("listen: %s", err.message);
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%u", s->port);
}

void live_run(live_server *s)
{
    assert_int_equal(pthread_create(&s->thread, NULL, live_thread, s), 0);
}

void live_stop(live_server *s)
{
    flare_reactor_stop(s->reactor);
    pthread_join(s->thread, NULL);
    flare_http_server_free(s->srv);
    flare_reactor_free(s->reactor);
}
