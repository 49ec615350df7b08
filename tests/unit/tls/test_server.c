/*
 * test_server.c: the server context: certificates selected by SNI (exact names,
 * one-label wildcards, names taken from the certificate), ALPN in the server's
 * order of preference, client certificates required by client_ca (or optional,
 * or optional_no_ca: nginx's ssl_verify_client), and config errors that name the
 * file at fault.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "flare/tls.h"
#include "tls_fixture.h"

static flare_tls_cert_config cert(const char *name)
{
    static char paths[8][2][96];
    static unsigned next;
    char(*p)[96] = paths[next++ % 8];
    snprintf(p[0], 96, "%s", pki_path(&group_pki, name));
    memcpy(p[1], p[0], sizeof p[1]);
    strcpy(strrchr(p[1], '.'), ".key");
    return (flare_tls_cert_config){.cert_file = p[0], .key_file = p[1]};
}

static void connect_ok(uint16_t port, const char *host, const flare_tls_client_config *cfg,
                       char *subject, size_t cap)
{
    flare_tls_stream s;
    flare_error err;
    if (flare_tls_connect(&s, host, port, cfg, &err) < 0)
        fail_msg("connect %s: %s", host, err.message);
    if (subject) flare_tls_conn_peer_subject(&s.conn, subject, cap);
    assert_int_equal(flare_tls_stream_write_all(&s, "hi", 2, &err), 0);
    char buf[4];
    assert_int_equal(flare_tls_stream_read(&s, buf, sizeof buf, &err), 2);
    assert_int_equal(flare_tls_stream_shutdown(&s, &err), 0);
    flare_tls_stream_close(&s);
}

/* ---------------------------------------------------------------- SNI */

static flare_tls_server_ctx *two_cert_ctx(bool explicit_names)
{
    static const char *names[] = {"other.test", "*.wild.test"};
    flare_tls_cert_config certs[2] = {cert("server.pem"), cert("other.pem")};
    if (explicit_names) {
        certs[1].names = names;
        certs[1].name_count = 2;
    }
    flare_tls_server_config cfg = {.certs = certs, .cert_count = 2};
    flare_tls_server_ctx *ctx;
    flare_error err;
    if (flare_tls_server_ctx_new(&ctx, &cfg, &err) < 0) fail_msg("ctx: %s", err.message);
    return ctx;
}

static void test_sni_selects_second_certificate(void **state)
{
    flare_tls_server_ctx *ctx = two_cert_ctx(true);
    tls_server srv = {0};
    ts_start(&srv, ctx, "127.0.0.1:0", 3);
    flare_tls_client_config cfg = group_client_cfg();
    char subject[128];
    connect_ok(srv.port, "other.test", &cfg, subject, sizeof subject);
    assert_string_equal(subject, "CN=other.test");
    connect_ok(srv.port, "a.wild.test", &cfg, subject, sizeof subject);
    assert_string_equal(subject, "CN=other.test");
    connect_ok(srv.port, "localhost", &cfg, subject, sizeof subject);
    assert_string_equal(subject, "CN=localhost");
    ts_join(&srv);
    assert_false(srv.timed_out);
    assert_int_equal(srv.results[0].cert_index, 1);
    assert_string_equal(srv.results[0].sni, "other.test");
    assert_int_equal(srv.results[1].cert_index, 1);
    assert_string_equal(srv.results[1].sni, "a.wild.test");
    assert_int_equal(srv.results[2].cert_index, 0);
    assert_string_equal(srv.results[2].peer_dn, ""); /* no client certificate asked for */
    assert_string_equal(srv.results[2].peer_verify, "NONE");
    flare_tls_server_ctx_free(ctx);
}

static void test_sni_names_from_certificate(void **state)
{
    flare_tls_server_ctx *ctx = two_cert_ctx(false); /* other.pem's SANs: other.test, *.wild.test */
    tls_server srv = {0};
    ts_start(&srv, ctx, "127.0.0.1:0", 1);
    flare_tls_client_config cfg = group_client_cfg();
    connect_ok(srv.port, "b.wild.test", &cfg, NULL, 0);
    ts_join(&srv);
    assert_int_equal(srv.results[0].cert_index, 1);
    flare_tls_server_ctx_free(ctx);
}

