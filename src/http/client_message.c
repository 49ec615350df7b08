/*
 * client_message.c: one request/response exchange on a connection: the request
 * head (validated: no CR, LF, NUL or other controls from the caller reach it),
 * then the response: 1xx skipped, the head parsed and copied into the reply, the
 * body framed by RFC 9112 §6.3 (none for HEAD/204/304, chunked with trailers
 * dropped, Content-Length, or until close) and decoded (gzip/deflate) under the
 * size limit. Invariant: a connection is reusable only when the response ended
 * exactly at the last byte read and both sides agreed to keep it alive.
 */
#include "client_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "flare/encoding.h"

/* A followed redirect's body is read (and dropped) up to this size to keep the
 * connection; a longer one, or one that lasts until close, costs the connection
 * instead, however large the caller's max_response_bytes. */
#define DRAIN_MAX (64u * 1024)
/* Bytes requested per read while the size is not known. */
#define READ_CHUNK (64u * 1024)
/* A body up to this size is copied behind the head and sent with one write. */
#define INLINE_BODY (16u * 1024)

static bool is_token(const char *s)
{
    return s && flare_http_is_token(s, strlen(s));
}

/* field-value (RFC 9110 §5.5): no controls but HTAB; CR, LF and NUL above all. */
static bool is_field_value(const char *s)
{
    return flare_http_is_field_value(s, strlen(s));
}

/* s as an error message may show it: controls escaped (a message is one line), cut short. */
static const char *shown(const char *s, char out[64])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (; s && *s && o < 56; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch >= 0x20 && ch != 0x7f) {
            out[o++] = (char)ch;
        } else {
            out[o++] = '\\';
            out[o++] = ch == '\r' ? 'r' : ch == '\n' ? 'n' : 'x';
            if (ch != '\r' && ch != '\n') {
                out[o++] = hex[ch >> 4];
                out[o++] = hex[ch & 15];
            }
        }
    }
    out[o] = '\0';
    return s ? out : "(null)";
}

/* The first value (not NULL) h gives name; NULL when none. */
static const char *first_in(const flare_http_kv *h, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (h[i].value && !strcasecmp(h[i].name, name)) return h[i].value;
    return NULL;
}

const char *flare_http_client_header_problem(const flare_http_kv *h, size_t n, size_t i)
{
    if (!is_token(h[i].name)) return "invalid header name (a token: no spaces, colons, CR or LF)";
    /* NULL: the client's own field of that name is not sent (curl's -H 'Name:'), but a
     * request must have a Host (RFC 9112 §3.2): a NULL Host is refused unless the same
     * list gives one. The body's framing is the client's alone (below). */
    if (!h[i].value && !strcasecmp(h[i].name, "Host") && !first_in(h, n, "Host"))
        return "cannot be left out, a request must carry a Host (RFC 9112 section 3.2)";
    if (h[i].value && !is_field_value(h[i].value))
        return "value holds CR, LF, NUL or another control character (header injection refused)";
    /* The client frames the body itself; a second length would desynchronise. */
    if (!strcasecmp(h[i].name, "Content-Length") || !strcasecmp(h[i].name, "Transfer-Encoding"))
        return "set by the client from the body";
    return NULL;
}

int flare_http__client_check_fields(const flare_http_kv *h, size_t n, const char *whose,
                                    flare_error *err)
{
    char buf[64];
    for (size_t i = 0; i < n; i++) {
        const char *problem = flare_http_client_header_problem(h, n, i);
        if (problem)
            return flare_error_set(err, FLARE_EINVAL, 0, "%s header \"%s\": %s", whose,
                                   shown(h[i].name, buf), problem);
    }
    return 0;
}

int flare_http__client_check_request(const client_req *rq, flare_error *err)
{
    char buf[64];
    if (!is_token(rq->method))
        return flare_error_set(err, FLARE_EINVAL, 0,
                               "method \"%s\" is not a token (CR, LF and spaces refused)",
                               shown(rq->method, buf));
    /* CONNECT's target is authority-form (RFC 9110 §9.3.6, RFC 9112 §3.2.3): sent with
     * the URL's path, as every other request is, it is a head any server refuses. */
    if (!strcmp(rq->method, "CONNECT"))
        return flare_error_set(err, FLARE_EINVAL, 0,
                               "method CONNECT asks for a tunnel (a host:port target), which this "
                               "client does not open");
    if (rq->content_type && !is_field_value(rq->content_type))
        return flare_error_set(err, FLARE_EINVAL, 0,
                               "content type holds CR, LF, NUL or a control character");
    return flare_http__client_check_fields(rq->headers, rq->num_headers, "request", err);
}

