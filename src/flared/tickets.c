/*
 * tickets.c: the session ticket key store shared across fork: a MAP_SHARED
 * anonymous mapping written by the master alone and read by the workers under a
 * sequence lock (the counter is odd while a write is under way). Every shared
 * word is a lock-free C11 atomic, so readers in other processes never see a
 * torn key and no lock can be left held by a process that dies.
 */
#include "tickets.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define KEY_WORDS     (FLARE_TLS_TICKET_KEY_LEN / 8)
#define READ_TRIES    1000
#define MIN_ROTATE_MS 10

_Static_assert(FLARE_TLS_TICKET_KEY_LEN % 8 == 0, "ticket keys are stored as 64-bit words");
/* Atomics shared between processes must not hide a lock inside the process. */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");

struct flared_tickets {
    _Atomic uint64_t seq; /* odd while the master writes */
    _Atomic uint64_t generation;
    _Atomic uint64_t has_previous;
    _Atomic uint64_t current[KEY_WORDS];
    _Atomic uint64_t previous[KEY_WORDS];
    uint64_t rotate_ms; /* set before fork, constant after */
};

static void store_key(_Atomic uint64_t *dst, const uint8_t *bytes)
{
    for (size_t i = 0; i < KEY_WORDS; i++) {
        uint64_t w;
        memcpy(&w, bytes + 8 * i, 8);
        atomic_store_explicit(&dst[i], w, memory_order_relaxed);
    }
}

static void load_key(uint8_t *bytes, const _Atomic uint64_t *src)
{
    for (size_t i = 0; i < KEY_WORDS; i++) {
        uint64_t w = atomic_load_explicit(&src[i], memory_order_relaxed);
        memcpy(bytes + 8 * i, &w, 8);
    }
}

/* The master is the only writer, so it needs no lock, only the odd/even protocol. */
static void publish(flared_tickets *t, const uint8_t *current, const uint8_t *previous)
{
    uint64_t seq = atomic_load_explicit(&t->seq, memory_order_relaxed);
    atomic_store_explicit(&t->seq, seq + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    store_key(t->current, current);
    if (previous) store_key(t->previous, previous);
    atomic_store_explicit(&t->has_previous, previous != NULL, memory_order_relaxed);
    atomic_store_explicit(&t->generation,
                          atomic_load_explicit(&t->generation, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    atomic_store_explicit(&t->seq, seq + 2, memory_order_release);
}

int flared_tickets_new(flared_tickets **out, uint64_t rotate_ms, flare_error *err)
{
    *out = NULL;
    flared_tickets *t =
        mmap(NULL, sizeof *t, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (t == MAP_FAILED)
        return flare_error_set(err, FLARE_ESYS, errno, "session ticket keys: mmap");
    madvise(t, sizeof *t, MADV_DONTDUMP); /* keys stay out of core dumps; best effort */
    t->rotate_ms = rotate_ms;
    uint8_t key[FLARE_TLS_TICKET_KEY_LEN];
    int rc = flare_tls_ticket_key_generate(key, err);
    if (rc < 0) {
        munmap(t, sizeof *t);
        return rc;
    }
    publish(t, key, NULL);
    explicit_bzero(key, sizeof key);
    *out = t;
    return 0;
}

void flared_tickets_free(flared_tickets *t)
{
    if (!t) return;
    explicit_bzero(t, sizeof *t);
    munmap(t, sizeof *t);
}

int flared_tickets_rotate(flared_tickets *t, flare_error *err)
{
    uint8_t next[FLARE_TLS_TICKET_KEY_LEN], current[FLARE_TLS_TICKET_KEY_LEN];
    load_key(current, t->current);
    int rc;
    /* The 16-byte name picks the key that opens a ticket: the two live keys must differ. */
    do
        rc = flare_tls_ticket_key_generate(next, err);
    while (rc == 0 && memcmp(next, current, 16) == 0);
    if (rc == 0) publish(t, next, current);
    explicit_bzero(next, sizeof next);
    explicit_bzero(current, sizeof current);
    return rc;
}

uint64_t flared_tickets_generation(const flared_tickets *t)
{
    return atomic_load_explicit(&t->generation, memory_order_acquire);
}

uint64_t flared_tickets_period_ms(const flared_tickets *t)
{
    return t->rotate_ms;
}

bool flared_tickets_read(const flared_tickets *t, flared_ticket_keys *out)
{
    for (int tries = 0; tries < READ_TRIES; tries++) {
        uint64_t before = atomic_load_explicit(&t->seq, memory_order_acquire);
        if (before & 1) {
            sched_yield();
            continue;
        }
        out->generation = atomic_load_explicit(&t->generation, memory_order_relaxed);
        out->has_previous = atomic_load_explicit(&t->has_previous, memory_order_relaxed) != 0;
        load_key(out->current, t->current);
        load_key(out->previous, t->previous);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&t->seq, memory_order_relaxed) == before) return true;
    }
    flared_ticket_keys_wipe(out);
    return false;
}

void flared_ticket_keys_wipe(flared_ticket_keys *k)
{
    explicit_bzero(k, sizeof *k);
}

uint64_t flared_tickets_period_from_env(bool *from_env)
{
    *from_env = false;
    const char *s = getenv(FLARED_TICKET_ROTATE_ENV);
    if (!s || *s < '0' || *s > '9') return FLARED_TICKET_ROTATE_MS;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < MIN_ROTATE_MS || v > FLARED_TICKET_ROTATE_MS)
        return FLARED_TICKET_ROTATE_MS;
    *from_env = true;
    return v;
}
