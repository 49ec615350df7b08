/*
 * handlers.c: the fixed route types (text, redirect, status, health) and the
 * installer that turns config routes into libflare routes. The text route
 * borrows its body from the config, so answering it copies nothing and
 * allocates nothing. Echo and static live in their own files. On a TLS listener of
 * several certificates, a request for a host whose certificate is not the one the
 * connection presented is misdirected (421) as soon as its head is in, before routing.
 */
#include "handlers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "handlers_internal.h"
#include "proxy.h"
#include "ratelimit.h"
#include "websocket.h"

int flared_route_headers(flare_response *resp, const flared_route_ctx *ctx)
{
    return flare_response_header_block(resp, &ctx->fields);
}

static int handle_text(const flare_request *req, flare_response *resp, void *data)
{
    const flared_route_ctx *ctx = data;
    (void)req;
    flare_response_fixed(resp, &ctx->text);
    return 0;
}

/* A route's `headers`, checked and formatted once: every response of the route (and,
 * through flare_http_server_route_headers, the server's own refusals) copies them whole. */
static int build_route_fields(flared_route_ctx *c, flare_error *err)
{
    const flared_route *rt = c->route;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < rt->header_count; i++)
        rc = flare_header_block_add(&c->fields, rt->headers[i].name, rt->headers[i].value);
    /* A text route answers the same every time: its Content-Type, then its fields. */
    if (rc == 0 && rt->type == FLARED_ROUTE_TEXT) {
        flare_header_block b = {0};
        rc = flare_header_block_add(&b, "Content-Type", rt->u.text.content_type);
        if (rc == 0 && c->fields.lines.len)
            rc = flare_buf_append(&b.lines, c->fields.lines.data, c->fields.lines.len);
        if (rc == 0)
            rc = flare_fixed_response_init(&c->text, rt->u.text.status, &b, rt->u.text.body,
                                           rt->u.text.body_len);
        flare_header_block_free(&b);
    }
    if (rc < 0)
        return flare_error_set(err, rc, 0, "route %s: cannot prepare its header fields", rt->path);
    return 0;
}

/* Appends request bytes to a Location, percent-encoding those RFC 3986 has no place for
 * in a path or query ('\', '"', '<', '>', '[', ']', '^', '`', '{', '|', '}'): the
 * request-target may hold them (visible ASCII), but a Location is a URI-reference
 * (RFC 9110 §10.2.2), and browsers read a raw '\' as '/', so "/\evil.example" would
 * name another host. */
static int append_uri_bytes(flare_buf *b, const char *p, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch > 0x20 && ch < 0x7F && !strchr("\\\"<>[]^`{|}", ch)) continue;
        char esc[3] = {'%', hex[ch >> 4], hex[ch & 15]};
        int rc = flare_buf_append(b, p + run, i - run);
        if (rc == 0) rc = flare_buf_append(b, esc, sizeof esc);
        if (rc < 0) return rc;
        run = i + 1;
    }
    return flare_buf_append(b, p + run, n - run);
}

/* `to` with $host filled in, then what the route keeps of the request: the path past the route's
 * prefix (as proxy strip_prefix leaves it: "/old/a/b" under "/old/" keeps "/a/b") and the query.
 * After a `to` ending in '/', the kept path's leading run of '/' goes: the router took "//" for
 * "/", and `to: /` with "/old//evil.example" would otherwise make the scheme-relative
 * "//evil.example", a redirect off the site. The buffer is the route's and outlives the request. */
static int build_location(flared_route_ctx *ctx, const flare_request *req)
{
    const flared_redirect_route *rd = &ctx->route->u.redirect;
    flare_buf *b = &ctx->location;
    size_t to_len = strlen(rd->to);
    b->len = 0;
    int rc = 0;
    const char *from = rd->to;
    /* $host is the request's host without its port (as $host in the access log): host
     * characters only, the parser saw to that, so it needs no escaping. */
    for (const char *h; rc == 0 && rd->has_host && (h = strstr(from, "$host")); from = h + 5)
        if ((rc = flare_buf_append(b, from, (size_t)(h - from))) == 0)
            rc = flare_buf_append(b, req->host, req->host_len);
    if (rc == 0) rc = flare_buf_append(b, from, to_len - (size_t)(from - rd->to));
    if (rc == 0 && rd->keep_path) {
        const char *prefix = ctx->route->path;
        size_t span =
            flare_http_route_prefix_span(prefix, strlen(prefix) - 1, req->path, req->path_len);
        const char *rest = req->path + (span == SIZE_MAX ? req->path_len : span);
        const char *end = req->path + req->path_len;
        if (rd->to[to_len - 1] == '/')
            while (rest < end && rest[0] == '/')
                rest++; /* "/new/" and "//a" make "/new/a" */
        rc = append_uri_bytes(b, rest, (size_t)(end - rest));
    }
    if (rc == 0 && rd->keep_query && req->query && req->query_len) {
        char sep = strchr(rd->to, '?') ? '&' : '?';
        if ((rc = flare_buf_append(b, &sep, 1)) == 0)
            rc = append_uri_bytes(b, req->query, req->query_len);
    }
    return rc;
}

