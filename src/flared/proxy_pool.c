/*
 * proxy_pool.c: the worker's upstreams: resolving server addresses once,
 * choosing a server (round robin, least connections, client address hash),
 * passive failure marking, and the idle keep-alive connections per server.
 * A connection is registered with the reactor once, for its whole life; only its
 * owner changes. Idle, any input on it (the server closing it, or bytes nobody asked
 * for) closes it when it comes, so reuse needs no system call to find it stale.
 */
#include "proxy_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "handlers_internal.h"
#include "log.h"

uint64_t flared_proxy__now(const flared_proxy *px)
{
    return flare_reactor_clock(px->r)->monotonic_ms;
}

static size_t server_index(const up_server *sv)
{
    return (size_t)(sv - sv->up->servers);
}

void flared_proxy__tried_add(proxy_tried *t, const up_server *sv)
{
    size_t i = server_index(sv);
    t->bits[i / 64] |= 1ull << (i % 64);
}

void flared_proxy__tried_remove(proxy_tried *t, const up_server *sv)
{
    size_t i = server_index(sv);
    t->bits[i / 64] &= ~(1ull << (i % 64));
}

static bool tried_has(const proxy_tried *t, size_t i)
{
    return (t->bits[i / 64] >> (i % 64)) & 1;
}

static bool usable(const up_server *sv, uint64_t now)
{
    if (sv->check_down) return false;
    return sv->fails < sv->up->cfg->max_fails || now >= sv->down_until_ms;
}

static uint64_t hash_client(const flare_sock_addr *client)
{
    /* FNV-1a over the address bytes: stable across workers and restarts. */
    uint64_t h = 1469598103934665603ull;
    size_t n = client->ip.family == AF_INET6 ? 16 : 4;
    for (size_t i = 0; i < n; i++)
        h = (h ^ client->ip.bytes[i]) * 1099511628211ull;
    return h;
}

up_server *flared_proxy__pick(flared_upstream_rt *up, const flare_sock_addr *client,
                              const proxy_tried *tried)
{
    uint64_t now = flared_proxy__now(up->px);
    size_t n = up->server_count, start = up->rr_next % n;
    if (up->cfg->balance == FLARED_BALANCE_IP_HASH && client)
        start = (size_t)(hash_client(client) % n);
    up_server *best = NULL;
    for (size_t k = 0; k < n; k++) {
        size_t i = (start + k) % n;
        up_server *sv = &up->servers[i];
        if (tried_has(tried, i) || !usable(sv, now)) continue;
        if (up->cfg->balance != FLARED_BALANCE_LEAST_CONN) {
            best = sv;
            break;
        }
        if (!best || sv->in_flight < best->in_flight) best = sv;
    }
    if (best && up->cfg->balance != FLARED_BALANCE_IP_HASH) up->rr_next = server_index(best) + 1;
    return best;
}

void flared_proxy__server_failed(up_server *sv)
{
    sv->failures++;
    sv->m->failures++;
    /* A lone server is never taken out passively (there is nowhere else to go). */
    if (sv->up->server_count == 1) return;
    sv->fails++;
    if (sv->fails >= sv->up->cfg->max_fails) {
        sv->down_until_ms = flared_proxy__now(sv->up->px) + sv->up->cfg->fail_timeout_ms;
        flared_proxy__server_out(sv);
    }
}

void flared_proxy__server_out(up_server *sv)
{
    /* Its idle connections serve nothing while it is out, yet they count against the
     * upstream's `keepalive`: the servers still in would have none kept. */
    while (sv->idle)
        flared_proxy__conn_close(sv->idle);
}

void flared_proxy__server_ok(up_server *sv)
{
    sv->responses++;
    sv->fails = 0;
}

/* ----------------------------------------------------------- connections */

/* One read on a connection nobody expects input on: true when it found none. Over TLS a
 * record without data (a session ticket) is taken in and the connection stays. */
static bool quiet(upconn *uc)
{
    char byte;
    return flared_proxy__up_io(uc, &byte, 1, false) == FLARE_EAGAIN;
}

static void on_upconn(flare_reactor *r, int fd, uint32_t events, void *data)
{
    upconn *uc = data;
    (void)r;
    (void)fd;
    /* Kept for conn_put: a close that came with the response's own edge raises no other. */
    if (events & (FLARE_EV_HUP | FLARE_EV_ERROR)) uc->peer_closed = true;
    if (uc->req) {
        flared_proxy__relay_event(uc->req, events);
        return;
    }
    /* Idle: the server closed it or sent what nobody asked for (a body after a response
     * to HEAD, say), which would be read as the next request's response. */
    if (uc->peer_closed || ((events & FLARE_EV_READ) && !quiet(uc))) flared_proxy__conn_close(uc);
}

