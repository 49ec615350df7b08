/*
 * test_ticket.c: session tickets. The same key material in two server contexts
 * (two workers) resumes each other's sessions; a context with another key does
 * not; after one rotation the previous key still resumes, after two it does not.
 * Each connection gets its own short-lived server thread, so keys only change
 * while no handshake runs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include <openssl/ssl.h>

#include "flare/tls.h"
#include "tls_fixture.h"

static flare_tls_server_ctx *ticket_ctx(bool tickets)
{
    flare_tls_cert_config c = {.cert_file = pki_path(&group_pki, "server.pem"),
                               .key_file = pki_path(&group_pki, "server.key")};
    flare_tls_server_config cfg = {.certs = &c, .cert_count = 1, .session_tickets = tickets};
    flare_tls_server_ctx *ctx;
    flare_error err;
    if (flare_tls_server_ctx_new(&ctx, &cfg, &err) < 0) fail_msg("ctx: %s", err.message);
    return ctx;
}

static void make_key(uint8_t key[FLARE_TLS_TICKET_KEY_LEN])
{
    flare_error err;
    assert_int_equal(flare_tls_ticket_key_generate(key, &err), 0);
}

/* One connection to ctx naming sni (NULL: none), resuming session when given;
 * returns the new session. */
static SSL_SESSION *visit_as(flare_tls_server_ctx *ctx, SSL_SESSION *session, int max_version,
                             const char *sni, bool *reused)
{
    tls_server srv = {0};
    ts_start(&srv, ctx, "127.0.0.1:0", 1);
    raw_result r;
    raw_client(srv.port, &(raw_opts){.session = session, .max_version = max_version, .sni = sni},
               &r);
    ts_join(&srv);
    if (!r.ok) fail_msg("client: %s (server: %s)", r.error, srv.results[0].error);
    assert_int_equal(srv.results[0].rc, 0);
    assert_int_equal(srv.results[0].reused, r.reused); /* both ends agree */
    *reused = r.reused;
    assert_non_null(r.session);
    return r.session;
}

static SSL_SESSION *visit(flare_tls_server_ctx *ctx, SSL_SESSION *session, int max_version,
                          bool *reused)
{
    return visit_as(ctx, session, max_version, NULL, reused);
}

static void across_workers(int max_version)
{
    uint8_t shared[FLARE_TLS_TICKET_KEY_LEN], other[FLARE_TLS_TICKET_KEY_LEN];
    make_key(shared);
    make_key(other);
    flare_tls_server_ctx *a = ticket_ctx(true), *b = ticket_ctx(true), *c = ticket_ctx(true);
    flare_error err;
    assert_int_equal(flare_tls_server_ctx_set_ticket_keys(a, shared, NULL, &err), 0);
    assert_int_equal(flare_tls_server_ctx_set_ticket_keys(b, shared, NULL, &err), 0);
    assert_int_equal(flare_tls_server_ctx_set_ticket_keys(c, other, NULL, &err), 0);
    bool reused;
    SSL_SESSION *first = visit(a, NULL, max_version, &reused);
    assert_false(reused);
    SSL_SESSION *second = visit(b, first, max_version, &reused);
    assert_true(reused); /* a ticket from worker a opens at worker b */
    SSL_SESSION *third = visit(c, first, max_version, &reused);
    assert_false(reused); /* ...but not where the key differs: a full handshake */
    SSL_SESSION_free(first);
    SSL_SESSION_free(second);
    SSL_SESSION_free(third);
    flare_tls_server_ctx_free(a);
    flare_tls_server_ctx_free(b);
    flare_tls_server_ctx_free(c);
}

static void test_resumption_across_workers_tls13(void **state)
{
    across_workers(0);
}

static void test_resumption_across_workers_tls12(void **state)
{
    across_workers(TLS1_2_VERSION);
}

/* RFC 6066 §3: a session resumes only under the name it was made for, even where
 * one certificate serves both names; case and a trailing dot do not make another
 * name. Otherwise a session made for one virtual host would skip the handshake of
 * another, whose certificate was never shown. */
