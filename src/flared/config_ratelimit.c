/*
 * config_ratelimit.c: request rate limits. The top-level `rate_limits` names budgets
 * that several routes share ({api: {rate: 10/s, burst: 20}}); a route's `rate_limit`
 * names one of them, or is a mapping of its own that only that route uses (either:
 * rate, burst, status, ipv6_prefix). Each limit
 * gets a key hashed from its name (or the route's path and place) so its buckets stay
 * apart from the others' in the one shared table (ratelimit.c).
 */
#include <stdio.h>
#include <string.h>

#include "config_internal.h"

/* FNV-1a: stable across reloads, so a limit of the same name keeps its buckets. */
static uint64_t name_key(uint64_t h, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

#define KEY_BASIS 0xcbf29ce484222325ull

/* "N/s" or "N/m" (nginx's "Nr/s" and "Nr/m" too): requests per second or per minute. */
static int parse_rate(flared_cfg_ctx *c, yaml_node_t *node, flared_rate_limit *rl)
{
    char shown[FLARED_CFG_SHOW_MAX], unit_shown[FLARED_CFG_SHOW_MAX];
    const char *s;
    size_t len;
    int rc = flared_cfg_scalar(c, node, "rate", &s, &len);
    if (rc < 0) return rc;
    size_t i = 0;
    uint64_t n = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9' && n <= UINT32_MAX)
        n = n * 10 + (uint64_t)(s[i++] - '0');
    size_t unit = i + (i < len && s[i] == 'r');
    if (i == 0 || unit >= len || s[unit] != '/')
        return flared_cfg_fail(c, node,
                               "rate: expected requests per second or minute (10/s, 600/m), "
                               "got %s",
                               flared_cfg_show(node, shown));
    const char *u = s + unit + 1;
    size_t ulen = len - unit - 1;
    if (ulen == 1 && u[0] == 's')
        rl->period_ms = 1000;
    else if (ulen == 1 && u[0] == 'm')
        rl->period_ms = 60000;
    else /* the value quoted, as in every message: a "\n" escape must not split the log line */
        return flared_cfg_fail(c, node, "rate: unknown unit %s in %s; use /s or /m",
                               flared_cfg_quote(u, ulen, unit_shown), flared_cfg_show(node, shown));
    uint64_t max = FLARED_RATE_PER_SEC_MAX * (rl->period_ms / 1000);
    if (n == 0 || n > max)
        return flared_cfg_fail(c, node, "rate: %s is out of range 1..%llu per %s",
                               flared_cfg_show(node, shown), (unsigned long long)max,
                               rl->period_ms == 1000 ? "second" : "minute");
    rl->rate = n;
    rl->interval_us = rl->period_ms * 1000 / n;
    return 0;
}

static int parse_limit(flared_cfg_ctx *c, yaml_node_t *node, const char *what,
                       flared_rate_limit *rl)
{
    static const char *const keys[] = {"rate", "burst", "status", "ipv6_prefix", NULL};
    yaml_node_t *v[4];
    int rc = flared_cfg_map(c, node, "rate_limit", what, keys, v, NULL, NULL);
    if (rc < 0) return rc;
    rl->line = flared_cfg_line(node);
    rl->column = flared_cfg_column(node);
    if (!v[0]) return flared_cfg_fail(c, node, "rate_limit: missing required key 'rate'");
    if ((rc = parse_rate(c, v[0], rl)) < 0) return rc;
    if (v[1] && (rc = flared_cfg_uint(c, v[1], "burst", 0, FLARED_RATE_BURST_MAX, &rl->burst)) < 0)
        return rc;
    rl->status = 429;
    if (v[2]) {
        uint64_t st;
        if ((rc = flared_cfg_uint(c, v[2], "status", 400, 599, &st)) < 0) return rc;
        if (st != 429 && st != 503)
            return flared_cfg_fail(c, v[2], "status: a rate limit answers 429 or 503, got %llu",
                                   (unsigned long long)st);
        rl->status = (int)st;
    }
    uint64_t prefix = FLARED_RATE_IPV6_PREFIX_DEFAULT;
    if (v[3] && (rc = flared_cfg_uint(c, v[3], "ipv6_prefix", 1, 128, &prefix)) < 0) return rc;
    rl->ipv6_prefix = (unsigned)prefix;
    return 0;
}

int flared_cfg_rate_limits(flared_cfg_ctx *c, yaml_node_t *node)
{
    yaml_node_pair_t *pairs;
    size_t n;
    int rc = flared_cfg_named_map(c, node, "rate_limits", "name: {rate, burst}", "defined",
                                  FLARED_RATE_LIMITS_MAX, &pairs, &n);
    if (rc < 0) return rc;
    flared_rate_limit *rls = flared_cfg_alloc(c, (n ? n : 1) * sizeof *rls);
    flared_cfg_dup *d = flared_cfg_alloc(c, (n ? n : 1) * sizeof *d);
    if (!rls || !d) return flared_cfg_nomem(c);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *k = flared_cfg_node(c, pairs[i].key);
        rc = flared_cfg_string(c, k, "rate_limits", &rls[i].name);
        if (rc == 0)
            rc = parse_limit(c, flared_cfg_node(c, pairs[i].value), "in a rate limit", &rls[i]);
        if (rc < 0) return rc;
        rls[i].key = name_key(KEY_BASIS, rls[i].name, strlen(rls[i].name));
        d[i] = (flared_cfg_dup){rls[i].name, strlen(rls[i].name), k};
    }
    const flared_cfg_dup *first, *dup;
    if (flared_cfg_find_dup(d, n, &first, &dup))
        return flared_cfg_fail(c, dup->node, "rate_limits: '%s' is defined twice; first at line %u",
                               dup->key, flared_cfg_line(first->node));
    c->cfg->rate_limits = rls;
    c->cfg->rate_limit_count = n;
    return 0;
}