static int handle_redirect(const flare_request *req, flare_response *resp, void *data)
{
    flared_route_ctx *ctx = data;
    const flared_redirect_route *rd = &ctx->route->u.redirect;
    flared_route_headers(resp, ctx);
    if (!rd->keep_path && !rd->keep_query && !rd->has_host)
        return flare_response_redirect(resp, rd->status, rd->to);
    if (rd->has_host && req->host_len == 0) { /* HTTP/1.0 without Host: no host to name */
        static const char body[] = "the request names no host to redirect to\n";
        return flare_response_text(resp, 400, "text/plain; charset=utf-8", body, sizeof body - 1);
    }
    /* A kept "..", resolved by the client, climbs out of `to`'s path ("https://partner/ours/"
     * and "/old/../../x" name any page of partner): refused, as the proxy route does. */
    if (rd->keep_path && flare_http_path_has_dot_segment(req->path, req->path_len)) {
        static const char body[] = "the path has a \".\" or \"..\" segment\n";
        return flare_response_text(resp, 400, "text/plain; charset=utf-8", body, sizeof body - 1);
    }
    int rc = build_location(ctx, req);
    if (rc == 0)
        rc = flare_response_headern(resp, "Location", 8, ctx->location.data, ctx->location.len);
    if (rc == 0) flare_response_status(resp, rd->status);
    return rc;
}

static int handle_health(const flare_request *req, flare_response *resp, void *data)
{
    const flared_route_ctx *ctx = data;
    (void)req;
    flared_route_headers(resp, ctx);
    flare_response_header(resp, "Cache-Control", "no-store");
    if (ctx->state->draining)
        return flare_response_text(resp, 503, "text/plain; charset=utf-8", "draining\n", 9);
    return flare_response_text(resp, 200, "text/plain; charset=utf-8", "ok\n", 3);
}

/* Methods a route type answers when its config lists none. TRACE is left out (405 with
 * Allow, RFC 9110 §15.5.6), as nginx refuses it always: echo would reflect and a proxy
 * forward the request's fields, credentials included, to a script that asks (cross-site
 * tracing; RFC 9110 §9.3.8 on sensitive fields). A route that lists TRACE takes it. */
static uint32_t default_methods(flared_route_type type)
{
    switch (type) {
    case FLARED_ROUTE_REDIRECT:
    case FLARED_ROUTE_ECHO:
    case FLARED_ROUTE_PROXY:
        return FLARE_M_ANY & ~FLARE_M(FLARE_METHOD_TRACE);
    case FLARED_ROUTE_WEBSOCKET:
        return FLARE_M_GET; /* RFC 6455 §4.1: the handshake is a GET */
    default:
        return FLARE_M_GET | FLARE_M_HEAD;
    }
}

static uint32_t methods_of(const flared_route *rt)
{
    if (rt->any_method) return default_methods(rt->type);
    uint32_t mask = 0;
    for (int m = 1; m < FLARE_METHOD__COUNT; m++) {
        const char *name = flare_http_method_name((flare_http_method)m);
        if (rt->method_mask & flared_method_bit(name, strlen(name))) mask |= FLARE_M(m);
    }
    return mask;
}

static flare_http_handler handler_of(flared_route_type type)
{
    switch (type) {
    case FLARED_ROUTE_TEXT:
        return handle_text;
    case FLARED_ROUTE_REDIRECT:
        return handle_redirect;
    case FLARED_ROUTE_ECHO:
        return flared_handle_echo;
    case FLARED_ROUTE_STATIC:
        return flared_handle_static;
    case FLARED_ROUTE_STATUS:
        return flared_handle_status;
    case FLARED_ROUTE_HEALTH:
        return handle_health;
    case FLARED_ROUTE_WEBSOCKET:
        return flared_handle_websocket;
    case FLARED_ROUTE_PROXY:
        return flared_handle_proxy;
    }
    return NULL;
}

