/*
 * deflate.c: permessage-deflate (RFC 7692 §7.2) over zlib raw deflate streams.
 * Each message is compressed with Z_SYNC_FLUSH and loses its 0x00 0x00 0xff 0xff
 * tail; received messages get it back before the last inflate. Contexts carry
 * over between messages unless that side negotiated no_context_takeover. The
 * streams are created on first use (a connection that never compresses pays
 * nothing), and inflation stops at the caller's limit before allocating more.
 */
#include "ws_internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

struct flare_ws_deflate {
    flare_ws_deflate_params params;
    int level;
    int window_bits;          /* ours, 9..15 */
    bool reset_after_deflate; /* our side has no_context_takeover */
    bool reset_after_inflate; /* the peer's side has it */
    bool def_ready, inf_ready;
    bool inf_ended; /* the peer ended its deflate stream (BFINAL) in this message */
    z_stream def, inf;
};

static const uint8_t sync_tail[4] = {0x00, 0x00, 0xff, 0xff};

/* Largest slice handed to zlib at once (its counters are unsigned int). */
static size_t zlib_chunk(size_t n)
{
    return n > (size_t)UINT_MAX ? (size_t)UINT_MAX : n;
}

int flare_ws_deflate_new(flare_ws_deflate **out, const flare_ws_deflate_params *params, bool server,
                         int level, flare_error *err)
{
    *out = NULL;
    flare_ws_deflate_params p = params ? *params : (flare_ws_deflate_params){0};
    if (p.server_max_window_bits == 0) p.server_max_window_bits = 15;
    if (p.client_max_window_bits == 0) p.client_max_window_bits = 15;
    if (p.server_max_window_bits < 8 || p.server_max_window_bits > 15 ||
        p.client_max_window_bits < 8 || p.client_max_window_bits > 15)
        return flare_error_set(err, FLARE_EINVAL, 0, "ws deflate: window bits %u/%u outside 8..15",
                               p.server_max_window_bits, p.client_max_window_bits);
    if (level < -1 || level > 9)
        return flare_error_set(err, FLARE_EINVAL, 0, "ws deflate: level %d outside -1..9", level);
    int own = server ? p.server_max_window_bits : p.client_max_window_bits;
    if (own < 9)
        return flare_error_set(err, FLARE_EUNSUPPORTED, 0,
                               "ws deflate: zlib cannot compress raw deflate with a %d-bit window",
                               own);
    flare_ws_deflate *d = calloc(1, sizeof *d);
    if (!d) return flare_error_set(err, FLARE_ENOMEM, 0, "ws deflate: out of memory");
    d->params = p;
    d->level = level;
    d->window_bits = own;
    d->reset_after_deflate = server ? p.server_no_context_takeover : p.client_no_context_takeover;
    d->reset_after_inflate = server ? p.client_no_context_takeover : p.server_no_context_takeover;
    *out = d;
    return 0;
}

void flare_ws_deflate_free(flare_ws_deflate *d)
{
    if (!d) return;
    if (d->def_ready) deflateEnd(&d->def);
    if (d->inf_ready) inflateEnd(&d->inf);
    free(d);
}

const flare_ws_deflate_params *flare_ws_deflate_get_params(const flare_ws_deflate *d)
{
    return &d->params;
}

void flare_ws_inflate_reset(flare_ws_deflate *d)
{
    if (d->inf_ready) inflateReset(&d->inf);
    d->inf_ended = false;
}

static int zlib_code(int zrc)
{
    return zrc == Z_MEM_ERROR ? FLARE_ENOMEM : FLARE_EPARSE;
}

int flare_ws_deflate_message(flare_ws_deflate *d, const void *in, size_t len, flare_buf *out,
                             flare_error *err)
{
    if (!d->def_ready) {
        /* memLevel 8 is zlib's default; the window is what the handshake agreed. */
        int zrc =
            deflateInit2(&d->def, d->level, Z_DEFLATED, -d->window_bits, 8, Z_DEFAULT_STRATEGY);
        if (zrc != Z_OK)
            return flare_error_set(err, zlib_code(zrc), 0, "ws deflate: deflateInit2: %s",
                                   d->def.msg ? d->def.msg : "failed");
        d->def_ready = true;
    }
    size_t start = out->len;
    const uint8_t *src = in;
    size_t left = len;
    for (;;) {
        size_t piece = zlib_chunk(left);
        bool last = piece == left;
        d->def.next_in = (Bytef *)(uintptr_t)src;
        d->def.avail_in = (uInt)piece;
        /* Room for a small message in one go; big ones grow as output appears, so
         * the buffer tracks the compressed size, not the input size. */
        size_t want = (size_t)deflateBound(&d->def, (uLong)piece) + 16;
        if (want > 65536) want = 65536;
        for (;;) {
            int rc = flare_buf_reserve(out, want);
            if (rc < 0) goto nomem;
            size_t room = zlib_chunk(flare_buf_room(out));
            d->def.next_out = (Bytef *)out->data + out->len;
            d->def.avail_out = (uInt)room;
            int zrc = deflate(&d->def, last ? Z_SYNC_FLUSH : Z_NO_FLUSH);
            out->len += room - d->def.avail_out;
            if (zrc == Z_STREAM_ERROR) {
                out->len = start;
                return flare_error_set(err, FLARE_EINVAL, 0, "ws deflate: stream error");
            }
            /* Done with this piece when zlib took all input and had room left over. */
            if (d->def.avail_in == 0 && d->def.avail_out != 0) break;
            want = room < 4096 ? 4096 : room;
        }
        src += piece;
        left -= piece;
        if (last) break;
    }
    /* §7.2.1: a sync flush ends with an empty stored block; its 4 length bytes go. */
    size_t produced = out->len - start;
    if (produced >= 4 && memcmp(out->data + out->len - 4, sync_tail, 4) == 0) out->len -= 4;
    /* An empty message right after a flush makes zlib write nothing at all; the
     * receiver's tail then needs a block header to complete: one 0x00 byte is an
     * empty stored block once the tail is added (§7.2.3.6). */
    if (out->len == start && out->data) out->data[out->len++] = 0x00;
    if (d->reset_after_deflate) deflateReset(&d->def);
    return 0;
nomem:
    out->len = start;
    return flare_error_set(err, FLARE_ENOMEM, 0, "ws deflate: out of memory (%zu-byte message)",
                           len);
}