static void keeps_to_its_name(int max_version)
{
    static const char *names[] = {"other.test", "*.wild.test"};
    flare_tls_cert_config certs[2] = {{.cert_file = pki_path(&group_pki, "server.pem"),
                                       .key_file = pki_path(&group_pki, "server.key")},
                                      {.cert_file = pki_path(&group_pki, "other.pem"),
                                       .key_file = pki_path(&group_pki, "other.key"),
                                       .names = names,
                                       .name_count = 2}};
    flare_tls_server_config cfg = {.certs = certs, .cert_count = 2, .session_tickets = true};
    flare_tls_server_ctx *ctx;
    flare_error err;
    if (flare_tls_server_ctx_new(&ctx, &cfg, &err) < 0) fail_msg("ctx: %s", err.message);
    static const struct {
        const char *made, *resumed;
        bool reuses;
    } cases[] = {
        {"localhost", "localhost", true},
        {"localhost", "LocalHost.", true},
        {"localhost", "other.test", false},
        {"other.test", "localhost", false},
        {"a.wild.test", "b.wild.test", false},
        {"other.test", "a.wild.test", false},
        {NULL, "localhost", false},
        {"localhost", NULL, false},
        {NULL, NULL, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool reused;
        SSL_SESSION *made = visit_as(ctx, NULL, max_version, cases[i].made, &reused);
        SSL_SESSION *again = visit_as(ctx, made, max_version, cases[i].resumed, &reused);
        if (reused != cases[i].reuses)
            fail_msg("a session made for %s %s under %s", cases[i].made ? cases[i].made : "no name",
                     reused ? "resumed" : "did not resume",
                     cases[i].resumed ? cases[i].resumed : "no name");
        SSL_SESSION_free(made);
        SSL_SESSION_free(again);
    }
    flare_tls_server_ctx_free(ctx);
}

static void test_resumption_keeps_to_its_name_tls13(void **state)
{
    (void)state;
    keeps_to_its_name(0);
}

static void test_resumption_keeps_to_its_name_tls12(void **state)
{
    (void)state;
    keeps_to_its_name(TLS1_2_VERSION);
}

static void test_rotation_keeps_one_previous_key(void **state)
{
    uint8_t k1[FLARE_TLS_TICKET_KEY_LEN], k2[FLARE_TLS_TICKET_KEY_LEN],
        k3[FLARE_TLS_TICKET_KEY_LEN];
    make_key(k1);
    make_key(k2);
    make_key(k3);
    flare_tls_server_ctx *ctx = ticket_ctx(true);
    flare_error err;
    assert_int_equal(flare_tls_server_ctx_set_ticket_keys(ctx, k1, NULL, &err), 0);
    bool reused;
    SSL_SESSION *t1 = visit(ctx, NULL, 0, &reused);

    assert_int_equal(flare_tls_server_ctx_rotate_ticket_key(ctx, k2, &err), 0);
    /* Receiving the same key again (a repeated broadcast) must not push k1 out. */
    assert_int_equal(flare_tls_server_ctx_rotate_ticket_key(ctx, k2, &err), 0);
    SSL_SESSION *t2 = visit(ctx, t1, 0, &reused);
    assert_true(reused); /* k1 is the previous key: still accepted */

    assert_int_equal(flare_tls_server_ctx_rotate_ticket_key(ctx, k3, &err), 0);
    SSL_SESSION *t3 = visit(ctx, t1, 0, &reused);
    assert_false(reused); /* k1 is older than previous: full handshake */
    SSL_SESSION *t4 = visit(ctx, t3, 0, &reused);
    assert_true(reused); /* the full handshake's fresh ticket works */
    SSL_SESSION_free(t1);
    SSL_SESSION_free(t2);
    SSL_SESSION_free(t3);
    SSL_SESSION_free(t4);
    flare_tls_server_ctx_free(ctx);
}

static void test_set_keys_with_previous(void **state)
{
    /* A worker started after a rotation gets both keys at once. */
    uint8_t k1[FLARE_TLS_TICKET_KEY_LEN], k2[FLARE_TLS_TICKET_KEY_LEN];
    make_key(k1);
    make_key(k2);
    flare_tls_server_ctx *old_worker = ticket_ctx(true), *new_worker = ticket_ctx(true);
    flare_error err;
    assert_int_equal(flare_tls_server_ctx_set_ticket_keys(old_worker, k1, NULL, &err), 0);
    assert_int_equal(flare_tls_server_ctx_set_ticket_keys(new_worker, k2, k1, &err), 0);
    bool reused;
    SSL_SESSION *t1 = visit(old_worker, NULL, 0, &reused);
    SSL_SESSION *t2 = visit(new_worker, t1, 0, &reused);
    assert_true(reused);
    SSL_SESSION_free(t1);
    SSL_SESSION_free(t2);
    flare_tls_server_ctx_free(old_worker);
    flare_tls_server_ctx_free(new_worker);
}

static void test_tickets_off(void **state)
{
    flare_tls_server_ctx *ctx = ticket_ctx(false);
    bool reused;
    SSL_SESSION *t1 = visit(ctx, NULL, 0, &reused);
    SSL_SESSION *t2 = visit(ctx, t1, 0, &reused);
    assert_false(reused);
    SSL_SESSION_free(t1);
    SSL_SESSION_free(t2);
    t1 = visit(ctx, NULL, TLS1_2_VERSION, &reused);
    t2 = visit(ctx, t1, TLS1_2_VERSION, &reused);
    assert_false(reused); /* no session cache to fall back on either */
    SSL_SESSION_free(t1);
    SSL_SESSION_free(t2);
    uint8_t k[FLARE_TLS_TICKET_KEY_LEN];
    make_key(k);
    flare_error err;
    assert_int_equal(flare_tls_server_ctx_set_ticket_keys(ctx, k, NULL, &err), FLARE_EINVAL);
    assert_int_equal(flare_tls_server_ctx_rotate_ticket_key(ctx, k, &err), FLARE_EINVAL);
    flare_tls_server_ctx_free(ctx);
}

/* Session tickets one TLS 1.3 connection to ctx receives (resuming session if given). */
static int tickets_sent(flare_tls_server_ctx *ctx, SSL_SESSION *session, SSL_SESSION **out)
{
    tls_server srv = {0};
    ts_start(&srv, ctx, "127.0.0.1:0", 1);
    raw_result r;
    raw_client(srv.port, &(raw_opts){.session = session}, &r);
    ts_join(&srv);
    if (!r.ok) fail_msg("client: %s (server: %s)", r.error, srv.results[0].error);
    if (out)
        *out = r.session;
    else
        SSL_SESSION_free(r.session);
    return r.tickets;
}

static void test_one_ticket_per_handshake(void **state)
{
    /* One ticket after a full handshake, not OpenSSL's default two, and that one
     * resumes; none when tickets are off. */
    flare_tls_server_ctx *on = ticket_ctx(true), *off = ticket_ctx(false);
    SSL_SESSION *first = NULL;
    assert_int_equal(tickets_sent(on, NULL, &first), 1);
    bool reused;
    SSL_SESSION *second = visit(on, first, 0, &reused);
    assert_true(reused);
    assert_int_equal(tickets_sent(off, NULL, NULL), 0);
    SSL_SESSION_free(first);
    SSL_SESSION_free(second);
    flare_tls_server_ctx_free(on);
    flare_tls_server_ctx_free(off);
}

static void test_default_random_key_resumes_locally(void **state)
{
    flare_tls_server_ctx *ctx = ticket_ctx(true), *other = ticket_ctx(true);
    bool reused;
    SSL_SESSION *t1 = visit(ctx, NULL, 0, &reused);
    SSL_SESSION *t2 = visit(ctx, t1, 0, &reused);
    assert_true(reused);
    SSL_SESSION *t3 = visit(other, t1, 0, &reused);
    assert_false(reused); /* each context drew its own random key */
    SSL_SESSION_free(t1);
    SSL_SESSION_free(t2);
    SSL_SESSION_free(t3);
    flare_tls_server_ctx_free(ctx);
    flare_tls_server_ctx_free(other);
}

static void test_key_argument_errors(void **state)
{
    flare_tls_server_ctx *ctx = ticket_ctx(true);
    uint8_t k1[FLARE_TLS_TICKET_KEY_LEN], k2[FLARE_TLS_TICKET_KEY_LEN];
    make_key(k1);
    make_key(k2);
    assert_memory_not_equal(k1, k2, sizeof k1);
    flare_error err;
    assert_int_equal(flare_tls_server_ctx_set_ticket_keys(ctx, NULL, NULL, &err), FLARE_EINVAL);
    assert_int_equal(flare_tls_server_ctx_set_ticket_keys(NULL, k1, NULL, &err), FLARE_EINVAL);
    memcpy(k2, k1, 16); /* same key name */
    assert_int_equal(flare_tls_server_ctx_set_ticket_keys(ctx, k1, k2, &err), FLARE_EINVAL);
    assert_non_null(strstr(err.message, "name"));
    assert_int_equal(flare_tls_server_ctx_rotate_ticket_key(ctx, NULL, &err), FLARE_EINVAL);
    assert_int_equal(flare_tls_ticket_key_generate(NULL, &err), FLARE_EINVAL);
    flare_tls_server_ctx_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resumption_across_workers_tls13),
        cmocka_unit_test(test_resumption_across_workers_tls12),
        cmocka_unit_test(test_resumption_keeps_to_its_name_tls13),
        cmocka_unit_test(test_resumption_keeps_to_its_name_tls12),
        cmocka_unit_test(test_rotation_keeps_one_previous_key),
        cmocka_unit_test(test_set_keys_with_previous),
        cmocka_unit_test(test_tickets_off),
        cmocka_unit_test(test_one_ticket_per_handshake),
        cmocka_unit_test(test_default_random_key_resumes_locally),
        cmocka_unit_test(test_key_argument_errors),
    };
    return cmocka_run_group_tests(tests, pki_group_setup, pki_group_teardown);
}
