/*
 * parser.c: the receiving half of a connection. Frames are decoded one header at
 * a time, payload is unmasked in place as it arrives, data frames are reassembled
 * (and inflated) into one per-connection buffer, and every receive rule of RFC
 * 6455 §5 and RFC 7692 §6 is checked with the close code it calls for. A whole
 * unfragmented frame already in the caller's buffer is delivered without a copy,
 * so the common case allocates nothing at all.
 */
#include "ws_internal.h"

#include <string.h>

/* A message buffer grown past this is given back once its message is delivered. */
#define KEEP_BUFFER_BYTES (256u * 1024)

void flare_ws_parser_init(flare_ws_parser *p, const flare_ws_parser_config *cfg)
{
    memset(p, 0, sizeof *p);
    if (cfg)
        p->cfg = *cfg;
    else
        p->cfg.server = true;
    if (p->cfg.max_message == 0) p->cfg.max_message = FLARE_WS_DEFAULT_MAX_MESSAGE;
    p->msg = (flare_buf)FLARE_BUF_INIT;
}

void flare_ws_parser_free(flare_ws_parser *p)
{
    flare_buf_free(&p->msg);
}

static int fail(flare_ws_parser *p, uint16_t code, int rc, const char *what, flare_error *err)
{
    p->error_code = code;
    return flare_error_set(err, rc, 0, "ws: %s (close %u)", what, code);
}

/* Why flare_ws_frame_decode refused a header, for the error message. */
static const char *header_problem(const uint8_t *b)
{
    unsigned op = b[0] & 0x0f, len7 = b[1] & 0x7f;
    if ((op >= 3 && op <= 7) || op >= 11) return "reserved opcode";
    if ((op & 8) && !(b[0] & 0x80)) return "fragmented control frame";
    if ((op & 8) && len7 > FLARE_WS_MAX_CONTROL) return "control frame over 125 bytes";
    if (len7 == 127 && (b[2] & 0x80)) return "64-bit length with the top bit set";
    return "length not in its minimal encoding";
}

/* The rules that need the connection's state (RFC 6455 §5.1-§5.4, RFC 7692 §6). */
static int check_header(flare_ws_parser *p, const flare_ws_frame_header *h, flare_error *err)
{
    bool data_start = h->opcode == FLARE_WS_OP_TEXT || h->opcode == FLARE_WS_OP_BINARY;
    if (h->rsv) {
        /* RSV1 means "compressed", only on a message's first frame (RFC 7692 §6). */
        if (!(p->cfg.deflate && h->rsv == FLARE_WS_RSV1))
            return fail(p, FLARE_WS_CLOSE_PROTOCOL_ERROR, FLARE_EPROTO,
                        "RSV bits set without a negotiated extension", err);
        if (!data_start)
            return fail(p, FLARE_WS_CLOSE_PROTOCOL_ERROR, FLARE_EPROTO,
                        "RSV1 on a control or continuation frame", err);
    }
    if (p->cfg.server && !h->masked) /* §5.1 */
        return fail(p, FLARE_WS_CLOSE_PROTOCOL_ERROR, FLARE_EPROTO, "client frame not masked", err);
    if (!p->cfg.server && h->masked)
        return fail(p, FLARE_WS_CLOSE_PROTOCOL_ERROR, FLARE_EPROTO, "server frame masked", err);
    if (h->opcode & 0x8) return 0;
    /* §5.4: a fragmented message is one data frame and continuations only. */
    if (h->opcode == FLARE_WS_OP_CONTINUATION && !p->msg_opcode)
        return fail(p, FLARE_WS_CLOSE_PROTOCOL_ERROR, FLARE_EPROTO,
                    "continuation frame without a message to continue", err);
    if (data_start && p->msg_opcode)
        return fail(p, FLARE_WS_CLOSE_PROTOCOL_ERROR, FLARE_EPROTO,
                    "new data frame inside a fragmented message", err);
    uint64_t limit = p->cfg.max_message;
    bool compressed = data_start ? (h->rsv & FLARE_WS_RSV1) != 0 : p->msg_compressed;
    if (compressed) {
        /* Inflating enforces the real limit; this refuses the absurd at once
         * (deflate may grow incompressible data slightly), and bounds the wire
         * bytes of the whole message: empty deflate blocks inflate to nothing, so
         * without it a message could go on for ever. */
        uint64_t wire = data_start ? 0 : p->msg_wire, cap = limit + limit / 8 + 1024;
        if (h->payload_len > cap || h->payload_len > cap - wire)
            return fail(p, FLARE_WS_CLOSE_TOO_BIG, FLARE_ELIMIT, "compressed message too big", err);
    } else {
        uint64_t have = data_start ? 0 : p->msg.len;
        if (h->payload_len > limit - have)
            return fail(p, FLARE_WS_CLOSE_TOO_BIG, FLARE_ELIMIT, "message over the size limit",
                        err);
    }
    return 0;
}