static const flare_http_kv *find_kv(const flare_http_kv *h, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcasecmp(h[i].name, name)) return &h[i];
    return NULL;
}

/* The list that has the say on name: the request's own when it names it at all (with
 * a value or NULL), else the config's. */
static const flare_http_kv *say_on(const flare_http_client *c, const client_req *rq,
                                   const char *name, size_t *n)
{
    bool own = find_kv(rq->headers, rq->num_headers, name) != NULL;
    *n = own ? rq->num_headers : c->num_headers;
    return own ? rq->headers : c->headers;
}

/* True when the caller named name at all: a field the client writes itself is then
 * replaced by the caller's values of that name, or by none (curl's rule for -H). */
static bool named(const flare_http_client *c, const client_req *rq, const char *name)
{
    return find_kv(rq->headers, rq->num_headers, name) || find_kv(c->headers, c->num_headers, name);
}

/* The caller's first value for name, NULL when it gave none (a Host, like curl's, is
 * the first one given: a request carries a single Host, RFC 9112 §3.2). */
static const char *first_value(const flare_http_client *c, const client_req *rq, const char *name)
{
    size_t n;
    const flare_http_kv *h = say_on(c, rq, name, &n);
    return first_in(h, n, name);
}

/* True when the caller asked for the client's own field named name to be left out (a
 * NULL value). Its own values of that name, before or after, are sent all the same. */
static bool left_out(const flare_http_client *c, const client_req *rq, const char *name)
{
    size_t n;
    const flare_http_kv *h = say_on(c, rq, name, &n);
    for (size_t i = 0; i < n; i++)
        if (!h[i].value && !strcasecmp(h[i].name, name)) return true;
    return false;
}

/* Headers the builder writes itself, the caller's values for them merged there:
 * Host (one, first), Cookie (one line, RFC 6265 §5.4). A caller's Content-Type goes
 * with the body a redirect dropped (a 303 made the POST a GET; Fetch drops it so);
 * one given for a request without a body is sent, as curl sends it. A caller's
 * credentials stay with the first origin, as curl keeps them: after a redirect to
 * another origin they would reach a server they were not for. */
static bool builder_owned(const char *name, const client_req *rq)
{
    return !strcasecmp(name, "Host") || !strcasecmp(name, "Cookie") ||
           (rq->body_dropped && !strcasecmp(name, "Content-Type")) ||
           (rq->cross_origin &&
            (!strcasecmp(name, "Authorization") || !strcasecmp(name, "Proxy-Authorization")));
}

static int append_field(flare_buf *b, const char *name, const char *value)
{
    return flare_buf_appendf(b, "%s: %s\r\n", name, value);
}

/* The client's own credentials, unless the caller named Authorization: a URL's own
 * user:pass is explicit for that URL (RFC 7617 over its userinfo), the config's go to
 * the first origin only. After a redirect to another origin the caller's values are
 * not sent, and the URL's user:pass stands in for them. */
static int append_auth(const flare_http_client *c, const client_req *rq, flare_buf *b)
{
    const flare_url *u = rq->url;
    if (left_out(c, rq, "Authorization") ||
        (!rq->cross_origin && first_value(c, rq, "Authorization")))
        return 0;
    if (u->user) {
        int rc = flare_buf_append_str(b, "Authorization: Basic ");
        flare_buf pair = FLARE_BUF_INIT;
        if (rc == 0)
            rc = flare_buf_appendf(&pair, "%s:%s", u->user, u->password ? u->password : "");
        if (rc == 0) rc = flare_http__client_base64(b, pair.data, pair.len);
        flare_buf_free(&pair);
        if (rc == 0) rc = flare_buf_append(b, "\r\n", 2);
        return rc;
    }
    if (c->auth_header && !rq->cross_origin)
        return append_field(b, "Authorization", c->auth_header);
    return 0;
}

/* A caller's Cookie value without the ';' and blanks around it ("a=1;", " b=2"), so
 * that the pieces joined make a cookie-string, pairs separated by "; " (RFC 6265 §5.4),
 * and not "a=1;; b=2", whose empty pair servers read differently. */
