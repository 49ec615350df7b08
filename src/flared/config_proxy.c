/*
 * config_proxy.c: the top-level `upstreams` map and the `proxy` route type. An
 * upstream is a named list of servers ("IP:PORT", "[IPv6]:PORT", "HOST:PORT",
 * resolved at load and, with `resolve`, again by the master, or "unix:/absolute/path") with its
 * balancing, keep-alive, timeouts and optional active health checks. A proxy route names an
 * upstream that must exist; its request_headers and hide_headers are config_proxy_fields.c's.
 */
#include "config_internal.h"
#include "config_tls.h"

#include <stdio.h>
#include <string.h>

#include "flare/dns.h"
#include "flare/net.h"
#include "flare/tls.h"

static const char *const upstream_keys[] = {
    "servers",         "balance",      "keepalive", "keepalive_timeout",
    "connect_timeout", "read_timeout", "max_fails", "fail_timeout",
    "health",          "tls",          "resolve",   NULL};
enum {
    K_SERVERS,
    K_BALANCE,
    K_KEEPALIVE,
    K_KEEPALIVE_TIMEOUT,
    K_CONNECT_TIMEOUT,
    K_READ_TIMEOUT,
    K_MAX_FAILS,
    K_FAIL_TIMEOUT,
    K_HEALTH,
    K_TLS,
    K_RESOLVE,
    K_UPSTREAM_KEYS
};

static const char *const balance_names[] = {"round_robin", "least_conn", "ip_hash"};

static const flare_resolver *name_resolver;

void flared_config_set_resolver(const flare_resolver *resolver)
{
    name_resolver = resolver;
}

int flared_config_resolve_name(const char *host, flare_dns_result *out, flare_error *err)
{
    int rc = flare_dns_resolve_within(name_resolver, host, FLARE_DNS_ANY,
                                      FLARED_NAME_LOOKUP_TIMEOUT_MS, out, err);
    if (rc == 0 && out->count == 0)
        rc = flare_error_set(err, FLARE_ERESOLVE, 0, "%s has no address", host);
    return rc;
}

int flared_config_lookup_start(const char *host, int notify_signal, flare_dns_lookup **out,
                               flare_error *err)
{
    return flare_dns_lookup_start(name_resolver, host, FLARE_DNS_ANY, FLARED_NAME_LOOKUP_TIMEOUT_MS,
                                  notify_signal, out, err);
}

/* A server given as HOST:PORT with a host name: resolved now, at load, each address
 * becoming a server of its own, as nginx's `server backend:8080` is (a reload
 * resolves again). Fills room[0..FLARE_DNS_MAX_ADDRS) and returns how many. */
static long resolve_server(flared_cfg_ctx *c, yaml_node_t *node, const char *s, size_t len,
                           const char *shown, flared_upstream_server *room)
{
    const char *colon = memrchr(s, ':', len);
    const char *digits = colon ? colon + 1 : s + len;
    size_t ndigits = (size_t)(s + len - digits);
    unsigned long port = 0;
    bool port_ok = colon && ndigits >= 1 && ndigits <= 5;
    for (size_t i = 0; port_ok && i < ndigits; i++) {
        port_ok = digits[i] >= '0' && digits[i] <= '9';
        port = port * 10 + (unsigned long)(digits[i] - '0');
    }
    port_ok = port_ok && port >= 1 && port <= 65535;
    size_t host_len = colon ? (size_t)(colon - s) : len;
    flare_error err;
    flare_error_clear(&err);
    if (!port_ok || flare_hostname_validate(s, host_len, &err) < 0)
        return flared_cfg_fail(c, node,
                               "servers: invalid %s; use IP:PORT, [IPv6]:PORT, HOST:PORT or "
                               "unix:/path, with a port of 1..65535",
                               shown);
    char *host = flared_cfg_strndup(c, s, host_len);
    if (!host) return flared_cfg_nomem(c);
    flare_dns_result res;
    if (flared_config_resolve_name(host, &res, &err) < 0)
        return flared_cfg_fail(c, node, "servers: cannot resolve %s: %s", shown,
                               err.message[0] ? err.message : "no address");
    for (size_t i = 0; i < res.count; i++) {
        flared_upstream_server *sv = &room[i];
        *sv = (flared_upstream_server){
            .name = s, .line = flared_cfg_line(node), .column = flared_cfg_column(node)};
        sv->addr.ip = res.addrs[i];
        sv->addr.port = (uint16_t)port;
        char text[FLARE_SOCK_ADDR_STR_MAX];
        size_t n = flare_sock_addr_format(&sv->addr, text, sizeof text);
        if (!(sv->address = flared_cfg_strndup(c, text, n))) return flared_cfg_nomem(c);
    }
    return (long)res.count;
}

