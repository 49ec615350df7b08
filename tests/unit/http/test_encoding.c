/*
 * test_encoding.c: gzip, zlib and raw deflate round trips (one-shot and in
 * pieces of every size), output limits against bombs, corrupt, truncated and
 * trailing data, multi-member gzip, "deflate" sent as raw deflate, and names.
 * The expected bytes come from zlib's own one-shot functions, not from ours.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "flare/encoding.h"

static char *sample(size_t len)
{
    char *p = malloc(len);
    uint32_t x = 12345;
    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        /* compressible, but not trivially */
        p[i] = (char)("abcdefgh hello world\n"[(x >> 16) % 21]);
    }
    return p;
}

static void test_round_trips(void **state)
{
    (void)state;
    const flare_encoding encs[] = {FLARE_ENC_GZIP, FLARE_ENC_ZLIB, FLARE_ENC_DEFLATE,
                                   FLARE_ENC_IDENTITY};
    const size_t sizes[] = {0, 1, 100, 70000, 1 << 20};
    for (size_t e = 0; e < 4; e++)
        for (size_t s = 0; s < 5; s++) {
            char *in = sample(sizes[s]);
            flare_buf z = FLARE_BUF_INIT, out = FLARE_BUF_INIT;
            assert_int_equal(flare_encoding_compress(encs[e], 6, in, sizes[s], &z, NULL), 0);
            if (encs[e] != FLARE_ENC_IDENTITY && sizes[s] > 1000) assert_true(z.len < sizes[s]);
            assert_int_equal(flare_encoding_decompress(encs[e], z.data, z.len, &out, 0, NULL), 0);
            assert_int_equal(out.len, sizes[s]);
            if (sizes[s]) assert_memory_equal(out.data, in, sizes[s]);
            flare_buf_free(&z);
            flare_buf_free(&out);
            free(in);
        }
}

/* gzip as zlib's own gzip writer produces it (deflateInit2 with 31 window bits). */
static void zlib_gzip(const void *in, size_t len, flare_buf *out)
{
    z_stream zs = {0};
    assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t bound = deflateBound(&zs, len) + 32;
    assert_int_equal(flare_buf_reserve(out, bound), 0);
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = (Bytef *)out->data + out->len;
    zs.avail_out = (uInt)bound;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    out->len += bound - zs.avail_out;
    deflateEnd(&zs);
}

static void test_streaming_any_split(void **state)
{
    (void)state;
    char *in = sample(50000);
    flare_buf z = FLARE_BUF_INIT;
    zlib_gzip(in, 50000, &z);
    /* every piece size from 1 byte up, in a few steps */
    const size_t pieces[] = {1, 2, 3, 7, 100, 4096, 65536};
    for (size_t p = 0; p < sizeof pieces / sizeof pieces[0]; p++) {
        flare_inflater *d;
        assert_int_equal(flare_inflater_new(&d, FLARE_ENC_GZIP, 0, NULL), 0);
        flare_buf out = FLARE_BUF_INIT;
        for (size_t off = 0; off < z.len; off += pieces[p]) {
            size_t n = z.len - off < pieces[p] ? z.len - off : pieces[p];
            assert_int_equal(flare_inflater_update(d, z.data + off, n, &out, NULL), 0);
        }
        assert_true(flare_inflater_done(d));
        assert_int_equal(flare_inflater_finish(d, NULL), 0);
        assert_int_equal(flare_inflater_total_out(d), 50000);
        assert_int_equal(out.len, 50000);
        assert_memory_equal(out.data, in, 50000);
        flare_inflater_free(d);
        flare_buf_free(&out);
    }
    /* the deflater in pieces, read back by zlib's uncompress */
    flare_deflater *c;
    assert_int_equal(flare_deflater_new(&c, FLARE_ENC_ZLIB, -1, 0, NULL), 0);
    flare_buf zz = FLARE_BUF_INIT;
    for (size_t off = 0; off < 50000; off += 333) {
        size_t n = 50000 - off < 333 ? 50000 - off : 333;
        assert_int_equal(flare_deflater_update(c, in + off, n, false, &zz, NULL), 0);
    }
    assert_int_equal(flare_deflater_update(c, NULL, 0, true, &zz, NULL), 0);
    assert_int_equal(flare_deflater_update(c, "x", 1, true, &zz, NULL), FLARE_EINVAL);
    flare_deflater_free(c);
    char *back = malloc(50000);
    uLongf back_len = 50000;
    assert_int_equal(uncompress((Bytef *)back, &back_len, (Bytef *)zz.data, zz.len), Z_OK);
    assert_int_equal(back_len, 50000);
    assert_memory_equal(back, in, 50000);
    free(back);
    flare_buf_free(&zz);
    flare_buf_free(&z);
    free(in);
}

