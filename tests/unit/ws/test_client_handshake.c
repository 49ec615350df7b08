/*
 * test_client_handshake.c: the client's opening handshake (client_handshake.c)
 * over a scripted in-memory stream: the "server" is a response template whose
 * %s becomes the Sec-WebSocket-Accept of the key the client sent, followed by
 * canned frames. Each case says whether the client must accept the answer and,
 * if so, what it then negotiated; refusals name the rule (RFC 6455 §4.1,
 * RFC 7692 §7.1).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flare/ws.h"

typedef struct script {
    const char *response; /* printf format: each %s (two at most) is the accept value */
    const void *frames;   /* bytes sent right behind the head */
    size_t frames_len;
    flare_buf written; /* everything the client wrote */
    flare_buf in;      /* what the client reads */
    size_t in_pos;
    bool closed;
} script;

static ssize_t script_read(void *ctx, void *buf, size_t len, flare_error *err)
{
    script *s = ctx;
    (void)err;
    size_t n = s->in.len - s->in_pos;
    if (n > len) n = len;
    if (n) memcpy(buf, s->in.data + s->in_pos, n);
    s->in_pos += n;
    return (ssize_t)n;
}

/* The request goes out in one write: answer it from its key. */
static int script_write(void *ctx, const void *buf, size_t len, flare_error *err)
{
    script *s = ctx;
    (void)err;
    bool first = s->written.len == 0;
    assert_int_equal(flare_buf_append(&s->written, buf, len), 0);
    if (!first) return 0;
    assert_int_equal(flare_buf_append(&s->written, "", 1), 0);
    const char *k = strstr(s->written.data, "Sec-WebSocket-Key: ");
    assert_non_null(k);
    k += strlen("Sec-WebSocket-Key: ");
    s->written.len--;
    char accept[FLARE_WS_ACCEPT_LEN + 1];
    assert_int_equal(flare_ws_accept_key(k, FLARE_WS_KEY_LEN, accept), 0);
    assert_int_equal(flare_buf_appendf(&s->in, s->response, accept, accept), 0); /* up to two %s */
    if (s->frames_len) assert_int_equal(flare_buf_append(&s->in, s->frames, s->frames_len), 0);
    return 0;
}

static void script_close(void *ctx)
{
    ((script *)ctx)->closed = true;
}

static void script_free(script *s)
{
    flare_buf_free(&s->written);
    flare_buf_free(&s->in);
}

#define HEAD101                                                                                    \
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"            \
    "Sec-WebSocket-Accept: %s\r\n"

/* Opens a client over the script; returns its result, *out the client or NULL. */
static int open_with(script *s, const flare_ws_client_options *o, flare_ws_client **out,
                     flare_error *err)
{
    flare_ws_stream st = {s, script_read, script_write, script_close};
    return flare_ws_client_open(out, &st, "example.com", "/", o, err);
}

static void test_answers_accepted(void **state)
{
    (void)state;
    static const char *const accepted[] = {
        HEAD101 "\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\n"
        "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Accept:  %s \r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: x\r\n"
        "Connection: upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
        /* RFC 9110 §15.2: interim responses before the answer are skipped */
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>; "
        "rel=preload\r\n\r\n" HEAD101 "\r\n",
    };
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
        script s = {.response = accepted[i]};
        flare_ws_client *c;
        flare_error err;
        if (open_with(&s, NULL, &c, &err) < 0) fail_msg("case %zu: %s", i, err.message);
        flare_ws_client_free(c);
        assert_true(s.closed);
        script_free(&s);
    }
}

