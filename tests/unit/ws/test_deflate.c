/*
 * test_deflate.c: permessage-deflate over zlib: round trips of many sizes and
 * contents, the stripped 0x00 0x00 0xff 0xff tail checked with zlib directly,
 * context takeover on and off on each side, window sizes (8 refused for our own
 * compressor), the decompressed-size limit at its exact boundary and against a
 * zip bomb, corrupt input, and a peer that ends its deflate stream.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "flare/ws.h"

static void fill_text(char *p, size_t n, unsigned seed)
{
    static const char *words[] = {"flare ", "socket ", "frame ", "deflate ", "window ", "mask "};
    size_t i = 0;
    while (i < n) {
        seed = seed * 1103515245u + 12345u;
        const char *w = words[(seed >> 16) % 6];
        for (; *w && i < n; w++)
            p[i++] = *w;
    }
}

static void fill_random(char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (char)(seed >> 16);
    }
}

/* Inflates a payload plus the tail with plain zlib, independently of the library. */
static size_t zlib_inflate(const flare_buf *z, char *out, size_t cap)
{
    z_stream s = {0};
    assert_int_equal(inflateInit2(&s, -15), Z_OK);
    flare_buf in = FLARE_BUF_INIT;
    assert_int_equal(flare_buf_append(&in, z->data, z->len), 0);
    assert_int_equal(flare_buf_append(&in, "\x00\x00\xff\xff", 4), 0);
    s.next_in = (Bytef *)in.data;
    s.avail_in = (uInt)in.len;
    s.next_out = (Bytef *)out;
    s.avail_out = (uInt)cap;
    int rc = inflate(&s, Z_SYNC_FLUSH);
    assert_true(rc == Z_OK || rc == Z_BUF_ERROR);
    assert_int_equal(s.avail_in, 0);
    size_t n = cap - s.avail_out;
    inflateEnd(&s);
    flare_buf_free(&in);
    return n;
}

static void test_round_trips(void **state)
{
    (void)state;
    const size_t sizes[] = {0, 1, 2, 10, 100, 1000, 65535, 65536, 300000};
    flare_ws_deflate *c, *s;
    assert_int_equal(flare_ws_deflate_new(&c, NULL, false, -1, NULL), 0);
    assert_int_equal(flare_ws_deflate_new(&s, NULL, true, -1, NULL), 0);
    flare_buf z = FLARE_BUF_INIT, out = FLARE_BUF_INIT;
    char *msg = malloc(300000), *check = malloc(300000 + 1);
    for (int kind = 0; kind < 2; kind++)
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            size_t n = sizes[i];
            (kind ? fill_random : fill_text)(msg, n, (unsigned)(i + 1));
            z.len = 0;
            assert_int_equal(flare_ws_deflate_message(c, msg, n, &z, NULL), 0);
            if (kind == 0 && n >= 1000) assert_true(z.len < n / 2);
            /* The tail is gone: the payload does not end in 00 00 ff ff. */
            if (z.len >= 4) assert_memory_not_equal(z.data + z.len - 4, "\x00\x00\xff\xff", 4);
            out.len = 0;
            assert_int_equal(flare_ws_inflate(s, z.data, z.len, true, &out, SIZE_MAX, NULL), 0);
            assert_int_equal(out.len, n);
            if (n) assert_memory_equal(out.data, msg, n);
        }
    /* The first message of a fresh context decodes with plain zlib plus the tail. */
    flare_ws_deflate *fresh;
    assert_int_equal(flare_ws_deflate_new(&fresh, NULL, false, -1, NULL), 0);
    fill_text(msg, 5000, 3);
    z.len = 0;
    assert_int_equal(flare_ws_deflate_message(fresh, msg, 5000, &z, NULL), 0);
    assert_int_equal(zlib_inflate(&z, check, 300001), 5000);
    assert_memory_equal(check, msg, 5000);
    flare_ws_deflate_free(fresh);
    free(msg);
    free(check);
    flare_buf_free(&z);
    flare_buf_free(&out);
    flare_ws_deflate_free(c);
    flare_ws_deflate_free(s);
}

