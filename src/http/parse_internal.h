/*
 * parse_internal.h (internal): pieces shared by the request and response
 * parsers: finding the end of a head, splitting one field line, reading the
 * framing fields (Content-Length, Transfer-Encoding, Connection), and the inline
 * header-id and case-insensitive compares their loops run per field. Nothing
 * here allocates; every slice points into the caller's buffer.
 */
#ifndef FLARE_HTTP_PARSE_INTERNAL_H
#define FLARE_HTTP_PARSE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flare/http_parser.h"
#include "simd.h"

/** Outcomes of flare_http__find_head_end. */
enum {
    FLARE_HTTP__HEAD_MORE = 0, /**< no CRLF CRLF yet, no bare LF */
    FLARE_HTTP__HEAD_DONE,     /**< *head_end is just past the first CRLF CRLF */
    FLARE_HTTP__HEAD_BARE_LF,  /**< an LF not preceded by CR came first */
};

/**
 * Looks for the first CRLF CRLF in buf[0..len), examining only LFs at positions
 * >= from (the caller knows earlier bytes hold neither a head end nor a bare LF).
 */
int flare_http__find_head_end(const flare_http_scan_ops *ops, const char *buf, size_t len,
                              size_t from, size_t *head_end);

/**
 * Parses the field line at buf[*pos] of a complete head ending at buf[end]
 * (RFC 9112 §5). Rejects obs-fold, an empty or non-token name, whitespace before
 * the colon, and CTLs or a bare CR in the value. Returns 0 and advances *pos past
 * the CRLF, or -1.
 */
int flare_http__parse_field_line(const flare_http_scan_ops *ops, const char *buf, size_t *pos,
                                 size_t end, flare_http_header *h);

/**
 * Merges one Content-Length field value into *cl (-1 when none seen yet):
 * 1*DIGIT, or a list of identical values (RFC 9110 §8.6). Returns 0, or -1 for a
 * malformed, differing or over-2^63-1 value.
 */
int flare_http__merge_content_length(const char *v, size_t n, int64_t *cl);

/** Transfer-Encoding codings seen so far, all fields concatenated (RFC 9112 §6.1). */
typedef struct flare_http__te {
    bool present;          /**< at least one Transfer-Encoding field */
    bool malformed;        /**< an element that is not a token [ ";" parameters ] */
    bool last_is_chunked;  /**< the final coding is chunked */
    bool other_coding;     /**< a coding other than chunked appears */
    uint32_t chunked_seen; /**< how many times chunked appears */
} flare_http__te;

/** Adds one Transfer-Encoding field value to *te. */
void flare_http__te_add(flare_http__te *te, const char *v, size_t n);

/** Connection options that change framing (RFC 9110 §7.6.1, RFC 9112 §9.3). */
enum {
    FLARE_HTTP__CONN_CLOSE = 1,
    FLARE_HTTP__CONN_KEEP_ALIVE = 2,
    FLARE_HTTP__CONN_UPGRADE = 4,
};

/** FLARE_HTTP__CONN_* bits named in one Connection field value. */
unsigned flare_http__connection_options(const char *v, size_t n);

/** The framing fields requests and responses share (RFC 9112 §6). */
typedef struct flare_http__framing {
    int64_t content_length; /**< -1 when absent */
    flare_http__te te;
    unsigned conn; /**< FLARE_HTTP__CONN_* bits */
} flare_http__framing;

/**
 * Adds one field to *fr when it is Content-Length, Transfer-Encoding or
 * Connection; returns 0, or -1 for a Content-Length that
 * flare_http__merge_content_length rejects.
 */
static inline int flare_http__framing_take(flare_http__framing *fr, const flare_http_header *h);

/**
 * flare_http_header_id for a name already known to be a token (no CR check).
 * It switches on the length, then compares whole words with 8/4/2-byte loads
 * ORed with 0x20: for a token that folds only letters, because the one
 * non-letter byte that folds onto '-' (CR, 0x0D) is not a tchar. Always inlined:
 * the field loops then make no call per field.
 */
static inline flare_http_hdr flare_http__header_id_token(const char *name, size_t len);

/**
 * True when a[0..n) equals the lowercase ASCII text lower[0..n) ignoring case.
 * Inline so that with a literal `lower` the compare is a few word operations.
 */
static inline bool flare_http__eq_nocase(const char *a, const char *lower, size_t n);