static void test_unknown_or_absent_sni_gets_default(void **state)
{
    flare_tls_server_ctx *ctx = two_cert_ctx(true);
    tls_server srv = {0};
    ts_start(&srv, ctx, "127.0.0.1:0", 2);
    raw_result r;
    raw_client(srv.port, &(raw_opts){.sni = "unknown.test"}, &r);
    assert_true(r.ok);
    SSL_SESSION_free(r.session);
    raw_client(srv.port, &(raw_opts){0}, &r);
    assert_true(r.ok);
    SSL_SESSION_free(r.session);
    ts_join(&srv);
    assert_int_equal(srv.results[0].cert_index, 0);
    assert_string_equal(srv.results[0].sni, "unknown.test");
    assert_int_equal(srv.results[1].cert_index, 0);
    assert_false(srv.results[1].has_sni);
    flare_tls_server_ctx_free(ctx);
}

static void test_select_rules(void **state)
{
    static const char *first_names[] = {"Exact.Example.com", "*.example.com"};
    static const char *second_names[] = {"*.wild.example.com", "a.example.com", "shop.test."};
    flare_tls_cert_config certs[3] = {cert("server.pem"), cert("other.pem"), cert("server.pem")};
    certs[1].names = first_names;
    certs[1].name_count = 2;
    certs[2].names = second_names;
    certs[2].name_count = 3;
    flare_tls_server_config cfg = {.certs = certs, .cert_count = 3};
    flare_tls_server_ctx *ctx;
    flare_error err;
    assert_int_equal(flare_tls_server_ctx_new(&ctx, &cfg, &err), 0);
#define SEL(s) flare_tls_server_ctx_select(ctx, s, strlen(s))
    assert_int_equal(SEL("exact.example.com"), 1); /* case-insensitive */
    assert_int_equal(SEL("EXACT.EXAMPLE.COM"), 1);
    /* A dot left after the caller took one off ("exact.example.com..") is no name of
     * ours, as routing does not take it for one. */
    assert_int_equal(SEL("exact.example.com."), 0);
    assert_int_equal(SEL("b.example.com"), 1); /* wildcard */
    assert_int_equal(SEL("a.example.com"), 2); /* an exact name beats an earlier wildcard */
    assert_int_equal(SEL("x.wild.example.com"), 2);
    assert_int_equal(SEL("shop.test"), 2);
    assert_int_equal(SEL("example.com"), 0);     /* the wildcard needs one label */
    assert_int_equal(SEL("a.b.example.com"), 0); /* ...and only one */
    assert_int_equal(SEL(".example.com"), 0);    /* an empty label is no label */
    assert_int_equal(SEL("localhost"), 0);
    assert_int_equal(SEL(""), 0);
    assert_int_equal(flare_tls_server_ctx_select(ctx, NULL, 3), 0);
    assert_int_equal(flare_tls_server_ctx_select(ctx, "a.example.com", 1), 0); /* len counts */
#undef SEL
    flare_tls_server_ctx_free(ctx);
}

/* --------------------------------------------------------------- ALPN */

static flare_tls_server_ctx *alpn_ctx(void)
{
    static const char *alpn[] = {"http/1.1", "h2"};
    flare_tls_cert_config c = cert("server.pem");
    flare_tls_server_config cfg = {.certs = &c, .cert_count = 1, .alpn = alpn, .alpn_count = 2};
    flare_tls_server_ctx *ctx;
    flare_error err;
    if (flare_tls_server_ctx_new(&ctx, &cfg, &err) < 0) fail_msg("ctx: %s", err.message);
    return ctx;
}

static void test_alpn_server_preference(void **state)
{
    flare_tls_server_ctx *ctx = alpn_ctx();
    tls_server srv = {0};
    ts_start(&srv, ctx, "127.0.0.1:0", 2);
    static const char *client_alpn[] = {"h2", "http/1.1"};
    flare_tls_client_config cfg = group_client_cfg();
    cfg.alpn = client_alpn;
    cfg.alpn_count = 2;
    connect_ok(srv.port, "localhost", &cfg, NULL, 0);
    static const char *only_h2[] = {"h2", "spdy/3"};
    cfg.alpn = only_h2;
    connect_ok(srv.port, "localhost", &cfg, NULL, 0);
    ts_join(&srv);
    assert_string_equal(srv.results[0].alpn,
                        "http/1.1"); /* ours first, though the client prefers h2 */
    assert_string_equal(srv.results[1].alpn, "h2");
    flare_tls_server_ctx_free(ctx);
}

