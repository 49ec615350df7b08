/*
 * router.c: route lookup. A request's Host picks the virtual host (exact name,
 * then the longest "*.suffix" wildcard, then the default host); within it an
 * exact path beats any prefix and the longest prefix wins. Route tables are
 * small and read-only while serving, so a linear scan without allocation is used.
 */
#include "server_internal.h"

#include <string.h>
#include <strings.h>

bool flare_http__host_matches(const char *pattern, const char *host, size_t host_len)
{
    if (pattern[0] == '*' && pattern[1] == '.') {
        size_t suffix_len = strlen(pattern + 1); /* ".example.com" */
        return host_len > suffix_len &&
               strncasecmp(host + host_len - suffix_len, pattern + 1, suffix_len) == 0;
    }
    return strlen(pattern) == host_len && strncasecmp(pattern, host, host_len) == 0;
}

/* The host pattern routes for this Host belong to: NULL is the default host. Kept
 * inline in flare_http__route_match, where a call would cost every request. */
static inline __attribute__((always_inline)) const char *
pick_host(const flare_http_server *srv, const char *host, size_t host_len)
{
    const char *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < srv->route_count; i++) {
        const char *h = srv->routes[i].host;
        if (!h || !flare_http__host_matches(h, host, host_len)) continue;
        if (h[0] != '*') return h; /* an exact name wins outright */
        size_t len = strlen(h);
        if (len > best_len) {
            best = h;
            best_len = len;
        }
    }
    return best;
}

const char *flare_http__pick_host_linear(const flare_http_server *srv, const char *host,
                                         size_t host_len)
{
    return pick_host(srv, host, host_len);
}