static void test_answers_refused(void **state)
{
    (void)state;
    const struct {
        const char *response;
        int rc;
        const char *why;
    } cases[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", FLARE_EHTTP_STATUS, "200"},
        {"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: %s\r\n\r\n",
         FLARE_EPROTO, "Upgrade"},
        {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
         "Sec-WebSocket-Accept: %s\r\n\r\n",
         FLARE_EPROTO, "Connection"},
        {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: %s\r\n\r\n",
         FLARE_EPROTO, "Upgrade"},
        /* RFC 6455 §4.1: the 101's Upgrade must be websocket itself; a list would
         * switch to websocket layered over another protocol (RFC 9110 §7.8). */
        {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo, websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: %s\r\n\r\n",
         FLARE_EPROTO, "Upgrade"},
        {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nUpgrade: websocket\r\n"
         "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
         FLARE_EPROTO, "Upgrade"},
        {HEAD101 "Sec-WebSocket-Accept: %s\r\n\r\n", FLARE_EPROTO, "Accept"},
        {HEAD101 "Sec-WebSocket-Protocol: chat\r\n\r\n", FLARE_EPROTO, "subprotocol"},
        /* permessage-deflate was not offered. */
        {HEAD101 "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n", FLARE_EPROTO, "extension"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        script s = {.response = cases[i].response};
        flare_ws_client *c = (flare_ws_client *)&s;
        flare_error err;
        int rc = open_with(&s, NULL, &c, &err);
        if (rc != cases[i].rc || !strstr(err.message, cases[i].why))
            fail_msg("case %zu: rc %d \"%s\"", i, rc, err.message);
        assert_null(c);
        assert_true(s.closed); /* the stream is closed on failure too */
        script_free(&s);
    }
    /* Interim responses count against the head limit: they cannot go on for ever. */
    flare_buf many = FLARE_BUF_INIT;
    for (int i = 0; i < 1000; i++)
        assert_int_equal(flare_buf_append_str(&many, "HTTP/1.1 100 Continue\r\n\r\n"), 0);
    assert_int_equal(flare_buf_append(&many, HEAD101 "\r\n", sizeof HEAD101 "\r\n"), 0);
    script s = {.response = many.data};
    flare_ws_client *c;
    flare_error err;
    assert_int_equal(open_with(&s, NULL, &c, &err), FLARE_EPARSE);
    assert_non_null(strstr(err.message, "interim"));
    assert_null(c);
    script_free(&s);
    flare_buf_free(&many);
}

static void test_deflate_answers(void **state)
{
    (void)state;
    const struct {
        const char *ext;
        int rc;
        uint8_t server_bits, client_bits;
        bool snct, cnct;
    } cases[] = {
        {"permessage-deflate", 0, 15, 15, false, false},
        {"permessage-deflate; server_max_window_bits=10", 0, 10, 15, false, false},
        {"permessage-deflate; client_max_window_bits=9; client_no_context_takeover", 0, 15, 9,
         false, true},
        {"permessage-deflate; server_no_context_takeover", 0, 15, 15, true, false},
        /* Our offer said any window will do: 8 is taken, and kept by sending uncompressed. */
        {"permessage-deflate; client_max_window_bits=8", 0, 15, 8, false, false},
        /* §7.1.2.2: in an answer client_max_window_bits must have a value. */
        {"permessage-deflate; client_max_window_bits", FLARE_EPROTO, 0, 0, false, false},
        {"permessage-deflate; client_max_window_bits=16", FLARE_EPROTO, 0, 0, false, false},
        {"permessage-deflate; server_max_window_bits=7", FLARE_EPROTO, 0, 0, false, false},
        {"permessage-deflate; server_max_window_bits=010", FLARE_EPROTO, 0, 0, false, false},
        {"permessage-deflate; x=1", FLARE_EPROTO, 0, 0, false, false},
        {"permessage-deflate; server_no_context_takeover; server_no_context_takeover", FLARE_EPROTO,
         0, 0, false, false},
        {"permessage-deflate, permessage-deflate", FLARE_EPROTO, 0, 0, false, false},
        {"permessage-deflate, x-other", FLARE_EPROTO, 0, 0, false, false},
        {"permessage-deflate; ", FLARE_EPROTO, 0, 0, false, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char response[512];
        snprintf(response, sizeof response, "%sSec-WebSocket-Extensions: %s\r\n\r\n", HEAD101,
                 cases[i].ext);
        script s = {.response = response};
        flare_ws_client_options o = {.deflate = true};
        flare_ws_client *c;
        flare_error err;
        int rc = open_with(&s, &o, &c, &err);
        if (rc != cases[i].rc)
            fail_msg("case %zu (%s): rc %d %s", i, cases[i].ext, rc, err.message);
        assert_non_null(strstr(s.written.data, "Sec-WebSocket-Extensions: permessage-deflate"));
        if (rc == 0) {
            const flare_ws_deflate_params *p = flare_ws_client_deflate(c);
            assert_non_null(p);
            assert_int_equal(p->server_max_window_bits, cases[i].server_bits);
            assert_int_equal(p->client_max_window_bits, cases[i].client_bits);
            assert_int_equal(p->server_no_context_takeover, cases[i].snct);
            assert_int_equal(p->client_no_context_takeover, cases[i].cnct);
            /* A message goes out compressed (RSV1) unless our window is 8 bits. */
            size_t at = s.written.len;
            assert_int_equal(flare_ws_send_text(c, "aaaaaaaaaaaaaaaa", 16, &err), 0);
            assert_true(s.written.len > at);
            bool rsv1 = (s.written.data[at] & 0x40) != 0;
            assert_int_equal(rsv1, cases[i].client_bits != 8);
        }
        flare_ws_client_free(c);
        script_free(&s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answers_accepted),
        cmocka_unit_test(test_answers_refused),
        cmocka_unit_test(test_deflate_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
