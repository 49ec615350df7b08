/*
 * test_parser.c: the message assembler. Every receive rule of RFC 6455 §5 and
 * RFC 7692 §6 is broken once and must fail with its exact close code; valid
 * streams (fragments, interleaved control frames, compressed messages) must give
 * exactly the expected events. Each stream is fed whole and in pieces of 1, 2, 3,
 * 7 and 64 bytes, the way a reader with a small buffer would, and all feedings
 * must agree.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flare/ws.h"

static const uint8_t key[4] = {0x11, 0x22, 0x33, 0x44};

typedef struct rec_event {
    flare_ws_event_type type;
    flare_buf data;
    uint16_t close_code;
    char reason[128];
} rec_event;

enum { MAX_EVENTS = 16 };

typedef struct run_result {
    int rc;              /* 0, or the failing return code */
    uint16_t error_code; /* close code named by the parser */
    size_t nev;
    rec_event ev[MAX_EVENTS];
} run_result;

static void result_free(run_result *r)
{
    for (size_t i = 0; i < r->nev; i++)
        flare_buf_free(&r->ev[i].data);
}

/* Feeds wire[0..n) in pieces of `step` bytes, keeping unconsumed bytes like a real
 * reader, and records every event (copied before the bytes are moved). */
static void run(const flare_ws_parser_config *cfg, const flare_buf *wire, size_t step,
                run_result *out)
{
    memset(out, 0, sizeof *out);
    flare_ws_parser p;
    flare_ws_parser_init(&p, cfg);
    uint8_t *buf = malloc(wire->len + 1);
    assert_non_null(buf);
    size_t have = 0, given = 0;
    for (;;) {
        size_t k = wire->len - given < step ? wire->len - given : step;
        memcpy(buf + have, wire->data + given, k);
        have += k;
        given += k;
        for (;;) {
            flare_ws_event ev;
            flare_error err;
            ssize_t c = flare_ws_parser_feed(&p, buf, have, &ev, &err);
            if (c < 0) {
                out->rc = (int)c;
                out->error_code = flare_ws_parser_error_code(&p);
                assert_int_equal(err.code, c);
                assert_true(strlen(err.message) > 0);
                goto done;
            }
            if (ev.type != FLARE_WS_EV_NONE) {
                assert_true(out->nev < MAX_EVENTS);
                rec_event *r = &out->ev[out->nev++];
                r->type = ev.type;
                r->data = (flare_buf)FLARE_BUF_INIT;
                assert_int_equal(flare_buf_append(&r->data, ev.data, ev.len), 0);
                r->close_code = ev.close_code;
                assert_true(ev.reason_len < sizeof r->reason);
                if (ev.reason_len) memcpy(r->reason, ev.reason, ev.reason_len);
            }
            memmove(buf, buf + c, have - (size_t)c);
            have -= (size_t)c;
            if (ev.type == FLARE_WS_EV_NONE) break;
        }
        /* After a close nothing more is read; before it, a partial header is all
         * that may stay behind. */
        if (out->nev && out->ev[out->nev - 1].type == FLARE_WS_EV_CLOSE) break;
        assert_true(have < FLARE_WS_MAX_HEADER);
        if (given == wire->len) break;
    }
done:
    free(buf);
    flare_ws_parser_free(&p);
}

static const size_t steps[] = {SIZE_MAX, 1, 2, 3, 7, 64};

/* Runs with every step size; all must match the whole-buffer run, which is returned. */
static void run_all(const flare_ws_parser_config *cfg, const flare_buf *wire, run_result *out)
{
    run(cfg, wire, SIZE_MAX, out);
    for (size_t s = 1; s < sizeof steps / sizeof steps[0]; s++) {
        run_result r;
        run(cfg, wire, steps[s], &r);
        if (r.rc != out->rc || r.error_code != out->error_code || r.nev != out->nev)
            fail_msg("step %zu: rc %d code %u events %zu, whole: rc %d code %u events %zu",
                     steps[s], r.rc, r.error_code, r.nev, out->rc, out->error_code, out->nev);
        for (size_t i = 0; i < r.nev; i++) {
            assert_int_equal(r.ev[i].type, out->ev[i].type);
            assert_int_equal(r.ev[i].data.len, out->ev[i].data.len);
            if (r.ev[i].data.len)
                assert_memory_equal(r.ev[i].data.data, out->ev[i].data.data, r.ev[i].data.len);
            assert_int_equal(r.ev[i].close_code, out->ev[i].close_code);
        }
        result_free(&r);
    }
}

