/*
 * chunked.c: in-place decoder for the chunked transfer coding (RFC 9112 §7.1).
 * A byte-at-a-time state machine for the framing and one memmove per run of
 * data, so it resumes across any split of the input. The payload is compacted
 * to the front of the caller's buffer; the output never overtakes the input.
 */
#include "flare/http_parser.h"

#include <string.h>

#include "simd.h"

enum {
    ST_SIZE = 0, /* chunk-size hex digits; zeroed state starts here */
    ST_SIZE_WS,  /* BWS after the size, before ";" */
    /* chunk-ext (RFC 9112 §7.1.1), checked and skipped: */
    ST_EXT_NAME_START, /* BWS after ";", then chunk-ext-name */
    ST_EXT_NAME,       /* in chunk-ext-name */
    ST_EXT_NAME_WS,    /* BWS after a name: "=" or the next ";" */
    ST_EXT_VAL_START,  /* BWS after "=", then a token or a quoted-string */
    ST_EXT_TOKEN,      /* in a token value */
    ST_EXT_QUOTED,     /* in a quoted-string value */
    ST_EXT_QUOTED_PAIR,
    ST_EXT_VAL_END, /* just after a value: BWS, ";" or CR */
    ST_EXT_VAL_WS,  /* BWS after a value: only the next ";" */
    ST_SIZE_LF,     /* LF ending the size line */
    ST_DATA,        /* chunk-data */
    ST_DATA_CR,     /* CRLF after chunk-data */
    ST_DATA_LF,
    ST_TRAILER_START, /* start of a trailer field line, or the final CRLF */
    ST_TRAILER_NAME,
    ST_TRAILER_VALUE,
    ST_TRAILER_LF,
    ST_END_LF, /* LF of the final CRLF */
    ST_DONE,
    ST_ERROR,
    ST_OVER, /* a chunk larger than payload_max leaves room for */
};

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* HTAB / SP / VCHAR / obs-text (RFC 9110 §5.5), for quoted-pairs and trailers. */
static bool is_text(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool is_ws(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* One byte of a chunk-ext (RFC 9112 §7.1.1):
 *   *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
 * chunk-ext-name = token, chunk-ext-val = token / quoted-string (RFC 9110 §5.6.4).
 * Extensions are ignored, but only once they parse: a quote left open at the line
 * end, or a name that is no token, is where readers that skip differently (to the
 * closing quote, or to an LF) would disagree on where the chunk data starts.
 * Returns the next state. */
static unsigned ext_step(unsigned state, unsigned char c)
{
    switch (state) {
    case ST_EXT_NAME_START:
        if (is_ws(c)) return state;
        return flare_http__is_tchar(c) ? ST_EXT_NAME : ST_ERROR;
    case ST_EXT_NAME:
    case ST_EXT_TOKEN:
        if (flare_http__is_tchar(c)) return state;
        if (c == '=' && state == ST_EXT_NAME) return ST_EXT_VAL_START;
        if (is_ws(c)) return state == ST_EXT_NAME ? ST_EXT_NAME_WS : ST_EXT_VAL_WS;
        break;
    case ST_EXT_NAME_WS:
        if (is_ws(c)) return state;
        if (c == '=') return ST_EXT_VAL_START;
        return c == ';' ? ST_EXT_NAME_START : ST_ERROR;
    case ST_EXT_VAL_START:
        if (is_ws(c)) return state;
        if (c == '"') return ST_EXT_QUOTED;
        return flare_http__is_tchar(c) ? ST_EXT_TOKEN : ST_ERROR;
    case ST_EXT_QUOTED:
        /* qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text */
        if (c == '"') return ST_EXT_VAL_END;
        if (c == '\\') return ST_EXT_QUOTED_PAIR;
        return is_text(c) ? state : ST_ERROR;
    case ST_EXT_QUOTED_PAIR:
        return is_text(c) ? ST_EXT_QUOTED : ST_ERROR;
    case ST_EXT_VAL_END:
        if (is_ws(c)) return ST_EXT_VAL_WS;
        break;
    case ST_EXT_VAL_WS:
        if (is_ws(c)) return state;
        return c == ';' ? ST_EXT_NAME_START : ST_ERROR;
    default:
        return ST_ERROR;
    }
    /* After a name or a value: the next extension or the line end. */
    if (c == ';') return ST_EXT_NAME_START;
    return c == '\r' ? ST_SIZE_LF : ST_ERROR;
}

ssize_t flare_http_decode_chunked(flare_http_chunked *dec, char *buf, size_t *len)
{
    if (!dec || !len || (!buf && *len > 0)) return FLARE_EINVAL;
    size_t n = *len, src = 0, dst = 0;
    unsigned state = dec->state;

    while (src < n && state != ST_DONE && state != ST_ERROR && state != ST_OVER) {
        if (state == ST_DATA) {
            size_t avail = n - src;
            size_t take =
                dec->bytes_left_in_chunk < avail ? (size_t)dec->bytes_left_in_chunk : avail;
            if (dst != src) memmove(buf + dst, buf + src, take);
            dst += take;
            src += take;
            dec->bytes_left_in_chunk -= take;
            dec->payload_seen += take;
            if (dec->bytes_left_in_chunk == 0) state = ST_DATA_CR;
            continue;
        }
        unsigned char c = (unsigned char)buf[src++];
        switch (state) {
        case ST_SIZE: {
            int v = hex_value(c);
            if (v >= 0) {
                /* 16 hex digits fill 64 bits: one more could overflow, so it is
                 * refused even when it is a leading zero. */
                if (dec->hex_digits == 16) {
                    state = ST_ERROR;
                    break;
                }
                dec->hex_digits++;
                dec->bytes_left_in_chunk = (dec->bytes_left_in_chunk << 4) | (uint64_t)v;
                break;
            }
            /* chunk-size = 1*HEXDIG */
            if (dec->hex_digits == 0)
                state = ST_ERROR;
            else if (c == '\r')
                state = ST_SIZE_LF;
            else if (c == ';')
                state = ST_EXT_NAME_START;
            else if (c == ' ' || c == '\t')
                state = ST_SIZE_WS;
            else
                state = ST_ERROR;
            break;
        }
        case ST_SIZE_WS:
        case ST_EXT_NAME_START:
        case ST_EXT_NAME:
        case ST_EXT_NAME_WS:
        case ST_EXT_VAL_START:
        case ST_EXT_TOKEN:
        case ST_EXT_QUOTED:
        case ST_EXT_QUOTED_PAIR:
        case ST_EXT_VAL_END:
        case ST_EXT_VAL_WS:
            /* Extensions, and the whitespace before them, are skipped but bounded:
             * they cost reading time. */
            if (state == ST_SIZE_WS) /* whitespace must lead to an extension */
                state = c == ';' ? ST_EXT_NAME_START : is_ws(c) ? ST_SIZE_WS : ST_ERROR;
            else
                state = ext_step(state, c);
            if (state != ST_SIZE_LF && ++dec->ext_bytes > FLARE_HTTP_MAX_CHUNK_EXT_BYTES)
                state = ST_ERROR;
            break;
        case ST_SIZE_LF:
            if (c != '\n') {
                state = ST_ERROR;
                break;
            }
            dec->hex_digits = 0;
            dec->ext_bytes = 0;
            /* last-chunk = 1*("0") [ chunk-ext ] CRLF, then the trailer section. */
            state = dec->bytes_left_in_chunk == 0 ? ST_TRAILER_START : ST_DATA;
            /* The size comes before the data: a chunk the body has no room for is
             * refused here, as a Content-Length over the limit is at the head, not
             * after the limit's worth of it was read. */
            if (state == ST_DATA && dec->payload_max &&
                dec->bytes_left_in_chunk > dec->payload_max - dec->payload_seen)
                state = ST_OVER;
            break;
        case ST_DATA_CR:
            state = c == '\r' ? ST_DATA_LF : ST_ERROR;
            break;
        case ST_DATA_LF:
            state = c == '\n' ? ST_SIZE : ST_ERROR;
            break;
        case ST_TRAILER_START:
        case ST_TRAILER_NAME:
        case ST_TRAILER_VALUE:
        case ST_TRAILER_LF:
        case ST_END_LF:
            /* Trailer fields are read and dropped (RFC 9112 §7.1.2), within a
             * budget, as field lines: token ":" value CRLF, no obs-fold. */
            if (++dec->trailer_bytes > FLARE_HTTP_MAX_CHUNK_TRAILER_BYTES) {
                state = ST_ERROR;
                break;
            }
            if (state == ST_TRAILER_START) {
                if (c == '\r')
                    state = ST_END_LF;
                else
                    state = flare_http__is_tchar(c) ? ST_TRAILER_NAME : ST_ERROR;
            } else if (state == ST_TRAILER_NAME) {
                if (c == ':')
                    state = ST_TRAILER_VALUE;
                else if (!flare_http__is_tchar(c))
                    state = ST_ERROR;
            } else if (state == ST_TRAILER_VALUE) {
                if (c == '\r')
                    state = ST_TRAILER_LF;
                else if (!is_text(c))
                    state = ST_ERROR;
            } else if (state == ST_TRAILER_LF) {
                state = c == '\n' ? ST_TRAILER_START : ST_ERROR;
            } else {
                state = c == '\n' ? ST_DONE : ST_ERROR;
            }
            break;
        default:
            state = ST_ERROR;
            break;
        }
    }

    dec->state = (uint8_t)state;
    if (state == ST_ERROR || state == ST_OVER) {
        *len = dst;
        return state == ST_OVER ? FLARE_ELIMIT : FLARE_EPARSE;
    }
    if (state != ST_DONE) {
        *len = dst;
        return FLARE_EINCOMPLETE;
    }
    /* What follows the body (a pipelined message) moves up behind the payload. */
    size_t rest = n - src;
    if (dst != src && rest > 0) memmove(buf + dst, buf + src, rest);
    *len = dst;
    return (ssize_t)rest;
}