/* Inflates in[0..len) into out, failing once out would pass max_len. */
static int inflate_some(flare_ws_deflate *d, const uint8_t *in, size_t len, flare_buf *out,
                        size_t max_len, flare_error *err)
{
    while (len > 0) {
        size_t piece = zlib_chunk(len);
        d->inf.next_in = (Bytef *)(uintptr_t)in;
        d->inf.avail_in = (uInt)piece;
        for (;;) {
            /* Never offer more room than the limit allows plus one byte: that byte
             * proves the limit was passed without inflating any further. */
            size_t allowed = out->len <= max_len ? max_len - out->len : 0;
            if (allowed < SIZE_MAX) allowed++;
            size_t guess = d->inf.avail_in < 16384 ? 4 * (size_t)d->inf.avail_in + 1024 : 65536;
            size_t room = guess < allowed ? guess : allowed;
            if (flare_buf_reserve(out, room) < 0)
                return flare_error_set(err, FLARE_ENOMEM, 0, "ws inflate: out of memory");
            room = zlib_chunk(room);
            d->inf.next_out = (Bytef *)out->data + out->len;
            d->inf.avail_out = (uInt)room;
            /* Input after a stream end (BFINAL) starts a new stream, whose end the
             * message's tail must then supply. */
            if (d->inf.avail_in) d->inf_ended = false;
            int zrc = inflate(&d->inf, Z_SYNC_FLUSH);
            out->len += room - d->inf.avail_out;
            if (out->len > max_len)
                return flare_error_set(err, FLARE_ELIMIT, 0,
                                       "ws inflate: message exceeds %zu bytes decompressed",
                                       max_len);
            if (zrc == Z_STREAM_END) {
                /* The peer ended its deflate stream (BFINAL): the message needs no
                 * tail, and anything after starts a new stream. */
                inflateReset(&d->inf);
                d->inf_ended = true;
            } else if (zrc == Z_BUF_ERROR) {
                if (d->inf.avail_in == 0) break; /* all input taken, nothing pending */
            } else if (zrc != Z_OK) {
                return flare_error_set(err, zlib_code(zrc), 0, "ws inflate: %s",
                                       d->inf.msg ? d->inf.msg : "corrupt data");
            }
            if (d->inf.avail_in == 0 && d->inf.avail_out != 0) break;
        }
        in += piece;
        len -= piece;
    }
    return 0;
}

int flare_ws_inflate(flare_ws_deflate *d, const void *in, size_t len, bool fin, flare_buf *out,
                     size_t max_len, flare_error *err)
{
    if (!d->inf_ready) {
        /* A 15-bit window reads data written with any smaller one (RFC 7692 §7.1.2). */
        int zrc = inflateInit2(&d->inf, -15);
        if (zrc != Z_OK)
            return flare_error_set(err, zlib_code(zrc), 0, "ws inflate: inflateInit2 failed");
        d->inf_ready = true;
    }
    int rc = inflate_some(d, in, len, out, max_len, err);
    if (rc == 0 && fin && !d->inf_ended) {
        rc = inflate_some(d, sync_tail, sizeof sync_tail, out, max_len, err);
        /* §7.2.2: with the tail the message ends on a block boundary (zlib's
         * data_type 128), or ends the stream when the tail completed a final
         * stored block. It does not when the payload was empty (the tail alone
         * starts a stored block it cannot finish) or kept its own tail: such a
         * message is corrupt, and accepting it would leave the half-read block
         * to swallow the start of the next message. */
        if (rc == 0 && !d->inf_ended && !(d->inf.data_type & 128))
            rc = flare_error_set(err, FLARE_EPARSE, 0,
                                 "ws inflate: message does not end on a deflate block boundary");
    }
    if (rc < 0 || (fin && d->reset_after_inflate)) inflateReset(&d->inf);
    if (rc < 0 || fin) d->inf_ended = false;
    return rc;
}
