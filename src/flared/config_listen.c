/*
 * config_listen.c: the `listeners` list. An address is an IP literal and port
 * (parsed by the net layer, so the daemon and libflare agree on the syntax) or
 * "unix:" and an absolute socket path. Two listeners never share an address,
 * except port 0, which asks the kernel for a fresh port each time. A `tls`
 * block (config_tls.c) makes the listener serve HTTPS.
 */
#include "config_internal.h"
#include "config_tls.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/stat.h>

#include "flare/net.h"

#define MAX_LISTENERS   1024
#define DEFAULT_BACKLOG 4096

static const char *const listener_keys[] = {
    "address",        "reuseport",    "backlog",        "tls",
    "proxy_protocol", "defer_accept", "https_redirect", NULL};
enum {
    K_ADDRESS,
    K_REUSEPORT,
    K_BACKLOG,
    K_TLS,
    K_PROXY_PROTOCOL,
    K_DEFER_ACCEPT,
    K_HTTPS_REDIRECT,
    K_LISTENER_KEYS
};

#define REDIRECT_EXCEPT_MAX 64
/* An ACME http-01 challenge (RFC 8555 §8.3) must be answered over clear text. */
static const char *const acme_challenge[] = {"/.well-known/acme-challenge/"};

/* An `except` entry: an origin-form path prefix, without query or fragment. */
static bool is_path_prefix(const char *s)
{
    if (s[0] != '/') return false;
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f || *s == '?' || *s == '#')
            return false;
    return true;
}

static int parse_redirect_except(flared_cfg_ctx *c, yaml_node_t *node,
                                 flare_http_https_redirect *hr)
{
    char shown[FLARED_CFG_SHOW_MAX];
    yaml_node_item_t *items;
    size_t n;
    int rc = flared_cfg_seq_max(c, node, "except", "prefixes", REDIRECT_EXCEPT_MAX, &items, &n);
    if (rc < 0) return rc;
    const char **except = flared_cfg_alloc(c, (n ? n : 1) * sizeof *except);
    if (!except) return flared_cfg_nomem(c);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = flared_cfg_node(c, items[i]);
        rc = flared_cfg_string(c, item, "except", &except[i]);
        if (rc < 0) return rc;
        if (!is_path_prefix(except[i]))
            return flared_cfg_fail(c, item,
                                   "except: %s is not a path prefix; write one that starts with "
                                   "'/', without spaces, '?' or '#', e.g. "
                                   "/.well-known/acme-challenge/",
                                   flared_cfg_show(item, shown));
    }
    hr->except = except;
    hr->except_count = n;
    return 0;
}

/* `https_redirect: true` or {port, status, except}: the listener sends every request
 * to the HTTPS site; `false` leaves it off. */
static int parse_https_redirect(flared_cfg_ctx *c, yaml_node_t *node, flared_listener *l)
{
    static const char *const keys[] = {"port", "status", "except", NULL};
    enum { K_PORT, K_STATUS, K_EXCEPT, K_KEYS };
    char shown[FLARED_CFG_SHOW_MAX];
    flare_http_https_redirect *hr = flared_cfg_alloc(c, sizeof *hr);
    if (!hr) return flared_cfg_nomem(c);
    *hr = (flare_http_https_redirect){
        .port = 443, .status = 301, .except = acme_challenge, .except_count = 1};
    int rc;
    if (node->type == YAML_SCALAR_NODE && !flared_cfg_is_null(node)) {
        bool on;
        rc = flared_cfg_bool(c, node, "https_redirect", &on);
        if (rc < 0) return rc;
        l->https_redirect = on ? hr : NULL;
        return 0;
    }
    yaml_node_t *v[K_KEYS];
    rc = flared_cfg_map(c, node, "https_redirect", "in https_redirect", keys, v, NULL, NULL);
    if (rc < 0) return rc;
    uint64_t num;
    if (v[K_PORT]) {
        rc = flared_cfg_uint(c, v[K_PORT], "port", 1, 65535, &num);
        if (rc < 0) return rc;
        hr->port = (uint16_t)num;
    }
    if (v[K_STATUS]) {
        rc = flared_cfg_uint(c, v[K_STATUS], "status", 0, 999, &num);
        if (rc < 0) return rc;
        if (num != 301 && num != 302 && num != 307 && num != 308)
            return flared_cfg_fail(c, v[K_STATUS],
                                   "status: %s is not a redirect status; use 301, 302, 307 or "
                                   "308 (307 and 308 keep the method and body)",
                                   flared_cfg_show(v[K_STATUS], shown));
        hr->status = (uint16_t)num;
    }
    if (v[K_EXCEPT]) {
        rc = parse_redirect_except(c, v[K_EXCEPT], hr);
        if (rc < 0) return rc;
    }
    l->https_redirect = hr;
    return 0;
}