/* A client frame (masked), as a server receives it. */
static void cframe(flare_buf *w, uint8_t op, bool fin, uint8_t rsv, const void *p, size_t n)
{
    assert_int_equal(flare_ws_frame_encode(w, op, fin, rsv, p, n, key), 0);
}

/* Raw header bytes followed by a mask key, for frames the encoder refuses. */
static void raw(flare_buf *w, const uint8_t *hdr, size_t n)
{
    assert_int_equal(flare_buf_append(w, hdr, n), 0);
}

static const flare_ws_parser_config server_cfg = {.server = true};

/* Expects the stream to fail with `code` in every feeding. */
static void expect_fail(const flare_ws_parser_config *cfg, flare_buf *w, uint16_t code)
{
    run_result r;
    run_all(cfg, w, &r);
    if (r.error_code != code)
        fail_msg("expected close %u, got %u (rc %d)", code, r.error_code, r.rc);
    assert_int_equal(r.rc, code == 1009 ? FLARE_ELIMIT : FLARE_EPROTO);
    result_free(&r);
    w->len = 0;
}

static void test_simple_messages(void **state)
{
    (void)state;
    flare_buf w = FLARE_BUF_INIT;
    cframe(&w, FLARE_WS_OP_TEXT, true, 0, "Hello", 5);
    static char big[70000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(i * 7);
    const size_t sizes[] = {0, 125, 126, 65535, 65536, sizeof big};
    for (size_t i = 0; i < 6; i++)
        cframe(&w, FLARE_WS_OP_BINARY, true, 0, big, sizes[i]);
    run_result r;
    run_all(&server_cfg, &w, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.nev, 7);
    assert_int_equal(r.ev[0].type, FLARE_WS_EV_TEXT);
    assert_int_equal(r.ev[0].data.len, 5);
    assert_memory_equal(r.ev[0].data.data, "Hello", 5);
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(r.ev[1 + i].type, FLARE_WS_EV_BINARY);
        assert_int_equal(r.ev[1 + i].data.len, sizes[i]);
        if (sizes[i]) assert_memory_equal(r.ev[1 + i].data.data, big, sizes[i]);
    }
    result_free(&r);
    flare_buf_free(&w);
}

/* Found by fuzz/fuzz_ws_parser (corpus crash-fb803a04f4d1f74f): a text message whose
 * first fragment is empty validated UTF-8 at msg.data + 0 while msg.data was still
 * NULL, undefined behaviour that UBSan (the ASan+UBSan CI run) reports. */
static void test_empty_text_fragments(void **state)
{
    (void)state;
    flare_buf w = FLARE_BUF_INIT;
    cframe(&w, FLARE_WS_OP_TEXT, false, 0, "", 0);
    cframe(&w, FLARE_WS_OP_CONTINUATION, false, 0, "", 0);
    cframe(&w, FLARE_WS_OP_CONTINUATION, true, 0, "hi", 2);
    cframe(&w, FLARE_WS_OP_TEXT, false, 0, "", 0);
    cframe(&w, FLARE_WS_OP_CONTINUATION, true, 0, "", 0);
    run_result r;
    run_all(&server_cfg, &w, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.nev, 2);
    assert_int_equal(r.ev[0].type, FLARE_WS_EV_TEXT);
    assert_int_equal(r.ev[0].data.len, 2);
    assert_memory_equal(r.ev[0].data.data, "hi", 2);
    assert_int_equal(r.ev[1].type, FLARE_WS_EV_TEXT);
    assert_int_equal(r.ev[1].data.len, 0);
    result_free(&r);
    flare_buf_free(&w);
}

