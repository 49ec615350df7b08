/*
 * test_resolve.c: tests of src/dns/resolve.c. Injected resolvers check the
 * literal passthrough, validation-before-lookup, ordering, de-duplication and
 * family filtering; the system resolver is asked only for "localhost".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "flare/dns.h"
#include "flare/runtime.h"

/* ---------------------------------------------------------- test resolvers */

static int must_not_be_called(const char *host, flare_dns_family family, flare_dns_result *out,
                              void *ctx, flare_error *err)
{
    (void)family, (void)out, (void)ctx, (void)err;
    fail_msg("resolver called for \"%s\", which should have been handled before it", host);
    return FLARE_EINVAL;
}

static const flare_resolver never = {must_not_be_called, NULL};

/* Returns a fixed answer and records how it was called. */
struct canned {
    flare_ip_addr addrs[FLARE_DNS_MAX_ADDRS];
    size_t count;        /* what the resolver reports in out->count */
    int rc;              /* what it returns */
    const char *message; /* set into err when rc < 0 and message != NULL */
    int calls;
    char last_host[300];
    flare_dns_family last_family;
};

static int canned_resolver(const char *host, flare_dns_family family, flare_dns_result *out,
                           void *ctx, flare_error *err)
{
    struct canned *c = ctx;
    c->calls++;
    snprintf(c->last_host, sizeof c->last_host, "%s", host);
    c->last_family = family;
    if (c->rc < 0) {
        if (c->message) flare_error_set(err, c->rc, 0, "%s", c->message);
        return c->rc;
    }
    memcpy(out->addrs, c->addrs, sizeof c->addrs);
    out->count = c->count;
    return c->rc;
}

static flare_ip_addr ip_of(const char *s)
{
    flare_ip_addr ip;
    if (flare_ip_parse(&ip, s, strlen(s), NULL) != 0) fail_msg("bad test address %s", s);
    return ip;
}

static void assert_result(const flare_dns_result *r, const char *const *want, size_t n)
{
    if (r->count != n) fail_msg("want %zu addresses, got %zu", n, r->count);
    for (size_t i = 0; i < n; i++) {
        flare_ip_addr w = ip_of(want[i]);
        if (!flare_ip_equal(&r->addrs[i], &w)) {
            char got[FLARE_IP_STR_MAX];
            flare_ip_format(&r->addrs[i], got, sizeof got);
            fail_msg("address %zu: want %s, got %s", i, want[i], got);
        }
    }
}

/* ------------------------------------------------------- literal passthrough */

