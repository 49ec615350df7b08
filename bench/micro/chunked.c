/*
 * chunked.c: in-place chunked decoding (RFC 9112 §7.1) of whole bodies, flared
 * against picohttpparser's phr_decode_chunked (Debian's libh2o) when it was
 * found at build time. Both decode in place, so each iteration first copies the
 * encoded body into a work buffer; the memcpy alone is timed as the floor.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flare/http_parser.h"

#include "harness.h"

#ifdef HAVE_PICO
#include "pico.h"
#endif

typedef struct body {
    const char *name;
    const char *about;
    char *encoded;
    size_t encoded_len;
    size_t payload_len;
    char *work;
} body;

/* Appends one chunk of `size` payload bytes, optionally with an extension. */
static size_t put_chunk(char *out, size_t size, const char *ext)
{
    size_t n = (size_t)sprintf(out, "%zx%s\r\n", size, ext);
    memset(out + n, 'a' + (int)(size % 26), size);
    n += size;
    memcpy(out + n, "\r\n", 2);
    return n + 2;
}

static int make_body(body *b, const char *name, const char *about, size_t chunks, size_t size,
                     const char *ext, const char *trailer)
{
    size_t cap = chunks * (size + 64) + 256;
    b->name = name;
    b->about = about;
    b->encoded = malloc(cap);
    b->work = malloc(cap);
    if (!b->encoded || !b->work) return -1;
    size_t n = 0;
    for (size_t i = 0; i < chunks; i++)
        n += put_chunk(b->encoded + n, size, ext);
    n += (size_t)sprintf(b->encoded + n, "0\r\n%s\r\n", trailer);
    b->encoded_len = n;
    b->payload_len = chunks * size;
    return 0;
}

static ssize_t flare_once(body *b, size_t *decoded)
{
    flare_http_chunked dec;
    memset(&dec, 0, sizeof dec);
    memcpy(b->work, b->encoded, b->encoded_len);
    *decoded = b->encoded_len;
    return flare_http_decode_chunked(&dec, b->work, decoded);
}

MICRO_SUM_LOOP(run_flare, body, flare_once)

static uint64_t run_memcpy(void *ctx, uint64_t iters)
{
    body *b = ctx;
    uint64_t sum = 0;
    for (uint64_t i = 0; i < iters; i++) {
        memcpy(b->work, b->encoded, b->encoded_len);
        sum += (unsigned char)b->work[i % b->encoded_len];
    }
    return sum;
}

#ifdef HAVE_PICO
static ssize_t pico_once(body *b, size_t *decoded)
{
    struct phr_chunked_decoder dec;
    memset(&dec, 0, sizeof dec);
    dec.consume_trailer = 1;
    memcpy(b->work, b->encoded, b->encoded_len);
    *decoded = b->encoded_len;
    return phr_decode_chunked(&dec, b->work, decoded);
}

MICRO_SUM_LOOP(run_pico, body, pico_once)
#endif

int main(int argc, char **argv)
{
    micro_opts opts;
    if (micro_parse_args(argc, argv, &opts) < 0) return 2;
    micro_print_header("chunked decode, ns per whole body (memcpy into the work buffer included)",
                       &opts);
    body bodies[4];
    if (make_body(&bodies[0], "13B x1000", "1000 chunks of 13 bytes (streamed small writes)", 1000,
                  13, "", "") < 0 ||
        make_body(&bodies[1], "4KiB x16", "64 KiB in 4 KiB chunks", 16, 4096, "", "") < 0 ||
        make_body(&bodies[2], "64KiB x16", "1 MiB in 64 KiB chunks", 16, 65536, "", "") < 0 ||
        make_body(&bodies[3], "ext+trailer", "100 chunks of 512 bytes with an extension, a trailer",
                  100, 512, ";name=\"value\"", "Checksum: 0123456789abcdef\r\n") < 0) {
        fprintf(stderr, "chunked: out of memory\n");
        return 1;
    }
    printf("%-12s %8s %12s %12s %12s %12s %10s\n", "input", "bytes", "memcpy", "flared", "pico",
           "flared/pico", "flared MB/s");
    int failures = 0;
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        body *b = &bodies[i];
        size_t decoded;
        ssize_t rc = flare_once(b, &decoded);
        if (rc != 0 || decoded != b->payload_len) {
            printf("%-12s flared's decoder returned %zd with %zu of %zu bytes: not timed\n",
                   b->name, rc, decoded, b->payload_len);
            failures++;
            continue;
        }
        double copy_ns = micro_measure(run_memcpy, b, &opts).ns;
        double flare_ns = micro_measure(run_flare, b, &opts).ns;
        printf("%-12s %8zu %12.1f %12.1f", b->name, b->encoded_len, copy_ns, flare_ns);
#ifdef HAVE_PICO
        if (pico_once(b, &decoded) == 0 && decoded == b->payload_len) {
            double pico_ns = micro_measure(run_pico, b, &opts).ns;
            printf(" %12.1f %11.2fx", pico_ns, flare_ns / pico_ns);
        } else {
            printf(" %12s %12s", "rejected", "-");
        }
#else
        printf(" %12s %12s", "-", "-");
#endif
        printf(" %10.0f\n", (double)b->payload_len * 1e3 / flare_ns);
    }
    printf("# inputs:");
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
        printf("%s %s (%s)", i ? ";" : "", bodies[i].name, bodies[i].about);
    printf("\n");
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        free(bodies[i].encoded);
        free(bodies[i].work);
    }
    return failures ? 1 : 0;
}