/* One `servers` item into room[0..FLARE_DNS_MAX_ADDRS); returns how many servers it is. */
static long parse_server(flared_cfg_ctx *c, yaml_node_t *node, flared_upstream_server *room)
{
    char shown[FLARED_CFG_SHOW_MAX];
    const char *s;
    int rc = flared_cfg_string(c, node, "servers", &s);
    if (rc < 0) return rc;
    size_t len = strlen(s);
    flared_upstream_server *sv = room;
    *sv = (flared_upstream_server){
        .address = s, .line = flared_cfg_line(node), .column = flared_cfg_column(node)};
    flared_cfg_quote(s, len, shown);
    if (strncmp(s, "unix:", 5) == 0) {
        if (s[5] != '/')
            return flared_cfg_fail(c, node, "servers: the Unix socket path in %s must be absolute",
                                   shown);
        if (len - 5 > FLARED_UNIX_PATH_MAX)
            return flared_cfg_fail(c, node,
                                   "servers: the Unix socket path is %zu bytes; the limit is %d",
                                   len - 5, FLARED_UNIX_PATH_MAX);
        sv->is_unix = true;
        sv->unix_path = s + 5;
        return 1;
    }
    flare_error net_err;
    flare_error_clear(&net_err);
    if (flare_sock_addr_parse(&sv->addr, s, len, &net_err) < 0) {
        /* Not an address literal: a host name, unless it only looks like a mistyped
         * literal (digits and dots, or brackets), which resolving would not mend. */
        if (len && s[0] != '[' && strspn(s, "0123456789.:") != len)
            return resolve_server(c, node, s, len, shown, room);
        return flared_cfg_fail(c, node,
                               "servers: invalid %s (%s); use IP:PORT, [IPv6]:PORT, HOST:PORT or "
                               "unix:/path",
                               shown, net_err.message);
    }
    if (sv->addr.port == 0)
        return flared_cfg_fail(c, node, "servers: %s has port 0; name the server's port", shown);
    return 1;
}

static int parse_servers(flared_cfg_ctx *c, yaml_node_t *node, flared_upstream *u)
{
    yaml_node_item_t *items;
    size_t n;
    int rc = flared_cfg_seq(c, node, "servers", &items, &n);
    if (rc < 0) return rc;
    if (n == 0) return flared_cfg_fail(c, node, "servers: an upstream needs at least one server");
    if (n > FLARED_UPSTREAM_SERVERS_MAX)
        return flared_cfg_fail(c, node, "servers: %zu listed; an upstream takes at most %d", n,
                               FLARED_UPSTREAM_SERVERS_MAX);
    /* Room for every item to resolve to the most addresses; the config's arena keeps
     * what is not used until the config is freed. */
    flared_upstream_server *sv = flared_cfg_alloc(c, n * FLARE_DNS_MAX_ADDRS * sizeof *sv);
    if (!sv) return flared_cfg_nomem(c);
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = flared_cfg_node(c, items[i]);
        long got = parse_server(c, item, &sv[count]);
        if (got < 0) return (int)got;
        count += (size_t)got;
        if (count > FLARED_UPSTREAM_SERVERS_MAX)
            return flared_cfg_fail(c, item,
                                   "servers: %zu addresses so far; an upstream takes at most %d",
                                   count, FLARED_UPSTREAM_SERVERS_MAX);
    }
    u->servers = sv;
    u->server_count = count;
    return 0;
}

/* `resolve`: the interval at which the master resolves the upstream's host names again
 * (master_resolve.c). 0 keeps the addresses of the load; below a second the master would
 * spend its time on DNS, and reload more often than workers start. */