static const char *cookie_piece(const char *v, size_t *len)
{
    while (*v == ';' || *v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(v);
    while (n && (v[n - 1] == ';' || v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    *len = n;
    return v;
}

/* One Cookie line (RFC 6265 §5.4): the caller's values in their order, then the jar's
 * cookies unless the caller left them out. A caller's "" sends the line empty. */
static int append_cookie(flare_http_client *c, const client_req *rq, flare_buf *b)
{
    size_t n = 0, mark = b->len;
    const flare_http_kv *h = rq->cross_origin ? NULL : say_on(c, rq, "Cookie", &n);
    bool given = false;
    int rc = flare_buf_append_str(b, "Cookie: ");
    size_t start = b->len;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!h[i].value || strcasecmp(h[i].name, "Cookie")) continue;
        given = true;
        size_t len;
        const char *piece = cookie_piece(h[i].value, &len);
        if (b->len > start && len) rc = flare_buf_append(b, "; ", 2);
        if (rc == 0) rc = flare_buf_append(b, piece, len);
    }
    if (rc == 0 && c->jar && !left_out(c, rq, "Cookie")) {
        flare_buf jar = FLARE_BUF_INIT;
        int got = flare_cookie_jar_header(c->jar, rq->url, (int64_t)time(NULL), &jar);
        if (got < 0) rc = got;
        if (got > 0 && b->len > start) rc = flare_buf_append(b, "; ", 2);
        if (got > 0 && rc == 0) rc = flare_buf_append(b, jar.data, jar.len);
        given = given || got > 0;
        flare_buf_free(&jar);
    }
    if (rc == 0 && !given)
        b->len = mark; /* nothing to send */
    else if (rc == 0)
        rc = flare_buf_append(b, "\r\n", 2);
    return rc;
}

/* The caller's fields go out in their order after the client's own: a config's unless
 * the request names the same field, then the request's. */
static int append_given(flare_http_client *c, const client_req *rq, flare_buf *b)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < c->num_headers; i++) {
        const flare_http_kv *kv = &c->headers[i];
        if (kv->value && !builder_owned(kv->name, rq) &&
            !find_kv(rq->headers, rq->num_headers, kv->name))
            rc = append_field(b, kv->name, kv->value);
    }
    for (size_t i = 0; rc == 0 && i < rq->num_headers; i++) {
        const flare_http_kv *kv = &rq->headers[i];
        if (kv->value && !builder_owned(kv->name, rq)) rc = append_field(b, kv->name, kv->value);
    }
    return rc;
}

/* The request head. A field the client writes itself (User-Agent, Accept, ...) goes
 * only when the caller named none of that name; every value the caller gave goes. */
static int build_head(flare_http_client *c, const client_req *rq, flare_buf *b)
{
    const flare_url *u = rq->url;
    b->len = 0;
    int rc = flare_buf_appendf(b, "%s ", rq->method);
    if (rc == 0) rc = flare_url_target(u, b);
    if (rc == 0) rc = flare_buf_append_str(b, " HTTP/1.1\r\nHost: ");
    /* RFC 9110 §7.2: first; a caller's Host is kept only while the origin is the first. */
    const char *host = rq->cross_origin ? NULL : first_value(c, rq, "Host");
    if (rc == 0) rc = host ? flare_buf_append_str(b, host) : flare_url_host_header(u, b);
    if (rc == 0) rc = flare_buf_append(b, "\r\n", 2);
    if (rc == 0) rc = append_auth(c, rq, b); /* where curl writes it */
    if (rc == 0 && c->user_agent && !named(c, rq, "User-Agent"))
        rc = append_field(b, "User-Agent", c->user_agent);
    if (rc == 0 && !named(c, rq, "Accept")) rc = append_field(b, "Accept", "*/*");
    if (rc == 0 && c->decompress && !named(c, rq, "Accept-Encoding"))
        rc = append_field(b, "Accept-Encoding", "gzip, deflate");
    if (rc == 0) rc = append_cookie(c, rq, b);
    /* Connection is a list (RFC 9110 §7.6.1): a caller's options go beside "close". */
    if (rc == 0 && !c->keepalive && !left_out(c, rq, "Connection"))
        rc = append_field(b, "Connection", "close");
    if (rc == 0) rc = append_given(c, rq, b);
    if (rc == 0 && rq->has_body) {
        rc = rq->body_sized  ? flare_buf_appendf(b, "Content-Length: %llu\r\n",
                                                 (unsigned long long)rq->body_size)
             : rq->body_read ? flare_buf_append_str(b, "Transfer-Encoding: chunked\r\n")
                             : flare_buf_appendf(b, "Content-Length: %zu\r\n", rq->body_len);
        /* The seed's rule: a string body is JSON unless the caller says otherwise;
         * after the length, where curl writes its own. */
        const char *ct = rq->content_type ? rq->content_type : "application/json";
        if (rc == 0 && *ct && !named(c, rq, "Content-Type"))
            rc = append_field(b, "Content-Type", ct);
    } else if (rc == 0 && (!strcmp(rq->method, "POST") || !strcmp(rq->method, "PUT") ||
                           !strcmp(rq->method, "PATCH"))) {
        rc = flare_buf_append_str(b, "Content-Length: 0\r\n"); /* RFC 9110 §8.6 */
    }
    if (rc == 0) rc = flare_buf_append(b, "\r\n", 2);
    return rc;
}

