/*
 * test_frame.c: the frame codec: header round trips for every opcode at each
 * length-encoding boundary, masked and not; every prefix of a header is
 * incomplete; each header rule the decoder enforces (reserved opcodes, control
 * frames, 64-bit top bit, non-minimal lengths) is refused; close payloads and the
 * close code table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "flare/ws.h"

static const uint8_t key[4] = {1, 2, 3, 4};

static void test_round_trip_all_opcodes_and_lengths(void **state)
{
    (void)state;
    const uint8_t ops[] = {0, 1, 2, 8, 9, 10};
    const uint64_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 1u << 24, UINT64_MAX >> 1};
    for (size_t o = 0; o < sizeof ops; o++)
        for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++)
            for (int m = 0; m < 2; m++)
                for (int fin = 0; fin < 2; fin++) {
                    bool control = ops[o] & 8;
                    if (control && (lens[l] > 125 || !fin)) continue;
                    uint8_t hdr[FLARE_WS_MAX_HEADER];
                    size_t n = flare_ws_frame_header_encode(hdr, ops[o], fin, FLARE_WS_RSV1,
                                                            lens[l], m ? key : NULL);
                    size_t want = 2 + (lens[l] > 65535 ? 8 : lens[l] > 125 ? 2 : 0) + (m ? 4 : 0);
                    assert_int_equal(n, want);
                    /* Every strict prefix is incomplete. */
                    flare_ws_frame_header h;
                    for (size_t k = 0; k < n; k++)
                        assert_int_equal(flare_ws_frame_decode(hdr, k, &h), FLARE_EINCOMPLETE);
                    assert_int_equal(flare_ws_frame_decode(hdr, n, &h), (ssize_t)n);
                    assert_int_equal(h.opcode, ops[o]);
                    assert_int_equal(h.fin, fin);
                    assert_int_equal(h.rsv, FLARE_WS_RSV1);
                    assert_int_equal(h.masked, m);
                    assert_true(h.payload_len == lens[l]);
                    assert_int_equal(h.header_len, n);
                    if (m) assert_memory_equal(h.mask, key, 4);
                }
}

