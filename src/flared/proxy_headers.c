/*
 * proxy_headers.c: rewriting message heads between client and upstream. Only
 * end-to-end fields cross (RFC 9110 §7.6.1); framing is always re-done by the
 * side that sends (the upstream gets a Content-Length for the decoded body, the
 * client gets whatever the server frames), so no length travels unchecked.
 */
#include "proxy.h"
#include "proxy_gzip.h"
#include "request_id.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define VIA_VALUE "flared"

bool flared_proxy_field_is(const flare_http_header *h, const char *name)
{
    return flare_http_field_name_eq(h->name, h->name_len, name, strlen(name));
}

/* RFC 9110 §7.6.1: a Connection option names a field meant for this hop only. */
static bool named_by_connection(const flare_http_header *h, const flare_http_header *all, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (all[i].id == FLARE_HDR_CONNECTION &&
            flare_http_value_has_token_n(all[i].value, all[i].value_len, h->name, h->name_len))
            return true;
    return false;
}

bool flared_proxy_hop_by_hop(const flare_http_header *h, const flare_http_header *all, size_t n)
{
    switch ((flare_http_hdr)h->id) {
    case FLARE_HDR_CONNECTION:
    case FLARE_HDR_KEEP_ALIVE:
    case FLARE_HDR_TE:
    case FLARE_HDR_TRAILER:
    case FLARE_HDR_TRANSFER_ENCODING:
    case FLARE_HDR_UPGRADE:
        return true;
    default:
        break;
    }
    if (h->name_len >= 6 && strncasecmp(h->name, "proxy-", 6) == 0) return true;
    /* A bare Proxy is no field of HTTP at all; a CGI-style upstream would hand it to its
     * application as HTTP_PROXY, which HTTP libraries take for their proxy ("httpoxy"). */
    if (flared_proxy_field_is(h, "proxy")) return true;
    return named_by_connection(h, all, n);
}

/* Whether two field names are one to a CGI-style upstream: case aside, '_' and '-'
 * alike (X_User and X-User both become HTTP_X_USER). */
static bool same_cgi_name(const char *a, const char *b, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x == '_') x = '-';
        if (y == '_') y = '-';
        if (tolower(x) != tolower(y)) return false;
    }
    return true;
}

/* A field spelling one this proxy writes (or drops as speaking for it) with '_' for
 * '-': CGI-style upstreams map both to one variable (HTTP_X_FORWARDED_FOR), so it could
 * stand in for ours. */
static bool forwarding_alias(const flare_http_header *h)
{
    static const char *const names[] = {"x-forwarded-for",  "x-forwarded-proto",
                                        "x-forwarded-host", "x-real-ip",
                                        "x-forwarded-port", "x-forwarded-prefix"};
    if (!memchr(h->name, '_', h->name_len)) return false;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (h->name_len == strlen(names[i]) && same_cgi_name(h->name, names[i], h->name_len))
            return true;
    return false;
}

static int put_field(flare_buf *out, const char *name, const char *value, size_t len)
{
    size_t nlen = strlen(name);
    int rc = flare_buf_reserve(out, nlen + len + 4);
    if (rc < 0) return rc;
    flare_buf_append(out, name, nlen);
    flare_buf_append(out, ": ", 2);
    flare_buf_append(out, value, len);
    return flare_buf_append(out, "\r\n", 2);
}

/* RFC 7239 §4: a value that is not a token is a quoted-string (RFC 9110 §5.6.4). */
static int put_forwarded_value(flare_buf *out, const char *v, size_t len)
{
    bool token = len > 0;
    for (size_t i = 0; i < len && token; i++) {
        unsigned char ch = (unsigned char)v[i];
        token = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                strchr("!#$%&'*+-.^_`|~", ch);
    }
    if (token) return flare_buf_append(out, v, len);
    int rc = flare_buf_append(out, "\"", 1);
    for (size_t i = 0; i < len && rc == 0; i++) {
        if (v[i] == '"' || v[i] == '\\') rc = flare_buf_append(out, "\\", 1);
        if (rc == 0) rc = flare_buf_append(out, &v[i], 1);
    }
    return rc == 0 ? flare_buf_append(out, "\"", 1) : rc;
}

