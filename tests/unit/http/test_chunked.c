/*
 * test_chunked.c: the in-place chunked decoder. Each valid encoding is fed
 * whole and split into two and three calls at every pair of offsets, each call in
 * an exact-size heap buffer; the payload and the bytes left after the body must
 * not depend on the split. Malformed encodings must fail whatever the split.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flare/http_parser.h"

typedef struct chunk_case {
    const char *name;
    const char *enc;
    size_t enc_len;
    const char *payload;
    size_t payload_len;
    const char *rest; /* bytes after the body */
    size_t rest_len;
} chunk_case;

#define S(s) s, sizeof(s) - 1
#define GOOD(n, e, p, r)                                                                           \
    {                                                                                              \
        n, S(e), S(p), S(r)                                                                        \
    }

static const chunk_case good[] = {
    GOOD("one chunk", "5\r\nhello\r\n0\r\n\r\n", "hello", ""),
    GOOD("two chunks", "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n", "abcdefg", ""),
    GOOD("upper hex", "A\r\n0123456789\r\n0\r\n\r\n", "0123456789", ""),
    GOOD("lower hex", "a\r\n0123456789\r\n0\r\n\r\n", "0123456789", ""),
    GOOD("two-digit hex", "1F\r\n0123456789abcdef0123456789abcde\r\n0\r\n\r\n",
         "0123456789abcdef0123456789abcde", ""),
    GOOD("leading zeros", "0005\r\nhello\r\n0\r\n\r\n", "hello", ""),
    GOOD("sixteen digits", "0000000000000005\r\nhello\r\n0000000000000000\r\n\r\n", "hello", ""),
    GOOD("empty body", "0\r\n\r\n", "", ""),
    GOOD("zeros as last chunk", "000\r\n\r\n", "", ""),
    GOOD("extension", "5;name=value\r\nhello\r\n0;x\r\n\r\n", "hello", ""),
    GOOD("extension with BWS", "5 ; a=\"q;x\"\r\nhello\r\n0\t;b\r\n\r\n", "hello", ""),
    GOOD("extension with obs-text", "5;a=\"\xc3\xa9\"\r\nhello\r\n0\r\n\r\n", "hello", ""),
    GOOD("extensions with BWS around =", "5 ;a = b ; c\t=\t\"\"\r\nhello\r\n0\r\n\r\n", "hello",
         ""),
    GOOD("extension quoted-pair", "5;a=\"x\\\"y\\\\\"\r\nhello\r\n0\r\n\r\n", "hello", ""),
    GOOD("extension names only", "5;a;b;c\r\nhello\r\n0;z\r\n\r\n", "hello", ""),
    GOOD("trailers", "5\r\nhello\r\n0\r\nX-Trailer: v\r\nY: z\r\n\r\n", "hello", ""),
    GOOD("trailer with empty value", "0\r\nX:\r\n\r\n", "", ""),
    GOOD("CRLFs inside data", "4\r\n\r\n\r\n\r\n0\r\n\r\n", "\r\n\r\n", ""),
    GOOD("binary data", "3\r\n\0\xff\n\r\n0\r\n\r\n", "\0\xff\n", ""),
    GOOD("pipelined request after", "2\r\nhi\r\n0\r\n\r\nGET / HTTP/1.1\r\n", "hi",
         "GET / HTTP/1.1\r\n"),
    GOOD("one byte chunks", "1\r\na\r\n1\r\nb\r\n1\r\nc\r\n0\r\n\r\n", "abc", ""),
};