int flare_http__client_base64(flare_buf *b, const char *s, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < len) v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < len) v |= p[i + 2];
        char out[4] = {alphabet[(v >> 18) & 63], alphabet[(v >> 12) & 63],
                       i + 1 < len ? alphabet[(v >> 6) & 63] : '=',
                       i + 2 < len ? alphabet[v & 63] : '='};
        if (flare_buf_append(b, out, 4) < 0) return FLARE_ENOMEM;
    }
    return 0;
}

/* Where body bytes go: kept, streamed to the caller, or dropped; decoded first. */
typedef struct body_sink {
    flare_buf body;
    flare_http_body_fn fn;
    void *fn_ctx;
    flare_inflater *inflater;
    flare_buf decoded; /* the inflater's output when streaming to fn */
    uint64_t max, received;
    bool discard;
} body_sink;

static int deliver(body_sink *s, const char *data, size_t len, flare_error *err)
{
    if (len == 0) return 0;
    s->received += len;
    if (s->received > s->max)
        return flare_error_set(err, FLARE_ELIMIT, 0,
                               "response body passes the limit of %llu bytes "
                               "(max_response_bytes)",
                               (unsigned long long)s->max);
    if (s->discard) return 0;
    if (s->inflater) {
        flare_buf *out = s->fn ? &s->decoded : &s->body;
        int rc = flare_inflater_update(s->inflater, data, len, out, err);
        if (rc < 0) return rc;
        if (s->fn && s->decoded.len) {
            rc = s->fn(s->fn_ctx, s->decoded.data, s->decoded.len, err);
            s->decoded.len = 0;
            return rc < 0 ? rc : 0;
        }
        return 0;
    }
    if (s->fn) {
        int rc = s->fn(s->fn_ctx, data, len, err);
        return rc < 0 ? rc : 0;
    }
    if (flare_buf_append(&s->body, data, len) < 0)
        return flare_error_set(err, FLARE_ENOMEM, 0, "http client: out of memory for the body");
    return 0;
}

/* Reads more bytes into c->rbuf; 0 at end of stream. */
static ssize_t fill(flare_http_client *c, client_conn *k, uint64_t deadline, flare_error *err)
{
    if (flare_buf_reserve(&c->rbuf, READ_CHUNK) < 0)
        return flare_error_set(err, FLARE_ENOMEM, 0, "http client: out of memory");
    ssize_t n = flare_http__client_conn_read(c, k, c->rbuf.data + c->rbuf.len,
                                             flare_buf_room(&c->rbuf), deadline, err);
    if (n > 0) c->rbuf.len += (size_t)n;
    return n;
}

static int cut_short(const client_conn *k, const char *what, flare_error *err)
{
    return flare_error_set(err, FLARE_EPROTO, 0, "%s port %u closed the connection %s", k->host,
                           k->port, what);
}

static int read_chunked(flare_http_client *c, client_conn *k, body_sink *s, uint64_t deadline,
                        bool *clean_end, flare_error *err)
{
    flare_http_chunked dec = {0};
    for (;;) {
        size_t len = c->rbuf.len;
        ssize_t rest =
            len ? flare_http_decode_chunked(&dec, c->rbuf.data, &len) : FLARE_EINCOMPLETE;
        if (rest == FLARE_EPARSE)
            return flare_error_set(err, FLARE_EPROTO, 0,
                                   "%s port %u: malformed chunked body (RFC 9112 §7.1)", k->host,
                                   k->port);
        int rc = deliver(s, c->rbuf.data, len, err);
        if (rc < 0) return rc;
        if (rest >= 0) {
            /* Trailer fields were dropped by the decoder (RFC 9112 §7.1.2). */
            *clean_end = rest == 0;
            c->rbuf.len = 0;
            return 0;
        }
        c->rbuf.len = 0;
        ssize_t n = fill(c, k, deadline, err);
        if (n < 0) return (int)n;
        if (n == 0) return cut_short(k, "in the middle of a chunked body", err);
    }
}

