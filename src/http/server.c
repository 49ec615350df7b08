/*
 * server.c: the HTTP server object: configuration, listeners and accepting,
 * the route table, pools of connection structs and input blocks, and the
 * graceful stop. The per-connection state machine lives in server_conn.c and its
 * siblings (server_conn.h).
 */
#include "server_internal.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "flare/tcp.h"

#define RETRY_ACCEPT_MS 100

void flare_http_server_config_default(flare_http_server_config *cfg)
{
    *cfg = (flare_http_server_config){
        .max_connections = 10000,
        .max_header_bytes = 8192,
        .max_headers = 100,
        .max_uri_bytes = 8192,
        .max_body_bytes = 10u << 20,
        .max_keepalive_requests = 10000,
        .header_timeout_ms = 10000,
        .body_timeout_ms = 10000,
        .write_timeout_ms = 10000,
        .keepalive_timeout_ms = 65000,
        .linger_timeout_ms = 5000,
        .output_high_water = 256 * 1024,
        .server_name = "flared",
        .max_connections_per_ip_ipv6_prefix = 64,
    };
}

static void on_retry_accept(flare_timer *t, void *data);
static void pool_free(ptr_pool *pool);
static void on_drain_deadline(flare_timer *t, void *data);

/* Fields left 0 take the default, so a caller may set only what it cares about. */
static void fill_defaults(flare_http_server_config *cfg)
{
    flare_http_server_config d;
    flare_http_server_config_default(&d);
    if (!cfg->max_connections) cfg->max_connections = d.max_connections;
    if (!cfg->max_header_bytes) cfg->max_header_bytes = d.max_header_bytes;
    if (!cfg->max_headers) cfg->max_headers = d.max_headers;
    if (!cfg->max_uri_bytes) cfg->max_uri_bytes = d.max_uri_bytes;
    if (!cfg->max_body_bytes) cfg->max_body_bytes = d.max_body_bytes;
    if (!cfg->max_keepalive_requests) cfg->max_keepalive_requests = d.max_keepalive_requests;
    if (!cfg->header_timeout_ms) cfg->header_timeout_ms = d.header_timeout_ms;
    if (!cfg->body_timeout_ms) cfg->body_timeout_ms = d.body_timeout_ms;
    if (!cfg->write_timeout_ms) cfg->write_timeout_ms = d.write_timeout_ms;
    if (!cfg->keepalive_timeout_ms) cfg->keepalive_timeout_ms = d.keepalive_timeout_ms;
    if (!cfg->linger_timeout_ms) cfg->linger_timeout_ms = d.linger_timeout_ms;
    if (!cfg->output_high_water) cfg->output_high_water = d.output_high_water;
    if (!cfg->max_connections_per_ip_ipv6_prefix)
        cfg->max_connections_per_ip_ipv6_prefix = d.max_connections_per_ip_ipv6_prefix;
    /* The header array sits in every pooled input block, so its size is bounded. */
    if (cfg->max_headers > FLARE_HTTP_MAX_HEADERS_LIMIT)
        cfg->max_headers = FLARE_HTTP_MAX_HEADERS_LIMIT;
}

