/*
 * fuzz_ws_client.c: the libflare WebSocket client against a server that says
 * anything: the opening handshake's answer (flare_ws_client_open, RFC 6455 §4.1,
 * RFC 7692 §7.1) and then frames (flare_ws_recv_message). Byte 0 picks the
 * options (offer permessage-deflate, offer subprotocols, deliver control frames,
 * a small message limit), byte 1 the size of each read; the rest is what the
 * server sends, with every "@A@" replaced by the Sec-WebSocket-Accept of the key
 * the client just sent, so inputs can get past the key check. Checks: an opened
 * client holds only what it offered; messages respect the limit, TEXT is UTF-8;
 * results are the documented ones; and everything the client writes after its
 * request is frames a server accepts (masked, well-formed).
 */
#include <string.h>

#include "flare/ws.h"
#include "fuzz.h"

#define MAX_MESSAGES 64
#define SMALL_LIMIT  64

typedef struct peer {
    const uint8_t *script;
    size_t script_len;
    char *reply; /* the script with the accept key filled in, built at the first read */
    size_t reply_len, pos, chunk;
    flare_buf written; /* every byte the client wrote */
    size_t request_len;
} peer;

/* The accept key for the Sec-WebSocket-Key in the client's request. */
static bool accept_of(const peer *p, char out[FLARE_WS_ACCEPT_LEN + 1])
{
    static const char field[] = "\r\nSec-WebSocket-Key: ";
    const char *req = p->written.data;
    const char *at = memmem(req, p->written.len, field, sizeof field - 1);
    if (!at) return false;
    const char *key = at + sizeof field - 1;
    FUZZ_CHECK((size_t)(key - req) + FLARE_WS_KEY_LEN <= p->written.len);
    FUZZ_CHECK(flare_ws_key_valid(key, FLARE_WS_KEY_LEN));
    return flare_ws_accept_key(key, FLARE_WS_KEY_LEN, out) == 0;
}

static void build_reply(peer *p)
{
    char accept[FLARE_WS_ACCEPT_LEN + 1];
    FUZZ_CHECK(accept_of(p, accept));
    p->reply = malloc(p->script_len * (FLARE_WS_ACCEPT_LEN / 3 + 1) + 1);
    FUZZ_CHECK(p->reply != NULL);
    for (size_t i = 0; i < p->script_len;) {
        if (p->script_len - i >= 3 && !memcmp(p->script + i, "@A@", 3)) {
            memcpy(p->reply + p->reply_len, accept, FLARE_WS_ACCEPT_LEN);
            p->reply_len += FLARE_WS_ACCEPT_LEN;
            i += 3;
        } else {
            p->reply[p->reply_len++] = (char)p->script[i++];
        }
    }
}

static ssize_t peer_read(void *ctx, void *buf, size_t len, flare_error *err)
{
    peer *p = ctx;
    (void)err;
    if (!p->reply) {
        p->request_len = p->written.len;
        build_reply(p);
    }
    size_t n = p->reply_len - p->pos;
    if (n > len) n = len;
    if (n > p->chunk) n = p->chunk;
    memcpy(buf, p->reply + p->pos, n);
    p->pos += n;
    return (ssize_t)n; /* 0 once the script is spent: the server closed */
}

static int peer_write_all(void *ctx, const void *buf, size_t len, flare_error *err)
{
    peer *p = ctx;
    if (flare_buf_append(&p->written, buf, len) < 0)
        return flare_error_set(err, FLARE_ENOMEM, 0, "fuzz: out of memory");
    return 0;
}

