/*
 * client.c: a blocking WebSocket client (RFC 6455 §4.1, §5.3, §7) over any byte
 * stream (TCP now for ws://; a TLS stream can be handed to flare_ws_client_open
 * later for wss://). Every frame gets a fresh mask key from a getrandom pool
 * refilled 256 bytes at a time; payloads are masked into a reused buffer in
 * 64 KiB pieces, never in the caller's memory. Receiving goes through
 * flare_ws_parser, which keeps partial frames, so the read buffer stays small.
 */
#include "client_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* Payload masked and written per write_all call. */
#define SEND_CHUNK (64u * 1024)
/* Read size per call. */
#define READ_CHUNK (16u * 1024)
/* Wait for the peer's close in flare_ws_close when no read timeout is set. */
#define CLOSE_WAIT_MS 5000

int flare_ws__client_random(flare_ws_client *c, uint8_t *out, size_t n, flare_error *err)
{
    while (n > 0) {
        if (c->pool_pos == sizeof c->pool) {
            /* Up to 256 bytes come whole from getrandom once the pool is ready. */
            ssize_t got;
            do
                got = getrandom(c->pool, sizeof c->pool, 0);
            while (got < 0 && errno == EINTR);
            if (got != (ssize_t)sizeof c->pool)
                return flare_error_set(err, FLARE_ESYS, got < 0 ? errno : 0,
                                       "ws client: getrandom");
            c->pool_pos = 0;
        }
        size_t take = sizeof c->pool - c->pool_pos;
        if (take > n) take = n;
        memcpy(out, c->pool + c->pool_pos, take);
        c->pool_pos += take;
        out += take;
        n -= take;
    }
    return 0;
}

static void close_stream(flare_ws_client *c)
{
    if (c->stream_open && c->stream.close) c->stream.close(c->stream.ctx);
    c->stream_open = false;
}

void flare_ws_client_free(flare_ws_client *c)
{
    if (!c) return;
    close_stream(c);
    flare_ws_parser_free(&c->parser);
    flare_ws_deflate_free(c->deflate);
    flare_buf_free(&c->rbuf);
    flare_buf_free(&c->wbuf);
    flare_buf_free(&c->zbuf);
    free(c);
}

/* Masks and writes one frame; the caller's payload is only read. */
static int send_raw(flare_ws_client *c, uint8_t opcode, bool fin, uint8_t rsv, const void *data,
                    size_t len, flare_error *err)
{
    if (!c->stream_open)
        return flare_error_set(err, FLARE_ECLOSED, 0, "ws client: connection is closed");
    uint8_t key[4] = {0};
    /* §5.3: unpredictable per frame; an all-zero key would leave the payload bare. */
    while (!(key[0] | key[1] | key[2] | key[3])) {
        int rc = flare_ws__client_random(c, key, 4, err);
        if (rc < 0) return rc;
    }
    c->wbuf.len = 0;
    if (flare_buf_reserve(&c->wbuf, FLARE_WS_MAX_HEADER + (len < SEND_CHUNK ? len : SEND_CHUNK)) <
        0)
        return flare_error_set(err, FLARE_ENOMEM, 0, "ws client: out of memory");
    c->wbuf.len = flare_ws_frame_header_encode((uint8_t *)c->wbuf.data, opcode, fin, rsv, len, key);
    const uint8_t *src = data;
    size_t off = 0;
    unsigned phase = 0;
    do {
        size_t n = len - off < SEND_CHUNK ? len - off : SEND_CHUNK;
        if (flare_buf_reserve(&c->wbuf, n) < 0)
            return flare_error_set(err, FLARE_ENOMEM, 0, "ws client: out of memory");
        phase = flare_ws_mask_copy(c->wbuf.data + c->wbuf.len, src + off, n, key, phase);
        c->wbuf.len += n;
        off += n;
        int rc = c->stream.write_all(c->stream.ctx, c->wbuf.data, c->wbuf.len, err);
        if (rc < 0) {
            close_stream(c); /* a partial frame went out: the stream is unusable */
            return rc;
        }
        c->wbuf.len = 0;
    } while (off < len);
    return 0;
}

static int send_message(flare_ws_client *c, uint8_t opcode, const void *data, size_t len,
                        flare_error *err)
{
    if (c->close_sent)
        return flare_error_set(err, FLARE_ECLOSED, 0, "ws client: close already sent");
    if (!data && len) return flare_error_set(err, FLARE_EINVAL, 0, "ws client: NULL data");
    if (!c->deflate || c->send_uncompressed) return send_raw(c, opcode, true, 0, data, len, err);
    c->zbuf.len = 0;
    int rc = flare_ws_deflate_message(c->deflate, data, len, &c->zbuf, err);
    if (rc < 0) return rc;
    return send_raw(c, opcode, true, FLARE_WS_RSV1, c->zbuf.data, c->zbuf.len, err);
}