static void test_fragments_with_interleaved_control(void **state)
{
    (void)state;
    flare_buf w = FLARE_BUF_INIT;
    cframe(&w, FLARE_WS_OP_TEXT, false, 0, "frag", 4);
    cframe(&w, FLARE_WS_OP_PING, true, 0, "p1", 2);
    cframe(&w, FLARE_WS_OP_CONTINUATION, false, 0, "", 0);
    cframe(&w, FLARE_WS_OP_PONG, true, 0, "unsolicited", 11);
    cframe(&w, FLARE_WS_OP_CONTINUATION, false, 0, "ment", 4);
    cframe(&w, FLARE_WS_OP_CONTINUATION, true, 0, "ed", 2);
    cframe(&w, FLARE_WS_OP_BINARY, false, 0, "\x00\x01", 2);
    cframe(&w, FLARE_WS_OP_CONTINUATION, true, 0, "\x02", 1);
    cframe(&w, FLARE_WS_OP_CLOSE, true, 0,
           "\x03\xe8"
           "done",
           6);
    cframe(&w, FLARE_WS_OP_TEXT, true, 0, "after close", 11); /* never read */
    run_result r;
    run_all(&server_cfg, &w, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.nev, 5);
    assert_int_equal(r.ev[0].type, FLARE_WS_EV_PING);
    assert_memory_equal(r.ev[0].data.data, "p1", 2);
    assert_int_equal(r.ev[1].type, FLARE_WS_EV_PONG); /* reported, not an error */
    assert_int_equal(r.ev[2].type, FLARE_WS_EV_TEXT);
    assert_int_equal(r.ev[2].data.len, 10);
    assert_memory_equal(r.ev[2].data.data, "fragmented", 10);
    assert_int_equal(r.ev[3].type, FLARE_WS_EV_BINARY);
    assert_memory_equal(r.ev[3].data.data, "\x00\x01\x02", 3);
    assert_int_equal(r.ev[4].type, FLARE_WS_EV_CLOSE);
    assert_int_equal(r.ev[4].close_code, 1000);
    assert_string_equal(r.ev[4].reason, "done");
    result_free(&r);
    flare_buf_free(&w);
}

static void test_rsv_bits(void **state)
{
    (void)state;
    flare_buf w = FLARE_BUF_INIT;
    for (uint8_t rsv = 1; rsv < 8; rsv++) {
        cframe(&w, FLARE_WS_OP_TEXT, true, rsv, "x", 1);
        expect_fail(&server_cfg, &w, 1002);
        cframe(&w, FLARE_WS_OP_PING, true, rsv, "x", 1);
        expect_fail(&server_cfg, &w, 1002);
    }
    /* With permessage-deflate only RSV1, only on a message's first frame. */
    flare_ws_deflate *d;
    assert_int_equal(flare_ws_deflate_new(&d, NULL, true, -1, NULL), 0);
    flare_ws_parser_config cfg = {.server = true, .deflate = d};
    cframe(&w, FLARE_WS_OP_TEXT, true, FLARE_WS_RSV2, "x", 1);
    expect_fail(&cfg, &w, 1002);
    cframe(&w, FLARE_WS_OP_TEXT, true, FLARE_WS_RSV1 | FLARE_WS_RSV3, "x", 1);
    expect_fail(&cfg, &w, 1002);
    cframe(&w, FLARE_WS_OP_PING, true, FLARE_WS_RSV1, "x", 1);
    expect_fail(&cfg, &w, 1002);
    cframe(&w, FLARE_WS_OP_TEXT, false, 0, "x", 1);
    cframe(&w, FLARE_WS_OP_CONTINUATION, true, FLARE_WS_RSV1, "x", 1);
    expect_fail(&cfg, &w, 1002);
    flare_ws_deflate_free(d);
    flare_buf_free(&w);
}