static int parse_address(flared_cfg_ctx *c, yaml_node_t *node, flared_listener *l)
{
    char shown[FLARED_CFG_SHOW_MAX];
    const char *s;
    int rc = flared_cfg_string(c, node, "address", &s);
    if (rc < 0) return rc;
    l->address = s;
    size_t len = strlen(s);
    if (strncmp(s, "unix:", 5) == 0) {
        const char *path = s + 5;
        if (path[0] != '/')
            return flared_cfg_fail(c, node, "address: the Unix socket path in %s must be absolute",
                                   flared_cfg_quote(s, len, shown));
        if (len - 5 > FLARED_UNIX_PATH_MAX)
            return flared_cfg_fail(c, node,
                                   "address: the Unix socket path is %zu bytes; the limit is %d",
                                   len - 5, FLARED_UNIX_PATH_MAX);
        /* bind(2) creates the socket file but not its directory: a start would fail. */
        char dir[FLARED_UNIX_PATH_MAX + 1] = "/";
        size_t dlen = (size_t)(strrchr(path, '/') - path);
        if (dlen) {
            memcpy(dir, path, dlen);
            dir[dlen] = '\0';
        }
        struct stat st;
        int e = stat(dir, &st) < 0 ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
        if (e)
            return flared_cfg_fail(c, node, "address: the directory %s of the Unix socket: %s",
                                   flared_cfg_quote(dir, strlen(dir), shown), strerror(e));
        /* The start replaces only a stale socket there (master_sockets.c); over a file or
         * a directory ("unix:/run/") bind(2) fails with a misleading EADDRINUSE. */
        if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
            return flared_cfg_fail(c, node,
                                   "address: %s exists and is not a socket; flared only replaces "
                                   "a socket there: name a new file",
                                   flared_cfg_quote(path, len - 5, shown));
        l->kind = FLARED_LISTENER_UNIX;
        l->unix_path = path;
        return 0;
    }
    flare_error net_err;
    flare_error_clear(&net_err);
    if (flare_sock_addr_parse(&l->addr, s, len, &net_err) < 0)
        return flared_cfg_fail(c, node,
                               "address: invalid %s (%s); use IP:PORT, [IPv6]:PORT or "
                               "unix:/path",
                               flared_cfg_quote(s, len, shown), net_err.message);
    /* IPv6 listeners are IPV6_V6ONLY, and such a socket refuses to bind an IPv4-mapped
     * address (RFC 4291 §2.5.5.2) with EINVAL: the IPv4 address is what to listen on. */
    flare_ip_addr v4 = flare_ip_unmap(&l->addr.ip);
    if (flare_ip_is_v6(&l->addr.ip) && flare_ip_is_v4(&v4)) {
        char ip[INET6_ADDRSTRLEN];
        flare_ip_format(&v4, ip, sizeof ip);
        return flared_cfg_fail(c, node,
                               "address: %s is an IPv4-mapped IPv6 address, which an IPv6 "
                               "listener cannot bind; write %s:%u",
                               flared_cfg_quote(s, len, shown), ip, (unsigned)l->addr.port);
    }
    l->kind = FLARED_LISTENER_INET;
    return 0;
}

/* The identity two listeners must not share, as bytes for flared_cfg_find_dup. */
typedef struct listener_key {
    unsigned char bytes[1 + 16 + 4 + 2];
} listener_key;

static size_t inet_key(const flared_listener *l, listener_key *k)
{
    const flare_ip_addr *ip = &l->addr.ip;
    k->bytes[0] = ip->family == AF_INET6 ? 6 : 4;
    memcpy(k->bytes + 1, ip->bytes, 16);
    /* The kernel binds to the scope's interface only for a link-local address; elsewhere
     * "[::1%lo]" is "[::1]", and a second bind of it would fail. */
    uint32_t scope = flare_ip_is_link_local(ip) ? ip->scope_id : 0;
    memcpy(k->bytes + 17, &scope, 4);
    memcpy(k->bytes + 21, &l->addr.port, 2);
    return sizeof k->bytes;
}

