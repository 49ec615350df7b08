/*
 * ws_mask.c: WebSocket masking throughput (flare_ws_mask_copy, RFC 6455 §5.3)
 * against memcpy of the same bytes, at 1 KiB, 64 KiB and 1 MiB, for every
 * kernel this CPU runs (scalar, SSE2, AVX2, AVX-512). Both read src and write a separate
 * dst, so the ratio is masking's cost over moving the bytes; the in-place
 * columns are what the server does (unmasking its input buffer). The target
 * is masking >= 0.7x memcpy. Each kernel's output is checked before it is timed.
 * The fastest run is reported, not the median: on a shared machine other work
 * only ever slows a run down, and the ratio of two medians taken at different
 * moments mostly measures the neighbours.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flare/ws.h"

#include "harness.h"

typedef struct bufs {
    unsigned char *src;
    unsigned char *dst;
    size_t len;
} bufs;

static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};

static uint64_t run_mask(void *ctx, uint64_t iters)
{
    bufs *b = ctx;
    uint64_t sum = 0;
    for (uint64_t i = 0; i < iters; i++) {
        flare_ws_mask_copy(b->dst, b->src, b->len, key, 0);
        sum += b->dst[i & (b->len - 1)]; /* len is a power of two */
    }
    return sum;
}

/* How the server unmasks: in place, in the connection's input buffer. */
static uint64_t run_mask_in_place(void *ctx, uint64_t iters)
{
    bufs *b = ctx;
    uint64_t sum = 0;
    for (uint64_t i = 0; i < iters; i++) {
        flare_ws_mask(b->dst, b->len, key, 0);
        sum += b->dst[i & (b->len - 1)];
    }
    return sum;
}

static uint64_t run_memcpy(void *ctx, uint64_t iters)
{
    bufs *b = ctx;
    uint64_t sum = 0;
    for (uint64_t i = 0; i < iters; i++) {
        memcpy(b->dst, b->src, b->len);
        __asm__ volatile("" : : "r"(b->dst) : "memory"); /* keep every copy */
        sum += b->dst[i & (b->len - 1)];                 /* len is a power of two */
    }
    return sum;
}

static int check(const bufs *b)
{
    flare_ws_mask_copy(b->dst, b->src, b->len, key, 0);
    for (size_t i = 0; i < b->len; i++)
        if (b->dst[i] != (b->src[i] ^ key[i & 3])) return -1;
    return 0;
}

int main(int argc, char **argv)
{
    micro_opts opts;
    if (micro_parse_args(argc, argv, &opts) < 0) return 2;
    micro_print_header(
        "WebSocket masking vs memcpy, GB/s of the fastest run (64-byte aligned buffers)", &opts);
    static const size_t sizes[] = {1024, 64 * 1024, 1024 * 1024};
    static const flare_ws_simd paths[] = {FLARE_WS_SIMD_SCALAR, FLARE_WS_SIMD_SSE2,
                                          FLARE_WS_SIMD_AVX2, FLARE_WS_SIMD_AVX512};
    bufs b;
    size_t max = sizes[sizeof sizes / sizeof sizes[0] - 1];
    b.src = aligned_alloc(64, max);
    b.dst = aligned_alloc(64, max);
    if (!b.src || !b.dst) return 1;
    for (size_t i = 0; i < max; i++)
        b.src[i] = (unsigned char)(i * 131 + 7);
    memset(b.dst, 0, max);

    printf("# each figure is the fastest of those runs, not their median (see ws_mask.c)\n");
    printf("%-8s %-6s %12s %12s %8s %14s %8s\n", "path", "size", "memcpy GB/s", "mask GB/s",
           "ratio", "in place GB/s", "ratio");
    int status = 0;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        b.len = sizes[s];
        double copy_ns = micro_measure(run_memcpy, &b, &opts).min_ns;
        for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
            if (flare_ws_simd_force(paths[p]) < 0) continue; /* not on this CPU or build */
            if (check(&b) < 0) {
                printf("ws_mask: the %s kernel gave wrong bytes at %zu: not timed\n",
                       flare_ws_simd_name(paths[p]), b.len);
                status = 1;
                continue;
            }
            double mask_ns = micro_measure(run_mask, &b, &opts).min_ns;
            double in_place_ns = micro_measure(run_mask_in_place, &b, &opts).min_ns;
            char size[24];
            snprintf(size, sizeof size, "%zuK", b.len / 1024);
            printf("%-8s %-6s %12.2f %12.2f %7.2fx %14.2f %7.2fx\n", flare_ws_simd_name(paths[p]),
                   size, (double)b.len / copy_ns, (double)b.len / mask_ns, copy_ns / mask_ns,
                   (double)b.len / in_place_ns, copy_ns / in_place_ns);
        }
    }
    free(b.src);
    free(b.dst);
    return status;
}
