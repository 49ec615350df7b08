/*
 * client_probe.c: libflare's clients as test_tls_interop.py drives them, so the
 * tests see the typed errors themselves (the flare CLI only shows messages).
 *   client_probe ws [--cacert FILE] [--deflate] URL
 * connects with flare_ws_connect (ws:// or wss://), sends a text message and a
 * 200 KiB binary one, checks both echoes byte for byte, closes with 1000 and
 * prints "ok deflate=0|1 close=CODE".
 *   client_probe get [--cacert FILE] URL
 * GETs URL with a flare_http_client and prints "ok status=N bytes=N".
 *   client_probe requests URL SPEC...
 * sends one request per SPEC to URL with one flare_http_client (so later ones go
 * on a pooled connection): METHOD, METHOD=DATA (DATA as a body buffer), METHOD~DATA
 * (DATA streamed, body_read without a rewind) or METHOD^DATA (streamed, with one).
 * Prints "status=N reused=0|1 body=BODY" for each, then "retries=N opened=N".
 * Any failure prints "error NAME: message" with the typed error's name
 * (FLARE_EUNTRUSTED...) and exits 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flare/http_client.h"
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

static int get(const char *url, const flare_tls_client_config *tls)
{
    flare_http_client_config cfg = {
        .tls = tls, .connect_timeout_ms = 10000, .read_timeout_ms = 10000};
    flare_http_client *c;
    flare_error err;
    int rc = flare_http_client_new(&c, &cfg, &err);
    if (rc < 0) return fail(rc, &err);
    flare_http_reply reply;
    rc = flare_http_client_get(c, url, &reply, &err);
    if (rc < 0)
        fail(rc, &err);
    else
        printf("ok status=%d bytes=%zu\n", reply.status, reply.body_len);
    flare_http_reply_free(&reply);
    flare_http_client_free(c);
    return rc < 0 ? 1 : 0;
}

/* A streamed body over a string, two bytes a read. */
typedef struct stream {
    const char *data;
    size_t off;
} stream;

static ssize_t stream_read(void *ctx, char *buf, size_t cap, flare_error *err)
{
    (void)err;
    stream *st = ctx;
    size_t left = strlen(st->data) - st->off, n = left < 2 ? left : 2;
    if (n > cap) n = cap;
    memcpy(buf, st->data + st->off, n);
    st->off += n;
    return (ssize_t)n;
}

static int stream_rewind(void *ctx, flare_error *err)
{
    (void)err;
    ((stream *)ctx)->off = 0;
    return 0;
}

static int requests(const char *url, char **specs, int n)
{
    flare_http_client_config cfg = {.connect_timeout_ms = 10000, .read_timeout_ms = 10000};
    flare_http_client *c;
    flare_error err;
    int rc = flare_http_client_new(&c, &cfg, &err);
    if (rc < 0) return fail(rc, &err);
    for (int i = 0; i < n && rc == 0; i++) {
        char method[32];
        size_t mlen = strcspn(specs[i], "=~^");
        snprintf(method, sizeof method, "%.*s", (int)mlen, specs[i]);
        const char *data = specs[i][mlen] ? specs[i] + mlen + 1 : NULL;
        stream st = {data, 0};
        flare_http_request_opts o = {.method = method, .url = url, .content_type = ""};
        if (specs[i][mlen] == '=') {
            o.body = data;
            o.body_len = strlen(data);
        } else if (data) {
            o.body_read = stream_read;
            o.body_rewind = specs[i][mlen] == '^' ? stream_rewind : NULL;
            o.body_ctx = &st;
        }
        flare_http_reply reply;
        rc = flare_http_client_request(c, &o, &reply, &err);
        if (rc < 0)
            fail(rc, &err);
        else
            printf("status=%d reused=%d body=%s\n", reply.status, reply.reused_connection,
                   reply.body);
        flare_http_reply_free(&reply);
    }
    const flare_http_client_stats *st = flare_http_client_get_stats(c);
    printf("retries=%llu opened=%llu\n", (unsigned long long)st->retries,
           (unsigned long long)st->connections_opened);
    flare_http_client_free(c);
    return rc < 0 ? 1 : 0;
}

static int ws(const char *url, flare_ws_client_options *opts)
{
    flare_ws_client *c;
    flare_error err;
    int rc = flare_ws_connect(&c, url, opts, &err);
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

int main(int argc, char **argv)
{
    static const char usage[] = "usage: client_probe ws [--cacert FILE] [--deflate] URL\n"
                                "       client_probe get [--cacert FILE] URL\n"
                                "       client_probe requests URL SPEC...\n";
    flare_tls_client_config tls = {0};
    flare_ws_client_options opts = {.read_timeout_ms = 10000, .tls = &tls};
    const char *url = NULL;
    if (argc > 3 && strcmp(argv[1], "requests") == 0) return requests(argv[2], argv + 3, argc - 3);
    bool is_ws = argc > 1 && strcmp(argv[1], "ws") == 0;
    if (argc < 2 || (!is_ws && strcmp(argv[1], "get") != 0)) {
        fputs(usage, stderr);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--cacert") == 0 && i + 1 < argc)
            tls.ca_file = argv[++i];
        else if (is_ws && strcmp(argv[i], "--deflate") == 0)
            opts.deflate = true;
        else if (!url)
            url = argv[i];
        else
            url = "";
    }
    if (!url || !*url) {
        fputs(usage, stderr);
        return 2;
    }
    return is_ws ? ws(url, &opts) : get(url, &tls);
}