static int hex_value(unsigned char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    ch |= 0x20;
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

static bool is_unreserved(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

/* The path unit at p[*i], advancing *i past it: a character, or 0x100 | byte for an
 * escape; a run of '/' is one. RFC 3986 §6.2.2: hex digits of either case name the same byte, and
 * an escaped unreserved character is that character; any other escape stays distinct from the raw
 * byte ("%2F" is data, never a '/'). A malformed escape is its '%'. */
static int path_unit(const char *p, size_t len, size_t *i)
{
    unsigned char ch = (unsigned char)p[*i];
    if (ch == '%' && len - *i >= 3) {
        int hi = hex_value((unsigned char)p[*i + 1]), lo = hex_value((unsigned char)p[*i + 2]);
        if (hi >= 0 && lo >= 0) {
            int byte = hi << 4 | lo;
            *i += 3;
            return is_unreserved(byte) ? byte : 0x100 | byte;
        }
    }
    (*i)++;
    if (ch == '/')
        while (*i < len && p[*i] == '/')
            (*i)++; /* "//" is one '/' (an empty segment), as nginx's merge_slashes */
    return ch;
}

/* Whether the route's bytes equal the path's (exactly, or as a prefix of it). */
static bool path_bytes_match(const route *rt, const char *path, size_t path_len)
{
    if (rt->prefix) return rt->path_len <= path_len && memcmp(rt->path, path, rt->path_len) == 0;
    return rt->path_len == path_len && memcmp(rt->path, path, path_len) == 0;
}

/* How many path bytes the prefix covers, compared unit by unit, or SIZE_MAX when it
 * does not; *units is the prefix's length in units. */
static size_t units_span(const char *prefix, size_t prefix_len, const char *path, size_t path_len,
                         size_t *units)
{
    size_t i = 0, j = 0, n = 0;
    for (; i < prefix_len; n++)
        if (j == path_len || path_unit(prefix, prefix_len, &i) != path_unit(path, path_len, &j))
            return SIZE_MAX;
    *units = n;
    return j;
}

size_t flare_http_route_prefix_span(const char *prefix, size_t prefix_len, const char *path,
                                    size_t path_len)
{
    size_t units;
    return units_span(prefix, prefix_len, path, path_len, &units);
}

/* "%XY" at p[i..len), case-insensitive in the hex letters. */
static bool pct_is(const char *p, size_t i, size_t len, char hi, char lo)
{
    return i + 2 < len && p[i] == '%' && p[i + 1] == hi && (p[i + 2] | 0x20) == lo;
}

bool flare_http_path_has_dot_segment(const char *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        /* One segment: "/" and "\\" separate, raw or percent-encoded (servers that decode
         * or accept them resolve dots across them); ";" starts its parameters. */
        size_t dots = 0;
        bool other = false;
        for (;;) {
            if (i == len || p[i] == '/' || p[i] == '\\' || pct_is(p, i, len, '2', 'f') ||
                pct_is(p, i, len, '5', 'c') || p[i] == ';')
                break;
            if (p[i] == '.' || pct_is(p, i, len, '2', 'e')) {
                dots++;
                i += p[i] == '.' ? 1 : 3;
            } else {
                other = true;
                i++;
            }
        }
        if (!other && (dots == 1 || dots == 2)) return true;
        while (i < len && p[i] != '/' && p[i] != '\\' && !pct_is(p, i, len, '2', 'f') &&
               !pct_is(p, i, len, '5', 'c'))
            i++;
        i += i < len && p[i] == '%' ? 3 : 1;
    }
    return false;
}

bool flare_http__route_units_match(const route *rt, const char *path, size_t path_len,
                                   size_t *units)
{
    size_t span = units_span(rt->path, rt->path_len, path, path_len, units);
    return span != SIZE_MAX && (rt->prefix || span == path_len);
}

/* Whether a path holds an escape or a run of '/', and so must be compared by units:
 * memchr to each '/' (one call per segment), which costs less on a short path than
 * memmem's setup. */
static bool path_needs_units(const char *path, size_t len)
{
    if (memchr(path, '%', len)) return true;
    const char *end = path + len;
    for (const char *s = path; (s = memchr(s, '/', (size_t)(end - s))) && ++s < end;)
        if (*s == '/') return true;
    return false;
}

/*
 * Paths are compared as equivalent paths rather than bytes, so that "/%61dmin/" and
 * "//admin/" reach the "/admin/" route and its methods, limits and `allow` rather than
 * a "/" route that hands the escape to an upstream which decodes it. A route without
 * escapes or doubled slashes that matches byte for byte also matches unit for unit,
 * with as many units as bytes, so units are compared only where bytes differ and
 * either side holds an escape or a "//"; whether the path does is found once, on the
 * first such route, and most requests never ask.
 */
const route *flare_http__route_match_linear(const flare_http_server *srv, const char *host,
                                            size_t host_len, const char *path, size_t path_len)
{
    const char *vhost = host_len ? pick_host(srv, host, host_len) : NULL;
    int path_escaped = -1; /* not yet known */
    const route *best = NULL;
    size_t best_units = 0, units;
    for (size_t i = 0; i < srv->route_count; i++) {
        const route *rt = &srv->routes[i];
        if (rt->host != vhost) continue;
        if (!rt->escaped && path_bytes_match(rt, path, path_len)) {
            units = rt->path_len;
        } else {
            if (!rt->escaped && path_escaped < 0) path_escaped = path_needs_units(path, path_len);
            if (!rt->escaped && !path_escaped) continue;
            if (!flare_http__route_units_match(rt, path, path_len, &units)) continue;
        }
        if (!rt->prefix) return rt; /* an exact path wins outright */
        if (!best || units > best_units) {
            best = rt;
            best_units = units;
        }
    }
    return best;
}

void *flare_http_server_route_userdata(const flare_http_server *srv, const char *host,
                                       size_t host_len, const char *path, size_t path_len)
{
    const route *rt = flare_http__route_match(srv, host, host_len, path, path_len);
    return rt ? rt->userdata : NULL;
}

/* Only for answers no route takes (404s, refusals of an unrouted request), so the
 * host is picked a second time there rather than remembered for every request. */
const flare_header_block *flare_http__host_fields(const flare_http_server *srv, const char *host,
                                                  size_t host_len)
{
    const flare_header_block *b = srv->fields;
    const char *vhost = flare_http__pick_host(srv, host, host_len);
    for (size_t i = 0; vhost && i < srv->host_field_count; i++)
        if (strcmp(srv->host_fields[i].host, vhost) == 0) {
            b = srv->host_fields[i].b;
            break;
        }
    return b && b->lines.len ? b : NULL;
}

bool flare_http__route_allows(const route *rt, const flare_http_request *head)
{
    if (head->method_id != FLARE_METHOD_OTHER) return (rt->methods >> head->method_id) & 1u;
    for (size_t i = 0; i < rt->extra_count; i++)
        if (strlen(rt->extra_methods[i]) == head->method_len &&
            memcmp(rt->extra_methods[i], head->method, head->method_len) == 0)
            return true;
    return false;
}

size_t flare_http__route_allow_header(const flare_http_server *srv, const route *rt, char *out,
                                      size_t cap)
{
    (void)srv;
    size_t len = 0;
    out[0] = '\0';
    for (int m = 1; m < FLARE_METHOD__COUNT; m++) {
        if (m == FLARE_METHOD_CONNECT || !((rt->methods >> m) & 1u)) continue;
        const char *name = flare_http_method_name((flare_http_method)m);
        size_t n = strlen(name);
        if (len + n + 3 >= cap) break;
        if (len) {
            memcpy(out + len, ", ", 2);
            len += 2;
        }
        memcpy(out + len, name, n + 1);
        len += n;
    }
    for (size_t i = 0; i < rt->extra_count; i++) {
        size_t n = strlen(rt->extra_methods[i]);
        if (len + n + 3 >= cap) break;
        if (len) {
            memcpy(out + len, ", ", 2);
            len += 2;
        }
        memcpy(out + len, rt->extra_methods[i], n + 1);
        len += n;
    }
    return len;
}
