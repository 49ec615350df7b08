/*
 * fuzz_url.c: the URL parser and resolver (flare_url_parse, flare_url_resolve)
 * and the percent codec. The input is BASE \n REF (without a newline the whole
 * is both). Checks the header's promises: what reaches a request line or a Host
 * header (target, host header) is visible ASCII only (no control, space or byte
 * from 0x80: a host in Unicode goes as its A-label), a host that is no IPv6 literal
 * is a valid host name (what IDNA maps to ':', '/' or '@' never passes), parsing a
 * URL's own formatting gives the same formatting back (normalisation is
 * idempotent), and percent-decoding an encoding gives the bytes back.
 */
#include <string.h>

#include "flare/dns.h"
#include "flare/url.h"
#include "fuzz.h"

static void check_wire_safe(const flare_buf *b)
{
    for (size_t i = 0; i < b->len; i++) {
        unsigned char c = (unsigned char)b->data[i];
        FUZZ_CHECK(c > 0x20 && c < 0x7f);
    }
}

static void check_url(const flare_url *u)
{
    flare_buf a = FLARE_BUF_INIT, b = FLARE_BUF_INIT, t = FLARE_BUF_INIT, h = FLARE_BUF_INIT;
    FUZZ_CHECK(strcmp(u->scheme, "http") == 0 || strcmp(u->scheme, "https") == 0);
    FUZZ_CHECK(u->path[0] == '/');
    FUZZ_CHECK(u->port != 0);
    FUZZ_CHECK(u->ipv6 || flare_hostname_validate(u->host, strlen(u->host), NULL) == 0);
    if (flare_url_target(u, &t) == 0) check_wire_safe(&t);
    if (flare_url_host_header(u, &h) == 0) check_wire_safe(&h);
    unsigned all = FLARE_URL_FMT_USERINFO | FLARE_URL_FMT_FRAGMENT;
    if (flare_url_format(u, all, &a) == 0) {
        check_wire_safe(&a);
        flare_url again;
        flare_error err;
        int rc = flare_url_parse(&again, a.data, a.len, &err);
        FUZZ_CHECK(rc == 0);
        FUZZ_CHECK(flare_url_format(&again, all, &b) == 0);
        FUZZ_CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
        FUZZ_CHECK(flare_url_same_origin(u, &again));
        flare_url copy;
        if (flare_url_copy(&copy, &again, &err) == 0) {
            FUZZ_CHECK(flare_url_same_origin(&copy, u));
            flare_url_free(&copy);
        }
        flare_url_free(&again);
    }
    flare_buf_free(&a);
    flare_buf_free(&b);
    flare_buf_free(&t);
    flare_buf_free(&h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *nl = memchr(s, '\n', size);
    size_t base_len = nl ? (size_t)(nl - s) : size;
    const char *ref = nl ? nl + 1 : s;
    size_t ref_len = nl ? size - base_len - 1 : size;
    flare_error err;

    flare_url base;
    bool have_base = flare_url_parse(&base, s, base_len, &err) == 0;
    if (have_base) check_url(&base);
    if (!have_base) {
        static const char fixed[] = "http://user:pw@example.com:8080/a/b/c?q=1#frag";
        FUZZ_CHECK(flare_url_parse(&base, fixed, sizeof fixed - 1, &err) == 0);
    }
    flare_url out;
    if (flare_url_resolve(&out, &base, ref, ref_len, &err) == 0) {
        check_url(&out);
        flare_url_free(&out);
    }
    flare_url_free(&base);
    flare_url_free(&base); /* documented safe twice */

    /* Percent codec round trip, and decoding in place. */
    flare_buf enc = FLARE_BUF_INIT;
    if (flare_url_percent_encode(&enc, s, size, (size && data[0] & 1) ? "/:@" : NULL) == 0) {
        char *dec = malloc(enc.len + 1);
        if (dec) {
            ssize_t n = flare_url_percent_decode(enc.data, enc.len, dec, false);
            FUZZ_CHECK(n == (ssize_t)size);
            FUZZ_CHECK(size == 0 || memcmp(dec, s, size) == 0);
            free(dec);
        }
    }
    flare_buf_free(&enc);
    char *copy = malloc(size + 1);
    if (copy) {
        memcpy(copy, s, size);
        ssize_t n = flare_url_percent_decode(copy, size, copy, true);
        FUZZ_CHECK(n == FLARE_EURL || (n >= 0 && (size_t)n <= size));
        free(copy);
    }
    return 0;
}