static void test_bomb_limit(void **state)
{
    (void)state;
    /* 64 MiB of zeros compress to about 64 KiB */
    size_t big = 64u << 20;
    char *zeros = calloc(1, big);
    flare_buf z = FLARE_BUF_INIT;
    zlib_gzip(zeros, big, &z);
    free(zeros);
    assert_true(z.len < 200000);
    flare_buf out = FLARE_BUF_INIT;
    flare_error err;
    assert_int_equal(flare_encoding_decompress(FLARE_ENC_GZIP, z.data, z.len, &out, 1 << 20, &err),
                     FLARE_ELIMIT);
    assert_non_null(strstr(err.message, "limit"));
    /* never more than the limit was kept, nor much more allocated (the buffer doubles) */
    assert_true(out.len <= 1 << 20);
    assert_true(out.cap <= (2 << 20) + (256 << 10));
    flare_buf_free(&out);

    /* streaming: the failure is sticky */
    flare_inflater *d;
    assert_int_equal(flare_inflater_new(&d, FLARE_ENC_GZIP, 1000, NULL), 0);
    assert_int_equal(flare_inflater_update(d, z.data, z.len, &out, NULL), FLARE_ELIMIT);
    assert_int_equal(out.len, 1000);
    assert_int_equal(flare_inflater_update(d, z.data, 1, &out, NULL), FLARE_EPARSE);
    flare_inflater_free(d);
    flare_buf_free(&out);

    /* exactly at the limit is fine */
    char *in = sample(5000);
    flare_buf z2 = FLARE_BUF_INIT;
    zlib_gzip(in, 5000, &z2);
    assert_int_equal(flare_encoding_decompress(FLARE_ENC_GZIP, z2.data, z2.len, &out, 5000, NULL),
                     0);
    assert_int_equal(out.len, 5000);
    out.len = 0;
    assert_int_equal(flare_encoding_decompress(FLARE_ENC_GZIP, z2.data, z2.len, &out, 4999, NULL),
                     FLARE_ELIMIT);
    /* identity has the limit too */
    out.len = 0;
    assert_int_equal(flare_encoding_decompress(FLARE_ENC_IDENTITY, in, 5000, &out, 10, NULL),
                     FLARE_ELIMIT);
    flare_buf_free(&out);
    flare_buf_free(&z2);
    flare_buf_free(&z);
    free(in);

    /* the deflater's own output limit */
    flare_deflater *c;
    char *noise = malloc(100000);
    for (size_t i = 0; i < 100000; i++)
        noise[i] = (char)(i * 2654435761u >> 13);
    assert_int_equal(flare_deflater_new(&c, FLARE_ENC_GZIP, 1, 1000, NULL), 0);
    assert_int_equal(flare_deflater_update(c, noise, 100000, true, &out, NULL), FLARE_ELIMIT);
    flare_deflater_free(c);
    flare_buf_free(&out);
    free(noise);
}

static void test_corrupt_truncated_trailing(void **state)
{
    (void)state;
    char *in = sample(3000);
    flare_buf z = FLARE_BUF_INIT, out = FLARE_BUF_INIT;
    zlib_gzip(in, 3000, &z);
    flare_error err;
    /* truncated */
    assert_int_equal(flare_encoding_decompress(FLARE_ENC_GZIP, z.data, z.len - 5, &out, 0, &err),
                     FLARE_EPARSE);
    assert_non_null(strstr(err.message, "truncated"));
    /* a flipped byte in the CRC */
    out.len = 0;
    z.data[z.len - 6] ^= 0x55;
    assert_int_equal(flare_encoding_decompress(FLARE_ENC_GZIP, z.data, z.len, &out, 0, NULL),
                     FLARE_EPARSE);
    z.data[z.len - 6] ^= 0x55;
    /* not gzip at all */
    out.len = 0;
    assert_int_equal(flare_encoding_decompress(FLARE_ENC_GZIP, "hello world", 11, &out, 0, NULL),
                     FLARE_EPARSE);
    /* two members decode as one stream (RFC 1952 §2.2) */
    flare_buf two = FLARE_BUF_INIT;
    assert_int_equal(flare_buf_append(&two, z.data, z.len), 0);
    assert_int_equal(flare_buf_append(&two, z.data, z.len), 0);
    out.len = 0;
    assert_int_equal(flare_encoding_decompress(FLARE_ENC_GZIP, two.data, two.len, &out, 0, NULL),
                     0);
    assert_int_equal(out.len, 6000);
    assert_memory_equal(out.data + 3000, in, 3000);
    /* junk after a member */
    assert_int_equal(flare_buf_append(&two, "junkjunk", 8), 0);
    out.len = 0;
    assert_int_equal(flare_encoding_decompress(FLARE_ENC_GZIP, two.data, two.len, &out, 0, NULL),
                     FLARE_EPARSE);
    /* junk after a zlib stream */
    flare_buf zl = FLARE_BUF_INIT;
    assert_int_equal(flare_encoding_compress(FLARE_ENC_ZLIB, -1, in, 3000, &zl, NULL), 0);
    assert_int_equal(flare_buf_append(&zl, "x", 1), 0);
    out.len = 0;
    assert_int_equal(flare_encoding_decompress(FLARE_ENC_ZLIB, zl.data, zl.len, &out, 0, &err),
                     FLARE_EPARSE);
    assert_non_null(strstr(err.message, "after the end"));
    /* finish without any input */
    flare_inflater *d;
    assert_int_equal(flare_inflater_new(&d, FLARE_ENC_ZLIB, 0, NULL), 0);
    assert_int_equal(flare_inflater_finish(d, NULL), FLARE_EPARSE);
    flare_inflater_free(d);
    flare_buf_free(&zl);
    flare_buf_free(&two);
    flare_buf_free(&z);
    flare_buf_free(&out);
    free(in);
}

