/*
 * fuzz_response.c: the response-head parser (flare_http_parse_response). Byte 0
 * picks the header array's capacity; the rest is the buffer. Checks: slices lie
 * inside the head, the status is 100..999, every SIMD path agrees, a resumed
 * parse equals a fresh one, and a prefix is never judged otherwise than the whole.
 */
#include <string.h>

#include "flare/http_parser.h"
#include "fuzz.h"

#define CAP 64

typedef struct outcome {
    ssize_t n;
    flare_http_response resp;
    flare_http_header headers[CAP];
} outcome;

static void parse(const char *buf, size_t len, size_t last_len, size_t cap, outcome *o)
{
    memset(o, 0, sizeof *o);
    o->resp.headers = o->headers;
    o->resp.max_headers_capacity = cap;
    o->n = flare_http_parse_response(buf, len, last_len, &o->resp);
}

static bool inside(const char *p, size_t n, const char *buf, size_t len)
{
    return p >= buf && n <= len && (size_t)(p - buf) <= len - n;
}

static bool same(const outcome *a, const outcome *b)
{
    if (a->n != b->n) return false;
    if (a->n <= 0) return true;
    const flare_http_response *x = &a->resp, *y = &b->resp;
    if (x->status != y->status || x->minor_version != y->minor_version ||
        x->reason_len != y->reason_len || x->keep_alive != y->keep_alive ||
        x->chunked != y->chunked || x->content_length != y->content_length ||
        x->num_headers != y->num_headers)
        return false;
    for (size_t i = 0; i < x->num_headers; i++)
        if (x->headers[i].name != y->headers[i].name ||
            x->headers[i].value != y->headers[i].value ||
            x->headers[i].value_len != y->headers[i].value_len)
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static outcome whole, other;
    if (size < 1) return 0;
    size_t cap = 1 + (data[0] % CAP);
    const char *buf = (const char *)data + 1;
    size_t len = size - 1;

    parse(buf, len, 0, cap, &whole);
    if (whole.n > 0) {
        const flare_http_response *r = &whole.resp;
        FUZZ_CHECK((size_t)whole.n <= len);
        FUZZ_CHECK(r->status >= 100 && r->status <= 999);
        FUZZ_CHECK(r->minor_version <= 1);
        FUZZ_CHECK(r->num_headers <= cap);
        FUZZ_CHECK(r->content_length >= -1);
        FUZZ_CHECK(!(r->chunked && r->content_length >= 0));
        FUZZ_CHECK(inside(r->reason, r->reason_len, buf, (size_t)whole.n));
        for (size_t i = 0; i < r->num_headers; i++) {
            const flare_http_header *h = &r->headers[i];
            FUZZ_CHECK(h->name_len > 0);
            FUZZ_CHECK(inside(h->name, h->name_len, buf, (size_t)whole.n));
            FUZZ_CHECK(inside(h->value, h->value_len, buf, (size_t)whole.n));
            FUZZ_CHECK(memchr(h->value, '\n', h->value_len) == NULL);
            FUZZ_CHECK(h->id == flare_http_header_id(h->name, h->name_len));
        }
    } else {
        FUZZ_CHECK(whole.n == FLARE_EINCOMPLETE || whole.n == FLARE_EPARSE);
    }

    flare_http_simd active = flare_http_simd_active();
    for (int p = FLARE_SIMD_SCALAR; p <= FLARE_SIMD_AVX512; p++) {
        if (flare_http_simd_force((flare_http_simd)p) < 0) continue;
        parse(buf, len, 0, cap, &other);
        FUZZ_CHECK(same(&whole, &other));
    }
    flare_http_simd_force(active);

    fuzz_rng rng = fuzz_rng_seed(data, size);
    for (int i = 0; i < 4 && len > 1; i++) {
        size_t cut = fuzz_rng_range(&rng, 0, len - 1);
        parse(buf, cut, 0, cap, &other);
        if (other.n == FLARE_EPARSE) {
            FUZZ_CHECK(whole.n == FLARE_EPARSE);
        } else if (other.n > 0) {
            FUZZ_CHECK(same(&whole, &other));
        } else {
            FUZZ_CHECK(other.n == FLARE_EINCOMPLETE);
            parse(buf, len, cut, cap, &other);
            FUZZ_CHECK(same(&whole, &other));
        }
    }
    return 0;
}