static void test_reserved_opcodes(void **state)
{
    (void)state;
    flare_buf w = FLARE_BUF_INIT;
    for (unsigned op = 0; op < 16; op++) {
        if (!((op >= 3 && op <= 7) || op >= 11)) continue;
        uint8_t h[6] = {(uint8_t)(0x80 | op), 0x80, 1, 2, 3, 4};
        raw(&w, h, sizeof h);
        expect_fail(&server_cfg, &w, 1002);
        /* Also in the middle of a fragmented message. */
        cframe(&w, FLARE_WS_OP_TEXT, false, 0, "a", 1);
        raw(&w, h, sizeof h);
        expect_fail(&server_cfg, &w, 1002);
    }
    flare_buf_free(&w);
}

static void test_control_frame_rules(void **state)
{
    (void)state;
    flare_buf w = FLARE_BUF_INIT;
    const uint8_t ops[] = {FLARE_WS_OP_PING, FLARE_WS_OP_PONG, FLARE_WS_OP_CLOSE};
    for (size_t i = 0; i < 3; i++) {
        uint8_t big[8] = {(uint8_t)(0x80 | ops[i]), 0x80 | 126, 0, 126, 1, 2, 3, 4};
        raw(&w, big, sizeof big);
        expect_fail(&server_cfg, &w, 1002);
        uint8_t frag[6] = {ops[i], 0x80, 1, 2, 3, 4};
        raw(&w, frag, sizeof frag);
        expect_fail(&server_cfg, &w, 1002);
    }
    /* 125 bytes is fine. */
    char p125[125];
    memset(p125, 'p', sizeof p125);
    cframe(&w, FLARE_WS_OP_PING, true, 0, p125, 125);
    run_result r;
    run_all(&server_cfg, &w, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.nev, 1);
    assert_int_equal(r.ev[0].data.len, 125);
    result_free(&r);
    flare_buf_free(&w);
}

static void test_fragmentation_rules(void **state)
{
    (void)state;
    flare_buf w = FLARE_BUF_INIT;
    cframe(&w, FLARE_WS_OP_CONTINUATION, true, 0, "x", 1);
    expect_fail(&server_cfg, &w, 1002);
    cframe(&w, FLARE_WS_OP_TEXT, true, 0, "done", 4);
    cframe(&w, FLARE_WS_OP_CONTINUATION, false, 0, "x", 1);
    expect_fail(&server_cfg, &w, 1002);
    cframe(&w, FLARE_WS_OP_TEXT, false, 0, "a", 1);
    cframe(&w, FLARE_WS_OP_TEXT, true, 0, "b", 1);
    expect_fail(&server_cfg, &w, 1002);
    cframe(&w, FLARE_WS_OP_BINARY, false, 0, "a", 1);
    cframe(&w, FLARE_WS_OP_TEXT, false, 0, "b", 1);
    expect_fail(&server_cfg, &w, 1002);
    flare_buf_free(&w);
}

static void test_utf8_rules(void **state)
{
    (void)state;
    flare_buf w = FLARE_BUF_INIT;
    cframe(&w, FLARE_WS_OP_TEXT, true, 0, "\xce\xba\xed\xa0\x80", 5);
    expect_fail(&server_cfg, &w, 1007);
    /* Fail fast: the first fragment proves it, before the message ends. */
    cframe(&w, FLARE_WS_OP_TEXT, false, 0, "ok\xc0\xaf", 4);
    expect_fail(&server_cfg, &w, 1007);
    /* Across fragments: a lead byte at the end, ASCII in the next. */
    cframe(&w, FLARE_WS_OP_TEXT, false, 0, "\xce", 1);
    cframe(&w, FLARE_WS_OP_CONTINUATION, true, 0, "A", 1);
    expect_fail(&server_cfg, &w, 1007);
    /* Truncated when the message ends. */
    cframe(&w, FLARE_WS_OP_TEXT, false, 0, "ab", 2);
    cframe(&w, FLARE_WS_OP_CONTINUATION, true, 0, "\xf0\x9f\x98", 3);
    expect_fail(&server_cfg, &w, 1007);
    /* Beyond U+10FFFF. */
    cframe(&w, FLARE_WS_OP_TEXT, true, 0, "\xf4\x90\x80\x80", 4);
    expect_fail(&server_cfg, &w, 1007);
    /* Binary messages are not checked. */
    cframe(&w, FLARE_WS_OP_BINARY, true, 0, "\xff\xfe", 2);
    /* A code point split across three fragments is fine. */
    cframe(&w, FLARE_WS_OP_TEXT, false, 0, "\xf0\x9f", 2);
    cframe(&w, FLARE_WS_OP_CONTINUATION, false, 0, "\x98", 1);
    cframe(&w, FLARE_WS_OP_CONTINUATION, true, 0, "\x80", 1);
    run_result r;
    run_all(&server_cfg, &w, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.nev, 2);
    assert_int_equal(r.ev[1].type, FLARE_WS_EV_TEXT);
    assert_memory_equal(r.ev[1].data.data, "\xf0\x9f\x98\x80", 4);
    result_free(&r);
    flare_buf_free(&w);
}

