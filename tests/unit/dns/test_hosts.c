/*
 * test_hosts.c: tests of src/dns/hosts.c on hosts files written by the test:
 * comments, blanks, case, trailing dots, bad addresses, the address cap and a
 * missing file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../../src/dns/hosts.h"

static char path[] = "/tmp/flare-test-hosts-XXXXXX";

static void write_hosts(const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static size_t lookup(const char *name, flare_dns_result *out)
{
    out->count = 0;
    flare_dns__hosts_lookup(path, name, strlen(name), out);
    return out->count;
}

static void assert_addr(const flare_ip_addr *ip, const char *text)
{
    char got[FLARE_IP_STR_MAX];
    flare_ip_format(ip, got, sizeof got);
    assert_string_equal(got, text);
}

static int setup(void **state)
{
    (void)state;
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    close(fd);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    return 0;
}

static void test_names_match_absolute_and_short(void **state)
{
    (void)state;
    write_hosts("# a comment line\n"
                "\n"
                "127.0.0.1\tlocalhost  loopback # names after '#' are ignored: hidden\n"
                "::1 localhost ip6-localhost\r\n"
                "10.0.0.7 Build.Example.  build\n");
    flare_dns_result r;
    assert_int_equal(lookup("localhost.", &r), 2);
    assert_addr(&r.addrs[0], "127.0.0.1");
    assert_addr(&r.addrs[1], "::1");
    assert_int_equal(lookup("LOCALHOST.", &r), 2);
    assert_int_equal(lookup("loopback.", &r), 1);
    assert_int_equal(lookup("ip6-localhost.", &r), 1);
    assert_addr(&r.addrs[0], "::1");
    /* The file's own trailing dot does not matter either, nor case. */
    assert_int_equal(lookup("build.example.", &r), 1);
    assert_addr(&r.addrs[0], "10.0.0.7");
    assert_int_equal(lookup("build.example", &r), 1);
    assert_int_equal(lookup("build.", &r), 1);
}

static void test_non_matches(void **state)
{
    (void)state;
    write_hosts("127.0.0.1 localhost # hidden\n"
                "not-an-address ghost\n"
                "10.0.0.1\n"
                "   \t\n"
                "10.0.0.2 localhost.example\n");
    flare_dns_result r;
    assert_int_equal(lookup("hidden.", &r), 0);
    assert_int_equal(lookup("ghost.", &r), 0);
    assert_int_equal(lookup("local.", &r), 0);          /* a prefix of a name */
    assert_int_equal(lookup("localhost.exam.", &r), 0); /* a prefix of a longer name */
    assert_int_equal(lookup("localhost.example.", &r), 1);
    assert_addr(&r.addrs[0], "10.0.0.2");
}

static void test_cap_and_missing_file(void **state)
{
    (void)state;
    char text[64 * (FLARE_DNS_MAX_ADDRS + 4)] = "";
    for (int i = 0; i < FLARE_DNS_MAX_ADDRS + 4; i++) {
        char line[64];
        snprintf(line, sizeof line, "10.1.0.%d many\n", i + 1);
        strcat(text, line);
    }
    write_hosts(text);
    flare_dns_result r;
    assert_int_equal(lookup("many.", &r), FLARE_DNS_MAX_ADDRS);
    assert_addr(&r.addrs[FLARE_DNS_MAX_ADDRS - 1], "10.1.0.16");

    r.count = 0;
    flare_dns__hosts_lookup("/nonexistent/flare/hosts", "localhost.", 10, &r);
    assert_int_equal(r.count, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_match_absolute_and_short),
        cmocka_unit_test(test_non_matches),
        cmocka_unit_test(test_cap_and_missing_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
