/*
 * test_client.c: flare_tls_stream and the client context against the reactor
 * echo server of tls_fixture.c on 127.0.0.1 and ::1: SNI only for names, host and
 * IP verification, the typed verification errors, the shared connect + handshake
 * budget, I/O bounds, close_notify, and config errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "flare/tls.h"
#include "tls_fixture.h"

static int v6_marker;
static flare_resolver v6_resolver = {loopback_resolver, &v6_marker};

/* The fixture's echo server (tls_server) and the context it serves with. */
typedef struct echo_server {
    flare_tls_server_ctx *ctx;
    tls_server srv;
} echo_server;

/* Starts e->srv (as the caller set it up) on addr for `connections` handshakes. */
static void serve_with(echo_server *e, flare_tls_server_ctx *ctx, const char *addr, int connections)
{
    e->ctx = ctx;
    ts_start(&e->srv, ctx, addr, connections);
}

/* One connection on 127.0.0.1, presenting the PKI's certificate `cert`. */
static void serve(echo_server *e, const char *cert)
{
    serve_with(e, ts_simple_ctx(&group_pki, cert), "127.0.0.1:0", 1);
}

/* Waits for the server's connections to end (results are in e->srv) and frees its context. */
static void serve_end(echo_server *e)
{
    ts_join(&e->srv);
    flare_tls_server_ctx_free(e->ctx);
}

static void connect_ok(flare_tls_stream *s, const char *host, uint16_t port,
                       const flare_tls_client_config *cfg)
{
    flare_error err;
    if (flare_tls_connect(s, host, port, cfg, &err) < 0)
        fail_msg("connect %s: %s", host, err.message);
}

/* Serves one connection with the "server" certificate and connects to it as `host`,
 * with the default client configuration. */
static void serve_and_connect(echo_server *e, flare_tls_stream *s, const char *host)
{
    serve(e, "server");
    flare_tls_client_config cfg = group_client_cfg();
    connect_ok(s, host, e->srv.port, &cfg);
}

/* Reads until at least `want` bytes are in buf (room for `cap`); returns how many came. */
static size_t read_at_least(flare_tls_stream *s, char *buf, size_t cap, size_t want)
{
    flare_error err;
    size_t got = 0;
    while (got < want) {
        ssize_t n = flare_tls_stream_read(s, buf + got, cap - got, &err);
        if (n <= 0) fail_msg("read returned %zd: %s", n, n < 0 ? err.message : "EOF");
        got += (size_t)n;
    }
    return got;
}

static void echo_roundtrip(flare_tls_stream *s, const char *msg)
{
    flare_error err;
    size_t len = strlen(msg);
    if (flare_tls_stream_write_all(s, msg, len, &err) < 0) fail_msg("write: %s", err.message);
    char buf[512];
    assert_int_equal(read_at_least(s, buf, sizeof buf, len), len);
    assert_memory_equal(buf, msg, len);
}

/* close_notify both ways: our shutdown, then the server's answer reads as 0. */
static void clean_close(flare_tls_stream *s)
{
    flare_error err;
    assert_int_equal(flare_tls_stream_shutdown(s, &err), 0);
    char buf[16];
    assert_int_equal(flare_tls_stream_read(s, buf, sizeof buf, &err), 0);
    flare_tls_stream_close(s);
    assert_int_equal(s->tcp.fd, -1);
}

static int connect_expect(const char *host, uint16_t port, const flare_tls_client_config *cfg,
                          flare_tls_stream *s, flare_error *err)
{
    return flare_tls_connect(s, host, port, cfg, err);
}

/* ------------------------------------------------------------- success */