static void test_size_limits(void **state)
{
    (void)state;
    flare_ws_parser_config cfg = {.server = true, .max_message = 100};
    flare_buf w = FLARE_BUF_INIT;
    char p[200];
    memset(p, 'x', sizeof p);
    cframe(&w, FLARE_WS_OP_BINARY, true, 0, p, 100);
    cframe(&w, FLARE_WS_OP_TEXT, false, 0, p, 50);
    cframe(&w, FLARE_WS_OP_CONTINUATION, true, 0, p, 50);
    run_result r;
    run_all(&cfg, &w, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.nev, 2);
    result_free(&r);
    w.len = 0;
    cframe(&w, FLARE_WS_OP_BINARY, true, 0, p, 101);
    expect_fail(&cfg, &w, 1009);
    /* Refused from the header alone, before the payload arrives. */
    cframe(&w, FLARE_WS_OP_BINARY, true, 0, p, 200);
    w.len = 8;
    expect_fail(&cfg, &w, 1009);
    cframe(&w, FLARE_WS_OP_TEXT, false, 0, p, 60);
    cframe(&w, FLARE_WS_OP_CONTINUATION, true, 0, p, 60);
    expect_fail(&cfg, &w, 1009);
    /* A huge 64-bit length with the default limit. */
    uint8_t huge[14] = {0x82, 0x80 | 127, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4};
    raw(&w, huge, sizeof huge);
    expect_fail(&server_cfg, &w, 1009);
    flare_buf_free(&w);
}

static void test_close_rules(void **state)
{
    (void)state;
    flare_buf w = FLARE_BUF_INIT;
    cframe(&w, FLARE_WS_OP_CLOSE, true, 0, "\x03", 1);
    expect_fail(&server_cfg, &w, 1002);
    const unsigned bad[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t c[2] = {(uint8_t)(bad[i] >> 8), (uint8_t)bad[i]};
        cframe(&w, FLARE_WS_OP_CLOSE, true, 0, c, 2);
        expect_fail(&server_cfg, &w, 1002);
    }
    cframe(&w, FLARE_WS_OP_CLOSE, true, 0, "\x03\xe8\xff", 3);
    expect_fail(&server_cfg, &w, 1002);
    const unsigned good[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4999};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        uint8_t c[4] = {(uint8_t)(good[i] >> 8), (uint8_t)good[i], 'o', 'k'};
        cframe(&w, FLARE_WS_OP_CLOSE, true, 0, c, 4);
        run_result r;
        run_all(&server_cfg, &w, &r);
        assert_int_equal(r.rc, 0);
        assert_int_equal(r.nev, 1);
        assert_int_equal(r.ev[0].close_code, good[i]);
        assert_string_equal(r.ev[0].reason, "ok");
        result_free(&r);
        w.len = 0;
    }
    cframe(&w, FLARE_WS_OP_CLOSE, true, 0, "", 0);
    run_result r;
    run_all(&server_cfg, &w, &r);
    assert_int_equal(r.nev, 1);
    assert_int_equal(r.ev[0].close_code, 1005);
    result_free(&r);
    flare_buf_free(&w);
}

