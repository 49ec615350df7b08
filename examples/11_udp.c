/*
 * 11_udp.c: two UDP sockets on 127.0.0.1: bind, send_to, recv_from with the sender's
 * address, and the FLARE_EMSGSIZE refusal of a datagram over the IPv4 limit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flare/udp.h"

int main(void)
{
    flare_error err;
    flare_udp_socket server, client;
    flare_udp_options opts = {.recv_timeout_ms = 2000}; /* never wait forever */
    if (flare_udp_bind_str(&server, "127.0.0.1:0", &opts, &err) < 0) goto fail;
    if (flare_udp_bind_str(&client, "127.0.0.1:0", &opts, &err) < 0) goto fail;

    const char ping[] = "ping";
    if (flare_udp_send_to(&client, ping, sizeof ping - 1, &server.local, &err) < 0) goto fail;

    char buf[1500];
    flare_sock_addr from;
    ssize_t n = flare_udp_recv_from(&server, buf, sizeof buf, &from, &err);
    if (n < 0) goto fail;
    char who[FLARE_SOCK_ADDR_STR_MAX];
    flare_sock_addr_format(&from, who, sizeof who);
    printf("server got \"%.*s\" from %s\n", (int)n, buf, who);

    /* Answer whoever sent it. */
    if (flare_udp_send_to(&server, "pong", 4, &from, &err) < 0) goto fail;
    n = flare_udp_recv_from(&client, buf, sizeof buf, NULL, &err);
    if (n < 0) goto fail;
    printf("client got \"%.*s\"\n", (int)n, buf);

    /* One byte over FLARE_UDP_MAX_V4 is refused before anything is sent. */
    size_t too_big = FLARE_UDP_MAX_V4 + 1;
    char *big = calloc(1, too_big);
    if (!big) return 1;
    n = flare_udp_send_to(&client, big, too_big, &server.local, &err);
    free(big);
    if (n != FLARE_EMSGSIZE) {
        fprintf(stderr, "expected FLARE_EMSGSIZE, got %zd\n", n);
        return 1;
    }
    printf("oversized datagram refused: %s (%s)\n", err.message, flare_error_name(err.code));

    flare_udp_close(&client);
    flare_udp_close(&server);
    return 0;
fail:
    fprintf(stderr, "error: %s (%s)\n", err.message, flare_error_name(err.code));
    return 1;
}
