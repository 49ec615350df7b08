/*
 * parse_response.c: the response-head parser for the client side (RFC 9112 §4).
 * Same shape as the request parser: the status line is checked as bytes arrive,
 * field lines once the head is complete. Any fault is FLARE_EPARSE: a client has
 * nobody to send a status to, it closes the connection.
 */
#include "parse_internal.h"

enum { LINE_MORE = 1 };

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* status-line = HTTP-version SP status-code SP [ reason-phrase ] CRLF. Returns 0,
 * LINE_MORE, or -1. The SP before an empty reason may be missing, as many
 * servers omit it (a lenience of the receiving side, RFC 9112 §4). */
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
    }
    if (buf[p] != '\r') return -1;
    if (p + 1 == n) return LINE_MORE;
    if (buf[p + 1] != '\n') return -1;
    *end = p + 2;
    return 0;
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

ssize_t flare_http_parse_response(const char *buf, size_t len, size_t last_len,
                                  flare_http_response *resp)
{
    if (!resp || (!buf && len > 0)) return FLARE_EINVAL;
    reset_response(resp);
    const flare_http_scan_ops *ops = flare_http__scan_ops();
    size_t line_end = 0;
    int rc = parse_status_line(ops, buf, len, resp, &line_end);
    if (rc < 0) return FLARE_EPARSE;

    size_t head_end = 0;
    switch (flare_http__find_head_end(ops, buf, len, last_len <= len ? last_len : 0, &head_end)) {
    case FLARE_HTTP__HEAD_BARE_LF:
        return FLARE_EPARSE; /* strict, as for requests (RFC 9112 §2.2) */
    case FLARE_HTTP__HEAD_MORE:
        return FLARE_EINCOMPLETE;
    default:
        break;
    }
    if (rc != 0) return FLARE_EPARSE;

    size_t capacity = resp->headers ? resp->max_headers_capacity : 0;
    int64_t content_length = -1;
    flare_http__te te = {0};
    unsigned conn = 0;
    size_t pos = line_end;
    while (pos < head_end - 2) {
        if (resp->num_headers == capacity) return FLARE_EPARSE;
        flare_http_header *h = &resp->headers[resp->num_headers];
        /* obs-fold is rejected: unfolding needs a copy (RFC 9112 §5.2). */
        if (flare_http__parse_field_line(ops, buf, &pos, head_end, h) < 0) return FLARE_EPARSE;
        resp->num_headers++;
        switch ((flare_http_hdr)h->id) {
        case FLARE_HDR_CONTENT_LENGTH:
            if (flare_http__merge_content_length(h->value, h->value_len, &content_length) < 0)
                return FLARE_EPARSE;
            break;
        case FLARE_HDR_TRANSFER_ENCODING:
            flare_http__te_add(&te, h->value, h->value_len);
            break;
        case FLARE_HDR_CONNECTION:
            conn |= flare_http__connection_options(h->value, h->value_len);
            break;
        default:
            break;
        }
    }
    if (te.present) {
        /* TE with Content-Length "ought to be handled as an error" (RFC 9112 §6.3
         * item 3), as must TE in HTTP/1.0 (§6.1). We decode only chunked, so any
         * other coding would hand the caller bytes it cannot read. */
        if (resp->minor_version == 0 || content_length >= 0 || te.malformed || te.other_coding ||
            te.chunked_seen != 1 || !te.last_is_chunked)
            return FLARE_EPARSE;
        resp->chunked = true;
    }
    resp->content_length = content_length;
    /* Persistence defaults by version; close wins (RFC 9112 §9.3). */
    if (resp->minor_version == 1)
        resp->keep_alive = !(conn & FLARE_HTTP__CONN_CLOSE);
    else
        resp->keep_alive = (conn & FLARE_HTTP__CONN_KEEP_ALIVE) && !(conn & FLARE_HTTP__CONN_CLOSE);
    return (ssize_t)head_end;
}
