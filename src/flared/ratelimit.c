/*
 * ratelimit.c: the shared bucket table of the rate limits. Buckets sit in groups of
 * GROUP entries (four cache lines); a key hashes to one group and is looked for in it
 * only, so a lookup costs the same however full the table is. An entry is two atomic
 * words: the key (a seeded 64-bit hash of limit and client address, 0: never used)
 * and the bucket's GCRA arrival time. An entry whose arrival time has passed holds
 * nothing and may go to another key. Every change is one compare-and-swap, so
 * workers take no lock and a worker that dies halfway leaves a usable table.
 *
 * A new key takes the entry of its group nearest to empty (the earliest arrival time)
 * and keeps that bucket's contents (the Space-Saving rule of Metwally et al.): a bucket
 * overstates its client's requests, never understates them, so no client is let
 * through over its limit however many addresses fill the table. Arrival times only
 * grow while a bucket is held, so a key pushed out comes back to one at least as full
 * as it left; two addresses taking turns share one bucket. The price of a group
 * overrun by more active clients than it has entries is paid by its newcomers, who
 * start from others' requests, not by the limit.
 *
 * Races are benign: a key taken over at the instant its old client returns charges
 * that one request to the newcomer, and two workers inserting one new key at once may
 * make two buckets, the second of which drains unused. Time is CLOCK_MONOTONIC, the
 * same for every process; a worker whose cached clock lags another's sees arrival
 * times a little ahead, which errs on the strict side by that lag (or, on a bucket it
 * finds fuller than its limit allows and cuts, on the lax side by as much).
 */
#include "ratelimit.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "handlers_internal.h"

#define GROUP 16 /* entries per group */

typedef struct entry {
    _Atomic uint64_t key;
    _Atomic uint64_t tat_us; /* theoretical arrival time; <= now: the bucket is empty */
} entry;

struct flared_rate_table {
    uint64_t seed;       /* random per table: clients cannot aim at one group */
    uint64_t group_mask; /* groups - 1 */
    uint64_t entries;
    uint64_t pad[5];
    entry e[]; /* 64-byte aligned: a group is four whole cache lines */
};

bool flared_rate_step(uint64_t tat_us, uint64_t now_us, uint64_t interval_us, uint64_t burst,
                      uint64_t *next_tat_us, uint64_t *wait_us)
{
    uint64_t room = burst * interval_us;
    /* This limit fills a bucket to burst + 1 intervals at most. More was charged at a
     * slower rate that a reload replaced under the same name: the bucket is full, not
     * minutes in debt. (The caller stores the cut arrival time.) */
    if (tat_us > now_us && tat_us - now_us > room + interval_us)
        tat_us = now_us + room + interval_us;
    /* Drained to now, the bucket holds (base - now) / interval requests. */
    uint64_t base = tat_us > now_us ? tat_us : now_us;
    uint64_t held = base - now_us;
    if (held > room) {
        *wait_us = held - room;
        *next_tat_us = tat_us;
        return false;
    }
    *next_tat_us = base + interval_us;
    return true;
}

int flared_rate_table_new(flared_rate_table **out, uint64_t entries, flare_error *err)
{
    *out = NULL;
    if (entries < GROUP || (entries & (entries - 1)))
        return flare_error_set(err, FLARE_EINVAL, 0,
                               "rate limit table: %llu entries is not a "
                               "power of two of at least 16",
                               (unsigned long long)entries);
    size_t size = sizeof(flared_rate_table) + entries * sizeof(entry);
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return flare_error_set(err, FLARE_ESYS, errno, "rate limit table: cannot map %zu bytes",
                               size);
    flared_rate_table *t = p;
    if (getrandom(&t->seed, sizeof t->seed, 0) != (ssize_t)sizeof t->seed)
        t->seed = (uint64_t)(uintptr_t)p ^ 0x9e3779b97f4a7c15ull; /* no entropy yet: still varies */
    t->group_mask = entries / GROUP - 1;
    t->entries = entries;
    *out = t;
    return 0;
}

void flared_rate_table_free(flared_rate_table *t)
{
    if (t) munmap(t, sizeof *t + t->entries * sizeof(entry));
}

uint64_t flared_rate_table_entries(const flared_rate_table *t)
{
    return t->entries;
}

/* The 64-bit finaliser of MurmurHash3: every input bit moves every output bit. */
static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

/* Eight address bytes in network order as one number: bit 63 is the address's first. */
static uint64_t load_be64(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return v;
}

/* Clients are told apart by flare_ip_client_key: an IPv6 one by its limit's prefix (a
 * host with a /64 could otherwise spread its requests over as many buckets as it
 * likes), one over IPv4 and over a dual-stack listener's ::ffff:a.b.c.d as one. */
static uint64_t client_key(const flared_rate_table *t, const flared_rate_limit *rl,
                           const flare_ip_addr *ip)
{
    flare_ip_addr k = flare_ip_client_key(ip, rl->ipv6_prefix ? rl->ipv6_prefix : 128);
    uint64_t h = mix(t->seed ^ rl->key);
    h = mix(h ^ load_be64(k.bytes));
    h = mix(h ^ load_be64(k.bytes + 8) ^ (uint64_t)k.family);
    return h | 1; /* 0 marks an entry never used */
}