static void test_echo_ipv4_by_name(void **state)
{
    echo_server e = {0};
    flare_tls_stream s;
    serve_and_connect(&e, &s, "localhost");
    assert_string_equal(flare_tls_conn_version(&s.conn), "TLSv1.3");
    assert_non_null(flare_tls_conn_cipher(&s.conn));
    assert_string_equal(flare_tls_conn_server_name(&s.conn), "localhost");
    char subject[128];
    assert_true(flare_tls_conn_peer_subject(&s.conn, subject, sizeof subject) > 0);
    assert_string_equal(subject, "CN=localhost");
    echo_roundtrip(&s, "hello over tls");
    echo_roundtrip(&s, "and again");
    clean_close(&s);
    serve_end(&e);
    assert_false(e.srv.timed_out);
    assert_int_equal(e.srv.results[0].rc, 0);
    assert_true(e.srv.results[0].has_sni);
    assert_string_equal(e.srv.results[0].sni, "localhost");
    assert_int_equal(e.srv.results[0].bytes, strlen("hello over tls") + strlen("and again"));
}

static void test_echo_ipv6_by_name_and_literal(void **state)
{
    echo_server e = {0};
    serve_with(&e, ts_simple_ctx(&group_pki, "server"), "[::1]:0", 3);
    flare_tls_client_config cfg = group_client_cfg();
    cfg.resolver = &v6_resolver;
    const char *hosts[] = {"localhost", "::1", "[::1]"};
    for (size_t i = 0; i < FLARE_N_ELEMENTS(hosts); i++) {
        flare_tls_stream s;
        connect_ok(&s, hosts[i], e.srv.port, &cfg);
        echo_roundtrip(&s, "six");
        clean_close(&s);
    }
    serve_end(&e);
    assert_true(e.srv.results[0].has_sni);
    /* RFC 6066 §3: no SNI for an IP literal, bracketed or not. */
    assert_false(e.srv.results[1].has_sni);
    assert_false(e.srv.results[2].has_sni);
    for (int i = 0; i < 3; i++)
        assert_int_equal(e.srv.results[i].rc, 0);
}

static void test_ipv4_literal_verifies_ip_san_without_sni(void **state)
{
    echo_server e = {0};
    flare_tls_stream s;
    serve_and_connect(&e, &s, "127.0.0.1");
    assert_null(flare_tls_conn_server_name(&s.conn));
    echo_roundtrip(&s, "ip");
    clean_close(&s);
    serve_end(&e);
    assert_true(e.srv.results[0].handshake_done);
    assert_false(e.srv.results[0].has_sni);
}

static void test_trailing_dot_name(void **state)
{
    echo_server e = {0};
    flare_tls_stream s;
    serve_and_connect(&e, &s, "localhost.");
    clean_close(&s);
    serve_end(&e);
    assert_string_equal(e.srv.results[0].sni, "localhost"); /* SNI carries no trailing dot */
}

static void test_large_echo(void **state)
{
    echo_server e = {0};
    flare_tls_stream s;
    serve_and_connect(&e, &s, "localhost");
    flare_error err;
    static char out[40000], in[40000];
    for (size_t i = 0; i < sizeof out; i++)
        out[i] = (char)(i * 7 + i / 251);
    for (int round = 0; round < 4; round++) {
        assert_int_equal(flare_tls_stream_write_all(&s, out, sizeof out, &err), 0);
        read_at_least(&s, in, sizeof in, sizeof in);
        assert_memory_equal(in, out, sizeof out);
    }
    clean_close(&s);
    serve_end(&e);
    assert_int_equal(e.srv.results[0].bytes, 4 * sizeof out);
}

static void test_alpn_negotiated(void **state)
{
    const char *server_alpn[] = {"http/1.1"};
    flare_tls_cert_config cc = {pki_path(&group_pki, "server.pem"),
                                pki_path(&group_pki, "server.key"), NULL, 0};
    flare_tls_server_config scfg = {
        .certs = &cc, .cert_count = 1, .alpn = server_alpn, .alpn_count = 1};
    flare_tls_server_ctx *ctx;
    flare_error err;
    assert_int_equal(flare_tls_server_ctx_new(&ctx, &scfg, &err), 0);
    echo_server e = {0};
    serve_with(&e, ctx, "127.0.0.1:0", 1);
    const char *client_alpn[] = {"h2", "http/1.1"};
    flare_tls_client_config cfg = group_client_cfg();
    cfg.alpn = client_alpn;
    cfg.alpn_count = 2;
    flare_tls_stream s;
    connect_ok(&s, "localhost", e.srv.port, &cfg);
    size_t len = 0;
    const char *alpn = flare_tls_conn_alpn(&s.conn, &len);
    assert_non_null(alpn);
    assert_int_equal(len, 8);
    assert_memory_equal(alpn, "http/1.1", 8);
    clean_close(&s);
    serve_end(&e);
    assert_string_equal(e.srv.results[0].alpn, "http/1.1");
}