static int read_length(flare_http_client *c, client_conn *k, body_sink *s, uint64_t length,
                       uint64_t deadline, bool *clean_end, flare_error *err)
{
    uint64_t got = c->rbuf.len < length ? c->rbuf.len : length;
    int rc = deliver(s, c->rbuf.data, (size_t)got, err);
    if (rc < 0) return rc;
    *clean_end = c->rbuf.len == got; /* bytes past the body: the connection is not ours */
    c->rbuf.len = 0;
    bool direct = !s->inflater && !s->fn && !s->discard;
    if (direct && length - got > 0 && flare_buf_reserve(&s->body, (size_t)(length - got)) < 0)
        return flare_error_set(err, FLARE_ENOMEM, 0, "http client: out of memory for the body");
    while (got < length) {
        uint64_t want = length - got;
        ssize_t n;
        if (direct) {
            /* Straight into the body: no copy for a known length. */
            n = flare_http__client_conn_read(c, k, s->body.data + s->body.len, (size_t)want,
                                             deadline, err);
            if (n > 0) {
                s->body.len += (size_t)n;
                s->received += (uint64_t)n;
            }
        } else {
            if (flare_buf_reserve(&c->rbuf, READ_CHUNK) < 0)
                return flare_error_set(err, FLARE_ENOMEM, 0, "http client: out of memory");
            size_t room = want < READ_CHUNK ? (size_t)want : READ_CHUNK;
            n = flare_http__client_conn_read(c, k, c->rbuf.data, room, deadline, err);
            if (n > 0 && (rc = deliver(s, c->rbuf.data, (size_t)n, err)) < 0) return rc;
        }
        if (n < 0) return (int)n;
        if (n == 0) {
            char what[96];
            snprintf(what, sizeof what, "after %llu of %llu body bytes", (unsigned long long)got,
                     (unsigned long long)length);
            return cut_short(k, what, err);
        }
        got += (uint64_t)n;
    }
    return 0;
}

static int read_to_close(flare_http_client *c, client_conn *k, body_sink *s, uint64_t deadline,
                         flare_error *err)
{
    for (;;) {
        int rc = deliver(s, c->rbuf.data, c->rbuf.len, err);
        c->rbuf.len = 0;
        if (rc < 0) return rc;
        ssize_t n = fill(c, k, deadline, err);
        if (n < 0) return (int)n;
        /* RFC 9112 §9.8: over TLS only close_notify ends such a body; a bare close
         * may be an attacker cutting it short, and nothing else would tell. */
        if (n == 0 && k->tls && !k->tls_stream.conn.close_notify_received)
            return cut_short(k,
                             "without TLS close_notify: the body, delimited by the close, "
                             "may be truncated",
                             err);
        if (n == 0) return 0;
    }
}

/* Copies the head into reply-owned memory and NUL-terminates every slice in place:
 * the byte after a name is ':' and after a value or reason CR or whitespace. */
static int fill_reply_head(flare_http_reply *r, const char *head, size_t head_len,
                           const flare_http_response *resp, flare_error *err)
{
    r->mem = malloc(head_len + 1);
    r->headers = malloc((resp->num_headers ? resp->num_headers : 1) * sizeof *r->headers);
    if (!r->mem || !r->headers)
        return flare_error_set(err, FLARE_ENOMEM, 0, "http client: out of memory");
    memcpy(r->mem, head, head_len);
    r->mem[head_len] = '\0';
    r->status = resp->status;
    r->minor_version = resp->minor_version;
    r->num_headers = resp->num_headers;
    if (resp->reason_len) {
        char *reason = r->mem + (resp->reason - head);
        reason[resp->reason_len] = '\0';
        r->reason = reason;
    } else {
        r->reason = "";
    }
    for (size_t i = 0; i < resp->num_headers; i++) {
        flare_http_header h = resp->headers[i];
        char *name = r->mem + (h.name - head);
        name[h.name_len] = '\0';
        h.name = name;
        if (h.value_len) {
            char *value = r->mem + (h.value - head);
            value[h.value_len] = '\0';
            h.value = value;
        } else {
            h.value = "";
        }
        r->headers[i] = h;
    }
    return 0;
}

/* The single coding of a Content-Encoding we decode; IDENTITY when none or unknown.
 * Field lines of one name are one list (RFC 9110 §5.3): "gzip" on two lines is
 * "gzip, gzip", a list, not one coding. */
