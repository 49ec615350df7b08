/*
 * fuzz_ws_frame.c: the WebSocket frame codec (RFC 6455 §5.2): decoding a header,
 * re-encoding it (minimal lengths are enforced, so the bytes must come back the
 * same), whole-frame encoding, masking on every SIMD path against a plain XOR,
 * in pieces with the phase carried over, and close payloads (§5.5.1).
 */
#include <string.h>

#include "flare/ws.h"
#include "fuzz.h"

static void check_masking(const uint8_t *data, size_t size, fuzz_rng *rng)
{
    if (size < 4) return;
    uint8_t key[4];
    memcpy(key, data, 4);
    unsigned phase0 = (unsigned)fuzz_rng_range(rng, 0, 3);
    uint8_t *ref = malloc(size), *got = malloc(size);
    if (!ref || !got) goto out;
    for (size_t i = 0; i < size; i++)
        ref[i] = data[i] ^ key[(phase0 + i) & 3];
    flare_ws_simd active = flare_ws_simd_active();
    for (int p = FLARE_WS_SIMD_SCALAR; p <= FLARE_WS_SIMD_AVX512; p++) {
        if (flare_ws_simd_force((flare_ws_simd)p) < 0) continue;
        /* In place, in pieces. */
        memcpy(got, data, size);
        unsigned phase = phase0;
        for (size_t pos = 0; pos < size;) {
            size_t n = fuzz_rng_range(rng, 1, size - pos);
            phase = flare_ws_mask(got + pos, n, key, phase);
            pos += n;
        }
        FUZZ_CHECK(phase == ((phase0 + size) & 3));
        FUZZ_CHECK(memcmp(got, ref, size) == 0);
        /* Copying, from an odd offset. */
        memset(got, 0, size);
        (void)flare_ws_mask_copy(got + 1, data + 1, size - 1, key, (phase0 + 1) & 3);
        FUZZ_CHECK(memcmp(got + 1, ref + 1, size - 1) == 0);
    }
    flare_ws_simd_force(active);
out:
    free(ref);
    free(got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_rng rng = fuzz_rng_seed(data, size);
    flare_ws_frame_header h;
    ssize_t n = flare_ws_frame_decode(data, size, &h);
    if (n > 0) {
        FUZZ_CHECK(n >= 2 && n <= FLARE_WS_MAX_HEADER && (size_t)n <= size);
        FUZZ_CHECK(h.header_len == n);
        FUZZ_CHECK(!(h.payload_len >> 63));
        if (h.opcode & 8) FUZZ_CHECK(h.fin && h.payload_len <= FLARE_WS_MAX_CONTROL);
        uint8_t out[FLARE_WS_MAX_HEADER];
        size_t m = flare_ws_frame_header_encode(out, h.opcode, h.fin, h.rsv, h.payload_len,
                                                h.masked ? h.mask : NULL);
        FUZZ_CHECK(m == (size_t)n && memcmp(out, data, m) == 0);

        /* The rest as a payload, through the whole-frame encoder and back. */
        size_t plen = size - (size_t)n;
        if (h.opcode & 8 && plen > FLARE_WS_MAX_CONTROL) plen = FLARE_WS_MAX_CONTROL;
        flare_buf frame = FLARE_BUF_INIT;
        if (flare_ws_frame_encode(&frame, h.opcode, h.fin, h.rsv, data + n, plen,
                                  h.masked ? h.mask : NULL) == 0) {
            flare_ws_frame_header g;
            ssize_t k = flare_ws_frame_decode(frame.data, frame.len, &g);
            FUZZ_CHECK(k > 0 && g.payload_len == plen && (size_t)k + plen == frame.len);
            FUZZ_CHECK(g.opcode == h.opcode && g.fin == h.fin && g.rsv == h.rsv);
            if (g.masked) flare_ws_mask(frame.data + k, plen, g.mask, 0);
            FUZZ_CHECK(plen == 0 || memcmp(frame.data + k, data + n, plen) == 0);
        }
        flare_buf_free(&frame);

        if (h.opcode == FLARE_WS_OP_CLOSE && h.payload_len <= size - (size_t)n) {
            uint8_t payload[FLARE_WS_MAX_CONTROL];
            memcpy(payload, data + n, (size_t)h.payload_len);
            if (h.masked) flare_ws_mask(payload, (size_t)h.payload_len, h.mask, 0);
            uint16_t code;
            const char *reason;
            size_t reason_len;
            if (flare_ws_close_parse(payload, (size_t)h.payload_len, &code, &reason, &reason_len) ==
                0) {
                FUZZ_CHECK(code == FLARE_WS_CLOSE_NO_STATUS || flare_ws_close_code_valid(code));
                FUZZ_CHECK(flare_ws_utf8_valid(reason, reason_len));
                uint8_t again[FLARE_WS_MAX_CONTROL];
                if (code != FLARE_WS_CLOSE_NO_STATUS) {
                    size_t len = flare_ws_close_payload(again, code, reason, reason_len);
                    FUZZ_CHECK(len == (size_t)h.payload_len && memcmp(again, payload, len) == 0);
                }
            }
        }
    } else {
        FUZZ_CHECK(n == FLARE_EINCOMPLETE || n == FLARE_EPROTO);
        if (n == FLARE_EINCOMPLETE) FUZZ_CHECK(size < FLARE_WS_MAX_HEADER);
    }

    /* Close payloads built from arbitrary reasons stay within §5.5 and valid. */
    if (size >= 2) {
        unsigned code = (unsigned)data[0] << 8 | data[1];
        uint8_t out[FLARE_WS_MAX_CONTROL];
        if (flare_ws_close_code_valid(code) && flare_ws_utf8_valid(data + 2, size - 2)) {
            size_t len = flare_ws_close_payload(out, code, (const char *)data + 2, size - 2);
            FUZZ_CHECK(len >= 2 && len <= FLARE_WS_MAX_CONTROL);
            uint16_t c;
            const char *r;
            size_t rl;
            FUZZ_CHECK(flare_ws_close_parse(out, len, &c, &r, &rl) == 0 && c == code);
        }
    }
    check_masking(data, size, &rng);
    return 0;
}