/* Inflating piece by piece equals inflating whole. */
static void test_streaming_inflate(void **state)
{
    (void)state;
    flare_ws_deflate *c, *s;
    assert_int_equal(flare_ws_deflate_new(&c, NULL, false, -1, NULL), 0);
    assert_int_equal(flare_ws_deflate_new(&s, NULL, true, -1, NULL), 0);
    char msg[20000];
    fill_text(msg, sizeof msg, 9);
    flare_buf z = FLARE_BUF_INIT, out = FLARE_BUF_INIT;
    for (size_t step = 1; step < 2000; step = step * 3 + 1) {
        z.len = 0;
        assert_int_equal(flare_ws_deflate_message(c, msg, sizeof msg, &z, NULL), 0);
        out.len = 0;
        for (size_t at = 0; at < z.len; at += step) {
            size_t n = z.len - at < step ? z.len - at : step;
            assert_int_equal(flare_ws_inflate(s, z.data + at, n, false, &out, SIZE_MAX, NULL), 0);
        }
        assert_int_equal(flare_ws_inflate(s, NULL, 0, true, &out, SIZE_MAX, NULL), 0);
        assert_int_equal(out.len, sizeof msg);
        assert_memory_equal(out.data, msg, sizeof msg);
    }
    flare_buf_free(&z);
    flare_buf_free(&out);
    flare_ws_deflate_free(c);
    flare_ws_deflate_free(s);
}

static size_t compressed_size(flare_ws_deflate *d, const char *msg, size_t n, flare_buf *z)
{
    z->len = 0;
    assert_int_equal(flare_ws_deflate_message(d, msg, n, z, NULL), 0);
    return z->len;
}

static void test_context_takeover(void **state)
{
    (void)state;
    char msg[3000];
    fill_random(msg, sizeof msg, 5); /* incompressible alone, but repeats compress */
    flare_buf z = FLARE_BUF_INIT, out = FLARE_BUF_INIT;
    /* With takeover the repeat refers back to the previous message. */
    flare_ws_deflate *c;
    assert_int_equal(flare_ws_deflate_new(&c, NULL, false, -1, NULL), 0);
    size_t a = compressed_size(c, msg, sizeof msg, &z);
    size_t b = compressed_size(c, msg, sizeof msg, &z);
    assert_true(a > sizeof msg / 2);
    assert_true(b < 100);
    /* ...and a receiver that resets per message (it believes the client has
     * no_context_takeover) cannot decode it: proof the reset happens. */
    flare_ws_deflate_params nct = {.client_no_context_takeover = true};
    flare_ws_deflate *s;
    assert_int_equal(flare_ws_deflate_new(&s, &nct, true, -1, NULL), 0);
    flare_ws_deflate *c2;
    assert_int_equal(flare_ws_deflate_new(&c2, NULL, false, -1, NULL), 0);
    compressed_size(c2, msg, sizeof msg, &z);
    assert_int_equal(flare_ws_inflate(s, z.data, z.len, true, &out, SIZE_MAX, NULL), 0);
    compressed_size(c2, msg, sizeof msg, &z);
    out.len = 0;
    int rc = flare_ws_inflate(s, z.data, z.len, true, &out, SIZE_MAX, NULL);
    assert_true(rc < 0 || out.len != sizeof msg || memcmp(out.data, msg, sizeof msg) != 0);
    flare_ws_deflate_free(s);
    flare_ws_deflate_free(c2);
    flare_ws_deflate_free(c);
    /* With our no_context_takeover every message compresses alone, identically,
     * and a resetting receiver decodes them all. */
    assert_int_equal(flare_ws_deflate_new(&c, &nct, false, -1, NULL), 0);
    assert_int_equal(flare_ws_deflate_new(&s, &nct, true, -1, NULL), 0);
    flare_buf first = FLARE_BUF_INIT;
    compressed_size(c, msg, sizeof msg, &first);
    for (int i = 0; i < 3; i++) {
        compressed_size(c, msg, sizeof msg, &z);
        assert_int_equal(z.len, first.len);
        assert_memory_equal(z.data, first.data, z.len);
        out.len = 0;
        assert_int_equal(flare_ws_inflate(s, z.data, z.len, true, &out, SIZE_MAX, NULL), 0);
        assert_int_equal(out.len, sizeof msg);
        assert_memory_equal(out.data, msg, sizeof msg);
    }
    flare_ws_deflate_free(c);
    flare_ws_deflate_free(s);
    /* Server side: server_no_context_takeover governs the server's compressor. */
    flare_ws_deflate_params snct = {.server_no_context_takeover = true};
    assert_int_equal(flare_ws_deflate_new(&s, &snct, true, -1, NULL), 0);
    a = compressed_size(s, msg, sizeof msg, &z);
    b = compressed_size(s, msg, sizeof msg, &z);
    assert_int_equal(a, b);
    flare_ws_deflate_free(s);
    assert_int_equal(flare_ws_deflate_new(&c, &snct, false, -1, NULL), 0);
    a = compressed_size(c, msg, sizeof msg, &z);
    b = compressed_size(c, msg, sizeof msg, &z);
    assert_true(b < a); /* the client keeps its context */
    flare_ws_deflate_free(c);
    flare_buf_free(&first);
    flare_buf_free(&z);
    flare_buf_free(&out);
}