/* The client's address as X-Forwarded-For writes it; "unknown" when there is none (a
 * Unix socket). Formatted once per request: every field that names it copies it. */
static size_t client_ip(const flare_request *req, char *out, size_t cap)
{
    const flare_sock_addr *peer = req->peer;
    if (!peer || (peer->ip.family != AF_INET && peer->ip.family != AF_INET6)) {
        snprintf(out, cap, "unknown");
        return 7;
    }
    flare_ip_addr ip = flare_ip_unmap(&peer->ip);
    return flare_ip_format(&ip, out, cap);
}

static int put_request_line(flare_buf *out, const flare_request *req, size_t strip_len)
{
    const char *path = req->path;
    size_t path_len = req->path_len;
    if (strip_len && strip_len <= path_len) {
        path += strip_len;
        path_len -= strip_len;
    }
    int rc = flare_buf_append(out, req->head->method, req->head->method_len);
    if (rc == 0) rc = flare_buf_append(out, " ", 1);
    if (rc == 0 && (path_len == 0 || path[0] != '/')) rc = flare_buf_append(out, "/", 1);
    if (rc == 0) rc = flare_buf_append(out, path, path_len);
    if (rc == 0 && req->query) {
        rc = flare_buf_append(out, "?", 1);
        if (rc == 0) rc = flare_buf_append(out, req->query, req->query_len);
    }
    return rc == 0 ? flare_buf_append_str(out, " HTTP/1.1\r\n") : rc;
}

void flared_proxy_client_host(const flare_request *req, const char **host, size_t *len)
{
    const flare_http_request *h = req->head;
    *host = "";
    *len = 0;
    if (h->target_form == FLARE_TARGET_ABSOLUTE) {
        /* RFC 9112 §3.2.2: the target's authority, with its port, replaces Host. */
        const char *t = h->target;
        const char *colon = memchr(t, ':', h->target_len);
        size_t from = colon ? (size_t)(colon - t) + 3 : 0, to;
        if (from > h->target_len) from = h->target_len;
        for (to = from; to < h->target_len && t[to] != '/' && t[to] != '?'; to++)
            ;
        *host = t + from;
        *len = to - from;
    } else if (h->host_index >= 0) {
        *host = h->headers[h->host_index].value;
        *len = h->headers[h->host_index].value_len;
    }
}

int64_t flared_proxy_max_forwards(const flare_request *req)
{
    if (req->method != FLARE_METHOD_TRACE && req->method != FLARE_METHOD_OPTIONS) return -1;
    const flare_http_request *h = req->head;
    for (size_t i = 0; i < h->num_headers; i++) {
        const flare_http_header *f = &h->headers[i];
        if (!flared_proxy_field_is(f, "max-forwards")) continue;
        /* Max-Forwards = 1*DIGIT; a value past any hop count reads as the largest. */
        int64_t v = 0;
        for (size_t k = 0; k < f->value_len; k++) {
            if (f->value[k] < '0' || f->value[k] > '9') return -1;
            v = v * 10 + (f->value[k] - '0');
            if (v > INT32_MAX) v = INT32_MAX;
        }
        return f->value_len ? v : -1;
    }
    return -1;
}

int64_t flared_proxy_keep_alive_timeout(const flare_http_response *r)
{
    for (size_t i = 0; i < r->num_headers; i++) {
        const flare_http_header *f = &r->headers[i];
        if (f->id != FLARE_HDR_KEEP_ALIVE) continue;
        /* RFC 2068 §19.7.1.1: Keep-Alive: timeout=5, max=100 (parameters in any order). */
        const char *v = f->value, *end = v + f->value_len;
        while (v < end) {
            while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
                v++;
            const char *e = memchr(v, ',', (size_t)(end - v));
            if (!e) e = end;
            if (e - v > 8 && strncasecmp(v, "timeout=", 8) == 0) {
                int64_t secs = 0;
                const char *d = v + 8, *digits = d;
                /* Clamped at INT32_MAX, exactly: 2147483646 is itself. */
                for (; d < e && *d >= '0' && *d <= '9'; d++) {
                    int digit = *d - '0';
                    secs = secs > (INT32_MAX - digit) / 10 ? INT32_MAX : secs * 10 + digit;
                }
                const char *last = d;
                while (d < e && (*d == ' ' || *d == '\t'))
                    d++;
                if (d == e && last > digits) return secs;
            }
            v = e;
        }
    }
    return -1;
}

