/*
 * parse_internal.h (internal): pieces shared by the request and response
 * parsers: finding the end of a head, splitting one field line, and reading the
 * framing fields (Content-Length, Transfer-Encoding, Connection). Nothing here
 * allocates; every slice points into the caller's buffer.
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

/** flare_http_header_id for a name already known to be a token (no CR check). */
flare_http_hdr flare_http__header_id_token(const char *name, size_t len);

/** True when a[0..n) equals the lowercase ASCII text lower[0..n) ignoring case. */
bool flare_http__eq_nocase(const char *a, const char *lower, size_t n);

/**
 * Steps through a comma-separated list (RFC 9110 §5.6.1): sets the next
 * non-empty element with OWS trimmed and returns true, or returns false at the end.
 */
static inline bool flare_http__list_next(const char **cur, const char *end, const char **elem,
                                         size_t *elem_len);

/* inline definitions */

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

#endif
