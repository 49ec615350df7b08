/*
 * harness.c: calibrate-then-repeat timing with CLOCK_MONOTONIC. The iteration
 * count is doubled until one run lasts about `run_ms`, so clock overhead is
 * negligible; the median of the runs resists the noise of a shared VM.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile uint64_t sink;

void micro_consume(uint64_t v)
{
    sink += v;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int micro_parse_args(int argc, char **argv, micro_opts *opts)
{
    opts->runs = 15;
    opts->run_ms = 20;
    opts->quick = 0;
    opts->use_min = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            opts->quick = 1;
            opts->runs = 3;
            opts->run_ms = 0.2;
        } else if (strcmp(argv[i], "--min") == 0) {
            opts->use_min = 1;
        } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            opts->runs = (unsigned)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--ms") == 0 && i + 1 < argc) {
            opts->run_ms = strtod(argv[++i], NULL);
        } else {
            fprintf(stderr,
                    "usage: %s [--quick] [--min] [--runs N] [--ms MS]\n"
                    "  --runs N  timed runs, the median is reported (default 15)\n"
                    "  --min     report the fastest run instead (least disturbed on a busy host)\n"
                    "  --ms MS   target length of one run in ms (default 20)\n"
                    "  --quick   3 runs of 0.2 ms: checks that it runs, figures meaningless\n",
                    argv[0]);
            return -1;
        }
    }
    if (opts->runs == 0) opts->runs = 1;
    if (opts->runs > 1000) opts->runs = 1000;
    if (!(opts->run_ms > 0)) opts->run_ms = 20;
    return 0;
}

micro_result micro_measure(micro_fn fn, void *ctx, const micro_opts *opts)
{
    micro_result r = {0};
    uint64_t iters = 1;
    double target = opts->run_ms * 1e6;
    micro_consume(fn(ctx, 16)); /* warm caches and branch predictors */
    for (;;) {
        double t0 = now_ns();
        micro_consume(fn(ctx, iters));
        double t = now_ns() - t0;
        if (t >= target / 2 || iters >= (UINT64_C(1) << 40)) {
            if (t > 0 && t < target) iters = (uint64_t)((double)iters * target / t) + 1;
            break;
        }
        iters *= 2;
    }
    double samples[1000];
    for (unsigned i = 0; i < opts->runs; i++) {
        double t0 = now_ns();
        micro_consume(fn(ctx, iters));
        samples[i] = (now_ns() - t0) / (double)iters;
    }
    qsort(samples, opts->runs, sizeof samples[0], cmp_double);
    r.median_ns = opts->runs % 2 ? samples[opts->runs / 2]
                                 : (samples[opts->runs / 2 - 1] + samples[opts->runs / 2]) / 2;
    r.min_ns = samples[0];
    r.max_ns = samples[opts->runs - 1];
    r.iters_per_run = iters;
    r.ns = opts->use_min ? r.min_ns : r.median_ns;
    return r;
}

void micro_print_header(const char *title, const micro_opts *opts)
{
    __builtin_cpu_init();
    printf("# %s: %s of %u runs of ~%.1f ms%s; CPU has sse4.2=%d avx2=%d\n", title,
           opts->use_min ? "minimum" : "median", opts->runs, opts->run_ms,
           opts->quick ? " (--quick: figures meaningless)" : "",
           __builtin_cpu_supports("sse4.2") ? 1 : 0, __builtin_cpu_supports("avx2") ? 1 : 0);
}
