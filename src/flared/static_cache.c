/*
 * static_cache.c: a per-worker cache of small files, so a hot file costs one
 * stat instead of open, fstat, sendfile and close. Entries are keyed by (root
 * descriptor, relative path), found through a chained hash table and evicted
 * least recently used first, within a bound on their count and on their bytes.
 * The cache never decides freshness itself: the caller stats the path and asks.
 */
#include <stdlib.h>
#include <string.h>

#include "static_internal.h"

typedef struct node {
    flared_cache_entry e; /* first: an entry pointer is a node pointer */
    struct node *hash_next;
    struct node *lru_prev, *lru_next; /* lru_prev side is the most recent */
    uint64_t hash;
    int root_fd;
    size_t key_len;
    size_t bytes; /* what this node accounts for */
    char *gz_owned;
    char key[]; /* key, NUL, then the file's bytes when cached */
} node;

struct flared_static_cache {
    node **buckets;
    size_t bucket_mask;
    node *newest, *oldest;
    size_t count, bytes;
    size_t max_entries, max_bytes;
};

/* FNV-1a over the descriptor and the path. */
static uint64_t hash_key(int root_fd, const char *rel, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < sizeof root_fd; i++) {
        h ^= (unsigned char)(root_fd >> (8 * i));
        h *= 1099511628211ull;
    }
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)rel[i];
        h *= 1099511628211ull;
    }
    return h;
}

int flared_static_cache_new(flared_static_cache **out, size_t max_entries, size_t max_bytes,
                            flare_error *err)
{
    *out = NULL;
    if (max_entries == 0 || max_entries > (1u << 24))
        return flare_error_set(err, FLARE_EINVAL, 0, "static cache: %zu entries", max_entries);
    flared_static_cache *c = calloc(1, sizeof *c);
    size_t buckets = 16;
    while (buckets < max_entries * 2)
        buckets *= 2;
    if (c) c->buckets = calloc(buckets, sizeof *c->buckets);
    if (!c || !c->buckets) {
        free(c);
        return flare_error_set(err, FLARE_ENOMEM, 0, "static cache: out of memory");
    }
    c->bucket_mask = buckets - 1;
    c->max_entries = max_entries;
    c->max_bytes = max_bytes;
    *out = c;
    return 0;
}

static void lru_unlink(flared_static_cache *c, node *n)
{
    if (n->lru_prev)
        n->lru_prev->lru_next = n->lru_next;
    else
        c->newest = n->lru_next;
    if (n->lru_next)
        n->lru_next->lru_prev = n->lru_prev;
    else
        c->oldest = n->lru_prev;
    n->lru_prev = n->lru_next = NULL;
}

static void lru_push(flared_static_cache *c, node *n)
{
    n->lru_prev = NULL;
    n->lru_next = c->newest;
    if (c->newest) c->newest->lru_prev = n;
    c->newest = n;
    if (!c->oldest) c->oldest = n;
}

static void destroy(flared_static_cache *c, node *n)
{
    node **link = &c->buckets[n->hash & c->bucket_mask];
    while (*link && *link != n)
        link = &(*link)->hash_next;
    if (*link) *link = n->hash_next;
    lru_unlink(c, n);
    c->count--;
    c->bytes -= n->bytes;
    free(n->gz_owned);
    free(n);
}

void flared_static_cache_free(flared_static_cache *c)
{
    if (!c) return;
    while (c->newest)
        destroy(c, c->newest);
    free(c->buckets);
    free(c);
}

flared_cache_entry *flared_static_cache_find(flared_static_cache *c, int root_fd, const char *rel,
                                             size_t len)
{
    uint64_t h = hash_key(root_fd, rel, len);
    for (node *n = c->buckets[h & c->bucket_mask]; n; n = n->hash_next) {
        if (n->hash == h && n->root_fd == root_fd && n->key_len == len &&
            memcmp(n->key, rel, len) == 0) {
            lru_unlink(c, n);
            lru_push(c, n);
            return &n->e;
        }
    }
    return NULL;
}