static void test_masking_roles(void **state)
{
    (void)state;
    flare_buf w = FLARE_BUF_INIT;
    assert_int_equal(flare_ws_frame_encode(&w, FLARE_WS_OP_TEXT, true, 0, "hi", 2, NULL), 0);
    expect_fail(&server_cfg, &w, 1002); /* §5.1: client frames are masked */
    flare_ws_parser_config client = {.server = false};
    cframe(&w, FLARE_WS_OP_TEXT, true, 0, "hi", 2);
    expect_fail(&client, &w, 1002); /* server frames are not */
    assert_int_equal(flare_ws_frame_encode(&w, FLARE_WS_OP_TEXT, true, 0, "hi", 2, NULL), 0);
    run_result r;
    run_all(&client, &w, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.nev, 1);
    assert_memory_equal(r.ev[0].data.data, "hi", 2);
    result_free(&r);
    flare_buf_free(&w);
}

static void test_bad_lengths(void **state)
{
    (void)state;
    flare_buf w = FLARE_BUF_INIT;
    uint8_t nm16[8] = {0x82, 0x80 | 126, 0, 5, 1, 2, 3, 4};
    raw(&w, nm16, sizeof nm16);
    expect_fail(&server_cfg, &w, 1002);
    uint8_t nm64[14] = {0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 1, 2, 3, 4};
    raw(&w, nm64, sizeof nm64);
    expect_fail(&server_cfg, &w, 1002);
    uint8_t msb[14] = {0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
    raw(&w, msb, sizeof msb);
    expect_fail(&server_cfg, &w, 1002);
    flare_buf_free(&w);
}

static void test_zero_copy_and_sticky_failure(void **state)
{
    (void)state;
    flare_buf w = FLARE_BUF_INIT;
    cframe(&w, FLARE_WS_OP_BINARY, true, 0, "abc", 3);
    flare_ws_parser p;
    flare_ws_parser_init(&p, NULL); /* NULL: server defaults */
    flare_ws_event ev;
    assert_int_equal(flare_ws_parser_feed(&p, w.data, w.len, &ev, NULL), (ssize_t)w.len);
    assert_int_equal(ev.type, FLARE_WS_EV_BINARY);
    assert_ptr_equal(ev.data, w.data + 6); /* unmasked in place */
    assert_memory_equal(ev.data, "abc", 3);
    assert_int_equal(p.msg.cap, 0); /* nothing allocated */
    assert_int_equal(flare_ws_parser_feed(&p, w.data, 0, &ev, NULL), 0);
    assert_int_equal(ev.type, FLARE_WS_EV_NONE);
    /* After a failure every call fails with the same code. */
    uint8_t bad[2] = {0x83, 0x80};
    assert_int_equal(flare_ws_parser_feed(&p, bad, 2, &ev, NULL), FLARE_EPROTO);
    assert_int_equal(flare_ws_parser_error_code(&p), 1002);
    w.len = 0;
    cframe(&w, FLARE_WS_OP_BINARY, true, 0, "abc", 3);
    assert_int_equal(flare_ws_parser_feed(&p, w.data, w.len, &ev, NULL), FLARE_EPROTO);
    flare_ws_parser_free(&p);
    flare_buf_free(&w);
}

static void test_big_buffer_given_back(void **state)
{
    (void)state;
    flare_buf w = FLARE_BUF_INIT;
    static char big[300000];
    cframe(&w, FLARE_WS_OP_BINARY, false, 0, big, sizeof big);
    cframe(&w, FLARE_WS_OP_CONTINUATION, true, 0, "", 0);
    flare_ws_parser p;
    flare_ws_parser_init(&p, NULL);
    flare_ws_event ev;
    assert_int_equal(flare_ws_parser_feed(&p, w.data, w.len, &ev, NULL), (ssize_t)w.len);
    assert_int_equal(ev.len, sizeof big);
    assert_true(flare_ws_parser_in_message(&p) == false);
    assert_true(p.msg.cap >= sizeof big);
    assert_int_equal(flare_ws_parser_feed(&p, w.data, 0, &ev, NULL), 0);
    assert_int_equal(p.msg.cap, 0);
    flare_ws_parser_free(&p);
    flare_buf_free(&w);
}

/* Compressed messages from a client-side compressor, whole and fragmented. */
static void test_compressed_messages(void **state)
{
    (void)state;
    flare_ws_deflate *cd, *sd;
    assert_int_equal(flare_ws_deflate_new(&cd, NULL, false, -1, NULL), 0);
    assert_int_equal(flare_ws_deflate_new(&sd, NULL, true, -1, NULL), 0);
    flare_ws_parser_config cfg = {.server = true, .deflate = sd};
    flare_buf w = FLARE_BUF_INIT;
    const char *text = "compress me, compress me, compress me, please";
    assert_int_equal(
        flare_ws_message_encode(&w, FLARE_WS_OP_TEXT, text, strlen(text), cd, key, NULL), 0);
    /* Context takeover: the second copy compresses to far fewer bytes. */
    size_t first = w.len;
    assert_int_equal(
        flare_ws_message_encode(&w, FLARE_WS_OP_TEXT, text, strlen(text), cd, key, NULL), 0);
    assert_true(w.len - first < first);
    /* A compressed message split over three frames: RSV1 on the first only. */
    flare_buf z = FLARE_BUF_INIT;
    assert_int_equal(flare_ws_deflate_message(cd, "fragmented and compressed", 25, &z, NULL), 0);
    assert_true(z.len > 3);
    cframe(&w, FLARE_WS_OP_TEXT, false, FLARE_WS_RSV1, z.data, 2);
    cframe(&w, FLARE_WS_OP_PING, true, 0, "", 0);
    cframe(&w, FLARE_WS_OP_CONTINUATION, false, 0, z.data + 2, 1);
    cframe(&w, FLARE_WS_OP_CONTINUATION, true, 0, z.data + 3, z.len - 3);
    cframe(&w, FLARE_WS_OP_BINARY, true, 0, "plain", 5); /* uncompressed still allowed */
    /* Each feeding needs a decompressor in the same state: run once per state. */
    run_result r;
    run(&cfg, &w, SIZE_MAX, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.nev, 5);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(r.ev[i].type, FLARE_WS_EV_TEXT);
        assert_int_equal(r.ev[i].data.len, strlen(text));
        assert_memory_equal(r.ev[i].data.data, text, strlen(text));
    }
    assert_int_equal(r.ev[2].type, FLARE_WS_EV_PING);
    assert_int_equal(r.ev[3].data.len, 25);
    assert_memory_equal(r.ev[3].data.data, "fragmented and compressed", 25);
    assert_memory_equal(r.ev[4].data.data, "plain", 5);
    result_free(&r);
    flare_ws_deflate_free(sd);
    assert_int_equal(flare_ws_deflate_new(&sd, NULL, true, -1, NULL), 0);
    cfg.deflate = sd;
    run(&cfg, &w, 3, &r);
    assert_int_equal(r.rc, 0);
    assert_int_equal(r.nev, 5);
    assert_memory_equal(r.ev[3].data.data, "fragmented and compressed", 25);
    result_free(&r);
    flare_ws_deflate_free(sd);
    flare_ws_deflate_free(cd);
    flare_buf_free(&z);
    flare_buf_free(&w);
}