static int parse_resolve(flared_cfg_ctx *c, yaml_node_t *node, flared_upstream *u)
{
    char shown[FLARED_CFG_SHOW_MAX];
    if (flared_cfg_is_zero_duration(node)) return 0;
    int rc = flared_cfg_duration(c, node, "resolve", &u->resolve_ms);
    if (rc < 0) return rc;
    if (u->resolve_ms < FLARED_RESOLVE_MIN_MS)
        return flared_cfg_fail(c, node,
                               "resolve: %s is too often; resolve again every 1s or more (0: only "
                               "at load)",
                               flared_cfg_show(node, shown));
    for (size_t i = 0; i < u->server_count; i++)
        if (u->servers[i].name) return 0;
    return flared_cfg_fail(c, node,
                           "resolve: upstream '%s' lists no server by host name (only addresses "
                           "and unix: paths), so nothing can change; remove resolve or write a "
                           "server as HOST:PORT",
                           u->name);
}

static int parse_balance(flared_cfg_ctx *c, yaml_node_t *node, flared_upstream *u)
{
    char shown[FLARED_CFG_SHOW_MAX];
    const char *s;
    size_t len;
    int rc = flared_cfg_scalar(c, node, "balance", &s, &len);
    if (rc < 0) return rc;
    for (size_t i = 0; i < sizeof balance_names / sizeof balance_names[0]; i++)
        if (strlen(balance_names[i]) == len && memcmp(balance_names[i], s, len) == 0) {
            u->balance = (flared_balance)i;
            return 0;
        }
    return flared_cfg_fail(c, node, "balance: %s is not one of round_robin, least_conn, ip_hash",
                           flared_cfg_quote(s, len, shown));
}

static int parse_health(flared_cfg_ctx *c, yaml_node_t *node, flared_upstream_health *h)
{
    static const char *const keys[] = {"path", "interval", "fails", "passes", "headers", NULL};
    yaml_node_t *v[5];
    int rc = flared_cfg_map(c, node, "health", "in health", keys, v, NULL, NULL);
    if (rc < 0) return rc;
    *h = (flared_upstream_health){
        .enabled = true, .path = "/", .interval_ms = 5000, .fails = 2, .passes = 2};
    if (v[0]) {
        if ((rc = flared_cfg_string(c, v[0], "path", &h->path)) < 0) return rc;
        if (h->path[0] != '/')
            return flared_cfg_fail(c, v[0], "path: a health check path must start with '/'");
        for (const char *p = h->path; *p; p++)
            if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7F)
                return flared_cfg_fail(c, v[0],
                                       "path: spaces, control and non-ASCII characters must be "
                                       "percent-encoded");
    }
    if (rc == 0 && v[1]) rc = flared_cfg_duration(c, v[1], "interval", &h->interval_ms);
    if (rc == 0 && v[2]) rc = flared_cfg_uint(c, v[2], "fails", 1, 100, &h->fails);
    if (rc == 0 && v[3]) rc = flared_cfg_uint(c, v[3], "passes", 1, 100, &h->passes);
    if (rc == 0 && v[4]) rc = flared_cfg_health_headers(c, v[4], h);
    return rc;
}

static int parse_tls(flared_cfg_ctx *c, yaml_node_t *node, flared_upstream_tls *t)
{
    static const char *const keys[] = {"verify", "ca", "sni", NULL};
    yaml_node_t *v[3] = {NULL, NULL, NULL};
    int rc = flared_cfg_is_null(node)
                 ? 0
                 : flared_cfg_map(c, node, "tls", "in tls", keys, v, NULL, NULL);
    if (rc < 0) return rc;
    *t = (flared_upstream_tls){.enabled = true, .verify = true};
    if (v[0]) rc = flared_cfg_bool(c, v[0], "verify", &t->verify);
    if (rc == 0 && v[1]) rc = flared_cfg_file(c, v[1], "ca", &t->ca);
    if (rc == 0 && v[2]) rc = flared_cfg_string(c, v[2], "sni", &t->sni);
    if (rc == 0 && v[2]) {
        /* Sent in SNI and checked against the certificate: a host name, or an IP literal
         * (checked only, RFC 6066 §3 keeps it out of SNI). */
        size_t len = strlen(t->sni);
        flare_ip_addr ip;
        char shown[FLARED_CFG_SHOW_MAX];
        if (flare_ip_parse(&ip, t->sni, len, NULL) < 0 &&
            flare_hostname_validate(t->sni, len, NULL) < 0)
            return flared_cfg_fail(c, v[2],
                                   "sni: %s is not a host name (like app.internal) or an IP "
                                   "address",
                                   flared_cfg_quote(t->sni, len, shown));
    }
    if (rc < 0 || !v[1]) return rc;
    /* A CA bundle is only known to hold certificates once OpenSSL has read it; each worker
     * reads it again at start, and would fail there, over and over. */
    flare_tls_client_config tc = {.ca_file = t->ca, .verify = FLARE_TLS_VERIFY_PEER};
    flare_tls_client_ctx *ctx = NULL;
    flare_error tls_err;
    flare_error_clear(&tls_err);
    rc = flare_tls_client_ctx_new(&ctx, &tc, &tls_err);
    flare_tls_client_ctx_free(ctx);
    if (rc == FLARE_ENOMEM) return flared_cfg_nomem(c);
    if (rc < 0) return flared_cfg_fail(c, v[1], "ca: %s", tls_err.message);
    return 0;
}