static const struct {
    const char *name;
    const char *enc;
    size_t enc_len;
} bad[] = {
    {"bad hex", S("G\r\nx\r\n0\r\n\r\n")},
    {"empty size", S("\r\n")},
    {"sign", S("-5\r\nhello\r\n0\r\n\r\n")},
    {"0x prefix", S("0x5\r\nhello\r\n0\r\n\r\n")},
    {"data too long", S("5\r\nhelloX\r\n0\r\n\r\n")},
    {"CR then junk after data", S("5\r\nhello\rX\n0\r\n\r\n")},
    {"bare LF after data", S("5\r\nhello\n0\r\n\r\n")},
    {"bare LF after size", S("5\nhello\r\n0\r\n\r\n")},
    {"CR CR after size", S("5\r\rhello\r\n0\r\n\r\n")},
    {"seventeen hex digits", S("10000000000000000\r\n")},
    {"seventeen zeros", S("00000000000000000\r\n\r\n")},
    {"overflow by one digit", S("FFFFFFFFFFFFFFFF0\r\n")},
    {"BWS without extension", S("5 \r\nhello\r\n0\r\n\r\n")},
    {"size then junk", S("5x\r\nhello\r\n0\r\n\r\n")},
    {"CTL in extension", S("5;\x01\r\nhello\r\n0\r\n\r\n")},
    {"LF in extension", S("5;a\nb\r\nhello\r\n0\r\n\r\n")},
    /* chunk-ext = *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ) ) */
    {"extension quote open at line end", S("5;a=\"\r\nhello\r\n0\r\n\r\n")},
    {"extension quote holding CRLF", S("5;a=\"x\r\ny\"\r\nhello\r\n0\r\n\r\n")},
    {"extension quoted-pair of CR", S("5;a=\"x\\\r\"\r\nhello\r\n0\r\n\r\n")},
    {"extension space inside name", S("5;a b\r\nhello\r\n0\r\n\r\n")},
    {"extension empty name", S("5;=b\r\nhello\r\n0\r\n\r\n")},
    {"extension nothing after ;", S("5;\r\nhello\r\n0\r\n\r\n")},
    {"extension empty value", S("5;a=\r\nhello\r\n0\r\n\r\n")},
    {"extension unquoted obs-text", S("5;a=\xc3\xa9\r\nhello\r\n0\r\n\r\n")},
    {"extension value not a token", S("5;a=b/c\r\nhello\r\n0\r\n\r\n")},
    {"extension two values", S("5;a=b c\r\nhello\r\n0\r\n\r\n")},
    {"extension junk after quote", S("5;a=\"b\"c\r\nhello\r\n0\r\n\r\n")},
    {"extension BWS before CR", S("5;a \r\nhello\r\n0\r\n\r\n")},
    {"extension on last chunk malformed", S("5\r\nhello\r\n0;\"\r\n\r\n")},
    {"trailer without colon", S("0\r\nX\r\n\r\n")},
    {"trailer obs-fold", S("0\r\nX: a\r\n b\r\n\r\n")},
    {"trailer empty name", S("0\r\n: a\r\n\r\n")},
    {"trailer NUL", S("0\r\nX: a\0\r\n\r\n")},
    {"trailer space before colon", S("0\r\nX : a\r\n\r\n")},
    {"bad end CR", S("0\r\n\rX")},
    {"bare LF at the end", S("0\r\n\n")},
    {"bare LF after a trailer", S("0\r\nX: a\n\r\n")},
};

/* Feeds enc in pieces split at a and b (a <= b), collecting payload and rest; the
 * decoder takes payload_max (0: none). */
static ssize_t feed(const char *enc, size_t n, size_t a, size_t b, uint64_t payload_max,
                    char *payload, size_t *payload_len, char *rest, size_t *rest_len)
{
    flare_http_chunked dec;
    memset(&dec, 0, sizeof dec);
    dec.payload_max = payload_max;
    const size_t cuts[4] = {0, a, b, n};
    ssize_t rc = FLARE_EINCOMPLETE;
    *payload_len = *rest_len = 0;
    for (int i = 0; i < 3; i++) {
        size_t len = cuts[i + 1] - cuts[i];
        if (len == 0 && i < 2) continue;
        char *piece = malloc(len ? len : 1);
        assert_non_null(piece);
        memcpy(piece, enc + cuts[i], len);
        size_t out = len;
        ssize_t r = flare_http_decode_chunked(&dec, piece, &out);
        assert_true(out <= len);
        memcpy(payload + *payload_len, piece, out);
        *payload_len += out;
        if (r >= 0) {
            assert_true(out + (size_t)r <= len);
            memcpy(rest + *rest_len, piece + out, (size_t)r);
            *rest_len += (size_t)r;
        }
        free(piece);
        if (r == FLARE_EPARSE || r == FLARE_ELIMIT) return r;
        /* A call after the end gives its whole input back as rest. */
        if (rc >= 0) assert_true(r == (ssize_t)len && out == 0);
        if (r >= 0 || rc < 0) rc = r;
    }
    return rc;
}