/**
 * Steps through a comma-separated list (RFC 9110 §5.6.1): sets the next
 * non-empty element with OWS trimmed and returns true, or returns false at the end.
 */
static inline bool flare_http__list_next(const char **cur, const char *end, const char **elem,
                                         size_t *elem_len);

/* inline definitions */

/* Inline: most fields are none of the three, and then this is one switch. */
static inline int flare_http__framing_take(flare_http__framing *fr, const flare_http_header *h)
{
    switch ((flare_http_hdr)h->id) {
    case FLARE_HDR_CONTENT_LENGTH:
        return flare_http__merge_content_length(h->value, h->value_len, &fr->content_length);
    case FLARE_HDR_TRANSFER_ENCODING:
        flare_http__te_add(&fr->te, h->value, h->value_len);
        return 0;
    case FLARE_HDR_CONNECTION:
        fr->conn |= flare_http__connection_options(h->value, h->value_len);
        return 0;
    default:
        return 0;
    }
}

static inline bool flare_http__list_next(const char **cur, const char *end, const char **elem,
                                         size_t *elem_len)
{
    const char *p = *cur;
    /* Empty elements ("a,,b", leading or trailing commas) must be ignored. */
    while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
        p++;
    if (p == end) {
        *cur = p;
        return false;
    }
    const char *start = p;
    while (p < end && *p != ',')
        p++;
    const char *stop = p;
    while (stop > start && (stop[-1] == ' ' || stop[-1] == '\t'))
        stop--;
    *elem = start;
    *elem_len = (size_t)(stop - start);
    *cur = p;
    return true;
}