/* What the client wrote after its request must be masked frames a server parses. */
static void check_client_frames(peer *p)
{
    if (p->written.len == p->request_len) return;
    flare_ws_parser_config cfg = {.server = true};
    flare_ws_parser sp;
    flare_ws_parser_init(&sp, &cfg);
    char *buf = p->written.data + p->request_len;
    size_t len = p->written.len - p->request_len;
    while (len) {
        flare_ws_event ev;
        ssize_t n = flare_ws_parser_feed(&sp, buf, len, &ev, NULL);
        FUZZ_CHECK(n >= 0); /* masked, valid, a close code we may send */
        if (n == 0) break;
        buf += n;
        len -= (size_t)n;
        if (ev.type == FLARE_WS_EV_CLOSE) break; /* nothing is written after our close */
    }
    FUZZ_CHECK(len == 0);
    flare_ws_parser_free(&sp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > 65536) return 0;
    static const char *const protos[] = {"chat", "superchat"};
    flare_ws_client_options o = {
        .deflate = data[0] & 1,
        .subprotocols = (data[0] & 2) ? protos : NULL,
        .num_subprotocols = (data[0] & 2) ? 2 : 0,
        .deliver_control = data[0] & 4,
        .max_message = (data[0] & 8) ? SMALL_LIMIT : 0,
    };
    peer p = {.script = data + 2, .script_len = size - 2, .chunk = (size_t)data[1] + 1};
    flare_ws_stream stream = {.ctx = &p, .read = peer_read, .write_all = peer_write_all};

    flare_ws_client *c = NULL;
    int rc = flare_ws_client_open(&c, &stream, "fuzz.example", "/r", &o, NULL);
    FUZZ_CHECK(p.written.len > 0 && !memcmp(p.written.data, "GET /r HTTP/1.1\r\n", 17));
    if (rc < 0) {
        FUZZ_CHECK(c == NULL);
        FUZZ_CHECK(rc == FLARE_EPROTO || rc == FLARE_EPARSE || rc == FLARE_ECLOSED ||
                   rc == FLARE_EHTTP_STATUS || rc == FLARE_EUNSUPPORTED || rc == FLARE_ENOMEM);
        goto out;
    }
    const char *sub = flare_ws_client_subprotocol(c);
    if (sub) FUZZ_CHECK(o.num_subprotocols && (!strcmp(sub, "chat") || !strcmp(sub, "superchat")));
    const flare_ws_deflate_params *dp = flare_ws_client_deflate(c);
    if (dp) {
        FUZZ_CHECK(o.deflate);
        /* 8 is accepted too: zlib cannot deflate with it, so the client sends
         * its messages uncompressed. */
        FUZZ_CHECK(dp->client_max_window_bits == 0 ||
                   (dp->client_max_window_bits >= 8 && dp->client_max_window_bits <= 15));
        FUZZ_CHECK(dp->server_max_window_bits == 0 ||
                   (dp->server_max_window_bits >= 8 && dp->server_max_window_bits <= 15));
    }
    uint64_t limit = o.max_message ? o.max_message : FLARE_WS_DEFAULT_MAX_MESSAGE;
    for (int i = 0; i < MAX_MESSAGES; i++) {
        flare_ws_message m;
        rc = flare_ws_recv_message(c, &m, NULL);
        if (rc < 0) {
            FUZZ_CHECK(rc == FLARE_ECLOSED || rc == FLARE_EPROTO || rc == FLARE_ELIMIT ||
                       rc == FLARE_ENOMEM);
            if (rc == FLARE_ECLOSED) {
                uint16_t code = flare_ws_client_close_code(c);
                FUZZ_CHECK(code == 1005 || code == 1006 || flare_ws_close_code_valid(code));
                const char *reason = flare_ws_client_close_reason(c);
                FUZZ_CHECK(flare_ws_utf8_valid(reason, strlen(reason)));
            }
            break;
        }
        FUZZ_CHECK(m.data != NULL || m.len == 0);
        if (m.opcode == FLARE_WS_OP_TEXT) FUZZ_CHECK(flare_ws_utf8_valid(m.data, m.len));
        if (m.opcode == FLARE_WS_OP_TEXT || m.opcode == FLARE_WS_OP_BINARY) {
            FUZZ_CHECK(m.len <= limit);
        } else {
            FUZZ_CHECK(o.deliver_control);
            FUZZ_CHECK(m.opcode == FLARE_WS_OP_PING || m.opcode == FLARE_WS_OP_PONG);
            FUZZ_CHECK(m.len <= FLARE_WS_MAX_CONTROL);
        }
    }
    check_client_frames(&p);
    flare_ws_client_free(c);
out:
    free(p.reply);
    flare_buf_free(&p.written);
    return 0;
}
