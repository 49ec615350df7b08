/*
 * fuzz_range_cond.c: Range (RFC 9110 §14.1.2) and conditional requests (§13):
 * flared_static_parse_range, flared_static_multipart, flared_static_parse_http_date,
 * flared_static_etag_match, flared_static_preconditions and flared_static_if_range.
 * Bytes 0-7 give the representation size (mostly small); the rest is the field
 * lines of a GET. Checks: every range lies inside the representation and a
 * coalesced set is disjoint; a multipart body has exactly the
 * range bytes plus part heads; an IMF-fixdate reformats to itself; a tag matches
 * itself weakly; preconditions answer 0, 304 or 412.
 */
#include <string.h>

#include "fuzz.h"
#include "static_internal.h"

#define NOW 1764000000

static int count_emit(void *ctx, const void *data, size_t len)
{
    size_t *total = ctx;
    const volatile char *p = data;
    if (len) (void)p[len - 1]; /* the bytes must be readable */
    *total += len;
    return 0;
}

static void check_range(const char *value, size_t len, uint64_t size)
{
    flared_byte_range r[FLARED_RANGES_MAX];
    int n = flared_static_parse_range(value, len, size, r);
    FUZZ_CHECK(n >= FLARED_RANGE_UNSATISFIABLE && n <= FLARED_RANGES_MAX);
    if (n <= 0) return;
    uint64_t sum = 0;
    for (int i = 0; i < n; i++) {
        FUZZ_CHECK(r[i].first <= r[i].last && r[i].last < size);
        sum += r[i].last - r[i].first + 1;
    }
    /* Either the client's order (no two touch) or sorted and merged: disjoint anyway. */
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            FUZZ_CHECK(r[j].last + 1 < r[i].first || r[i].last + 1 < r[j].first);
    if (size <= 65536 && sum <= 65536) {
        static char mem[65536];
        flared_range_source src = {mem, -1, size, "text/plain"};
        size_t total = 0;
        FUZZ_CHECK(flared_static_multipart(&src, r, (size_t)n, "BOUNDARY", count_emit, &total) ==
                   0);
        FUZZ_CHECK(total > sum);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8) return 0;
    uint64_t rep = 0;
    for (int i = 0; i < 8; i++)
        rep = rep << 8 | data[i];
    if (!(data[0] & 0x80)) rep &= 0xffff; /* mostly small representations */
    const char *rest = (const char *)data + 8;
    size_t len = size - 8;

    check_range(rest, len, rep);
    int64_t t;
    if (flared_static_parse_http_date(rest, len, NOW, &t) == 0 && t >= 0 && t <= 253402300799ll) {
        char imf[FLARE_IMF_FIXDATE_LEN + 1];
        flare_format_http_date((time_t)t, imf);
        int64_t again;
        FUZZ_CHECK(flared_static_parse_http_date(imf, FLARE_IMF_FIXDATE_LEN, NOW, &again) == 0);
        FUZZ_CHECK(again == t);
    }
    static const char tag[] = "\"1a2b-40-5f000000.0\"";
    (void)flared_static_etag_match(rest, len, tag, sizeof tag - 1, data[1] & 1);
    FUZZ_CHECK(flared_static_etag_match("*", 1, tag, sizeof tag - 1, true));
    FUZZ_CHECK(flared_static_etag_match(tag, sizeof tag - 1, tag, sizeof tag - 1, true));

    /* The rest as field lines of a GET, against fixed validators. */
    static const char line[] = "GET /f HTTP/1.1\r\nHost: h\r\n";
    char *head = malloc(sizeof line - 1 + len + 4);
    if (!head) return 0;
    memcpy(head, line, sizeof line - 1);
    memcpy(head + sizeof line - 1, rest, len);
    memcpy(head + sizeof line - 1 + len, "\r\n\r\n", 4);
    flare_http_header hdrs[64];
    flare_http_request req = {.headers = hdrs, .max_headers_capacity = 64};
    int status;
    if (flare_http_parse_request(head, sizeof line - 1 + len + 4, 0, NULL, &req, &status) > 0) {
        flared_static_validators v = {tag, sizeof tag - 1, NOW - 3600};
        int pre = flared_static_preconditions(&req, &v);
        FUZZ_CHECK(pre == 0 || pre == 304 || pre == 412);
        (void)flared_static_if_range(&req, &v, NOW);
        size_t count = 0;
        const flare_http_header *range = flared_static_field(&req, FLARE_HDR_RANGE, &count);
        if (range) {
            FUZZ_CHECK(count >= 1 && range->id == FLARE_HDR_RANGE);
            check_range(range->value, range->value_len, rep);
        }
    }
    free(head);
    return 0;
}
