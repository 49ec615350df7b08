/*
 * test_client_retry.c: when client.c sends a request again on a new connection,
 * against scripted raw servers: a reused connection closed without an answer
 * (idempotent methods only, RFC 9112 §9.3.1), a reused connection answered 408
 * (any method, RFC 9110 §15.5.9), and never a body that cannot be sent again; a
 * 408 on a new connection is the answer. Also the streamed body itself, chunked or
 * sized (Content-Length, cut short when its source ends early).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flare/http_client.h"
#include "test_client_harness.h"

static flare_http_client *client(void)
{
    flare_http_client *c;
    flare_error err;
    if (flare_http_client_new(&c, NULL, &err) < 0) fail_msg("client: %s", err.message);
    return c;
}

static char *url_of(const raw_server *s)
{
    static char u[256];
    snprintf(u, sizeof u, "%s/", s->url);
    return u;
}

/* Later connections answer every request "fresh METHOD BODY" (the body as it came,
 * chunk framing and all) and stay open. */
static void answer_fresh(raw_server *s, int fd)
{
    while (raw_read_request(s, fd) > 0) {
        const char *req = raw_request(s, raw_request_count(s) - 1);
        char text[512];
        snprintf(text, sizeof text, "fresh %.*s %s", (int)strcspn(req, " "), req,
                 strstr(req, "\r\n\r\n") + 4);
        raw_respond(fd, 200, NULL, text);
    }
}

/* Connection 0 answers once, then closes when the second request arrives. */
static void close_on_second(raw_server *s, int fd, int index)
{
    if (index > 0) {
        answer_fresh(s, fd);
        return;
    }
    if (raw_read_request(s, fd) <= 0) return;
    raw_respond(fd, 200, NULL, "one");
    raw_read_request(s, fd); /* the request on the now-stale connection: no answer */
}

/* Connection 0 answers once, then meets the second request with 408 and closes, as
 * a server does whose idle timer fires just as the request arrives. */
static void timeout_on_second(raw_server *s, int fd, int index)
{
    if (index > 0) {
        answer_fresh(s, fd);
        return;
    }
    if (raw_read_request(s, fd) <= 0) return;
    raw_respond(fd, 200, NULL, "one");
    if (raw_read_request(s, fd) > 0) raw_respond(fd, 408, "Connection: close\r\n", "idle too long");
}

/* Every connection's first request is answered 408 and the connection closed. */
static void always_timeout(raw_server *s, int fd, int index)
{
    (void)index;
    if (raw_read_request(s, fd) > 0) raw_respond(fd, 408, "Connection: close\r\n", "too slow");
}

/* A streamed body: "hello" in pieces of two bytes (fewer when asked); rewound when allowed. */
typedef struct stream {
    const char *data;
    size_t off;
    int rewinds;
} stream;

static ssize_t stream_read(void *ctx, char *buf, size_t cap, flare_error *err)
{
    (void)err;
    stream *st = ctx;
    size_t left = strlen(st->data) - st->off, n = left < 2 ? left : 2;
    assert_true(cap >= 1);
    if (n > cap) n = cap;
    memcpy(buf, st->data + st->off, n);
    st->off += n;
    return (ssize_t)n;
}

/* A source that fails after its first piece. */
static ssize_t broken_read(void *ctx, char *buf, size_t cap, flare_error *err)
{
    stream *st = ctx;
    if (st->off++ == 0) {
        memcpy(buf, "ab", 2);
        return 2;
    }
    return flare_error_set(err, FLARE_ENOTFOUND, 0, "the source broke");
}

static int stream_rewind(void *ctx, flare_error *err)
{
    (void)err;
    stream *st = ctx;
    st->off = 0;
    st->rewinds++;
    return 0;
}

/* Sends the request twice on one client: the first opens the connection, the second
 * goes on it (its streamed body, if any, from the start). Returns the second's
 * code; r holds its reply. */
static int second_request(raw_server *s, flare_http_client *c, flare_http_request_opts *o,
                          flare_http_reply *r, flare_error *err)
{
    o->url = url_of(s);
    if (flare_http_client_request(c, o, r, err) < 0) fail_msg("first: %s", err->message);
    assert_string_equal(r->body, "one");
    flare_http_reply_free(r);
    stream *st = o->body_ctx;
    if (st) *st = (stream){st->data, 0, 0};
    return flare_http_client_request(c, o, r, err);
}

