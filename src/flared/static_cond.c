/*
 * static_cond.c: validators and conditional requests for the static route:
 * HTTP-date parsing, entity-tags built from inode, size and nanosecond mtime,
 * entity-tag list matching, and the precondition order of RFC 9110 §13.2.2.
 * A field that cannot be parsed is ignored, as §13.1 asks, never an error.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "static_internal.h"

/* ------------------------------------------------------------ header lines */

const flare_http_header *flared_static_field(const flare_http_request *head, flare_http_hdr id,
                                             size_t *count)
{
    const flare_http_header *first = flare_http_request_header(head, id);
    size_t n = 0;
    if (first)
        for (size_t i = (size_t)(first - head->headers); i < head->num_headers; i++)
            n += head->headers[i].id == id;
    if (count) *count = n;
    return first;
}

/* ------------------------------------------------------------- HTTP-date */

static const char month_names[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const day_short[7] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
static const char *const day_long[7] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                        "Friday", "Saturday", "Sunday"};

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3u : 9u)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Exactly n digits at s; -1 otherwise. */
static int digits(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int month_of(const char *s)
{
    for (int i = 0; i < 12; i++)
        if (memcmp(s, month_names[i], 3) == 0) return i + 1;
    return -1;
}

/* "HH:MM:SS" at s into seconds of the day; -1 when malformed. */
static int time_of_day(const char *s)
{
    int h = digits(s, 2), m = digits(s + 3, 2), sec = digits(s + 6, 2);
    if (s[2] != ':' || s[5] != ':' || h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 60)
        return -1;
    return h * 3600 + m * 60 + sec; /* a leap second 60 reads as the next second */
}

/* Day name s[0..len) among names; true when it is one of them. */
static bool day_name(const char *s, size_t len, const char *const *names)
{
    for (int i = 0; i < 7; i++)
        if (strlen(names[i]) == len && memcmp(s, names[i], len) == 0) return true;
    return false;
}

static int finish(int64_t y, int mon, int d, int tod, int64_t *out)
{
    static const unsigned char mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 0 || mon < 1 || d < 1 || tod < 0) return -1;
    if (d > mdays[mon - 1] + (mon == 2 && is_leap(y))) return -1;
    *out = days_from_civil(y, (unsigned)mon, (unsigned)d) * 86400 + tod;
    return 0;
}

int flared_static_parse_http_date(const char *s, size_t len, time_t now, int64_t *out)
{
    const char *comma = memchr(s, ',', len);
    if (len == 29 && comma == s + 3) {
        /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
        if (!day_name(s, 3, day_short) || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
            s[16] != ' ' || s[25] != ' ' || memcmp(s + 26, "GMT", 3) != 0)
            return -1;
        return finish(digits(s + 12, 4), month_of(s + 8), digits(s + 5, 2), time_of_day(s + 17),
                      out);
    }
    if (comma && len >= 30 && (size_t)(comma - s) == len - 24) {
        /* rfc850-date: Sunday, 06-Nov-94 08:49:37 GMT */
        const char *p = comma + 1;
        if (!day_name(s, (size_t)(comma - s), day_long) || p[0] != ' ' || p[3] != '-' ||
            p[7] != '-' || p[10] != ' ' || p[19] != ' ' || memcmp(p + 20, "GMT", 3) != 0)
            return -1;
        int yy = digits(p + 8, 2);
        if (yy < 0) return -1;
        /* RFC 9110 §5.6.7: a two-digit year more than 50 years ahead is in the past. */
        struct tm tm;
        int64_t this_year = gmtime_r(&now, &tm) ? tm.tm_year + 1900 : 1970;
        int64_t y = this_year - this_year % 100 + yy;
        if (y > this_year + 50) y -= 100;
        return finish(y, month_of(p + 4), digits(p + 1, 2), time_of_day(p + 11), out);
    }
    if (len == 24 && !comma) {
        /* asctime-date: Sun Nov  6 08:49:37 1994 */
        if (!day_name(s, 3, day_short) || s[3] != ' ' || s[7] != ' ' || s[10] != ' ' ||
            s[19] != ' ')
            return -1;
        int d = s[8] == ' ' ? digits(s + 9, 1) : digits(s + 8, 2);
        return finish(digits(s + 20, 4), month_of(s + 4), d, time_of_day(s + 11), out);
    }
    return -1;
}

/* ------------------------------------------------------------ entity-tags */

size_t flared_static_etag(const struct stat *st, const char *suffix, bool weak,
                          char out[FLARED_ETAG_MAX])
{
    int n = snprintf(out, FLARED_ETAG_MAX, "%s\"%" PRIx64 "-%" PRIx64 "-%" PRIx64 ".%lx%s\"",
                     weak ? "W/" : "", (uint64_t)st->st_ino, (uint64_t)st->st_size,
                     (uint64_t)st->st_mtim.tv_sec, (unsigned long)st->st_mtim.tv_nsec,
                     suffix ? suffix : "");
    if (n < 0) return 0;
    return (size_t)n < FLARED_ETAG_MAX ? (size_t)n : FLARED_ETAG_MAX - 1;
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* RFC 9110 §8.8.3: etagc is %x21 / %x23-7E / obs-text. */
static bool is_etagc(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c != 0x7F);
}

