/*
 * metrics.c: the shared counter segment. It is mapped MAP_SHARED|MAP_ANONYMOUS
 * once, before the first fork, so every worker of every generation sees the
 * same pages; pages of slots never used are never touched, so reserving room
 * for FLARED_WORKERS_MAX workers costs address space only. Readers may see a
 * counter mid-update of another field (no snapshot across fields); each 64-bit
 * store is atomic on the platforms flared runs on.
 */
#include "metrics.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

const uint64_t flared_hist_bounds_us[FLARED_HIST_BUCKETS] = {
    100,   250,    500,    1000,   2500,    5000,    10000,   25000,
    50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};

#define SLOTS (2u * FLARED_WORKERS_MAX)

typedef struct segment {
    flared_metrics_header header;
    flared_worker_slot slots[SLOTS];
} segment;

/* One per process: the master maps it, forked workers inherit the mapping. */
static segment *seg;

int flared_metrics_init(flare_error *err)
{
    if (seg) return 0;
    void *p = mmap(NULL, sizeof *seg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return flare_error_set(err, FLARE_ESYS, errno, "metrics: cannot map %zu bytes",
                               sizeof *seg);
    seg = p;
    seg->header.started_unix = (uint64_t)time(NULL);
    seg->header.started_ms = flare_monotonic_ms();
    return 0;
}

flared_metrics_header *flared_metrics_get_header(void)
{
    return seg ? &seg->header : NULL;
}

unsigned flared_metrics_slot_count(void)
{
    return seg ? SLOTS : 0;
}

flared_worker_slot *flared_metrics_slot_at(unsigned i)
{
    return &seg->slots[i];
}

static unsigned slot_index(unsigned worker_id, uint32_t generation)
{
    return (generation & 1u) * FLARED_WORKERS_MAX + worker_id % FLARED_WORKERS_MAX;
}

void flared_metrics_begin_generation(uint32_t gen, bool is_reload)
{
    if (!seg) return;
    seg->header.generation = gen;
    if (is_reload) seg->header.reloads++;
    /* Route indexes belong to one config: the set this generation takes starts over. Its
     * previous occupants are two generations old and long drained. */
    for (unsigned w = 0; w < FLARED_WORKERS_MAX; w++) {
        flared_worker_slot *s = &seg->slots[slot_index(w, gen)];
        if (!s->pid) continue;
        memset(s->route_requests, 0, sizeof s->route_requests);
        memset(s->upstreams, 0, sizeof s->upstreams); /* upstream servers of one config too */
    }
}

void flared_metrics_restore_generation(uint32_t gen)
{
    if (!seg) return;
    seg->header.generation = gen;
    if (seg->header.reloads) seg->header.reloads--; /* it counts reloads that took effect */
}

void flared_metrics_worker_exited(unsigned worker_id, uint32_t generation, int pid)
{
    if (!seg) return;
    flared_worker_slot *s = &seg->slots[slot_index(worker_id, generation)];
    if (s->pid != pid) return;
    s->alive = false;
    s->active = s->reading = s->writing = s->idle = 0;
    s->ws.stats.active = 0;
    for (unsigned i = 0; i < FLARED_METRICS_UPSTREAM_SERVERS_MAX; i++)
        s->upstreams[i].active = s->upstreams[i].up = 0;
}

flared_worker_slot *flared_metrics_claim(unsigned worker_id)
{
    if (!seg) return NULL;
    uint32_t gen = seg->header.generation;
    flared_worker_slot *s = &seg->slots[slot_index(worker_id, gen)];
    s->worker_id = worker_id;
    s->generation = gen;
    s->starts++;
    s->active = s->reading = s->writing = s->idle = 0;
    /* The predecessor's WebSockets died with it; its counters stay. */
    s->ws.first = NULL;
    s->ws.stats.active = 0;
    for (unsigned i = 0; i < FLARED_METRICS_UPSTREAM_SERVERS_MAX; i++)
        s->upstreams[i].active = s->upstreams[i].up = 0;
    /* This process's server counts from zero: publish adds to what is already here. */
    s->base = (flare_http_server_stats){.bytes_in = s->bytes_in,
                                        .bytes_out = s->bytes_out,
                                        .accepted = s->accepted,
                                        .rejected = s->rejected,
                                        .tls_handshakes = s->tls_handshakes,
                                        .tls_failures = s->tls_failures};
    s->pid = (int32_t)getpid();
    s->alive = true;
    return s;
}

unsigned flared_hist_bucket(uint64_t us)
{
    unsigned i = 0;
    while (i < FLARED_HIST_BUCKETS && us > flared_hist_bounds_us[i])
        i++;
    return i;
}

void flared_metrics_request(flared_worker_slot *s, const flare_http_completion *done,
                            size_t route_index)
{
    s->requests++;
    unsigned cls = (unsigned)done->status / 100;
    s->by_class[cls < 6 ? cls : 0]++;
    s->duration_buckets[flared_hist_bucket(done->duration_us)]++;
    s->duration_sum_us += done->duration_us;
    if (route_index != SIZE_MAX)
        s->route_requests[route_index < FLARED_METRICS_ROUTES_MAX ? route_index
                                                                  : FLARED_METRICS_ROUTES_MAX]++;
}

void flared_metrics_publish(flared_worker_slot *s, const flare_http_server_stats *st)
{
    s->bytes_in = s->base.bytes_in + st->bytes_in;
    s->bytes_out = s->base.bytes_out + st->bytes_out;
    s->accepted = s->base.accepted + st->accepted;
    s->rejected = s->base.rejected + st->rejected;
    s->tls_handshakes = s->base.tls_handshakes + st->tls_handshakes;
    s->tls_failures = s->base.tls_failures + st->tls_failures;
}

void flared_metrics_publish_states(flared_worker_slot *s, const flare_http_server *srv)
{
    flare_http_conn_states st;
    flare_http_server_conn_states(srv, &st);
    s->reading = st.reading;
    s->writing = st.writing;
    s->idle = st.idle;
    s->active = flare_http_server_get_stats(srv)->active;
}
