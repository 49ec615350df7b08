/*
 * master_resolve.c: `resolve` (an upstream's interval, nginx's `server NAME resolve`). The
 * master resolves the host names among such an upstream's servers again with the resolver
 * config load uses, and when a name's address set (sorted: an answer in another order is
 * no change) differs from the one the workers were started with, master.c reloads, as a HUP
 * does: the workers stay reactors that never wait on DNS. A failed lookup keeps the running
 * addresses, as nginx keeps the last good answer; it never takes servers away.
 */
#include "master_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "flare/runtime.h"
#include "log.h"

/* Enough for FLARE_DNS_MAX_ADDRS IPv6 addresses with zones, separated by ", ". */
#define ADDRS_TEXT_MAX (FLARE_DNS_MAX_ADDRS * 64)

void flared_master__resolve_schedule(master *m)
{
    uint64_t now = flare_monotonic_ms();
    for (size_t i = 0; i < m->cfg->upstream_count; i++) {
        uint64_t every = m->cfg->upstreams[i].resolve_ms;
        m->resolve_due[i] = every ? now + every : 0;
    }
}

uint64_t flared_master__resolve_next(const master *m)
{
    uint64_t next = UINT64_MAX;
    for (size_t i = 0; i < m->cfg->upstream_count; i++)
        if (m->resolve_due[i] && m->resolve_due[i] < next) next = m->resolve_due[i];
    return next;
}

static int ip_order(const void *a, const void *b)
{
    const flare_ip_addr *x = a, *y = b;
    if (x->family != y->family) return x->family < y->family ? -1 : 1;
    int c = memcmp(x->bytes, y->bytes, x->family == AF_INET ? 4 : sizeof x->bytes);
    if (c != 0) return c;
    return x->scope_id < y->scope_id ? -1 : x->scope_id > y->scope_id;
}

static bool same_set(const flare_ip_addr *a, size_t a_count, const flare_ip_addr *b, size_t b_count)
{
    if (a_count != b_count) return false;
    for (size_t i = 0; i < a_count; i++)
        if (!flare_ip_equal(&a[i], &b[i])) return false;
    return true;
}

/* "127.0.0.2, 127.0.0.3" */
static const char *addrs_text(const flare_ip_addr *ips, size_t count, char out[ADDRS_TEXT_MAX])
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        if (i > 0) used += (size_t)snprintf(out + used, ADDRS_TEXT_MAX - used, ", ");
        used += flare_ip_format(&ips[i], out + used, ADDRS_TEXT_MAX - used);
    }
    return out;
}

/* The servers one `servers` entry became: a host name's addresses share its name, as
 * resolve_server (config_proxy.c) wrote them, one after the other. */
static size_t entry_length(const flared_upstream *u, size_t first)
{
    size_t n = 1;
    while (u->servers[first].name && first + n < u->server_count &&
           u->servers[first + n].name == u->servers[first].name)
        n++;
    return n;
}

/* The host-name entry sv[0..count) ("HOST:PORT") resolved again: true when its address set
 * changed (logged). A failed lookup is a warning and no change. */
static bool entry_changed(const flared_upstream *u, const flared_upstream_server *sv, size_t count)
{
    char host[FLARE_HOSTNAME_MAX + 2];
    const char *colon = strrchr(sv->name, ':');
    snprintf(host, sizeof host, "%.*s", (int)(colon - sv->name), sv->name);
    flare_ip_addr was[FLARE_DNS_MAX_ADDRS];
    for (size_t i = 0; i < count; i++)
        was[i] = sv[i].addr.ip;
    qsort(was, count, sizeof was[0], ip_order);
    char was_text[ADDRS_TEXT_MAX], now_text[ADDRS_TEXT_MAX];
    flare_dns_result now;
    flare_error err;
    flare_error_clear(&err);
    if (flared_config_resolve_name(host, &now, &err) < 0) {
        flared_log(FLARED_LOG_WARN, "upstream '%s': cannot resolve %s again (%s); keeping %s",
                   u->name, sv->name, err.message, addrs_text(was, count, was_text));
        return false;
    }
    qsort(now.addrs, now.count, sizeof now.addrs[0], ip_order);
    if (same_set(was, count, now.addrs, now.count)) return false;
    flared_log(FLARED_LOG_INFO, "upstream '%s': %s now resolves to %s (was %s); reloading", u->name,
               sv->name, addrs_text(now.addrs, now.count, now_text),
               addrs_text(was, count, was_text));
    return true;
}

/* One upstream per call: with several due, the loop turns between them, so a signal waits
 * for one upstream's lookups at most, not for every name of the config on a DNS outage. */
bool flared_master__resolve_due(master *m, uint64_t now)
{
    for (size_t i = 0; i < m->cfg->upstream_count; i++) {
        if (!m->resolve_due[i] || m->resolve_due[i] > now) continue;
        const flared_upstream *u = &m->cfg->upstreams[i];
        bool changed = false;
        for (size_t k = 0, n; k < u->server_count; k += n) {
            n = entry_length(u, k);
            if (u->servers[k].name) changed |= entry_changed(u, &u->servers[k], n);
        }
        /* Counted from the end of the lookups: a slow resolver never makes them closer. */
        m->resolve_due[i] = flare_monotonic_ms() + u->resolve_ms;
        return changed;
    }
    return false;
}
