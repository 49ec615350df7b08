/*
 * router_index.c: the router's tables, so that picking a virtual host and a route
 * costs the same with three routes or three thousand. router.c's linear scan
 * defines what matches; these tables give the same answer by lookup:
 *  - host names in a hash table, wildcards ("*.example.com") longest first;
 *  - per host, exact paths in a hash table, and prefix paths (ending in '/') in
 *    another, probed at each '/' of the request path from the longest;
 *  - routes whose path holds an escape or "//" (compared unit by unit) in a short
 *    list per host, checked one by one.
 * A request path holding '%' or "//" is compared unit by unit against every route,
 * so it goes to the linear scan; so do servers of a few routes, where the scan costs
 * less than hashing, and every request while the tables cannot be built (out of
 * memory). The tables are built at the first request after routes
 * change: a cache the const lookup fills in (the server is single-threaded).
 */
#include "server_internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EMPTY UINT32_MAX
/* Up to this many routes the linear scan costs no more than hashing the path. */
#define SCAN_MAX 8
/* Prefix probes per request path: one per '/', more go to the linear scan. */
#define MAX_PROBES 32

typedef struct table {
    uint32_t *slots; /* route (or host) indexes; EMPTY where free */
    uint32_t mask;
} table;

typedef struct vhost {
    const char *name; /* interned (route.host), NULL for the default host */
    table exact;      /* route indexes by path bytes: the first of each path */
    table prefix;
    uint32_t *escaped; /* routes compared unit by unit, in order */
    size_t escaped_count;
} vhost;

struct flare_http__router {
    vhost *hosts; /* hosts[0]: the default host */
    size_t host_count;
    table names;    /* hosts[] indexes of exact names */
    uint32_t *wild; /* hosts[] indexes of wildcards, longest pattern first */
    size_t wild_count;
};

/* A word at a time: paths and names are short, and a byte loop costs more than the
 * lookup. The last partial word is read byte by byte, so nothing past s[n) is read.
 * fold: ORs 0x20 into every byte, which lower-cases ASCII letters (and maps a few
 * other bytes onto each other: the compare that follows decides). */
static uint64_t hash_bytes(const char *s, size_t n, bool fold)
{
    const uint64_t k = 0x9e3779b97f4a7c15ull, lower = fold ? 0x2020202020202020ull : 0;
    uint64_t h = n * k;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ (w | lower)) * k;
        h ^= h >> 31;
    }
    if (i < n) {
        uint64_t w = 0;
        for (size_t j = 0; i + j < n; j++)
            w |= (uint64_t)(unsigned char)s[i + j] << (8 * j);
        h = (h ^ (w | (lower >> (8 * (8 - (n - i)))))) * k;
        h ^= h >> 31;
    }
    return h;
}

/* The slot index to start probing at: the high bits mix best. */
static uint32_t home(uint64_t h, uint32_t mask)
{
    return (uint32_t)((h ^ (h >> 29)) & mask);
}

static int table_init(table *t, size_t count)
{
    size_t cap = 8;
    while (cap < count * 2)
        cap *= 2;
    t->slots = malloc(cap * sizeof *t->slots);
    if (!t->slots) return FLARE_ENOMEM;
    memset(t->slots, 0xff, cap * sizeof *t->slots);
    t->mask = (uint32_t)(cap - 1);
    return 0;
}

static const char *route_path(const flare_http_server *srv, uint32_t i, size_t *len)
{
    *len = srv->routes[i].path_len;
    return srv->routes[i].path;
}

/* Adds route i under its path bytes unless an earlier route has them already. */
static void put_path(const flare_http_server *srv, table *t, uint32_t i)
{
    size_t len;
    const char *path = route_path(srv, i, &len);
    for (uint32_t s = home(hash_bytes(path, len, false), t->mask);; s = (s + 1) & t->mask) {
        if (t->slots[s] == EMPTY) {
            t->slots[s] = i;
            return;
        }
        size_t other_len;
        const char *other = route_path(srv, t->slots[s], &other_len);
        if (other_len == len && memcmp(other, path, len) == 0) return; /* the first stays */
    }
}

static uint32_t get_path(const flare_http_server *srv, const table *t, uint64_t h, const char *p,
                         size_t len)
{
    for (uint32_t s = home(h, t->mask);; s = (s + 1) & t->mask) {
        uint32_t i = t->slots[s];
        if (i == EMPTY) return EMPTY;
        if (srv->routes[i].path_len == len && memcmp(srv->routes[i].path, p, len) == 0) return i;
    }
}