int flare_http_server_new(flare_http_server **out, flare_reactor *reactor,
                          const flare_http_server_config *cfg, flare_error *err)
{
    if (!out || !reactor)
        return flare_error_set(err, FLARE_EINVAL, 0, "http server: no reactor given");
    flare_http_server *srv = calloc(1, sizeof *srv);
    if (!srv) return flare_error_set(err, FLARE_ENOMEM, 0, "http server: out of memory");
    srv->reactor = reactor;
    if (cfg)
        srv->cfg = *cfg;
    else
        flare_http_server_config_default(&srv->cfg);
    fill_defaults(&srv->cfg);
    if (flare_http__head_start_init(&srv->head_start, srv->cfg.server_name,
                                    flare_reactor_clock(reactor)->http_date) < 0) {
        free(srv);
        return flare_error_set(err, FLARE_EINVAL, 0,
                               "http server: server_name is not a field value (RFC 9110 "
                               "§5.5: no CR, LF or other control, no space at either end) or is "
                               "longer than %d bytes",
                               FLARE_HTTP__SERVER_NAME_MAX);
    }
    srv->limits = (flare_http_limits){.max_uri_bytes = srv->cfg.max_uri_bytes,
                                      .max_header_bytes = srv->cfg.max_header_bytes,
                                      .max_headers = srv->cfg.max_headers};
    /* An input block holds the header array, then at least one full request head and
     * room for a small body behind it; 16 KiB for the default 8 KiB head limit. */
    size_t bytes = srv->cfg.max_header_bytes + 8192;
    if (bytes < 16384) bytes = 16384;
    /* Offsets into the block are 32-bit (server_conn.h); no real head comes near this. */
    if (bytes > UINT32_MAX / 2) bytes = UINT32_MAX / 2;
    srv->in_block_size = bytes;
    srv->accepting = true;
    /* sendfile has no MSG_NOSIGNAL: to a client that has gone it raises SIGPIPE, which
     * would end a program that has not ignored it (flared has). */
    struct sigaction pipe_action;
    srv->quiet_sendfile =
        sigaction(SIGPIPE, NULL, &pipe_action) < 0 || pipe_action.sa_handler != SIG_IGN;
    flare_http__response_reset(&srv->resp);
    flare_timer_init(&srv->retry_accept, on_retry_accept, srv);
    flare_timer_init(&srv->drain_deadline, on_drain_deadline, srv);
    if (srv->cfg.max_connections_per_ip && flare_http__ipcount_init(srv) < 0) {
        free(srv);
        return flare_error_set(err, FLARE_ENOMEM, 0, "http server: out of memory");
    }
    *out = srv;
    return 0;
}

void flare_http_server_free(flare_http_server *srv)
{
    if (!srv) return;
    flare_timer_wheel *tw = flare_reactor_timers(srv->reactor);
    flare_timer_cancel(tw, &srv->retry_accept);
    flare_timer_cancel(tw, &srv->drain_deadline);
    srv->freeing = true; /* closing here is not a drain to report */
    while (srv->all)
        flare_http__conn_close(srv->all);
    for (size_t i = 0; i < srv->listener_count; i++) {
        flare_reactor_remove(srv->reactor, srv->listeners[i]);
        close(srv->listeners[i]);
    }
    free(srv->listeners);
    free(srv->listener_opts);
    flare_http__ipcount_free(srv);
    for (size_t i = 0; i < srv->route_count; i++) {
        route *rt = &srv->routes[i];
        bool shared_host = false;
        for (size_t j = 0; j < i; j++)
            if (srv->routes[j].host == rt->host) shared_host = true;
        if (!shared_host) free(rt->host);
        free(rt->path);
        for (size_t j = 0; j < rt->extra_count; j++)
            free(rt->extra_methods[j]);
        free(rt->extra_methods);
    }
    flare_http__router_free(srv);
    free(srv->routes);
    for (size_t i = 0; i < srv->host_field_count; i++)
        free(srv->host_fields[i].host);
    free(srv->host_fields);
    while (srv->free_conns) {
        conn *c = srv->free_conns;
        srv->free_conns = flare_http__conn_next(c);
        free(c);
    }
    pool_free(&srv->blocks);
    for (size_t i = 0; i < srv->out_pool_count; i++)
        flare_buf_free(&srv->out_pool[i]);
    free(srv->out_pool);
    flare_buf_free(&srv->resp.headers);
    flare_buf_free(&srv->resp.body);
    free(srv->resp.file_parts);
    free(srv);
}

size_t flare_http__block_bytes(const flare_http_server *srv)
{
    return FLARE_HTTP_BLOCK_REQ_BYTES + srv->cfg.max_headers * sizeof(flare_http_header) +
           srv->in_block_size;
}

char *flare_http__block_get(flare_http_server *srv)
{
    if (srv->blocks.count) return srv->blocks.items[--srv->blocks.count];
    return malloc(flare_http__block_bytes(srv));
}

void flare_http__pool_put(ptr_pool *pool, void *p)
{
    /* Keep at most 1024 idle pieces per pool (16 MiB of input blocks by default). */
    if (pool->count == pool->cap) {
        size_t cap = pool->cap ? pool->cap * 2 : 16;
        void **items = cap <= 1024 ? realloc(pool->items, cap * sizeof *items) : NULL;
        if (!items) {
            free(p);
            return;
        }
        pool->items = items;
        pool->cap = cap;
    }
    pool->items[pool->count++] = p;
}

static void pool_free(ptr_pool *pool)
{
    for (size_t i = 0; i < pool->count; i++)
        free(pool->items[i]);
    free(pool->items);
}

