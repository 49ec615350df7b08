/*
 * encoding.c: gzip, zlib and raw deflate over zlib, streaming and one-shot.
 * Invariant of the inflater: out never grows past max_out + 1 byte of room, since
 * each inflate() call is given at most the remaining allowance plus one byte (the
 * one that proves the limit was passed); a bomb costs bounded memory and time.
 */
#include "flare/encoding.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

/* Output room offered to zlib per step. */
#define STEP (64u * 1024)

struct flare_inflater {
    z_stream zs;
    flare_encoding enc;
    bool started;     /* inflateInit2 done */
    bool stream_end;  /* a whole stream (gzip member) ended */
    bool failed;      /* sticky */
    uint8_t stash[1]; /* a lone first byte while sniffing a zlib header */
    size_t stash_len;
    uint64_t total_out;
    size_t max_out;
};

struct flare_deflater {
    z_stream zs;
    bool finished;
    uint64_t total_out;
    size_t max_out;
};

int flare_encoding_from_name(const char *name, size_t len)
{
    if (len == 4 && !strncasecmp(name, "gzip", 4)) return FLARE_ENC_GZIP;
    if (len == 6 && !strncasecmp(name, "x-gzip", 6)) return FLARE_ENC_GZIP;
    if (len == 7 && !strncasecmp(name, "deflate", 7)) return FLARE_ENC_ZLIB;
    if (len == 8 && !strncasecmp(name, "identity", 8)) return FLARE_ENC_IDENTITY;
    return FLARE_EUNSUPPORTED;
}

const char *flare_encoding_name(flare_encoding enc)
{
    switch (enc) {
    case FLARE_ENC_GZIP:
        return "gzip";
    case FLARE_ENC_ZLIB:
        return "deflate";
    case FLARE_ENC_DEFLATE:
        return "raw-deflate";
    case FLARE_ENC_IDENTITY:
        break;
    }
    return "identity";
}

static int window_bits(flare_encoding enc)
{
    switch (enc) {
    case FLARE_ENC_GZIP:
        return 16 + MAX_WBITS;
    case FLARE_ENC_DEFLATE:
        return -MAX_WBITS;
    default:
        return MAX_WBITS;
    }
}

/* RFC 1950 §2.2: CM 8, CINFO <= 7, and CMF*256 + FLG a multiple of 31. */
static bool is_zlib_header(uint8_t cmf, uint8_t flg)
{
    return (cmf & 0x0f) == 8 && (cmf >> 4) <= 7 && ((unsigned)cmf * 256 + flg) % 31 == 0;
}

int flare_inflater_new(flare_inflater **out, flare_encoding enc, size_t max_out, flare_error *err)
{
    *out = NULL;
    if ((unsigned)enc > FLARE_ENC_DEFLATE)
        return flare_error_set(err, FLARE_EINVAL, 0, "inflate: unknown coding %d", (int)enc);
    flare_inflater *d = calloc(1, sizeof *d);
    if (!d) return flare_error_set(err, FLARE_ENOMEM, 0, "inflate: out of memory");
    d->enc = enc;
    d->max_out = max_out ? max_out : FLARE_ENCODING_DEFAULT_MAX_OUT;
    *out = d;
    return 0;
}

static int start(flare_inflater *d, flare_encoding enc, flare_error *err)
{
    int zrc = inflateInit2(&d->zs, window_bits(enc));
    if (zrc != Z_OK)
        return flare_error_set(err, zrc == Z_MEM_ERROR ? FLARE_ENOMEM : FLARE_EINVAL, 0,
                               "inflate: init failed (zlib %d)", zrc);
    d->started = true;
    return 0;
}

static int fail(flare_inflater *d, int code, flare_error *err, const char *what)
{
    d->failed = true;
    return flare_error_set(err, code, 0, "%s %s: %s", flare_encoding_name(d->enc),
                           code == FLARE_ELIMIT ? "body" : "data", what);
}

