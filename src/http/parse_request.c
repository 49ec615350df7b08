/*
 * parse_request.c: the request-head parser (RFC 9112 §3, §5, §6). The request
 * line is checked on every call so an over-long target (414) or a bad line (400,
 * 505) is answered early; field lines are parsed once the whole head is in the
 * buffer. Every early answer depends only on bytes already seen, so a prefix of
 * a message never gets an error the whole message would not get.
 */
#include "parse_internal.h"

#include <string.h>

enum { LINE_MORE = -1 };

typedef struct request_line {
    const char *method, *target;
    size_t method_len, target_len;
    uint8_t minor;
    uint8_t method_id;
    uint8_t target_form;
    size_t end; /* just past the CRLF */
} request_line;

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_hex(unsigned char c)
{
    return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* unreserved / sub-delims (RFC 3986 §2.2, §2.3): the bytes of a reg-name besides
 * pct-encoded. */
static bool is_host_char(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || (c != 0 && strchr("-._~!$&'()*+,;=", c) != NULL);
}

/* uri-host [ ":" port ] (RFC 3986 §3.2.2, §3.2.3). With need_port, as CONNECT's
 * authority-form (RFC 9110 §9.3.6), both host and port must be present. */
static bool valid_authority(const char *s, size_t n, bool need_port)
{
    size_t i = 0;
    if (n > 0 && s[0] == '[') {
        /* IP-literal: IPv6address or IPvFuture, by character class only. */
        i = 1;
        while (i < n && (is_host_char((unsigned char)s[i]) || s[i] == ':'))
            i++;
        if (i == 1 || i == n || s[i] != ']') return false;
        i++;
    } else {
        while (i < n) {
            if (s[i] == '%') {
                if (n - i < 3 || !is_hex((unsigned char)s[i + 1]) ||
                    !is_hex((unsigned char)s[i + 2]))
                    return false;
                i += 3;
            } else if (is_host_char((unsigned char)s[i])) {
                i++;
            } else {
                break;
            }
        }
    }
    if (need_port && i == 0) return false;
    if (i == n) return !need_port;
    if (s[i] != ':') return false;
    size_t digits = n - i - 1;
    if (need_port && (digits == 0 || digits > 5)) return false;
    for (size_t k = i + 1; k < n; k++)
        if (!is_digit((unsigned char)s[k])) return false;
    return true;
}

/* absolute-form (RFC 9112 §3.2.2): scheme "://" authority [ path ] [ "?" query ],
 * scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986 §3.1). The
 * authority must not be empty (RFC 9110 §4.2.1 for http and https). */
static bool is_absolute_form(const char *t, size_t n)
{
    if (n == 0 || !is_alpha((unsigned char)t[0])) return false;
    size_t i = 1;
    while (i < n && (is_alpha((unsigned char)t[i]) || is_digit((unsigned char)t[i]) ||
                     t[i] == '+' || t[i] == '-' || t[i] == '.'))
        i++;
    if (n - i < 4 || memcmp(t + i, "://", 3) != 0) return false;
    char first = t[i + 3];
    return first != '/' && first != '?' && first != '#';
}

/* Picks the target form and checks it against the method (RFC 9112 §3.2);
 * returns 0 or 400. */
static int classify_target(request_line *rl)
{
    const char *t = rl->target;
    size_t n = rl->target_len;
    bool connect = rl->method_id == FLARE_METHOD_CONNECT;
    if (t[0] == '/') {
        rl->target_form = FLARE_TARGET_ORIGIN;
        return connect ? 400 : 0;
    }
    if (n == 1 && t[0] == '*') {
        /* asterisk-form is only for a server-wide OPTIONS (RFC 9112 §3.2.4). */
        rl->target_form = FLARE_TARGET_ASTERISK;
        return rl->method_id == FLARE_METHOD_OPTIONS ? 0 : 400;
    }
    if (!connect && is_absolute_form(t, n)) {
        rl->target_form = FLARE_TARGET_ABSOLUTE;
        return 0;
    }
    /* authority-form is only for CONNECT (RFC 9112 §3.2.3); CONNECT takes no
     * other form (RFC 9110 §9.3.6). */
    if (connect && valid_authority(t, n, true)) {
        rl->target_form = FLARE_TARGET_AUTHORITY;
        return 0;
    }
    return 400;
}

/* request-line = method SP request-target SP HTTP-version CRLF (RFC 9112 §3),
 * read from buf[0..n). Returns 0, LINE_MORE when buf ends inside the line, or the
 * status to answer. It decides at the first CR or LF at the latest. */
static int parse_request_line(const flare_http_scan_ops *ops, const char *buf, size_t n,
                              size_t max_uri, request_line *rl)
{
    size_t p = 0;
    if (n == 0) return LINE_MORE;
    /* At most one empty line before the request-line is skipped (RFC 9112 §2.2);
     * a second one fails the method check below. */
    if (buf[0] == '\r') {
        if (n < 2) return LINE_MORE;
        if (buf[1] != '\n') return 400;
        p = 2;
    }
    /* method = token, case-sensitive (RFC 9110 §9.1). */
    size_t len = ops->skip_token(buf + p, n - p);
    if (p + len == n) return LINE_MORE;
    /* Exactly one SP between the parts (RFC 9112 §3). */
    if (len == 0 || buf[p + len] != ' ') return 400;
    rl->method = buf + p;
    rl->method_len = len;
    p += len + 1;

    /* The target's bytes are all visible ASCII (RFC 9112 §3.2, RFC 3986); the
     * scan stops one past the limit so a long target costs no more. */
    size_t room = n - p;
    size_t scan = room < max_uri + 1 ? room : max_uri + 1;
    len = ops->skip_target(buf + p, scan);
    if (len > max_uri) return 414;
    if (p + len == n) return LINE_MORE;
    if (len == 0 || buf[p + len] != ' ') return 400;
    rl->target = buf + p;
    rl->target_len = len;
    p += len + 1;

    /* HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112 §2.3). */
    static const char version[8] = "HTTP/1.1";
    for (size_t i = 0; i < 8; i++) {
        if (p + i == n) return LINE_MORE;
        unsigned char c = (unsigned char)buf[p + i];
        bool ok = (i == 5 || i == 7) ? is_digit(c) : c == (unsigned char)version[i];
        if (!ok) return 400;
    }
    unsigned char major = (unsigned char)buf[p + 5], minor = (unsigned char)buf[p + 7];
    p += 8;
    if (p == n) return LINE_MORE;
    if (buf[p] != '\r') return 400;
    if (p + 1 == n) return LINE_MORE;
    if (buf[p + 1] != '\n') return 400;
    rl->end = p + 2;

    /* Only HTTP/1.x is spoken here (RFC 9110 §15.6.6); a higher 1.x minor is
     * answered as the highest we support, 1.1 (RFC 9110 §2.5). */
    if (major != '1') return 505;
    rl->minor = minor == '0' ? 0 : 1;
    rl->method_id = (uint8_t)flare_http_method_id(rl->method, rl->method_len);
    return classify_target(rl);
}

/* Framing facts gathered over the field lines. */
typedef struct request_fields {
    int64_t content_length;
    flare_http__te te;
    unsigned conn;
    bool expect_seen, expect_other;
} request_fields;

/* Applies one known field; returns 0 or the status to answer. */
static int take_field(flare_http_request *req, request_fields *f, const flare_http_header *h,
                      size_t index)
{
    switch ((flare_http_hdr)h->id) {
    case FLARE_HDR_HOST:
        /* Exactly one Host, with a valid value (RFC 9112 §3.2). */
        if (req->host_index >= 0) return 400;
        if (!valid_authority(h->value, h->value_len, false)) return 400;
        req->host_index = (int)index;
        return 0;
    case FLARE_HDR_CONTENT_LENGTH:
        return flare_http__merge_content_length(h->value, h->value_len, &f->content_length) < 0
                   ? 400
                   : 0;
    case FLARE_HDR_TRANSFER_ENCODING:
        flare_http__te_add(&f->te, h->value, h->value_len);
        return 0;
    case FLARE_HDR_CONNECTION:
        f->conn |= flare_http__connection_options(h->value, h->value_len);
        return 0;
    case FLARE_HDR_EXPECT: {
        /* Expect = #expectation, and the only one defined is 100-continue
         * (RFC 9110 §10.1.1); an empty list expects nothing we can meet either. */
        const char *cur = h->value, *end = h->value + h->value_len, *elem;
        size_t len;
        bool any = false;
        while (flare_http__list_next(&cur, end, &elem, &len)) {
            any = true;
            if (len != 12 || !flare_http__eq_nocase(elem, "100-continue", 12))
                f->expect_other = true;
        }
        if (!any) f->expect_other = true;
        f->expect_seen = true;
        return 0;
    }
    default:
        return 0;
    }
}

/* The checks that need every field (RFC 9112 §3.2, §6.1, §6.3; RFC 9110 §10.1.1);
 * returns 0 or the status to answer. */
static int finish_fields(flare_http_request *req, const request_fields *f)
{
    bool http11 = req->minor_version == 1;
    if (http11 && req->host_index < 0) return 400;
    if (f->te.present) {
        /* Transfer-Encoding in HTTP/1.0 means broken framing (RFC 9112 §6.1);
         * with Content-Length it is a smuggling pattern (RFC 9112 §6.3 item 3). */
        if (!http11 || f->content_length >= 0 || f->te.malformed) return 400;
        /* chunked must be final and once, else the length is unknowable (§6.3 item 4). */
        if (!f->te.last_is_chunked || f->te.chunked_seen != 1) return 400;
        /* Any other coding is one we do not implement (RFC 9112 §6.1). */
        if (f->te.other_coding) return 501;
        req->chunked = true;
    }
    req->content_length = f->content_length;
    if (http11) {
        /* HTTP/1.0 expectations are ignored (RFC 9110 §10.1.1); others get 417. */
        if (f->expect_other) return 417;
        req->expect_continue = f->expect_seen;
        req->keep_alive = !(f->conn & FLARE_HTTP__CONN_CLOSE);
        /* Upgrade in an HTTP/1.0 request is ignored (RFC 9110 §7.8). */
        req->upgrade =
            (f->conn & FLARE_HTTP__CONN_UPGRADE) && req->known_index[FLARE_HDR_UPGRADE] >= 0;
    } else {
        /* close wins over keep-alive (RFC 9112 §9.3). */
        req->keep_alive =
            (f->conn & FLARE_HTTP__CONN_KEEP_ALIVE) && !(f->conn & FLARE_HTTP__CONN_CLOSE);
    }
    return 0;
}

static ssize_t fail(int *status, int code)
{
    *status = code;
    return FLARE_EPARSE;
}

static void reset_request(flare_http_request *req)
{
    req->method = req->target = NULL;
    req->method_len = req->target_len = 0;
    req->method_id = FLARE_METHOD_OTHER;
    req->target_form = FLARE_TARGET_ORIGIN;
    req->minor_version = 0;
    req->keep_alive = req->chunked = req->expect_continue = req->upgrade = false;
    req->content_length = -1;
    req->host_index = -1;
    req->num_headers = 0;
    for (size_t i = 0; i < FLARE_HDR__COUNT; i++)
        req->known_index[i] = -1;
}

static size_t limit_or(size_t v, size_t dflt, size_t cap)
{
    if (v == 0) v = dflt;
    return v < cap ? v : cap;
}

ssize_t flare_http_parse_request(const char *buf, size_t len, size_t last_len,
                                 const flare_http_limits *limits, flare_http_request *req,
                                 int *status)
{
    int unused_status;
    if (!status) status = &unused_status;
    *status = 0;
    if (!req || (!buf && len > 0)) return FLARE_EINVAL;
    reset_request(req);

    /* Lengths are stored in 32 bits and indexes in 16: limits are capped there
     * (one below for the URI, whose scan looks one byte past the limit). */
    const flare_http_limits none = {0, 0, 0};
    if (!limits) limits = &none;
    size_t max_uri =
        limit_or(limits->max_uri_bytes, FLARE_HTTP_DEFAULT_MAX_URI_BYTES, UINT32_MAX - 1);
    size_t max_head =
        limit_or(limits->max_header_bytes, FLARE_HTTP_DEFAULT_MAX_HEADER_BYTES, UINT32_MAX);
    size_t max_fields = limit_or(limits->max_headers, FLARE_HTTP_DEFAULT_MAX_HEADERS, INT16_MAX);
    size_t capacity = req->headers ? req->max_headers_capacity : 0;
    if (capacity < max_fields) max_fields = capacity;

    const flare_http_scan_ops *ops = flare_http__scan_ops();
    /* Nothing past max_head can belong to an acceptable head. */
    size_t window = len < max_head ? len : max_head;
    request_line rl;
    int rc = parse_request_line(ops, buf, window, max_uri, &rl);
    if (rc > 0) return fail(status, rc);

    size_t head_end = 0;
    size_t from = last_len <= window ? last_len : 0;
    switch (flare_http__find_head_end(ops, buf, window, from, &head_end)) {
    case FLARE_HTTP__HEAD_BARE_LF:
        return fail(status, 400);
    case FLARE_HTTP__HEAD_MORE:
        /* 431 (RFC 6585 §5) once the head cannot fit, complete or not. */
        return len > max_head ? fail(status, 431) : FLARE_EINCOMPLETE;
    default:
        break;
    }
    /* The line is decided by its first CR or LF, which lie before head_end. */
    if (rc != 0) return fail(status, 400);

    req->method = rl.method;
    req->method_len = (uint32_t)rl.method_len;
    req->target = rl.target;
    req->target_len = (uint32_t)rl.target_len;
    req->method_id = rl.method_id;
    req->target_form = rl.target_form;
    req->minor_version = rl.minor;

    request_fields f = {.content_length = -1};
    size_t pos = rl.end;
    while (pos < head_end - 2) {
        if (req->num_headers == max_fields) return fail(status, 431);
        flare_http_header *h = &req->headers[req->num_headers];
        if (flare_http__parse_field_line(ops, buf, &pos, head_end, h) < 0) return fail(status, 400);
        size_t index = req->num_headers++;
        if (h->id == FLARE_HDR_OTHER) continue;
        if (req->known_index[h->id] < 0) req->known_index[h->id] = (int16_t)index;
        rc = take_field(req, &f, h, index);
        if (rc) return fail(status, rc);
    }
    rc = finish_fields(req, &f);
    if (rc) return fail(status, rc);
    return (ssize_t)head_end;
}
