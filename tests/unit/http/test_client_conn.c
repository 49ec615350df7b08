/*
 * test_client_conn.c: the client's connections over TLS (client_conn.c) against
 * a live flare_http_server with a TLS listener and the throwaway PKI of the tls
 * tests: https with a given CA, keep-alive reuse over TLS (session tickets arrive
 * after the handshake and must not make a pooled connection look stale),
 * verification failures surfacing as typed errors (untrusted, host mismatch,
 * expired), verification off with its warning, and http/https mix-ups.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "../tls/tls_fixture.h"
#include "flare/http.h"
#include "flare/http_client.h"

typedef struct tls_live {
    flare_reactor *reactor;
    flare_http_server *srv;
    flare_tls_server_ctx *ctx;
    uint16_t port, plain_port;
    pthread_t thread;
} tls_live;

static tls_pki pki;

static int handle_hello(const flare_request *req, flare_response *resp, void *data)
{
    (void)data;
    char body[128];
    int n = snprintf(body, sizeof body, "hello over %s, request %llu",
                     req->tls ? flare_tls_conn_version(req->tls) : "clear text",
                     (unsigned long long)req->connection_requests);
    return flare_response_text(resp, 200, "text/plain", body, (size_t)n);
}

static int handle_big(const flare_request *req, flare_response *resp, void *data)
{
    (void)req;
    (void)data;
    static char big[1 << 20];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 26);
    flare_response_body_static(resp, big, sizeof big);
    return 0;
}

static void *run(void *arg)
{
    tls_live *s = arg;
    flare_reactor_run(s->reactor, NULL);
    return NULL;
}

/* An https listener with cert `name` and a plain http one, on one server. */
static void start(tls_live *s, const char *name)
{
    flare_error err;
    memset(s, 0, sizeof *s);
    s->ctx = ts_simple_ctx(&pki, name);
    if (flare_reactor_new(&s->reactor, &err) < 0) fail_msg("%s", err.message);
    if (flare_http_server_new(&s->srv, s->reactor, NULL, &err) < 0) fail_msg("%s", err.message);
    if (flare_http_server_add_listener_tls(s->srv, loopback_listener(&s->port), s->ctx, &err) < 0)
        fail_msg("tls listener: %s", err.message);
    if (flare_http_server_add_listener(s->srv, loopback_listener(&s->plain_port), &err) < 0)
        fail_msg("listener: %s", err.message);
    if (flare_http_server_route(s->srv, NULL, FLARE_M_GET, NULL, "/", handle_hello, NULL, 0, &err) <
            0 ||
        flare_http_server_route(s->srv, NULL, FLARE_M_GET, NULL, "/big", handle_big, NULL, 0,
                                &err) < 0)
        fail_msg("route: %s", err.message);
    assert_int_equal(pthread_create(&s->thread, NULL, run, s), 0);
}

static void stop(tls_live *s)
{
    flare_reactor_stop(s->reactor);
    pthread_join(s->thread, NULL);
    flare_http_server_free(s->srv);
    flare_reactor_free(s->reactor);
    flare_tls_server_ctx_free(s->ctx);
}

static flare_http_client *client_with_ca(const char *ca, flare_http_trace_fn trace, void *ctx)
{
    flare_tls_client_config tls = {.ca_file = ca ? pki_path(&pki, ca) : NULL};
    flare_resolver res = {loopback_resolver, NULL};
    flare_http_client_config cfg = {
        .tls = &tls, .resolver = &res, .trace = trace, .trace_ctx = ctx};
    flare_http_client *c;
    flare_error err;
    if (flare_http_client_new(&c, &cfg, &err) < 0) fail_msg("client: %s", err.message);
    return c;
}

static void test_https(void **state)
{
    (void)state;
    tls_live s;
    start(&s, "server");
    flare_http_client *c = client_with_ca("ca.pem", NULL, NULL);
    char url[128];
    flare_http_reply r;
    flare_error err;
    /* by IP (IP SAN) and by name (DNS SAN, SNI) */
    const char *hosts[] = {"127.0.0.1", "localhost"};
    for (int h = 0; h < 2; h++) {
        snprintf(url, sizeof url, "https://%s:%u/", hosts[h], s.port);
        for (int i = 1; i <= 3; i++) {
            if (flare_http_client_get(c, url, &r, &err) < 0) fail_msg("%s", err.message);
            char want[64];
            snprintf(want, sizeof want, "request %d", i);
            assert_int_equal(r.status, 200);
            assert_non_null(strstr(r.body, "hello over TLSv1."));
            assert_non_null(strstr(r.body, want)); /* one connection, kept alive */
            assert_int_equal(r.reused_connection, i > 1);
            flare_http_reply_free(&r);
        }
    }
    const flare_http_client_stats *st = flare_http_client_get_stats(c);
    assert_int_equal(st->connections_opened, 2); /* one per origin */
    assert_int_equal(st->connections_reused, 4);
    assert_int_equal(st->stale_closed, 0);
    /* a 1 MiB body over TLS */
    snprintf(url, sizeof url, "https://localhost:%u/big", s.port);
    assert_int_equal(flare_http_client_get(c, url, &r, &err), 0);
    assert_int_equal(r.body_len, 1 << 20);
    assert_int_equal(r.body[12345], 'a' + 12345 % 26);
    flare_http_reply_free(&r);
    /* plain http to the https port: the server answers 400 in clear text */
    snprintf(url, sizeof url, "http://127.0.0.1:%u/", s.port);
    assert_int_equal(flare_http_client_get(c, url, &r, &err), 0);
    assert_int_equal(r.status, 400);
    flare_http_reply_free(&r);
    /* https to the plain port: the handshake fails, typed */
    snprintf(url, sizeof url, "https://127.0.0.1:%u/", s.plain_port);
    int rc = flare_http_client_get(c, url, &r, &err);
    assert_true(rc == FLARE_ETLS || rc == FLARE_ECLOSED || rc == FLARE_ECONNRESET);
    flare_http_reply_free(&r);
    flare_http_client_free(c);
    stop(&s);
}

