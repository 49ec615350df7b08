/*
 * fuzz_request.c: the request-head parser (flare_http_parse_request). Byte 0
 * picks the limits; the rest is the buffer. Beyond "no crash", it checks what
 * the header promises: slices lie inside the buffer, the status is one of the
 * documented ones, every SIMD path gives the same answer, a resumed parse
 * (last_len) equals a fresh one, and a prefix never gets an error (or a head)
 * that the whole buffer would not get.
 */
#include <string.h>

#include "flare/http_parser.h"
#include "fuzz.h"

#define CAP 64

typedef struct outcome {
    ssize_t n;
    int status;
    flare_http_request req;
    flare_http_header headers[CAP];
} outcome;

static void parse(const char *buf, size_t len, size_t last_len, const flare_http_limits *lim,
                  outcome *o)
{
    memset(o, 0, sizeof *o);
    o->req.headers = o->headers;
    o->req.max_headers_capacity = CAP;
    o->n = flare_http_parse_request(buf, len, last_len, lim, &o->req, &o->status);
}

static bool inside(const char *p, size_t n, const char *buf, size_t len)
{
    return p >= buf && n <= len && (size_t)(p - buf) <= len - n;
}

static bool is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static void check_head(const outcome *o, const char *buf, size_t len)
{
    const flare_http_request *r = &o->req;
    FUZZ_CHECK((size_t)o->n <= len);
    FUZZ_CHECK(o->status == 0);
    FUZZ_CHECK(inside(r->method, r->method_len, buf, (size_t)o->n));
    FUZZ_CHECK(inside(r->target, r->target_len, buf, (size_t)o->n));
    FUZZ_CHECK(r->method_len > 0 && r->target_len > 0);
    FUZZ_CHECK(r->minor_version <= 1);
    FUZZ_CHECK(r->num_headers <= CAP);
    FUZZ_CHECK(r->content_length >= -1);
    FUZZ_CHECK(!(r->chunked && r->content_length >= 0)); /* RFC 9112 §6.3 item 3 */
    FUZZ_CHECK(r->host_index < (int)r->num_headers);
    if (r->minor_version == 1) FUZZ_CHECK(r->host_index >= 0); /* RFC 9112 §3.2 */
    for (size_t i = 0; i < r->num_headers; i++) {
        const flare_http_header *h = &r->headers[i];
        FUZZ_CHECK(h->name_len > 0);
        FUZZ_CHECK(inside(h->name, h->name_len, buf, (size_t)o->n));
        FUZZ_CHECK(inside(h->value, h->value_len, buf, (size_t)o->n));
        for (size_t k = 0; k < h->name_len; k++)
            FUZZ_CHECK(is_tchar((unsigned char)h->name[k]));
        for (size_t k = 0; k < h->value_len; k++) {
            unsigned char c = (unsigned char)h->value[k];
            FUZZ_CHECK(c != '\r' && c != '\n' && c != 0);
        }
        if (h->value_len) {
            FUZZ_CHECK(h->value[0] != ' ' && h->value[0] != '\t');
            FUZZ_CHECK(h->value[h->value_len - 1] != ' ' && h->value[h->value_len - 1] != '\t');
        }
        FUZZ_CHECK(h->id == flare_http_header_id(h->name, h->name_len));
    }
    for (size_t id = 1; id < FLARE_HDR__COUNT; id++) {
        int16_t k = r->known_index[id];
        const flare_http_header *first = flare_http_request_header(r, (flare_http_hdr)id);
        if (k < 0) {
            FUZZ_CHECK(first == NULL);
        } else {
            FUZZ_CHECK((size_t)k < r->num_headers && r->headers[k].id == id);
            FUZZ_CHECK(first == &r->headers[k]);
            for (int16_t j = 0; j < k; j++)
                FUZZ_CHECK(r->headers[j].id != id);
        }
    }
}

static void check_failure(const outcome *o)
{
    if (o->n == FLARE_EINCOMPLETE) {
        FUZZ_CHECK(o->status == 0);
        return;
    }
    FUZZ_CHECK(o->n == FLARE_EPARSE);
    int s = o->status;
    FUZZ_CHECK(s == 400 || s == 414 || s == 417 || s == 431 || s == 501 || s == 505);
}

static bool same(const outcome *a, const outcome *b)
{
    if (a->n != b->n || a->status != b->status) return false;
    if (a->n <= 0) return true;
    const flare_http_request *x = &a->req, *y = &b->req;
    if (x->method != y->method || x->target != y->target || x->method_len != y->method_len ||
        x->target_len != y->target_len || x->num_headers != y->num_headers ||
        x->content_length != y->content_length || x->chunked != y->chunked ||
        x->keep_alive != y->keep_alive || x->upgrade != y->upgrade ||
        x->expect_continue != y->expect_continue || x->target_form != y->target_form)
        return false;
    for (size_t i = 0; i < x->num_headers; i++)
        if (x->headers[i].name != y->headers[i].name ||
            x->headers[i].value_len != y->headers[i].value_len ||
            x->headers[i].value != y->headers[i].value)
            return false;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static outcome whole, other;
    if (size < 1) return 0;
    uint8_t sel = data[0];
    const char *buf = (const char *)data + 1;
    size_t len = size - 1;
    flare_http_limits lim = {0, 0, 0};
    if (sel & 1) {
        lim.max_uri_bytes = 16u << ((sel >> 1) & 7);
        lim.max_header_bytes = 64u << ((sel >> 4) & 7);
        lim.max_headers = 1u + (sel >> 5);
    }

    parse(buf, len, 0, &lim, &whole);
    if (whole.n > 0)
        check_head(&whole, buf, len);
    else
        check_failure(&whole);

    /* Every scanning path answers alike. */
    flare_http_simd active = flare_http_simd_active();
    for (int p = FLARE_SIMD_SCALAR; p <= FLARE_SIMD_AVX512; p++) {
        if (flare_http_simd_force((flare_http_simd)p) < 0) continue;
        parse(buf, len, 0, &lim, &other);
        FUZZ_CHECK(same(&whole, &other));
    }
    flare_http_simd_force(active);

    /* Prefixes: an error or a head on a prefix is the whole buffer's too, and a
     * parse resumed from that prefix (last_len) equals the fresh one. */
    fuzz_rng rng = fuzz_rng_seed(data, size);
    for (int i = 0; i < 4 && len > 1; i++) {
        size_t cut = fuzz_rng_range(&rng, 0, len - 1);
        parse(buf, cut, 0, &lim, &other);
        if (other.n == FLARE_EPARSE) {
            FUZZ_CHECK(whole.n == FLARE_EPARSE);
            FUZZ_CHECK(whole.status == other.status);
        } else if (other.n > 0) {
            FUZZ_CHECK(same(&whole, &other));
        } else {
            FUZZ_CHECK(other.n == FLARE_EINCOMPLETE);
            parse(buf, len, cut, &lim, &other);
            FUZZ_CHECK(same(&whole, &other));
        }
    }

    /* The lookups on the parsed head. */
    if (whole.n > 0) {
        const flare_http_request *r = &whole.req;
        FUZZ_CHECK(r->method_id == flare_http_method_id(r->method, r->method_len));
        for (size_t i = 0; i < r->num_headers; i++) {
            const flare_http_header *h = &r->headers[i];
            const flare_http_header *f =
                flare_http_find_header(r->headers, r->num_headers, h->name, h->name_len);
            FUZZ_CHECK(f != NULL && f <= h);
            (void)flare_http_value_has_token(h->value, h->value_len, "close");
        }
    }
    return 0;
}
