/*
 * fuzz_inflate.c: decompression with limits: content codings (gzip, zlib/deflate,
 * raw deflate; flare_encoding_decompress and the streaming flare_inflater) and
 * permessage-deflate (flare_ws_inflate). Byte 0 picks the coding and a small
 * output limit. Checks: output never passes the limit (bombs cost bounded
 * memory), one-shot and streaming in random pieces agree, and compressing the
 * input then decompressing it gives it back, for every coding.
 */
#include <string.h>

#include "flare/encoding.h"
#include "flare/ws.h"
#include "fuzz.h"

static void content_coding(flare_encoding enc, size_t limit, const uint8_t *in, size_t len,
                           fuzz_rng *rng)
{
    flare_buf one = FLARE_BUF_INIT, many = FLARE_BUF_INIT;
    int rc1 = flare_encoding_decompress(enc, in, len, &one, limit, NULL);
    FUZZ_CHECK(rc1 == 0 || rc1 == FLARE_ELIMIT || rc1 == FLARE_EPARSE);
    FUZZ_CHECK(one.len <= limit);

    flare_inflater *d;
    if (flare_inflater_new(&d, enc, limit, NULL) == 0) {
        int rc2 = 0;
        for (size_t pos = 0; pos < len && rc2 == 0;) {
            size_t n = fuzz_rng_range(rng, 1, len - pos);
            rc2 = flare_inflater_update(d, in + pos, n, &many, NULL);
            pos += n;
            FUZZ_CHECK(many.len <= limit);
            FUZZ_CHECK(flare_inflater_total_out(d) == many.len);
        }
        if (rc2 == 0) rc2 = flare_inflater_finish(d, NULL);
        if (len == 0) FUZZ_CHECK(rc2 == FLARE_EPARSE); /* an empty stream is truncated */
        FUZZ_CHECK(rc1 == rc2);
        if (rc1 == 0) {
            FUZZ_CHECK(flare_inflater_done(d));
            FUZZ_CHECK(one.len == many.len && memcmp(one.data, many.data, one.len) == 0);
        }
        flare_inflater_free(d);
    }
    flare_buf_free(&one);
    flare_buf_free(&many);
}

static void ws_inflate(uint8_t bits, size_t limit, const uint8_t *in, size_t len, fuzz_rng *rng)
{
    flare_ws_deflate_params params = {
        .client_no_context_takeover = bits & 1,
        .client_max_window_bits = (uint8_t)(8 + (bits >> 1) % 8),
    };
    flare_ws_deflate *d;
    if (flare_ws_deflate_new(&d, &params, true, -1, NULL) < 0) return;
    flare_buf out = FLARE_BUF_INIT;
    /* Up to three messages, each in pieces, the last piece with fin. */
    size_t pos = 0;
    for (int msg = 0; msg < 3 && pos < len; msg++) {
        size_t end = msg == 2 ? len : fuzz_rng_range(rng, pos, len);
        out.len = 0;
        int rc = 0;
        do {
            size_t n = end > pos ? fuzz_rng_range(rng, 1, end - pos) : 0;
            bool fin = pos + n == end;
            rc = flare_ws_inflate(d, in + pos, n, fin, &out, limit, NULL);
            pos += n;
            FUZZ_CHECK(out.len <= limit + 1);
            if (fin) break;
        } while (rc == 0);
        FUZZ_CHECK(rc == 0 || rc == FLARE_ELIMIT || rc == FLARE_EPARSE);
        if (rc < 0) flare_ws_inflate_reset(d);
    }
    flare_buf_free(&out);
    flare_ws_deflate_free(d);
}

static void round_trips(uint8_t bits, const uint8_t *in, size_t len)
{
    static const flare_encoding encs[] = {FLARE_ENC_GZIP, FLARE_ENC_ZLIB, FLARE_ENC_DEFLATE,
                                          FLARE_ENC_IDENTITY};
    for (size_t i = 0; i < sizeof encs / sizeof encs[0]; i++) {
        flare_buf z = FLARE_BUF_INIT, back = FLARE_BUF_INIT;
        FUZZ_CHECK(flare_encoding_compress(encs[i], bits % 10, in, len, &z, NULL) == 0);
        FUZZ_CHECK(flare_encoding_decompress(encs[i], z.data, z.len, &back, len + 1, NULL) == 0);
        FUZZ_CHECK(back.len == len && (len == 0 || memcmp(back.data, in, len) == 0));
        flare_buf_free(&z);
        flare_buf_free(&back);
    }
    /* permessage-deflate, two messages so context takeover is exercised. */
    flare_ws_deflate_params params = {
        .server_no_context_takeover = bits & 1,
        .client_no_context_takeover = bits & 2,
        .server_max_window_bits = (uint8_t)(9 + (bits >> 2) % 7),
        .client_max_window_bits = (uint8_t)(9 + (bits >> 5) % 7),
    };
    flare_ws_deflate *srv, *cli;
    if (flare_ws_deflate_new(&srv, &params, true, bits % 10, NULL) < 0) return;
    if (flare_ws_deflate_new(&cli, &params, false, -1, NULL) < 0) {
        flare_ws_deflate_free(srv);
        return;
    }
    for (int m = 0; m < 2; m++) {
        flare_buf z = FLARE_BUF_INIT, back = FLARE_BUF_INIT;
        FUZZ_CHECK(flare_ws_deflate_message(srv, in, len, &z, NULL) == 0);
        FUZZ_CHECK(flare_ws_inflate(cli, z.data, z.len, true, &back, len, NULL) == 0);
        FUZZ_CHECK(back.len == len && (len == 0 || memcmp(back.data, in, len) == 0));
        flare_buf_free(&z);
        flare_buf_free(&back);
    }
    flare_ws_deflate_free(srv);
    flare_ws_deflate_free(cli);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    uint8_t sel = data[0], bits = data[1];
    size_t limit = (size_t)1 << (4 + (sel >> 4)); /* 16 B .. 512 KiB */
    fuzz_rng rng = fuzz_rng_seed(data, size);
    const uint8_t *in = data + 2;
    size_t len = size - 2;
    switch (sel & 3) {
    case 0:
        content_coding(FLARE_ENC_GZIP, limit, in, len, &rng);
        break;
    case 1:
        content_coding(FLARE_ENC_ZLIB, limit, in, len, &rng);
        break;
    case 2:
        content_coding(FLARE_ENC_DEFLATE, limit, in, len, &rng);
        break;
    default:
        ws_inflate(bits, limit, in, len, &rng);
        break;
    }
    if (sel & 4) round_trips(bits, in, len);
    return 0;
}
