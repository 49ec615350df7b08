/*
 * frame.c: the stateless frame codec (RFC 6455 §5.2) and close payloads (§5.5.1,
 * §7.4). Decoding looks at one header at a time and keeps nothing between calls,
 * so a short buffer is simply retried with more bytes; it enforces the rules that
 * need no connection state. Encoding writes into caller buffers; nothing here
 * allocates except through the caller's flare_buf.
 */
#include "ws_internal.h"

#include <string.h>

static bool opcode_reserved(unsigned op)
{
    return (op >= 3 && op <= 7) || op >= 11;
}

ssize_t flare_ws_frame_decode(const void *buf, size_t len, flare_ws_frame_header *h)
{
    const uint8_t *p = buf;
    if (len < 2) return FLARE_EINCOMPLETE;
    unsigned op = p[0] & 0x0f;
    unsigned len7 = p[1] & 0x7f;
    /* Fail on what the first two bytes prove before waiting for the rest. */
    if (opcode_reserved(op)) return FLARE_EPROTO; /* §5.2 */
    if (op & 0x8) {
        if (!(p[0] & 0x80)) return FLARE_EPROTO; /* §5.5: control frames are not fragmented */
        if (len7 > FLARE_WS_MAX_CONTROL) return FLARE_EPROTO; /* §5.5: at most 125 bytes */
    }
    bool masked = (p[1] & 0x80) != 0;
    size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
    size_t need = 2 + ext + (masked ? 4 : 0);
    if (len < need) return FLARE_EINCOMPLETE;
    uint64_t n = len7;
    if (len7 == 126) {
        n = (uint64_t)p[2] << 8 | p[3];
        if (n < 126) return FLARE_EPROTO; /* §5.2: the minimal number of bytes MUST be used */
    } else if (len7 == 127) {
        n = 0;
        for (int i = 0; i < 8; i++)
            n = n << 8 | p[2 + i];
        if (n >> 63) return FLARE_EPROTO; /* §5.2: the most significant bit MUST be 0 */
        if (n <= 0xffff) return FLARE_EPROTO;
    }
    h->payload_len = n;
    h->opcode = (uint8_t)op;
    h->rsv = (uint8_t)((p[0] >> 4) & 0x7);
    h->fin = (p[0] & 0x80) != 0;
    h->masked = masked;
    if (masked)
        memcpy(h->mask, p + 2 + ext, 4);
    else
        memset(h->mask, 0, 4);
    h->header_len = (uint8_t)need;
    return (ssize_t)need;
}

size_t flare_ws_frame_header_encode(uint8_t out[FLARE_WS_MAX_HEADER], uint8_t opcode, bool fin,
                                    uint8_t rsv, uint64_t payload_len, const uint8_t *mask)
{
    out[0] = (uint8_t)((fin ? 0x80 : 0) | (rsv & 7) << 4 | (opcode & 0x0f));
    uint8_t mbit = mask ? 0x80 : 0;
    size_t n;
    if (payload_len < 126) {
        out[1] = (uint8_t)(mbit | payload_len);
        n = 2;
    } else if (payload_len <= 0xffff) {
        out[1] = mbit | 126;
        out[2] = (uint8_t)(payload_len >> 8);
        out[3] = (uint8_t)payload_len;
        n = 4;
    } else {
        out[1] = mbit | 127;
        for (int i = 0; i < 8; i++)
            out[2 + i] = (uint8_t)(payload_len >> (56 - 8 * i));
        n = 10;
    }
    if (mask) {
        memcpy(out + n, mask, 4);
        n += 4;
    }
    return n;
}

static int check_frame_args(uint8_t opcode, bool fin, size_t len)
{
    if (opcode_reserved(opcode)) return FLARE_EINVAL;
    if ((opcode & 0x8) && (!fin || len > FLARE_WS_MAX_CONTROL)) return FLARE_EINVAL;
    return 0;
}

int flare_ws_frame_encode(flare_buf *out, uint8_t opcode, bool fin, uint8_t rsv,
                          const void *payload, size_t len, const uint8_t *mask)
{
    if (check_frame_args(opcode, fin, len) < 0 || (!payload && len)) return FLARE_EINVAL;
    int rc = flare_buf_reserve(out, FLARE_WS_MAX_HEADER + len);
    if (rc < 0) return rc;
    uint8_t *dst = (uint8_t *)out->data + out->len;
    size_t h = flare_ws_frame_header_encode(dst, opcode, fin, rsv, len, mask);
    if (mask)
        flare_ws_mask_copy(dst + h, payload, len, mask, 0);
    else if (len)
        memcpy(dst + h, payload, len);
    out->len += h + len;
    return 0;
}

