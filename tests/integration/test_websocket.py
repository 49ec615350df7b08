#!/usr/bin/env python3
"""The websocket route of the real flared (echo mode), in the manner of the
Autobahn testsuite: raw frames over a socket for framing (1), pings and pongs
(2), reserved bits (3), opcodes (4), fragmentation (5), UTF-8 (6), close
handling (7), limits (9) and permessage-deflate (12, 13). Every case that
breaks a rule asserts the exact close code the server sends and that the TCP
connection ends after it. Then the opening handshake over real HTTP (rejections,
Origin, subprotocols), and real peers nobody here wrote: Debian's
python3-websockets and node's ws, each with and without compression."""
import base64
import hashlib
import json
import os
import shutil
import socket
import struct
import subprocess
import time
import signal
import unittest
import zlib

import flaredtest as ft

MAX_MESSAGE = 64 * 1024
EXTRA = """\
  - path: /ws
    websocket: {max_message: 64k, ping_interval: off, idle_timeout: off, close_timeout: 2s}
  - path: /wsz
    websocket: {max_message: 64k, ping_interval: off, deflate: true}
  - path: /wsz-reset
    websocket: {deflate: {server_no_context_takeover: true, level: 9}}
  - path: /wso
    websocket: {origins: ["https://good.example"], subprotocols: [v2.chat, chat]}
  - path: /wsbig
    websocket: {max_message: 4m, deflate: true}
  - path: /allow-only
    text: {body: "never\\n"}
    allow: [192.0.2.0/24]
"""
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
MASK = b"\x9a\x3c\x51\xe7"
TEXT, BINARY, CLOSE, PING, PONG, CONT = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0
RSV1 = 0x4
SYNC_TAIL = b"\x00\x00\xff\xff"
PY3 = "/usr/bin/python3"
NODE = shutil.which("node")
NODE_WS = "/usr/share/nodejs/ws"