void flare_http__send_busy(int fd, bool tls)
{
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                               "Content-Length: 20\r\nConnection: close\r\n\r\n"
                               "503 server is busy\r\n";
    /* A TLS client expects records, not HTTP: a fatal internal_error alert (RFC 8446
     * §6.2), a plaintext record as everything before the ServerHello is. */
    static const char alert[] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x50};
    ssize_t n = tls ? send(fd, alert, sizeof alert, MSG_DONTWAIT | MSG_NOSIGNAL)
                    : send(fd, busy, sizeof busy - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)n;
}

/* A connection over a limit gets a short 503 (an alert on TLS) when it can be sent
 * without blocking: one fixed write before any request is read, so it carries none of
 * the configured fields (flare_http_server_host_headers). */
static void reject(int fd, const flare_http_listener_options *opts)
{
    flare_http__send_busy(fd, opts->tls != NULL);
    close(fd);
}

/* Every new connection, accepted or adopted, passes here. Behind a PROXY header the
 * client's address is not known yet: the connection counts per address once it is. */
static int admit(flare_http_server *srv, int fd, const flare_sock_addr *peer,
                 const flare_http_listener_options *opts, flare_error *err)
{
    if (srv->stats.active >= srv->cfg.max_connections) {
        srv->stats.rejected++;
        reject(fd, opts);
        return flare_error_set(err, FLARE_ELIMIT, 0,
                               "http server: %zu connections open (max_connections): answered 503",
                               srv->cfg.max_connections);
    }
    bool counted = false;
    if (!opts->proxy_protocol) {
        if (!flare_http__ipcount_acquire(srv, peer)) {
            srv->stats.rejected++;
            reject(fd, opts);
            return flare_error_set(err, FLARE_ELIMIT, 0,
                                   "http server: %zu connections from one address "
                                   "(max_connections_per_ip): answered 503",
                                   srv->cfg.max_connections_per_ip);
        }
        counted = true;
    }
    return flare_http__conn_accept(srv, fd, peer, opts, counted, err);
}

static void on_listener(flare_reactor *r, int fd, uint32_t events, void *data)
{
    flare_http_server *srv = data;
    (void)r;
    (void)events;
    /* A copy: a handler run at accept (deferred_accept) may add a listener, which
     * moves srv->listener_opts. */
    flare_http_listener_options listener = {0};
    for (size_t i = 0; i < srv->listener_count; i++)
        if (srv->listeners[i] == fd) listener = srv->listener_opts[i];
    const flare_http_listener_options *opts = &listener;
    while (srv->accepting) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int cfd = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Edge-triggered: the queue is still full, so poll it again shortly. */
                flare_reactor_timer_in(srv->reactor, &srv->retry_accept, RETRY_ACCEPT_MS);
            }
            return;
        }
        flare_sock_addr peer = {0};
        if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
            flare_sock_addr_from_sockaddr(&peer, (struct sockaddr *)&ss, len, NULL);
            int one = 1;
            setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        admit(srv, cfd, &peer, opts, NULL);
    }
}

static void on_retry_accept(flare_timer *t, void *data)
{
    flare_http_server *srv = data;
    (void)t;
    for (size_t i = 0; i < srv->listener_count; i++)
        on_listener(srv->reactor, srv->listeners[i], FLARE_EV_READ, srv);
}