static void start_frame(flare_ws_parser *p, const flare_ws_frame_header *h)
{
    p->in_frame = true;
    p->frame_left = h->payload_len;
    p->frame_opcode = h->opcode;
    p->frame_fin = h->fin;
    p->frame_masked = h->masked;
    memcpy(p->mask, h->mask, 4);
    p->mask_phase = 0;
    if (h->opcode & 0x8) {
        p->ctl_len = 0;
        return;
    }
    if (h->opcode != FLARE_WS_OP_CONTINUATION) {
        p->msg_opcode = h->opcode;
        p->msg_compressed = (h->rsv & FLARE_WS_RSV1) != 0;
        p->msg_wire = 0;
        p->msg.len = 0;
        flare_ws_utf8_reset(&p->utf8);
    }
    p->msg_wire += h->payload_len;
}

static int inflate_code(flare_ws_parser *p, int rc, flare_error *err)
{
    if (rc == FLARE_ELIMIT)
        return fail(p, FLARE_WS_CLOSE_TOO_BIG, rc, "message over the size limit once inflated",
                    err);
    if (rc == FLARE_ENOMEM) return fail(p, FLARE_WS_CLOSE_INTERNAL_ERROR, rc, "out of memory", err);
    return fail(p, FLARE_WS_CLOSE_INVALID_DATA, FLARE_EPROTO, "corrupt compressed data", err);
}

/* Takes the next payload bytes of a data frame into the message. */
static int data_chunk(flare_ws_parser *p, const uint8_t *d, size_t n, bool fin, flare_error *err)
{
    size_t old = p->msg.len;
    if (p->msg_compressed) {
        int rc =
            flare_ws_inflate(p->cfg.deflate, d, n, fin, &p->msg, (size_t)p->cfg.max_message, err);
        if (rc < 0) return inflate_code(p, rc, err);
    } else if (n) {
        if (flare_buf_append(&p->msg, d, n) < 0)
            return fail(p, FLARE_WS_CLOSE_INTERNAL_ERROR, FLARE_ENOMEM, "out of memory", err);
    }
    /* §8.1: fail fast, as soon as a fragment proves the text invalid. An empty
     * fragment adds nothing (and msg.data may still be NULL: no NULL + 0). */
    if (p->msg_opcode == FLARE_WS_OP_TEXT && p->msg.len > old &&
        !flare_ws_utf8_feed(&p->utf8, p->msg.data + old, p->msg.len - old))
        return fail(p, FLARE_WS_CLOSE_INVALID_DATA, FLARE_EPROTO, "text message is not UTF-8", err);
    return 0;
}

static ssize_t deliver_message(flare_ws_parser *p, size_t pos, flare_ws_event *ev, flare_error *err)
{
    if (p->msg_opcode == FLARE_WS_OP_TEXT && !flare_ws_utf8_complete(&p->utf8))
        return fail(p, FLARE_WS_CLOSE_INVALID_DATA, FLARE_EPROTO,
                    "text message ends inside a UTF-8 sequence", err);
    ev->type = p->msg_opcode == FLARE_WS_OP_TEXT ? FLARE_WS_EV_TEXT : FLARE_WS_EV_BINARY;
    ev->data = p->msg.data ? p->msg.data : "";
    ev->len = p->msg.len;
    p->msg_opcode = 0;
    p->msg_delivered = true;
    return (ssize_t)pos;
}

