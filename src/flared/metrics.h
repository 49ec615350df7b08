/*
 * metrics.h: flared's counters in one shared anonymous mapping that the master
 * makes before the first fork. Each worker owns one cache-line-aligned slot and
 * is its only writer (plain stores, no locks); any worker's status route reads
 * every slot. A restarted worker takes its predecessor's slot and keeps counting,
 * so totals never go back. Two slot sets alternate between config generations,
 * so during a reload the draining and the new worker of one id never share a slot.
 */
#ifndef FLARED_METRICS_H
#define FLARED_METRICS_H

#include <stdalign.h>
#include <stdbool.h>
#include <stdint.h>

#include "flare/http.h"
#include "flare/ws.h"

#include "config.h"

/** Routes counted one by one; requests of later routes count as "other". */
#define FLARED_METRICS_ROUTES_MAX 128
/** Upstream servers counted in the shared segment, over all upstreams in config order
 *  (upstream 0's servers, then upstream 1's, ...); later ones are left out of the
 *  shared families (the answering worker's own "upstreams" view still has them). */
#define FLARED_METRICS_UPSTREAM_SERVERS_MAX 64
/** Finite buckets of the request-duration histogram (plus +Inf). */
#define FLARED_HIST_BUCKETS 16

/** Upper bounds of the duration buckets in microseconds, ascending. */
extern const uint64_t flared_hist_bounds_us[FLARED_HIST_BUCKETS];

/** One upstream server as one worker sees it. */
typedef struct flared_upstream_counters {
    uint64_t requests;         /**< attempts sent to it (a retry counts again) */
    uint64_t responses[6];     /**< response heads by status class (index status / 100) */
    uint64_t failures;         /**< attempts that failed: connect, reset, timeout, bad head */
    uint64_t connect_failures; /**< connects refused, failed or timed out */
    uint64_t timeouts;         /**< connect or read timeouts */
    uint64_t client_aborts;    /**< attempts cut short by the client leaving (499); no failure */
    uint64_t active;           /**< gauge: requests in flight */
    uint64_t up;               /**< gauge: 1 when the worker would send it requests */
} flared_upstream_counters;

/** The counters of one worker; written only by that worker (gauges zeroed by the master
 *  once it has reaped the worker). */
typedef struct flared_worker_slot {
    alignas(64) int32_t pid; /**< 0: never used */
    uint32_t worker_id;
    uint32_t generation; /**< config generation of the last worker here */
    bool alive;
    uint64_t starts; /**< workers started in this slot */
    uint64_t requests;
    uint64_t by_class[6]; /**< index status / 100 */
    uint64_t bytes_in, bytes_out;
    uint64_t accepted, rejected;
    uint64_t active, reading, writing, idle; /**< gauges */
    uint64_t tls_handshakes, tls_failures;
    uint64_t rate_limited;         /**< requests refused by a rate_limit */
    uint64_t rate_limit_evictions; /**< new clients that took over a bucket still held */
    flare_ws_group ws; /**< the worker's WebSocket group lives here: its counters are shared */
    uint64_t duration_buckets[FLARED_HIST_BUCKETS + 1]; /**< not cumulative; last is +Inf */
    uint64_t duration_sum_us;
    uint64_t route_requests[FLARED_METRICS_ROUTES_MAX + 1]; /**< per route index, then other */
    /** Per upstream server of this generation's config (see FLARED_METRICS_UPSTREAM_SERVERS_MAX).
     */
    flared_upstream_counters upstreams[FLARED_METRICS_UPSTREAM_SERVERS_MAX];
    /* Server counters seen at the last publish: a restarted worker's server starts at 0. */
    flare_http_server_stats base;
} flared_worker_slot;

/** Process-wide facts, written by the master. */
typedef struct flared_metrics_header {
    uint64_t started_unix;
    uint64_t started_ms; /**< monotonic */
    uint64_t reloads;
    uint32_t generation;
} flared_metrics_header;

/** Maps the segment (master, before forking). Returns 0 or a negative code. */
int flared_metrics_init(flare_error *err);
/** The segment's header; NULL before init. */
flared_metrics_header *flared_metrics_get_header(void);
/** Number of slots. */
unsigned flared_metrics_slot_count(void);
/** Slot i (0 <= i < slot count). */
flared_worker_slot *flared_metrics_slot_at(unsigned i);
/** Master: a reload starts generation gen; clears the route counters of its slot set. */
void flared_metrics_begin_generation(uint32_t gen, bool is_reload);
/** Master: a reload's workers did not start; generation gen (the previous) is current again. */
void flared_metrics_restore_generation(uint32_t gen);
/** Master: the worker (id, generation, pid) was reaped; its gauges go to zero. */
void flared_metrics_worker_exited(unsigned worker_id, uint32_t generation, int pid);
/** Worker: claims its slot (its generation is the one current at fork). */
flared_worker_slot *flared_metrics_claim(unsigned worker_id);

/** Adds a finished request (route_index SIZE_MAX: no route). */
void flared_metrics_request(flared_worker_slot *s, const flare_http_completion *done,
                            size_t route_index);
/** Copies the server's counters into the slot (added to what earlier workers counted). */
void flared_metrics_publish(flared_worker_slot *s, const flare_http_server_stats *st);
/** Copies the connection gauges (one snapshot: active, reading, writing, idle). */
void flared_metrics_publish_states(flared_worker_slot *s, const flare_http_server *srv);
/** Index of the bucket a duration falls in (FLARED_HIST_BUCKETS for +Inf). */
unsigned flared_hist_bucket(uint64_t us);

#endif