/* One request sent second on a client, against a server that fails it on the reused
 * connection; what the caller gets, and what the server saw. */
typedef struct retry_case {
    raw_handler server;
    const char *method, *body; /* body NULL: none */
    bool streamed, rewind;     /* body through body_read, with or without body_rewind */
    int rc, status;            /* want */
    const char *reply;
    bool reused;
    uint64_t retries;
    int requests;
    bool sized; /* streamed with body_size (Content-Length), not chunked */
} retry_case;

static const retry_case retry_cases[] = {
    /* closed without an answer (RFC 9112 §9.3.1): an idempotent request goes again */
    {close_on_second, "GET", NULL, false, false, 0, 200, "fresh GET ", false, 1, 3, false},
    /* not POST: the server may have acted on it, the failure is the caller's */
    {close_on_second, "POST", "{}", false, false, FLARE_ECLOSED, 0, NULL, false, 0, 2, false},
    /* PUT is idempotent, but a streamed body without a rewind cannot go out again */
    {close_on_second, "PUT", "hello", true, false, FLARE_ECLOSED, 0, NULL, false, 0, 2, false},
    /* 408 (RFC 9110 §15.5.9): not the answer; any method goes again on a new connection */
    {timeout_on_second, "GET", NULL, false, false, 0, 200, "fresh GET ", false, 1, 3, false},
    {timeout_on_second, "POST", "{\"a\":1}", false, false, 0, 200, "fresh POST {\"a\":1}", false, 1,
     3, false},
    {timeout_on_second, "POST", "hello", true, true, 0, 200,
     "fresh POST 2\r\nhe\r\n2\r\nll\r\n1\r\no\r\n0\r\n\r\n", false, 1, 3, false},
    /* unless its body cannot be sent again: then the 408 is the answer */
    {timeout_on_second, "POST", "hi", true, false, 0, 408, "idle too long", true, 0, 2, false},
    /* a sized stream (Content-Length) is rewound and sent again the same way */
    {timeout_on_second, "POST", "hello", true, true, 0, 200, "fresh POST hello", false, 1, 3, true},
    {close_on_second, "PUT", "hello", true, true, 0, 200, "fresh PUT hello", false, 1, 3, true},
};

static void test_retry_on_a_reused_connection(void **state)
{
    (void)state;
    for (size_t i = 0; i < FLARE_N_ELEMENTS(retry_cases); i++) {
        const retry_case *t = &retry_cases[i];
        raw_server s;
        raw_start(&s, t->server, NULL);
        flare_http_client *c = client();
        flare_http_reply r;
        flare_error err;
        stream body = {t->body, 0, 0};
        flare_http_request_opts o = {.method = t->method};
        if (t->streamed) {
            o.body_read = stream_read;
            o.body_rewind = t->rewind ? stream_rewind : NULL;
            o.body_ctx = &body;
            o.body_sized = t->sized;
            o.body_size = strlen(t->body);
        } else if (t->body) {
            o.body = t->body;
            o.body_len = strlen(t->body);
        }
        int rc = second_request(&s, c, &o, &r, &err);
        if (rc != t->rc) fail_msg("case %zu: %d (%s)", i, rc, rc < 0 ? err.message : "");
        if (rc == 0) {
            assert_int_equal(r.status, t->status);
            assert_string_equal(r.body, t->reply);
            assert_int_equal(r.reused_connection, t->reused);
        }
        flare_http_reply_free(&r);
        const flare_http_client_stats *st = flare_http_client_get_stats(c);
        assert_int_equal(st->retries, t->retries);
        assert_int_equal(st->connections_opened, 1 + t->retries);
        assert_int_equal(body.rewinds, t->streamed ? t->retries : 0); /* before a resend */
        assert_int_equal(raw_request_count(&s), t->requests);
        if (t->streamed) /* what went out on the reused connection: the whole body */
            assert_non_null(strstr(raw_request(&s, 1), t->sized    ? "\r\n\r\nhello"
                                                       : t->rewind ? "\r\n\r\n2\r\nhe\r\n"
                                                                   : "\r\n0\r\n\r\n"));
        if (t->retries) { /* the new connection is pooled and used as any other */
            assert_int_equal(flare_http_client_get(c, url_of(&s), &r, &err), 0);
            assert_true(r.reused_connection);
            flare_http_reply_free(&r);
        }
        flare_http_client_free(c);
        raw_stop(&s);
    }
}

