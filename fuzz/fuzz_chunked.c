/*
 * fuzz_chunked.c: the chunked decoder (flare_http_decode_chunked). The input is
 * decoded in one call and again in random pieces (bytes 0-1 seed the chunking);
 * both must give the same verdict, payload and bytes after the body, the payload
 * is never longer than the input, and once it has failed every later call fails.
 */
#include <string.h>

#include "flare/http_parser.h"
#include "fuzz.h"

typedef struct result {
    ssize_t rc;    /* last return: >= 0 (done), EINCOMPLETE or EPARSE */
    char *payload; /* decoded bytes */
    size_t payload_len;
    char *rest; /* bytes after the body (done only) */
    size_t rest_len;
} result;

static void decode(const uint8_t *data, size_t size, fuzz_rng *rng, bool pieces, result *out,
                   char *work)
{
    flare_http_chunked dec;
    memset(&dec, 0, sizeof dec);
    out->rc = FLARE_EINCOMPLETE;
    out->payload_len = out->rest_len = 0;
    size_t pos = 0;
    while (pos < size) {
        size_t take =
            pieces ? fuzz_rng_range(rng, 1, size - pos < 64 ? size - pos : 64) : size - pos;
        memcpy(work, data + pos, take);
        size_t len = take;
        ssize_t rc = flare_http_decode_chunked(&dec, work, &len);
        FUZZ_CHECK(len <= take);
        pos += take;
        memcpy(out->payload + out->payload_len, work, len);
        out->payload_len += len;
        out->rc = rc;
        if (rc == FLARE_EPARSE) {
            /* Sticky: nothing more is accepted. */
            char more[2] = {'0', '\r'};
            size_t more_len = sizeof more;
            FUZZ_CHECK(flare_http_decode_chunked(&dec, more, &more_len) == FLARE_EPARSE);
            return;
        }
        if (rc >= 0) {
            FUZZ_CHECK((size_t)rc <= take - len);
            memcpy(out->rest, work + len, (size_t)rc);
            out->rest_len = (size_t)rc;
            memcpy(out->rest + out->rest_len, data + pos, size - pos);
            out->rest_len += size - pos;
            return;
        }
        FUZZ_CHECK(rc == FLARE_EINCOMPLETE);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    fuzz_rng rng = fuzz_rng_seed(data, 2);
    data += 2;
    size -= 2;
    char *mem = malloc(5 * size + 5);
    if (!mem) return 0;
    result one = {0, mem, 0, mem + size + 1, 0};
    result many = {0, mem + 2 * size + 2, 0, mem + 3 * size + 3, 0};
    char *work = mem + 4 * size + 4;

    decode(data, size, &rng, false, &one, work);
    decode(data, size, &rng, true, &many, work);
    FUZZ_CHECK(one.rc == many.rc || (one.rc >= 0 && many.rc >= 0));
    FUZZ_CHECK(one.payload_len <= size);
    /* A byte-at-a-time machine fails at the same byte however it is fed. */
    FUZZ_CHECK(one.payload_len == many.payload_len);
    FUZZ_CHECK(memcmp(one.payload, many.payload, one.payload_len) == 0);
    if (one.rc >= 0) {
        FUZZ_CHECK(one.rest_len == many.rest_len);
        FUZZ_CHECK(memcmp(one.rest, many.rest, one.rest_len) == 0);
        FUZZ_CHECK(one.payload_len + one.rest_len <= size);
    }
    free(mem);
    return 0;
}
