/*
 * test_policy.c: the TLS policy of policy.c, seen from both sides. Each refusal is
 * paired with a control: the same raw OpenSSL peer succeeds against a permissive
 * raw peer, so a refusal proves the policy and not a broken test peer. The server
 * uses an RSA certificate where RSA key exchange would otherwise be possible.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <openssl/ssl.h>

#include "flare/tls.h"
#include "tls_fixture.h"

static flare_tls_server_ctx *server_ctx(const char *name, flare_tls_version min)
{
    char cert[32], key[32];
    snprintf(cert, sizeof cert, "%s.pem", name);
    snprintf(key, sizeof key, "%s.key", name);
    flare_tls_cert_config c = {.cert_file = pki_path(&group_pki, cert),
                               .key_file = pki_path(&group_pki, key)};
    flare_tls_server_config cfg = {.certs = &c, .cert_count = 1, .min_version = min};
    flare_tls_server_ctx *ctx;
    flare_error err;
    if (flare_tls_server_ctx_new(&ctx, &cfg, &err) < 0) fail_msg("ctx: %s", err.message);
    return ctx;
}

/* A raw client against a permissive raw server (control), then against flare's server. */
static void refused_by_server(const raw_opts *client, const char *server_must_say,
                              const char *control_version, const char *control_cipher)
{
    raw_server control;
    raw_server_start(&control, pki_path(&group_pki, "rsa.pem"), pki_path(&group_pki, "rsa.key"),
                     TLS1_VERSION, 0, NULL, true);
    raw_result r;
    raw_client(control.port, client, &r);
    raw_server_join(&control);
    if (!r.ok) fail_msg("control failed: %s / %s", r.error, control.error);
    if (control_version) assert_string_equal(r.version, control_version);
    if (control_cipher) assert_string_equal(r.cipher, control_cipher);
    SSL_SESSION_free(r.session);

    flare_tls_server_ctx *ctx = server_ctx("rsa", FLARE_TLS_1_2);
    tls_server srv = {0};
    ts_start(&srv, ctx, "127.0.0.1:0", 1);
    raw_client(srv.port, client, &r);
    ts_join(&srv);
    assert_false(r.ok);
    assert_false(srv.results[0].handshake_done);
    assert_int_equal(srv.results[0].rc, FLARE_ETLS);
    if (!strstr(srv.results[0].error, server_must_say))
        fail_msg("server said '%s', expected '%s'", srv.results[0].error, server_must_say);
    flare_tls_server_ctx_free(ctx);
}

static void test_server_refuses_tls_1_1(void **state)
{
    raw_opts o = {.max_version = TLS1_1_VERSION, .seclevel0 = true};
    refused_by_server(&o, "unsupported protocol", "TLSv1.1", NULL);
}

static void test_server_refuses_tls_1_0(void **state)
{
    raw_opts o = {.max_version = TLS1_VERSION, .seclevel0 = true};
    refused_by_server(&o, "unsupported protocol", "TLSv1", NULL);
}

static void test_server_refuses_rsa_key_exchange(void **state)
{
    raw_opts o = {.max_version = TLS1_2_VERSION, .ciphers = "AES128-SHA"};
    refused_by_server(&o, "no shared cipher", "TLSv1.2", "AES128-SHA");
    o.ciphers = "AES256-GCM-SHA384"; /* AEAD, but RSA key exchange: no forward secrecy */
    refused_by_server(&o, "no shared cipher", "TLSv1.2", "AES256-GCM-SHA384");
}

static void test_server_refuses_ecdhe_cbc(void **state)
{
    raw_opts o = {.max_version = TLS1_2_VERSION, .ciphers = "ECDHE-RSA-AES128-SHA256"};
    refused_by_server(&o, "no shared cipher", "TLSv1.2", "ECDHE-RSA-AES128-SHA256");
}

