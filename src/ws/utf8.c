/*
 * utf8.c: incremental UTF-8 validation (RFC 3629 §4) for text messages and close
 * reasons. The state is the number of continuation bytes still due and the range
 * the next one must fall in, so a code point may straddle fragments or reads.
 * The narrowed second-byte ranges exclude overlong forms (E0, F0), surrogates
 * (ED) and code points above U+10FFFF (F4). Runs of ASCII are skipped 16 bytes
 * at a time.
 */
#include "flare/ws.h"

#include <string.h>

void flare_ws_utf8_reset(flare_ws_utf8 *v)
{
    memset(v, 0, sizeof *v);
}

/* Length of the ASCII run at p[0..len), a multiple of 16 or all of it. */
static size_t ascii_prefix(const uint8_t *p, size_t len)
{
    size_t i = 0;
    for (; i + 16 <= len; i += 16) {
        uint64_t a, b;
        memcpy(&a, p + i, 8);
        memcpy(&b, p + i + 8, 8);
        if ((a | b) & 0x8080808080808080u) return i;
    }
    return i;
}

bool flare_ws_utf8_feed(flare_ws_utf8 *v, const void *data, size_t len)
{
    if (v->invalid) return false;
    const uint8_t *p = data;
    size_t i = 0;
    uint8_t need = v->need, lo = v->lo, hi = v->hi;
    while (i < len) {
        uint8_t c = p[i];
        if (need) {
            if (c < lo || c > hi) goto bad;
            need--;
            lo = 0x80;
            hi = 0xbf;
            i++;
            continue;
        }
        if (c < 0x80) {
            i++;
            i += ascii_prefix(p + i, len - i);
            continue;
        }
        lo = 0x80;
        hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            if (c == 0xe0) lo = 0xa0; /* overlong below U+0800 */
            if (c == 0xed) hi = 0x9f; /* U+D800..U+DFFF are surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            if (c == 0xf0) lo = 0x90; /* overlong below U+10000 */
            if (c == 0xf4) hi = 0x8f; /* above U+10FFFF */
        } else {
            goto bad; /* continuation byte without a lead, C0/C1 (overlong), F5..FF */
        }
        i++;
    }
    v->need = need;
    v->lo = lo;
    v->hi = hi;
    return true;
bad:
    v->invalid = true;
    return false;
}

bool flare_ws_utf8_complete(const flare_ws_utf8 *v)
{
    return !v->invalid && v->need == 0;
}

bool flare_ws_utf8_valid(const void *p, size_t len)
{
    flare_ws_utf8 v = {0};
    return flare_ws_utf8_feed(&v, p, len) && flare_ws_utf8_complete(&v);
}