static void test_compressed_limits_and_corruption(void **state)
{
    (void)state;
    flare_ws_deflate *cd, *sd;
    assert_int_equal(flare_ws_deflate_new(&cd, NULL, false, 9, NULL), 0);
    assert_int_equal(flare_ws_deflate_new(&sd, NULL, true, -1, NULL), 0);
    flare_ws_parser_config cfg = {.server = true, .deflate = sd, .max_message = 1 << 20};
    /* 16 MiB of zeros deflate to ~16 KiB: a zip bomb against a 1 MiB limit. */
    size_t n = 16u << 20;
    char *zeros = calloc(1, n);
    assert_non_null(zeros);
    flare_buf w = FLARE_BUF_INIT;
    assert_int_equal(flare_ws_message_encode(&w, FLARE_WS_OP_BINARY, zeros, n, cd, key, NULL), 0);
    free(zeros);
    assert_true(w.len < (1u << 20));
    run_result r;
    run(&cfg, &w, SIZE_MAX, &r);
    assert_int_equal(r.rc, FLARE_ELIMIT);
    assert_int_equal(r.error_code, 1009);
    result_free(&r);
    flare_ws_deflate_free(sd);
    /* Garbage with RSV1 set is invalid data. */
    assert_int_equal(flare_ws_deflate_new(&sd, NULL, true, -1, NULL), 0);
    cfg.deflate = sd;
    w.len = 0;
    cframe(&w, FLARE_WS_OP_BINARY, true, FLARE_WS_RSV1, "\xff\xff\xff\xff\xff", 5);
    run(&cfg, &w, SIZE_MAX, &r);
    assert_int_equal(r.rc, FLARE_EPROTO);
    assert_int_equal(r.error_code, 1007);
    result_free(&r);
    /* Compressed text that is not UTF-8 once inflated. */
    flare_ws_inflate_reset(sd);
    w.len = 0;
    flare_buf z = FLARE_BUF_INIT;
    flare_ws_deflate *fresh;
    assert_int_equal(flare_ws_deflate_new(&fresh, NULL, false, -1, NULL), 0);
    assert_int_equal(flare_ws_deflate_message(fresh, "bad \xed\xa0\x80 text", 12, &z, NULL), 0);
    cframe(&w, FLARE_WS_OP_TEXT, true, FLARE_WS_RSV1, z.data, z.len);
    flare_ws_deflate_free(sd);
    assert_int_equal(flare_ws_deflate_new(&sd, NULL, true, -1, NULL), 0);
    cfg.deflate = sd;
    run(&cfg, &w, SIZE_MAX, &r);
    assert_int_equal(r.error_code, 1007);
    result_free(&r);
    flare_ws_deflate_free(fresh);
    flare_ws_deflate_free(sd);
    flare_ws_deflate_free(cd);
    flare_buf_free(&z);
    flare_buf_free(&w);
}

