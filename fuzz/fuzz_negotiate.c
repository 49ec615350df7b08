/*
 * fuzz_negotiate.c: content negotiation over request fields: the static route's
 * Accept-Encoding (flared_static_accept_encoding, RFC 9110 §12.5.3) and the status
 * route's Accept (flared_status_wants_prometheus, §12.5.1). Byte 0 picks which; the
 * rest is the field's value after a fixed request line. Checks, on every value the
 * request parser accepts: codings listed once each, identity acceptable unless the
 * value names identity or "*"; and the answer stays the same when the value is
 * written otherwise as the grammar allows: one field per list member (§5.3), letters
 * in upper case (tokens and "q" are case-insensitive, §8.4.1, §12.4.2), HTAB for SP
 * and SP for HTAB, whitespace around ';' and after ',' (OWS, §5.6.3, §5.6.6).
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "flare/http.h"
#include "fuzz.h"
#include "handlers_internal.h"
#include "static_internal.h"

#define MAX_VALUE  1024
#define MAX_FIELDS 200

/* One verdict: the codings in order (Accept-Encoding), or 0/1 (Accept); -1 when the
 * request built from these values does not parse (then nothing is compared). */
typedef struct verdict {
    int parsed;
    size_t n;
    flared_coding order[FLARED_CODING__COUNT];
    bool prometheus;
} verdict;

static verdict judge(bool accept, const char *const *values, const size_t *lens, size_t count)
{
    static char req[MAX_FIELDS * 24 + 8 * MAX_VALUE];
    static const char line[] = "GET /status HTTP/1.1\r\nHost: a\r\n";
    const char *name = accept ? "Accept: " : "Accept-Encoding: ";
    size_t len = 0;
    memcpy(req, line, sizeof line - 1);
    len += sizeof line - 1;
    for (size_t i = 0; i < count; i++) {
        memcpy(req + len, name, strlen(name));
        len += strlen(name);
        memcpy(req + len, values[i], lens[i]);
        len += lens[i];
        memcpy(req + len, "\r\n", 2);
        len += 2;
    }
    memcpy(req + len, "\r\n", 2);
    len += 2;

    verdict v = {.parsed = 0};
    flare_http_header fields[MAX_FIELDS + 2];
    flare_http_request head = {.headers = fields, .max_headers_capacity = MAX_FIELDS + 2};
    int status;
    if (flare_http_parse_request(req, len, 0, NULL, &head, &status) <= 0) return v;
    v.parsed = 1;
    if (accept) {
        flare_request r = {.head = &head, .method = FLARE_METHOD_GET};
        v.prometheus = flared_status_wants_prometheus(&r);
    } else {
        v.n = flared_static_accept_encoding(&head, v.order);
    }
    return v;
}

static void same(bool accept, const verdict *a, const verdict *b)
{
    if (!a->parsed || !b->parsed) return;
    if (accept) {
        FUZZ_CHECK(a->prometheus == b->prometheus);
        return;
    }
    FUZZ_CHECK(a->n == b->n);
    FUZZ_CHECK(!memcmp(a->order, b->order, a->n * sizeof a->order[0]));
}

static bool names(const char *v, size_t len, const char *what)
{
    size_t n = strlen(what);
    for (size_t i = 0; i + n <= len; i++)
        if (!strncasecmp(v + i, what, n)) return true;
    return false;
}

/* out = v with every byte `from` written as the string `to`; returns the length. */
static size_t rewrite(const char *v, size_t len, char from, const char *to, bool before, char *out)
{
    size_t n = 0, tl = strlen(to);
    for (size_t i = 0; i < len; i++) {
        if (v[i] == from && before) {
            memcpy(out + n, to, tl);
            n += tl;
        }
        out[n++] = v[i];
        if (v[i] == from && !before) {
            memcpy(out + n, to, tl);
            n += tl;
        }
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > MAX_VALUE + 1) return 0;
    bool accept = data[0] & 1;
    const char *v = (const char *)data + 1;
    size_t len = size - 1;
    /* One field value: a line break would make the rest field lines of their own. */
    if (memchr(v, '\r', len) || memchr(v, '\n', len)) return 0;

    verdict base = judge(accept, &v, &len, 1);
    if (!base.parsed) return 0;
    if (!accept) {
        bool seen[FLARED_CODING__COUNT] = {false};
        FUZZ_CHECK(base.n <= FLARED_CODING__COUNT);
        for (size_t i = 0; i < base.n; i++) {
            FUZZ_CHECK(base.order[i] < FLARED_CODING__COUNT && !seen[base.order[i]]);
            seen[base.order[i]] = true;
        }
        if (!names(v, len, "identity") && !memchr(v, '*', len))
            FUZZ_CHECK(seen[FLARED_CODING_IDENTITY]);
    }

    /* One field per list member. */
    const char *parts[MAX_FIELDS];
    size_t lens[MAX_FIELDS], count = 0, start = 0;
    for (size_t i = 0; i <= len && count < MAX_FIELDS; i++)
        if (i == len || v[i] == ',') {
            parts[count] = v + start;
            lens[count++] = i - start;
            start = i + 1;
        }
    if (start > len) {
        verdict split = judge(accept, parts, lens, count);
        same(accept, &base, &split);
    }

    static char alt[4 * MAX_VALUE];
    const char *p = alt;
    size_t n;
    for (size_t i = 0; i < len; i++)
        alt[i] = (char)toupper((unsigned char)v[i]);
    verdict upper = judge(accept, &p, &len, 1);
    same(accept, &base, &upper);

    for (int tab = 0; tab < 2; tab++) {
        for (size_t i = 0; i < len; i++)
            alt[i] = v[i] == (tab ? ' ' : '\t') ? (tab ? '\t' : ' ') : v[i];
        verdict ows = judge(accept, &p, &len, 1);
        same(accept, &base, &ows);
    }

    static const struct {
        char at;
        const char *insert;
        bool before;
    } spaces[] = {{';', " ", true}, {';', "\t", false}, {',', " \t", false}};
    for (size_t k = 0; k < sizeof spaces / sizeof spaces[0]; k++) {
        n = rewrite(v, len, spaces[k].at, spaces[k].insert, spaces[k].before, alt);
        verdict ows = judge(accept, &p, &n, 1);
        same(accept, &base, &ows);
    }
    return 0;
}