static bool is_wildcard(const char *name)
{
    return name[0] == '*' && name[1] == '.';
}

static void free_router(flare_http__router *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->host_count; i++) {
        free(r->hosts[i].exact.slots);
        free(r->hosts[i].prefix.slots);
        free(r->hosts[i].escaped);
    }
    free(r->hosts);
    free(r->names.slots);
    free(r->wild);
    free(r);
}

void flare_http__router_free(flare_http_server *srv)
{
    free_router(srv->router);
    srv->router = NULL;
}

/* hosts[] index of an interned name, or 0 (none yet: the default host's index). */
static uint32_t host_index(const flare_http__router *r, const char *name)
{
    for (uint32_t i = 1; i < r->host_count; i++)
        if (r->hosts[i].name == name) return i;
    return 0;
}

/* The hosts, in the order routes name them, and owner[i]: route i's host. A host's
 * routes usually come one after another, so the previous route's is tried first. */
static int build_hosts(const flare_http_server *srv, flare_http__router *r, uint32_t *owner)
{
    r->hosts = calloc(srv->route_count + 1, sizeof *r->hosts);
    if (!r->hosts) return FLARE_ENOMEM;
    r->host_count = 1; /* the default host, name NULL */
    size_t wild = 0;
    for (size_t i = 0; i < srv->route_count; i++) {
        const char *name = srv->routes[i].host;
        if (!name) {
            owner[i] = 0;
            continue;
        }
        owner[i] = i > 0 && srv->routes[i - 1].host == name ? owner[i - 1] : host_index(r, name);
        if (owner[i]) continue;
        owner[i] = (uint32_t)r->host_count;
        r->hosts[r->host_count++].name = name;
        wild += is_wildcard(name);
    }
    if (table_init(&r->names, r->host_count) < 0) return FLARE_ENOMEM;
    r->wild = malloc((wild ? wild : 1) * sizeof *r->wild);
    if (!r->wild) return FLARE_ENOMEM;
    for (uint32_t h = 1; h < r->host_count; h++) {
        const char *name = r->hosts[h].name;
        if (is_wildcard(name)) {
            /* Longest first; among equals, the first seen (insertion keeps it first). */
            size_t len = strlen(name), k = r->wild_count++;
            while (k > 0 && strlen(r->hosts[r->wild[k - 1]].name) < len) {
                r->wild[k] = r->wild[k - 1];
                k--;
            }
            r->wild[k] = h;
            continue;
        }
        /* Interned names are lower case and distinct. */
        table *t = &r->names;
        uint32_t s = home(hash_bytes(name, strlen(name), true), t->mask);
        while (t->slots[s] != EMPTY)
            s = (s + 1) & t->mask;
        t->slots[s] = h;
    }
    return 0;
}

static int build_paths(const flare_http_server *srv, flare_http__router *r, const uint32_t *owner)
{
    /* Each host's count of routes, kept in escaped_count until its arrays are sized. */
    for (size_t i = 0; i < srv->route_count; i++)
        r->hosts[owner[i]].escaped_count++;
    for (size_t h = 0; h < r->host_count; h++) {
        vhost *v = &r->hosts[h];
        size_t n = v->escaped_count;
        v->escaped_count = 0;
        if (table_init(&v->exact, n) < 0 || table_init(&v->prefix, n) < 0) return FLARE_ENOMEM;
        v->escaped = malloc((n ? n : 1) * sizeof *v->escaped);
        if (!v->escaped) return FLARE_ENOMEM;
    }
    for (uint32_t i = 0; i < srv->route_count; i++) {
        const route *rt = &srv->routes[i];
        vhost *v = &r->hosts[owner[i]];
        if (!rt->handler) continue; /* a host's marker: no path of its own */
        if (rt->escaped)
            v->escaped[v->escaped_count++] = i;
        else
            put_path(srv, rt->prefix ? &v->prefix : &v->exact, i);
    }
    return 0;
}

/* The server's tables, built now if routes changed since; NULL when they cannot be. */
static const flare_http__router *router_of(const flare_http_server *srv)
{
    if (srv->router && !srv->router_stale) return srv->router;
    flare_http_server *mut = (flare_http_server *)srv; /* a cache, see the top */
    flare_http__router_free(mut);
    mut->router_stale = false;
    flare_http__router *r = calloc(1, sizeof *r);
    uint32_t *owner = malloc((srv->route_count ? srv->route_count : 1) * sizeof *owner);
    bool built = r && owner && build_hosts(srv, r, owner) == 0 && build_paths(srv, r, owner) == 0;
    free(owner);
    if (!built) {
        free_router(r);
        mut->router_stale = true; /* try again at the next request */
        return NULL;
    }
    mut->router = r;
    return r;
}

