/*
 * 01_addresses.c: parse, classify and print IP addresses, socket addresses and
 * CIDR blocks. Every parser takes an explicit length and never touches the
 * network; the output is the canonical (RFC 5952) text of each address.
 */
#include <stdio.h>
#include <string.h>

#include "flare/net.h"

static void show_ip(const char *text)
{
    flare_ip_addr ip;
    flare_error err;
    if (flare_ip_parse(&ip, text, strlen(text), &err) < 0) {
        printf("%-28s -> error: %s\n", text, err.message);
        return;
    }
    char canon[FLARE_IP_STR_MAX];
    flare_ip_format(&ip, canon, sizeof canon);
    printf("%-28s -> %-18s v%d%s%s%s%s\n", text, canon, flare_ip_is_v4(&ip) ? 4 : 6,
           flare_ip_is_private(&ip) ? " private" : "", flare_ip_is_loopback(&ip) ? " loopback" : "",
           flare_ip_is_link_local(&ip) ? " link-local" : "",
           flare_ip_is_multicast(&ip) ? " multicast" : "");
}

int main(void)
{
    puts("IP addresses:");
    show_ip("192.168.1.100"); /* private: true */
    show_ip("127.0.0.1");
    show_ip("2001:0DB8:0000:0000:0000:0000:0000:0001"); /* prints 2001:db8::1 */
    show_ip("fe80::1%1");
    show_ip("::ffff:127.0.0.1"); /* IPv4-mapped loopback */
    show_ip("ff02::fb");

    puts("\nSocket addresses:");
    const char *inputs[] = {"[::1]:8080", "10.0.0.1:443"};
    for (size_t i = 0; i < 2; i++) {
        flare_sock_addr sa;
        flare_error err;
        if (flare_sock_addr_parse(&sa, inputs[i], strlen(inputs[i]), &err) < 0) {
            fprintf(stderr, "%s: %s\n", inputs[i], err.message);
            return 1;
        }
        char text[FLARE_SOCK_ADDR_STR_MAX];
        flare_sock_addr_format(&sa, text, sizeof text);
        printf("%-12s -> is_v6=%s port=%u formatted=%s\n", inputs[i],
               flare_ip_is_v6(&sa.ip) ? "true" : "false", (unsigned)sa.port, text);
    }

    puts("\nCIDR blocks:");
    flare_cidr block;
    flare_cidr_parse(&block, "172.16.0.0/12", 13, NULL);
    flare_ip_addr probe = flare_ip_v4(172, 20, 1, 2);
    printf("172.16.0.0/12 contains 172.20.1.2: %s\n",
           flare_cidr_contains(&block, &probe) ? "yes" : "no");
    return 0;
}
