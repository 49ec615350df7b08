/*
 * 10_encoding.c: gzip and deflate with zlib: one-shot compress and decompress,
 * the streaming decompressor fed in pieces, and the output limit that stops a
 * decompression bomb after the limit instead of after the bomb.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flare/encoding.h"

int main(void)
{
    const char *text = "flare flare flare flare flare flare flare flare flare flare flare!\n";
    size_t len = strlen(text);
    flare_error err;
    int ok = 1;
    const flare_encoding encs[] = {FLARE_ENC_GZIP, FLARE_ENC_ZLIB, FLARE_ENC_DEFLATE};
    for (int i = 0; i < 3; i++) {
        flare_buf z = FLARE_BUF_INIT, back = FLARE_BUF_INIT;
        if (flare_encoding_compress(encs[i], 9, text, len, &z, &err) < 0 ||
            flare_encoding_decompress(encs[i], z.data, z.len, &back, 0, &err) < 0)
            goto fail;
        printf("%-11s %zu bytes -> %zu -> %zu, same: %s\n", flare_encoding_name(encs[i]), len,
               z.len, back.len, back.len == len && !memcmp(back.data, text, len) ? "yes" : "no");
        ok &= back.len == len && !memcmp(back.data, text, len);
        flare_buf_free(&z);
        flare_buf_free(&back);
    }

    /* Streaming: the compressed bytes arrive 5 at a time, as from a socket. */
    flare_buf z = FLARE_BUF_INIT, out = FLARE_BUF_INIT;
    flare_inflater *d;
    if (flare_encoding_compress(FLARE_ENC_GZIP, -1, text, len, &z, &err) < 0 ||
        flare_inflater_new(&d, FLARE_ENC_GZIP, 0, &err) < 0)
        goto fail;
    for (size_t off = 0; off < z.len; off += 5)
        if (flare_inflater_update(d, z.data + off, z.len - off < 5 ? z.len - off : 5, &out, &err) <
            0)
            goto fail;
    if (flare_inflater_finish(d, &err) < 0) goto fail;
    printf("streamed:   %zu bytes in pieces of 5 -> %zu bytes\n", z.len, out.len);
    ok &= out.len == len;
    flare_inflater_free(d);
    flare_buf_free(&out);
    flare_buf_free(&z);

    /* A bomb: 32 MiB of zeros squeezed into a few KiB, opened with a 1 MiB limit. */
    size_t big = 32u << 20;
    char *zeros = calloc(1, big);
    if (!zeros || flare_encoding_compress(FLARE_ENC_GZIP, 9, zeros, big, &z, &err) < 0) goto fail;
    free(zeros);
    int rc = flare_encoding_decompress(FLARE_ENC_GZIP, z.data, z.len, &out, 1u << 20, &err);
    printf("bomb:       %zu bytes -> %s (%s), %zu bytes kept\n", z.len, flare_error_name(rc),
           err.message, out.len);
    ok &= rc == FLARE_ELIMIT && out.len <= (1u << 20);
    flare_buf_free(&z);
    flare_buf_free(&out);
    return ok ? 0 : 1;
fail:
    fprintf(stderr, "error: %s (%s)\n", err.message, flare_error_name(err.code));
    return 1;
}