static void test_alpn_no_overlap_is_fatal(void **state)
{
    flare_tls_server_ctx *ctx = alpn_ctx();
    tls_server srv = {0};
    ts_start(&srv, ctx, "127.0.0.1:0", 2);
    static const char *client_alpn[] = {"spdy/3"};
    flare_tls_client_config cfg = group_client_cfg();
    cfg.alpn = client_alpn;
    cfg.alpn_count = 1;
    flare_tls_stream s;
    flare_error err;
    assert_int_equal(flare_tls_connect(&s, "localhost", srv.port, &cfg, &err), FLARE_ETLS);
    assert_non_null(strstr(err.message, "no application protocol"));
    /* A client without ALPN still connects, and nothing is selected. */
    cfg.alpn_count = 0;
    connect_ok(srv.port, "localhost", &cfg, NULL, 0);
    ts_join(&srv);
    assert_int_equal(srv.results[0].rc, FLARE_ETLS);
    assert_int_equal(srv.results[1].rc, 0);
    assert_string_equal(srv.results[1].alpn, "");
    flare_tls_server_ctx_free(ctx);
}

/* --------------------------------------------------------------- mTLS */

static flare_tls_server_ctx *mtls_ctx_mode(flare_tls_client_verify mode, const char *client_ca)
{
    flare_tls_cert_config c = cert("server.pem");
    flare_tls_server_config cfg = {
        .certs = &c, .cert_count = 1, .client_ca = client_ca, .client_verify = mode};
    flare_tls_server_ctx *ctx;
    flare_error err;
    if (flare_tls_server_ctx_new(&ctx, &cfg, &err) < 0) fail_msg("ctx: %s", err.message);
    return ctx;
}

static flare_tls_server_ctx *mtls_ctx(void)
{
    return mtls_ctx_mode(FLARE_TLS_CLIENT_VERIFY_ON, pki_path(&group_pki, "ca.pem"));
}

/* A TLS 1.3 client learns of a refused certificate only at its first read. */
static int try_session(uint16_t port, const flare_tls_client_config *cfg, flare_error *err)
{
    flare_tls_stream s;
    int rc = flare_tls_connect(&s, "localhost", port, cfg, err);
    if (rc < 0) return rc;
    rc = flare_tls_stream_write_all(&s, "hi", 2, err);
    char buf[4];
    if (rc == 0) {
        ssize_t n = flare_tls_stream_read(&s, buf, sizeof buf, err);
        rc = n < 0 ? (int)n : 0;
    }
    flare_tls_stream_close(&s);
    return rc;
}

static void test_mtls_requires_client_certificate(void **state)
{
    flare_tls_server_ctx *ctx = mtls_ctx();
    tls_server srv = {0};
    ts_start(&srv, ctx, "127.0.0.1:0", 3);
    flare_tls_client_config cfg = group_client_cfg();
    flare_error err;
    assert_int_equal(try_session(srv.port, &cfg, &err), FLARE_ETLS);
    cfg.cert_file = pki_path(&group_pki, "rogue_client.pem");
    cfg.key_file = pki_path(&group_pki, "rogue_client.key");
    assert_int_equal(try_session(srv.port, &cfg, &err), FLARE_ETLS);
    cfg.cert_file = pki_path(&group_pki, "client.pem");
    cfg.key_file = pki_path(&group_pki, "client.key");
    if (try_session(srv.port, &cfg, &err) < 0) fail_msg("with certificate: %s", err.message);
    ts_join(&srv);
    assert_false(srv.results[0].handshake_done);
    assert_non_null(strstr(srv.results[0].error, "certificate"));
    /* The server names why it refused the rogue client's certificate. */
    assert_int_equal(srv.results[1].rc, FLARE_EUNTRUSTED);
    assert_true(srv.results[2].handshake_done);
    assert_string_equal(srv.results[2].peer_subject, "CN=flare test client");
    assert_string_equal(srv.results[2].peer_dn, "CN=flare test client");
    assert_string_equal(srv.results[2].peer_verify, "SUCCESS");
    flare_tls_server_ctx_free(ctx);
}