/*
 * RFC 9110 §15.5.20: a connection is authoritative only for the names of the
 * certificate its handshake selected (by SNI). A Host that would select another
 * certificate of the listener is answered 421, so the client retries on a
 * connection made for that host (RFC 9110 §7.4).
 */
int flared_misdirected_check(const flare_request *req, uint64_t now_us, void *data,
                             flare_http_admission *out)
{
    (void)now_us;
    (void)data;
    (void)out;
    const flare_tls_conn *tls = req->tls;
    if (!tls || !tls->server || req->host_len == 0) return 0;
    int presented = flare_tls_conn_cert_index(tls);
    if (presented < 0) return 0;
    return flare_tls_server_ctx_select(tls->server, req->host, req->host_len) != presented ? 421
                                                                                           : 0;
}

/* `allow`: the effective client (after PROXY and trusted X-Forwarded-For) must be listed. */
static bool allowed(const flared_route *rt, const flare_request *req)
{
    if (!rt->allow_count) return true;
    for (size_t i = 0; i < rt->allow_count; i++)
        if (flare_cidr_contains(&rt->allow[i], &req->peer->ip)) return true;
    return false;
}

/* What a route checks before a body is read, in nginx's phase order (a misdirected
 * request never gets here: its listener answers it before routing), `client_cert`
 * (nginx's `if ($ssl_client_verify != SUCCESS)` runs in the rewrite phase), the rate limit
 * (preaccess), then `allow` and `auth` (access, all of them must pass). A refusal is the server's
 * own answer ("403 Forbidden" with the route's `headers`), the same whether or not the route has
 * `auth` or a rate limit, and as static's 403; with a body, its connection ends with the body
 * unread. */
static int admit_route(const flare_request *req, uint64_t now_us, void *data,
                       flare_http_admission *out)
{
    const flared_route_ctx *ctx = data;
    const flared_route *rt = ctx->route;
    if (rt->client_cert_required &&
        strcmp(flare_tls_conn_peer_verify(req->tls, NULL), "SUCCESS") != 0)
        return 403;
    int status = rt->rate_limit ? flared_ratelimit_admit(req, now_us, data, out) : 0;
    if (status) return status;
    if (!allowed(rt, req)) return 403; /* no password helps: not 401 */
    return rt->auth ? flared_auth_admit(rt->auth, &ctx->challenge, req, now_us, out) : 0;
}

static int handle_route(const flare_request *req, flare_response *resp, void *data)
{
    const flared_route_ctx *ctx = data;
    return handler_of(ctx->route->type)(req, resp, data);
}

static size_t count_routes(const flared_config *cfg)
{
    size_t n = cfg->default_host.route_count;
    for (size_t h = 0; h < cfg->host_count; h++)
        n += cfg->hosts[h].route_count * (cfg->hosts[h].name_count ? cfg->hosts[h].name_count : 1);
    return n;
}

static int install_host(flare_http_server *srv, const flared_host *host, const char *name,
                        flared_route_ctx *ctx, size_t *used, flared_worker_state *state,
                        flare_error *err)
{
    for (size_t i = 0; i < host->route_count; i++) {
        const flared_route *rt = &host->routes[i];
        flared_route_ctx *c = &ctx[*used];
        c->index = (*used)++;
        c->route = rt;
        c->srv = srv;
        c->state = state;
        c->root_fd = -1;
        if (rt->type == FLARED_ROUTE_STATIC) {
            c->root_fd = open(rt->u.static_files.root, O_PATH | O_DIRECTORY | O_CLOEXEC);
            if (c->root_fd < 0)
                return flare_error_set(err, FLARE_ESYS, errno, "static root %s",
                                       rt->u.static_files.root);
        }
        int rc = build_route_fields(c, err);
        if (rc < 0) return rc;
        if (rt->type == FLARED_ROUTE_PROXY) {
            c->upstream = flared_proxy_upstream(state->proxy, rt->u.proxy.upstream);
            if (!c->upstream)
                return flare_error_set(err, FLARE_EINVAL, 0, "proxy route %s: no upstream state",
                                       rt->path);
        }
        rc = flare_http_server_route(srv, name, methods_of(rt), rt->other_methods, rt->path,
                                     handle_route, c, rt->max_body_bytes, err);
        /* The proxy forwards bodies as they arrive, with backpressure; echo describes
         * them; every other route ignores a body, which is then dropped as it arrives
         * rather than held whole (nginx's discarded body). */
        if (rc == 0 && rt->type == FLARED_ROUTE_PROXY)
            rc = flare_http_server_route_stream_body(srv, name, rt->path, err);
        else if (rc == 0 && rt->type != FLARED_ROUTE_ECHO)
            rc = flare_http_server_route_discard_body(srv, name, rt->path, err);
        if (rc == 0 && rt->auth &&
            (rc = flare_header_block_add(&c->challenge, "WWW-Authenticate", rt->auth->challenge)))
            return flare_error_set(err, rc, 0, "route %s: cannot prepare its WWW-Authenticate",
                                   rt->path);
        /* A route with nothing to admit takes no call per request. */
        if (rc == 0 && (rt->rate_limit || rt->auth || rt->allow_count || rt->client_cert_required))
            rc = flare_http_server_route_admit(srv, name, rt->path, admit_route, err);
        /* Its 405s and 413s are responses of the route too. */
        if (rc == 0 && rt->header_count)
            rc = flare_http_server_route_headers(srv, name, rt->path, &c->fields, err);
        if (rc < 0) return rc;
    }
    return 0;
}