static void test_window_bits(void **state)
{
    (void)state;
    flare_error err;
    flare_ws_deflate *d;
    flare_ws_deflate_params p8 = {.server_max_window_bits = 8, .client_max_window_bits = 8};
    assert_int_equal(flare_ws_deflate_new(&d, &p8, true, -1, &err), FLARE_EUNSUPPORTED);
    assert_null(d);
    assert_int_equal(flare_ws_deflate_new(&d, &p8, false, -1, &err), FLARE_EUNSUPPORTED);
    /* A peer's 8-bit window is fine: we only inflate its data. */
    flare_ws_deflate_params mix = {.server_max_window_bits = 9, .client_max_window_bits = 8};
    assert_int_equal(flare_ws_deflate_new(&d, &mix, true, -1, &err), 0);
    assert_int_equal(flare_ws_deflate_get_params(d)->server_max_window_bits, 9);
    char msg[10000];
    fill_text(msg, sizeof msg, 1);
    flare_buf z = FLARE_BUF_INIT, out = FLARE_BUF_INIT;
    assert_int_equal(flare_ws_deflate_message(d, msg, sizeof msg, &z, NULL), 0);
    flare_ws_deflate *peer;
    assert_int_equal(flare_ws_deflate_new(&peer, &mix, false, -1, &err), FLARE_EUNSUPPORTED);
    assert_int_equal(flare_ws_deflate_new(&peer, NULL, false, -1, &err), 0);
    assert_int_equal(flare_ws_inflate(peer, z.data, z.len, true, &out, SIZE_MAX, NULL), 0);
    assert_int_equal(out.len, sizeof msg);
    assert_memory_equal(out.data, msg, sizeof msg);
    flare_ws_deflate_free(peer);
    flare_ws_deflate_params bad = {.server_max_window_bits = 16};
    assert_int_equal(flare_ws_deflate_new(&peer, &bad, false, -1, &err), FLARE_EINVAL);
    assert_int_equal(flare_ws_deflate_new(&peer, NULL, false, 10, &err), FLARE_EINVAL);
    flare_ws_deflate_free(d);
    flare_buf_free(&z);
    flare_buf_free(&out);
}