/* HTTP "deflate" is zlib, but servers send raw deflate too; both decode. */
static void test_deflate_sniffing(void **state)
{
    (void)state;
    char *in = sample(2000);
    flare_buf raw = FLARE_BUF_INIT, zl = FLARE_BUF_INIT, out = FLARE_BUF_INIT;
    assert_int_equal(flare_encoding_compress(FLARE_ENC_DEFLATE, -1, in, 2000, &raw, NULL), 0);
    assert_int_equal(flare_encoding_compress(FLARE_ENC_ZLIB, -1, in, 2000, &zl, NULL), 0);
    const flare_buf *streams[] = {&raw, &zl};
    for (int s = 0; s < 2; s++) {
        /* first byte alone, to exercise the one-byte stash */
        flare_inflater *d;
        assert_int_equal(flare_inflater_new(&d, FLARE_ENC_ZLIB, 0, NULL), 0);
        out.len = 0;
        assert_int_equal(flare_inflater_update(d, streams[s]->data, 1, &out, NULL), 0);
        assert_int_equal(
            flare_inflater_update(d, streams[s]->data + 1, streams[s]->len - 1, &out, NULL), 0);
        assert_int_equal(flare_inflater_finish(d, NULL), 0);
        assert_int_equal(out.len, 2000);
        assert_memory_equal(out.data, in, 2000);
        flare_inflater_free(d);
    }
    /* raw deflate is not accepted as gzip */
    out.len = 0;
    assert_int_equal(flare_encoding_decompress(FLARE_ENC_GZIP, raw.data, raw.len, &out, 0, NULL),
                     FLARE_EPARSE);
    flare_buf_free(&raw);
    flare_buf_free(&zl);
    flare_buf_free(&out);
    free(in);
}

static void test_names_and_args(void **state)
{
    (void)state;
    assert_int_equal(flare_encoding_from_name("gzip", 4), FLARE_ENC_GZIP);
    assert_int_equal(flare_encoding_from_name("X-GZIP", 6), FLARE_ENC_GZIP);
    assert_int_equal(flare_encoding_from_name("Deflate", 7), FLARE_ENC_ZLIB);
    assert_int_equal(flare_encoding_from_name("identity", 8), FLARE_ENC_IDENTITY);
    assert_int_equal(flare_encoding_from_name("br", 2), FLARE_EUNSUPPORTED);
    assert_int_equal(flare_encoding_from_name("gzip, br", 8), FLARE_EUNSUPPORTED);
    assert_string_equal(flare_encoding_name(FLARE_ENC_ZLIB), "deflate");
    assert_string_equal(flare_encoding_name(FLARE_ENC_GZIP), "gzip");
    flare_buf out = FLARE_BUF_INIT;
    assert_int_equal(flare_encoding_compress(FLARE_ENC_GZIP, 10, "x", 1, &out, NULL), FLARE_EINVAL);
    assert_int_equal(flare_encoding_compress(FLARE_ENC_GZIP, -2, "x", 1, &out, NULL), FLARE_EINVAL);
    flare_deflater *c;
    assert_int_equal(flare_deflater_new(&c, FLARE_ENC_IDENTITY, 1, 0, NULL), FLARE_EINVAL);
    flare_inflater *d;
    assert_int_equal(flare_inflater_new(&d, (flare_encoding)9, 0, NULL), FLARE_EINVAL);
    flare_inflater_free(NULL);
    flare_deflater_free(NULL);
    flare_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trips),      cmocka_unit_test(test_streaming_any_split),
        cmocka_unit_test(test_bomb_limit),       cmocka_unit_test(test_corrupt_truncated_trailing),
        cmocka_unit_test(test_deflate_sniffing), cmocka_unit_test(test_names_and_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