int flare_http_server_add_listener_opts(flare_http_server *srv, int fd,
                                        const flare_http_listener_options *opts, flare_error *err)
{
    const flare_http_https_redirect *hr = opts ? opts->https_redirect : NULL;
    if (hr && (opts->tls || hr->port == 0 ||
               (hr->status != 301 && hr->status != 302 && hr->status != 307 && hr->status != 308)))
        return flare_error_set(err, FLARE_EINVAL, 0,
                               "http server: an HTTPS redirect needs a clear-text listener, a "
                               "port and a status of 301, 302, 307 or 308");
    /* A connection names its listener's steps by a 16-bit index (server_conn.h). */
    if ((hr || (opts && opts->head_check)) && srv->listener_count >= UINT16_MAX)
        return flare_error_set(err, FLARE_ELIMIT, 0, "http server: too many listeners");
    int *l = realloc(srv->listeners, (srv->listener_count + 1) * sizeof *l);
    if (!l) return flare_error_set(err, FLARE_ENOMEM, 0, "http server: out of memory");
    srv->listeners = l;
    flare_http_listener_options *o =
        realloc(srv->listener_opts, (srv->listener_count + 1) * sizeof *o);
    if (!o) return flare_error_set(err, FLARE_ENOMEM, 0, "http server: out of memory");
    srv->listener_opts = o;
    int rc = flare_socket_set_nonblocking(fd, true, err);
    if (rc < 0) return rc;
    rc = flare_reactor_add(srv->reactor, fd, FLARE_EV_READ, on_listener, srv, err);
    if (rc < 0) return rc;
    srv->listener_opts[srv->listener_count] = opts ? *opts : (flare_http_listener_options){0};
    flare_http_listener_options *stored = &srv->listener_opts[srv->listener_count];
    struct sockaddr_storage ss;
    socklen_t ss_len = sizeof ss;
    flare_sock_addr local;
    /* Once per listener, so a request's server_port costs no system call. */
    if (!stored->local_port && getsockname(fd, (struct sockaddr *)&ss, &ss_len) == 0 &&
        flare_sock_addr_from_sockaddr(&local, (struct sockaddr *)&ss, ss_len, NULL) == 0)
        stored->local_port = local.port;
    srv->listeners[srv->listener_count++] = fd;
    return 0;
}

int flare_http_server_add_listener_tls(flare_http_server *srv, int fd, flare_tls_server_ctx *tls,
                                       flare_error *err)
{
    flare_http_listener_options opts = {.tls = tls};
    return flare_http_server_add_listener_opts(srv, fd, &opts, err);
}

int flare_http_server_add_listener(flare_http_server *srv, int fd, flare_error *err)
{
    return flare_http_server_add_listener_opts(srv, fd, NULL, err);
}

int flare_http_server_adopt_connection(flare_http_server *srv, int fd, const flare_sock_addr *peer,
                                       flare_error *err)
{
    if (fd < 0) return flare_error_set(err, FLARE_EINVAL, 0, "adopt connection: invalid fd %d", fd);
    if (srv->stopping) {
        close(fd);
        return flare_error_set(err, FLARE_ECLOSED, 0,
                               "adopt connection: the server is stopping (fd %d closed)", fd);
    }
    int rc = flare_socket_set_nonblocking(fd, true, err);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    flare_sock_addr none = {0};
    static const flare_http_listener_options plain = {0};
    return admit(srv, fd, peer ? peer : &none, &plain, err);
}

int flare_http_server_listen(flare_http_server *srv, const char *address, uint16_t *port_out,
                             flare_error *err)
{
    flare_tcp_listener l;
    flare_tcp_listen_options opts = {.backlog = 4096, .nonblocking = true};
    int rc = flare_tcp_listen_str(&l, address, &opts, err);
    if (rc < 0) return rc;
    if (port_out) *port_out = l.local.port;
    rc = flare_http_server_add_listener(srv, l.fd, err);
    if (rc < 0) flare_tcp_listener_close(&l);
    return rc;
}

