/*
 * parse_fields.c: what request and response heads share: the head-end search,
 * field-line splitting and the framing fields. Field lines are parsed only once
 * the head is complete, so every line is known to end in CRLF before `end` and
 * no bounds check is needed inside a line beyond the scanners' own.
 */
#include "parse_internal.h"

int flare_http__find_head_end(const flare_http_scan_ops *ops, const char *buf, size_t len,
                              size_t from, size_t *head_end)
{
    size_t i = from;
    while (i < len) {
        i += ops->find_lf(buf + i, len - i);
        if (i == len) break;
        /* We are strict where RFC 9112 §2.2 lets a recipient accept a bare LF as
         * a line terminator: a bare LF is where parsers disagree (smuggling). */
        if (i == 0 || buf[i - 1] != '\r') return FLARE_HTTP__HEAD_BARE_LF;
        if (i >= 3 && buf[i - 2] == '\n' && buf[i - 3] == '\r') {
            *head_end = i + 1;
            return FLARE_HTTP__HEAD_DONE;
        }
        i++;
    }
    return FLARE_HTTP__HEAD_MORE;
}

int flare_http__parse_field_line(const flare_http_scan_ops *ops, const char *buf, size_t *pos,
                                 size_t end, flare_http_header *h)
{
    size_t p = *pos;
    /* A line starting with whitespace is obs-fold, or whitespace between the
     * start-line and the first field: both rejected (RFC 9112 §5.2, §2.2). */
    if (buf[p] == ' ' || buf[p] == '\t') return -1;
    /* field-name = token, and no whitespace before the colon (RFC 9112 §5.1). */
    size_t name_len = ops->skip_token(buf + p, end - p);
    if (name_len == 0 || buf[p + name_len] != ':') return -1;
    h->name = buf + p;
    h->name_len = (uint32_t)name_len;
    p += name_len + 1;
    while (buf[p] == ' ' || buf[p] == '\t')
        p++;
    size_t value = p;
    /* field-value allows VCHAR, obs-text, SP and HTAB (RFC 9110 §5.5); the scan
     * stops at the CR of the line end at the latest, a bare CR or CTL fails. */
    p += ops->skip_value(buf + p, end - p);
    if (p + 1 >= end || buf[p] != '\r' || buf[p + 1] != '\n') return -1;
    size_t stop = p;
    while (stop > value && (buf[stop - 1] == ' ' || buf[stop - 1] == '\t'))
        stop--;
    h->value = buf + value;
    h->value_len = (uint32_t)(stop - value);
    h->id = (uint8_t)flare_http__header_id_token(h->name, name_len);
    *pos = p + 2;
    return 0;
}

static const char *skip_ows(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

int flare_http__merge_content_length(const char *v, size_t n, int64_t *cl)
{
    const char *p = v, *end = v + n;
    for (;;) {
        /* Content-Length = 1*DIGIT (RFC 9110 §8.6); no sign, no empty element. */
        if (p == end || *p < '0' || *p > '9') return -1;
        uint64_t x = 0;
        while (p < end && *p >= '0' && *p <= '9') {
            unsigned d = (unsigned)(*p - '0');
            if (x > ((uint64_t)INT64_MAX - d) / 10) return -1;
            x = x * 10 + d;
            p++;
        }
        /* A list of identical values means one value; differing ones are an
         * error (RFC 9110 §8.6, RFC 9112 §6.3 item 5). */
        if (*cl >= 0 && (uint64_t)*cl != x) return -1;
        *cl = (int64_t)x;
        p = skip_ows(p, end);
        if (p == end) return 0;
        if (*p != ',') return -1;
        p = skip_ows(p + 1, end);
    }
}

void flare_http__te_add(flare_http__te *te, const char *v, size_t n)
{
    const char *cur = v, *end = v + n, *elem;
    size_t len;
    te->present = true;
    while (flare_http__list_next(&cur, end, &elem, &len)) {
        /* transfer-coding = token *( OWS ";" OWS transfer-parameter ) (RFC 9112 §7). */
        size_t name_len = 0;
        while (name_len < len && flare_http__is_tchar((unsigned char)elem[name_len]))
            name_len++;
        const char *rest = skip_ows(elem + name_len, elem + len);
        bool has_params = rest < elem + len;
        if (name_len == 0 || (has_params && *rest != ';')) {
            te->malformed = true;
            te->last_is_chunked = false;
            continue;
        }
        /* Coding names are case-insensitive (RFC 9112 §7). */
        bool chunked = name_len == 7 && flare_http__eq_nocase(elem, "chunked", 7);
        if (chunked) {
            /* chunked takes no parameters; one is a smuggling attempt, not a dialect. */
            if (has_params) te->malformed = true;
            te->chunked_seen++;
        } else {
            te->other_coding = true;
        }
        te->last_is_chunked = chunked;
    }
}

unsigned flare_http__connection_options(const char *v, size_t n)
{
    const char *cur = v, *end = v + n, *elem;
    size_t len;
    unsigned opts = 0;
    /* Connection options are case-insensitive tokens (RFC 9110 §7.6.1). The
     * usual one-option values first: they read the same as a list of one. */
    if (n == 10 && flare_http__eq_nocase(v, "keep-alive", 10)) return FLARE_HTTP__CONN_KEEP_ALIVE;
    if (n == 5 && flare_http__eq_nocase(v, "close", 5)) return FLARE_HTTP__CONN_CLOSE;
    while (flare_http__list_next(&cur, end, &elem, &len)) {
        if (len == 5 && flare_http__eq_nocase(elem, "close", 5))
            opts |= FLARE_HTTP__CONN_CLOSE;
        else if (len == 10 && flare_http__eq_nocase(elem, "keep-alive", 10))
            opts |= FLARE_HTTP__CONN_KEEP_ALIVE;
        else if (len == 7 && flare_http__eq_nocase(elem, "upgrade", 7))
            opts |= FLARE_HTTP__CONN_UPGRADE;
    }
    return opts;
}