static flare_encoding body_coding(const flare_http_reply *r)
{
    const char *v = NULL;
    for (size_t i = 0; i < r->num_headers; i++) {
        if (r->headers[i].id != FLARE_HDR_CONTENT_ENCODING) continue;
        if (v) return FLARE_ENC_IDENTITY;
        v = r->headers[i].value;
    }
    if (!v) return FLARE_ENC_IDENTITY;
    while (*v == ' ' || *v == '\t')
        v++;
    size_t len = strlen(v);
    while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    int enc = flare_encoding_from_name(v, len);
    /* A coding we did not ask for ("br", or a list) stays as received. */
    return enc < 0 ? FLARE_ENC_IDENTITY : (flare_encoding)enc;
}

/*
 * Sends a streamed body: as chunks (RFC 9112 §7.1), each piece read going out in
 * one write with its size line and CRLF, then the last chunk without trailers; or,
 * sized, as exactly body_size bytes under its Content-Length (§6.2), asking the
 * source for no byte past it. A sized source that ends early fails the request: the
 * connection then closes mid-body, and the server sees a cut request, never a
 * short body taken for a whole one. *source_failed tells the body's own failure
 * from the connection's.
 */
static int send_streamed(flare_http_client *c, client_conn *k, const client_req *rq,
                         bool *source_failed, flare_error *err)
{
    enum { ROOM = 16 * 1024, LINE = 8 }; /* "4000\r\n" and shorter */
    char frame[LINE + ROOM + 2];
    uint64_t left = rq->body_size;
    *source_failed = false;
    while (!rq->body_sized || left > 0) {
        size_t cap = rq->body_sized && left < ROOM ? (size_t)left : ROOM;
        ssize_t n = rq->body_read(rq->body_ctx, frame + LINE, cap, err);
        if (n < 0 || (size_t)n > cap || (n == 0 && rq->body_sized)) {
            *source_failed = true;
            if (n < 0) return (int)n;
            if (n == 0)
                return flare_error_set(err, FLARE_EINVAL, 0,
                                       "the streamed body ended after %llu of its %llu bytes "
                                       "(body_size): the request was abandoned",
                                       (unsigned long long)(rq->body_size - left),
                                       (unsigned long long)rq->body_size);
            return flare_error_set(err, FLARE_EINVAL, 0,
                                   "body_read returned %zd bytes for room of %zu", n, cap);
        }
        if (n == 0) break;
        int rc;
        if (rq->body_sized) {
            left -= (uint64_t)n;
            rc = flare_http__client_conn_write(c, k, frame + LINE, (size_t)n, rq->deadline_ms, err);
        } else {
            char line[LINE + 1];
            int l = snprintf(line, sizeof line, "%zx\r\n", (size_t)n);
            memcpy(frame + LINE - l, line, (size_t)l);
            memcpy(frame + LINE + n, "\r\n", 2);
            rc = flare_http__client_conn_write(c, k, frame + LINE - l, (size_t)(l + n + 2),
                                               rq->deadline_ms, err);
        }
        if (rc < 0) return rc;
    }
    if (rq->body_sized) return 0;
    return flare_http__client_conn_write(c, k, "0\r\n\r\n", 5, rq->deadline_ms, err);
}

/* Whether the complete head at p holds more field lines than the parser was given
 * room for: that, not a malformed line, is then why it failed. */
static bool too_many_fields(const char *p, size_t len)
{
    size_t lines = 0;
    for (size_t i = 0; i + 3 < len; i++) {
        if (p[i] != '\r' || p[i + 1] != '\n') continue;
        if (p[i + 2] == '\r' && p[i + 3] == '\n') break;
        if (++lines > FLARE_HTTP_CLIENT_MAX_FIELDS) return true;
    }
    return false;
}