static void test_tls_1_2_gets_ecdhe_aead(void **state)
{
    const char *certs[] = {"rsa", "server"};
    const char *prefix[] = {"ECDHE-RSA-", "ECDHE-ECDSA-"};
    for (int i = 0; i < 2; i++) {
        flare_tls_server_ctx *ctx = server_ctx(certs[i], FLARE_TLS_1_2);
        tls_server srv = {0};
        ts_start(&srv, ctx, "127.0.0.1:0", 1);
        raw_result r;
        raw_client(srv.port, &(raw_opts){.max_version = TLS1_2_VERSION, .ciphers = "ALL"}, &r);
        ts_join(&srv);
        if (!r.ok) fail_msg("%s: %s", certs[i], r.error);
        assert_string_equal(r.version, "TLSv1.2");
        assert_memory_equal(r.cipher, prefix[i], strlen(prefix[i]));
        assert_true(strstr(r.cipher, "GCM") || strstr(r.cipher, "CHACHA20"));
        SSL_SESSION_free(r.session);
        flare_tls_server_ctx_free(ctx);
    }
}

static void test_server_min_version_1_3(void **state)
{
    flare_tls_server_ctx *ctx = server_ctx("server", FLARE_TLS_1_3);
    tls_server srv = {0};
    ts_start(&srv, ctx, "127.0.0.1:0", 2);
    raw_result r;
    raw_client(srv.port, &(raw_opts){.max_version = TLS1_2_VERSION}, &r);
    assert_false(r.ok);
    raw_client(srv.port, &(raw_opts){0}, &r);
    assert_true(r.ok);
    assert_string_equal(r.version, "TLSv1.3");
    SSL_SESSION_free(r.session);
    ts_join(&srv);
    assert_non_null(strstr(srv.results[0].error, "unsupported protocol"));
    flare_tls_server_ctx_free(ctx);
}

static void test_server_refuses_renegotiation(void **state)
{
    raw_opts o = {.max_version = TLS1_2_VERSION, .renegotiate = true};
    /* Control: a server that allows it renegotiates with this very client. */
    raw_server control;
    raw_server_start_ex(&control, pki_path(&group_pki, "rsa.pem"), pki_path(&group_pki, "rsa.key"),
                        0, 0, NULL, false, RAW_ALLOW_CLIENT_RENEG);
    raw_result r;
    raw_client(control.port, &o, &r);
    raw_server_join(&control);
    if (!r.ok) fail_msg("control: %s / %s", r.error, control.error);
    SSL_SESSION_free(r.session);

    flare_tls_server_ctx *ctx = server_ctx("rsa", FLARE_TLS_1_2);
    tls_server srv = {0};
    ts_start(&srv, ctx, "127.0.0.1:0", 1);
    raw_client(srv.port, &o, &r);
    ts_join(&srv);
    assert_false(r.ok);
    /* The server's no_renegotiation alert, not some other failure. */
    if (r.reneg_reason != SSL_R_NO_RENEGOTIATION) fail_msg("renegotiation: %s", r.error);
    flare_tls_server_ctx_free(ctx);
}

/* ------------------------------------------------------- client side */

static int client_against(raw_server *rs, flare_tls_version min, flare_error *err)
{
    flare_tls_client_config cfg = {.ca_file = pki_path(&group_pki, "ca.pem"),
                                   .timeout_ms = 5000,
                                   .io_timeout_ms = 5000,
                                   .min_version = min};
    flare_tls_stream s;
    int rc = flare_tls_connect(&s, "127.0.0.1", rs->port, &cfg, err);
    if (rc == 0) flare_tls_stream_close(&s);
    raw_server_join(rs);
    return rc;
}

/* Control: a raw client reaches a raw server configured like this one. */
static void control_server(int min, int max, const char *ciphers)
{
    raw_server rs;
    raw_server_start(&rs, pki_path(&group_pki, "rsa.pem"), pki_path(&group_pki, "rsa.key"), min,
                     max, ciphers, true);
    raw_result r;
    raw_client(rs.port, &(raw_opts){.seclevel0 = true}, &r);
    raw_server_join(&rs);
    if (!r.ok) fail_msg("control: %s / %s", r.error, rs.error);
    SSL_SESSION_free(r.session);
}

