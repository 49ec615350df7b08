/*
 * static_range.c: byte ranges (RFC 9110 §14): parsing a Range field against a
 * representation's size, and laying out a multipart/byteranges body: its small
 * texts (delimiters, part fields) between the file's ranges, which a file on disk
 * sends straight from the file as the socket drains. Anything odd
 * (another unit, bad syntax, too many ranges) makes the field ignored and the
 * whole representation go out with 200, which §14.2 permits; only a well-formed
 * set with no satisfiable range is answered 416.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "static_internal.h"

#define PART_CHUNK 16384

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* 1*DIGIT at *p, saturating at UINT64_MAX; false when there is no digit. */
static bool number(const char **p, const char *end, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    while (s < end && *s >= '0' && *s <= '9') {
        unsigned d = (unsigned)(*s - '0');
        v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
        s++;
    }
    if (s == *p) return false;
    *p = s;
    *out = v;
    return true;
}

static bool touching(flared_byte_range a, flared_byte_range b)
{
    return a.first <= (b.last == UINT64_MAX ? b.last : b.last + 1) &&
           b.first <= (a.last == UINT64_MAX ? a.last : a.last + 1);
}

/* §14.6 lets a server coalesce ranges that overlap; adjacent ones are joined too,
 * since a part boundary between them only costs bytes. The parts keep the order
 * the client asked for (§14.6 SHOULD), a merged one at the place of its first
 * member. A range grown by a merge cannot come to touch an earlier one: that one
 * would have touched a member and taken it already. */
static size_t coalesce(flared_byte_range *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n;) {
            if (!touching(r[i], r[j])) {
                j++;
                continue;
            }
            if (r[j].first < r[i].first) r[i].first = r[j].first;
            if (r[j].last > r[i].last) r[i].last = r[j].last;
            memmove(r + j, r + j + 1, (n - j - 1) * sizeof *r);
            n--;
            j = i + 1; /* grown: what it passed over may touch it now */
        }
    }
    return n;
}

int flared_static_parse_range(const char *value, size_t len, uint64_t size,
                              flared_byte_range out[FLARED_RANGES_MAX])
{
    const char *p = value, *end = value + len;
    /* §14.1: range units are case-insensitive. */
    if (len < 6 || strncasecmp(p, "bytes=", 6) != 0) return FLARED_RANGE_IGNORE;
    p += 6;
    size_t specs = 0, n = 0;
    bool empty_suffix = false;
    for (;;) {
        /* #rule: empty list elements and OWS around commas are allowed (§5.6.1.2). */
        while (p < end && (is_ows(*p) || *p == ','))
            p++;
        if (p >= end) break;
        uint64_t first = 0, last = UINT64_MAX, suffix = 0;
        bool is_suffix = *p == '-';
        if (is_suffix) {
            p++;
            if (!number(&p, end, &suffix)) return FLARED_RANGE_IGNORE;
        } else {
            if (!number(&p, end, &first) || p >= end || *p != '-') return FLARED_RANGE_IGNORE;
            p++;
            if (p < end && *p >= '0' && *p <= '9') {
                number(&p, end, &last);
                if (last < first) return FLARED_RANGE_IGNORE; /* invalid range-spec */
            }
        }
        while (p < end && is_ows(*p))
            p++;
        if (p < end && *p != ',') return FLARED_RANGE_IGNORE;
        /* Many small ranges are a denial-of-service pattern (§17.15): refuse the lot. */
        if (++specs > FLARED_RANGES_MAX) return FLARED_RANGE_IGNORE;
        /* §14.1.1: satisfiable when first-pos < size, or a non-zero suffix. A
         * non-zero suffix of an empty representation is satisfiable too, but no
         * Content-Range can name a part of nothing: the whole (empty) one goes out
         * with 200, as nginx does, not 416. */
        if (is_suffix) {
            if (suffix == 0) continue;
            if (size == 0) {
                empty_suffix = true;
                continue;
            }
            out[n].first = suffix >= size ? 0 : size - suffix;
            out[n++].last = size - 1;
        } else if (first < size) {
            out[n].first = first;
            out[n++].last = last >= size ? size - 1 : last;
        }
    }
    if (specs == 0 || empty_suffix) return FLARED_RANGE_IGNORE;
    if (n == 0) return FLARED_RANGE_UNSATISFIABLE;
    return (int)coalesce(out, n);
}

static int emit_file(const flared_range_source *src, uint64_t off, uint64_t len,
                     flared_emit_fn emit, void *ctx)
{
    if (len == 0) return 0;
    if (src->mem) return emit(ctx, src->mem + off, (size_t)len);
    char buf[PART_CHUNK];
    while (len > 0) {
        size_t want = len < sizeof buf ? (size_t)len : sizeof buf;
        ssize_t got = pread(src->fd, buf, want, (off_t)off);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return FLARE_ESYS; /* an error, or the file shrank */
        int rc = emit(ctx, buf, (size_t)got);
        if (rc < 0) return rc;
        off += (uint64_t)got;
        len -= (uint64_t)got;
    }
    return 0;
}

int flared_static_multipart_parts(const flared_range_source *src, const flared_byte_range *ranges,
                                  size_t n, const char *boundary, flare_file_part *parts,
                                  char *text, size_t cap)
{
    size_t used = 0;
    for (size_t i = 0; i <= n; i++) {
        char *at = text + used;
        int len = i == n ? snprintf(at, cap - used, "\r\n--%s--\r\n", boundary)
                         : snprintf(at, cap - used,
                                    "%s--%s\r\nContent-Type: %s\r\nContent-Range: bytes %" PRIu64
                                    "-%" PRIu64 "/%" PRIu64 "\r\n\r\n",
                                    i ? "\r\n" : "", boundary, src->content_type, ranges[i].first,
                                    ranges[i].last, src->size);
        if (len < 0 || (size_t)len >= cap - used) return FLARE_EINVAL;
        used += (size_t)len;
        parts[i] = (flare_file_part){at, (size_t)len, 0, 0};
        if (i < n) {
            parts[i].offset = (off_t)ranges[i].first;
            parts[i].len = ranges[i].last - ranges[i].first + 1;
        }
    }
    return 0;
}

int flared_static_multipart(const flared_range_source *src, const flared_byte_range *ranges,
                            size_t n, const char *boundary, flared_emit_fn emit, void *ctx)
{
    flare_file_part parts[FLARED_RANGES_MAX + 1];
    char text[FLARED_MULTIPART_TEXT_MAX];
    if (n > FLARED_RANGES_MAX) return FLARE_EINVAL;
    int rc = flared_static_multipart_parts(src, ranges, n, boundary, parts, text, sizeof text);
    for (size_t i = 0; rc == 0 && i <= n; i++) {
        rc = emit(ctx, parts[i].text, parts[i].text_len);
        if (rc == 0) rc = emit_file(src, (uint64_t)parts[i].offset, parts[i].len, emit, ctx);
    }
    return rc;
}