def accept_of(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def frame(op, payload=b"", fin=True, rsv=0, mask=MASK, length=None):
    """One frame; mask None sends it unmasked; length overrides the length field."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | op])
    bit = 0x80 if mask is not None else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if mask is None:
        return head + payload
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


def deflate(data, comp=None):
    """A permessage-deflate payload (RFC 7692 §7.2.1): sync flush, tail removed."""
    c = comp or zlib.compressobj(wbits=-15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(SYNC_TAIL)
    return out[:-4]


class Frame:
    def __init__(self, fin, rsv, op, payload, header):
        self.fin, self.rsv, self.op, self.payload, self.header = fin, rsv, op, payload, header

    def __repr__(self):
        return f"<Frame op={self.op} fin={self.fin} rsv={self.rsv} len={len(self.payload)}>"


class Peer:
    """A WebSocket client made of a socket and the functions above."""

    def __init__(self, srv, path="/ws", headers=(), timeout=5.0, handshake=True):
        self.sock = srv.connect(timeout)
        self.buf = b""
        self.head = None
        if handshake:
            status, head = self.handshake(path, headers)
            if status != 101:
                raise AssertionError(f"handshake: {head!r}")

    def handshake(self, path="/ws", headers=(), early=b""):
        lines = [f"GET {path} HTTP/1.1", "Host: t", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {KEY}", "Sec-WebSocket-Version: 13", *headers]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + early)
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError(f"closed during the handshake: {self.buf!r}")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        self.head = head.decode("latin-1")
        status = int(self.head.split(" ", 2)[1])
        if status == 101:
            assert f"Sec-WebSocket-Accept: {accept_of(KEY)}\r\n" in self.head + "\r\n", self.head
        return status, self.head

    def header(self, name):
        for line in self.head.split("\r\n")[1:]:
            n, _, v = line.partition(":")
            if n.strip().lower() == name.lower():
                return v.strip()
        return None

    def send(self, data, chop=None):
        if chop is None:
            self.sock.sendall(data)
            return
        for i in range(0, len(data), chop):
            self.sock.sendall(data[i:i + chop])
            time.sleep(0.001)

    def send_frame(self, op, payload=b"", **kw):
        chop = kw.pop("chop", None)
        self.send(frame(op, payload, **kw), chop)

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"connection closed with {len(self.buf)} of {n} bytes")
            self.buf += chunk

    def read_frame(self):
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        if b1 & 0x80:
            raise AssertionError("the server sent a masked frame")
        n, pos = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, pos = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, pos = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._need(pos + n)
        f = Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF, self.buf[pos:pos + n], self.buf[:pos])
        self.buf = self.buf[pos + n:]
        return f

    def read_message(self, inflater=None):
        """The next data message, reassembled; returns (opcode, payload)."""
        f = self.read_frame()
        op, compressed, data = f.op, bool(f.rsv & RSV1), f.payload
        while not f.fin:
            f = self.read_frame()
            data += f.payload
        if compressed:
            d = inflater or zlib.decompressobj(wbits=-15)
            data = d.decompress(data + SYNC_TAIL)
        return op, data

    def closed_after(self, timeout=5.0):
        """True when the server ends the TCP connection with nothing more sent."""
        rest, closed = ft.read_until_close(self.sock, timeout)
        self.buf += rest
        return closed and not self.buf

    def close(self):
        self.sock.close()


class WebSocketTestCase(ft.SharedServerTestCase):
    server_kwargs = {"extra": EXTRA}

    def peer(self, path="/ws", headers=()):
        p = Peer(self.srv, path, headers)
        self.addCleanup(p.close)
        return p

    def assertEcho(self, p, op, payload, **kw):
        p.send_frame(op, payload, **kw)
        f = p.read_frame()
        self.assertEqual((f.op, f.fin, f.rsv), (op, True, 0))
        self.assertEqual(f.payload, payload)
        return f

    def assertCloseCode(self, p, code):
        """The next frame is the server's close with `code` (None: empty), then EOF."""
        f = p.read_frame()
        self.assertEqual(f.op, CLOSE, f"expected a close frame, got {f!r}")
        if code is None:
            self.assertEqual(f.payload, b"")
        else:
            self.assertGreaterEqual(len(f.payload), 2)
            self.assertEqual(struct.unpack("!H", f.payload[:2])[0], code, f.payload)
            self.assertLessEqual(len(f.payload), 125)
        self.assertTrue(p.closed_after(), "the server did not close the TCP connection")

    def assertFails(self, p, code, *frames, chop=None):
        for data in frames:
            p.send(data, chop)
        self.assertCloseCode(p, code)


# ---------------------------------------------------------------- 1 framing

class Framing(WebSocketTestCase):
    def test_1_text_and_binary_lengths(self):
        p = self.peer()
        for op in (TEXT, BINARY):
            for n in (0, 1, 125, 126, 127, 128, 65535, 65536):
                with self.subTest(op=op, length=n):
                    payload = (b"*" * n) if op == TEXT else bytes(i % 251 for i in range(n))
                    f = self.assertEcho(p, op, payload)
                    # RFC 6455 §5.2: the minimal length encoding, 7, 16 or 64 bits.
                    want = 2 if n < 126 else 4 if n < 65536 else 10
                    self.assertEqual(len(f.header), want)
        p.send_frame(CLOSE, close_payload(1000))
        self.assertCloseCode(p, 1000)

    def test_1_chopped_writes(self):
        p = self.peer()
        payload = bytes(range(256)) * 200
        p.send_frame(BINARY, payload, chop=997)
        self.assertEqual(p.read_frame().payload, payload)
        p.send_frame(TEXT, b"slow", chop=1)
        self.assertEqual(p.read_frame().payload, b"slow")

    def test_1_frames_right_behind_the_handshake(self):
        p = Peer(self.srv, handshake=False)
        self.addCleanup(p.close)
        status, _ = p.handshake(early=frame(TEXT, b"early") + frame(BINARY, b"bird"))
        self.assertEqual(status, 101)
        self.assertEqual(p.read_message(), (TEXT, b"early"))
        self.assertEqual(p.read_message(), (BINARY, b"bird"))

    def test_1_unmasked_client_frame(self):
        self.assertFails(self.peer(), 1002, frame(TEXT, b"bare", mask=None))

    def test_1_non_minimal_and_huge_lengths(self):
        self.assertFails(self.peer(), 1002, frame(TEXT, b"x" * 5)[:1] + b"\xfe\x00\x05" + MASK)
        self.assertFails(self.peer(), 1002, b"\x82\xff" + b"\x80" + b"\x00" * 7 + MASK)


# ---------------------------------------------------------- 2 pings, pongs

class PingsAndPongs(WebSocketTestCase):
    def assertPong(self, p, payload, **kw):
        p.send_frame(PING, payload, **kw)
        f = p.read_frame()
        self.assertEqual((f.op, f.fin, f.rsv, f.payload), (PONG, True, 0, payload))

    def test_2_ping_payloads(self):
        p = self.peer()
        for payload in (b"", b"Hello, world!", bytes([0, 255, 254, 253, 252, 251, 0, 255]),
                        b"\xfe" * 125):
            with self.subTest(length=len(payload)):
                self.assertPong(p, payload)
        self.assertPong(p, b"*" * 125, chop=1)

    def test_2_ping_of_126_bytes(self):
        self.assertFails(self.peer(), 1002, frame(PING, b"x" * 126))

    def test_2_unsolicited_pongs_are_ignored(self):
        p = self.peer()
        p.send_frame(PONG)
        p.send_frame(PONG, b"unsolicited pong payload")
        p.send_frame(PING, b"ping payload")
        f = p.read_frame()
        self.assertEqual((f.op, f.payload), (PONG, b"ping payload"))
        p.send_frame(CLOSE, close_payload(1000))
        self.assertCloseCode(p, 1000)

    def test_2_ten_pings_in_order(self):
        p = self.peer()
        pings = b"".join(frame(PING, f"payload-{i}".encode()) for i in range(10))
        for chop in (None, 1):
            p.send(pings, chop)
            for i in range(10):
                f = p.read_frame()
                self.assertEqual((f.op, f.payload), (PONG, f"payload-{i}".encode()))


# ---------------------------------------------------------- 3 reserved bits

class ReservedBits(WebSocketTestCase):
    def test_3_rsv_without_extension(self):
        for rsv in range(1, 8):
            for op, payload in ((TEXT, b"Hello"), (BINARY, b"\x00\xff"), (PING, b"p"),
                                (CLOSE, close_payload(1000))):
                with self.subTest(rsv=rsv, op=op):
                    p = self.peer()
                    self.assertEcho(p, TEXT, b"before")
                    # Nothing after the bad frame is answered: no pong for this ping.
                    self.assertFails(p, 1002, frame(op, payload, rsv=rsv), frame(PING, b"after"))


# --------------------------------------------------------------- 4 opcodes

class Opcodes(WebSocketTestCase):
    def test_4_reserved_opcodes(self):
        for op in (3, 4, 5, 6, 7, 11, 12, 13, 14, 15):
            for payload in (b"", b"reserved opcode payload"):
                with self.subTest(op=op, length=len(payload)):
                    p = self.peer()
                    self.assertEcho(p, TEXT, b"before")
                    self.assertFails(p, 1002, frame(op, payload), frame(PING, b"after"))


# --------------------------------------------------------- 5 fragmentation

class Fragmentation(WebSocketTestCase):
    def test_5_fragmented_control_frames(self):
        self.assertFails(self.peer(), 1002, frame(PING, b"frag", fin=False),
                         frame(CONT, b"ment"))
        self.assertFails(self.peer(), 1002, frame(PONG, b"frag", fin=False),
                         frame(CONT, b"ment"))

    def test_5_fragmented_messages(self):
        p = self.peer()
        for chop in (None, 1):
            for op in (TEXT, BINARY):
                p.send(frame(op, b"frag", fin=False) + frame(CONT, b"ment"), chop)
                self.assertEqual(p.read_message(), (op, b"fragment"))
        # Many fragments, some empty, with pings in between (§5.4: control frames may interleave).
        parts = [b"", b"a", b"", b"bc", b"def", b""]
        data = frame(TEXT, parts[0], fin=False)
        for i, part in enumerate(parts[1:], 1):
            data += frame(PING, f"ping-{i}".encode())
            data += frame(CONT, part, fin=i == len(parts) - 1)
        p.send(data, 7)
        for i in range(1, len(parts)):
            f = p.read_frame()
            self.assertEqual((f.op, f.payload), (PONG, f"ping-{i}".encode()))
        self.assertEqual(p.read_message(), (TEXT, b"abcdef"))

    def test_5_continuation_without_a_message(self):
        for fin in (True, False):
            for chop in (None, 1):
                with self.subTest(fin=fin, chop=chop):
                    self.assertFails(self.peer(), 1002, frame(CONT, b"orphan", fin=fin),
                                     chop=chop)

    def test_5_continuation_after_a_finished_message(self):
        p = self.peer()
        p.send(frame(TEXT, b"frag", fin=False) + frame(CONT, b"ment"))
        self.assertEqual(p.read_message(), (TEXT, b"fragment"))
        self.assertFails(p, 1002, frame(CONT, b"more", fin=False), frame(CONT, b"end"))

    def test_5_new_data_frame_inside_a_fragmented_message(self):
        for second in (TEXT, BINARY):
            with self.subTest(second=second):
                self.assertFails(self.peer(), 1002, frame(TEXT, b"frag", fin=False),
                                 frame(second, b"ment"))


# ----------------------------------------------------------------- 6 UTF-8

VALID_UTF8 = [
    "Hello-µ@ßöäüàá-UTF-8!!".encode(),
    "κόσμε".encode(),
    b"\x00", b"\x7f", b"\xc2\x80", b"\xdf\xbf", b"\xe0\xa0\x80", b"\xef\xbf\xbf",
    b"\xf0\x90\x80\x80", b"\xf4\x8f\xbf\xbf", b"\xef\xbf\xbe",  # noncharacters are valid
    "\U0001F600 \u4e16\u754c \u00e9".encode() * 20,
]
INVALID_UTF8 = [
    b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",  # a surrogate
    b"\x80", b"\xbf", b"\xfe", b"\xff", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf0\x80\x80\xaf",
    b"\xf4\x90\x80\x80", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xc3", b"\xe2\x82", b"a\xc3(",
    b"\xf8\x88\x80\x80\x80",
]


class Utf8(WebSocketTestCase):
    def test_6_empty_fragments(self):
        p = self.peer()
        p.send(frame(TEXT, b"", fin=False) + frame(CONT, b"", fin=False) + frame(CONT, b""))
        self.assertEqual(p.read_message(), (TEXT, b""))

    def test_6_valid_text_whole_and_split_at_every_byte(self):
        p = self.peer()
        for text in VALID_UTF8:
            with self.subTest(text=text):
                self.assertEqual(text.decode("utf-8"), text.decode("utf-8"))
                self.assertEcho(p, TEXT, text)
                # One fragment per byte: code points straddle fragments.
                data = b"".join(frame(TEXT if i == 0 else CONT, text[i:i + 1],
                                      fin=i == len(text) - 1) for i in range(len(text)))
                p.send(data)
                self.assertEqual(p.read_message(), (TEXT, text))

    def test_6_invalid_text(self):
        for text in INVALID_UTF8:
            with self.subTest(text=text):
                self.assertFails(self.peer(), 1007, frame(TEXT, text))
            with self.subTest(text=text, fragmented=True):
                data = b"".join(frame(TEXT if i == 0 else CONT, text[i:i + 1],
                                      fin=i == len(text) - 1) for i in range(len(text)))
                self.assertFails(self.peer(), 1007, data)

    def test_6_fail_fast_inside_an_unfinished_message(self):
        # §8.1: the bad fragment ends the connection before the message is complete.
        p = self.peer()
        p.send(frame(TEXT, "κόσμε".encode(), fin=False) + frame(CONT, b"\xed\xa0\x80", fin=False))
        self.assertCloseCode(p, 1007)

    def test_6_invalid_sequence_split_across_fragments(self):
        self.assertFails(self.peer(), 1007, frame(TEXT, b"ok \xf4", fin=False),
                         frame(CONT, b"\x90\x80\x80 no"))

    def test_6_binary_is_not_checked(self):
        p = self.peer()
        self.assertEcho(p, BINARY, b"\xff\xfe\xed\xa0\x80")


# ------------------------------------------------------------ 7 close

VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000,
               3999, 4000, 4999]
INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]