static void test_client_refuses_old_servers(void **state)
{
    flare_error err;
    raw_server rs;
    control_server(TLS1_VERSION, TLS1_1_VERSION, NULL);
    raw_server_start(&rs, pki_path(&group_pki, "rsa.pem"), pki_path(&group_pki, "rsa.key"),
                     TLS1_VERSION, TLS1_1_VERSION, NULL, true);
    assert_int_equal(client_against(&rs, FLARE_TLS_1_2, &err), FLARE_ETLS);
    assert_non_null(strstr(err.message, "127.0.0.1"));

    control_server(0, TLS1_2_VERSION, "AES128-SHA:ECDHE-RSA-AES128-SHA");
    raw_server_start(&rs, pki_path(&group_pki, "rsa.pem"), pki_path(&group_pki, "rsa.key"), 0,
                     TLS1_2_VERSION, "AES128-SHA:ECDHE-RSA-AES128-SHA", true);
    assert_int_equal(client_against(&rs, FLARE_TLS_1_2, &err), FLARE_ETLS);
}

static void test_client_refuses_server_renegotiation(void **state)
{
    /* Control: a raw client follows the server's HelloRequest (the server must also
     * allow the ClientHello that answers it: OpenSSL 3 counts that as client-initiated). */
    raw_server rs;
    raw_server_start_ex(&rs, pki_path(&group_pki, "rsa.pem"), pki_path(&group_pki, "rsa.key"), 0,
                        TLS1_2_VERSION, NULL, false, RAW_RENEGOTIATE | RAW_ALLOW_CLIENT_RENEG);
    raw_result r;
    raw_client(rs.port, &(raw_opts){.second_ping = true}, &r);
    raw_server_join(&rs);
    if (!r.ok) fail_msg("control: %s / %s", r.error, rs.error);
    assert_true(rs.renegotiated);
    SSL_SESSION_free(r.session);

    raw_server_start_ex(&rs, pki_path(&group_pki, "rsa.pem"), pki_path(&group_pki, "rsa.key"), 0,
                        TLS1_2_VERSION, NULL, false, RAW_RENEGOTIATE | RAW_ALLOW_CLIENT_RENEG);
    flare_tls_client_config cfg = {
        .ca_file = pki_path(&group_pki, "ca.pem"), .timeout_ms = 5000, .io_timeout_ms = 5000};
    flare_tls_stream s;
    flare_error err;
    assert_int_equal(flare_tls_connect(&s, "127.0.0.1", rs.port, &cfg, &err), 0);
    char buf[8];
    for (int i = 0; i < 2; i++) { /* the HelloRequest arrives after the first echo */
        assert_int_equal(flare_tls_stream_write_all(&s, "ping", 4, &err), 0);
        if (flare_tls_stream_read(&s, buf, sizeof buf, &err) != 4) break;
    }
    flare_tls_stream_close(&s);
    raw_server_join(&rs);
    assert_false(rs.renegotiated);
    assert_int_equal(rs.reason, SSL_R_NO_RENEGOTIATION);
}

static void test_client_min_version(void **state)
{
    flare_error err;
    raw_server rs;
    raw_server_start(&rs, pki_path(&group_pki, "rsa.pem"), pki_path(&group_pki, "rsa.key"), 0,
                     TLS1_2_VERSION, NULL, false);
    assert_int_equal(client_against(&rs, FLARE_TLS_1_2, &err), 0);
    assert_string_equal(rs.version, "TLSv1.2");
    assert_memory_equal(rs.cipher, "ECDHE-RSA-", 10);
    raw_server_start(&rs, pki_path(&group_pki, "rsa.pem"), pki_path(&group_pki, "rsa.key"), 0,
                     TLS1_2_VERSION, NULL, false);
    assert_int_equal(client_against(&rs, FLARE_TLS_1_3, &err), FLARE_ETLS);
}

