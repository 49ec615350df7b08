/*
 * master_resolve.c: `resolve` (an upstream's interval, nginx's `server NAME resolve`). The
 * master resolves the host names among such an upstream's servers again with the resolver
 * and the bound config load uses, but in the background (flare_dns_lookup_start: glibc's
 * threads wait on DNS, LOOKUP_DONE_SIGNAL on the signalfd says an answer is in), so that the
 * loop goes on acting on signals and worker exits. One upstream's names at a time: a round.
 * When a name's address set (sorted: an answer in another order is no change) differs from
 * the one the workers were started with, the new addresses go into the running config
 * (flared_config_set_servers) and master.c starts workers on it, as a HUP does but without
 * reading the file: the workers stay reactors that never wait on DNS. A failed lookup, or one
 * not answered within FLARED_NAME_LOOKUP_TIMEOUT_MS, keeps the running addresses, as nginx
 * keeps the last good answer; it never takes servers away.
 */
#include "master_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "flare/runtime.h"
#include "log.h"

/* Enough for FLARE_DNS_MAX_ADDRS IPv6 addresses with zones, separated by ", ". */
#define ADDRS_TEXT_MAX (FLARE_DNS_MAX_ADDRS * (FLARE_IP_STR_MAX + 2))

void flared_master__resolve_cancel(master *m)
{
    resolve_round *r = &m->round;
    for (size_t k = 0; k < r->count; k++)
        flare_dns_lookup_free(r->lookup[k]);
    r->count = 0;
    r->running = false;
}

void flared_master__resolve_schedule(master *m)
{
    flared_master__resolve_cancel(m); /* its upstream is one of the config it started on */
    uint64_t now = flare_monotonic_ms();
    for (size_t i = 0; i < m->cfg->upstream_count; i++) {
        uint64_t every = m->cfg->upstreams[i].resolve_ms;
        m->resolve_due[i] = every ? now + every : 0;
    }
}

uint64_t flared_master__resolve_next(const master *m)
{
    if (m->round.running) return m->round.deadline;
    uint64_t next = UINT64_MAX;
    for (size_t i = 0; i < m->cfg->upstream_count; i++)
        if (m->resolve_due[i] && m->resolve_due[i] < next) next = m->resolve_due[i];
    return next;
}