static void test_stream_start_over_tcp(void **state)
{
    echo_server e = {0};
    serve_with(&e, ts_simple_ctx(&group_pki, "server"), "127.0.0.1:0", 2);
    flare_tls_client_config cfg = group_client_cfg();
    flare_tls_client_ctx *cctx;
    flare_error err;
    assert_int_equal(flare_tls_client_ctx_new(&cctx, &cfg, &err), 0);
    flare_tcp_stream tcp;
    assert_int_equal(flare_tcp_connect(&tcp, "127.0.0.1", e.srv.port, NULL, &err), 0);
    flare_tls_stream s;
    uint64_t deadline = flare_monotonic_ms() + 5000;
    if (flare_tls_stream_start(&s, cctx, &tcp, "localhost", deadline, &err) < 0)
        fail_msg("start: %s", err.message);
    assert_int_equal(tcp.fd, -1); /* moved into s */
    assert_true(s.tcp.nonblocking);
    echo_roundtrip(&s, "started");
    clean_close(&s);
    /* On failure the tcp stream is consumed too: no fd leaks to the caller. */
    assert_int_equal(flare_tcp_connect(&tcp, "127.0.0.1", e.srv.port, NULL, &err), 0);
    assert_int_equal(flare_tls_stream_start(&s, cctx, &tcp, "other.test", deadline, &err),
                     FLARE_EHOST_MISMATCH);
    assert_int_equal(tcp.fd, -1);
    assert_int_equal(s.tcp.fd, -1);
    assert_null(s.conn.ssl);
    flare_tls_client_ctx_free(cctx);
    serve_end(&e);
}

/* ------------------------------------------------------ verification */

static void expect_failure(const char *cert, const char *host, const char *ca, int code,
                           const char *must_mention)
{
    echo_server e = {0};
    serve(&e, cert);
    flare_tls_client_config cfg = group_client_cfg();
    if (ca) cfg.ca_file = pki_path(&group_pki, ca);
    flare_tls_stream s;
    flare_error err;
    int rc = connect_expect(host, e.srv.port, &cfg, &s, &err);
    if (rc != code)
        fail_msg("expected %s, got %s: %s", flare_error_name(code), flare_error_name(rc),
                 err.message);
    assert_int_equal(err.code, code);
    assert_non_null(strstr(err.message, host));
    assert_non_null(strstr(err.message, must_mention));
    assert_int_equal(s.tcp.fd, -1);
    serve_end(&e);
    /* The client's alert ends the server's handshake too. */
    assert_false(e.srv.results[0].handshake_done);
    assert_true(e.srv.results[0].rc < 0);
}

static void test_hostname_mismatch(void **state)
{
    expect_failure("server", "other.test", NULL, FLARE_EHOST_MISMATCH, "mismatch");
}

static void test_ip_not_in_certificate(void **state)
{
    /* other.pem has DNS names only: an IP literal must not verify against its CN or DNS. */
    expect_failure("other", "127.0.0.1", NULL, FLARE_EHOST_MISMATCH, "mismatch");
}

static void test_expired(void **state)
{
    expect_failure("expired", "localhost", NULL, FLARE_ECERT_EXPIRED, "expired");
}

static void test_unknown_ca(void **state)
{
    expect_failure("rogue_server", "localhost", NULL, FLARE_EUNTRUSTED, "certificate");
    expect_failure("server", "localhost", "rogue_ca.pem", FLARE_EUNTRUSTED, "certificate");
}