int flare_ws_send_text(flare_ws_client *c, const char *text, size_t len, flare_error *err)
{
    if (!flare_ws_utf8_valid(text, len))
        return flare_error_set(err, FLARE_EINVAL, 0, "ws client: text message is not UTF-8");
    return send_message(c, FLARE_WS_OP_TEXT, text, len, err);
}

int flare_ws_send_binary(flare_ws_client *c, const void *data, size_t len, flare_error *err)
{
    return send_message(c, FLARE_WS_OP_BINARY, data, len, err);
}

int flare_ws_send_frame(flare_ws_client *c, uint8_t opcode, bool fin, const void *data, size_t len,
                        flare_error *err)
{
    bool control = (opcode & 0x8) != 0;
    if ((opcode >= 3 && opcode <= 7) || opcode >= 11 || (control && (!fin || len > 125)))
        return flare_error_set(err, FLARE_EINVAL, 0,
                               "ws client: opcode %u, fin %d, %zu bytes "
                               "is not a valid frame",
                               opcode, fin, len);
    if (c->close_sent)
        return flare_error_set(err, FLARE_ECLOSED, 0, "ws client: close already sent");
    if (opcode == FLARE_WS_OP_CLOSE) c->close_sent = true;
    return send_raw(c, opcode, fin, 0, data, len, err);
}

int flare_ws_ping(flare_ws_client *c, const void *data, size_t len, flare_error *err)
{
    if (len > FLARE_WS_MAX_CONTROL)
        return flare_error_set(err, FLARE_EINVAL, 0, "ws client: ping of %zu bytes (max 125)", len);
    return flare_ws_send_frame(c, FLARE_WS_OP_PING, true, data, len, err);
}

/* How long a close may take: flare_ws_close's wait for the reply, and any close we send. */
static int close_wait_ms(const flare_ws_client *c)
{
    return c->opts.read_timeout_ms > 0 ? c->opts.read_timeout_ms : CLOSE_WAIT_MS;
}

static int send_close(flare_ws_client *c, unsigned code, const char *reason, flare_error *err)
{
    uint8_t payload[FLARE_WS_MAX_CONTROL];
    size_t n = flare_ws_close_payload(payload, code, reason, reason ? strlen(reason) : 0);
    c->close_sent = true;
    /* With read_timeout_ms 0 nothing else bounds this send, and a peer that reads
     * nothing would hold it for ever once the socket buffers are full. In
     * flare_ws_close it shares one deadline with the wait for the peer's reply. */
    int left = close_wait_ms(c);
    if (c->close_deadline_ms) left = flare_monotonic_ms_until(c->close_deadline_ms);
    flare_ws__client_set_io_timeout(c, left > 0 ? left : 1);
    return send_raw(c, FLARE_WS_OP_CLOSE, true, 0, payload, n, err);
}

static void record_close(flare_ws_client *c, uint16_t code, const char *reason, size_t len)
{
    c->close_code = code;
    if (len >= sizeof c->close_reason) len = sizeof c->close_reason - 1;
    memcpy(c->close_reason, reason, len);
    c->close_reason[len] = '\0';
}

/* Handles one parser event; returns 1 when it is for the caller, 0 to go on. */
static int handle_event(flare_ws_client *c, const flare_ws_event *ev, flare_ws_message *msg,
                        flare_error *err)
{
    switch (ev->type) {
    case FLARE_WS_EV_TEXT:
    case FLARE_WS_EV_BINARY:
        msg->opcode = ev->type == FLARE_WS_EV_TEXT ? FLARE_WS_OP_TEXT : FLARE_WS_OP_BINARY;
        break;
    case FLARE_WS_EV_PING:
        /* §5.5.2: answer with the same application data, unless we are closing. */
        if (!c->close_sent) {
            int rc = send_raw(c, FLARE_WS_OP_PONG, true, 0, ev->data, ev->len, err);
            if (rc < 0) return rc;
        }
        if (!c->opts.deliver_control) return 0;
        msg->opcode = FLARE_WS_OP_PING;
        break;
    case FLARE_WS_EV_PONG:
        if (!c->opts.deliver_control) return 0; /* unsolicited pongs are fine (§5.5.3) */
        msg->opcode = FLARE_WS_OP_PONG;
        break;
    case FLARE_WS_EV_CLOSE: {
        record_close(c, ev->close_code, ev->reason, ev->reason_len);
        c->close_received = true;
        /* §5.5.1: echo the status code; 1005 means there was none to echo. */
        if (!c->close_sent && c->stream_open)
            send_close(c, ev->close_code == FLARE_WS_CLOSE_NO_STATUS ? 0 : ev->close_code, NULL,
                       NULL);
        close_stream(c);
        return flare_error_set(err, FLARE_ECLOSED, 0, "ws: peer closed with %u \"%s\"",
                               c->close_code, c->close_reason);
    }
    default:
        return 0;
    }
    msg->data = ev->data;
    msg->len = ev->len;
    return 1;
}