static void test_size_limit(void **state)
{
    (void)state;
    flare_ws_deflate *c, *s;
    assert_int_equal(flare_ws_deflate_new(&c, NULL, false, -1, NULL), 0);
    char msg[5000];
    fill_text(msg, sizeof msg, 2);
    flare_buf z = FLARE_BUF_INIT, out = FLARE_BUF_INIT;
    assert_int_equal(flare_ws_deflate_message(c, msg, sizeof msg, &z, NULL), 0);
    /* Exactly at the limit is fine; one byte less is not. */
    assert_int_equal(flare_ws_deflate_new(&s, NULL, true, -1, NULL), 0);
    assert_int_equal(flare_ws_inflate(s, z.data, z.len, true, &out, sizeof msg, NULL), 0);
    flare_ws_deflate_free(s);
    assert_int_equal(flare_ws_deflate_new(&s, NULL, true, -1, NULL), 0);
    out.len = 0;
    flare_error err;
    assert_int_equal(flare_ws_inflate(s, z.data, z.len, true, &out, sizeof msg - 1, &err),
                     FLARE_ELIMIT);
    assert_true(out.len <= sizeof msg);
    flare_ws_deflate_free(s);
    flare_ws_deflate_free(c);
    /* A bomb: 100 MiB of zeros is ~100 KiB compressed; the output buffer never
     * grows far beyond the 1 MiB limit. */
    z.len = 0;
    z_stream zs = {0};
    assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY), Z_OK);
    static char zeros[1 << 20];
    assert_int_equal(flare_buf_reserve(&z, 1 << 20), 0);
    for (int i = 0; i < 100; i++) {
        zs.next_in = (Bytef *)zeros;
        zs.avail_in = sizeof zeros;
        do {
            assert_int_equal(flare_buf_reserve(&z, 65536), 0);
            zs.next_out = (Bytef *)z.data + z.len;
            zs.avail_out = (uInt)flare_buf_room(&z);
            deflate(&zs, i == 99 ? Z_SYNC_FLUSH : Z_NO_FLUSH);
            z.len = (size_t)((char *)zs.next_out - z.data);
        } while (zs.avail_in || zs.avail_out == 0);
    }
    deflateEnd(&zs);
    assert_true(z.len < 200000);
    assert_int_equal(flare_ws_deflate_new(&s, NULL, true, -1, NULL), 0);
    flare_buf_free(&out);
    assert_int_equal(flare_ws_inflate(s, z.data, z.len, true, &out, 1 << 20, &err), FLARE_ELIMIT);
    assert_true(out.cap <= (4u << 20));
    flare_ws_deflate_free(s);
    flare_buf_free(&z);
    flare_buf_free(&out);
}

static void test_corrupt_and_stream_end(void **state)
{
    (void)state;
    flare_ws_deflate *s;
    assert_int_equal(flare_ws_deflate_new(&s, NULL, true, -1, NULL), 0);
    flare_buf out = FLARE_BUF_INIT;
    flare_error err;
    /* BTYPE 11 is reserved in deflate. */
    assert_int_equal(flare_ws_inflate(s, "\x07\xff\xff", 3, true, &out, SIZE_MAX, &err),
                     FLARE_EPARSE);
    flare_ws_inflate_reset(s);
    /* A peer that finishes its deflate stream (BFINAL) per message still decodes,
     * and so does the next message after it. */
    for (int round = 0; round < 2; round++) {
        z_stream zs = {0};
        assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
        unsigned char zbuf[256];
        zs.next_in = (Bytef *)"finished stream";
        zs.avail_in = 15;
        zs.next_out = zbuf;
        zs.avail_out = sizeof zbuf;
        assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
        size_t zn = sizeof zbuf - zs.avail_out;
        deflateEnd(&zs);
        out.len = 0;
        assert_int_equal(flare_ws_inflate(s, zbuf, zn, true, &out, SIZE_MAX, &err), 0);
        assert_int_equal(out.len, 15);
        assert_memory_equal(out.data, "finished stream", 15);
    }
    flare_ws_deflate_free(s);
    flare_ws_deflate_free(NULL);
    flare_buf_free(&out);
}

/* RFC 7692 §7.2.2: a message's payload plus the tail must end on a deflate block
 * boundary. An empty payload (the tail alone is a cut-off stored block header) or
 * one that kept its own tail is corrupt: refused at once with FLARE_EPARSE, and
 * the next message still decodes, rather than the next one failing instead. */