int flare_ws_message_encode(flare_buf *out, uint8_t opcode, const void *data, size_t len,
                            flare_ws_deflate *d, const uint8_t *mask, flare_error *err)
{
    if (check_frame_args(opcode, true, len) < 0 || opcode == FLARE_WS_OP_CONTINUATION)
        return flare_error_set(err, FLARE_EINVAL, 0,
                               "ws encode: opcode %u with %zu bytes is not a whole message", opcode,
                               len);
    if (!d || (opcode & 0x8)) {
        int rc = flare_ws_frame_encode(out, opcode, true, 0, data, len, mask);
        if (rc < 0) return flare_error_set(err, rc, 0, "ws encode: %zu-byte frame", len);
        return 0;
    }
    /* Compress straight after room for the longest header, then close the gap. */
    size_t start = out->len;
    int rc = flare_buf_reserve(out, FLARE_WS_MAX_HEADER);
    if (rc < 0) return flare_error_set(err, rc, 0, "ws encode: header");
    out->len += FLARE_WS_MAX_HEADER;
    rc = flare_ws_deflate_message(d, data, len, out, err);
    if (rc < 0) {
        out->len = start;
        return rc;
    }
    uint8_t *base = (uint8_t *)out->data + start;
    size_t plen = out->len - start - FLARE_WS_MAX_HEADER;
    uint8_t hdr[FLARE_WS_MAX_HEADER];
    size_t h = flare_ws_frame_header_encode(hdr, opcode, true, FLARE_WS_RSV1, plen, mask);
    memmove(base + h, base + FLARE_WS_MAX_HEADER, plen);
    memcpy(base, hdr, h);
    if (mask) flare_ws_mask(base + h, plen, mask, 0);
    out->len = start + h + plen;
    return 0;
}

bool flare_ws_close_code_valid(unsigned code)
{
    /* §7.4.1/§7.4.2: 1004-1006 and 1015 are reserved and never sent, 1012-1014 are
     * registered with IANA, 3000-4999 belong to libraries and applications. */
    if (code >= 1000 && code <= 1003) return true;
    if (code >= 1007 && code <= 1014) return true;
    return code >= 3000 && code <= 4999;
}

size_t flare_ws_close_payload(uint8_t out[FLARE_WS_MAX_CONTROL], unsigned code, const char *reason,
                              size_t reason_len)
{
    if (code == 0) return 0;
    out[0] = (uint8_t)(code >> 8);
    out[1] = (uint8_t)code;
    if (!reason) reason_len = 0;
    if (reason_len > FLARE_WS_MAX_CONTROL - 2) {
        reason_len = FLARE_WS_MAX_CONTROL - 2;
        /* Do not cut a code point in half: back up over continuation bytes. */
        while (reason_len > 0 && ((uint8_t)reason[reason_len] & 0xc0) == 0x80)
            reason_len--;
    }
    if (reason_len) memcpy(out + 2, reason, reason_len);
    return 2 + reason_len;
}

int flare_ws_close_parse(const void *payload, size_t len, uint16_t *code, const char **reason,
                         size_t *reason_len)
{
    const uint8_t *p = payload;
    *reason = "";
    *reason_len = 0;
    if (len == 0) {
        *code = FLARE_WS_CLOSE_NO_STATUS; /* §7.1.5 */
        return 0;
    }
    if (len == 1 || len > FLARE_WS_MAX_CONTROL) return FLARE_EPROTO; /* §5.5.1: code is 2 bytes */
    unsigned c = (unsigned)p[0] << 8 | p[1];
    if (!flare_ws_close_code_valid(c)) return FLARE_EPROTO;
    if (!flare_ws_utf8_valid(p + 2, len - 2)) return FLARE_EPROTO; /* §5.5.1: reason is UTF-8 */
    *code = (uint16_t)c;
    *reason = (const char *)p + 2;
    *reason_len = len - 2;
    return 0;
}
