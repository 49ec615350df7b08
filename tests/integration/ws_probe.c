/*
 * ws_probe.c: libflare's WebSocket client (flare_ws_connect) as the integration
 * tests drive it against flared's echo route: connects to URL (ws:// or wss://),
 * sends a text message and a 200 KiB binary one, checks both echoes byte for
 * byte, closes with 1000 and expects the peer's 1000. Prints one line: "ok
 * deflate=0|1 close=CODE", or "error NAME: message" with the typed error's name
 * (FLARE_EUNTRUSTED...), and exits 0 or 1.
 *   ws_probe [--cacert FILE] [--deflate] URL
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flare/ws.h"

static int fail(int rc, const flare_error *err)
{
    printf("error %s: %s\n", flare_error_name(rc), err->message);
    return 1;
}

static int expect_echo(flare_ws_client *c, flare_ws_opcode opcode, const char *data, size_t len)
{
    flare_ws_message m;
    flare_error err;
    int rc = flare_ws_recv_message(c, &m, &err);
    if (rc < 0) return fail(rc, &err);
    if (m.opcode != opcode || m.len != len || memcmp(m.data, data, len) != 0) {
        printf("error echo: opcode %d, %zu bytes, not the %zu sent\n", (int)m.opcode, m.len, len);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    flare_tls_client_config tls = {0};
    flare_ws_client_options opts = {.read_timeout_ms = 10000, .tls = &tls};
    const char *url = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--cacert") == 0 && i + 1 < argc)
            tls.ca_file = argv[++i];
        else if (strcmp(argv[i], "--deflate") == 0)
            opts.deflate = true;
        else if (!url)
            url = argv[i];
        else {
            fprintf(stderr, "usage: ws_probe [--cacert FILE] [--deflate] URL\n");
            return 2;
        }
    }
    if (!url) {
        fprintf(stderr, "usage: ws_probe [--cacert FILE] [--deflate] URL\n");
        return 2;
    }
    flare_ws_client *c;
    flare_error err;
    int rc = flare_ws_connect(&c, url, &opts, &err);
    if (rc < 0) return fail(rc, &err);
    static const char text[] = "hello from libflare over the wire";
    enum { BIG = 200 * 1024 };
    char *big = malloc(BIG);
    if (!big) return 1;
    for (size_t i = 0; i < BIG; i++)
        big[i] = (char)(i * 7 + i / 251);
    int status = 1;
    if ((rc = flare_ws_send_text(c, text, sizeof text - 1, &err)) < 0 ||
        (rc = flare_ws_send_binary(c, big, BIG, &err)) < 0)
        fail(rc, &err);
    else if (expect_echo(c, FLARE_WS_OP_TEXT, text, sizeof text - 1) == 0 &&
             expect_echo(c, FLARE_WS_OP_BINARY, big, BIG) == 0) {
        bool deflate = flare_ws_client_deflate(c) != NULL;
        rc = flare_ws_close(c, FLARE_WS_CLOSE_NORMAL, "bye", &err);
        if (rc < 0)
            fail(rc, &err);
        else {
            printf("ok deflate=%d close=%u\n", deflate, flare_ws_client_close_code(c));
            status = 0;
        }
    }
    free(big);
    flare_ws_client_free(c);
    return status;
}