class CloseHandling(WebSocketTestCase):
    def test_7_message_then_close(self):
        p = self.peer()
        p.send(frame(TEXT, b"Hello World!") + frame(CLOSE, close_payload(1000)))
        self.assertEqual(p.read_message(), (TEXT, b"Hello World!"))
        self.assertCloseCode(p, 1000)

    def test_7_nothing_after_close(self):
        for after in (frame(CLOSE, close_payload(1000)), frame(PING, b"ping"),
                      frame(TEXT, b"text"), frame(TEXT, b"frag", fin=False)):
            with self.subTest(after=after[:1]):
                p = self.peer()
                p.send(frame(CLOSE, close_payload(1000)) + after)
                self.assertCloseCode(p, 1000)

    def test_7_close_inside_a_fragmented_message(self):
        p = self.peer()
        p.send(frame(TEXT, b"frag", fin=False) + frame(CLOSE, close_payload(1000)))
        self.assertCloseCode(p, 1000)

    def test_7_close_payloads(self):
        cases = [
            (b"", None),  # no code: answered with no code (§5.5.1)
            (b"\x03", 1002),  # 1 byte
            (close_payload(1000), 1000),
            (close_payload(1000, b"Hello World!"), 1000),
            (close_payload(1000, b"*" * 123), 1000),
            (close_payload(1000, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"), 1000),
            (close_payload(1000, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"),
             1002),  # reason not UTF-8
        ]
        for payload, want in cases:
            with self.subTest(payload=payload[:16]):
                p = self.peer()
                p.send_frame(CLOSE, payload)
                self.assertCloseCode(p, want)

    def test_7_close_of_126_bytes(self):
        self.assertFails(self.peer(), 1002, frame(CLOSE, close_payload(1000, b"*" * 124)))

    def test_7_close_codes(self):
        for code in VALID_CODES:
            with self.subTest(code=code):
                p = self.peer()
                p.send_frame(CLOSE, close_payload(code))
                self.assertCloseCode(p, code)  # echoed
        for code in INVALID_CODES:
            with self.subTest(code=code):
                p = self.peer()
                p.send_frame(CLOSE, close_payload(code))
                self.assertCloseCode(p, 1002)

    def test_7_peer_just_disconnects(self):
        p = self.peer()
        self.assertEcho(p, TEXT, b"bye")
        p.sock.shutdown(socket.SHUT_WR)
        self.assertTrue(p.closed_after())


# ------------------------------------------------------------- 9 limits

class Limits(WebSocketTestCase):
    def test_9_messages_up_to_the_limit(self):
        p = self.peer()
        for n in (MAX_MESSAGE - 1, MAX_MESSAGE):
            payload = os.urandom(n)
            p.send_frame(BINARY, payload)
            self.assertEqual(p.read_message(), (BINARY, payload))
        text = b"a" * (MAX_MESSAGE // 2)
        p.send(frame(TEXT, text, fin=False) + frame(CONT, text))
        self.assertEqual(p.read_message(), (TEXT, text + text))

    def test_9_message_over_the_limit(self):
        self.assertFails(self.peer(), 1009, frame(BINARY, b"x" * (MAX_MESSAGE + 1)))
        half = b"y" * (MAX_MESSAGE // 2)
        self.assertFails(self.peer(), 1009, frame(TEXT, half, fin=False), frame(CONT, half + b"!"))
        # Refused from the header alone: the 1 GiB payload is never sent.
        self.assertFails(self.peer(), 1009, frame(BINARY, b"", length=1 << 30))

    def test_9_many_messages_pipelined(self):
        p = self.peer()
        msgs = [os.urandom(i * 37 % 3000) for i in range(300)]
        p.send(b"".join(frame(BINARY, m) for m in msgs))
        for m in msgs:
            self.assertEqual(p.read_message(), (BINARY, m))


# ------------------------------------------------------ 12, 13 compression

class Compression(WebSocketTestCase):
    def deflate_peer(self, offer="permessage-deflate", path="/wsz"):
        return self.peer(path, [f"Sec-WebSocket-Extensions: {offer}"])

    def test_12_negotiation(self):
        p = self.deflate_peer()
        self.assertEqual(p.header("Sec-WebSocket-Extensions"), "permessage-deflate")
        p = self.deflate_peer("permessage-deflate; client_max_window_bits")
        self.assertEqual(p.header("Sec-WebSocket-Extensions"), "permessage-deflate")
        # zlib cannot compress with an 8-bit window: that offer is declined, not broken.
        p = self.deflate_peer("permessage-deflate; server_max_window_bits=8")
        self.assertIsNone(p.header("Sec-WebSocket-Extensions"))
        p = self.deflate_peer("permessage-deflate; server_max_window_bits=8, permessage-deflate")
        self.assertEqual(p.header("Sec-WebSocket-Extensions"), "permessage-deflate")
        # A route without deflate never accepts it.
        p = self.deflate_peer(path="/ws")
        self.assertIsNone(p.header("Sec-WebSocket-Extensions"))

    def test_12_compressed_echo(self):
        for offer in ("permessage-deflate", "permessage-deflate; client_no_context_takeover",
                      "permessage-deflate; server_no_context_takeover"):
            with self.subTest(offer=offer):
                p = self.deflate_peer(offer)
                comp = zlib.compressobj(wbits=-15)
                reset = "client_no_context_takeover" in offer
                fresh = "server_no_context_takeover" in offer
                inflater = zlib.decompressobj(wbits=-15)
                for i, n in enumerate((0, 1, 100, 5000, 60000)):
                    for op in (TEXT, BINARY):
                        payload = (b"Hello permessage-deflate! " * 3000)[:n] + str(i).encode()
                        if reset:
                            comp = zlib.compressobj(wbits=-15)
                        p.send_frame(op, deflate(payload, comp), rsv=RSV1)
                        f = p.read_frame()
                        self.assertEqual((f.op, f.fin, f.rsv), (op, True, RSV1))
                        d = zlib.decompressobj(wbits=-15) if fresh else inflater
                        self.assertEqual(d.decompress(f.payload + SYNC_TAIL), payload)

    def test_13_context_takeover_shrinks_repeats(self):
        payload = os.urandom(600).hex().encode()  # 1200 bytes that compress only ~2:1
        p = self.deflate_peer()
        sizes = []
        for _ in range(3):
            p.send_frame(TEXT, payload)  # uncompressed in: allowed on a deflate connection
            f = p.read_frame()
            self.assertEqual(f.rsv, RSV1)
            sizes.append(len(f.payload))
        self.assertLess(sizes[1], sizes[0] // 4)  # the second refers back to the first
        # server_no_context_takeover (from the route): every message stands alone.
        p = self.deflate_peer(path="/wsz-reset")
        self.assertIn("server_no_context_takeover", p.header("Sec-WebSocket-Extensions"))
        sizes = []
        for _ in range(3):
            p.send_frame(BINARY, payload)
            f = p.read_frame()
            self.assertEqual(zlib.decompressobj(wbits=-15).decompress(f.payload + SYNC_TAIL),
                             payload)
            sizes.append(len(f.payload))
        self.assertEqual(len(set(sizes)), 1)

    def test_13_fragmented_compressed_message(self):
        p = self.deflate_peer()
        payload = b"fragmented and compressed " * 400
        z = deflate(payload)
        third = len(z) // 3
        p.send(frame(TEXT, z[:third], fin=False, rsv=RSV1) + frame(PING, b"mid") +
               frame(CONT, z[third:2 * third], fin=False) + frame(CONT, z[2 * third:]))
        f = p.read_frame()
        self.assertEqual((f.op, f.payload), (PONG, b"mid"))
        self.assertEqual(p.read_message(), (TEXT, payload))

    def test_13_compression_errors(self):
        z = deflate(b"hello")
        # RSV1 belongs on the first frame of a message only (RFC 7692 §6).
        self.assertFails(self.deflate_peer(), 1002, frame(TEXT, z[:2], fin=False, rsv=RSV1),
                         frame(CONT, z[2:], rsv=RSV1))
        self.assertFails(self.deflate_peer(), 1002, frame(PING, b"x", rsv=RSV1))
        self.assertFails(self.deflate_peer(), 1007, frame(BINARY, b"\xff\xff\xff\xff", rsv=RSV1))
        self.assertFails(self.deflate_peer(), 1007, frame(TEXT, deflate(b"\xc0\xaf"), rsv=RSV1))
        # A zip bomb: 64 KiB + 1 of zeros compresses to a few hundred bytes.
        bomb = deflate(b"\x00" * (MAX_MESSAGE + 1))
        self.assertLess(len(bomb), 1000)
        self.assertFails(self.deflate_peer(), 1009, frame(BINARY, bomb, rsv=RSV1))

    def test_13_compressed_payload_must_end_on_a_block(self):
        # An empty message is the single byte 0x00 (RFC 7692 §7.2.3.6).
        p = self.deflate_peer()
        p.send_frame(BINARY, b"\x00", rsv=RSV1)
        self.assertEqual(p.read_message(), (BINARY, b""))
        p.send_frame(TEXT, deflate(b"still in step"), rsv=RSV1)
        self.assertEqual(p.read_message(), (TEXT, b"still in step"))
        # An empty payload plus the tail is a cut-off stored block; a payload that
        # kept its tail gets a second, cut-off one. Either would swallow the start
        # of the next message, so the message itself fails.
        self.assertFails(self.deflate_peer(), 1007, frame(TEXT, b"", rsv=RSV1),
                         frame(TEXT, deflate(b"next"), rsv=RSV1))
        self.assertFails(self.deflate_peer(), 1007,
                         frame(TEXT, deflate(b"kept") + SYNC_TAIL, rsv=RSV1))


# ------------------------------------------------------------ handshake

class Handshake(WebSocketTestCase):
    def raw(self, path, *fields, method="GET", version="1.1"):
        req = f"{method} {path} HTTP/{version}\r\nHost: t\r\nConnection: close\r\n"
        req += "".join(f + "\r\n" for f in fields) + "\r\n"
        data, _ = self.srv.exchange(req.encode())
        responses, _ = ft.parse_responses(data, [method])
        self.assertEqual(len(responses), 1, data)
        return responses[0]

    def upgrade(self, path, *fields, **kw):
        return self.raw(path, "Upgrade: websocket", "Connection: Upgrade", *fields, **kw)

    def test_plain_get_gets_426(self):
        for extra in ((), ("Upgrade: h2c",)):
            r = self.raw("/ws", *extra)
            self.assertEqual(r.status, 426)
            self.assertEqual(r.header("Upgrade"), "websocket")
            self.assertEqual(r.header("Sec-WebSocket-Version"), "13")
            # RFC 9110 §7.8: whoever sends Upgrade also sends Connection: upgrade.
            tokens = {t.strip().lower() for v in r.all("Connection") for t in v.split(",")}
            self.assertIn("upgrade", tokens)

    def test_rejections(self):
        key = f"Sec-WebSocket-Key: {KEY}"
        v13 = "Sec-WebSocket-Version: 13"
        r = self.upgrade("/ws", key, "Sec-WebSocket-Version: 8")
        self.assertEqual(r.status, 426)
        self.assertEqual(r.header("Sec-WebSocket-Version"), "13")
        self.assertEqual(self.upgrade("/ws", v13).status, 400)  # no key
        self.assertEqual(self.upgrade("/ws", "Sec-WebSocket-Key: c2hvcnQ=", v13).status, 400)
        self.assertEqual(self.upgrade("/ws", key, key, v13).status, 400)  # two keys
        r = self.raw("/ws", "Upgrade: websocket", "Connection: keep-alive", key, v13)
        self.assertEqual(r.status, 400)
        self.assertEqual(self.upgrade("/ws", key, v13, version="1.0").status, 400)
        r = self.upgrade("/ws", key, v13, method="POST")
        self.assertEqual(r.status, 405)
        self.assertIn("GET", r.header("Allow"))
        self.assertEqual(self.upgrade("/ws", key, v13, method="HEAD").status, 400)

    def test_origin_allow_list(self):
        key = f"Sec-WebSocket-Key: {KEY}"
        v13 = "Sec-WebSocket-Version: 13"
        self.assertEqual(self.upgrade("/wso", key, v13, "Origin: https://evil.example").status,
                         403)
        self.assertEqual(self.upgrade("/wso", key, v13).status, 403)  # none given
        p = self.peer("/wso", ["Origin: https://good.example"])
        self.assertIsNone(p.header("Sec-WebSocket-Protocol"))
        self.assertEcho(p, TEXT, b"allowed")

    def test_origin_refusal_is_the_standard_403(self):
        # A refused Origin says no more than any other 403 (an `allow` refusal here):
        # the same request to both gets the same bytes but for the Date.
        def answer(path):
            req = (f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\n"
                   f"Upgrade: websocket\r\nSec-WebSocket-Key: {KEY}\r\n"
                   "Sec-WebSocket-Version: 13\r\nOrigin: https://evil.example\r\n\r\n")
            with self.srv.connect(5) as s:  # keep-alive: read the one answer
                s.sendall(req.encode())
                data = b""
                while not ft.parse_responses(data)[0]:
                    chunk = s.recv(65536)
                    self.assertTrue(chunk, data)
                    data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            lines = [l for l in head.split(b"\r\n") if not l.lower().startswith(b"date:")]
            return b"\r\n".join(lines) + sep + body
        ws = answer("/wso")
        self.assertTrue(ws.startswith(b"HTTP/1.1 403 Forbidden\r\n"), ws)
        self.assertEqual(ws, answer("/allow-only"))

    def test_subprotocol_selection(self):
        good = "Origin: https://good.example"
        p = self.peer("/wso", [good, "Sec-WebSocket-Protocol: chat, v2.chat"])
        self.assertEqual(p.header("Sec-WebSocket-Protocol"), "v2.chat")  # our preference
        p = self.peer("/wso", [good, "Sec-WebSocket-Protocol: chat"])
        self.assertEqual(p.header("Sec-WebSocket-Protocol"), "chat")
        p = self.peer("/wso", [good, "Sec-WebSocket-Protocol: mqtt"])
        self.assertIsNone(p.header("Sec-WebSocket-Protocol"))
        self.assertEcho(p, TEXT, b"no subprotocol is fine")

    def test_status_route_still_answers(self):
        p = self.peer()
        self.assertEcho(p, TEXT, b"open")
        self.assertEqual(self.srv.get("/status").status, 200)


# ------------------------------------------------------------- real peers

PY_PEER = r"""
import asyncio, json, sys, websockets
async def main(url, compression):
    out = []
    async with websockets.connect(url, compression=compression, max_size=1 << 22,
                                  subprotocols=None) as ws:
        out.append(ws.response_headers.get("Sec-WebSocket-Extensions"))
        big = bytes(i % 253 for i in range(1 << 20))
        for msg in ["h\u00e9llo \U0001F600", b"\x00\x01\xfe\xff", big, "x" * 70000]:
            await ws.send(msg)
            back = await ws.recv()
            out.append([type(back).__name__, len(back), back == msg])
        pong = await ws.ping(b"py")
        await asyncio.wait_for(pong, 5)
        out.append("pong")
    out.append(ws.close_code)
    print(json.dumps(out))
asyncio.run(main(sys.argv[1], None if sys.argv[2] == "none" else "deflate"))
"""

NODE_PEER = r"""
const WebSocket = require('/usr/share/nodejs/ws');
const deflate = process.argv[2] === 'deflate';
const ws = new WebSocket(process.argv[1], {perMessageDeflate: deflate ? {threshold: 0} : false,
                                           maxPayload: 1 << 22});
const big = Buffer.alloc(1 << 20); for (let i = 0; i < big.length; i++) big[i] = i % 253;
const msgs = [['h\u00e9llo \u{1F600}', false], [Buffer.from([0, 1, 254, 255]), true],
              [big, true], ['y'.repeat(70000), false]];
const out = []; let i = 0;
ws.on('open', () => { out.push(ws.extensions); ws.send(msgs[0][0], {binary: msgs[0][1]}); });
ws.on('message', (data, isBinary) => {
  const [m, bin] = msgs[i];
  out.push([isBinary, data.length, Buffer.compare(Buffer.from(m), data) === 0 && bin === isBinary]);
  if (++i < msgs.length) ws.send(msgs[i][0], {binary: msgs[i][1]}); else ws.ping('node');
});
ws.on('pong', (d) => { out.push('pong:' + d.toString()); ws.close(4000, 'node done'); });
ws.on('close', (code) => { out.push(code); console.log(JSON.stringify(out)); });
ws.on('error', (e) => { console.log(JSON.stringify(['error', String(e)])); process.exit(1); });
"""


def python_websockets_missing():
    if not os.access(PY3, os.X_OK):
        return f"{PY3} is missing"
    r = subprocess.run([PY3, "-c", "import websockets"], capture_output=True)
    return "Debian's python3-websockets is not installed" if r.returncode else None


def node_ws_missing():
    if not NODE:
        return "node is not installed"
    if not os.path.exists(os.path.join(NODE_WS, "package.json")):
        return f"node-ws is not installed ({NODE_WS})"
    return None


class RealPeers(WebSocketTestCase):
    def run_peer(self, argv):
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, f"{argv[0]} failed:\n{r.stdout}\n{r.stderr}")
        return json.loads(r.stdout.strip().splitlines()[-1])

    @unittest.skipIf(python_websockets_missing(), python_websockets_missing())
    def test_python_websockets_client(self):
        url = f"ws://127.0.0.1:{self.srv.port}/wsbig"
        for compression in ("none", "deflate"):
            with self.subTest(compression=compression):
                out = self.run_peer([PY3, "-c", PY_PEER, url, compression])
                ext = out[0]
                if compression == "deflate":
                    self.assertTrue(ext and ext.startswith("permessage-deflate"), ext)
                else:
                    self.assertIsNone(ext)
                self.assertEqual(out[1:5], [["str", 7, True], ["bytes", 4, True],
                                            ["bytes", 1 << 20, True], ["str", 70000, True]])
                self.assertEqual(out[5:], ["pong", 1000])

    @unittest.skipIf(node_ws_missing(), node_ws_missing())
    def test_node_ws_client(self):
        url = f"ws://127.0.0.1:{self.srv.port}/wsbig"
        for mode in ("plain", "deflate"):
            with self.subTest(mode=mode):
                out = self.run_peer([NODE, "-e", NODE_PEER, url, mode])
                self.assertEqual(out[0], "permessage-deflate" if mode == "deflate" else "")
                self.assertEqual(out[1:5], [[False, 11, True], [True, 4, True],
                                            [True, 1 << 20, True], [False, 70000, True]])
                self.assertEqual(out[5:], ["pong:node", 4000])


# ------------------------------------------------------- drain on SIGTERM

class DrainOnTerm(unittest.TestCase):
    """SIGTERM: open WebSockets get a 1001 close (RFC 6455 §7.4.1), answer it, and the
    worker then exits without waiting for its shutdown timeout."""

    def test_term_closes_websockets_with_1001(self):
        srv = ft.Server(extra=EXTRA)
        srv.start()
        try:
            p = Peer(srv, "/ws")
            p.send_frame(TEXT, b"before")
            self.assertEqual(p.read_frame().payload, b"before")
            started = time.monotonic()
            srv.signal(signal.SIGTERM)
            f = p.read_frame()
            self.assertEqual(f.op, CLOSE, f)
            self.assertEqual(struct.unpack("!H", f.payload[:2])[0], 1001)
            p.send_frame(CLOSE, close_payload(1001))
            self.assertTrue(p.closed_after(), "the server kept the TCP connection")
            p.close()
            self.assertEqual(srv.wait(15), 0, srv.log())
            self.assertLess(time.monotonic() - started, 8, "the drain waited for its timeout")
        finally:
            srv.kill()
            srv.cleanup()


if __name__ == "__main__":
    ft.run()
