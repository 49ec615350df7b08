/*
 * corpus.h: the inputs of the micro benchmarks, shared so that every parser
 * compared sees exactly the same bytes.
 */
#ifndef FLARE_BENCH_MICRO_CORPUS_H
#define FLARE_BENCH_MICRO_CORPUS_H

#include <stddef.h>

/** One named input message. */
typedef struct micro_sample {
    const char *name;
    const char *about;
    const char *text;
    size_t len;
} micro_sample;

/** Request heads; the first is picohttpparser's own 703-byte benchmark request. */
extern const micro_sample micro_requests[];
/** Number of entries in micro_requests. */
extern const size_t micro_request_count;
/** Response heads. */
extern const micro_sample micro_responses[];
/** Number of entries in micro_responses. */
extern const size_t micro_response_count;

/** Prints the "# inputs: name (about); ..." line that ends a benchmark's table. */
void micro_print_inputs(const micro_sample *samples, size_t count);

#endif