/* Reads response heads until a final one (1xx are skipped, RFC 9110 §15.2). */
static int read_head(flare_http_client *c, client_conn *k, const client_req *rq,
                     flare_http_response *resp, flare_http_header *fields, size_t *head_len,
                     bool *got_response, flare_error *err)
{
    c->rbuf.len = 0;
    size_t last_len = 0, interim = 0; /* bytes of 1xx heads skipped so far */
    /* The whole head, not only each read, within the read timeout: a server that
     * trickles a byte at a time cannot hold the client up to the head limit. */
    uint64_t deadline = rq->deadline_ms;
    bool head_bound = false;
    if (c->read_timeout_ms > 0) {
        uint64_t by = flare_monotonic_ms() + (uint64_t)c->read_timeout_ms;
        head_bound = by < deadline;
        if (head_bound) deadline = by;
    }
    for (;;) {
        ssize_t hl = FLARE_EINCOMPLETE;
        if (c->rbuf.len) {
            resp->headers = fields;
            resp->max_headers_capacity = FLARE_HTTP_CLIENT_MAX_FIELDS;
            hl = flare_http_parse_response(c->rbuf.data, c->rbuf.len, last_len, resp);
        }
        if (hl == FLARE_EPARSE && too_many_fields(c->rbuf.data, c->rbuf.len))
            return flare_error_set(err, FLARE_ELIMIT, 0,
                                   "%s port %u: response head with more than %d header fields",
                                   k->host, k->port, FLARE_HTTP_CLIENT_MAX_FIELDS);
        if (hl == FLARE_EPARSE)
            return flare_error_set(err, FLARE_EPROTO, 0,
                                   "%s port %u sent a malformed response head (status line or "
                                   "header fields)",
                                   k->host, k->port);
        if (hl > 0) {
            if (resp->status >= 200) {
                *head_len = (size_t)hl;
                return 0;
            }
            if (resp->status == 101)
                return flare_error_set(err, FLARE_EPROTO, 0,
                                       "%s port %u switched protocols (101) unasked", k->host,
                                       k->port);
            if (c->trace)
                c->trace(c->trace_ctx, FLARE_HTTP_TRACE_RESPONSE_HEAD, c->rbuf.data, (size_t)hl);
            flare_buf_consume(&c->rbuf, (size_t)hl);
            last_len = 0;
            /* Each 1xx is small; together they count against the head limit, or a
             * server could hold the client forever with 100 Continue. */
            interim += (size_t)hl;
            continue;
        }
        if (c->rbuf.len + interim >= FLARE_HTTP_CLIENT_MAX_HEAD)
            return flare_error_set(
                err, FLARE_ELIMIT, 0, "%s port %u: response head%s over %d bytes", k->host, k->port,
                interim ? " and the interim (1xx) ones before it" : "", FLARE_HTTP_CLIENT_MAX_HEAD);
        last_len = c->rbuf.len;
        ssize_t n = fill(c, k, deadline, err);
        if (n == FLARE_ETIMEDOUT && head_bound && flare_monotonic_ms() < rq->deadline_ms)
            return flare_error_set(err, FLARE_ETIMEDOUT, 0,
                                   "%s port %u: no complete response head within %d ms (read "
                                   "timeout)",
                                   k->host, k->port, c->read_timeout_ms);
        if (n < 0) return (int)n;
        if (n == 0)
            return c->rbuf.len ? cut_short(k, "in the middle of the response head", err)
                               : flare_error_set(err, FLARE_ECLOSED, 0,
                                                 "%s port %u closed the connection without a "
                                                 "response",
                                                 k->host, k->port);
        *got_response = true;
    }
}

static int read_body(flare_http_client *c, client_conn *k, const client_req *rq,
                     const flare_http_response *resp, flare_http_reply *reply, body_sink *s,
                     bool *reusable, flare_error *err)
{
    bool clean_end = true;
    int rc = 0;
    /* RFC 9112 §6.3: no content after HEAD, 204 and 304, whatever the fields say. */
    if (rq->is_head || reply->status == 204 || reply->status == 304) {
        clean_end = c->rbuf.len == 0;
    } else if (resp->chunked) {
        rc = read_chunked(c, k, s, rq->deadline_ms, &clean_end, err);
        if (rc == FLARE_ELIMIT && s->discard) return 0; /* too long to drain: close it */
    } else if (resp->content_length >= 0) {
        uint64_t length = (uint64_t)resp->content_length;
        if (length > s->max && s->discard) return 0; /* not worth draining: close it */
        if (length > s->max)
            return flare_error_set(err, FLARE_ELIMIT, 0,
                                   "response body of %llu bytes passes the limit of %llu "
                                   "bytes (max_response_bytes)",
                                   (unsigned long long)length, (unsigned long long)s->max);
        rc = read_length(c, k, s, length, rq->deadline_ms, &clean_end, err);
    } else if (s->discard) {
        return 0; /* close-delimited: nothing to keep, the connection closes */
    } else {
        rc = read_to_close(c, k, s, rq->deadline_ms, err); /* §6.3 rule 8 */
        clean_end = false;
    }
    /* No content (HEAD, 204, 304, an empty body): the coding names the
     * representation, there is nothing to decode (RFC 9110 §8.4). */
    if (rc == 0 && s->inflater && s->received > 0) rc = flare_inflater_finish(s->inflater, err);
    *reusable = rc == 0 && clean_end && resp->keep_alive;
    return rc;
}

