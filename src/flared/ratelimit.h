/*
 * ratelimit.h: request rate limits per client address (nginx's limit_req with
 * `burst=N nodelay`). The buckets of every limit live in one fixed table that the
 * master maps shared before forking, so a limit holds for the whole server whichever
 * worker a connection lands on. Lookups are lock-free: a worker killed mid-update
 * leaves nothing locked.
 */
#ifndef FLARED_RATELIMIT_H
#define FLARED_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "flare/http.h"

#include "config.h"
#include "metrics.h"

/**
 * One step of GCRA (the "virtual scheduling" form of a leaky bucket): `tat_us` is the
 * bucket's theoretical arrival time, when it will have drained empty (0 or past: empty).
 * A request at now_us is taken when the bucket, drained to now, holds at most `burst`
 * requests of interval_us each; then *next_tat_us is the new arrival time. Otherwise
 * it is refused, *wait_us says how long until one would be taken and *next_tat_us is
 * tat_us cut to burst + 1 intervals ahead of now (a bucket charged at a slower rate
 * before a reload holds no more than this limit allows).
 */
bool flared_rate_step(uint64_t tat_us, uint64_t now_us, uint64_t interval_us, uint64_t burst,
                      uint64_t *next_tat_us, uint64_t *wait_us);

/** A table of buckets, keyed by (limit, client address). */
typedef struct flared_rate_table flared_rate_table;

/** Maps a table of `entries` buckets (a power of two, at least 16) MAP_SHARED, so
 *  processes forked later share it. */
int flared_rate_table_new(flared_rate_table **out, uint64_t entries, flare_error *err);
/** Unmaps the table in this process (NULL is a no-op); forked children keep theirs. */
void flared_rate_table_free(flared_rate_table *t);
/** Buckets in the table. */
uint64_t flared_rate_table_entries(const flared_rate_table *t);

/** What the table says about a request. */
typedef enum flared_rate_verdict {
    FLARED_RATE_TAKEN = 0,   /**< within the limit, and counted */
    FLARED_RATE_REFUSED = 1, /**< over the limit */
} flared_rate_verdict;

/** Charges one request of `client` to limit rl at now_us (any process's CLOCK_MONOTONIC,
 *  in µs). On FLARED_RATE_REFUSED, *wait_us is how long until one would be taken.
 *  *evicted is true when a new client took over a bucket another client still held (its
 *  group had no empty one): it is charged from what that bucket held. */
flared_rate_verdict flared_rate_table_take(flared_rate_table *t, const flared_rate_limit *rl,
                                           const flare_ip_addr *client, uint64_t now_us,
                                           uint64_t *wait_us, bool *evicted);

/** Master: maps the process's table for cfg before forking its workers (start and reload).
 *  A table of the same size is kept, buckets and all; a config without rate limits
 *  needs none. */
int flared_ratelimit_setup(const flared_config *cfg, flare_error *err);
/** Master: a reload ended, its config taken (the table of the previous one goes) or
 *  not (the running workers' table is the one to fork with again). */
void flared_ratelimit_reload_end(bool taken);
/** Worker: where refusals and evictions are counted (NULL: nowhere). */
void flared_ratelimit_attach_metrics(flared_worker_slot *slot);
/** The admission check of a route with a rate_limit (userdata: its flared_route_ctx):
 *  0, or the limit's status with out->retry_after_s set. */
int flared_ratelimit_admit(const flare_request *req, uint64_t now_us, void *userdata,
                           flare_http_admission *out);

#endif