int flared_cfg_route_rate_limit(flared_cfg_ctx *c, yaml_node_t *node, flared_route *r)
{
    char shown[FLARED_CFG_SHOW_MAX];
    if (node->type == YAML_SCALAR_NODE && !flared_cfg_is_null(node)) {
        const char *name = (const char *)node->data.scalar.value;
        size_t len = node->data.scalar.length;
        for (size_t i = 0; i < c->cfg->rate_limit_count; i++) {
            const flared_rate_limit *rl = &c->cfg->rate_limits[i];
            if (strlen(rl->name) == len && memcmp(rl->name, name, len) == 0) {
                r->rate_limit = rl;
                return 0;
            }
        }
        return flared_cfg_fail(c, node,
                               "rate_limit: no rate limit named %s; define it under the top-level "
                               "'rate_limits', or give this route its own {rate: 10/s, burst: 20}",
                               flared_cfg_quote(name, len, shown));
    }
    if (node->type != YAML_MAPPING_NODE)
        return flared_cfg_fail(c, node,
                               "rate_limit: expected the name of a rate limit or a mapping "
                               "{rate: 10/s, burst: 20}, got %s",
                               flared_cfg_show(node, shown));
    flared_rate_limit *rl = flared_cfg_alloc(c, sizeof *rl);
    if (!rl) return flared_cfg_nomem(c);
    int rc = parse_limit(c, node, "in rate_limit", rl);
    if (rc < 0) return rc;
    /* Its own budget: apart from every named one and from other routes' own. */
    char place[32];
    int n = snprintf(place, sizeof place, " %u:%u", rl->line, rl->column);
    rl->key = name_key(name_key(KEY_BASIS ^ 1, r->path, strlen(r->path)), place, (size_t)n);
    r->rate_limit = rl;
    return 0;
}

int flared_cfg_rate_limit_entries(flared_cfg_ctx *c, yaml_node_t *node)
{
    uint64_t n;
    int rc = flared_cfg_uint(c, node, "rate_limit_entries", FLARED_RATE_ENTRIES_MIN,
                             FLARED_RATE_ENTRIES_MAX, &n);
    if (rc < 0) return rc;
    uint64_t pow2 = FLARED_RATE_ENTRIES_MIN;
    while (pow2 < n)
        pow2 <<= 1;
    c->cfg->rate_limit_entries = pow2;
    return 0;
}