static void test_verification_errors(void **state)
{
    (void)state;
    char url[128];
    flare_http_reply r;
    flare_error err;
    tls_live s;
    /* the system CAs do not know the test CA */
    start(&s, "server");
    flare_http_client *c = client_with_ca(NULL, NULL, NULL);
    snprintf(url, sizeof url, "https://localhost:%u/", s.port);
    assert_int_equal(flare_http_client_get(c, url, &r, &err), FLARE_EUNTRUSTED);
    flare_http_reply_free(&r);
    flare_http_client_free(c);
    /* nor does an unrelated CA */
    c = client_with_ca("rogue_ca.pem", NULL, NULL);
    assert_int_equal(flare_http_client_get(c, url, &r, &err), FLARE_EUNTRUSTED);
    flare_http_reply_free(&r);
    flare_http_client_free(c);
    stop(&s);

    /* a certificate for other.test presented for 127.0.0.1 and localhost */
    start(&s, "other");
    c = client_with_ca("ca.pem", NULL, NULL);
    snprintf(url, sizeof url, "https://127.0.0.1:%u/", s.port);
    assert_int_equal(flare_http_client_get(c, url, &r, &err), FLARE_EHOST_MISMATCH);
    flare_http_reply_free(&r);
    snprintf(url, sizeof url, "https://localhost:%u/", s.port);
    assert_int_equal(flare_http_client_get(c, url, &r, &err), FLARE_EHOST_MISMATCH);
    flare_http_reply_free(&r);
    /* but other.test resolves here too, and then it is right */
    snprintf(url, sizeof url, "https://other.test:%u/", s.port);
    if (flare_http_client_get(c, url, &r, &err) < 0) fail_msg("%s", err.message);
    assert_int_equal(r.status, 200);
    flare_http_reply_free(&r);
    flare_http_client_free(c);
    stop(&s);

    start(&s, "expired");
    c = client_with_ca("ca.pem", NULL, NULL);
    snprintf(url, sizeof url, "https://localhost:%u/", s.port);
    assert_int_equal(flare_http_client_get(c, url, &r, &err), FLARE_ECERT_EXPIRED);
    flare_http_reply_free(&r);
    flare_http_client_free(c);
    stop(&s);
}

static void collect_trace(void *ctx, flare_http_trace_kind kind, const char *text, size_t len)
{
    flare_buf *b = ctx;
    if (kind == FLARE_HTTP_TRACE_INFO) {
        flare_buf_append(b, text, len);
        flare_buf_append(b, "\n", 1);
    }
}

static void test_verify_none_warns(void **state)
{
    (void)state;
    tls_live s;
    start(&s, "other");
    flare_buf log = FLARE_BUF_INIT;
    flare_tls_client_config tls = {.verify = FLARE_TLS_VERIFY_NONE};
    flare_http_client_config cfg = {.tls = &tls, .trace = collect_trace, .trace_ctx = &log};
    flare_http_client *c;
    assert_int_equal(flare_http_client_new(&c, &cfg, NULL), 0);
    char url[128];
    snprintf(url, sizeof url, "https://127.0.0.1:%u/", s.port);
    flare_http_reply r;
    flare_error err;
    if (flare_http_client_get(c, url, &r, &err) < 0) fail_msg("%s", err.message);
    assert_int_equal(r.status, 200);
    flare_http_reply_free(&r);
    assert_int_equal(flare_buf_append(&log, "", 1), 0);
    assert_non_null(strstr(log.data, "tls: "));
    assert_non_null(strstr(log.data, "connected to 127.0.0.1"));
    flare_http_client_free(c);
    flare_buf_free(&log);
    stop(&s);
}

static int setup(void **state)
{
    (void)state;
    return pki_create(&pki);
}

static int teardown(void **state)
{
    (void)state;
    pki_destroy(&pki);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_https),
        cmocka_unit_test(test_verification_errors),
        cmocka_unit_test(test_verify_none_warns),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
