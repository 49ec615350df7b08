/*
 * header_id.c: ns per header-name lookup with flare_http_header_id, over the
 * field names of real browser, API and proxy requests (known and unknown, in
 * wire case), against a linear strncasecmp scan of the same known-name table
 * as the naive baseline. The ids must agree before anything is timed.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "flare/http_parser.h"

#include "harness.h"

#include "../../tests/common/known_header_names.h"

/* Field names as clients send them: the mix of a browser, an API client and a proxy. */
static const char *const wire_names[] = {
    "Host",
    "User-Agent",
    "Accept",
    "Accept-Language",
    "Accept-Encoding",
    "Connection",
    "Cookie",
    "Referer",
    "Cache-Control",
    "Upgrade-Insecure-Requests",
    "Sec-Fetch-Mode",
    "If-None-Match",
    "If-Modified-Since",
    "content-type",
    "content-length",
    "authorization",
    "x-request-id",
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "Origin",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "Upgrade",
    "Transfer-Encoding",
    "TE",
    "Range",
    "DNT",
    "Pragma",
};
#define WIRE_COUNT (sizeof wire_names / sizeof wire_names[0])

static size_t wire_len[WIRE_COUNT];

static flare_http_hdr naive_id(const char *name, size_t len)
{
    for (int i = 1; i < FLARE_HDR__COUNT; i++)
        if (strlen(known_header_names[i]) == len &&
            strncasecmp(known_header_names[i], name, len) == 0)
            return (flare_http_hdr)i;
    return FLARE_HDR_OTHER;
}

static uint64_t run_flare(void *ctx, uint64_t iters)
{
    uint64_t sum = 0;
    for (uint64_t i = 0; i < iters; i++) {
        size_t k = i % WIRE_COUNT;
        sum += (uint64_t)flare_http_header_id(wire_names[k], wire_len[k]);
    }
    return sum;
}

static uint64_t run_naive(void *ctx, uint64_t iters)
{
    uint64_t sum = 0;
    for (uint64_t i = 0; i < iters; i++) {
        size_t k = i % WIRE_COUNT;
        sum += (uint64_t)naive_id(wire_names[k], wire_len[k]);
    }
    return sum;
}

int main(int argc, char **argv)
{
    micro_opts opts;
    if (micro_parse_args(argc, argv, &opts) < 0) return 2;
    micro_print_header("header id lookup, ns per field name", &opts);
    size_t known_hits = 0;
    for (size_t k = 0; k < WIRE_COUNT; k++) {
        wire_len[k] = strlen(wire_names[k]);
        flare_http_hdr a = flare_http_header_id(wire_names[k], wire_len[k]);
        flare_http_hdr b = naive_id(wire_names[k], wire_len[k]);
        if (a != b) {
            printf("header_id: %s is %d for flared but %d in the table: not timed\n", wire_names[k],
                   (int)a, (int)b);
            return 1;
        }
        known_hits += a != FLARE_HDR_OTHER;
    }
    double flare_ns = micro_measure(run_flare, NULL, &opts).ns;
    double naive_ns = micro_measure(run_naive, NULL, &opts).ns;
    printf("%-34s %12s %12s %14s\n", "input", "flared", "naive scan", "flared/naive");
    char label[64];
    snprintf(label, sizeof label, "%zu names, %zu of them known", (size_t)WIRE_COUNT, known_hits);
    printf("%-34s %12.1f %12.1f %13.2fx\n", label, flare_ns, naive_ns, flare_ns / naive_ns);
    return 0;
}