static void test_known_bytes(void **state)
{
    (void)state;
    /* RFC 6455 §5.7 examples. */
    const uint8_t hello[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    flare_ws_frame_header h;
    assert_int_equal(flare_ws_frame_decode(hello, sizeof hello, &h), 2);
    assert_true(h.fin && h.opcode == FLARE_WS_OP_TEXT && h.payload_len == 5 && !h.masked);
    uint8_t masked[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    assert_int_equal(flare_ws_frame_decode(masked, sizeof masked, &h), 6);
    flare_ws_mask(masked + 6, 5, h.mask, 0);
    assert_memory_equal(masked + 6, "Hello", 5);
    const uint8_t frag1[] = {0x01, 0x03, 0x48, 0x65, 0x6c};
    assert_int_equal(flare_ws_frame_decode(frag1, sizeof frag1, &h), 2);
    assert_false(h.fin);
    const uint8_t len256[] = {0x82, 0x7e, 0x01, 0x00};
    assert_int_equal(flare_ws_frame_decode(len256, sizeof len256, &h), 4);
    assert_true(h.payload_len == 256);
    const uint8_t len64k[] = {0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0};
    assert_int_equal(flare_ws_frame_decode(len64k, sizeof len64k, &h), 10);
    assert_true(h.payload_len == 65536);
}

static void test_reserved_opcodes(void **state)
{
    (void)state;
    flare_ws_frame_header h;
    for (unsigned op = 0; op < 16; op++) {
        uint8_t b[2] = {(uint8_t)(0x80 | op), 0x00};
        bool reserved = (op >= 3 && op <= 7) || op >= 11;
        ssize_t rc = flare_ws_frame_decode(b, 2, &h);
        assert_int_equal(rc, reserved ? FLARE_EPROTO : 2);
        /* Proven from the first byte pair already, even with more to come. */
        uint8_t b2[2] = {(uint8_t)(0x80 | op), 0xfe};
        if (reserved) assert_int_equal(flare_ws_frame_decode(b2, 2, &h), FLARE_EPROTO);
    }
}

static void test_control_frame_rules(void **state)
{
    (void)state;
    flare_ws_frame_header h;
    for (unsigned op = 8; op <= 10; op++) {
        uint8_t frag[2] = {(uint8_t)op, 0x00}; /* FIN clear */
        assert_int_equal(flare_ws_frame_decode(frag, 2, &h), FLARE_EPROTO);
        uint8_t ok[2] = {(uint8_t)(0x80 | op), 125};
        assert_int_equal(flare_ws_frame_decode(ok, 2, &h), 2);
        uint8_t big[4] = {(uint8_t)(0x80 | op), 126, 0x00, 0x7e};
        assert_int_equal(flare_ws_frame_decode(big, 2, &h), FLARE_EPROTO);
        assert_int_equal(flare_ws_frame_decode(big, 4, &h), FLARE_EPROTO);
    }
}

static void test_length_encodings(void **state)
{
    (void)state;
    flare_ws_frame_header h;
    /* 16-bit form carrying a value that fits 7 bits. */
    const uint8_t nm16[] = {0x82, 126, 0x00, 0x7d};
    assert_int_equal(flare_ws_frame_decode(nm16, sizeof nm16, &h), FLARE_EPROTO);
    const uint8_t ok16[] = {0x82, 126, 0x00, 0x7e};
    assert_int_equal(flare_ws_frame_decode(ok16, sizeof ok16, &h), 4);
    /* 64-bit form carrying a value that fits 16 bits. */
    const uint8_t nm64[] = {0x82, 127, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    assert_int_equal(flare_ws_frame_decode(nm64, sizeof nm64, &h), FLARE_EPROTO);
    const uint8_t nm64small[] = {0x82, 127, 0, 0, 0, 0, 0, 0, 0, 5};
    assert_int_equal(flare_ws_frame_decode(nm64small, sizeof nm64small, &h), FLARE_EPROTO);
    /* Top bit of the 64-bit length. */
    const uint8_t msb[] = {0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0};
    assert_int_equal(flare_ws_frame_decode(msb, sizeof msb, &h), FLARE_EPROTO);
    const uint8_t max[] = {0x82, 127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(flare_ws_frame_decode(max, sizeof max, &h), 10);
    assert_true(h.payload_len == (UINT64_MAX >> 1));
}

static void test_frame_encode(void **state)
{
    (void)state;
    flare_buf b = FLARE_BUF_INIT;
    assert_int_equal(flare_ws_frame_encode(&b, FLARE_WS_OP_TEXT, true, 0, "Hello", 5, key), 0);
    flare_ws_frame_header h;
    assert_int_equal(flare_ws_frame_decode(b.data, b.len, &h), 6);
    assert_int_equal(b.len, 11);
    assert_memory_not_equal(b.data + 6, "Hello", 5);
    flare_ws_mask(b.data + 6, 5, h.mask, 0);
    assert_memory_equal(b.data + 6, "Hello", 5);
    b.len = 0;
    char big[126] = {0};
    assert_int_equal(flare_ws_frame_encode(&b, FLARE_WS_OP_PING, true, 0, big, 126, NULL),
                     FLARE_EINVAL);
    assert_int_equal(flare_ws_frame_encode(&b, FLARE_WS_OP_PING, false, 0, big, 1, NULL),
                     FLARE_EINVAL);
    assert_int_equal(flare_ws_frame_encode(&b, 3, true, 0, big, 1, NULL), FLARE_EINVAL);
    assert_int_equal(b.len, 0);
    flare_error err;
    assert_int_equal(
        flare_ws_message_encode(&b, FLARE_WS_OP_CONTINUATION, "x", 1, NULL, NULL, &err),
        FLARE_EINVAL);
    assert_int_equal(flare_ws_message_encode(&b, FLARE_WS_OP_BINARY, big, 126, NULL, NULL, &err),
                     0);
    assert_int_equal(flare_ws_frame_decode(b.data, b.len, &h), 4);
    assert_true(h.payload_len == 126 && !h.masked && h.fin && h.rsv == 0);
    flare_buf_free(&b);
}

static void test_close_codes(void **state)
{
    (void)state;
    for (unsigned c = 0; c < 70000; c++) {
        bool want =
            (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
        if (flare_ws_close_code_valid(c) != want) fail_msg("close code %u", c);
    }
    assert_false(flare_ws_close_code_valid(999));
    assert_false(flare_ws_close_code_valid(1004));
    assert_false(flare_ws_close_code_valid(1005));
    assert_false(flare_ws_close_code_valid(1006));
    assert_false(flare_ws_close_code_valid(1015));
    assert_false(flare_ws_close_code_valid(1016));
    assert_false(flare_ws_close_code_valid(2999));
    assert_true(flare_ws_close_code_valid(3000));
    assert_true(flare_ws_close_code_valid(4999));
    assert_false(flare_ws_close_code_valid(5000));
}

static void test_close_payloads(void **state)
{
    (void)state;
    uint8_t p[FLARE_WS_MAX_CONTROL];
    uint16_t code;
    const char *reason;
    size_t rlen;
    assert_int_equal(flare_ws_close_payload(p, 0, "ignored", 7), 0);
    assert_int_equal(flare_ws_close_parse(p, 0, &code, &reason, &rlen), 0);
    assert_int_equal(code, 1005);
    assert_int_equal(rlen, 0);
    size_t n = flare_ws_close_payload(p, 1000, "bye", 3);
    assert_int_equal(n, 5);
    assert_int_equal(p[0], 0x03);
    assert_int_equal(p[1], 0xe8);
    assert_int_equal(flare_ws_close_parse(p, n, &code, &reason, &rlen), 0);
    assert_int_equal(code, 1000);
    assert_int_equal(rlen, 3);
    assert_memory_equal(reason, "bye", 3);
    /* A long reason is cut to 123 bytes, not inside a code point. */
    char long_reason[200];
    memset(long_reason, 'a', sizeof long_reason);
    memcpy(long_reason + 122, "\xc3\xa9", 2); /* é straddles the 123-byte cut */
    n = flare_ws_close_payload(p, 4000, long_reason, sizeof long_reason);
    assert_int_equal(n, 2 + 122);
    assert_int_equal(flare_ws_close_parse(p, n, &code, &reason, &rlen), 0);
    n = flare_ws_close_payload(p, 4000, long_reason, 123);
    assert_int_equal(n, 125);
    /* Invalid payloads. */
    assert_int_equal(flare_ws_close_parse("\x03", 1, &code, &reason, &rlen), FLARE_EPROTO);
    const unsigned bad[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t b[2] = {(uint8_t)(bad[i] >> 8), (uint8_t)bad[i]};
        assert_int_equal(flare_ws_close_parse(b, 2, &code, &reason, &rlen), FLARE_EPROTO);
    }
    const uint8_t badutf8[] = {0x03, 0xe8, 0xce, 0xba, 0xed, 0xa0, 0x80};
    assert_int_equal(flare_ws_close_parse(badutf8, sizeof badutf8, &code, &reason, &rlen),
                     FLARE_EPROTO);
    const uint8_t app[] = {0x0f, 0xa0, 0xce, 0xba}; /* 4000 with "κ" */
    assert_int_equal(flare_ws_close_parse(app, sizeof app, &code, &reason, &rlen), 0);
    assert_int_equal(code, 4000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_all_opcodes_and_lengths),
        cmocka_unit_test(test_known_bytes),
        cmocka_unit_test(test_reserved_opcodes),
        cmocka_unit_test(test_control_frame_rules),
        cmocka_unit_test(test_length_encodings),
        cmocka_unit_test(test_frame_encode),
        cmocka_unit_test(test_close_codes),
        cmocka_unit_test(test_close_payloads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
