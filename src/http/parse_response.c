/*
 * parse_response.c: the response-head parser for the client side (RFC 9112 §4),
 * in one pass like the request parser: the status line, then each field line as
 * soon as its CRLF is in the buffer, split by the scan that checks it. It is
 * compiled once per SIMD path (parse_path.h). As for requests, a fault in a
 * field line counts only once the head is complete, so a prefix and a resumed
 * parse are never judged otherwise than the whole. Any fault is FLARE_EPARSE: a
 * client has nobody to send a status to, it closes the connection.
 */
#include "parse_path.h"

#include <string.h>

enum { LINE_MORE = 1 };

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF, read byte
 * by byte where it matters: the reference the fast path below must agree with.
 * Returns 0, LINE_MORE, or -1. The SP before an empty reason may be missing, as
 * many servers omit it (a lenience of the receiving side, RFC 9112 §4). */
static int parse_status_line(const flare_http_scan_ops *ops, const char *buf, size_t n,
                             flare_http_response *resp, size_t *end)
{
    static const char version[9] = "HTTP/1.1 ";
    size_t p = 0;
    for (size_t i = 0; i < 9; i++) {
        if (i == n) return LINE_MORE;
        unsigned char c = (unsigned char)buf[i];
        bool ok = (i == 5 || i == 7) ? is_digit(c) : c == (unsigned char)version[i];
        if (!ok) return -1;
    }
    /* Only HTTP/1.x; a higher minor reads as 1.1 (RFC 9110 §2.5). */
    if (buf[5] != '1') return -1;
    resp->minor_version = buf[7] == '0' ? 0 : 1;
    p = 9;
    /* status-code = 3DIGIT, 100..999 (RFC 9110 §15). */
    int status = 0;
    for (size_t i = 0; i < 3; i++, p++) {
        if (p == n) return LINE_MORE;
        unsigned char c = (unsigned char)buf[p];
        if (!is_digit(c) || (i == 0 && c == '0')) return -1;
        status = status * 10 + (c - '0');
    }
    resp->status = status;
    if (p == n) return LINE_MORE;
    if (buf[p] == ' ') {
        p++;
        /* reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ) (RFC 9112 §4). */
        size_t len = ops->skip_value(buf + p, n - p);
        resp->reason = buf + p;
        resp->reason_len = (uint32_t)len;
        p += len;
        if (p == n) return LINE_MORE;
    } else {
        resp->reason = buf + p;
        resp->reason_len = 0;
    }
    if (buf[p] != '\r') return -1;
    if (p + 1 == n) return LINE_MORE;
    if (buf[p + 1] != '\n') return -1;
    *end = p + 2;
    return 0;
}

/* The status line as servers send it: "HTTP/1." DIGIT SP 3DIGIT SP reason CRLF,
 * all within buf[0..n). Returns the line's end, or 0 for anything else, which
 * goes to parse_status_line so that both always agree. */
static ALWAYS_INLINE size_t fast_status_line(int path, const char *buf, size_t n,
                                             flare_http_response *resp)
{
    if (n < 15 || memcmp(buf, "HTTP/1.", 7) != 0 || !is_digit((unsigned char)buf[7]) ||
        buf[8] != ' ' || buf[12] != ' ')
        return 0;
    unsigned d0 = (unsigned char)buf[9] - '0', d1 = (unsigned char)buf[10] - '0',
             d2 = (unsigned char)buf[11] - '0';
    if (d0 - 1 > 8 || d1 > 9 || d2 > 9) return 0;
    size_t cr = value_end(path, buf, 13, n);
    if (cr + 1 >= n || buf[cr] != '\r' || buf[cr + 1] != '\n') return 0;
    resp->minor_version = buf[7] == '0' ? 0 : 1;
    resp->status = (int)(d0 * 100 + d1 * 10 + d2);
    resp->reason = buf + 13;
    resp->reason_len = (uint32_t)(cr - 13);
    return cr + 2;
}

static void reset_response(flare_http_response *resp)
{
    resp->status = 0;
    resp->minor_version = 0;
    resp->reason = NULL;
    resp->reason_len = 0;
    resp->keep_alive = resp->chunked = false;
    resp->content_length = -1;
    resp->num_headers = 0;
}

/* An unfinished or failed parse: every output reset. */
static ssize_t give_up(flare_http_response *resp, ssize_t rc)
{
    reset_response(resp);
    return rc;
}

/* A field line starting at `line` is at fault. That stands only once the head is
 * complete (a bare LF is a fault too); the lines before `line` all ended in
 * CRLF, so the search starts there. */
static ssize_t field_error(const flare_http_scan_ops *ops, const char *buf, size_t len, size_t line,
                           flare_http_response *resp)
{
    size_t head_end;
    if (flare_http__find_head_end(ops, buf, len, line, &head_end) == FLARE_HTTP__HEAD_MORE)
        return give_up(resp, FLARE_EINCOMPLETE);
    return give_up(resp, FLARE_EPARSE);
}

