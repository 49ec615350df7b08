/*
 * test_static_gzip.c: src/flared/static_gzip.c: Accept-Encoding negotiation
 * (q-values, "*", identity refused, x-gzip, several field lines, malformed
 * members) on requests parsed by libflare, gzip output that zlib inflates
 * back to the input byte for byte, and the coding files are stored in (.svgz).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "static_internal.h"

static flare_http_header fields[16];
static flare_http_request parsed;
static char request_text[1024];

static const flare_http_request *request(const char *field_lines)
{
    int n = snprintf(request_text, sizeof request_text, "GET / HTTP/1.1\r\nHost: t\r\n%s\r\n",
                     field_lines);
    memset(&parsed, 0, sizeof parsed);
    parsed.headers = fields;
    parsed.max_headers_capacity = 16;
    int status = 0;
    ssize_t rc = flare_http_parse_request(request_text, (size_t)n, 0, NULL, &parsed, &status);
    if (rc != n) fail_msg("parse of %s: %zd (status %d)", request_text, rc, status);
    return &parsed;
}

/* The negotiated order as letters: b(r), g(zip), i(dentity). */
static const char *order_of(const char *field_lines)
{
    static char out[FLARED_CODING__COUNT + 1];
    flared_coding order[FLARED_CODING__COUNT];
    size_t n = flared_static_accept_encoding(request(field_lines), order);
    assert_true(n <= FLARED_CODING__COUNT);
    for (size_t i = 0; i < n; i++)
        out[i] = order[i] == FLARED_CODING_BR ? 'b' : order[i] == FLARED_CODING_GZIP ? 'g' : 'i';
    out[n] = '\0';
    return out;
}

static void test_negotiation(void **state)
{
    (void)state;
    assert_string_equal(order_of(""), "i");
    assert_string_equal(order_of("Accept-Encoding: \r\n"), "i");
    assert_string_equal(order_of("Accept-Encoding: gzip\r\n"), "gi");
    assert_string_equal(order_of("Accept-Encoding: gzip, deflate, br, zstd\r\n"), "bgi");
    assert_string_equal(order_of("Accept-Encoding: gzip;q=1.0, br;q=0.5\r\n"), "gbi");
    assert_string_equal(order_of("Accept-Encoding: br;q=0, gzip\r\n"), "gi");
    assert_string_equal(order_of("Accept-Encoding: x-gzip\r\n"), "gi");
    assert_string_equal(order_of("Accept-Encoding: GZIP;Q=0.5\r\n"), "gi");
    assert_string_equal(order_of("Accept-Encoding: gzip ; q=0.8 , br ; q=0.9\r\n"), "bgi");
    assert_string_equal(order_of("Accept-Encoding: deflate, zstd\r\n"), "i");
    /* Identity listed with a weight is ranked by it. */
    assert_string_equal(order_of("Accept-Encoding: identity, gzip;q=0.5\r\n"), "ig");
    assert_string_equal(order_of("Accept-Encoding: gzip;q=0.001\r\n"), "gi");
    /* "*" stands for whatever is not listed. */
    assert_string_equal(order_of("Accept-Encoding: *\r\n"), "bgi");
    assert_string_equal(order_of("Accept-Encoding: gzip;q=0.5, *;q=0.1\r\n"), "gbi");
    assert_string_equal(order_of("Accept-Encoding: *;q=0, gzip\r\n"), "g");
    assert_string_equal(order_of("Accept-Encoding: *;q=0, identity\r\n"), "i");
    /* Everything refused: nothing acceptable (the route sends identity anyway). */
    assert_string_equal(order_of("Accept-Encoding: *;q=0\r\n"), "");
    assert_string_equal(order_of("Accept-Encoding: identity;q=0\r\n"), "");
    assert_string_equal(order_of("Accept-Encoding: identity;q=0, gzip\r\n"), "g");
    /* Several field lines form one list. */
    assert_string_equal(order_of("Accept-Encoding: gzip\r\nAccept-Encoding: br\r\n"), "bgi");
}

static void test_malformed_members(void **state)
{
    (void)state;
    assert_string_equal(order_of("Accept-Encoding: gzip;q=2\r\n"), "i");
    assert_string_equal(order_of("Accept-Encoding: gzip;q=0.5555\r\n"), "i");
    assert_string_equal(order_of("Accept-Encoding: gzip;q=1.001\r\n"), "i");
    assert_string_equal(order_of("Accept-Encoding: gzip;q=abc, br\r\n"), "bi");
    assert_string_equal(order_of("Accept-Encoding: gzip;q=, br\r\n"), "bi");
    assert_string_equal(order_of("Accept-Encoding: ,,, ;q=1, gzip\r\n"), "gi");
    assert_string_equal(order_of("Accept-Encoding: gzip;level=9;q=0.7\r\n"), "gi");
    assert_string_equal(order_of("Accept-Encoding: gzip;q=0.\r\n"), "i");
    /* Whitespace around '=' makes no weight (RFC 9110 §12.4.2): the member is dropped,
     * so a refusal written that way still keeps gzip away. */
    assert_string_equal(order_of("Accept-Encoding: gzip;q = 0, br\r\n"), "bi");
    assert_string_equal(order_of("Accept-Encoding: gzip; Q =0.5\r\n"), "i");
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(flared_coding_name(FLARED_CODING_GZIP), "gzip");
    assert_string_equal(flared_coding_name(FLARED_CODING_BR), "br");
    assert_null(flared_coding_name(FLARED_CODING_IDENTITY));
    assert_string_equal(flared_coding_suffix(FLARED_CODING_GZIP), ".gz");
    assert_string_equal(flared_coding_suffix(FLARED_CODING_BR), ".br");
    assert_null(flared_coding_suffix(FLARED_CODING_IDENTITY));
}