static void test_408_on_a_new_connection(void **state)
{
    (void)state;
    /* a 408 there is the server's answer to this request */
    raw_server s;
    raw_start(&s, always_timeout, NULL);
    flare_http_client *c = client();
    flare_http_reply r;
    flare_error err;
    assert_int_equal(flare_http_client_get(c, url_of(&s), &r, &err), 0);
    assert_int_equal(r.status, 408);
    assert_string_equal(r.body, "too slow");
    assert_false(r.reused_connection);
    flare_http_reply_free(&r);
    assert_int_equal(flare_http_client_get_stats(c)->retries, 0);
    assert_int_equal(raw_request_count(&s), 1);
    flare_http_client_free(c);
    raw_stop(&s);
}

/* 307 to /to (and 303 too); /to answers like a fresh connection. */
static void redirect_then_fresh(raw_server *s, int fd, int index)
{
    (void)index;
    while (raw_read_request(s, fd) > 0) {
        const char *req = raw_request(s, raw_request_count(s) - 1);
        if (!strncmp(strchr(req, ' '), " /307 ", 6))
            raw_respond(fd, 307, "Location: /to\r\n", "moved");
        else if (!strncmp(strchr(req, ' '), " /303 ", 6))
            raw_respond(fd, 303, "Location: /to\r\n", "see other");
        else
            raw_respond(fd, 200, NULL, strstr(req, "\r\n\r\n") + 4);
    }
}

/* The streamed-body tests' server (redirect_then_fresh) and client. */
typedef struct fixture {
    raw_server s;
    flare_http_client *c;
} fixture;

static int start_fixture(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    raw_start(&f->s, redirect_then_fresh, NULL);
    f->c = client();
    *state = f;
    return 0;
}

static int stop_fixture(void **state)
{
    fixture *f = *state;
    flare_http_client_free(f->c);
    raw_stop(&f->s);
    free(f);
    return 0;
}

static void test_streamed_body_and_redirects(void **state)
{
    fixture *f = *state;
    raw_server *s = &f->s;
    flare_http_client *c = f->c;
    flare_http_reply r;
    flare_error err;
    char url[256];
    stream body = {"hello", 0, 0};
    flare_http_request_opts o = {
        .method = "POST", .url = url, .body_read = stream_read, .body_ctx = &body};
    /* 307 keeps the body: without a rewind the 307 is the answer */
    snprintf(url, sizeof url, "%s/307", s->url);
    assert_int_equal(flare_http_client_request(c, &o, &r, &err), 0);
    assert_int_equal(r.status, 307);
    assert_string_equal(r.body, "moved");
    assert_string_equal(raw_header(raw_request(s, 0), "Transfer-Encoding"), "chunked");
    assert_string_equal(raw_header(raw_request(s, 0), "Content-Length"), "");
    flare_http_reply_free(&r);
    /* with one it is followed, the body sent again */
    body = (stream){"hello", 0, 0};
    o.body_rewind = stream_rewind;
    assert_int_equal(flare_http_client_request(c, &o, &r, &err), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "2\r\nhe\r\n2\r\nll\r\n1\r\no\r\n0\r\n\r\n");
    assert_int_equal(body.rewinds, 1);
    flare_http_reply_free(&r);
    /* 303 drops the body: followed without one */
    body = (stream){"hello", 0, 0};
    o.body_rewind = NULL;
    snprintf(url, sizeof url, "%s/303", s->url);
    assert_int_equal(flare_http_client_request(c, &o, &r, &err), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.method, "GET");
    assert_string_equal(r.body, "");
    flare_http_reply_free(&r);
    /* a source's failure ends the request with it, and the connection with it too */
    body = (stream){"", 0, 0};
    o.body_read = broken_read;
    snprintf(url, sizeof url, "%s/to", s->url);
    uint64_t opened = flare_http_client_get_stats(c)->connections_opened;
    assert_int_equal(flare_http_client_request(c, &o, &r, &err), FLARE_ENOTFOUND);
    assert_string_equal(err.message, "the source broke");
    flare_http_reply_free(&r);
    assert_int_equal(flare_http_client_get(c, url, &r, &err), 0);
    assert_false(r.reused_connection);
    assert_int_equal(flare_http_client_get_stats(c)->connections_opened, opened + 1);
    flare_http_reply_free(&r);
    /* body and body_read together are refused */
    o.body = "x";
    assert_int_equal(flare_http_client_request(c, &o, &r, &err), FLARE_EINVAL);
    flare_http_reply_free(&r);
}