/* A verified certificate must name what the user asked for: a Unix socket's path names no
 * host, so `sni` must say which (flared would otherwise have to make one up). */
static int check_unix_tls_name(flared_cfg_ctx *c, yaml_node_t *node, const flared_upstream *u)
{
    char shown[FLARED_CFG_SHOW_MAX];
    if (!u->tls.verify || u->tls.sni) return 0;
    for (size_t i = 0; i < u->server_count; i++) {
        const char *address = u->servers[i].address;
        if (u->servers[i].is_unix)
            return flared_cfg_fail(c, node,
                                   "tls: server %s is a Unix socket, which names no host to "
                                   "verify the certificate against; set sni to a name the "
                                   "certificate holds (or verify: false)",
                                   flared_cfg_quote(address, strlen(address), shown));
    }
    return 0;
}

static int parse_upstream(flared_cfg_ctx *c, yaml_node_t *key, yaml_node_t *node,
                          flared_upstream *u)
{
    yaml_node_t *v[K_UPSTREAM_KEYS];
    const char *name;
    int rc = flared_cfg_string(c, key, "upstreams", &name);
    if (rc < 0) return rc;
    /* The name is the Host sent upstream unless preserve_host: a host name's characters. */
    size_t name_len = strlen(name);
    for (size_t i = 0; i < name_len; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '.' || ch == '_')) {
            char shown[FLARED_CFG_SHOW_MAX];
            return flared_cfg_fail(c, key,
                                   "upstreams: %s is not a valid name; use letters, digits, '-', "
                                   "'.' and '_' (it is the Host sent upstream)",
                                   flared_cfg_quote(name, name_len, shown));
        }
    }
    char what[96];
    snprintf(what, sizeof what, "in upstream '%.64s'", name);
    if ((rc = flared_cfg_map(c, node, name, what, upstream_keys, v, NULL, NULL)) < 0) return rc;
    *u = (flared_upstream){.name = name,
                           .keepalive = 32,
                           .keepalive_timeout_ms = 60000,
                           .connect_timeout_ms = 5000,
                           .read_timeout_ms = 60000,
                           .max_fails = 1,
                           .fail_timeout_ms = 10000,
                           .line = flared_cfg_line(key),
                           .column = flared_cfg_column(key)};
    if (!v[K_SERVERS]) return flared_cfg_fail(c, node, "upstream: missing required key 'servers'");
    rc = parse_servers(c, v[K_SERVERS], u);
    if (rc == 0 && v[K_BALANCE]) rc = parse_balance(c, v[K_BALANCE], u);
    if (rc == 0 && v[K_KEEPALIVE])
        rc = flared_cfg_uint(c, v[K_KEEPALIVE], "keepalive", 0, 65536, &u->keepalive);
    if (rc == 0 && v[K_KEEPALIVE_TIMEOUT])
        rc = flared_cfg_duration(c, v[K_KEEPALIVE_TIMEOUT], "keepalive_timeout",
                                 &u->keepalive_timeout_ms);
    if (rc == 0 && v[K_CONNECT_TIMEOUT])
        rc =
            flared_cfg_duration(c, v[K_CONNECT_TIMEOUT], "connect_timeout", &u->connect_timeout_ms);
    if (rc == 0 && v[K_READ_TIMEOUT])
        rc = flared_cfg_duration(c, v[K_READ_TIMEOUT], "read_timeout", &u->read_timeout_ms);
    if (rc == 0 && v[K_MAX_FAILS])
        rc = flared_cfg_uint(c, v[K_MAX_FAILS], "max_fails", 1, 1000, &u->max_fails);
    if (rc == 0 && v[K_FAIL_TIMEOUT])
        rc = flared_cfg_duration(c, v[K_FAIL_TIMEOUT], "fail_timeout", &u->fail_timeout_ms);
    if (rc == 0 && v[K_HEALTH]) rc = parse_health(c, v[K_HEALTH], &u->health);
    if (rc == 0 && v[K_TLS]) rc = parse_tls(c, v[K_TLS], &u->tls);
    if (rc == 0 && v[K_TLS]) rc = check_unix_tls_name(c, v[K_TLS], u);
    if (rc == 0 && v[K_RESOLVE]) rc = parse_resolve(c, v[K_RESOLVE], u);
    return rc;
}