int flare_http__client_exchange(flare_http_client *c, client_conn *k, client_req *rq,
                                flare_http_reply *reply, bool *reusable, bool *got_response,
                                flare_error *err)
{
    *reusable = false;
    *got_response = false;
    if (build_head(c, rq, &c->head) < 0)
        return flare_error_set(err, FLARE_ENOMEM, 0, "http client: out of memory");
    if (c->trace) c->trace(c->trace_ctx, FLARE_HTTP_TRACE_REQUEST_HEAD, c->head.data, c->head.len);
    bool inline_body = rq->has_body && !rq->body_read && rq->body_len <= INLINE_BODY;
    if (inline_body && flare_buf_append(&c->head, rq->body, rq->body_len) < 0)
        return flare_error_set(err, FLARE_ENOMEM, 0, "http client: out of memory");
    int rc = flare_http__client_conn_write(c, k, c->head.data, c->head.len, rq->deadline_ms, err);
    bool source_failed = false;
    if (rc == 0 && rq->body_read)
        rc = send_streamed(c, k, rq, &source_failed, err);
    else if (rc == 0 && rq->has_body && !inline_body && rq->body_len)
        rc = flare_http__client_conn_write(c, k, rq->body, rq->body_len, rq->deadline_ms, err);
    rq->body_failed = source_failed;
    if (source_failed) return rc; /* the caller's body failed: the request is cut short */
    /* A server may answer (413, 401) and close before it read the whole request
     * (RFC 9112 §9.5): the write fails, yet its answer may wait in our receive
     * buffer. That answer is the outcome; without one, the write error is. */
    int write_rc = rc;
    flare_error write_err = {0};
    if (rc < 0 && rc != FLARE_ECONNRESET && rc != FLARE_ECLOSED) return rc;
    if (rc < 0 && err) write_err = *err;
    c->stats.requests++;

    if (!c->fields && !(c->fields = malloc(FLARE_HTTP_CLIENT_MAX_FIELDS * sizeof *c->fields)))
        return flare_error_set(err, FLARE_ENOMEM, 0, "http client: out of memory");
    flare_http_response resp;
    size_t head_len = 0;
    rc = read_head(c, k, rq, &resp, c->fields, &head_len, got_response, err);
    if (rc < 0 && write_rc < 0) {
        if (err) *err = write_err;
        return write_rc;
    }
    if (rc == 0) {
        if (c->trace)
            c->trace(c->trace_ctx, FLARE_HTTP_TRACE_RESPONSE_HEAD, c->rbuf.data, head_len);
        /* RFC 9110 §15.5.9: the server closed the connection idle before our request
         * reached it; the caller sends it again on a new one. */
        if (rq->retry_408 && resp.status == 408) return CLIENT_RETRY_408;
        rc = fill_reply_head(reply, c->rbuf.data, head_len, &resp, err);
    }
    if (rc < 0) return rc;
    flare_buf_consume(&c->rbuf, head_len);
    k->requests++;

    body_sink s = {.fn = rq->on_body, .fn_ctx = rq->on_body_ctx, .max = c->max_response_bytes};
    s.discard = flare_http__client_follows(rq, reply->status) &&
                flare_http_reply_header(reply, "Location") != NULL;
    if (s.discard && s.max > DRAIN_MAX) s.max = DRAIN_MAX;
    if (!s.discard && rq->on_head && (rc = rq->on_head(rq->on_head_ctx, reply, err)) < 0) return rc;
    flare_encoding enc = body_coding(reply);
    if (c->decompress && !s.discard && enc != FLARE_ENC_IDENTITY)
        rc = flare_inflater_new(&s.inflater, enc, (size_t)s.max, err);
    if (rc == 0) rc = read_body(c, k, rq, &resp, reply, &s, reusable, err);
    if (write_rc < 0) *reusable = false; /* the request was cut short */
    flare_inflater_free(s.inflater);
    flare_buf_free(&s.decoded);
    if (rc == 0 && !s.fn && flare_buf_append(&s.body, "", 1) < 0)
        rc = flare_error_set(err, FLARE_ENOMEM, 0, "http client: out of memory");
    if (rc < 0) {
        *reusable = false;
        flare_buf_free(&s.body);
        return rc;
    }
    reply->body = s.body.data;
    reply->body_len = s.body.len ? s.body.len - 1 : 0;
    return 0;
}
