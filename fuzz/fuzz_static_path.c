/*
 * fuzz_static_path.c: static-file path normalisation (flared_static_normalise)
 * and URL encoding of names. Byte 0 picks hidden_files and the output capacity.
 * Checks the invariant static_path.c states: a path that passes never starts
 * with '/', holds no "." or ".." or empty segment, no NUL, no backslash, no
 * control byte, is valid UTF-8, and (without hidden_files) no segment starts
 * with '.'. Also: URL-encoding the result and normalising again is the identity.
 */
#include <string.h>

#include "flare/ws.h"
#include "fuzz.h"
#include "static_internal.h"

static void check_path(const char *p, size_t len, bool hidden)
{
    FUZZ_CHECK(strlen(p) == len);
    FUZZ_CHECK(flare_ws_utf8_valid(p, len));
    if (len == 0) return;
    FUZZ_CHECK(p[0] != '/' && p[len - 1] != '/');
    FUZZ_CHECK(!strstr(p, "//"));
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        FUZZ_CHECK(c >= 0x20 && c != 0x7f && c != '\\');
    }
    for (const char *seg = p; seg;) {
        const char *slash = strchr(seg, '/');
        size_t n = slash ? (size_t)(slash - seg) : strlen(seg);
        FUZZ_CHECK(n > 0);
        FUZZ_CHECK(!(n == 1 && seg[0] == '.'));
        FUZZ_CHECK(!(n == 2 && seg[0] == '.' && seg[1] == '.'));
        if (!hidden) FUZZ_CHECK(seg[0] != '.');
        FUZZ_CHECK(flared_static_name_ok(seg, n));
        seg = slash ? slash + 1 : NULL;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char out[FLARED_STATIC_PATH_MAX], again[FLARED_STATIC_PATH_MAX];
    static char enc[3 * FLARED_STATIC_PATH_MAX + 2];
    if (size < 1) return 0;
    bool hidden = data[0] & 1;
    size_t cap = (data[0] & 2) ? 1 + (size_t)(data[0] >> 2) : sizeof out;
    const char *path = (const char *)data + 1;
    size_t len = size - 1, out_len = 0;
    bool slash = false;
    memset(out, 0x5a, sizeof out);
    int rc = flared_static_normalise(path, len, hidden, out, cap, &out_len, &slash);
    FUZZ_CHECK(rc == 0 || rc == 400 || rc == 404 || rc == 414);
    if (rc != 0) return 0;
    FUZZ_CHECK(out_len < cap);
    check_path(out, out_len, hidden);

    /* "/" + encode(result) names the same file. */
    enc[0] = '/';
    size_t n = flared_static_url_encode(out, out_len, enc + 1, sizeof enc - 1);
    FUZZ_CHECK(n != SIZE_MAX);
    size_t again_len = 0;
    bool again_slash = false;
    rc = flared_static_normalise(enc, n + 1, hidden, again, sizeof again, &again_len, &again_slash);
    if (n + 1 < FLARED_STATIC_PATH_MAX) {
        FUZZ_CHECK(rc == 0);
        FUZZ_CHECK(again_len == out_len && memcmp(again, out, out_len) == 0);
    }
    return 0;
}