static void test_good_every_split(void **state)
{
    (void)state;
    char payload[256], rest[256];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        const chunk_case *c = &good[i];
        size_t n = c->enc_len;
        for (size_t a = 0; a <= n; a++) {
            for (size_t b = a; b <= n; b++) {
                size_t plen, rlen;
                ssize_t rc = feed(c->enc, n, a, b, 0, payload, &plen, rest, &rlen);
                if (rc < 0) fail_msg("%s split %zu/%zu: rc %zd", c->name, a, b, rc);
                if (plen != c->payload_len || memcmp(payload, c->payload, plen) != 0)
                    fail_msg("%s split %zu/%zu: payload differs", c->name, a, b);
                assert_int_equal(rlen, c->rest_len);
                assert_memory_equal(rest, c->rest, rlen);
            }
        }
    }
}

static void test_bad_every_split(void **state)
{
    (void)state;
    char payload[256], rest[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = bad[i].enc_len;
        for (size_t a = 0; a <= n; a++) {
            for (size_t b = a; b <= n; b++) {
                size_t plen, rlen;
                ssize_t rc = feed(bad[i].enc, n, a, b, 0, payload, &plen, rest, &rlen);
                if (rc != FLARE_EPARSE)
                    fail_msg("%s split %zu/%zu: rc %zd, want EPARSE", bad[i].name, a, b, rc);
            }
        }
    }
}

/* Every proper prefix of a good encoding needs more input, never fails. */
static void test_prefixes_incomplete(void **state)
{
    (void)state;
    char buf[256];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        size_t body_end = good[i].enc_len - good[i].rest_len;
        for (size_t k = 0; k < body_end; k++) {
            flare_http_chunked dec = {0};
            memcpy(buf, good[i].enc, k);
            size_t len = k;
            assert_int_equal(flare_http_decode_chunked(&dec, buf, &len), FLARE_EINCOMPLETE);
        }
    }
}

static void test_state_after_end_and_error(void **state)
{
    (void)state;
    flare_http_chunked dec = {0};
    char buf[32];
    memcpy(buf, "0\r\n\r\n", 5);
    size_t len = 5;
    assert_int_equal(flare_http_decode_chunked(&dec, buf, &len), 0);
    assert_int_equal(len, 0);
    memcpy(buf, "abc", 3);
    len = 3;
    assert_int_equal(flare_http_decode_chunked(&dec, buf, &len), 3);
    assert_int_equal(len, 0);
    assert_memory_equal(buf, "abc", 3);

    flare_http_chunked bad_dec = {0};
    memcpy(buf, "Z\r\n", 3);
    len = 3;
    assert_int_equal(flare_http_decode_chunked(&bad_dec, buf, &len), FLARE_EPARSE);
    memcpy(buf, "0\r\n\r\n", 5);
    len = 5;
    assert_int_equal(flare_http_decode_chunked(&bad_dec, buf, &len), FLARE_EPARSE);

    flare_http_chunked d2 = {0};
    len = 0;
    assert_int_equal(flare_http_decode_chunked(&d2, buf, &len), FLARE_EINCOMPLETE);
    assert_int_equal(flare_http_decode_chunked(NULL, buf, &len), FLARE_EINVAL);
    assert_int_equal(flare_http_decode_chunked(&d2, buf, NULL), FLARE_EINVAL);
    len = 3;
    assert_int_equal(flare_http_decode_chunked(&d2, NULL, &len), FLARE_EINVAL);
}

/* The largest size that fits is accepted and counted down exactly. */
static void test_max_chunk_size(void **state)
{
    (void)state;
    flare_http_chunked dec = {0};
    char buf[64];
    memcpy(buf, "FFFFFFFFFFFFFFFF\r\nabcd", 22);
    size_t len = 22;
    assert_int_equal(flare_http_decode_chunked(&dec, buf, &len), FLARE_EINCOMPLETE);
    assert_int_equal(len, 4);
    assert_memory_equal(buf, "abcd", 4);
    assert_true(dec.bytes_left_in_chunk == UINT64_MAX - 4);
}

/* With payload_max, a chunk the body has no room left for fails at the end of its
 * size line, before any of its data, however the input is split; a body exactly at
 * the limit passes. */