static int ip_order(const void *a, const void *b)
{
    return flare_ip_compare(a, b);
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

/* The addresses of the host-name entry sv[0..count), sorted, into was. */
static void entry_addrs(const flared_upstream_server *sv, size_t count, flare_ip_addr *was)
{
    for (size_t i = 0; i < count; i++)
        was[i] = sv[i].addr.ip;
    qsort(was, count, sizeof was[0], ip_order);
}

/* A lookup of the entry sv[0..count) ("HOST:PORT") failed: a warning, and no change. */
static void warn_unresolved(const flared_upstream *u, const flared_upstream_server *sv,
                            size_t count, const flare_error *err)
{
    flare_ip_addr was[FLARE_DNS_MAX_ADDRS];
    char was_text[ADDRS_TEXT_MAX];
    entry_addrs(sv, count, was);
    flared_log(FLARED_LOG_WARN, "upstream '%s': cannot resolve %s again (%s); keeping %s", u->name,
               sv->name, err->message, addrs_text(was, count, was_text));
}

/* True when the answer for the entry sv[0..count) holds another address set than the one
 * it has; then *sorted is the answer sorted (the servers keep the answer's order). */
static bool entry_changed(const flared_upstream_server *sv, size_t count,
                          const flare_dns_result *answer, flare_dns_result *sorted)
{
    flare_ip_addr was[FLARE_DNS_MAX_ADDRS];
    entry_addrs(sv, count, was);
    *sorted = *answer;
    qsort(sorted->addrs, sorted->count, sizeof sorted->addrs[0], ip_order);
    return !same_set(was, count, sorted->addrs, sorted->count);
}

/* Starts the lookups of the host names of upstream `index`. One that cannot start is a failed
 * lookup at once. */
static void start_round(master *m, size_t index)
{
    resolve_round *r = &m->round;
    const flared_upstream *u = &m->cfg->upstreams[index];
    r->running = true;
    r->upstream = index;
    r->count = 0;
    for (size_t k = 0, n; k < u->server_count; k += n) {
        n = entry_length(u, k);
        const flared_upstream_server *sv = &u->servers[k];
        if (!sv->name) continue;
        char host[FLARE_HOSTNAME_MAX + 2];
        const char *colon = strrchr(sv->name, ':');
        snprintf(host, sizeof host, "%.*s", (int)(colon - sv->name), sv->name);
        flare_error err;
        flare_error_clear(&err);
        int rc = flared_config_lookup_start(host, LOOKUP_DONE_SIGNAL, &r->lookup[r->count], &err);
        if (rc < 0) {
            warn_unresolved(u, sv, n, &err);
            continue;
        }
        r->first[r->count++] = k;
    }
    /* After every lookup started: at the deadline each of them has timed out. */
    r->deadline = flare_monotonic_ms() + FLARED_NAME_LOOKUP_TIMEOUT_MS;
}

/* The upstream's servers with the new addresses of every name whose set changed, into
 * out[0..); returns how many, or 0 when no set changed. out has room for the servers of
 * the names not looked up and FLARE_DNS_MAX_ADDRS for each looked up. */
static size_t servers_answered(const master *m, uint64_t now, flared_upstream_server *out)
{
    const resolve_round *r = &m->round;
    const flared_upstream *u = &m->cfg->upstreams[r->upstream];
    size_t count = 0, j = 0;
    bool changed = false;
    for (size_t k = 0, n; k < u->server_count; k += n) {
        n = entry_length(u, k);
        const flared_upstream_server *sv = &u->servers[k];
        if (j < r->count && r->first[j] == k) {
            flare_dns_result answer;
            flare_error err;
            flare_error_clear(&err);
            flare_dns_result sorted;
            int rc = flare_dns_lookup_result(r->lookup[j++], now, &answer, &err);
            if (rc < 0) warn_unresolved(u, sv, n, &err);
            if (rc == 0 && entry_changed(sv, n, &answer, &sorted)) {
                for (size_t a = 0; a < answer.count; a++) {
                    out[count] = *sv;
                    out[count++].addr.ip = answer.addrs[a];
                }
                changed = true;
                continue;
            }
        }
        memcpy(&out[count], sv, n * sizeof *sv);
        count += n;
    }
    return changed ? count : 0;
}

/* Logs each name of the round whose address set changed, once end_round knows what comes
 * of it: "; reloading" ends the lines only when the workers are to follow. u is the
 * upstream as the round found it (the lookups' entries index its servers). */
static void log_changes(const master *m, const flared_upstream *u, uint64_t now, bool reloading)
{
    const resolve_round *r = &m->round;
    for (size_t j = 0; j < r->count; j++) {
        const flared_upstream_server *sv = &u->servers[r->first[j]];
        size_t n = entry_length(u, r->first[j]);
        flare_dns_result answer, sorted;
        if (flare_dns_lookup_result(r->lookup[j], now, &answer, NULL) < 0 ||
            !entry_changed(sv, n, &answer, &sorted))
            continue;
        flare_ip_addr was[FLARE_DNS_MAX_ADDRS];
        char was_text[ADDRS_TEXT_MAX], now_text[ADDRS_TEXT_MAX];
        entry_addrs(sv, n, was);
        flared_log(FLARED_LOG_INFO, "upstream '%s': %s now resolves to %s (was %s)%s", u->name,
                   sv->name, addrs_text(sorted.addrs, sorted.count, now_text),
                   addrs_text(was, n, was_text), reloading ? "; reloading" : "");
    }
}

/* Every lookup of the round has answered or timed out: true when the running config now
 * holds new addresses (m->undo says what they replaced). */
static bool end_round(master *m, uint64_t now)
{
    resolve_round *r = &m->round;
    const flared_upstream *u = &m->cfg->upstreams[r->upstream];
    flared_upstream_server *next =
        malloc((u->server_count + r->count * FLARE_DNS_MAX_ADDRS) * sizeof *next);
    size_t count = next ? servers_answered(m, now, next) : 0;
    flare_error err;
    bool changed = false;
    if (!next) {
        flared_log(FLARED_LOG_ERROR, "upstream '%s': out of memory resolving its names again",
                   u->name);
    } else if (count > FLARED_UPSTREAM_SERVERS_MAX) {
        log_changes(m, u, now, false);
        flared_log(FLARED_LOG_WARN,
                   "upstream '%s': the new addresses make %zu servers, more than %d; keeping "
                   "the running ones",
                   u->name, count, FLARED_UPSTREAM_SERVERS_MAX);
    } else if (count > 0) {
        flared_upstream found = *u; /* its servers stay, for m->undo */
        resolve_undo undo = {r->upstream, u->servers, u->server_count};
        changed = flared_config_set_servers(m->cfg, r->upstream, next, count, &err) == 0;
        log_changes(m, &found, now, changed);
        if (changed)
            m->undo = undo;
        else
            flared_log(FLARED_LOG_ERROR, "%s; keeping the running addresses", err.message);
    }
    free(next);
    /* Counted from the end of the lookups: a slow resolver never makes them closer. */
    m->resolve_due[r->upstream] = flare_monotonic_ms() + u->resolve_ms;
    flared_master__resolve_cancel(m);
    return changed;
}

bool flared_master__resolve_step(master *m, uint64_t now)
{
    resolve_round *r = &m->round;
    for (size_t i = 0; i < m->cfg->upstream_count && !r->running; i++)
        if (m->resolve_due[i] && m->resolve_due[i] <= now) start_round(m, i);
    if (!r->running) return false;
    flare_dns_result answer;
    for (size_t k = 0; k < r->count; k++)
        if (flare_dns_lookup_result(r->lookup[k], now, &answer, NULL) == FLARE_EAGAIN) return false;
    return end_round(m, now);
}

void flared_master__resolve_undo(master *m)
{
    if (!m->undo.servers) return;
    flare_error err;
    if (flared_config_set_servers(m->cfg, m->undo.upstream, m->undo.servers, m->undo.count, &err) <
        0)
        flared_log(FLARED_LOG_ERROR, "%s", err.message);
    m->undo.servers = NULL;
}