int flared_cfg_upstreams(flared_cfg_ctx *c, yaml_node_t *node)
{
    yaml_node_pair_t *pairs;
    size_t n;
    int rc = flared_cfg_named_map(c, node, "upstreams", "name: settings", "defined",
                                  FLARED_UPSTREAMS_MAX, &pairs, &n);
    if (rc < 0) return rc;
    flared_upstream *us = flared_cfg_alloc(c, (n ? n : 1) * sizeof *us);
    flared_cfg_dup *d = flared_cfg_alloc(c, (n ? n : 1) * sizeof *d);
    if (!us || !d) return flared_cfg_nomem(c);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *k = flared_cfg_node(c, pairs[i].key);
        rc = parse_upstream(c, k, flared_cfg_node(c, pairs[i].value), &us[i]);
        if (rc < 0) return rc;
        d[i] = (flared_cfg_dup){us[i].name, strlen(us[i].name), k};
    }
    const flared_cfg_dup *first, *dup;
    if (flared_cfg_find_dup(d, n, &first, &dup))
        return flared_cfg_fail(c, dup->node, "upstreams: '%s' is defined twice; first at line %u",
                               dup->key, flared_cfg_line(first->node));
    c->cfg->upstreams = us;
    c->cfg->upstream_count = n;
    return 0;
}

int flared_cfg_proxy(flared_cfg_ctx *c, yaml_node_t *node, const flared_route *r,
                     flared_proxy_route *p)
{
    static const char *const keys[] = {"upstream", "strip_prefix",    "preserve_host",
                                       "gzip",     "request_headers", "hide_headers",
                                       NULL};
    yaml_node_t *v[6];
    char shown[FLARED_CFG_SHOW_MAX];
    if (flared_cfg_is_null(node))
        return flared_cfg_fail(c, node, "proxy: missing required key 'upstream'");
    int rc = flared_cfg_map(c, node, "proxy", "in proxy", keys, v, NULL, NULL);
    if (rc < 0) return rc;
    if (!v[0]) return flared_cfg_fail(c, node, "proxy: missing required key 'upstream'");
    const char *name;
    size_t len;
    if ((rc = flared_cfg_scalar(c, v[0], "upstream", &name, &len)) < 0) return rc;
    for (size_t i = 0; i < c->cfg->upstream_count; i++)
        if (strlen(c->cfg->upstreams[i].name) == len &&
            memcmp(c->cfg->upstreams[i].name, name, len) == 0)
            p->upstream = &c->cfg->upstreams[i];
    if (!p->upstream)
        return flared_cfg_fail(c, v[0],
                               "upstream: no upstream named %s; define it under the top-level "
                               "'upstreams'",
                               flared_cfg_quote(name, len, shown));
    if (v[1] && (rc = flared_cfg_bool(c, v[1], "strip_prefix", &p->strip_prefix)) < 0) return rc;
    if (p->strip_prefix && !r->is_prefix)
        return flared_cfg_fail(c, v[1],
                               "strip_prefix: route '%s' is an exact path, with no prefix to "
                               "strip; end it with '/' to make it a prefix route",
                               r->path);
    if (v[2] && (rc = flared_cfg_bool(c, v[2], "preserve_host", &p->preserve_host)) < 0) return rc;
    flared_cfg_gzip_defaults(&p->gzip);
    if (v[3] && (rc = flared_cfg_gzip(c, v[3], &p->gzip)) < 0) return rc;
    return flared_cfg_proxy_fields(c, v[4], v[5], v[2], p);
}