static const vhost *pick(const flare_http__router *r, const char *host, size_t host_len)
{
    if (!host_len) return &r->hosts[0];
    const table *t = &r->names;
    for (uint32_t s = home(hash_bytes(host, host_len, true), t->mask);; s = (s + 1) & t->mask) {
        uint32_t h = t->slots[s];
        if (h == EMPTY) break;
        if (flare_http__host_matches(r->hosts[h].name, host, host_len)) return &r->hosts[h];
    }
    for (size_t k = 0; k < r->wild_count; k++)
        if (flare_http__host_matches(r->hosts[r->wild[k]].name, host, host_len))
            return &r->hosts[r->wild[k]];
    return &r->hosts[0];
}

const char *flare_http__pick_host(const flare_http_server *srv, const char *host, size_t host_len)
{
    const flare_http__router *r = srv->route_count > SCAN_MAX ? router_of(srv) : NULL;
    if (!r) return host_len ? flare_http__pick_host_linear(srv, host, host_len) : NULL;
    return pick(r, host, host_len)->name;
}

/* Better of two candidates: more units, or as many and registered first. */
static void keep_best(uint32_t *best, size_t *best_units, uint32_t i, size_t units)
{
    if (*best == EMPTY || units > *best_units || (units == *best_units && i < *best)) {
        *best = i;
        *best_units = units;
    }
}

/* Not inlined: a server of a few routes then pays no frame of this on its way to the scan. */
__attribute__((noinline)) static const route *match(const flare_http_server *srv, const char *host,
                                                    size_t host_len, const char *path,
                                                    size_t path_len)
{
    const flare_http__router *r = router_of(srv);
    if (!r) return flare_http__route_match_linear(srv, host, host_len, path, path_len);
    /* Where a prefix route could end (just past each '/'), and whether the path holds
     * what only a unit by unit compare matches: '%', or "//". */
    size_t slash_end[MAX_PROBES], probes = 0;
    bool units = memchr(path, '%', path_len) != NULL;
    const char *end = path + path_len;
    for (const char *p = path; !units && (p = memchr(p, '/', (size_t)(end - p))); p++) {
        if (probes == MAX_PROBES || (p + 1 < end && p[1] == '/'))
            units = true; /* more segments than probes go to the scan too */
        else
            slash_end[probes++] = (size_t)(p + 1 - path);
    }
    if (units) return flare_http__route_match_linear(srv, host, host_len, path, path_len);
    const vhost *v = r->host_count > 1 ? pick(r, host, host_len) : &r->hosts[0];
    /* An exact path wins outright: the first registered of those that match. */
    uint32_t exact = get_path(srv, &v->exact, hash_bytes(path, path_len, false), path, path_len);
    for (size_t k = 0; k < v->escaped_count && v->escaped[k] < exact; k++) {
        const route *rt = &srv->routes[v->escaped[k]];
        size_t n;
        if (!rt->prefix && flare_http__route_units_match(rt, path, path_len, &n)) {
            exact = v->escaped[k];
            break;
        }
    }
    if (exact != EMPTY) return &srv->routes[exact];
    /* Else the prefix with the most units (bytes here), the first registered of equals. */
    uint32_t best = EMPTY;
    size_t best_units = 0;
    for (size_t k = probes; k-- > 0;) {
        size_t len = slash_end[k];
        uint32_t i = get_path(srv, &v->prefix, hash_bytes(path, len, false), path, len);
        if (i != EMPTY) {
            keep_best(&best, &best_units, i, len);
            break;
        }
    }
    for (size_t k = 0; k < v->escaped_count; k++) {
        const route *rt = &srv->routes[v->escaped[k]];
        size_t n;
        if (rt->prefix && flare_http__route_units_match(rt, path, path_len, &n))
            keep_best(&best, &best_units, v->escaped[k], n);
    }
    return best == EMPTY ? NULL : &srv->routes[best];
}

const route *flare_http__route_match(const flare_http_server *srv, const char *host,
                                     size_t host_len, const char *path, size_t path_len)
{
    if (srv->route_count <= SCAN_MAX)
        return flare_http__route_match_linear(srv, host, host_len, path, path_len);
    return match(srv, host, host_len, path, path_len);
}