/* The socket file a Unix listener binds, spelled one way: its directory resolved (so
 * "/run//x.sock" and "/run/./x.sock" are "/run/x.sock"); as written when that fails. */
static const char *unix_identity(flared_cfg_ctx *c, const flared_listener *l)
{
    const char *path = l->unix_path, *base = strrchr(path, '/') + 1;
    char dir[PATH_MAX];
    size_t dlen = (size_t)(base - path);
    if (dlen >= sizeof dir) return l->address;
    memcpy(dir, path, dlen);
    dir[dlen] = '\0';
    char *real = realpath(dir, NULL);
    if (!real) return l->address;
    size_t rlen = strlen(real), blen = strlen(base);
    char *id = flared_cfg_alloc(c, 5 + rlen + 1 + blen + 1);
    if (id)
        snprintf(id, 5 + rlen + 1 + blen + 1, "unix:%s/%s", strcmp(real, "/") ? real : "", base);
    free(real);
    return id ? id : l->address;
}

static bool is_wildcard(const flare_ip_addr *ip)
{
    size_t n = ip->family == AF_INET6 ? 16 : 4;
    for (size_t i = 0; i < n; i++)
        if (ip->bytes[i]) return false;
    return true;
}

/* A wildcard address takes its port on every address of its family (IPv6 listeners are
 * V6ONLY): a second listener on that port could not be bound beside it, unless both share
 * the port with SO_REUSEPORT. */
static int check_wildcards(flared_cfg_ctx *c, const flared_listener *ls, yaml_node_t **addr_nodes,
                           size_t n)
{
    char shown[FLARED_CFG_SHOW_MAX], other[FLARED_CFG_SHOW_MAX];
    for (size_t i = 0; i < n; i++) {
        const flared_listener *a = &ls[i];
        if (a->kind != FLARED_LISTENER_INET || a->addr.port == 0) continue;
        for (size_t j = 0; j < i; j++) {
            const flared_listener *b = &ls[j];
            if (b->kind != FLARED_LISTENER_INET || b->addr.port != a->addr.port ||
                b->addr.ip.family != a->addr.ip.family || (a->reuseport && b->reuseport) ||
                !(is_wildcard(&a->addr.ip) || is_wildcard(&b->addr.ip)))
                continue;
            return flared_cfg_fail(
                c, addr_nodes[i],
                "address: %s overlaps %s at line %u, column %u: a wildcard "
                "address holds the port on every address; listen on one of "
                "them, or set reuseport on both",
                flared_cfg_show(addr_nodes[i], shown), flared_cfg_show(addr_nodes[j], other),
                flared_cfg_line(addr_nodes[j]), flared_cfg_column(addr_nodes[j]));
        }
    }
    return 0;
}

static int check_unique(flared_cfg_ctx *c, flared_listener *ls, yaml_node_t **addr_nodes, size_t n)
{
    flared_cfg_dup *d = flared_cfg_alloc(c, n * sizeof *d);
    listener_key *keys = flared_cfg_alloc(c, n * sizeof *keys);
    if (!d || !keys) return flared_cfg_nomem(c);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (ls[i].kind == FLARED_LISTENER_UNIX) {
            /* "unix:" itself is the prefix that keeps paths apart from inet keys. */
            const char *id = unix_identity(c, &ls[i]);
            d[m] = (flared_cfg_dup){id, strlen(id), addr_nodes[i]};
        } else {
            if (ls[i].addr.port == 0) continue;
            size_t klen = inet_key(&ls[i], &keys[i]);
            d[m] = (flared_cfg_dup){(const char *)keys[i].bytes, klen, addr_nodes[i]};
        }
        m++;
    }
    const flared_cfg_dup *first, *dup;
    char shown[FLARED_CFG_SHOW_MAX];
    if (flared_cfg_find_dup(d, m, &first, &dup))
        return flared_cfg_fail(c, dup->node, "address: %s is already used at line %u, column %u",
                               flared_cfg_show(dup->node, shown), flared_cfg_line(first->node),
                               flared_cfg_column(first->node));
    return check_wildcards(c, ls, addr_nodes, n);
}