static void test_message_must_end_on_a_block(void **state)
{
    (void)state;
    flare_ws_deflate *peer, *s;
    assert_int_equal(flare_ws_deflate_new(&peer, NULL, false, -1, NULL), 0);
    assert_int_equal(flare_ws_deflate_new(&s, NULL, true, -1, NULL), 0);
    flare_buf z = FLARE_BUF_INIT, out = FLARE_BUF_INIT;
    flare_error err;
    assert_int_equal(flare_ws_inflate(s, NULL, 0, true, &out, SIZE_MAX, &err), FLARE_EPARSE);
    assert_int_equal(flare_ws_inflate(s, "", 0, false, &out, SIZE_MAX, &err), 0);
    assert_int_equal(flare_ws_inflate(s, "", 0, true, &out, SIZE_MAX, &err), FLARE_EPARSE);
    assert_int_equal(out.len, 0);
    /* The state is fresh again: a whole message decodes. */
    assert_int_equal(flare_ws_deflate_message(peer, "after empty", 11, &z, NULL), 0);
    assert_int_equal(flare_ws_inflate(s, z.data, z.len, true, &out, SIZE_MAX, &err), 0);
    assert_int_equal(out.len, 11);
    assert_memory_equal(out.data, "after empty", 11);
    /* A sender that left 00 00 ff ff on: with ours added the block is cut off. */
    flare_ws_deflate_free(peer);
    flare_ws_deflate_free(s);
    assert_int_equal(flare_ws_deflate_new(&peer, NULL, false, -1, NULL), 0);
    assert_int_equal(flare_ws_deflate_new(&s, NULL, true, -1, NULL), 0);
    z.len = out.len = 0;
    assert_int_equal(flare_ws_deflate_message(peer, "kept tail", 9, &z, NULL), 0);
    assert_int_equal(flare_buf_append(&z, "\x00\x00\xff\xff", 4), 0);
    assert_int_equal(flare_ws_inflate(s, z.data, z.len, true, &out, SIZE_MAX, &err), FLARE_EPARSE);
    /* A message that ends one deflate stream (BFINAL) and starts another: the
     * tail still ends the second one, whose context the next message uses. */
    flare_ws_inflate_reset(s);
    unsigned char one[64], two[64];
    z_stream zs = {0};
    assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (Bytef *)"one";
    zs.avail_in = 3;
    zs.next_out = one;
    zs.avail_out = sizeof one;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    z.len = 0;
    assert_int_equal(flare_buf_append(&z, one, sizeof one - zs.avail_out), 0);
    assert_int_equal(deflateReset(&zs), Z_OK);
    for (int i = 0; i < 2; i++) {
        zs.next_in = (Bytef *)"two two two";
        zs.avail_in = 11;
        zs.next_out = two;
        zs.avail_out = sizeof two;
        assert_int_equal(deflate(&zs, Z_SYNC_FLUSH), Z_OK);
        size_t n = sizeof two - zs.avail_out - 4; /* without 00 00 ff ff */
        assert_int_equal(flare_buf_append(&z, two, n), 0);
        out.len = 0;
        assert_int_equal(flare_ws_inflate(s, z.data, z.len, true, &out, SIZE_MAX, &err), 0);
        assert_int_equal(out.len, i ? 11 : 14);
        assert_memory_equal(out.data, i ? "two two two" : "onetwo two two", out.len);
        z.len = 0;
    }
    deflateEnd(&zs);
    /* An empty message as a final stored block whose LEN/NLEN were taken for
     * the tail (a level-0 Z_FINISH stream, §7.2.3.4): the tail ends the stream. */
    out.len = 0;
    assert_int_equal(flare_ws_inflate(s, "\x01", 1, true, &out, SIZE_MAX, &err), 0);
    assert_int_equal(out.len, 0);
    /* The single 0x00 byte of an empty message (RFC 7692 §7.2.3.6) is fine. */
    out.len = 0;
    assert_int_equal(flare_ws_inflate(s, "\x00", 1, true, &out, SIZE_MAX, &err), 0);
    assert_int_equal(out.len, 0);
    flare_ws_deflate_free(peer);
    flare_ws_deflate_free(s);
    flare_buf_free(&z);
    flare_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_streaming_inflate),
        cmocka_unit_test(test_context_takeover),
        cmocka_unit_test(test_window_bits),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_corrupt_and_stream_end),
        cmocka_unit_test(test_message_must_end_on_a_block),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
