/*
 * 02_dns.c: resolve names with the system resolver, both families or one
 * (the seed's resolve, resolve_v4, resolve_v6). A numeric address is returned
 * as-is without any lookup; a name is validated first and then answered in the
 * order connect() should try the addresses.
 */
#include <stdbool.h>
#include <stdio.h>

#include "flare/dns.h"

static void print_result(const char *what, const flare_dns_result *r)
{
    printf("%s:", what);
    for (size_t i = 0; i < r->count; i++) {
        char text[FLARE_IP_STR_MAX];
        flare_ip_format(&r->addrs[i], text, sizeof text);
        printf(" %s", text);
    }
    printf("  (%zu address%s)\n", r->count, r->count == 1 ? "" : "es");
}

int main(void)
{
    flare_dns_result r;
    flare_error err;

    /* Both families; localhost is answered from /etc/hosts, no network needed. */
    if (flare_dns_resolve("localhost", &r, &err) < 0) {
        fprintf(stderr, "resolve localhost: %s\n", err.message);
        return 1;
    }
    print_result("localhost (any)", &r);
    bool listed_v6 = false;
    for (size_t i = 0; i < r.count; i++)
        listed_v6 |= flare_ip_is_v6(&r.addrs[i]);

    if (flare_dns_resolve_v4("localhost", &r, &err) < 0) {
        fprintf(stderr, "resolve_v4 localhost: %s\n", err.message);
        return 1;
    }
    print_result("localhost (IPv4)", &r);

    /* IPv6 only. Asked only where /etc/hosts lists ::1, so no DNS query goes out. */
    if (listed_v6) {
        if (flare_dns_resolve_v6("localhost", &r, &err) < 0) {
            fprintf(stderr, "resolve_v6 localhost: %s\n", err.message);
            return 1;
        }
        print_result("localhost (IPv6)", &r);
    } else {
        puts("localhost (IPv6): /etc/hosts lists no IPv6 address for it here");
    }
    /* A literal of the other family is refused, not looked up. */
    if (flare_dns_resolve_v6("127.0.0.1", &r, &err) != FLARE_ERESOLVE) {
        fputs("resolve_v6 127.0.0.1 should have been refused\n", stderr);
        return 1;
    }
    printf("resolve_v6(\"127.0.0.1\"): %s (%s)\n", flare_error_name(err.code), err.message);

    /* Literals pass straight through: no resolver call, no DNS traffic. */
    const char *literals[] = {"127.0.0.1", "::1", "[2001:db8::1]", "fe80::1%1"};
    for (size_t i = 0; i < 4; i++) {
        if (flare_dns_resolve(literals[i], &r, &err) < 0) {
            fprintf(stderr, "%s: %s\n", literals[i], err.message);
            return 1;
        }
        print_result(literals[i], &r);
    }
    return 0;
}