int flared_cfg_listeners(flared_cfg_ctx *c, yaml_node_t *node, yaml_node_t *root)
{
    if (!node)
        return flared_cfg_fail(c, root,
                               "no listeners; add a 'listeners' list, e.g. "
                               "listeners: [{address: 127.0.0.1:8080}]");
    yaml_node_item_t *items;
    size_t n;
    int rc = flared_cfg_seq(c, node, "listeners", &items, &n);
    if (rc < 0) return rc;
    if (n == 0) return flared_cfg_fail(c, node, "listeners: at least one listener is required");
    if (n > MAX_LISTENERS)
        return flared_cfg_fail(c, node, "listeners: more than %d listeners", MAX_LISTENERS);
    flared_listener *ls = flared_cfg_alloc(c, n * sizeof *ls);
    yaml_node_t **addr_nodes = flared_cfg_alloc(c, n * sizeof *addr_nodes);
    if (!ls || !addr_nodes) return flared_cfg_nomem(c);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = flared_cfg_node(c, items[i]), *v[K_LISTENER_KEYS];
        flared_listener *l = &ls[i];
        rc = flared_cfg_map(c, item, "listener", "in a listener", listener_keys, v, NULL, NULL);
        if (rc < 0) return rc;
        if (!v[K_ADDRESS])
            return flared_cfg_fail(c, item, "listener: missing required key 'address'");
        l->line = flared_cfg_line(item);
        l->column = flared_cfg_column(item);
        l->backlog = DEFAULT_BACKLOG;
        addr_nodes[i] = v[K_ADDRESS];
        rc = parse_address(c, v[K_ADDRESS], l);
        if (rc == 0 && v[K_REUSEPORT])
            rc = flared_cfg_bool(c, v[K_REUSEPORT], "reuseport", &l->reuseport);
        /* SO_REUSEPORT spreads TCP connections over sockets; a Unix path binds only once. */
        if (rc == 0 && l->reuseport && l->kind == FLARED_LISTENER_UNIX)
            rc = flared_cfg_fail(c, v[K_REUSEPORT],
                                 "reuseport: only IP listeners can share a port; remove it here");
        if (rc == 0 && v[K_BACKLOG]) {
            uint64_t backlog = DEFAULT_BACKLOG;
            rc = flared_cfg_uint(c, v[K_BACKLOG], "backlog", 1, 65535, &backlog);
            l->backlog = (int)backlog;
        }
        if (rc == 0 && v[K_TLS]) rc = flared_cfg_tls(c, v[K_TLS], &l->tls);
        if (rc == 0 && v[K_PROXY_PROTOCOL])
            rc = flared_cfg_bool(c, v[K_PROXY_PROTOCOL], "proxy_protocol", &l->proxy_protocol);
        if (rc == 0 && v[K_DEFER_ACCEPT])
            rc = flared_cfg_bool(c, v[K_DEFER_ACCEPT], "defer_accept", &l->defer_accept);
        /* TCP_DEFER_ACCEPT is a TCP option; a Unix socket has no handshake to defer. */
        if (rc == 0 && l->defer_accept && l->kind == FLARED_LISTENER_UNIX)
            rc = flared_cfg_fail(c, v[K_DEFER_ACCEPT],
                                 "defer_accept: only IP listeners can defer accept; remove it "
                                 "here");
        if (rc == 0 && v[K_HTTPS_REDIRECT]) rc = parse_https_redirect(c, v[K_HTTPS_REDIRECT], l);
        /* Sending TLS visitors to TLS would loop; a Unix socket has no port to send to. */
        if (rc == 0 && l->https_redirect && (l->tls || l->kind == FLARED_LISTENER_UNIX))
            rc = flared_cfg_fail(c, v[K_HTTPS_REDIRECT],
                                 "https_redirect: only a clear-text IP listener can send its "
                                 "visitors to HTTPS; remove it from this %s listener",
                                 l->tls ? "TLS" : "Unix socket");
        if (rc < 0) return rc;
    }
    /* workers is read before the listeners: each reuseport listener is that many sockets. */
    size_t sockets = 0;
    for (size_t i = 0; i < n; i++) {
        sockets += ls[i].reuseport ? c->cfg->workers : 1;
        if (sockets > FLARED_LISTEN_SOCKETS_MAX)
            return flared_cfg_fail(c, addr_nodes[i],
                                   "listeners: this one makes %zu listening sockets (a reuseport "
                                   "listener has one per worker, %u workers); the limit is %d",
                                   sockets, c->cfg->workers, FLARED_LISTEN_SOCKETS_MAX);
    }
    rc = check_unique(c, ls, addr_nodes, n);
    if (rc < 0) return rc;
    c->cfg->listeners = ls;
    c->cfg->listener_count = n;
    return 0;
}