static void test_system_store_does_not_trust_test_ca(void **state)
{
    echo_server e = {0};
    serve(&e, "server");
    flare_tls_client_config cfg = group_client_cfg();
    cfg.ca_file = NULL; /* the system's default paths */
    flare_tls_stream s;
    flare_error err;
    assert_int_equal(flare_tls_connect(&s, "localhost", e.srv.port, &cfg, &err), FLARE_EUNTRUSTED);
    serve_end(&e);
}

static void test_verify_none_is_explicit_and_logged(void **state)
{
    flare_tls_client_config cfg = group_client_cfg();
    cfg.verify = FLARE_TLS_VERIFY_NONE;
    flare_tls_client_ctx *cctx = NULL;
    flare_error err;
    /* Without a log callback the warning would vanish: refused. */
    assert_int_equal(flare_tls_client_ctx_new(&cctx, &cfg, &err), FLARE_EINVAL);
    assert_null(cctx);
    char log[1024] = "";
    cfg.log = capture_log;
    cfg.log_ctx = log;
    echo_server e = {0};
    serve(&e, "rogue_server");
    flare_tls_stream s;
    connect_ok(&s, "localhost", e.srv.port, &cfg);
    assert_non_null(strstr(log, "verification is off"));
    assert_non_null(strstr(log, "localhost port"));
    echo_roundtrip(&s, "insecure");
    clean_close(&s);
    serve_end(&e);
}

/* ---------------------------------------------------------- timeouts */

static void test_handshake_timeout_shares_budget(void **state)
{
    /* Accepts TCP (the kernel completes it from the backlog) but never speaks TLS. */
    flare_tcp_listener silent;
    flare_error err;
    assert_int_equal(flare_tcp_listen_str(&silent, "127.0.0.1:0", NULL, &err), 0);
    flare_tls_client_config cfg = group_client_cfg();
    cfg.timeout_ms = 200;
    flare_tls_stream s;
    uint64_t start = flare_monotonic_ms();
    int rc = flare_tls_connect(&s, "localhost", silent.local.port, &cfg, &err);
    uint64_t elapsed = flare_monotonic_ms() - start;
    assert_int_equal(rc, FLARE_ETIMEDOUT);
    assert_non_null(strstr(err.message, "200 ms"));
    assert_true(elapsed >= 150);
    assert_true(elapsed < 5000); /* bounded by the budget, not by the 5 s io timeout */
    assert_int_equal(s.tcp.fd, -1);
    flare_tcp_listener_close(&silent);
}

static void test_io_timeout(void **state)
{
    echo_server e = {.srv.no_echo = true};
    serve(&e, "server");
    flare_tls_client_config cfg = group_client_cfg();
    cfg.io_timeout_ms = 150;
    flare_tls_stream s;
    flare_error err;
    assert_int_equal(flare_tls_connect(&s, "localhost", e.srv.port, &cfg, &err), 0);
    assert_int_equal(flare_tls_stream_write_all(&s, "ping", 4, &err), 0);
    char buf[8];
    uint64_t start = flare_monotonic_ms();
    assert_int_equal(flare_tls_stream_read(&s, buf, sizeof buf, &err), FLARE_ETIMEDOUT);
    assert_true(flare_monotonic_ms() - start >= 100);
    /* An absolute deadline already past fails at once, whatever io_timeout_ms says. */
    flare_tls_stream_set_deadline(&s, flare_monotonic_ms());
    assert_int_equal(flare_tls_stream_read(&s, buf, sizeof buf, &err), FLARE_ETIMEDOUT);
    flare_tls_stream_close(&s);
    serve_end(&e);
    assert_int_equal(e.srv.results[0].bytes, 4);
}

/* ------------------------------------------------------------- errors */

