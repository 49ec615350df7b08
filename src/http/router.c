/*
 * router.c: route lookup. A request's Host picks the virtual host (exact name,
 * then the longest "*.suffix" wildcard, then the default host); within it an
 * exact path beats any prefix and the longest prefix wins. Route tables are
 * small and read-only while serving, so a linear scan without allocation is used.
 */
#include "server_internal.h"

#include <string.h>
#include <strings.h>

static bool host_matches(const char *pattern, const char *host, size_t host_len)
{
    if (pattern[0] == '*' && pattern[1] == '.') {
        size_t suffix_len = strlen(pattern + 1); /* ".example.com" */
        return host_len > suffix_len &&
               strncasecmp(host + host_len - suffix_len, pattern + 1, suffix_len) == 0;
    }
    return strlen(pattern) == host_len && strncasecmp(pattern, host, host_len) == 0;
}

/* The host pattern routes for this Host belong to: NULL is the default host. */
static const char *pick_host(const flare_http_server *srv, const char *host, size_t host_len)
{
    const char *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < srv->route_count; i++) {
        const char *h = srv->routes[i].host;
        if (!h || !host_matches(h, host, host_len)) continue;
        if (h[0] != '*') return h; /* an exact name wins outright */
        size_t len = strlen(h);
        if (len > best_len) {
            best = h;
            best_len = len;
        }
    }
    return best;
}

const route *flare_http__route_match(const flare_http_server *srv, const char *host,
                                     size_t host_len, const char *path, size_t path_len)
{
    const char *vhost = host_len ? pick_host(srv, host, host_len) : NULL;
    const route *best = NULL;
    for (size_t i = 0; i < srv->route_count; i++) {
        const route *rt = &srv->routes[i];
        if (rt->host != vhost) continue;
        if (!rt->prefix) {
            if (rt->path_len == path_len && memcmp(rt->path, path, path_len) == 0) return rt;
            continue;
        }
        if (rt->path_len <= path_len && memcmp(rt->path, path, rt->path_len) == 0 &&
            (!best || rt->path_len > best->path_len))
            best = rt;
    }
    return best;
}

void *flare_http_server_route_userdata(const flare_http_server *srv, const char *host,
                                       size_t host_len, const char *path, size_t path_len)
{
    const route *rt = flare_http__route_match(srv, host, host_len, path, path_len);
    return rt ? rt->userdata : NULL;
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
