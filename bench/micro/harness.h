/*
 * harness.h: timing for the micro benchmarks under bench/micro. A benchmark is a
 * function that runs its body `iters` times and returns a checksum (kept in a
 * volatile sink so the work cannot be optimised away). The harness calibrates
 * the iteration count, times repeated runs and reports the median ns/iteration.
 */
#ifndef FLARE_BENCH_MICRO_HARNESS_H
#define FLARE_BENCH_MICRO_HARNESS_H

#include <stddef.h>
#include <stdint.h>

/** One benchmark body: runs `iters` iterations over ctx, returns a checksum. */
typedef uint64_t (*micro_fn)(void *ctx, uint64_t iters);

/** Command-line options shared by every micro benchmark. */
typedef struct micro_opts {
    unsigned runs; /**< timed runs; the median is reported */
    double run_ms; /**< target duration of one run */
    int quick;     /**< smoke mode: a few short runs, figures meaningless */
    int use_min;   /**< report the fastest run instead of the median (--min) */
} micro_opts;

/** Timing result of one benchmark: ns per iteration over the runs. */
typedef struct micro_result {
    double ns; /**< the figure to report: median_ns, or min_ns with --min */
    double median_ns;
    double min_ns;
    double max_ns;
    uint64_t iters_per_run;
} micro_result;

/** Parses --quick, --min, --runs N and --ms N; prints usage and returns -1 on a bad argument. */
int micro_parse_args(int argc, char **argv, micro_opts *opts);
/** Calibrates, runs and times fn; the result is ns per iteration. */
micro_result micro_measure(micro_fn fn, void *ctx, const micro_opts *opts);
/** Prints the active options and the CPU's SIMD features as a header line. */
void micro_print_header(const char *title, const micro_opts *opts);
/** Folds a checksum into the global sink. */
void micro_consume(uint64_t v);

/*
 * Defines `static uint64_t name(void *ctx, uint64_t iters)`, a micro_fn that calls
 * `once(in, &count)` iters times, `in` being ctx as a `type *`, and returns the sum
 * of the results and the counts (size_t). A macro, not a function that takes `once`
 * by pointer, so the timed loop calls it directly (inlined when it is static).
 */
#define MICRO_SUM_LOOP(name, type, once)                                                           \
    static uint64_t name(void *ctx, uint64_t iters)                                                \
    {                                                                                              \
        type *in = ctx;                                                                            \
        uint64_t sum = 0;                                                                          \
        for (uint64_t i = 0; i < iters; i++) {                                                     \
            size_t count;                                                                          \
            sum += (uint64_t)once(in, &count) + count;                                             \
        }                                                                                          \
        return sum;                                                                                \
    }

#endif