int flared_proxy_reflect_trace(flare_response *resp, const flare_request *req)
{
    const flare_http_request *h = req->head;
    flare_response_status(resp, 200);
    int rc = flare_response_header(resp, "Content-Type", "message/http");
    if (rc == 0) rc = flare_response_body(resp, h->method, h->method_len);
    if (rc == 0) rc = flare_response_body(resp, " ", 1);
    if (rc == 0) rc = flare_response_body(resp, h->target, h->target_len);
    if (rc == 0)
        rc = flare_response_body(resp, h->minor_version ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n", 11);
    for (size_t i = 0; i < h->num_headers && rc == 0; i++) {
        const flare_http_header *f = &h->headers[i];
        /* RFC 9110 §9.3.8: fields likely to hold secrets are left out. */
        if (f->id == FLARE_HDR_COOKIE || f->id == FLARE_HDR_AUTHORIZATION ||
            flared_proxy_field_is(f, "proxy-authorization"))
            continue;
        rc = flare_response_body(resp, f->name, f->name_len);
        if (rc == 0) rc = flare_response_body(resp, ": ", 2);
        if (rc == 0) rc = flare_response_body(resp, f->value, f->value_len);
        if (rc == 0) rc = flare_response_body(resp, "\r\n", 2);
    }
    return rc == 0 ? flare_response_body(resp, "\r\n", 2) : rc;
}

const flare_http_header *flared_proxy_upgrade_field(const flare_http_request *h)
{
    const flare_http_header *u =
        h->upgrade ? flare_http_request_header(h, FLARE_HDR_UPGRADE) : NULL;
    return u && !flare_http_value_has_token(u->value, u->value_len, "h2c") ? u : NULL;
}

/* An $ssl_* variable of the request's connection, written at p (NULL: only measured);
 * its length, 0 in clear text or when it has no value. The client certificate's subject
 * is made at its first use on the connection and kept there, so a route that sends it
 * formats it once per connection, and a route that does not never does. */
static size_t put_tls_var(char *p, flared_proxy_var v, const flare_tls_conn *tls)
{
    if (!tls) return 0;
    const char *text, *why = NULL;
    size_t len = 0;
    if (v == FLARED_PV_SSL_CLIENT_S_DN) {
        /* Written as measured: the subject the measuring call made, or none when memory
         * ran out then; made now, it would outgrow the room reserved for it. */
        text = p ? tls->peer_dn : flare_tls_conn_peer_dn(tls, &len);
        if (p && text) len = strlen(text);
    } else {
        text = v == FLARED_PV_SSL_PROTOCOL ? flare_tls_conn_version(tls)
               : v == FLARED_PV_SSL_CIPHER ? flare_tls_conn_cipher(tls)
                                           : flare_tls_conn_peer_verify(tls, &why);
        len = text ? strlen(text) : 0;
    }
    size_t why_len = why ? strlen(why) : 0;
    if (p && len) memcpy(p, text, len);
    if (p && why) {
        p[len] = ':'; /* FAILED:reason, as nginx writes it */
        memcpy(p + len + 1, why, why_len);
    }
    return len + (why ? 1 + why_len : 0);
}

/* The most bytes a variable of `request_headers` expands to for req (NULL: a health
 * check, where only $request_id has a value). */
static size_t var_max(flared_proxy_var v, const flare_request *req)
{
    if (!req && v != FLARED_PV_REQUEST_ID) return 0;
    switch (v) {
    case FLARED_PV_REMOTE_ADDR:
        return FLARE_IP_STR_MAX; /* with flare_ip_format's NUL */
    case FLARED_PV_REMOTE_PORT:
    case FLARED_PV_SERVER_PORT:
    case FLARED_PV_SCHEME:
        return 5;
    case FLARED_PV_HOST:
        return req->host_len;
    case FLARED_PV_REQUEST_ID:
        return FLARED_REQUEST_ID_LEN;
    case FLARED_PV_SSL_PROTOCOL:
    case FLARED_PV_SSL_CIPHER:
    case FLARED_PV_SSL_CLIENT_S_DN:
    case FLARED_PV_SSL_CLIENT_VERIFY:
        return put_tls_var(NULL, v, req->tls);
    default:
        return 0;
    }
}

static size_t put_port(char *p, uint16_t port)
{
    char digits[5];
    size_t n = 0;
    do
        digits[n++] = (char)('0' + port % 10);
    while ((port /= 10) != 0);
    for (size_t i = 0; i < n; i++)
        p[i] = digits[n - 1 - i];
    return n;
}

/* What variables expand from: the request and its client's address, formatted once
 * (addr_len 0 when the client has none); a health check has no request, only a serial. */
typedef struct var_source {
    const flare_request *req;
    const char *addr;
    size_t addr_len;
    uint64_t serial; /* $request_id's */
} var_source;

/* Writes variable v at p (room for var_max); its length, 0 when it has no value. */
static size_t put_var(char *p, flared_proxy_var v, const var_source *src)
{
    const flare_request *req = src->req;
    if (!req && v != FLARED_PV_REQUEST_ID) return 0;
    switch (v) {
    case FLARED_PV_REMOTE_ADDR:
        memcpy(p, src->addr, src->addr_len);
        return src->addr_len;
    case FLARED_PV_REMOTE_PORT: /* none from X-Forwarded-For (port 0) */
        return src->addr_len && req->peer->port ? put_port(p, req->peer->port) : 0;
    case FLARED_PV_SERVER_PORT:
        return req->server_port ? put_port(p, req->server_port) : 0;
    case FLARED_PV_SCHEME:
        memcpy(p, req->tls ? "https" : "http", req->tls ? 5 : 4);
        return req->tls ? 5 : 4;
    case FLARED_PV_HOST:
        memcpy(p, req->host, req->host_len);
        return req->host_len;
    case FLARED_PV_REQUEST_ID:
        flared_request_id(src->serial, p);
        return FLARED_REQUEST_ID_LEN;
    case FLARED_PV_SSL_PROTOCOL:
    case FLARED_PV_SSL_CIPHER:
    case FLARED_PV_SSL_CLIENT_S_DN:
    case FLARED_PV_SSL_CLIENT_VERIFY:
        return put_tls_var(p, v, req->tls);
    default:
        return 0;
    }
}

/* A `request_headers` field with its variables expanded straight into out (one reserve
 * of the most it can take). Nothing is written when the value comes out empty, as nginx
 * leaves out such a field; *written tells. */
static int put_set_field(flare_buf *out, const flared_proxy_set_field *f, const var_source *src,
                         bool *written)
{
    const flare_request *req = src->req;
    *written = false;
    if (f->part_count == 0) return 0; /* "": removed */
    size_t max = f->name_len + f->literal_len + 4;
    for (size_t i = 0; i < f->part_count; i++)
        max += var_max(f->parts[i].var, req);
    int rc = flare_buf_reserve(out, max);
    if (rc < 0) return rc;
    char *start = out->data + out->len, *p = start;
    memcpy(p, f->name, f->name_len);
    p += f->name_len;
    *p++ = ':';
    *p++ = ' ';
    char *value = p;
    for (size_t i = 0; i < f->part_count; i++) {
        const flared_proxy_part *part = &f->parts[i];
        if (part->var == FLARED_PV_LITERAL) {
            memcpy(p, part->text, part->len);
            p += part->len;
        } else {
            p += put_var(p, part->var, src);
        }
    }
    if (p == value) return 0;
    *p++ = '\r';
    *p++ = '\n';
    out->len += (size_t)(p - start);
    *written = true;
    return 0;
}

/* Whether a `request_headers` entry takes the place of the client's field f; a
 * spelling with '_' for '-' too, which would otherwise stand in for the route's. */
static bool set_by_route(const flare_http_header *f, const flared_proxy_route *route)
{
    for (size_t i = 0; i < route->set_field_count; i++) {
        const flared_proxy_set_field *s = &route->set_fields[i];
        if (s->name_len == f->name_len && same_cgi_name(s->name, f->name, f->name_len)) return true;
    }
    return false;
}

/* Whether a `request_headers` Host would name no host: $host without one from the
 * client (HTTP/1.0 without Host), which "$host:$server_port" would turn into ":PORT",
 * an authority with an empty host (RFC 9110 §4.2.1). The upstream's name goes then. */
static bool host_left_empty(const flared_proxy_set_field *f, const flare_request *req)
{
    for (size_t i = 0; req->host_len == 0 && i < f->part_count; i++)
        if (f->parts[i].var == FLARED_PV_HOST) return true;
    return false;
}

int flared_proxy_request_head(flare_buf *out, const flare_request *req,
                              const flared_proxy_head_opts *o)
{
    const flare_http_request *h = req->head;
    int64_t max_forwards = flared_proxy_max_forwards(req); /* 0 is answered by the handler */
    /* The route's request_headers: those fields of the client's and of this hop's are
     * left out, the route's written instead. */
    const flared_proxy_route *route = o->route;
    bool rewrites = route && route->set_field_count;
    unsigned replaced = route ? route->own_replaced : 0;
    int rc = put_request_line(out, req, o->strip_len);
    char ip[FLARE_IP_STR_MAX + 2];
    size_t ip_len = client_ip(req, ip, sizeof ip);
    bool has_ip =
        req->peer && (req->peer->ip.family == AF_INET || req->peer->ip.family == AF_INET6);
    const var_source src = {
        .req = req, .addr = ip, .addr_len = has_ip ? ip_len : 0, .serial = req->serial};
    bool host_set = false;
    if (rc == 0 && route && route->set_host && !host_left_empty(route->set_host, req))
        rc = put_set_field(out, route->set_host, &src, &host_set);
    if (rc == 0 && !host_set) rc = put_field(out, "Host", o->host, o->host_len);
    /* X-Forwarded-For: what earlier proxies said, then this hop's client. */
    bool xff = false;
    for (size_t i = 0; i < h->num_headers && rc == 0 && !(replaced & FLARED_PROXY_OWN_XFF); i++) {
        const flare_http_header *f = &h->headers[i];
        /* An empty field would leave an empty entry, which readers take as malformed. */
        if (f->id != FLARE_HDR_X_FORWARDED_FOR || f->value_len == 0) continue;
        rc = flare_buf_append_str(out, xff ? ", " : "X-Forwarded-For: ");
        if (rc == 0) rc = flare_buf_append(out, f->value, f->value_len);
        xff = true;
    }
    if (!(replaced & FLARED_PROXY_OWN_XFF)) {
        if (rc == 0) rc = flare_buf_append_str(out, xff ? ", " : "X-Forwarded-For: ");
        if (rc == 0) rc = flare_buf_append(out, ip, ip_len);
        if (rc == 0) rc = flare_buf_append(out, "\r\n", 2);
    }
    /* The client alone, as nginx setups send it ($remote_addr): an application that
     * believes X-Real-IP cannot be handed one the client wrote itself. None for a
     * client without an address (a Unix socket): the field holds an IP or nothing. */
    if (rc == 0 && has_ip && !(replaced & FLARED_PROXY_OWN_REAL_IP))
        rc = put_field(out, "X-Real-IP", ip, ip_len);
    for (size_t i = 0; i < h->num_headers && rc == 0; i++) {
        const flare_http_header *f = &h->headers[i];
        if (flared_proxy_hop_by_hop(f, h->headers, h->num_headers)) continue;
        /* Written above or below by this hop; Expect is answered here: the body is read.
         * X-Forwarded-Port and -Prefix would speak for this hop, which does not send
         * them: a client's own would be believed as if it had. So would a client's
         * Forwarded, which comes before this hop's: readers take the first element's
         * host, proto and for (Spring's ForwardedHeaderFilter does), and the client
         * would set what its X-Forwarded-Host and -Proto, dropped, could not. */
        if (f->id == FLARE_HDR_HOST || f->id == FLARE_HDR_CONTENT_LENGTH ||
            f->id == FLARE_HDR_EXPECT || f->id == FLARE_HDR_X_FORWARDED_FOR ||
            flared_proxy_field_is(f, "forwarded") ||
            flared_proxy_field_is(f, "x-forwarded-proto") ||
            flared_proxy_field_is(f, "x-forwarded-host") || flared_proxy_field_is(f, "x-real-ip") ||
            flared_proxy_field_is(f, "x-forwarded-port") ||
            flared_proxy_field_is(f, "x-forwarded-prefix") || forwarding_alias(f) ||
            (max_forwards > 0 && flared_proxy_field_is(f, "max-forwards")) ||
            (rewrites && set_by_route(f, route)))
            continue;
        rc = flare_buf_reserve(out, f->name_len + f->value_len + 4);
        if (rc < 0) break;
        flare_buf_append(out, f->name, f->name_len);
        flare_buf_append(out, ": ", 2);
        flare_buf_append(out, f->value, f->value_len);
        flare_buf_append(out, "\r\n", 2);
    }
    for (size_t i = 0; rewrites && i < route->set_field_count && rc == 0; i++) {
        bool written;
        rc = put_set_field(out, &route->set_fields[i], &src, &written);
    }
    const char *proto = req->tls ? "https" : "http";
    const char *chost;
    size_t chost_len;
    flared_proxy_client_host(req, &chost, &chost_len);
    if (rc == 0 && !(replaced & FLARED_PROXY_OWN_XF_PROTO))
        rc = put_field(out, "X-Forwarded-Proto", proto, strlen(proto));
    if (rc == 0 && chost_len && !(replaced & FLARED_PROXY_OWN_XF_HOST))
        rc = put_field(out, "X-Forwarded-Host", chost, chost_len);
    /* RFC 7239: this hop's Forwarded, the only one (the client's are dropped above). */
    if (rc == 0 && !(replaced & FLARED_PROXY_OWN_FORWARDED)) {
        rc = flare_buf_append_str(out, "Forwarded: for=");
        if (memchr(ip, ':', ip_len)) { /* RFC 7239 §6: "[v6]", quoted */
            memmove(ip + 1, ip, ip_len);
            ip[0] = '[';
            ip[ip_len + 1] = ']';
            ip_len += 2;
        }
        if (rc == 0) rc = put_forwarded_value(out, ip, ip_len);
        if (rc == 0 && chost_len) {
            rc = flare_buf_append_str(out, ";host=");
            if (rc == 0) rc = put_forwarded_value(out, chost, chost_len);
        }
        if (rc == 0) rc = flare_buf_append_str(out, ";proto=");
        if (rc == 0) rc = flare_buf_append_str(out, proto);
        if (rc == 0) rc = flare_buf_append(out, "\r\n", 2);
    }
    /* RFC 9110 §7.6.2: one hop fewer for TRACE and OPTIONS. */
    if (rc == 0 && max_forwards > 0) {
        char mf[24];
        int n = snprintf(mf, sizeof mf, "%lld", (long long)max_forwards - 1);
        rc = put_field(out, "Max-Forwards", mf, (size_t)n);
    }
    /* RFC 9110 §7.6.3: the protocol version received, then who received it. */
    if (rc == 0)
        rc = flare_buf_append_str(out, h->minor_version ? "Via: 1.1 " VIA_VALUE "\r\n"
                                                        : "Via: 1.0 " VIA_VALUE "\r\n");
    /* RFC 9112 §6.2: a body is framed by length; a POST without one says 0. */
    bool wants_length = req->body_len > 0 || h->chunked || h->content_length >= 0 ||
                        req->method == FLARE_METHOD_POST || req->method == FLARE_METHOD_PUT ||
                        req->method == FLARE_METHOD_PATCH;
    if (rc == 0 && o->stream_body && h->chunked) {
        rc = flare_buf_append_str(out, "Transfer-Encoding: chunked\r\n"); /* re-framed here */
    } else if (rc == 0 && o->stream_body) {
        char len[32];
        int n = snprintf(len, sizeof len, "%lld", (long long)h->content_length);
        rc = put_field(out, "Content-Length", len, (size_t)n);
    } else if (rc == 0 && wants_length) {
        char len[32];
        int n = snprintf(len, sizeof len, "%zu", req->body_len);
        rc = put_field(out, "Content-Length", len, (size_t)n);
    }
    /* RFC 9110 §7.8: a protocol switch is asked of each hop anew. */
    const flare_http_header *upgrade = flared_proxy_upgrade_field(h);
    if (rc == 0 && upgrade) {
        rc = put_field(out, "Upgrade", upgrade->value, upgrade->value_len);
        if (rc == 0) rc = flare_buf_append_str(out, "Connection: upgrade\r\n");
    } else if (rc == 0 && o->close) {
        rc = flare_buf_append_str(out, "Connection: close\r\n");
    }
    if (rc == 0) rc = flare_buf_append(out, "\r\n", 2);
    return rc;
}

int flared_proxy_probe_field(flare_buf *out, const flared_proxy_set_field *f, uint64_t serial)
{
    const var_source src = {.serial = serial};
    bool written;
    return put_set_field(out, f, &src, &written);
}

/* RFC 9110 §8.8.3: coded bytes are not the identity's, so a strong validator of
 * these becomes weak (as nginx does); one too long to rewrite here is dropped. */
static int weak_etag(flare_response *resp, const flare_http_header *f)
{
    char etag[256];
    if (f->value_len >= 2 && f->value[0] == 'W' && f->value[1] == '/')
        return flare_response_headern(resp, "ETag", 4, f->value, f->value_len);
    if (f->value_len + 2 > sizeof etag) return 0;
    memcpy(etag, "W/", 2);
    memcpy(etag + 2, f->value, f->value_len);
    return flare_response_headern(resp, "ETag", 4, etag, f->value_len + 2);
}

/* Whether the route's hide_headers name f. */
static bool hidden(const flare_http_header *f, const flared_proxy_route *route)
{
    for (size_t i = 0; i < route->hide_count; i++)
        if (flare_http_field_name_eq(route->hide[i].name, route->hide[i].len, f->name, f->name_len))
            return true;
    return false;
}

int flared_proxy_response_fields_coded(flare_response *resp, const flare_http_response *up,
                                       unsigned gzip, const flared_proxy_route *route)
{
    bool varies = false; /* a Vary already covers Accept-Encoding */
    bool hides = route && route->hide_count;
    for (size_t i = 0; i < up->num_headers; i++) {
        const flare_http_header *f = &up->headers[i];
        if (flared_proxy_hop_by_hop(f, up->headers, up->num_headers)) continue;
        if (f->id == FLARE_HDR_CONTENT_LENGTH || flared_proxy_field_is(f, "date") ||
            flared_proxy_field_is(f, "server") || (hides && hidden(f, route)))
            continue;
        int rc;
        if ((gzip & FLARED_GZIP_ENCODE) && flared_proxy_field_is(f, "accept-ranges")) {
            /* The upstream's ranges count identity bytes: a client resuming a gzipped
             * download with one would splice them onto coded bytes (nginx drops it too). */
            rc = 0;
        } else if ((gzip & FLARED_GZIP_ENCODE) &&
                   (f->id == FLARE_HDR_CONTENT_ENCODING || flared_proxy_field_is(f, "etag"))) {
            /* identity (the only coding let through) gives way to gzip */
            rc = f->id == FLARE_HDR_CONTENT_ENCODING ? 0 : weak_etag(resp, f);
        } else {
            if (flared_proxy_field_is(f, "vary"))
                varies = varies || flare_http_value_has_token(f->value, f->value_len, "*") ||
                         flare_http_value_has_token(f->value, f->value_len, "accept-encoding");
            rc = flare_response_headern(resp, f->name, f->name_len, f->value, f->value_len);
        }
        if (rc < 0) return rc;
    }
    int rc = 0;
    if ((gzip & FLARED_GZIP_VARY) && !varies)
        rc = flare_response_header(resp, "Vary", "Accept-Encoding");
    if (rc == 0 && (gzip & FLARED_GZIP_ENCODE))
        rc = flare_response_header(resp, "Content-Encoding", "gzip");
    if (rc < 0) return rc;
    char via[32];
    int n = snprintf(via, sizeof via, "1.%d " VIA_VALUE, up->minor_version);
    return flare_response_headern(resp, "Via", 3, via, (size_t)n);
}

int flared_proxy_response_fields(flare_response *resp, const flare_http_response *up,
                                 const flared_proxy_route *route)
{
    return flared_proxy_response_fields_coded(resp, up, 0, route);
}