/* A source that fails with a system error after its first piece, as a file read can. */
static ssize_t failing_read(void *ctx, char *buf, size_t cap, flare_error *err)
{
    ssize_t n = broken_read(ctx, buf, cap, err);
    return n < 0 ? flare_error_set(err, FLARE_ESYS, 5, "reading the source") : n;
}

static void test_sized_streamed_body(void **state)
{
    fixture *f = *state;
    flare_http_client *c = f->c;
    flare_http_reply r;
    flare_error err;
    char url[256];
    snprintf(url, sizeof url, "%s/to", f->s.url);
    stream body = {"hello", 0, 0};
    flare_http_request_opts o = {.method = "PUT",
                                 .url = url,
                                 .body_read = stream_read,
                                 .body_ctx = &body,
                                 .body_sized = true,
                                 .body_size = 5};
    /* Content-Length from body_size, the bytes as they are, no chunk framing */
    assert_int_equal(flare_http_client_request(c, &o, &r, &err), 0);
    assert_string_equal(r.body, "hello");
    assert_string_equal(raw_header(raw_request(&f->s, 0), "Content-Length"), "5");
    assert_string_equal(raw_header(raw_request(&f->s, 0), "Transfer-Encoding"), "");
    flare_http_reply_free(&r);
    /* a source longer than body_size is never asked for a byte past it */
    body = (stream){"hello", 0, 0};
    o.body_size = 4;
    assert_int_equal(flare_http_client_request(c, &o, &r, &err), 0);
    assert_string_equal(r.body, "hell");
    assert_int_equal(body.off, 4);
    assert_true(r.reused_connection);
    flare_http_reply_free(&r);
    /* one that ends early fails the request, and the connection closes mid-body: the
     * server never gets a short body under the longer Content-Length */
    body = (stream){"hello", 0, 0};
    o.body_size = 9;
    int requests = raw_request_count(&f->s);
    assert_int_equal(flare_http_client_request(c, &o, &r, &err), FLARE_EINVAL);
    assert_string_equal(err.message, "the streamed body ended after 5 of its 9 bytes "
                                     "(body_size): the request was abandoned");
    flare_http_reply_free(&r);
    assert_true(raw_wait_closed(&f->s, 1));
    assert_int_equal(raw_request_count(&f->s), requests); /* no whole request arrived */
    assert_int_equal(flare_http_client_get_stats(c)->retries, 0);
    /* an empty sized body: Content-Length: 0, the source never called */
    body = (stream){"hello", 0, 0};
    o.body_size = 0;
    assert_int_equal(flare_http_client_request(c, &o, &r, &err), 0);
    assert_string_equal(r.body, "");
    assert_int_equal(body.off, 0);
    assert_string_equal(raw_header(raw_request(&f->s, requests), "Content-Length"), "0");
    flare_http_reply_free(&r);
    /* a source's own system error on a reused connection is no stale connection: the
     * request is not sent again, though it is idempotent and rewindable */
    body = (stream){"", 0, 0};
    o.body_read = failing_read;
    o.body_rewind = stream_rewind;
    o.body_size = 10;
    assert_int_equal(flare_http_client_request(c, &o, &r, &err), FLARE_ESYS);
    assert_string_equal(err.message, "reading the source: Input/output error");
    assert_int_equal(body.rewinds, 0);
    assert_int_equal(flare_http_client_get_stats(c)->retries, 0);
    flare_http_reply_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_on_a_reused_connection),
        cmocka_unit_test(test_408_on_a_new_connection),
        cmocka_unit_test_setup_teardown(test_streamed_body_and_redirects, start_fixture,
                                        stop_fixture),
        cmocka_unit_test_setup_teardown(test_sized_streamed_body, start_fixture, stop_fixture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