static void test_payload_limit(void **state)
{
    (void)state;
    static const char enc[] = "3\r\nabc\r\n4;x\r\ndefg\r\n0\r\n\r\nGET";
    const size_t n = sizeof enc - 1;
    char payload[64], rest[64];
    for (size_t a = 0; a <= n; a++) {
        for (size_t b = a; b <= n; b++) {
            size_t plen, rlen;
            ssize_t rc = feed(enc, n, a, b, 7, payload, &plen, rest, &rlen);
            if (rc < 0) fail_msg("limit 7, split %zu/%zu: rc %zd", a, b, rc);
            assert_int_equal(plen, 7);
            assert_int_equal(rlen, 3);
            rc = feed(enc, n, a, b, 6, payload, &plen, rest, &rlen);
            if (rc != FLARE_ELIMIT) fail_msg("limit 6, split %zu/%zu: rc %zd", a, b, rc);
            assert_int_equal(plen, 3);
            assert_memory_equal(payload, "abc", 3);
        }
    }
    /* A size far past the limit needs none of its data to fail, and stays failed. */
    flare_http_chunked dec = {.payload_max = 1024};
    char buf[32];
    memcpy(buf, "FFFFFFFF\r\n", 10);
    size_t len = 10;
    assert_int_equal(flare_http_decode_chunked(&dec, buf, &len), FLARE_ELIMIT);
    assert_int_equal(len, 0);
    memcpy(buf, "0\r\n\r\n", 5);
    len = 5;
    assert_int_equal(flare_http_decode_chunked(&dec, buf, &len), FLARE_ELIMIT);
}

static void build_and_decode(const char *head, size_t fill, char fill_byte, const char *tail,
                             ssize_t want)
{
    size_t hl = strlen(head), tl = strlen(tail);
    size_t n = hl + fill + tl;
    char *buf = malloc(n);
    assert_non_null(buf);
    memcpy(buf, head, hl);
    memset(buf + hl, fill_byte, fill);
    memcpy(buf + hl + fill, tail, tl);
    flare_http_chunked dec = {0};
    size_t len = n;
    assert_int_equal(flare_http_decode_chunked(&dec, buf, &len), want);
    free(buf);
}

static void test_extension_limit(void **state)
{
    (void)state;
    enum { EXT = FLARE_HTTP_MAX_CHUNK_EXT_BYTES };
    build_and_decode("1;", EXT, 'e', "\r\nx\r\n0\r\n\r\n", 0);
    build_and_decode("1;", EXT + 1, 'e', "\r\nx\r\n0\r\n\r\n", FLARE_EPARSE);
    /* The budget is per line, not per body. */
    build_and_decode("1;", EXT, 'e',
                     "\r\nx\r\n0;"
                     "eeee\r\n\r\n",
                     0);
}

static void test_trailer_limit(void **state)
{
    (void)state;
    enum { MAX = FLARE_HTTP_MAX_CHUNK_TRAILER_BYTES };
    /* "X: " + fill + "\r\n" + "\r\n" is the whole trailer section. */
    build_and_decode("0\r\nX: ", MAX - 7, 'v', "\r\n\r\n", 0);
    build_and_decode("0\r\nX: ", MAX - 6, 'v', "\r\n\r\n", FLARE_EPARSE);
    /* Many small trailer lines add up. */
    size_t lines = MAX / 6 + 1;
    char *buf = malloc(3 + lines * 6 + 2);
    assert_non_null(buf);
    memcpy(buf, "0\r\n", 3);
    for (size_t i = 0; i < lines; i++)
        memcpy(buf + 3 + i * 6, "X: y\r\n", 6);
    memcpy(buf + 3 + lines * 6, "\r\n", 2);
    flare_http_chunked dec = {0};
    size_t len = 3 + lines * 6 + 2;
    assert_int_equal(flare_http_decode_chunked(&dec, buf, &len), FLARE_EPARSE);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_every_split),
        cmocka_unit_test(test_bad_every_split),
        cmocka_unit_test(test_prefixes_incomplete),
        cmocka_unit_test(test_state_after_end_and_error),
        cmocka_unit_test(test_max_chunk_size),
        cmocka_unit_test(test_payload_limit),
        cmocka_unit_test(test_extension_limit),
        cmocka_unit_test(test_trailer_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
