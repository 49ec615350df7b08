/*
 * test_extension.c: Sec-WebSocket-Extensions syntax (RFC 6455 §9.1) and the
 * permessage-deflate parameters (RFC 7692 §7.1): elements, parameters with
 * token and quoted values, and every way a parameter list can be invalid.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../../src/ws/ws_internal.h"

typedef struct {
    char name[64];
    char params[128];
} element;

/* Splits a header value into elements; returns their count or the error. */
static int split(const char *value, element *out, int max)
{
    flare_ws__ext_iter it = {value, value + strlen(value)};
    const char *n, *p;
    size_t nl, pl;
    int count = 0, rc;
    while ((rc = flare_ws__ext_next(&it, &n, &nl, &p, &pl)) == 1) {
        assert_true(count < max);
        memcpy(out[count].name, n, nl);
        out[count].name[nl] = '\0';
        memcpy(out[count].params, p, pl);
        out[count].params[pl] = '\0';
        count++;
    }
    return rc < 0 ? rc : count;
}

static void test_iterate(void **state)
{
    (void)state;
    element e[4];
    assert_int_equal(split("", e, 4), 0);
    assert_int_equal(split(" , ,", e, 4), 0);
    assert_int_equal(split("permessage-deflate", e, 4), 1);
    assert_string_equal(e[0].name, "permessage-deflate");
    assert_string_equal(e[0].params, "");
    assert_int_equal(
        split("permessage-deflate; client_max_window_bits, foo;a=\"x,y\";b , bar", e, 4), 3);
    assert_string_equal(e[0].params, " client_max_window_bits");
    assert_string_equal(e[1].name, "foo");
    assert_string_equal(e[1].params, "a=\"x,y\";b ");
    assert_string_equal(e[2].name, "bar");
    /* Syntax errors. */
    assert_int_equal(split("permessage-deflate;", e, 4), FLARE_EPARSE);
    assert_int_equal(split("a b", e, 4), FLARE_EPARSE);
    assert_int_equal(split("a; x=", e, 4), FLARE_EPARSE);
    assert_int_equal(split("a; x=\"unterminated", e, 4), FLARE_EPARSE);
    assert_int_equal(split("; x", e, 4), FLARE_EPARSE);
    assert_int_equal(split("a; =1", e, 4), FLARE_EPARSE);
    assert_int_equal(split("a; x=1 2", e, 4), FLARE_EPARSE);
    assert_int_equal(split("a; x=\"\x01\"", e, 4), FLARE_EPARSE);
}

static int pmd(const char *params, bool offer, flare_ws__pmd *out)
{
    return flare_ws__pmd_parse(params, strlen(params), offer, out);
}

static void test_pmd_params(void **state)
{
    (void)state;
    flare_ws__pmd p;
    assert_int_equal(pmd("", true, &p), 0);
    assert_false(p.server_no_context_takeover || p.client_no_context_takeover ||
                 p.client_max_window_bits_present);
    assert_int_equal(pmd(" server_no_context_takeover; client_no_context_takeover ; "
                         "server_max_window_bits=10; client_max_window_bits",
                         true, &p),
                     0);
    assert_true(p.server_no_context_takeover && p.client_no_context_takeover);
    assert_int_equal(p.server_max_window_bits, 10);
    assert_true(p.client_max_window_bits_present);
    assert_int_equal(p.client_max_window_bits, 0);
    assert_int_equal(pmd("client_max_window_bits=\"8\"; server_max_window_bits=15", true, &p), 0);
    assert_int_equal(p.client_max_window_bits, 8);
    assert_int_equal(p.server_max_window_bits, 15);
    /* Without a value only in an offer. */
    assert_int_equal(pmd("client_max_window_bits", false, &p), FLARE_EPARSE);
    assert_int_equal(pmd("client_max_window_bits=12", false, &p), 0);
    const char *bad[] = {
        "server_max_window_bits",
        "server_max_window_bits=7",
        "server_max_window_bits=16",
        "server_max_window_bits=08",
        "server_max_window_bits=1a",
        "server_max_window_bits=\"\"",
        "client_max_window_bits=0",
        "server_no_context_takeover=1",
        "client_no_context_takeover=\"x\"",
        "server_no_context_takeover; server_no_context_takeover",
        "client_max_window_bits; client_max_window_bits=9",
        "x_unknown",
        "server_max_window_bits=10; server_max_window_bits=11",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (pmd(bad[i], true, &p) != FLARE_EPARSE) fail_msg("accepted \"%s\"", bad[i]);
}

static void test_format(void **state)
{
    (void)state;
    flare_ws__pmd p = {.server_no_context_takeover = true,
                       .client_no_context_takeover = true,
                       .server_max_window_bits = 15,
                       .client_max_window_bits = 15,
                       .client_max_window_bits_present = true};
    char out[FLARE_WS_EXTENSIONS_MAX];
    size_t n = flare_ws__pmd_format(&p, out, sizeof out);
    assert_string_equal(out, "permessage-deflate; server_no_context_takeover; "
                             "client_no_context_takeover; server_max_window_bits=15; "
                             "client_max_window_bits=15");
    assert_int_equal(n, strlen(out));
    /* Formatted output parses back to the same parameters. */
    flare_ws__ext_iter it = {out, out + n};
    const char *name, *params;
    size_t nl, pl;
    assert_int_equal(flare_ws__ext_next(&it, &name, &nl, &params, &pl), 1);
    flare_ws__pmd back;
    assert_int_equal(flare_ws__pmd_parse(params, pl, false, &back), 0);
    assert_memory_equal(&back, &p, sizeof p);
    assert_int_equal(flare_ws__pmd_format(&p, out, 20), 0); /* too small */
    flare_ws__pmd none = {0};
    flare_ws__pmd_format(&none, out, sizeof out);
    assert_string_equal(out, "permessage-deflate");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iterate),
        cmocka_unit_test(test_pmd_params),
        cmocka_unit_test(test_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