/* ---------------------------------------------------- certificate files */

static void test_check_cert_pair(void **state)
{
    flare_error err;
    assert_int_equal(flare_tls_check_cert_pair(pki_path(&group_pki, "server.pem"),
                                               pki_path(&group_pki, "server.key"), &err),
                     0);
    assert_int_equal(flare_tls_check_cert_pair(pki_path(&group_pki, "server.pem"),
                                               pki_path(&group_pki, "other.key"), &err),
                     FLARE_ECONFIG);
    assert_non_null(strstr(err.message, "does not match"));
    assert_int_equal(flare_tls_check_cert_pair(pki_path(&group_pki, "absent.pem"),
                                               pki_path(&group_pki, "server.key"), &err),
                     FLARE_ECONFIG);
    assert_non_null(strstr(err.message, "absent.pem"));
    assert_int_not_equal(err.sys_errno, 0);
    assert_int_equal(flare_tls_check_cert_pair(pki_path(&group_pki, "server.key"),
                                               pki_path(&group_pki, "server.key"), &err),
                     FLARE_ECONFIG);
    assert_non_null(strstr(err.message, "not a PEM certificate"));
    /* An encrypted key fails to load instead of prompting for a passphrase. */
    assert_int_equal(flare_tls_check_cert_pair(pki_path(&group_pki, "server.pem"),
                                               pki_path(&group_pki, "encrypted.key"), &err),
                     FLARE_ECONFIG);
    assert_non_null(strstr(err.message, "encrypted.key"));
    assert_int_equal(flare_tls_check_cert_pair(NULL, NULL, &err), FLARE_ECONFIG);
}

static void test_alpn_lists_are_validated(void **state)
{
    flare_tls_client_ctx *ctx;
    flare_error err;
    char long_name[300];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    const char *too_long[] = {long_name};
    const char *has_null[] = {"h2", NULL};
    const char *many[FLARE_TLS_MAX_ALPN + 1];
    for (size_t i = 0; i < FLARE_N_ELEMENTS(many); i++)
        many[i] = "h2";
    flare_tls_client_config cfg = {
        .ca_file = pki_path(&group_pki, "ca.pem"), .alpn = too_long, .alpn_count = 1};
    assert_int_equal(flare_tls_client_ctx_new(&ctx, &cfg, &err), FLARE_EINVAL);
    cfg.alpn = has_null;
    cfg.alpn_count = 2;
    assert_int_equal(flare_tls_client_ctx_new(&ctx, &cfg, &err), FLARE_EINVAL);
    cfg.alpn = many;
    cfg.alpn_count = FLARE_N_ELEMENTS(many);
    assert_int_equal(flare_tls_client_ctx_new(&ctx, &cfg, &err), FLARE_EINVAL);
    cfg.alpn_count = FLARE_TLS_MAX_ALPN;
    assert_int_equal(flare_tls_client_ctx_new(&ctx, &cfg, &err), 0);
    flare_tls_client_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_refuses_tls_1_1),
        cmocka_unit_test(test_server_refuses_tls_1_0),
        cmocka_unit_test(test_server_refuses_rsa_key_exchange),
        cmocka_unit_test(test_server_refuses_ecdhe_cbc),
        cmocka_unit_test(test_tls_1_2_gets_ecdhe_aead),
        cmocka_unit_test(test_server_min_version_1_3),
        cmocka_unit_test(test_server_refuses_renegotiation),
        cmocka_unit_test(test_client_refuses_old_servers),
        cmocka_unit_test(test_client_refuses_server_renegotiation),
        cmocka_unit_test(test_client_min_version),
        cmocka_unit_test(test_check_cert_pair),
        cmocka_unit_test(test_alpn_lists_are_validated),
    };
    return cmocka_run_group_tests(tests, pki_group_setup, pki_group_teardown);
}