struct flared_handlers {
    flared_route_ctx *routes; /* one per installed route, then one with route NULL */
    /* Per host, the default host first: its `headers` (over the top level's) for the
     * server's own answers that no route gives. */
    flare_header_block *host_fields;
    size_t host_count;
};

/* The answers before a route is known get the configured fields too, as nginx's
 * add_header ... always at server level: the parser's refusals and 408s the top
 * level's, a 404 (or any refusal of a request no route takes) its host's. libflare
 * leaves them off its 503 over max_connections, sent at accept before a request is
 * read, and the 400 to plain HTTP on a TLS port: neither is an exchange with the
 * site the fields describe (HSTS, say, means nothing in clear text). */
static int build_host_fields(const flared_host *host, flare_header_block *b, flare_error *err)
{
    for (size_t i = 0; i < host->header_count; i++) {
        int rc = flare_header_block_add(b, host->headers[i].name, host->headers[i].value);
        if (rc < 0)
            return flare_error_set(err, rc, 0, "host at line %u: cannot prepare its header fields",
                                   host->line);
    }
    return 0;
}

int flared_handlers_install(flare_http_server *srv, const flared_config *cfg,
                            flared_worker_state *state, flared_handlers **out, flare_error *err)
{
    size_t total = count_routes(cfg);
    flared_handlers *h = calloc(1, sizeof *h);
    if (!h) return flare_error_set(err, FLARE_ENOMEM, 0, "out of memory");
    h->routes = calloc(total + 1, sizeof *h->routes);
    h->host_fields = calloc(cfg->host_count + 1, sizeof *h->host_fields);
    h->host_count = cfg->host_count + 1;
    if (!h->routes || !h->host_fields) {
        flared_handlers_free(h);
        return flare_error_set(err, FLARE_ENOMEM, 0, "out of memory");
    }
    flared_route_ctx *ctx = h->routes;
    for (size_t i = 0; i <= total; i++)
        ctx[i].root_fd = -1;
    size_t used = 0;
    flare_header_block *fields = h->host_fields;
    int rc = install_host(srv, &cfg->default_host, NULL, ctx, &used, state, err);
    if (rc == 0) rc = build_host_fields(&cfg->default_host, &fields[0], err);
    if (rc == 0) rc = flare_http_server_host_headers(srv, NULL, &fields[0], err);
    for (size_t i = 0; rc == 0 && i < cfg->host_count; i++) {
        const flared_host *host = &cfg->hosts[i];
        rc = build_host_fields(host, &fields[i + 1], err);
        for (size_t n = 0; rc == 0 && n < host->name_count; n++) {
            rc = install_host(srv, host, host->names[n], ctx, &used, state, err);
            if (rc == 0)
                rc = flare_http_server_host_headers(srv, host->names[n], &fields[i + 1], err);
        }
    }
    ctx[total].route = NULL; /* terminator for flared_handlers_free */
    if (rc < 0) {
        flared_handlers_free(h);
        return rc;
    }
    *out = h;
    return 0;
}

void flared_handlers_free(flared_handlers *h)
{
    if (!h) return;
    for (flared_route_ctx *c = h->routes; c && c->route; c++) {
        if (c->root_fd >= 0) close(c->root_fd);
        flare_fixed_response_free(&c->text);
        flare_header_block_free(&c->fields);
        flare_header_block_free(&c->challenge);
        flare_buf_free(&c->location);
    }
    for (size_t i = 0; h->host_fields && i < h->host_count; i++)
        flare_header_block_free(&h->host_fields[i]);
    free(h->host_fields);
    free(h->routes);
    free(h);
}
