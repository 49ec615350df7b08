/*
 * fuzz.h: what every harness shares. A harness is one LLVMFuzzerTestOneInput;
 * libFuzzer drives it when built with -Dfuzz=true (clang), and replay_main.c
 * runs it over the committed corpus in every build. FUZZ_CHECK is the one place
 * in the tree that aborts: a harness that found a broken invariant.
 */
#ifndef FLARE_FUZZ_H
#define FLARE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/** The libFuzzer entry point: one input, never retained. Always returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/** Fails the run with the location and the condition that did not hold. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/** A small deterministic generator, seeded from the input, for chunkings and choices. */
typedef struct fuzz_rng {
    uint64_t s;
} fuzz_rng;

/** Seeds from up to 8 bytes of p (fewer are fine). */
static inline fuzz_rng fuzz_rng_seed(const uint8_t *p, size_t n)
{
    fuzz_rng r = {0x9e3779b97f4a7c15ull};
    for (size_t i = 0; i < n && i < 8; i++)
        r.s ^= (uint64_t)p[i] << (8 * i);
    return r;
}

/** splitmix64 step. */
static inline uint64_t fuzz_rng_next(fuzz_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/** A value in [lo, hi]. */
static inline size_t fuzz_rng_range(fuzz_rng *r, size_t lo, size_t hi)
{
    return lo + (size_t)(fuzz_rng_next(r) % (uint64_t)(hi - lo + 1));
}

#endif