int flare_ws_recv_message(flare_ws_client *c, flare_ws_message *msg, flare_error *err)
{
    memset(msg, 0, sizeof *msg);
    if (c->close_received)
        return flare_error_set(err, FLARE_ECLOSED, 0, "ws: peer closed with %u", c->close_code);
    if (!c->stream_open)
        return flare_error_set(err, FLARE_ECLOSED, 0, "ws client: connection is closed");
    for (;;) {
        if (c->rpos < c->rbuf.len) {
            flare_ws_event ev;
            ssize_t n = flare_ws_parser_feed(&c->parser, c->rbuf.data + c->rpos,
                                             c->rbuf.len - c->rpos, &ev, err);
            if (n < 0) {
                /* §7.1.7: fail the connection with the code the rule names. */
                uint16_t code = flare_ws_parser_error_code(&c->parser);
                if (!c->close_sent) send_close(c, code, NULL, NULL);
                close_stream(c);
                return (int)n;
            }
            c->rpos += (size_t)n;
            int rc = handle_event(c, &ev, msg, err);
            if (rc != 0) return rc < 0 ? rc : 0;
            if (ev.type != FLARE_WS_EV_NONE) continue;
        }
        /* Keep the unconsumed tail (less than a frame header) and read more. */
        if (c->close_deadline_ms) {
            /* Closing: the wait is one deadline, however many messages, pings or pongs
             * the peer keeps sending instead of its close frame. */
            int left = flare_monotonic_ms_until(c->close_deadline_ms);
            if (left == 0)
                return flare_error_set(err, FLARE_ETIMEDOUT, 0,
                                       "ws close: no close frame from the peer in time");
            flare_ws__client_set_io_timeout(c, left);
        }
        flare_buf_consume(&c->rbuf, c->rpos);
        c->rpos = 0;
        if (flare_buf_reserve(&c->rbuf, READ_CHUNK) < 0)
            return flare_error_set(err, FLARE_ENOMEM, 0, "ws client: out of memory");
        ssize_t r = c->stream.read(c->stream.ctx, c->rbuf.data + c->rbuf.len,
                                   flare_buf_room(&c->rbuf), err);
        if (r == 0) {
            record_close(c, FLARE_WS_CLOSE_ABNORMAL, "", 0);
            close_stream(c);
            return flare_error_set(err, FLARE_ECLOSED, 0,
                                   "ws: connection ended without a close frame (1006)");
        }
        if (r < 0) return (int)r;
        c->rbuf.len += (size_t)r;
    }
}

int flare_ws_close(flare_ws_client *c, unsigned code, const char *reason, flare_error *err)
{
    if (code && !flare_ws_close_code_valid(code))
        return flare_error_set(err, FLARE_EINVAL, 0, "ws close: code %u may not be sent", code);
    if (reason && !flare_ws_utf8_valid(reason, strlen(reason)))
        return flare_error_set(err, FLARE_EINVAL, 0, "ws close: reason is not UTF-8");
    if (!c->close_received && !c->stream_open)
        return flare_error_set(err, FLARE_ECLOSED, 0,
                               "ws close: the connection ended without a close handshake");
    int rc = 0;
    c->close_deadline_ms = flare_monotonic_ms() + (uint64_t)close_wait_ms(c);
    if (!c->close_sent) rc = send_close(c, code, reason, err);
    if (rc == 0 && !c->close_received) {
        flare_ws_message msg;
        do
            rc = flare_ws_recv_message(c, &msg, err);
        while (rc == 0);
        if (rc == FLARE_ECLOSED && c->close_received) rc = 0;
    }
    c->close_deadline_ms = 0;
    close_stream(c);
    return rc;
}

uint16_t flare_ws_client_close_code(const flare_ws_client *c)
{
    return c->close_code;
}

const char *flare_ws_client_close_reason(const flare_ws_client *c)
{
    return c->close_reason;
}

const char *flare_ws_client_subprotocol(const flare_ws_client *c)
{
    return c->subprotocol[0] ? c->subprotocol : NULL;
}

const flare_ws_deflate_params *flare_ws_client_deflate(const flare_ws_client *c)
{
    return c->deflate ? &c->deflate_params : NULL;
}