static bool same_time(struct timespec a, struct timespec b)
{
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

bool flared_static_cache_fresh(const flared_cache_entry *e, const struct stat *st)
{
    /* ctime too: a rewrite that restores the old mtime (touch -d, cp -p) still
     * moves ctime, which no user can set. */
    return S_ISREG(st->st_mode) && st->st_dev == e->dev && st->st_ino == e->ino &&
           (uint64_t)st->st_size == e->size && same_time(st->st_mtim, e->mtime) &&
           same_time(st->st_ctim, e->ctime);
}

bool flared_static_cache_settled(const struct stat *st, time_t now)
{
    /* As git's "racily clean" entries: a change in the same tick as the read that
     * filled the entry would leave no trace in the stat. ctime, which no user can
     * set, moves with every write; two seconds cover one-second timestamps. */
    return st->st_ctim.tv_sec <= now - 2;
}

void flared_static_cache_remove(flared_static_cache *c, flared_cache_entry *e)
{
    destroy(c, (node *)e);
}

/* Evicts the oldest entries (never `keep`) until `extra` more bytes and one more
 * entry (when adding) fit; false when they cannot. */
static bool make_room(flared_static_cache *c, size_t extra, bool adding, const node *keep)
{
    if (extra > c->max_bytes) return false;
    while (c->oldest &&
           (c->bytes + extra > c->max_bytes || (adding && c->count >= c->max_entries))) {
        node *victim = c->oldest;
        if (victim == keep) victim = victim->lru_prev;
        if (!victim) return false;
        destroy(c, victim);
    }
    return c->bytes + extra <= c->max_bytes && (!adding || c->count < c->max_entries);
}

flared_cache_entry *flared_static_cache_put(flared_static_cache *c, int root_fd, const char *rel,
                                            size_t len, const struct stat *st, const char *data)
{
    flared_cache_entry *old = flared_static_cache_find(c, root_fd, rel, len);
    if (old) destroy(c, (node *)old);
    size_t data_len = data ? (size_t)st->st_size : 0;
    size_t bytes = sizeof(node) + len + 1 + data_len;
    if (!make_room(c, bytes, true, NULL)) return NULL;
    node *n = malloc(bytes);
    if (!n) return NULL;
    memset(n, 0, sizeof *n);
    n->root_fd = root_fd;
    n->key_len = len;
    n->bytes = bytes;
    n->hash = hash_key(root_fd, rel, len);
    memcpy(n->key, rel, len);
    n->key[len] = '\0';
    flared_cache_entry *e = &n->e;
    e->dev = st->st_dev;
    e->ino = st->st_ino;
    e->size = (uint64_t)st->st_size;
    e->mtime = st->st_mtim;
    e->ctime = st->st_ctim;
    e->etag_len = flared_static_etag(st, NULL, false, e->etag);
    flare_format_http_date(st->st_mtim.tv_sec, e->last_modified);
    if (data) {
        char *copy = n->key + len + 1;
        if (data_len) memcpy(copy, data, data_len);
        e->data = copy;
    }
    node **bucket = &c->buckets[n->hash & c->bucket_mask];
    n->hash_next = *bucket;
    *bucket = n;
    lru_push(c, n);
    c->count++;
    c->bytes += bytes;
    return e;
}

bool flared_static_cache_set_gzip(flared_static_cache *c, flared_cache_entry *e, const char *gz,
                                  size_t len)
{
    node *n = (node *)e;
    if (n->gz_owned || !make_room(c, len, false, n)) return false;
    char *copy = malloc(len ? len : 1);
    if (!copy) return false;
    memcpy(copy, gz, len);
    n->gz_owned = copy;
    e->gz = copy;
    e->gz_len = len;
    n->bytes += len;
    c->bytes += len;
    return true;
}

size_t flared_static_cache_count(const flared_static_cache *c)
{
    return c->count;
}

size_t flared_static_cache_bytes(const flared_static_cache *c)
{
    return c->bytes;
}