/* Splits "W/"? "opaque" at p; returns the end, or NULL when malformed. */
static const char *parse_etag(const char *p, const char *end, bool *weak, const char **opaque,
                              size_t *opaque_len)
{
    *weak = end - p >= 2 && p[0] == 'W' && p[1] == '/';
    if (*weak) p += 2;
    if (p >= end || *p != '"') return NULL;
    const char *start = p++;
    while (p < end && is_etagc((unsigned char)*p))
        p++;
    if (p >= end || *p != '"') return NULL;
    *opaque = start;
    *opaque_len = (size_t)(p + 1 - start);
    return p + 1;
}

bool flared_static_etag_match(const char *list, size_t len, const char *etag, size_t etag_len,
                              bool strong)
{
    bool ours_weak;
    const char *ours;
    size_t ours_len;
    if (!parse_etag(etag, etag + etag_len, &ours_weak, &ours, &ours_len)) return false;
    const char *p = list, *end = list + len;
    while (p < end && is_ows(*p))
        p++;
    const char *tail = end;
    while (tail > p && is_ows(tail[-1]))
        tail--;
    if (tail - p == 1 && *p == '*') return true;
    while (p < end) {
        while (p < end && (is_ows(*p) || *p == ','))
            p++;
        if (p >= end) break;
        bool weak;
        const char *opaque;
        size_t opaque_len;
        const char *next = parse_etag(p, end, &weak, &opaque, &opaque_len);
        if (!next) {
            /* A malformed member matches nothing; resume at the next comma. */
            const char *comma = memchr(p, ',', (size_t)(end - p));
            p = comma ? comma + 1 : end;
            continue;
        }
        p = next;
        if (opaque_len == ours_len && memcmp(opaque, ours, ours_len) == 0 &&
            !(strong && (weak || ours_weak)))
            return true;
    }
    return false;
}

/* True when any field line with this id matches. */
static bool any_line_matches(const flare_http_request *head, flare_http_hdr id,
                             const flared_static_validators *v, bool strong)
{
    const flare_http_header *h = flared_static_field(head, id, NULL);
    for (size_t i = h ? (size_t)(h - head->headers) : head->num_headers; i < head->num_headers;
         i++) {
        h = &head->headers[i];
        if (h->id == id &&
            flared_static_etag_match(h->value, h->value_len, v->etag, v->etag_len, strong))
            return true;
    }
    return false;
}

/* A date field with one member; false when absent, repeated or malformed (then ignored). */
static bool date_field(const flare_http_request *head, flare_http_hdr id, int64_t *out)
{
    size_t count;
    const flare_http_header *h = flared_static_field(head, id, &count);
    return h && count == 1 &&
           flared_static_parse_http_date(h->value, h->value_len, time(NULL), out) == 0;
}

int flared_static_preconditions(const flare_http_request *head, const flared_static_validators *v)
{
    int64_t date;
    /* Step 1 and 2: If-Match (strong comparison, §13.1.1), else If-Unmodified-Since. */
    if (flared_static_field(head, FLARE_HDR_IF_MATCH, NULL)) {
        if (!any_line_matches(head, FLARE_HDR_IF_MATCH, v, true)) return 412;
    } else if (date_field(head, FLARE_HDR_IF_UNMODIFIED_SINCE, &date) && v->last_modified > date) {
        return 412;
    }
    /* Step 3 and 4: If-None-Match (weak comparison, §13.1.2) takes precedence over
     * If-Modified-Since, which is not even looked at when it is present. */
    if (flared_static_field(head, FLARE_HDR_IF_NONE_MATCH, NULL)) {
        if (any_line_matches(head, FLARE_HDR_IF_NONE_MATCH, v, false)) return 304;
    } else if (date_field(head, FLARE_HDR_IF_MODIFIED_SINCE, &date) && v->last_modified <= date) {
        return 304;
    }
    return 0;
}

bool flared_static_if_range(const flare_http_request *head, const flared_static_validators *v,
                            time_t now)
{
    size_t count;
    const flare_http_header *h = flared_static_field(head, FLARE_HDR_IF_RANGE, &count);
    if (!h) return true;
    if (count != 1 || h->value_len == 0) return false;
    /* "W/" and not only 'W': the dates of Wednesdays begin with it too. */
    if (h->value[0] == '"' || (h->value_len >= 2 && h->value[0] == 'W' && h->value[1] == '/')) {
        /* §13.1.5: an entity-tag, compared strongly; a weak one never matches. */
        bool weak;
        const char *opaque;
        size_t opaque_len;
        const char *end = h->value + h->value_len;
        if (parse_etag(h->value, end, &weak, &opaque, &opaque_len) != end) return false;
        return flared_static_etag_match(h->value, h->value_len, v->etag, v->etag_len, true);
    }
    int64_t date;
    if (flared_static_parse_http_date(h->value, h->value_len, now, &date) < 0) return false;
    /* §8.8.2.2: a Last-Modified less than a second before now is weak, and a weak
     * validator cannot vouch that the client's partial copy is of the same bytes. */
    return date == v->last_modified && v->last_modified < (int64_t)now - 1;
}