/* Routes of one virtual host share its name, so the router compares pointers. */
static char *intern_host(flare_http_server *srv, const char *host, bool *is_new)
{
    /* Newest first: a host's routes are usually registered one after another, so a
     * server of thousands of routes is not set up in quadratic time. */
    for (size_t i = srv->route_count; i-- > 0;)
        if (srv->routes[i].host && strcasecmp(srv->routes[i].host, host) == 0)
            return srv->routes[i].host;
    *is_new = true;
    char *h = strdup(host);
    if (h)
        for (char *p = h; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    return h;
}

int flare_http_server_route(flare_http_server *srv, const char *host, uint32_t methods,
                            const char *const *extra_methods, const char *path,
                            flare_http_handler handler, void *userdata, uint64_t max_body_bytes,
                            flare_error *err)
{
    if (!path || path[0] != '/' || !handler)
        return flare_error_set(err, FLARE_EINVAL, 0, "route: path must start with '/'");
    route *routes = realloc(srv->routes, (srv->route_count + 1) * sizeof *routes);
    if (!routes) return flare_error_set(err, FLARE_ENOMEM, 0, "route: out of memory");
    srv->routes = routes;
    /* RFC 9110 §9.3.2: HEAD is GET without the content, so a GET route answers it. */
    if (methods & FLARE_M_GET) methods |= FLARE_M_HEAD;
    route rt = {.methods = methods & ~FLARE_M(FLARE_METHOD_CONNECT),
                .handler = handler,
                .userdata = userdata,
                .max_body_bytes = max_body_bytes ? max_body_bytes : srv->cfg.max_body_bytes};
    rt.path = strdup(path);
    rt.path_len = strlen(path);
    rt.prefix = path[rt.path_len - 1] == '/';
    rt.escaped = memchr(path, '%', rt.path_len) || memmem(path, rt.path_len, "//", 2);
    bool new_host = false;
    if (host && *host) rt.host = intern_host(srv, host, &new_host);
    size_t extra = 0;
    while (extra_methods && extra_methods[extra])
        extra++;
    rt.extra_methods = extra ? calloc(extra, sizeof(char *)) : NULL;
    bool failed = !rt.path || (host && *host && !rt.host) || (extra && !rt.extra_methods);
    for (size_t i = 0; i < extra && !failed; i++) {
        rt.extra_methods[i] = strdup(extra_methods[i]);
        if (!rt.extra_methods[i]) failed = true;
        rt.extra_count = i + 1;
    }
    if (failed) {
        if (new_host) free(rt.host);
        free(rt.path);
        for (size_t i = 0; i < rt.extra_count; i++)
            free(rt.extra_methods[i]);
        free(rt.extra_methods);
        return flare_error_set(err, FLARE_ENOMEM, 0, "route: out of memory");
    }
    srv->routes[srv->route_count++] = rt;
    srv->router_stale = true;
    return 0;
}

/* The route registered for (host, path); NULL with FLARE_ENOTFOUND set in err when none. */
static route *registered(flare_http_server *srv, const char *host, const char *path,
                         flare_error *err)
{
    for (size_t i = 0; i < srv->route_count; i++) {
        route *rt = &srv->routes[i];
        bool same_host =
            (!host || !*host) ? rt->host == NULL : rt->host && strcasecmp(rt->host, host) == 0;
        if (same_host && rt->handler && path && strcmp(rt->path, path) == 0) return rt;
    }
    flare_error_set(err, FLARE_ENOTFOUND, 0, "route %s: not registered", path ? path : "");
    return NULL;
}

static int set_body_mode(flare_http_server *srv, const char *host, const char *path, uint8_t mode,
                         flare_error *err)
{
    route *rt = registered(srv, host, path, err);
    if (!rt) return FLARE_ENOTFOUND;
    rt->body_mode = mode;
    return 0;
}

int flare_http_server_route_stream_body(flare_http_server *srv, const char *host, const char *path,
                                        flare_error *err)
{
    return set_body_mode(srv, host, path, ROUTE_BODY_STREAM, err);
}

int flare_http_server_route_discard_body(flare_http_server *srv, const char *host, const char *path,
                                         flare_error *err)
{
    return set_body_mode(srv, host, path, ROUTE_BODY_DISCARD, err);
}

int flare_http_server_route_headers(flare_http_server *srv, const char *host, const char *path,
                                    const flare_header_block *b, flare_error *err)
{
    route *rt = registered(srv, host, path, err);
    if (!rt) return FLARE_ENOTFOUND;
    if (b && !flare_http__header_block_valid(b))
        return flare_error_set(err, FLARE_EINVAL, 0,
                               "route %s: its header block holds a line that is no "
                               "\"name: value\" field",
                               rt->path);
    rt->headers = b && b->lines.len ? b : NULL;
    return 0;
}

int flare_http_server_route_admit(flare_http_server *srv, const char *host, const char *path,
                                  flare_http_admit_fn admit_fn, flare_error *err)
{
    route *rt = registered(srv, host, path, err);
    if (!rt) return FLARE_ENOTFOUND;
    rt->admit = admit_fn;
    return 0;
}

/* A host given fields but no route is still a virtual host: its requests get its 404,
 * not the default host's routes. The router learns of it from a route entry with no
 * path and no handler, which no request path matches (path_len 0; every request path
 * has at least "/"); a route registered later for the host shares its name. */
static int mark_host(flare_http_server *srv, const char *host)
{
    for (size_t i = 0; i < srv->route_count; i++)
        if (srv->routes[i].host && strcasecmp(srv->routes[i].host, host) == 0) return 0;
    route *routes = realloc(srv->routes, (srv->route_count + 1) * sizeof *routes);
    if (!routes) return FLARE_ENOMEM;
    srv->routes = routes;
    bool new_host = false;
    route rt = {.host = intern_host(srv, host, &new_host), .path = strdup("")};
    if (!rt.host || !rt.path) {
        free(rt.host);
        free(rt.path);
        return FLARE_ENOMEM;
    }
    srv->routes[srv->route_count++] = rt;
    srv->router_stale = true;
    return 0;
}

int flare_http_server_host_headers(flare_http_server *srv, const char *host,
                                   const flare_header_block *b, flare_error *err)
{
    if (b && !flare_http__header_block_valid(b))
        return flare_error_set(err, FLARE_EINVAL, 0,
                               "host headers: the block holds a line that is no "
                               "\"name: value\" field (build it with flare_header_block_add)");
    if (b && !b->lines.len) b = NULL;
    if (!host || !*host) {
        srv->fields = b;
        return 0;
    }
    for (size_t i = 0; i < srv->host_field_count; i++)
        if (strcasecmp(srv->host_fields[i].host, host) == 0) {
            srv->host_fields[i].b = b;
            return 0;
        }
    host_fields *hf = realloc(srv->host_fields, (srv->host_field_count + 1) * sizeof *hf);
    if (!hf) return flare_error_set(err, FLARE_ENOMEM, 0, "host headers: out of memory");
    srv->host_fields = hf;
    char *name = strdup(host);
    if (!name || mark_host(srv, host) < 0) {
        free(name);
        return flare_error_set(err, FLARE_ENOMEM, 0, "host headers: out of memory");
    }
    for (char *p = name; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    hf[srv->host_field_count++] = (host_fields){.host = name, .b = b};
    return 0;
}

int flare_http_server_run(flare_http_server *srv, flare_error *err)
{
    return flare_reactor_run(srv->reactor, err);
}

void flare_http_server_pause_accept(flare_http_server *srv)
{
    srv->accepting = false;
    for (size_t i = 0; i < srv->listener_count; i++) {
        flare_reactor_remove(srv->reactor, srv->listeners[i]);
        close(srv->listeners[i]);
    }
    srv->listener_count = 0;
}

static void drained(flare_http_server *srv)
{
    if (srv->drained) return;
    srv->drained = true;
    flare_timer_cancel(flare_reactor_timers(srv->reactor), &srv->drain_deadline);
    if (srv->on_drained)
        srv->on_drained(srv->on_drained_data);
    else
        flare_reactor_stop(srv->reactor);
}

void flare_http__server_conn_closed(flare_http_server *srv)
{
    if (srv->stopping && !srv->freeing && srv->stats.active == 0) drained(srv);
}

static void on_drain_deadline(flare_timer *t, void *data)
{
    flare_http_server *srv = data;
    (void)t;
    while (srv->all)
        flare_http__conn_close(srv->all); /* the last close reports the drain */
}

void flare_http_server_stop(flare_http_server *srv, uint32_t grace_ms)
{
    if (srv->stopping) return;
    /* Take what the kernel has already queued before the listeners close: closing a
     * listening socket resets the connections still in its backlog. */
    for (size_t i = 0; i < srv->listener_count; i++)
        on_listener(srv->reactor, srv->listeners[i], FLARE_EV_READ, srv);
    srv->stopping = true;
    flare_http_server_pause_accept(srv);
    conn *c = srv->all;
    while (c) {
        conn *next = flare_http__conn_next(c);
        flare_http__conn_stop(c);
        c = next;
    }
    if (srv->stats.active == 0) {
        drained(srv);
        return;
    }
    flare_reactor_timer_in(srv->reactor, &srv->drain_deadline, grace_ms);
}

void flare_http_server_on_drained(flare_http_server *srv, void (*fn)(void *), void *data)
{
    srv->on_drained = fn;
    srv->on_drained_data = data;
}

size_t flare_http_server_connections(const flare_http_server *srv)
{
    return (size_t)srv->stats.active;
}

const flare_http_server_stats *flare_http_server_get_stats(const flare_http_server *srv)
{
    return &srv->stats;
}

void flare_http_server_on_complete(flare_http_server *srv, flare_http_complete_fn fn, void *data)
{
    srv->on_complete = fn;
    srv->on_complete_data = data;
}

void flare_http_server_conn_states(const flare_http_server *srv, flare_http_conn_states *out)
{
    *out = (flare_http_conn_states){0};
    for (const conn *c = srv->all; c; c = flare_http__conn_next(c))
        flare_http__conn_count_state(c, out);
}