static inline uint32_t flare_http__load32(const char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline uint16_t flare_http__load16(const char *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* 0x20 in each byte where the ASCII text `lower` holds a letter: ORed into the
 * other side, it folds exactly the bytes that compare without case. Bytes stay
 * below 0x80 after the mask, so the sums never carry into the next byte and
 * every lane is independent (any byte order). */
static inline uint64_t flare_http__letter_bits(uint64_t lower)
{
    uint64_t y = lower & ~FLARE_HTTP__HIGHS;
    uint64_t ge_a = y + FLARE_HTTP__ONES * (0x80 - 'a');
    uint64_t gt_z = y + FLARE_HTTP__ONES * (0x80 - 'z' - 1);
    return (ge_a & ~gt_z & ~lower & FLARE_HTTP__HIGHS) >> 2;
}

static inline bool flare_http__eq_nocase(const char *a, const char *lower, size_t n)
{
    if (n >= 8) {
        /* Words, the last one overlapping its predecessor; a literal of up to 16
         * bytes takes no loop, so its masks fold to constants. */
        size_t i = 0;
        for (; n > 16 && i + 8 < n - 8; i += 8) {
            uint64_t l = flare_http__load64(lower + i);
            if ((flare_http__load64(a + i) | flare_http__letter_bits(l)) != l) return false;
        }
        uint64_t l0 = flare_http__load64(lower + i), l1 = flare_http__load64(lower + n - 8);
        return (flare_http__load64(a + i) | flare_http__letter_bits(l0)) == l0 &&
               (flare_http__load64(a + n - 8) | flare_http__letter_bits(l1)) == l1;
    }
    if (n >= 4) {
        uint32_t l0 = flare_http__load32(lower), l1 = flare_http__load32(lower + n - 4);
        return (flare_http__load32(a) | (uint32_t)flare_http__letter_bits(l0)) == l0 &&
               (flare_http__load32(a + n - 4) | (uint32_t)flare_http__letter_bits(l1)) == l1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)a[i];
        if (c >= 'A' && c <= 'Z') c = (unsigned char)(c + ('a' - 'A'));
        if (c != (unsigned char)lower[i]) return false;
    }
    return true;
}

/* s[0..n) ORed with 0x20 equals the lowercase literal lit (n >= 2). Words
 * overlap at the tail instead of looping over single bytes. */
static inline bool flare_http__eq_fold(const char *s, const char *lit, size_t n)
{
    if (n >= 8) {
        const uint64_t fold = 0x2020202020202020u;
        for (size_t i = 0; i + 8 <= n; i += 8)
            if ((flare_http__load64(s + i) | fold) != flare_http__load64(lit + i)) return false;
        return (n % 8 == 0) ||
               (flare_http__load64(s + n - 8) | fold) == flare_http__load64(lit + n - 8);
    }
    if (n >= 4)
        return (flare_http__load32(s) | 0x20202020u) == flare_http__load32(lit) &&
               (flare_http__load32(s + n - 4) | 0x20202020u) == flare_http__load32(lit + n - 4);
    return (uint16_t)(flare_http__load16(s) | 0x2020u) == flare_http__load16(lit) &&
           (uint16_t)(flare_http__load16(s + n - 2) | 0x2020u) == flare_http__load16(lit + n - 2);
}

#define FLARE_HTTP__MATCH(lit, id)                                                                 \
    if (flare_http__eq_fold(name, lit, sizeof(lit) - 1)) return id

static inline __attribute__((always_inline)) flare_http_hdr
flare_http__header_id_token(const char *name, size_t len)
{
    switch (len) {
    case 2:
        FLARE_HTTP__MATCH("te", FLARE_HDR_TE);
        break;
    case 4:
        FLARE_HTTP__MATCH("host", FLARE_HDR_HOST);
        break;
    case 5:
        FLARE_HTTP__MATCH("range", FLARE_HDR_RANGE);
        break;
    case 6:
        FLARE_HTTP__MATCH("expect", FLARE_HDR_EXPECT);
        FLARE_HTTP__MATCH("cookie", FLARE_HDR_COOKIE);
        FLARE_HTTP__MATCH("origin", FLARE_HDR_ORIGIN);
        break;
    case 7:
        FLARE_HTTP__MATCH("upgrade", FLARE_HDR_UPGRADE);
        FLARE_HTTP__MATCH("trailer", FLARE_HDR_TRAILER);
        FLARE_HTTP__MATCH("referer", FLARE_HDR_REFERER);
        break;
    case 8:
        FLARE_HTTP__MATCH("location", FLARE_HDR_LOCATION);
        FLARE_HTTP__MATCH("if-match", FLARE_HDR_IF_MATCH);
        FLARE_HTTP__MATCH("if-range", FLARE_HDR_IF_RANGE);
        break;
    case 10:
        FLARE_HTTP__MATCH("connection", FLARE_HDR_CONNECTION);
        FLARE_HTTP__MATCH("user-agent", FLARE_HDR_USER_AGENT);
        FLARE_HTTP__MATCH("keep-alive", FLARE_HDR_KEEP_ALIVE);
        FLARE_HTTP__MATCH("set-cookie", FLARE_HDR_SET_COOKIE);
        break;
    case 12:
        FLARE_HTTP__MATCH("content-type", FLARE_HDR_CONTENT_TYPE);
        break;
    case 13:
        FLARE_HTTP__MATCH("authorization", FLARE_HDR_AUTHORIZATION);
        FLARE_HTTP__MATCH("if-none-match", FLARE_HDR_IF_NONE_MATCH);
        break;
    case 14:
        FLARE_HTTP__MATCH("content-length", FLARE_HDR_CONTENT_LENGTH);
        break;
    case 15:
        FLARE_HTTP__MATCH("accept-encoding", FLARE_HDR_ACCEPT_ENCODING);
        FLARE_HTTP__MATCH("x-forwarded-for", FLARE_HDR_X_FORWARDED_FOR);
        break;
    case 16:
        FLARE_HTTP__MATCH("content-encoding", FLARE_HDR_CONTENT_ENCODING);
        break;
    case 17:
        FLARE_HTTP__MATCH("transfer-encoding", FLARE_HDR_TRANSFER_ENCODING);
        FLARE_HTTP__MATCH("if-modified-since", FLARE_HDR_IF_MODIFIED_SINCE);
        FLARE_HTTP__MATCH("sec-websocket-key", FLARE_HDR_SEC_WEBSOCKET_KEY);
        break;
    case 19:
        FLARE_HTTP__MATCH("if-unmodified-since", FLARE_HDR_IF_UNMODIFIED_SINCE);
        break;
    case 21:
        FLARE_HTTP__MATCH("sec-websocket-version", FLARE_HDR_SEC_WEBSOCKET_VERSION);
        break;
    case 22:
        FLARE_HTTP__MATCH("sec-websocket-protocol", FLARE_HDR_SEC_WEBSOCKET_PROTOCOL);
        break;
    case 24:
        FLARE_HTTP__MATCH("sec-websocket-extensions", FLARE_HDR_SEC_WEBSOCKET_EXTENSIONS);
        break;
    default:
        break;
    }
    return FLARE_HDR_OTHER;
}

#undef FLARE_HTTP__MATCH

#endif