static ssize_t deliver_control(flare_ws_parser *p, uint8_t opcode, const char *d, size_t n,
                               size_t pos, flare_ws_event *ev, flare_error *err)
{
    ev->data = d;
    ev->len = n;
    if (opcode == FLARE_WS_OP_PING) {
        ev->type = FLARE_WS_EV_PING;
    } else if (opcode == FLARE_WS_OP_PONG) {
        ev->type = FLARE_WS_EV_PONG;
    } else {
        if (flare_ws_close_parse(d, n, &ev->close_code, &ev->reason, &ev->reason_len) < 0) {
            memset(ev, 0, sizeof *ev);
            return fail(p, FLARE_WS_CLOSE_PROTOCOL_ERROR, FLARE_EPROTO,
                        n == 1 ? "close payload of 1 byte"
                               : "close frame with an invalid code or a non-UTF-8 reason",
                        err);
        }
        ev->type = FLARE_WS_EV_CLOSE;
        p->closed = true; /* §5.5.1: nothing after a close frame is read */
    }
    return (ssize_t)pos;
}

ssize_t flare_ws_parser_feed(flare_ws_parser *p, void *buf, size_t len, flare_ws_event *ev,
                             flare_error *err)
{
    memset(ev, 0, sizeof *ev);
    if (p->error_code)
        return flare_error_set(
            err, p->error_code == FLARE_WS_CLOSE_TOO_BIG ? FLARE_ELIMIT : FLARE_EPROTO, 0,
            "ws: connection already failed (close %u)", p->error_code);
    if (p->msg_delivered) {
        p->msg_delivered = false;
        if (p->msg.cap > KEEP_BUFFER_BYTES)
            flare_buf_free(&p->msg);
        else
            p->msg.len = 0;
    }
    if (p->closed) return 0;
    uint8_t *b = buf;
    size_t pos = 0;
    for (;;) {
        if (!p->in_frame) {
            if (pos == len) return (ssize_t)pos;
            flare_ws_frame_header h;
            ssize_t hl = flare_ws_frame_decode(b + pos, len - pos, &h);
            if (hl == FLARE_EINCOMPLETE) return (ssize_t)pos;
            if (hl < 0)
                return fail(p, FLARE_WS_CLOSE_PROTOCOL_ERROR, FLARE_EPROTO, header_problem(b + pos),
                            err);
            int rc = check_header(p, &h, err);
            if (rc < 0) return rc;
            pos += (size_t)hl;
            start_frame(p, &h);
            /* Whole frame present and needing no reassembly: hand it out in place. */
            bool whole = h.payload_len <= len - pos;
            bool single =
                h.fin && !h.rsv && (h.opcode == FLARE_WS_OP_TEXT || h.opcode == FLARE_WS_OP_BINARY);
            if (whole && (single || (h.opcode & 0x8))) {
                size_t n = (size_t)h.payload_len;
                uint8_t *d = b + pos;
                if (h.masked) flare_ws_mask(d, n, h.mask, 0);
                pos += n;
                p->in_frame = false;
                if (h.opcode & 0x8)
                    return deliver_control(p, h.opcode, (const char *)d, n, pos, ev, err);
                p->msg_opcode = 0;
                if (h.opcode == FLARE_WS_OP_TEXT && !flare_ws_utf8_valid(d, n))
                    return fail(p, FLARE_WS_CLOSE_INVALID_DATA, FLARE_EPROTO,
                                "text message is not UTF-8", err);
                ev->type = h.opcode == FLARE_WS_OP_TEXT ? FLARE_WS_EV_TEXT : FLARE_WS_EV_BINARY;
                ev->data = (const char *)d;
                ev->len = n;
                return (ssize_t)pos;
            }
        }
        size_t avail = len - pos;
        if (avail > p->frame_left) avail = (size_t)p->frame_left;
        uint8_t *d = b + pos;
        if (avail && p->frame_masked)
            p->mask_phase = flare_ws_mask(d, avail, p->mask, p->mask_phase);
        pos += avail;
        p->frame_left -= avail;
        bool frame_done = p->frame_left == 0;
        if (p->frame_opcode & 0x8) {
            memcpy(p->ctl + p->ctl_len, d, avail);
            p->ctl_len = (uint8_t)(p->ctl_len + avail);
        } else {
            int rc = data_chunk(p, d, avail, frame_done && p->frame_fin, err);
            if (rc < 0) return rc;
        }
        if (!frame_done) return (ssize_t)pos;
        p->in_frame = false;
        if (p->frame_opcode & 0x8)
            return deliver_control(p, p->frame_opcode, (const char *)p->ctl, p->ctl_len, pos, ev,
                                   err);
        if (p->frame_fin) return deliver_message(p, pos, ev, err);
    }
}
