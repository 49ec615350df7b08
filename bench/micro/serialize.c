/*
 * serialize.c: ns per response built by a handler and framed by the server: the
 * response API calls (status, fields, body), then the status line, Date, Server,
 * Content-Length and Connection written into the output buffer, as the server does
 * for each response. memcpy of the same finished bytes is the ceiling.
 */
#include <stdio.h>
#include <string.h>

#include "flare/http.h"

#include "../../src/http/server_internal.h" /* struct flare_response, the serializer */
#include "harness.h"

static const char http_date[] = "Sun, 06 Dec 2026 12:00:00 GMT";

typedef struct shape {
    const char *name;
    const char *about;
    int (*build)(flare_response *resp, const struct shape *s);
    flare_header_block block; /* built once, as the text route does */
    flare_response resp;
    flare_buf out;
    size_t bytes;
} shape;

static const char hello[] = "Hello, World!";

static int build_plaintext(flare_response *resp, const shape *s)
{
    flare_response_body_static(resp, hello, sizeof hello - 1);
    return flare_response_header_block(resp, &s->block);
}

static int build_json(flare_response *resp, const shape *s)
{
    (void)s;
    return flare_response_json(resp, 200, "{\"message\":\"Hello, World!\"}");
}

static int build_fields(flare_response *resp, const shape *s)
{
    static char page[1024];
    (void)s;
    flare_response_status(resp, 200);
    int rc = flare_response_header(resp, "Content-Type", "text/html; charset=utf-8");
    if (rc == 0) rc = flare_response_header(resp, "Cache-Control", "private, max-age=60");
    if (rc == 0) rc = flare_response_header(resp, "ETag", "\"5f1e-3a9b2c\"");
    if (rc == 0) rc = flare_response_header(resp, "Last-Modified", "Sat, 05 Dec 2026 18:30:00 GMT");
    if (rc == 0) rc = flare_response_header(resp, "Vary", "Accept-Encoding");
    if (rc == 0)
        rc = flare_response_header(resp, "Set-Cookie",
                                   "sid=8f14e45fceea167a5a36dedd4bea2543; Path=/; HttpOnly");
    if (rc == 0) flare_response_body_static(resp, page, sizeof page);
    return rc;
}

static int build_not_found(flare_response *resp, const shape *s)
{
    (void)s;
    flare_response_close(resp);
    return flare_response_not_found(resp);
}

/* One response: reset, build, frame into s->out; returns the bytes written or -1. */
static ssize_t once(shape *s)
{
    flare_http__response_reset(&s->resp);
    if (s->build(&s->resp, s) < 0) return -1;
    s->out.len = 0;
    size_t head_len;
    static const char server_line[] = "Server: flared\r\n"; /* as the server prebuilds it */
    const flare_http__server_line server = {server_line, sizeof server_line - 1};
    if (flare_http__response_serialize(&s->resp, &s->out, http_date, server, false, s->resp.close,
                                       false, &head_len) < 0)
        return -1;
    return (ssize_t)s->out.len;
}

static uint64_t run_serialize(void *ctx, uint64_t iters)
{
    uint64_t sum = 0;
    for (uint64_t i = 0; i < iters; i++)
        sum += (uint64_t)once(ctx);
    return sum;
}

static uint64_t run_memcpy(void *ctx, uint64_t iters)
{
    shape *s = ctx;
    static char copy[4096];
    uint64_t sum = 0;
    for (uint64_t i = 0; i < iters; i++) {
        memcpy(copy, s->out.data, s->bytes);
        sum += (unsigned char)copy[i % s->bytes];
    }
    return sum;
}

int main(int argc, char **argv)
{
    micro_opts opts;
    if (micro_parse_args(argc, argv, &opts) < 0) return 2;
    micro_print_header("response build + serialise, ns per response (memcpy of the same bytes "
                       "as the ceiling)",
                       &opts);
    shape shapes[] = {
        {.name = "plaintext",
         .about = "text route: 13-byte body, Content-Type from a prebuilt block",
         .build = build_plaintext},
        {.name = "json", .about = "flare_response_json, 27-byte body", .build = build_json},
        {.name = "fields6",
         .about = "six flare_response_header calls, 1 KiB static body",
         .build = build_fields},
        {.name = "404close",
         .about = "flare_response_not_found with Connection: close",
         .build = build_not_found},
    };
    size_t n = sizeof shapes / sizeof shapes[0];
    int failures = 0;
    if (flare_header_block_add(&shapes[0].block, "Content-Type", "text/plain") < 0) return 1;
    printf("%-10s %7s %12s %12s %14s\n", "response", "bytes", "memcpy", "flared", "flared/memcpy");
    for (size_t i = 0; i < n; i++) {
        shape *s = &shapes[i];
        ssize_t bytes = once(s);
        if (bytes <= 0 || (size_t)bytes > 4096 || memcmp(s->out.data, "HTTP/1.1 ", 9) != 0) {
            printf("%-10s could not be built (%zd): not timed\n", s->name, bytes);
            failures++;
            continue;
        }
        s->bytes = (size_t)bytes;
        double copy_ns = micro_measure(run_memcpy, s, &opts).ns;
        double ns = micro_measure(run_serialize, s, &opts).ns;
        printf("%-10s %7zu %12.1f %12.1f %13.1fx\n", s->name, s->bytes, copy_ns, ns, ns / copy_ns);
    }
    printf("# responses:");
    for (size_t i = 0; i < n; i++)
        printf("%s %s (%s)", i ? ";" : "", shapes[i].name, shapes[i].about);
    printf("\n");
    for (size_t i = 0; i < n; i++) {
        flare_buf_free(&shapes[i].out);
        flare_buf_free(&shapes[i].resp.headers);
        flare_buf_free(&shapes[i].resp.body);
        flare_header_block_free(&shapes[i].block);
    }
    return failures ? 1 : 0;
}
