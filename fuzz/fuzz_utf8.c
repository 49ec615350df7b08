/*
 * fuzz_utf8.c: the incremental UTF-8 validator (flare_ws_utf8_*) against a
 * reference written here from the table of RFC 3629 §4. The input is validated
 * whole and fed in random pieces; feed must turn false exactly when the first
 * byte that no valid text can contain has been fed (fail-fast, RFC 6455 §8.1),
 * and complete must hold exactly for valid text that ends on a code point.
 */
#include <string.h>

#include "flare/ws.h"
#include "fuzz.h"

/* Index of the first byte that cannot continue any valid text, or len when
 * none; *ends_whole tells whether the text ends on a code point boundary. */
static size_t ref_fail_at(const uint8_t *s, size_t len, bool *ends_whole)
{
    size_t i = 0;
    *ends_whole = true;
    while (i < len) {
        uint8_t c = s[i];
        size_t need;
        uint8_t lo = 0x80, hi = 0xbf;
        if (c <= 0x7f) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
        } else if (c == 0xe0) {
            need = 2, lo = 0xa0;
        } else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) {
            need = 2;
        } else if (c == 0xed) {
            need = 2, hi = 0x9f; /* no surrogates */
        } else if (c == 0xf0) {
            need = 3, lo = 0x90;
        } else if (c >= 0xf1 && c <= 0xf3) {
            need = 3;
        } else if (c == 0xf4) {
            need = 3, hi = 0x8f; /* nothing above U+10FFFF */
        } else {
            return i; /* 80..C1 (stray or overlong lead), F5..FF */
        }
        for (size_t k = 1; k <= need; k++) {
            if (i + k == len) {
                *ends_whole = false;
                return len;
            }
            uint8_t b = s[i + k];
            if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xbf)) return i + k;
        }
        i += need + 1;
    }
    return len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bool ends_whole;
    size_t fail_at = ref_fail_at(data, size, &ends_whole);
    bool valid = fail_at == size && ends_whole;
    FUZZ_CHECK(flare_ws_utf8_valid(data, size) == valid);

    fuzz_rng rng = fuzz_rng_seed(data, size);
    flare_ws_utf8 v;
    memset(&v, 0, sizeof v); /* zeroing is documented as a start, like reset */
    size_t fed = 0;
    while (fed < size) {
        size_t n = fuzz_rng_range(&rng, 1, size - fed);
        bool ok = flare_ws_utf8_feed(&v, data + fed, n);
        fed += n;
        FUZZ_CHECK(ok == (fail_at >= fed));
    }
    FUZZ_CHECK(flare_ws_utf8_complete(&v) == valid);
    flare_ws_utf8_reset(&v);
    FUZZ_CHECK(flare_ws_utf8_complete(&v));
    FUZZ_CHECK(flare_ws_utf8_feed(&v, data, 0));
    return 0;
}