/* Charges the bucket at e, whoever else charges it at the same time. */
static flared_rate_verdict charge(entry *e, const flared_rate_limit *rl, uint64_t now_us,
                                  uint64_t *wait_us)
{
    uint64_t tat = atomic_load_explicit(&e->tat_us, memory_order_relaxed), next;
    for (;;) {
        if (!flared_rate_step(tat, now_us, rl->interval_us, rl->burst, &next, wait_us)) {
            /* A cut arrival time is kept, or the cut would apply again until the old one. */
            if (next != tat)
                atomic_compare_exchange_strong_explicit(&e->tat_us, &tat, next,
                                                        memory_order_relaxed, memory_order_relaxed);
            return FLARED_RATE_REFUSED;
        }
        if (atomic_compare_exchange_weak_explicit(&e->tat_us, &tat, next, memory_order_relaxed,
                                                  memory_order_relaxed))
            return FLARED_RATE_TAKEN;
    }
}

flared_rate_verdict flared_rate_table_take(flared_rate_table *t, const flared_rate_limit *rl,
                                           const flare_ip_addr *client, uint64_t now_us,
                                           uint64_t *wait_us, bool *evicted)
{
    uint64_t key = client_key(t, rl, client);
    entry *g = &t->e[((key >> 32) & t->group_mask) * GROUP];
    *evicted = false;
    entry *victim = g;
    /* A lost race for an entry looks again: the winner may have been this key. */
    for (int attempt = 0; attempt < 4; attempt++) {
        uint64_t victim_key = 0, victim_tat = UINT64_MAX;
        for (unsigned i = 0; i < GROUP; i++) {
            uint64_t k = atomic_load_explicit(&g[i].key, memory_order_relaxed);
            if (k == key) return charge(&g[i], rl, now_us, wait_us);
            /* Never used (0) or drained (<= now) is as empty as a bucket gets. */
            uint64_t tat = k ? atomic_load_explicit(&g[i].tat_us, memory_order_relaxed) : 0;
            if (tat < victim_tat) {
                victim = &g[i];
                victim_key = k;
                victim_tat = tat;
            }
        }
        if (atomic_compare_exchange_strong_explicit(&victim->key, &victim_key, key,
                                                    memory_order_relaxed, memory_order_relaxed)) {
            *evicted = victim_tat > now_us;
            return charge(victim, rl, now_us, wait_us);
        }
    }
    /* Every race lost: share the last choice's bucket, which can only be stricter. */
    return charge(victim, rl, now_us, wait_us);
}

/* ------------------------------------------------------------ the daemon's */

/* The master maps it; forked workers inherit the mapping. While a reload that made a
 * new one is under way, the running workers' table is kept for the workers started
 * again for the running config, should the reload fail. */
static flared_rate_table *table, *running;
static flared_worker_slot *counters;

static bool uses_rate_limits(const flared_host *h)
{
    for (size_t i = 0; i < h->route_count; i++)
        if (h->routes[i].rate_limit) return true;
    return false;
}

int flared_ratelimit_setup(const flared_config *cfg, flare_error *err)
{
    bool used = uses_rate_limits(&cfg->default_host);
    for (size_t h = 0; !used && h < cfg->host_count; h++)
        used = uses_rate_limits(&cfg->hosts[h]);
    if (!used || (table && flared_rate_table_entries(table) == cfg->rate_limit_entries)) return 0;
    flared_rate_table *next;
    int rc = flared_rate_table_new(&next, cfg->rate_limit_entries, err);
    if (rc < 0) return rc;
    if (running)
        flared_rate_table_free(table); /* another reload's, never taken */
    else
        running = table;
    table = next;
    return 0;
}

void flared_ratelimit_reload_end(bool taken)
{
    if (!running) return;
    /* Unmapped in the master only: the workers keep their own mappings. */
    if (taken) {
        flared_rate_table_free(running);
    } else {
        flared_rate_table_free(table);
        table = running;
    }
    running = NULL;
}

void flared_ratelimit_attach_metrics(flared_worker_slot *slot)
{
    counters = slot;
}

int flared_ratelimit_admit(const flare_request *req, uint64_t now_us, void *userdata,
                           flare_http_admission *out)
{
    const flared_route_ctx *ctx = userdata;
    const flared_rate_limit *rl = ctx->route->rate_limit;
    uint64_t wait_us = 0;
    /* A client without an address (a Unix socket's, no PROXY header) cannot be told from
     * the next: it is not counted, as nginx leaves out a request whose key is empty,
     * rather than put in one bucket with every other such client. */
    if (!table || !req->peer->ip.family) return 0;
    bool evicted;
    flared_rate_verdict verdict =
        flared_rate_table_take(table, rl, &req->peer->ip, now_us, &wait_us, &evicted);
    if (evicted && counters) counters->rate_limit_evictions++;
    if (verdict == FLARED_RATE_TAKEN) return 0;
    if (counters) counters->rate_limited++;
    /* RFC 9110 §10.2.3: whole seconds, rounded up so a client that waits them is taken. */
    uint64_t secs = (wait_us + 999999) / 1000000;
    out->retry_after_s = secs ? (uint32_t)secs : 1;
    return rl->status;
}