/* Sessions with no client certificate, one of another CA, one of the CA, and one of the
 * CA for servers only (a fault other than its issuer); NULL: the handshake must fail. */
static void expect_client_verify(flare_tls_client_verify mode, const char *client_ca,
                                 const char *const want[4])
{
    static const char *const clients[4] = {NULL, "rogue_client", "client", "server"};
    flare_tls_server_ctx *ctx = mtls_ctx_mode(mode, client_ca);
    tls_server srv = {0};
    ts_start(&srv, ctx, "127.0.0.1:0", 4);
    for (int i = 0; i < 4; i++) {
        flare_tls_client_config cfg = group_client_cfg();
        char cert_name[32], key_name[32];
        if (clients[i]) {
            snprintf(cert_name, sizeof cert_name, "%s.pem", clients[i]);
            snprintf(key_name, sizeof key_name, "%s.key", clients[i]);
            cfg.cert_file = pki_path(&group_pki, cert_name);
            cfg.key_file = pki_path(&group_pki, key_name);
        }
        flare_error err;
        int rc = try_session(srv.port, &cfg, &err);
        if (want[i] && rc < 0) fail_msg("client %d: %s", i, err.message);
        if (!want[i]) assert_int_equal(rc, FLARE_ETLS);
    }
    ts_join(&srv);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(srv.results[i].handshake_done, want[i] != NULL);
        if (want[i]) assert_string_equal(srv.results[i].peer_verify, want[i]);
    }
    flare_tls_server_ctx_free(ctx);
}

static void test_client_verify_optional(void **state)
{
    const char *const want[4] = {"NONE", NULL, "SUCCESS", NULL};
    expect_client_verify(FLARE_TLS_CLIENT_VERIFY_OPTIONAL, pki_path(&group_pki, "ca.pem"), want);
}

/* optional_no_ca lets an unknown issuer through, reported; nothing else. */
static void test_client_verify_optional_no_ca(void **state)
{
    const char *const want[4] = {"NONE", "FAILED:unable to verify the first certificate", "SUCCESS",
                                 NULL};
    expect_client_verify(FLARE_TLS_CLIENT_VERIFY_OPTIONAL_NO_CA, pki_path(&group_pki, "ca.pem"),
                         want);
    /* Without a CA, every certificate's issuer is unknown (the client sends the chain up
     * to the CA it trusts itself when it has it); a server-only one still fails. */
    const char *const none[4] = {"NONE", "FAILED:unable to verify the first certificate",
                                 "FAILED:self-signed certificate in certificate chain", NULL};
    expect_client_verify(FLARE_TLS_CLIENT_VERIFY_OPTIONAL_NO_CA, NULL, none);
}

/* ------------------------------------------------------------- config */

static void expect_config_error(const flare_tls_server_config *cfg, int code, const char *mention)
{
    flare_tls_server_ctx *ctx = (flare_tls_server_ctx *)&ctx;
    flare_error err;
    assert_int_equal(flare_tls_server_ctx_new(&ctx, cfg, &err), code);
    assert_null(ctx);
    if (mention && !strstr(err.message, mention))
        fail_msg("'%s' does not mention '%s'", err.message, mention);
}