/* The checks that need every field; returns 0 or -1. */
static int finish_fields(flare_http_response *resp, const flare_http__framing *f)
{
    if (f->te.present) {
        /* TE with Content-Length "ought to be handled as an error" (RFC 9112 §6.3
         * item 3), as must TE in HTTP/1.0 (§6.1). We decode only chunked, so any
         * other coding would hand the caller bytes it cannot read. */
        if (resp->minor_version == 0 || f->content_length >= 0 || f->te.malformed ||
            f->te.other_coding || f->te.chunked_seen != 1 || !f->te.last_is_chunked)
            return -1;
    }
    resp->chunked = f->te.present;
    resp->content_length = f->content_length;
    /* Persistence defaults by version; close wins (RFC 9112 §9.3). */
    if (resp->minor_version == 1)
        resp->keep_alive = !(f->conn & FLARE_HTTP__CONN_CLOSE);
    else
        resp->keep_alive =
            (f->conn & FLARE_HTTP__CONN_KEEP_ALIVE) && !(f->conn & FLARE_HTTP__CONN_CLOSE);
    return 0;
}

static ALWAYS_INLINE ssize_t parse_on_path(int path, const char *buf, size_t len, size_t last_len,
                                           flare_http_response *resp)
{
    if (!resp || (!buf && len > 0)) return FLARE_EINVAL;
    /* The first chunk is classified before the status line is read, so that
     * both run at once. */
    flare_http__chunk chunk = {0, 0, 0};
    first_chunk(path, buf, len, &chunk);

    size_t pos = fast_status_line(path, buf, len, resp);
    if (pos == 0) {
        int rc = parse_status_line(path_ops(path), buf, len, resp, &pos);
        if (rc < 0) return give_up(resp, FLARE_EPARSE);
        /* A line still open holds no LF: the head is not complete either. */
        if (rc == LINE_MORE) return give_up(resp, FLARE_EINCOMPLETE);
    }

    /* A resumed call parses nothing until the head end has arrived. Bytes before
     * last_len held neither a head end nor a bare LF (else that call would not
     * have returned INCOMPLETE). */
    if (last_len > 0 && last_len <= len) {
        size_t head_end;
        switch (flare_http__find_head_end(path_ops(path), buf, len, last_len, &head_end)) {
        case FLARE_HTTP__HEAD_BARE_LF:
            return give_up(resp, FLARE_EPARSE); /* strict, as for requests (RFC 9112 §2.2) */
        case FLARE_HTTP__HEAD_MORE:
            return give_up(resp, FLARE_EINCOMPLETE);
        default:
            break;
        }
    }

    flare_http__framing f = {.content_length = -1};
    flare_http_header *h = resp->headers;
    size_t count = 0, capacity = resp->headers ? resp->max_headers_capacity : 0;
    for (;; count++, h++) {
        int at = fields_at(buf, pos, len);
        if (at == FIELDS_MORE) return give_up(resp, FLARE_EINCOMPLETE);
        if (at == FIELDS_END) break;
        size_t colon, cr;
        /* obs-fold is rejected with the rest: unfolding needs a copy (RFC 9112 §5.2). */
        int state = count < capacity ? next_field_line(path, buf, pos, len, &chunk, &colon, &cr)
                                     : FIELD_LINE_BAD;
        if (state == FIELD_LINE_MORE) return give_up(resp, FLARE_EINCOMPLETE);
        if (state == FIELD_LINE_BAD ||
            (set_field(buf, pos, colon, cr, h), flare_http__framing_take(&f, h) < 0))
            return field_error(path_ops(path), buf, len, pos, resp);
        pos = cr + 2;
    }
    resp->num_headers = count;
    if (finish_fields(resp, &f) < 0) return give_up(resp, FLARE_EPARSE);
    return (ssize_t)(pos + 2);
}

/* Not inlined: the dispatcher below then keeps no frame of its own and only
 * jumps to the path (inlined, the scalar pass made every path pay its prologue). */
__attribute__((noinline)) static ssize_t parse_scalar(const char *buf, size_t len, size_t last_len,
                                                      flare_http_response *resp)
{
    return parse_on_path(FLARE_SIMD_SCALAR, buf, len, last_len, resp);
}

#ifdef FLARE_HTTP_X86_SIMD
FLARE_HTTP__SSE42 static ssize_t parse_sse42(const char *buf, size_t len, size_t last_len,
                                             flare_http_response *resp)
{
    return parse_on_path(FLARE_SIMD_SSE42, buf, len, last_len, resp);
}

FLARE_HTTP__AVX2 static ssize_t parse_avx2(const char *buf, size_t len, size_t last_len,
                                           flare_http_response *resp)
{
    return parse_on_path(FLARE_SIMD_AVX2, buf, len, last_len, resp);
}

FLARE_HTTP__AVX512 static ssize_t parse_avx512(const char *buf, size_t len, size_t last_len,
                                               flare_http_response *resp)
{
    return parse_on_path(FLARE_SIMD_AVX512, buf, len, last_len, resp);
}
#endif

ssize_t flare_http_parse_response(const char *buf, size_t len, size_t last_len,
                                  flare_http_response *resp)
{
    switch (flare_http__path()) {
#ifdef FLARE_HTTP_X86_SIMD
    case FLARE_SIMD_AVX512:
        return parse_avx512(buf, len, last_len, resp);
    case FLARE_SIMD_AVX2:
        return parse_avx2(buf, len, last_len, resp);
    case FLARE_SIMD_SSE42:
        return parse_sse42(buf, len, last_len, resp);
#endif
    default:
        return parse_scalar(buf, len, last_len, resp);
    }
}