/* A compressed message made of empty deflate blocks inflates to nothing: its wire
 * bytes are bounded by the message limit too, or it could go on for ever. */
static void test_compressed_message_wire_bound(void **state)
{
    (void)state;
    flare_ws_deflate *sd;
    assert_int_equal(flare_ws_deflate_new(&sd, NULL, true, -1, NULL), 0);
    flare_ws_parser_config cfg = {.server = true, .deflate = sd, .max_message = 4096};
    static const uint8_t empty_block[5] = {0x00, 0x00, 0x00, 0xff, 0xff}; /* stored, 0 bytes */
    flare_buf w = FLARE_BUF_INIT;
    cframe(&w, FLARE_WS_OP_BINARY, false, FLARE_WS_RSV1, empty_block, sizeof empty_block);
    for (int i = 0; i < 1200; i++) /* 6,000 bytes that inflate to nothing */
        cframe(&w, FLARE_WS_OP_CONTINUATION, false, 0, empty_block, sizeof empty_block);
    run_result r;
    run(&cfg, &w, SIZE_MAX, &r);
    assert_int_equal(r.rc, FLARE_ELIMIT);
    assert_int_equal(r.error_code, 1009);
    result_free(&r);
    flare_ws_deflate_free(sd);
    flare_buf_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_messages),
        cmocka_unit_test(test_compressed_message_wire_bound),
        cmocka_unit_test(test_fragments_with_interleaved_control),
        cmocka_unit_test(test_empty_text_fragments),
        cmocka_unit_test(test_rsv_bits),
        cmocka_unit_test(test_reserved_opcodes),
        cmocka_unit_test(test_control_frame_rules),
        cmocka_unit_test(test_fragmentation_rules),
        cmocka_unit_test(test_utf8_rules),
        cmocka_unit_test(test_size_limits),
        cmocka_unit_test(test_close_rules),
        cmocka_unit_test(test_masking_roles),
        cmocka_unit_test(test_bad_lengths),
        cmocka_unit_test(test_zero_copy_and_sticky_failure),
        cmocka_unit_test(test_big_buffer_given_back),
        cmocka_unit_test(test_compressed_messages),
        cmocka_unit_test(test_compressed_limits_and_corruption),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