/* Inflates a gzip stream with zlib; returns the length or -1. */
static long gunzip(const char *in, size_t len, char *out, size_t cap)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 15 + 16) != Z_OK) return -1;
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)len;
    zs.next_out = (Bytef *)out;
    zs.avail_out = (uInt)cap;
    int rc = inflate(&zs, Z_FINISH);
    long n = (long)(cap - zs.avail_out);
    bool all_used = zs.avail_in == 0;
    inflateEnd(&zs);
    return rc == Z_STREAM_END && all_used ? n : -1;
}

static void test_stored_coding(void **state)
{
    (void)state;
    static const struct {
        const char *name, *type;
        flared_coding want;
    } cases[] = {
        /* SVG kept compressed is gzip-coded image/svg+xml, whatever the name's case. */
        {"logo.svgz", "image/svg+xml", FLARED_CODING_GZIP},
        {"a/b/LOGO.SVGZ", "image/svg+xml", FLARED_CODING_GZIP},
        /* Plain SVG, a dotfile named ".svgz" (no extension), a bare name. */
        {"logo.svg", "image/svg+xml", FLARED_CODING_IDENTITY},
        {".svgz", "image/svg+xml", FLARED_CODING_IDENTITY},
        {"d/.svgz", "image/svg+xml", FLARED_CODING_IDENTITY},
        {"svgz", "image/svg+xml", FLARED_CODING_IDENTITY},
        /* A .gz file is a gzip file (application/gzip), not something gzip-coded. */
        {"a.tar.gz", "application/gzip", FLARED_CODING_IDENTITY},
        /* mime_types mapping svgz elsewhere: the bytes go out plain, as that type. */
        {"logo.svgz", "application/gzip", FLARED_CODING_IDENTITY},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(
            flared_static_stored_coding(cases[i].name, strlen(cases[i].name), cases[i].type),
            cases[i].want);
}

static void test_gzip_round_trip(void **state)
{
    (void)state;
    size_t len = 200000;
    char *text = malloc(len), *back = malloc(len + 16);
    assert_non_null(text);
    assert_non_null(back);
    for (size_t i = 0; i < len; i++)
        text[i] = "the quick brown fox jumps over the lazy dog\n"[i % 44] ^ (char)(i % 7 == 0);
    for (int level = 1; level <= 9; level += 4) {
        flare_buf out = FLARE_BUF_INIT;
        assert_int_equal(flared_static_gzip_encode(text, len, level, &out), 0);
        assert_true(out.len > 18 && out.len < len / 4);
        assert_int_equal((unsigned char)out.data[0], 0x1f); /* RFC 1952 magic */
        assert_int_equal((unsigned char)out.data[1], 0x8b);
        assert_int_equal(gunzip(out.data, out.len, back, len + 16), (long)len);
        assert_memory_equal(back, text, len);
        flare_buf_free(&out);
    }
    /* Appends after what is already in the buffer. */
    flare_buf out = FLARE_BUF_INIT;
    assert_int_equal(flare_buf_append(&out, "prefix", 6), 0);
    assert_int_equal(flared_static_gzip_encode("", 0, 6, &out), 0);
    assert_memory_equal(out.data, "prefix", 6);
    assert_int_equal(gunzip(out.data + 6, out.len - 6, back, 16), 0);
    flare_buf_free(&out);
    free(text);
    free(back);
}

static void test_gzip_bad_level(void **state)
{
    (void)state;
    flare_buf out = FLARE_BUF_INIT;
    assert_int_equal(flared_static_gzip_encode("x", 1, 0, &out), FLARE_EINVAL);
    assert_int_equal(flared_static_gzip_encode("x", 1, 10, &out), FLARE_EINVAL);
    assert_int_equal(out.len, 0);
    flare_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_negotiation),    cmocka_unit_test(test_malformed_members),
        cmocka_unit_test(test_names),          cmocka_unit_test(test_gzip_round_trip),
        cmocka_unit_test(test_gzip_bad_level), cmocka_unit_test(test_stored_coding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