static void test_config_errors(void **state)
{
    expect_config_error(NULL, FLARE_EINVAL, NULL);
    expect_config_error(&(flare_tls_server_config){0}, FLARE_EINVAL, "certificates");
    flare_tls_cert_config c = cert("server.pem");
    c.key_file = pki_path(&group_pki, "nope.key");
    expect_config_error(&(flare_tls_server_config){.certs = &c, .cert_count = 1}, FLARE_ECONFIG,
                        "nope.key");
    c = cert("server.pem");
    c.key_file = pki_path(&group_pki, "other.key");
    expect_config_error(&(flare_tls_server_config){.certs = &c, .cert_count = 1}, FLARE_ECONFIG,
                        "does not match");
    c = cert("server.pem");
    c.key_file = NULL;
    expect_config_error(&(flare_tls_server_config){.certs = &c, .cert_count = 1}, FLARE_ECONFIG,
                        NULL);
    static const char *bad_names[] = {"good.test", "bad name"};
    c = cert("server.pem");
    c.names = bad_names;
    c.name_count = 2;
    expect_config_error(&(flare_tls_server_config){.certs = &c, .cert_count = 1}, FLARE_ECONFIG,
                        "bad name");
    static const char *partial_wildcard[] = {"f*.test"};
    c.names = partial_wildcard;
    c.name_count = 1;
    expect_config_error(&(flare_tls_server_config){.certs = &c, .cert_count = 1}, FLARE_ECONFIG,
                        "f*.test");
    c = cert("server.pem");
    expect_config_error(&(flare_tls_server_config){.certs = &c,
                                                   .cert_count = 1,
                                                   .client_ca = pki_path(&group_pki, "no-ca.pem")},
                        FLARE_ECONFIG, "no-ca.pem");
    expect_config_error(&(flare_tls_server_config){.certs = &c,
                                                   .cert_count = 1,
                                                   .min_version = (flare_tls_version)3},
                        FLARE_EINVAL, "min_version");
    static const char *empty_alpn[] = {""};
    expect_config_error(
        &(flare_tls_server_config){
            .certs = &c, .cert_count = 1, .alpn = empty_alpn, .alpn_count = 1},
        FLARE_EINVAL, "alpn");
    expect_config_error(
        &(flare_tls_server_config){.certs = &c, .cert_count = 1, .session_timeout_s = -1},
        FLARE_EINVAL, NULL);
    expect_config_error(
        &(flare_tls_server_config){
            .certs = &c, .cert_count = 1, .client_verify = FLARE_TLS_CLIENT_VERIFY_OPTIONAL},
        FLARE_EINVAL, "client_ca");
    expect_config_error(&(flare_tls_server_config){.certs = &c,
                                                   .cert_count = 1,
                                                   .client_ca = pki_path(&group_pki, "ca.pem"),
                                                   .client_verify = (flare_tls_client_verify)3},
                        FLARE_EINVAL, "client_verify");
    expect_config_error(&(flare_tls_server_config){.certs = &c,
                                                   .cert_count = 1,
                                                   .client_ca = pki_path(&group_pki, "ca.pem"),
                                                   .verify_depth = 101},
                        FLARE_EINVAL, "verify_depth");
}

static void test_certificate_out_of_validity_is_logged(void **state)
{
    char log[1024] = "";
    flare_tls_cert_config c = cert("expired.pem");
    flare_tls_server_config cfg = {
        .certs = &c, .cert_count = 1, .log = capture_log, .log_ctx = log};
    flare_tls_server_ctx *ctx;
    flare_error err;
    assert_int_equal(flare_tls_server_ctx_new(&ctx, &cfg, &err), 0);
    assert_non_null(strstr(log, "expired.pem has expired"));
    flare_tls_server_ctx_free(ctx);
    log[0] = '\0';
    c = cert("future.pem");
    assert_int_equal(flare_tls_server_ctx_new(&ctx, &cfg, &err), 0);
    assert_non_null(strstr(log, "future.pem is not valid yet"));
    flare_tls_server_ctx_free(ctx);
    log[0] = '\0';
    c = cert("server.pem");
    assert_int_equal(flare_tls_server_ctx_new(&ctx, &cfg, &err), 0);
    assert_string_equal(log, "");
    flare_tls_server_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sni_selects_second_certificate),
        cmocka_unit_test(test_sni_names_from_certificate),
        cmocka_unit_test(test_unknown_or_absent_sni_gets_default),
        cmocka_unit_test(test_select_rules),
        cmocka_unit_test(test_alpn_server_preference),
        cmocka_unit_test(test_alpn_no_overlap_is_fatal),
        cmocka_unit_test(test_mtls_requires_client_certificate),
        cmocka_unit_test(test_client_verify_optional),
        cmocka_unit_test(test_client_verify_optional_no_ca),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_certificate_out_of_validity_is_logged),
    };
    return cmocka_run_group_tests(tests, pki_group_setup, pki_group_teardown);
}