/* Runs zlib until all input is consumed and all output it allows is written. */
static int run(flare_inflater *d, const uint8_t *in, size_t len, flare_buf *out, flare_error *err)
{
    d->zs.avail_in = 0;
    for (;;) {
        if (d->zs.avail_in == 0 && len > 0) {
            uInt take = len > UINT_MAX ? UINT_MAX : (uInt)len;
            d->zs.next_in = (Bytef *)in;
            d->zs.avail_in = take;
            in += take;
            len -= take;
        }
        if (d->stream_end) {
            if (d->zs.avail_in == 0) return 0;
            /* RFC 1952 §2.2: a gzip file is a series of members; anything else is junk. */
            if (d->enc != FLARE_ENC_GZIP)
                return fail(d, FLARE_EPARSE, err, "bytes after the end of the stream");
            inflateReset(&d->zs);
            d->stream_end = false;
        }
        uint64_t allowance = d->max_out - d->total_out + 1;
        size_t room = allowance < STEP ? (size_t)allowance : STEP;
        if (flare_buf_reserve(out, room) < 0) return fail(d, FLARE_ENOMEM, err, "out of memory");
        uInt in_before = d->zs.avail_in;
        d->zs.next_out = (Bytef *)(out->data + out->len);
        d->zs.avail_out = (uInt)room;
        int zrc = inflate(&d->zs, Z_NO_FLUSH);
        size_t produced = room - d->zs.avail_out;
        out->len += produced;
        d->total_out += produced;
        if (d->total_out > d->max_out) {
            out->len -= (size_t)(d->total_out - d->max_out);
            d->total_out = d->max_out;
            d->failed = true;
            return flare_error_set(err, FLARE_ELIMIT, 0,
                                   "%s body: decoded size passes the limit of %zu bytes",
                                   flare_encoding_name(d->enc), d->max_out);
        }
        switch (zrc) {
        case Z_OK:
            break;
        case Z_STREAM_END:
            d->stream_end = true;
            break;
        case Z_BUF_ERROR:
            if (produced == 0 && in_before == d->zs.avail_in && d->zs.avail_in > 0)
                return fail(d, FLARE_EPARSE, err, "zlib made no progress");
            break;
        case Z_NEED_DICT:
            return fail(d, FLARE_EPARSE, err, "needs a preset dictionary");
        case Z_MEM_ERROR:
            return fail(d, FLARE_ENOMEM, err, "out of memory");
        default:
            return fail(d, FLARE_EPARSE, err, d->zs.msg ? d->zs.msg : "corrupt data");
        }
        /* Done when every byte went in and zlib left room: it holds no more output. */
        if (!d->stream_end && d->zs.avail_in == 0 && len == 0 && d->zs.avail_out > 0) return 0;
    }
}

int flare_inflater_update(flare_inflater *d, const void *in, size_t len, flare_buf *out,
                          flare_error *err)
{
    if (d->failed) return flare_error_set(err, FLARE_EPARSE, 0, "inflate: stream already failed");
    if (len == 0) return 0;
    const uint8_t *p = in;
    if (!d->started) {
        flare_encoding enc = d->enc;
        if (enc == FLARE_ENC_ZLIB) {
            /* Sniff the header: "deflate" from many servers is raw deflate. */
            if (d->stash_len == 0 && len == 1) {
                d->stash[0] = p[0];
                d->stash_len = 1;
                return 0;
            }
            uint8_t b0 = d->stash_len ? d->stash[0] : p[0];
            uint8_t b1 = d->stash_len ? p[0] : p[1];
            if (!is_zlib_header(b0, b1)) enc = FLARE_ENC_DEFLATE;
        }
        int rc = start(d, enc, err);
        if (rc < 0) {
            d->failed = true;
            return rc;
        }
        if (d->stash_len) {
            uint8_t first = d->stash[0];
            d->stash_len = 0;
            rc = run(d, &first, 1, out, err);
            if (rc < 0) return rc;
        }
    }
    return run(d, p, len, out, err);
}

int flare_inflater_finish(flare_inflater *d, flare_error *err)
{
    if (d->failed) return flare_error_set(err, FLARE_EPARSE, 0, "inflate: stream already failed");
    if (!d->stream_end) {
        d->failed = true;
        return flare_error_set(err, FLARE_EPARSE, 0, "%s data: truncated stream",
                               flare_encoding_name(d->enc));
    }
    return 0;
}

bool flare_inflater_done(const flare_inflater *d)
{
    return d->stream_end;
}

uint64_t flare_inflater_total_out(const flare_inflater *d)
{
    return d->total_out;
}

void flare_inflater_free(flare_inflater *d)
{
    if (!d) return;
    if (d->started) inflateEnd(&d->zs);
    free(d);
}

