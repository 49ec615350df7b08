/*
 * 03_error_handling.c: every failure is a negative FLARE_E* code plus an
 * optional flare_error holding the errno and a message with context. This
 * walks through the typed errors of the net and dns layers.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "flare/dns.h"

static void report(const char *what, int rc, const flare_error *err)
{
    printf("%-34s -> %-16s %s\n", what, flare_error_name(rc), err->message);
}

int main(void)
{
    flare_error err = {0};
    flare_ip_addr ip;
    flare_sock_addr sa;
    flare_dns_result r;

    report("ip \"256.1.1.1\"", flare_ip_parse(&ip, "256.1.1.1", 9, &err), &err);
    report("ip \"127.0.0.1\\0.evil\" (len 15)", flare_ip_parse(&ip, "127.0.0.1\0.evil", 15, &err),
           &err);
    report("sock \"127.0.0.1:65536\"", flare_sock_addr_parse(&sa, "127.0.0.1:65536", 15, &err),
           &err);
    report("sock \"::1:80\" (no brackets)", flare_sock_addr_parse(&sa, "::1:80", 6, &err), &err);
    report("host \"user@example.com\"", flare_hostname_validate("user@example.com", 16, &err),
           &err);
    report("resolve \"bad host\"", flare_dns_resolve("bad host", &r, &err), &err);

    /* Connection refused, with the raw socket helpers: a loopback port that is
     * bound but not listening refuses; the errno becomes a typed error. */
    int closed = flare_socket_open(AF_INET, SOCK_STREAM, false, &err);
    int fd = flare_socket_open(AF_INET, SOCK_STREAM, false, &err);
    flare_ip_addr lo = flare_ip_v4(127, 0, 0, 1);
    flare_sock_addr target = flare_sock_addr_make(&lo, 0);
    struct sockaddr_storage ss;
    socklen_t len = flare_sock_addr_to_sockaddr(&target, &ss);
    if (fd < 0 || closed < 0 || bind(closed, (struct sockaddr *)&ss, len) < 0 ||
        flare_socket_local_addr(closed, &target, &err) < 0) {
        fprintf(stderr, "setup failed: %s\n", err.message);
        return 1;
    }
    char text[FLARE_SOCK_ADDR_STR_MAX];
    flare_sock_addr_format(&target, text, sizeof text);
    len = flare_sock_addr_to_sockaddr(&target, &ss);
    int rc = 0;
    if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
        int code = errno == ECONNREFUSED ? FLARE_ECONNREFUSED : FLARE_ESYS;
        rc = flare_error_set(&err, code, errno, "connect to %s", text);
    }
    report("connect to a closed loopback port", rc, &err);
    close(fd);
    close(closed);
    return rc == FLARE_ECONNREFUSED ? 0 : 1;
}