static void test_numeric_passthrough(void **state)
{
    (void)state;
    const struct {
        const char *host;
        const char *want;
    } cases[] = {
        {"127.0.0.1", "127.0.0.1"},
        {"10.1.2.3", "10.1.2.3"},
        {"::1", "::1"},
        {"[::1]", "::1"},
        {"[2001:db8::7]", "2001:db8::7"},
        {"fe80::1%5", "fe80::1%5"},
        {"[fe80::1%5]", "fe80::1%5"},
        {"::ffff:1.2.3.4", "::ffff:1.2.3.4"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        flare_dns_result r;
        flare_error err = {0};
        int rc = flare_dns_resolve_with(&never, cases[i].host, FLARE_DNS_ANY, &r, &err);
        if (rc != 0) fail_msg("%s: %s", cases[i].host, err.message);
        assert_result(&r, &cases[i].want, 1);
    }

    /* The system entry points pass literals through the same way. */
    flare_dns_result r;
    assert_int_equal(flare_dns_resolve("192.0.2.55", &r, NULL), 0);
    const char *want4[] = {"192.0.2.55"};
    assert_result(&r, want4, 1);
    assert_int_equal(flare_dns_resolve_v6("[2001:db8::55]", &r, NULL), 0);
    const char *want6[] = {"2001:db8::55"};
    assert_result(&r, want6, 1);
    assert_int_equal(flare_dns_resolve_v4("192.0.2.55", &r, NULL), 0);
    assert_result(&r, want4, 1);
}

static void test_numeric_family_mismatch(void **state)
{
    (void)state;
    flare_dns_result r = {.count = 7};
    flare_error err = {0};
    assert_int_equal(flare_dns_resolve_with(&never, "127.0.0.1", FLARE_DNS_V6, &r, &err),
                     FLARE_ERESOLVE);
    assert_non_null(strstr(err.message, "127.0.0.1"));
    assert_int_equal(r.count, 0);
    assert_int_equal(flare_dns_resolve_with(&never, "[::1]", FLARE_DNS_V4, &r, &err),
                     FLARE_ERESOLVE);
    assert_non_null(strstr(err.message, "IPv4"));
    assert_int_equal(flare_dns_resolve_v4("::1", &r, NULL), FLARE_ERESOLVE);
}

static void test_malformed_literals(void **state)
{
    (void)state;
    /* Hex, ':' and '.', or digits-and-dots only: a literal was meant; it is never looked up. */
    const char *bad[] = {"1.2.3.256",  "127.1",
                         "01.2.3.4",   "1.2.3.4.",
                         "2130706433", "1::2::3",
                         "[1.2.3.4]",  "[::1",
                         "[]",         "[::1]:80",
                         "fe80::1%",   "::1%nosuchif0",
                         "1.2.3",      "::ffff:1.2.3.4.5",
                         "12345::"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        flare_dns_result r;
        flare_error err = {0};
        int rc = flare_dns_resolve_with(&never, bad[i], FLARE_DNS_ANY, &r, &err);
        if (rc != FLARE_EADDR)
            fail_msg("%s: want FLARE_EADDR, got %s (%s)", bad[i], flare_error_name(rc),
                     err.message);
        assert_int_equal(r.count, 0);
    }
    /* A port glued to the host is named as such, not as a missing bracket. */
    flare_dns_result r;
    flare_error err = {0};
    assert_int_equal(flare_dns_resolve_with(&never, "[::1]:80", FLARE_DNS_ANY, &r, &err),
                     FLARE_EADDR);
    assert_non_null(strstr(err.message, "text after ']'"));
    assert_int_equal(flare_dns_resolve_with(&never, "[::1", FLARE_DNS_ANY, &r, &err), FLARE_EADDR);
    assert_non_null(strstr(err.message, "without closing ']'"));
}

static void test_legacy_ipv4_names(void **state)
{
    (void)state;
    /* Valid LDH, but inet_aton (inside getaddrinfo) would read them as 127.0.0.1. */
    const char *legacy[] = {"0x7f000001", "0x7f.1", "0x7f.0.0.1", "0X7F.0X0.0X0.0X1"};
    for (size_t i = 0; i < sizeof legacy / sizeof legacy[0]; i++) {
        flare_dns_result r;
        flare_error err = {0};
        int rc = flare_dns_resolve_with(&never, legacy[i], FLARE_DNS_ANY, &r, &err);
        if (rc != FLARE_EADDR)
            fail_msg("%s: want FLARE_EADDR, got %s", legacy[i], flare_error_name(rc));
        assert_non_null(strstr(err.message, "dotted quad"));
    }
    /* The system path refuses them too. */
    flare_dns_result r;
    assert_int_equal(flare_dns_resolve("0x7f000001", &r, NULL), FLARE_EADDR);
}

/* ---------------------------------------------------------------- validation */

static void test_bad_hostnames_never_reach_resolver(void **state)
{
    (void)state;
    char too_long[300];
    memset(too_long, 'a', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    char long_label[80];
    memset(long_label, 'b', 64);
    strcpy(long_label + 64, ".com");
    const char *bad[] = {"",
                         "exa mple.com",
                         "example.com\r\nHost: evil",
                         "user@host",
                         "host\n",
                         "-foo.com",
                         "foo-.com",
                         "a..b",
                         ".",
                         "host~name",
                         "/etc/passwd",
                         too_long,
                         long_label,
                         "\tlocalhost",
                         "localhost ",
                         "example.com:80",
                         "::1]",
                         "localhost%lo",
                         "a:b:c:g"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        flare_dns_result r;
        flare_error err = {0};
        int rc = flare_dns_resolve_with(&never, bad[i], FLARE_DNS_ANY, &r, &err);
        if (rc != FLARE_EHOSTNAME)
            fail_msg("\"%s\": want FLARE_EHOSTNAME, got %s (%s)", bad[i], flare_error_name(rc),
                     err.message);
        assert_int_equal(err.code, FLARE_EHOSTNAME);
        assert_int_equal(r.count, 0);
    }
    /* Through the system entry point as well. */
    flare_dns_result r;
    assert_int_equal(flare_dns_resolve("bad host", &r, NULL), FLARE_EHOSTNAME);
    assert_int_equal(flare_dns_resolve_v4("localhost\r\n", &r, NULL), FLARE_EHOSTNAME);
}

static void test_invalid_arguments(void **state)
{
    (void)state;
    flare_dns_result r;
    flare_error err = {0};
    assert_int_equal(flare_dns_resolve_with(&never, NULL, FLARE_DNS_ANY, &r, &err), FLARE_EINVAL);
    assert_int_equal(flare_dns_resolve_with(&never, "localhost", FLARE_DNS_ANY, NULL, &err),
                     FLARE_EINVAL);
    assert_int_equal(flare_dns_resolve_with(&never, "localhost", (flare_dns_family)5, &r, &err),
                     FLARE_EINVAL);
    assert_int_equal(flare_dns_resolve(NULL, &r, NULL), FLARE_EINVAL);
}

/* ---------------------------------------------------------- injected answers */

static struct canned mixed_answer(void)
{
    struct canned c = {.rc = 0};
    const char *addrs[] = {"2001:db8::1", "192.0.2.1",   "2001:db8::1", "192.0.2.2",
                           "192.0.2.1",   "2001:db8::2", "fe80::1%2",   "fe80::1%3"};
    for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++)
        c.addrs[i] = ip_of(addrs[i]);
    c.count = sizeof addrs / sizeof addrs[0];
    return c;
}

static void test_injected_order_and_dedup(void **state)
{
    (void)state;
    struct canned c = mixed_answer();
    flare_resolver resolver = {canned_resolver, &c};
    flare_dns_result r;
    flare_error err = {0};
    assert_int_equal(flare_dns_resolve_with(&resolver, "svc.example", FLARE_DNS_ANY, &r, &err), 0);
    assert_int_equal(c.calls, 1);
    assert_string_equal(c.last_host, "svc.example");
    assert_int_equal(c.last_family, FLARE_DNS_ANY);
    /* Order kept, duplicates dropped; same address on another zone is distinct. */
    const char *want[] = {"2001:db8::1", "192.0.2.1", "192.0.2.2",
                          "2001:db8::2", "fe80::1%2", "fe80::1%3"};
    assert_result(&r, want, 6);
}

static void test_injected_family_filter(void **state)
{
    (void)state;
    struct canned c = mixed_answer();
    flare_resolver resolver = {canned_resolver, &c};
    flare_dns_result r;
    assert_int_equal(flare_dns_resolve_with(&resolver, "svc.example", FLARE_DNS_V4, &r, NULL), 0);
    assert_int_equal(c.last_family, FLARE_DNS_V4);
    const char *want4[] = {"192.0.2.1", "192.0.2.2"};
    assert_result(&r, want4, 2);

    assert_int_equal(flare_dns_resolve_with(&resolver, "svc.example", FLARE_DNS_V6, &r, NULL), 0);
    assert_int_equal(c.last_family, FLARE_DNS_V6);
    const char *want6[] = {"2001:db8::1", "2001:db8::2", "fe80::1%2", "fe80::1%3"};
    assert_result(&r, want6, 4);

    /* Nothing of the asked family left: a resolution error naming the host. */
    struct canned only6 = {.count = 1};
    only6.addrs[0] = ip_of("2001:db8::9");
    resolver.ctx = &only6;
    flare_error err = {0};
    assert_int_equal(flare_dns_resolve_with(&resolver, "v6only.example", FLARE_DNS_V4, &r, &err),
                     FLARE_ERESOLVE);
    assert_non_null(strstr(err.message, "v6only.example"));
    assert_non_null(strstr(err.message, "IPv4"));
    assert_int_equal(r.count, 0);
}

static void test_injected_cap(void **state)
{
    (void)state;
    struct canned c = {.count = FLARE_DNS_MAX_ADDRS};
    for (size_t i = 0; i < FLARE_DNS_MAX_ADDRS; i++)
        c.addrs[i] = flare_ip_v4(10, 0, 0, (uint8_t)i);
    flare_resolver resolver = {canned_resolver, &c};
    flare_dns_result r;
    assert_int_equal(flare_dns_resolve_with(&resolver, "many.example", FLARE_DNS_ANY, &r, NULL), 0);
    assert_int_equal(r.count, FLARE_DNS_MAX_ADDRS);
    flare_ip_addr last = flare_ip_v4(10, 0, 0, FLARE_DNS_MAX_ADDRS - 1);
    assert_true(flare_ip_equal(&r.addrs[FLARE_DNS_MAX_ADDRS - 1], &last));

    /* A resolver that over-reports its count is clamped, not trusted. */
    c.count = 1000;
    assert_int_equal(flare_dns_resolve_with(&resolver, "many.example", FLARE_DNS_ANY, &r, NULL), 0);
    assert_int_equal(r.count, FLARE_DNS_MAX_ADDRS);
}

static void test_injected_errors(void **state)
{
    (void)state;
    flare_dns_result r;
    flare_error err = {0};

    struct canned empty = {.count = 0};
    flare_resolver resolver = {canned_resolver, &empty};
    assert_int_equal(flare_dns_resolve_with(&resolver, "empty.example", FLARE_DNS_ANY, &r, &err),
                     FLARE_ERESOLVE);
    assert_non_null(strstr(err.message, "empty.example"));

    /* The resolver's own code and message are passed on. */
    struct canned failing = {.rc = FLARE_ETIMEDOUT, .message = "upstream timed out after 5 s"};
    resolver.ctx = &failing;
    assert_int_equal(flare_dns_resolve_with(&resolver, "slow.example", FLARE_DNS_ANY, &r, &err),
                     FLARE_ETIMEDOUT);
    assert_string_equal(err.message, "upstream timed out after 5 s");
    assert_int_equal(r.count, 0);

    /* A resolver that fails silently still leaves a message naming the host. */
    struct canned silent = {.rc = FLARE_ERESOLVE};
    resolver.ctx = &silent;
    assert_int_equal(flare_dns_resolve_with(&resolver, "quiet.example", FLARE_DNS_ANY, &r, &err),
                     FLARE_ERESOLVE);
    assert_int_equal(err.code, FLARE_ERESOLVE);
    assert_non_null(strstr(err.message, "quiet.example"));

    /* A trailing dot is allowed and handed over unchanged. */
    struct canned one = {.count = 1};
    one.addrs[0] = flare_ip_v4(192, 0, 2, 9);
    resolver.ctx = &one;
    assert_int_equal(flare_dns_resolve_with(&resolver, "fqdn.example.", FLARE_DNS_ANY, &r, NULL),
                     0);
    assert_string_equal(one.last_host, "fqdn.example.");
    assert_int_equal(r.count, 1);

    /* {NULL, NULL} selects the system resolver. */
    flare_resolver system = {NULL, NULL};
    assert_int_equal(flare_dns_resolve_with(&system, "localhost", FLARE_DNS_V4, &r, NULL), 0);
    flare_ip_addr lo = flare_ip_v4(127, 0, 0, 1);
    assert_true(flare_ip_equal(&r.addrs[0], &lo));
}

/* ------------------------------------------------------------ system resolver */

static void test_system_localhost(void **state)
{
    (void)state;
    flare_dns_result r;
    flare_error err = {0};
    int rc = flare_dns_resolve("localhost", &r, &err);
    if (rc != 0) fail_msg("resolve(localhost): %s", err.message);
    assert_true(r.count >= 1 && r.count <= FLARE_DNS_MAX_ADDRS);
    bool has_127 = false;
    flare_ip_addr lo = flare_ip_v4(127, 0, 0, 1);
    for (size_t i = 0; i < r.count; i++) {
        assert_true(flare_ip_is_loopback(&r.addrs[i]));
        if (flare_ip_equal(&r.addrs[i], &lo)) has_127 = true;
        for (size_t j = 0; j < i; j++)
            assert_false(flare_ip_equal(&r.addrs[i], &r.addrs[j]));
    }
    assert_true(has_127);

    rc = flare_dns_resolve_v4("localhost", &r, &err);
    if (rc != 0) fail_msg("resolve_v4(localhost): %s", err.message);
    assert_true(flare_ip_equal(&r.addrs[0], &lo));
    for (size_t i = 0; i < r.count; i++)
        assert_true(flare_ip_is_v4(&r.addrs[i]));
}

/* A bounded lookup (getaddrinfo_a underneath) gives what the unbounded one gives,
 * again and again. (What a silent DNS server gets is in test_flare_cli.py, inside a
 * network namespace of its own.) */
static void test_system_lookup_within(void **state)
{
    (void)state;
    flare_dns_result plain, bounded;
    flare_error err = {0};
    int rc = flare_dns_resolve_with(NULL, "localhost", FLARE_DNS_ANY, &plain, &err);
    if (rc != 0) fail_msg("resolve(localhost): %s", err.message);
    for (int round = 0; round < 20; round++) {
        rc = flare_dns_resolve_within(NULL, "localhost", FLARE_DNS_ANY, 5000, &bounded, &err);
        if (rc != 0) fail_msg("resolve_within(localhost): %s", err.message);
        assert_int_equal(bounded.count, plain.count);
        for (size_t i = 0; i < plain.count; i++)
            assert_true(flare_ip_equal(&bounded.addrs[i], &plain.addrs[i]));
    }
}

/* A background lookup signals when it is done and then answers what the blocking one
 * answers; a literal is answered at once, with no signal to wait for. */
static void test_background_lookup(void **state)
{
    (void)state;
    sigset_t done;
    sigemptyset(&done);
    sigaddset(&done, SIGUSR1);
    sigprocmask(SIG_BLOCK, &done, NULL);
    flare_dns_result plain, answer;
    flare_error err = {0};
    int rc = flare_dns_resolve_with(NULL, "localhost", FLARE_DNS_ANY, &plain, &err);
    if (rc != 0) fail_msg("resolve(localhost): %s", err.message);
    flare_dns_lookup *l;
    rc = flare_dns_lookup_start(NULL, "localhost", FLARE_DNS_ANY, 5000, SIGUSR1, &l, &err);
    if (rc != 0) fail_msg("lookup_start(localhost): %s", err.message);
    struct timespec bound = {.tv_sec = 5};
    assert_int_equal(sigtimedwait(&done, NULL, &bound), SIGUSR1);
    rc = flare_dns_lookup_result(l, flare_monotonic_ms(), &answer, &err);
    if (rc != 0) fail_msg("lookup_result(localhost): %s", err.message);
    assert_int_equal(answer.count, plain.count);
    for (size_t i = 0; i < plain.count; i++)
        assert_true(flare_ip_equal(&answer.addrs[i], &plain.addrs[i]));
    flare_dns_lookup_free(l);

    rc = flare_dns_lookup_start(NULL, "[::1]", FLARE_DNS_ANY, 5000, SIGUSR1, &l, &err);
    assert_int_equal(rc, 0);
    assert_int_equal(flare_dns_lookup_result(l, flare_monotonic_ms(), &answer, &err), 0);
    assert_int_equal(answer.count, 1);
    assert_true(flare_ip_is_loopback(&answer.addrs[0]));
    flare_dns_lookup_free(l);
    assert_int_equal(
        flare_dns_lookup_start(NULL, "bad..name", FLARE_DNS_ANY, 5000, SIGUSR1, &l, &err),
        FLARE_EHOSTNAME);
    assert_null(l);
}

/* "localhost." is the absolute spelling of "localhost": glibc's hosts-file back end
 * alone would not match it, so it must be answered from /etc/hosts just the same. */
static void test_system_absolute_localhost(void **state)
{
    (void)state;
    flare_dns_result short_name, absolute;
    flare_error err = {0};
    int rc = flare_dns_resolve_v4("localhost", &short_name, &err);
    if (rc != 0) fail_msg("resolve_v4(localhost): %s", err.message);
    rc = flare_dns_resolve_v4("localhost.", &absolute, &err);
    if (rc != 0) fail_msg("resolve_v4(localhost.): %s", err.message);
    assert_int_equal(absolute.count, short_name.count);
    for (size_t i = 0; i < absolute.count; i++)
        assert_true(flare_ip_equal(&absolute.addrs[i], &short_name.addrs[i]));
    rc = flare_dns_resolve("LocalHost.", &absolute, &err);
    if (rc != 0) fail_msg("resolve(LocalHost.): %s", err.message);
    for (size_t i = 0; i < absolute.count; i++)
        assert_true(flare_ip_is_loopback(&absolute.addrs[i]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numeric_passthrough),
        cmocka_unit_test(test_numeric_family_mismatch),
        cmocka_unit_test(test_malformed_literals),
        cmocka_unit_test(test_legacy_ipv4_names),
        cmocka_unit_test(test_bad_hostnames_never_reach_resolver),
        cmocka_unit_test(test_invalid_arguments),
        cmocka_unit_test(test_injected_order_and_dedup),
        cmocka_unit_test(test_injected_family_filter),
        cmocka_unit_test(test_injected_cap),
        cmocka_unit_test(test_injected_errors),
        cmocka_unit_test(test_system_localhost),
        cmocka_unit_test(test_system_lookup_within),
        cmocka_unit_test(test_background_lookup),
        cmocka_unit_test(test_system_absolute_localhost),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