static void test_connect_errors(void **state)
{
    flare_tls_client_config cfg = group_client_cfg();
    flare_tls_stream s;
    flare_error err;
    flare_tcp_listener l;
    assert_int_equal(flare_tcp_listen_str(&l, "127.0.0.1:0", NULL, &err), 0);
    uint16_t port = l.local.port;
    flare_tcp_listener_close(&l);
    assert_int_equal(flare_tls_connect(&s, "127.0.0.1", port, &cfg, &err), FLARE_ECONNREFUSED);
    assert_int_equal(flare_tls_connect(&s, "bad host", 443, &cfg, &err), FLARE_EHOSTNAME);
    assert_int_equal(flare_tls_connect(&s, NULL, 443, &cfg, &err), FLARE_EINVAL);
    assert_int_equal(flare_tls_connect(NULL, "localhost", 443, &cfg, &err), FLARE_EINVAL);
    char buf[4];
    assert_int_equal(flare_tls_stream_read(&s, buf, sizeof buf, &err), FLARE_EINVAL);
    assert_int_equal(flare_tls_stream_write_all(&s, "x", 1, &err), FLARE_EINVAL);
    flare_tls_stream_close(&s); /* closed stream: harmless */
}

static void test_config_errors(void **state)
{
    flare_tls_client_ctx *cctx = NULL;
    flare_error err;
    flare_tls_client_config cfg = group_client_cfg();
    cfg.cert_file = pki_path(&group_pki, "client.pem"); /* without key_file */
    assert_int_equal(flare_tls_client_ctx_new(&cctx, &cfg, &err), FLARE_EINVAL);
    cfg = group_client_cfg();
    cfg.ca_file = pki_path(&group_pki, "missing.pem");
    assert_int_equal(flare_tls_client_ctx_new(&cctx, &cfg, &err), FLARE_ECONFIG);
    assert_non_null(strstr(err.message, "missing.pem"));
    cfg = group_client_cfg();
    cfg.ca_file = pki_path(&group_pki, "server.key"); /* a file, but no certificate in it */
    assert_int_equal(flare_tls_client_ctx_new(&cctx, &cfg, &err), FLARE_ECONFIG);
    cfg = group_client_cfg();
    cfg.verify = (flare_tls_verify)7;
    assert_int_equal(flare_tls_client_ctx_new(&cctx, &cfg, &err), FLARE_EINVAL);
    cfg = group_client_cfg();
    cfg.min_version = (flare_tls_version)9;
    assert_int_equal(flare_tls_client_ctx_new(&cctx, &cfg, &err), FLARE_EINVAL);
    cfg = group_client_cfg();
    cfg.cert_file = pki_path(&group_pki, "client.pem");
    cfg.key_file = pki_path(&group_pki, "server.key");
    assert_int_equal(flare_tls_client_ctx_new(&cctx, &cfg, &err), FLARE_ECONFIG);
    assert_non_null(strstr(err.message, "does not match"));
    assert_null(cctx);
    /* NULL config: defaults (system CAs). */
    assert_int_equal(flare_tls_client_ctx_new(&cctx, NULL, &err), 0);
    flare_tls_client_ctx_free(cctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_ipv4_by_name),
        cmocka_unit_test(test_echo_ipv6_by_name_and_literal),
        cmocka_unit_test(test_ipv4_literal_verifies_ip_san_without_sni),
        cmocka_unit_test(test_trailing_dot_name),
        cmocka_unit_test(test_large_echo),
        cmocka_unit_test(test_alpn_negotiated),
        cmocka_unit_test(test_stream_start_over_tcp),
        cmocka_unit_test(test_hostname_mismatch),
        cmocka_unit_test(test_ip_not_in_certificate),
        cmocka_unit_test(test_expired),
        cmocka_unit_test(test_unknown_ca),
        cmocka_unit_test(test_system_store_does_not_trust_test_ca),
        cmocka_unit_test(test_verify_none_is_explicit_and_logged),
        cmocka_unit_test(test_handshake_timeout_shares_budget),
        cmocka_unit_test(test_io_timeout),
        cmocka_unit_test(test_connect_errors),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, pki_group_setup, pki_group_teardown);
}