int flare_deflater_new(flare_deflater **out, flare_encoding enc, int level, size_t max_out,
                       flare_error *err)
{
    *out = NULL;
    if (enc == FLARE_ENC_IDENTITY || (unsigned)enc > FLARE_ENC_DEFLATE)
        return flare_error_set(err, FLARE_EINVAL, 0, "deflate: coding %d does not compress",
                               (int)enc);
    if (level < -1 || level > 9)
        return flare_error_set(err, FLARE_EINVAL, 0, "deflate: level %d is not -1..9", level);
    flare_deflater *c = calloc(1, sizeof *c);
    if (!c) return flare_error_set(err, FLARE_ENOMEM, 0, "deflate: out of memory");
    int zrc = deflateInit2(&c->zs, level, Z_DEFLATED, window_bits(enc), 8, Z_DEFAULT_STRATEGY);
    if (zrc != Z_OK) {
        free(c);
        return flare_error_set(err, zrc == Z_MEM_ERROR ? FLARE_ENOMEM : FLARE_EINVAL, 0,
                               "deflate: init failed (zlib %d)", zrc);
    }
    c->max_out = max_out;
    *out = c;
    return 0;
}

int flare_deflater_update(flare_deflater *c, const void *in, size_t len, bool finish,
                          flare_buf *out, flare_error *err)
{
    if (c->finished) return flare_error_set(err, FLARE_EINVAL, 0, "deflate: stream finished");
    const uint8_t *p = in;
    for (;;) {
        if (c->zs.avail_in == 0 && len > 0) {
            uInt take = len > UINT_MAX ? UINT_MAX : (uInt)len;
            c->zs.next_in = (Bytef *)p;
            c->zs.avail_in = take;
            p += take;
            len -= take;
        }
        size_t room = deflateBound(&c->zs, c->zs.avail_in) + 64;
        if (room > STEP) room = STEP;
        if (flare_buf_reserve(out, room) < 0)
            return flare_error_set(err, FLARE_ENOMEM, 0, "deflate: out of memory");
        c->zs.next_out = (Bytef *)(out->data + out->len);
        c->zs.avail_out = (uInt)room;
        int flush = finish && len == 0 ? Z_FINISH : Z_NO_FLUSH;
        int zrc = deflate(&c->zs, flush);
        size_t produced = room - c->zs.avail_out;
        out->len += produced;
        c->total_out += produced;
        if (c->max_out && c->total_out > c->max_out) {
            c->finished = true;
            return flare_error_set(err, FLARE_ELIMIT, 0,
                                   "deflate: output passes the limit of %zu bytes", c->max_out);
        }
        if (zrc == Z_STREAM_END) {
            c->finished = true;
            return 0;
        }
        if (zrc != Z_OK && zrc != Z_BUF_ERROR)
            return flare_error_set(err, FLARE_EINVAL, 0, "deflate: zlib error %d", zrc);
        /* Without finish, stop once all input is taken and zlib had room to spare. */
        if (flush == Z_NO_FLUSH && len == 0 && c->zs.avail_in == 0 && c->zs.avail_out > 0) return 0;
    }
}

void flare_deflater_free(flare_deflater *c)
{
    if (!c) return;
    deflateEnd(&c->zs);
    free(c);
}

int flare_encoding_compress(flare_encoding enc, int level, const void *in, size_t len,
                            flare_buf *out, flare_error *err)
{
    if (enc == FLARE_ENC_IDENTITY) {
        if (flare_buf_append(out, in, len) < 0)
            return flare_error_set(err, FLARE_ENOMEM, 0, "compress: out of memory");
        return 0;
    }
    flare_deflater *c;
    int rc = flare_deflater_new(&c, enc, level, 0, err);
    if (rc < 0) return rc;
    rc = flare_deflater_update(c, in, len, true, out, err);
    flare_deflater_free(c);
    return rc;
}

int flare_encoding_decompress(flare_encoding enc, const void *in, size_t len, flare_buf *out,
                              size_t max_out, flare_error *err)
{
    if (enc == FLARE_ENC_IDENTITY) {
        size_t limit = max_out ? max_out : FLARE_ENCODING_DEFAULT_MAX_OUT;
        if (len > limit)
            return flare_error_set(err, FLARE_ELIMIT, 0,
                                   "body of %zu bytes passes the limit of "
                                   "%zu bytes",
                                   len, limit);
        if (flare_buf_append(out, in, len) < 0)
            return flare_error_set(err, FLARE_ENOMEM, 0, "decompress: out of memory");
        return 0;
    }
    flare_inflater *d;
    int rc = flare_inflater_new(&d, enc, max_out, err);
    if (rc < 0) return rc;
    rc = flare_inflater_update(d, in, len, out, err);
    if (rc == 0) rc = flare_inflater_finish(d, err);
    flare_inflater_free(d);
    return rc;
}