static void on_idle_timeout(flare_timer *t, void *data)
{
    (void)t;
    flared_proxy__conn_close(data);
}

static void unlink_idle(upconn *uc)
{
    up_server *sv = uc->sv;
    if (uc->prev)
        uc->prev->next = uc->next;
    else
        sv->idle = uc->next;
    if (uc->next) uc->next->prev = uc->prev;
    uc->next = uc->prev = NULL;
    uc->in_pool = false;
    sv->idle_count--;
    sv->up->idle_count--;
    flare_timer_cancel(flare_reactor_timers(uc->px->r), &uc->idle_timer);
}

upconn *flared_proxy__conn_reuse(up_server *sv)
{
    uint64_t turn = flare_reactor_turn(sv->up->px->r);
    for (upconn *uc = sv->idle; uc; uc = uc->next)
        if (uc->reuse_turn <= turn) {
            unlink_idle(uc);
            return uc;
        }
    return NULL;
}

int flared_proxy__socket(const up_server *sv, bool *connecting)
{
    int fd = socket(sv->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    if (sv->sa.ss_family != AF_UNIX) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    int rc;
    do
        rc = connect(fd, (const struct sockaddr *)&sv->sa, sv->sa_len);
    while (rc < 0 && errno == EINTR);
    *connecting = rc < 0;
    /* Only EINPROGRESS is a connect under way. EAGAIN is none: a Unix socket's full accept
     * queue (php-fpm's "Resource temporarily unavailable"), or no free local port; the
     * socket stays unconnected and must count as a failed connect, which fails over. */
    if (rc < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

ssize_t flared_proxy__plain_io(int fd, void *buf, size_t len, bool write)
{
    ssize_t n;
    do
        n = write ? send(fd, buf, len, MSG_NOSIGNAL) : recv(fd, buf, len, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) return errno == EAGAIN ? FLARE_EAGAIN : FLARE_ECONNRESET;
    return n == 0 && !write ? FLARE_ECLOSED : n;
}

ssize_t flared_proxy__up_io(upconn *uc, void *buf, size_t len, bool write)
{
    if (uc->has_tls)
        return write ? flare_tls_conn_write(&uc->tls, buf, len, NULL)
                     : flare_tls_conn_read(&uc->tls, buf, len, NULL);
    ssize_t n = flared_proxy__plain_io(uc->fd, buf, len, write);
    /* recv returns all that is queued up to len: a short read drained the socket, and
     * what arrives later raises a new edge. */
    if (!write) uc->maybe_more = n > 0 && (size_t)n == len;
    return n;
}

/* The name a TLS connection to sv sends as SNI and verifies: the upstream's `tls.sni`,
 * else the host name the server was given by, else its IP address. A Unix socket has
 * `sni` whenever verification is on (the config requires it); without verification,
 * "localhost" is only sent. */
static void tls_name(const up_server *sv, char *out, size_t cap)
{
    const flared_upstream *u = sv->up->cfg;
    const char *named = sv->cfg->name; /* "host:port" as written */
    if (u->tls.sni)
        snprintf(out, cap, "%s", u->tls.sni);
    else if (named)
        snprintf(out, cap, "%.*s", (int)(strrchr(named, ':') - named), named);
    else if (sv->cfg->is_unix || !flare_ip_format(&sv->cfg->addr.ip, out, cap))
        snprintf(out, cap, "localhost");
}

int flared_proxy__tls_start(const up_server *sv, int fd, flare_tls_conn *tls)
{
    char name[256];
    tls_name(sv, name, sizeof name);
    uint16_t port = sv->cfg->is_unix ? 443 : sv->cfg->addr.port;
    return flare_tls_conn_init_client(tls, sv->up->tls, fd, name, port, NULL);
}

int flared_proxy__conn_open(up_server *sv, upconn **out)
{
    flared_proxy *px = sv->up->px;
    bool connecting;
    int fd = flared_proxy__socket(sv, &connecting);
    if (fd < 0) return fd;
    upconn *uc = px->free_conns;
    if (uc)
        px->free_conns = uc->next;
    else
        uc = malloc(sizeof *uc);
    if (!uc) {
        close(fd);
        return -ENOMEM;
    }
    *uc = (upconn){.px = px, .sv = sv, .fd = fd, .connecting = connecting};
    flare_timer_init(&uc->idle_timer, on_idle_timeout, uc);
    if (sv->up->tls) {
        if (flared_proxy__tls_start(sv, fd, &uc->tls) < 0) {
            close(fd);
            uc->next = px->free_conns;
            px->free_conns = uc;
            return -EPROTO;
        }
        uc->has_tls = true;
    }
    if (flare_reactor_add(px->r, fd, FLARE_EV_READ | FLARE_EV_WRITE, on_upconn, uc, NULL) < 0) {
        if (uc->has_tls) flare_tls_conn_free(&uc->tls);
        close(fd);
        uc->next = px->free_conns;
        px->free_conns = uc;
        return -ENOMEM;
    }
    *out = uc;
    return 0;
}

void flared_proxy__conn_close(upconn *uc)
{
    flared_proxy *px = uc->px;
    if (uc->in_pool) unlink_idle(uc);
    flare_reactor_remove(px->r, uc->fd);
    if (uc->has_tls) flare_tls_conn_free(&uc->tls);
    uc->has_tls = false;
    close(uc->fd);
    uc->req = NULL;
    uc->next = px->free_conns;
    px->free_conns = uc;
}

/* True when input may wait on the connection that no readiness edge will announce:
 * the reactor reported the upstream's close along with the response, or the last read
 * stopped at the end of its buffer (over TLS: OpenSSL holds bytes, or its last socket
 * read did). The bytes are looked for then, never parsed as the next response. */
static bool unclean(upconn *uc)
{
    if (uc->peer_closed) return true;
    bool more = uc->has_tls ? flare_tls_conn_has_pending(&uc->tls) : uc->maybe_more;
    return more && !quiet(uc);
}

void flared_proxy__conn_put(upconn *uc)
{
    up_server *sv = uc->sv;
    flared_upstream_rt *up = sv->up;
    uc->req = NULL;
    /* One of a server out of rotation would only hold room (flared_proxy__server_out). */
    if (up->idle_count >= up->cfg->keepalive || !usable(sv, flared_proxy__now(uc->px)) ||
        unclean(uc)) {
        flared_proxy__conn_close(uc);
        return;
    }
    /* RFC 9110 §9.3.2, §15.3.5, §15.4.5: HEAD, 204 and 304 have no body, yet a faulty
     * upstream may send one right behind the head. Its bytes may be on their way while
     * this turn's callbacks run (a pipelined request takes the connection at once), so
     * the connection waits for the reactor's next look at its readiness. */
    uc->reuse_turn = uc->bodiless ? flare_reactor_turn(uc->px->r) + 1 : 0;
    uc->prev = NULL;
    uc->next = sv->idle;
    if (sv->idle) sv->idle->prev = uc;
    sv->idle = uc;
    uc->in_pool = true;
    sv->idle_count++;
    up->idle_count++;
    flare_reactor_timer_in(uc->px->r, &uc->idle_timer, uc->idle_ms);
}

/* ------------------------------------------------------------- lifecycle */

static void server_addr(up_server *sv)
{
    const flared_upstream_server *cfg = sv->cfg;
    memset(&sv->sa, 0, sizeof sv->sa);
    if (cfg->is_unix) {
        struct sockaddr_un *un = (struct sockaddr_un *)&sv->sa;
        un->sun_family = AF_UNIX;
        strncpy(un->sun_path, cfg->unix_path, sizeof un->sun_path - 1);
        sv->sa_len = (socklen_t)sizeof *un;
        return;
    }
    sv->sa_len = flare_sock_addr_to_sockaddr(&cfg->addr, &sv->sa);
}

static void tls_warning(void *ctx, const char *message)
{
    (void)ctx;
    flared_log(FLARED_LOG_WARN, "proxy: %s", message);
}

int flared_proxy_new(flared_proxy **out, flare_reactor *r, const flared_config *cfg,
                     flare_error *err)
{
    flared_proxy *px = calloc(1, sizeof *px);
    if (!px) return flare_error_set(err, FLARE_ENOMEM, 0, "proxy: out of memory");
    px->r = r;
    px->up_count = cfg->upstream_count;
    px->ups = calloc(px->up_count ? px->up_count : 1, sizeof *px->ups);
    if (!px->ups) {
        free(px);
        return flare_error_set(err, FLARE_ENOMEM, 0, "proxy: out of memory");
    }
    for (size_t i = 0; i < px->up_count; i++) {
        flared_upstream_rt *up = &px->ups[i];
        up->px = px;
        up->cfg = &cfg->upstreams[i];
        up->server_count = up->cfg->server_count;
        up->servers = calloc(up->server_count, sizeof *up->servers);
        if (!up->servers) {
            flared_proxy_free(px);
            return flare_error_set(err, FLARE_ENOMEM, 0, "proxy: out of memory");
        }
        /* Every server is set up before anything can fail: flared_proxy_free reads them. */
        for (size_t j = 0; j < up->server_count; j++) {
            up_server *sv = &up->servers[j];
            sv->up = up;
            sv->cfg = &up->cfg->servers[j];
            sv->check_fd = -1;
            sv->m = &sv->own;
            server_addr(sv);
        }
        if (up->cfg->tls.enabled) {
            flare_tls_client_config tc = {.ca_file = up->cfg->tls.ca,
                                          .verify = up->cfg->tls.verify ? FLARE_TLS_VERIFY_PEER
                                                                        : FLARE_TLS_VERIFY_NONE,
                                          .log = tls_warning};
            if (flare_tls_client_ctx_new(&up->tls, &tc, err) < 0) {
                flared_proxy_free(px);
                return err ? err->code : FLARE_ETLS;
            }
        }
        for (size_t j = 0; j < up->server_count && up->cfg->health.enabled; j++)
            flared_proxy__health_start(&up->servers[j]);
    }
    *out = px;
    return 0;
}

void flared_proxy_free(flared_proxy *px)
{
    if (!px) return;
    for (size_t i = 0; i < px->up_count; i++) {
        flared_upstream_rt *up = &px->ups[i];
        for (size_t j = 0; up->servers && j < up->server_count; j++) {
            up_server *sv = &up->servers[j];
            flared_proxy__health_stop(sv);
            flared_proxy__server_out(sv);
        }
        free(up->servers);
        flare_tls_client_ctx_free(up->tls);
    }
    free(px->ups);
    flared_proxy__reqs_free(px);
    while (px->free_conns) {
        upconn *uc = px->free_conns;
        px->free_conns = uc->next;
        free(uc);
    }
    free(px);
}

flared_upstream_rt *flared_proxy_upstream(flared_proxy *px, const flared_upstream *u)
{
    for (size_t i = 0; px && i < px->up_count; i++)
        if (px->ups[i].cfg == u) return &px->ups[i];
    return NULL;
}

void flared_proxy_attach_metrics(flared_proxy *px, flared_worker_slot *s)
{
    size_t k = 0;
    for (size_t i = 0; px && i < px->up_count; i++)
        for (size_t j = 0; j < px->ups[i].server_count; j++, k++) {
            up_server *sv = &px->ups[i].servers[j];
            sv->m = s && k < FLARED_METRICS_UPSTREAM_SERVERS_MAX ? &s->upstreams[k] : &sv->own;
        }
    flared_proxy_publish(px);
}

void flared_proxy_publish(const flared_proxy *px)
{
    uint64_t now = px ? flared_proxy__now(px) : 0;
    for (size_t i = 0; px && i < px->up_count; i++)
        for (size_t j = 0; j < px->ups[i].server_count; j++) {
            const up_server *sv = &px->ups[i].servers[j];
            sv->m->active = sv->in_flight;
            sv->m->up = usable(sv, now);
        }
}

int flared_proxy_status_json(const flared_proxy *px, flare_buf *out)
{
    json_t *all = json_object();
    uint64_t now = px ? flared_proxy__now(px) : 0;
    for (size_t i = 0; all && px && i < px->up_count; i++) {
        const flared_upstream_rt *up = &px->ups[i];
        json_t *servers = json_array();
        for (size_t j = 0; servers && j < up->server_count; j++) {
            const up_server *sv = &up->servers[j];
            json_array_append_new(
                servers, json_pack("{s:s, s:b, s:I, s:I, s:I, s:I, s:I}", "server",
                                   sv->cfg->address, "up", usable(sv, now), "attempts",
                                   (json_int_t)sv->attempts, "responses", (json_int_t)sv->responses,
                                   "failures", (json_int_t)sv->failures, "in_flight",
                                   (json_int_t)sv->in_flight, "idle", (json_int_t)sv->idle_count));
        }
        json_object_set_new(all, up->cfg->name, servers);
    }
    char *text = all ? json_dumps(all, JSON_COMPACT) : NULL;
    json_decref(all);
    if (!text) return FLARE_ENOMEM;
    int rc = flare_buf_append_str(out, text);
    free(text);
    return rc;
}
