#!/usr/bin/env python3
"""The proxy route's `gzip`: responses the upstream sent uncompressed are gzipped for
clients that take gzip, whatever their framing (length, chunked, until close), with a
weak ETag and Vary; what must not be transformed is passed on as it is; a streamed
body is decodable piece by piece as it arrives. Real flared, a scripted upstream,
raw sockets and curl --compressed."""

import gzip
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flaredtest import (ServerTestCase, parse_responses, patience,  # noqa: E402
                        read_response, read_until_close, run)
from proxy_upstreams import ScriptedUpstream, WithClose, dead_address  # noqa: E402
from test_proxy import proxy_config  # noqa: E402

JSON = b'{"items": [' + b", ".join(b'{"id": %d, "name": "item %d"}' % (i, i)
                                   for i in range(200)) + b"]}"


def ok(fields, body):
    return b"HTTP/1.1 200 OK\r\n" + fields + b"Content-Length: %d\r\n\r\n" % len(body) + body


def chunked(data, size=700):
    out = b""
    for i in range(0, len(data), size):
        piece = data[i:i + size]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    return out + b"0\r\n\r\n"


JSON_TYPE = b"Content-Type: application/json\r\n"
ANSWERS = {
    "/api/json": ok(JSON_TYPE + b'ETag: "v1"\r\n', JSON),
    "/api/weak": ok(JSON_TYPE + b'ETag: W/"v2"\r\n', JSON),
    "/api/html": ok(b"Content-Type: TEXT/HTML; charset=utf-8\r\n", JSON),
    "/api/chunked": b"HTTP/1.1 200 OK\r\n" + JSON_TYPE + b"Transfer-Encoding: chunked\r\n\r\n" +
                    chunked(JSON),
    "/api/png": ok(b"Content-Type: image/png\r\n", JSON),
    "/api/coded": ok(JSON_TYPE + b"Content-Encoding: br\r\n", JSON),
    "/api/identity": ok(JSON_TYPE + b"Content-Encoding: identity\r\n", JSON),
    "/api/notransform": ok(JSON_TYPE + b"Cache-Control: public, no-transform\r\n", JSON),
    "/api/small": ok(JSON_TYPE, b'{"a": 1}'),
    "/api/notype": ok(b"", JSON),
    "/api/error": b"HTTP/1.1 500 Oops\r\n" + JSON_TYPE +
                  b"Content-Length: %d\r\n\r\n" % len(JSON) + JSON,
    "/api/missing": b"HTTP/1.1 404 Not Found\r\n" + JSON_TYPE +
                    b"Content-Length: %d\r\n\r\n" % len(JSON) + JSON,
    "/api/part": b"HTTP/1.1 206 Partial Content\r\n" + JSON_TYPE +
                 b"Content-Range: bytes 0-1999/5000\r\nContent-Length: 2000\r\n\r\n" +
                 JSON[:2000],
    "/api/vary": ok(JSON_TYPE + b"Vary: Origin\r\n", JSON),
    "/api/varies": ok(JSON_TYPE + b"Vary: Origin, accept-encoding\r\n", JSON),
    "/api/empty": ok(JSON_TYPE, b""),
    "/api/ranges": ok(JSON_TYPE + b"Accept-Ranges: bytes\r\n", JSON),
    "/api/trailers": b"HTTP/1.1 200 OK\r\n" + JSON_TYPE + b"Transfer-Encoding: chunked\r\n"
                     b"Trailer: X-Sum\r\n\r\n" + chunked(JSON)[:-2] + b"X-Sum: 1\r\n\r\n",
}


def answer(path):
    if path == "/api/close":
        # No length: the body ends with the connection (RFC 9112 §6.3 item 8).
        return WithClose(b"HTTP/1.1 200 OK\r\n" + JSON_TYPE + b"Connection: close\r\n\r\n" + JSON)
    if path == "/api/stream":
        # The first event, then a pause far longer than the client waits for it.
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n" \
               b"Transfer-Encoding: chunked\r\n\r\n"
        first = b"data: first event, long enough to be worth compressing at all\n\n" * 20
        last = b"data: last\n\n"
        return [head + chunked(first)[:-5]] + [b""] * 10 + [chunked(last)]
    if path == "/api/cut-length":
        # The upstream dies 3000 bytes into a body it announced whole.
        return [ok(JSON_TYPE, JSON)[:-(len(JSON) - 3000)], None]
    if path == "/api/cut-chunked":
        head = b"HTTP/1.1 200 OK\r\n" + JSON_TYPE + b"Transfer-Encoding: chunked\r\n\r\n"
        return [head + chunked(JSON)[:3000], None]
    return ANSWERS[path]


class ProxyGzipTests(ServerTestCase):
    def setUp(self):
        self.up = ScriptedUpstream(lambda number, index, path: answer(path))
        self.addCleanup(self.up.close)
        self.srv = self.start_server(extra=proxy_config(
            [self.up.address],
            route_extra="strip_prefix: false, gzip: {min_size: 1k, types: [application/json, "
                        "text/*]}"))

    def get(self, path, accept=b"gzip", method=b"GET"):
        with self.srv.connect() as s:
            head = method + b" " + path.encode() + b" HTTP/1.1\r\nHost: a\r\n"
            if accept is not None:
                head += b"Accept-Encoding: " + accept + b"\r\n"
            s.sendall(head + b"\r\n")
            resp, _ = read_response(s, method.decode())
        return resp

    def assert_gzipped(self, resp, original):
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.header("Content-Encoding"), "gzip")
        self.assertIsNone(resp.header("Content-Length"))
        self.assertEqual(resp.header("Transfer-Encoding"), "chunked")
        self.assertIn("Accept-Encoding", resp.all("Vary"))
        self.assertEqual(gzip.decompress(resp.body), original)
        self.assertLess(len(resp.body), len(original) // 3)

    def assert_as_sent(self, resp, status=200, original=JSON):
        self.assertEqual(resp.status, status)
        self.assertNotEqual(resp.header("Content-Encoding"), "gzip")
        self.assertEqual(resp.body, original)

    def test_length_framed_json_is_gzipped_with_a_weak_etag(self):
        resp = self.get("/api/json")
        self.assert_gzipped(resp, JSON)
        self.assertEqual(resp.header("ETag"), 'W/"v1"')
        self.assertEqual(self.get("/api/weak").header("ETag"), 'W/"v2"')

    def test_media_type_matches_without_case_or_parameters(self):
        self.assert_gzipped(self.get("/api/html"), JSON)

    def test_every_upstream_framing_is_gzipped(self):
        self.assert_gzipped(self.get("/api/chunked"), JSON)
        self.assert_gzipped(self.get("/api/close"), JSON)
        # identity is no coding: the body is the identity's, gzipped like any other.
        resp = self.get("/api/identity")
        self.assert_gzipped(resp, JSON)
        self.assertEqual(resp.all("Content-Encoding"), ["gzip"])

    def test_client_that_does_not_take_gzip_gets_the_body_as_sent_and_vary(self):
        for accept in (None, b"br", b"gzip;q=0", b"identity, gzip;q=0.5", b"*;q=0, identity"):
            with self.subTest(accept=accept):
                resp = self.get("/api/json", accept)
                self.assert_as_sent(resp)
                self.assertEqual(resp.header("Content-Length"), str(len(JSON)))
                self.assertEqual(resp.header("ETag"), '"v1"')
                self.assertEqual(resp.header("Vary"), "Accept-Encoding")
        # Any accepted form of gzip, "*" included.
        for accept in (b"GZIP", b"deflate, gzip;q=0.8", b"*"):
            with self.subTest(accept=accept):
                self.assert_gzipped(self.get("/api/json", accept), JSON)

    def test_what_must_not_be_transformed_passes_as_it_is(self):
        for path, status in (("/api/png", 200), ("/api/coded", 200), ("/api/notransform", 200),
                             ("/api/notype", 200), ("/api/error", 500)):
            with self.subTest(path=path):
                resp = self.get(path)
                self.assert_as_sent(resp, status)
                self.assertEqual(resp.header("Content-Length"), str(len(JSON)))
                self.assertIsNone(resp.header("Vary"))
        self.assertEqual(self.get("/api/coded").header("Content-Encoding"), "br")
        resp = self.get("/api/small")
        self.assert_as_sent(resp, 200, b'{"a": 1}')
        resp = self.get("/api/part")
        self.assert_as_sent(resp, 206, JSON[:2000])
        self.assertEqual(resp.header("Content-Range"), "bytes 0-1999/5000")
        resp = self.get("/api/empty")
        self.assert_as_sent(resp, 200, b"")
        self.assertEqual(resp.header("Content-Length"), "0")

    def test_404_is_gzipped_as_nginx_does(self):
        resp = self.get("/api/missing")
        self.assertEqual(resp.status, 404)
        self.assertEqual(resp.header("Content-Encoding"), "gzip")
        self.assertEqual(gzip.decompress(resp.body), JSON)

    def test_vary_is_added_once(self):
        resp = self.get("/api/vary")
        self.assertEqual(resp.all("Vary"), ["Origin", "Accept-Encoding"])
        self.assertEqual(self.get("/api/varies").all("Vary"), ["Origin, accept-encoding"])

    def test_head_gets_the_fields_get_would(self):
        resp = self.get("/api/json", method=b"HEAD")
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.header("Content-Encoding"), "gzip")
        self.assertIsNone(resp.header("Content-Length"))
        self.assertEqual(resp.header("Vary"), "Accept-Encoding")
        self.assertEqual(resp.body, b"")

    def test_streamed_body_decodes_as_it_arrives(self):
        with self.srv.connect(timeout=5) as s:
            s.sendall(b"GET /api/stream HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n")
            data = b""
            while b"\r\n\r\n" not in data:
                data += s.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            self.assertIn(b"Content-Encoding: gzip", head)
            # De-chunk and inflate what has arrived; the first event must decode well
            # before the upstream sends the last (2 s later).
            inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
            plain, raw, deadline = b"", b"", time.monotonic() + 1.5
            while b"first event" not in plain:
                self.assertLess(time.monotonic(), deadline, "the first event is held back")
                while True:
                    line, sep, rest = body.partition(b"\r\n")
                    if not sep or len(rest) < int(line, 16) + 2:
                        break
                    size = int(line, 16)
                    raw += rest[:size]
                    body = rest[size + 2:]
                plain += inflate.decompress(raw)
                raw = b""
                if b"first event" not in plain:
                    body += s.recv(65536)
            self.assertNotIn(b"last", plain)

    def test_accept_ranges_is_not_sent_with_gzipped_bytes(self):
        # The upstream's ranges count identity bytes; a resumed gzipped download must
        # not be offered them (nginx drops the field too).
        resp = self.get("/api/ranges")
        self.assert_gzipped(resp, JSON)
        self.assertIsNone(resp.header("Accept-Ranges"))
        resp = self.get("/api/ranges", None)
        self.assert_as_sent(resp)
        self.assertEqual(resp.header("Accept-Ranges"), "bytes")

    def exchange(self, data):
        """The bytes answered to data, up to the server's close (or reset)."""
        with self.srv.connect() as s:
            s.sendall(data)
            out, closed = read_until_close(s, 5)
        self.assertTrue(closed, out[-200:])
        return out

    def test_http10_client_gets_the_gzip_end_and_the_close(self):
        # No chunked coding in HTTP/1.0: the body ends with the connection, and the
        # gzip trailer (CRC and length) tells a whole body from a cut one.
        for path in ("/api/json", "/api/chunked", "/api/close"):
            with self.subTest(path=path):
                out = self.exchange(b"GET " + path.encode() + b" HTTP/1.0\r\n"
                                    b"Accept-Encoding: gzip\r\n\r\n")
                head, _, body = out.partition(b"\r\n\r\n")
                self.assertTrue(head.startswith(b"HTTP/1.1 200 "), head)
                self.assertIn(b"\r\nContent-Encoding: gzip", head)
                self.assertNotIn(b"Transfer-Encoding", head)
                self.assertNotIn(b"Content-Length", head)
                self.assertEqual(gzip.decompress(body), JSON)

    def test_pipelined_requests_follow_gzipped_responses(self):
        ask = b"Host: a\r\nAccept-Encoding: gzip\r\n"
        out = self.exchange(b"GET /api/json HTTP/1.1\r\n" + ask + b"\r\n"
                            b"GET /api/trailers HTTP/1.1\r\n" + ask + b"\r\n"
                            b"GET /api/json HTTP/1.1\r\nAccept-Encoding: br\r\nHost: a\r\n\r\n"
                            b"GET /api/close HTTP/1.1\r\n" + ask + b"Connection: close\r\n\r\n")
        responses, rest = parse_responses(out)
        self.assertEqual(rest, b"")
        self.assertEqual([r.header("Content-Encoding") for r in responses],
                         ["gzip", "gzip", None, "gzip"])
        for r in responses:
            body = r.body if r.header("Content-Encoding") is None else gzip.decompress(r.body)
            self.assertEqual(body, JSON)
        # The upstream's trailer is not passed on as a field of the gzipped body.
        self.assertIsNone(responses[1].header("X-Sum"))

    def test_upstream_cut_is_a_cut_not_a_gzip_end(self):
        # A body the upstream did not finish must not reach the client as a valid gzip
        # stream: the chunked body has no last chunk, and the gzip no trailer.
        for path in ("/api/cut-length", "/api/cut-chunked"):
            with self.subTest(path=path, version="1.1"):
                out = self.exchange(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: a\r\n"
                                    b"Accept-Encoding: gzip\r\n\r\n")
                head, _, body = out.partition(b"\r\n\r\n")
                self.assertIn(b"Content-Encoding: gzip", head)
                self.assertFalse(body.endswith(b"0\r\n\r\n"), body[-20:])
            with self.subTest(path=path, version="1.0"):
                out = self.exchange(b"GET " + path.encode() + b" HTTP/1.0\r\n"
                                    b"Accept-Encoding: gzip\r\n\r\n")
                head, _, body = out.partition(b"\r\n\r\n")
                if not body:
                    continue  # reset before anything was read: a cut as well
                self.assertIn(b"Content-Encoding: gzip", head)
                with self.assertRaises((EOFError, zlib.error, gzip.BadGzipFile)):
                    gzip.decompress(body)

    def test_curl_compressed_reads_every_framing(self):
        curl = shutil.which("curl")
        if not curl:
            self.skipTest("curl is not installed")
        for path in ("/api/json", "/api/chunked", "/api/close"):
            with self.subTest(path=path):
                out = subprocess.run(
                    [curl, "--silent", "--show-error", "--compressed", "--max-time", "10",
                     f"http://127.0.0.1:{self.srv.port}{path}"], capture_output=True, timeout=20)
                self.assertEqual(out.returncode, 0, out.stderr)
                self.assertEqual(out.stdout, JSON)


class ProxyGzipLoadTests(ServerTestCase):
    """Many compressed responses at once, and one big one to a client that does not read."""

    def test_streams_reused_across_levels_and_more_than_the_pool_at_once(self):
        # 40 responses in flight at once (more than the 16 streams a worker keeps), on two
        # routes of different levels, three times over: every stream taken from the pool
        # is reset to its route's level and makes a whole, correct gzip.
        big = JSON * 10
        half = len(big) // 2

        def answer(number, index, path):
            head = b"HTTP/1.1 200 OK\r\n" + JSON_TYPE + b"Transfer-Encoding: chunked\r\n\r\n"
            return [head + b"%x\r\n" % half + big[:half] + b"\r\n",
                    b"%x\r\n" % (len(big) - half) + big[half:] + b"\r\n0\r\n\r\n"]

        up = ScriptedUpstream(answer)
        self.addCleanup(up.close)
        srv = self.start_server(extra=f"""\
  - path: /fast/
    proxy: {{upstream: app, gzip: {{level: 1}}}}
  - path: /best/
    proxy: {{upstream: app, gzip: {{level: 9}}}}
upstreams:
  app:
    servers: ["{up.address}"]
""")
        for round_ in range(3):
            results = {}

            def fetch(i):
                path = ("/fast/" if i % 2 else "/best/") + str(i)
                with srv.connect(timeout=10) as s:
                    s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: a\r\n"
                              b"Accept-Encoding: gzip\r\nConnection: close\r\n\r\n")
                    out, _ = read_until_close(s, 10)
                try:
                    responses, _ = parse_responses(out)
                    results[i] = gzip.decompress(responses[0].body) == big
                except Exception as e:  # noqa: BLE001 - reported below
                    results[i] = repr(e)

            threads = [threading.Thread(target=fetch, args=(i,)) for i in range(40)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            with self.subTest(round=round_):
                self.assertEqual([i for i in range(40) if results.get(i) is not True], [])

    def test_slow_reader_holds_the_upstream_back(self):
        # 16 MiB the deflate stream cannot shrink, to a client that reads nothing: the
        # proxy stops reading the upstream once the client's socket is full, rather than
        # compressing the whole body into memory, and reads on as the client does.
        size = 16 << 20
        body = random.Random(3).randbytes(1 << 20) * 16
        sent = [0]
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(1)
        self.addCleanup(lsock.close)

        def serve():
            conn, _ = lsock.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\n" + JSON_TYPE +
                             b"Content-Length: %d\r\n\r\n" % size)
                try:
                    for i in range(0, size, 65536):
                        conn.sendall(body[i:i + 65536])
                        sent[0] = i + 65536
                except OSError:
                    pass

        threading.Thread(target=serve, daemon=True).start()
        srv = self.start_server(extra=proxy_config(
            ["127.0.0.1:%d" % lsock.getsockname()[1]],
            route_extra="strip_prefix: false, gzip: {level: 1}",
            upstream_extra="    read_timeout: 10s\n").replace("    read_timeout: 1s\n", ""))
        with srv.connect(timeout=20, rcvbuf=4096) as s:
            s.sendall(b"GET /api/big HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n"
                      b"Connection: close\r\n\r\n")
            # Until the upstream's sending stops (the sockets between are full).
            held, deadline = -1, time.monotonic() + patience(10)
            while sent[0] != held and time.monotonic() < deadline:
                held = sent[0]
                time.sleep(0.5)
            self.assertEqual(sent[0], held, "the upstream is still being read")
            self.assertLess(held, size // 2, "the upstream was read regardless")
            # Reading (a small window: only some of it) lets the upstream go on.
            got = bytearray()
            while len(got) < 4 << 20:
                got += s.recv(1 << 20)
        self.assertIn(b"\r\nContent-Encoding: gzip\r\n", bytes(got[:1000]))
        self.assertGreater(sent[0], held)
        # What arrived, de-chunked (whole chunks) and inflated, begins the body.
        data, pos = bytes(got), bytes(got).index(b"\r\n\r\n") + 4
        coded = b""
        while (eol := data.find(b"\r\n", pos)) >= 0:
            n = int(data[pos:eol], 16)
            if n == 0 or eol + 2 + n + 2 > len(data):
                break
            coded += data[eol + 2:eol + 2 + n]
            pos = eol + 2 + n + 2
        plain = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(coded)
        self.assertGreater(len(plain), 1 << 20)
        self.assertEqual(plain, body[:len(plain)])


class ProxyRouteHeadersTests(ServerTestCase):
    def test_route_headers_go_on_proxied_and_own_answers(self):
        up = ScriptedUpstream(lambda number, index, path: answer(path))
        self.addCleanup(up.close)
        config = proxy_config([up.address], route_extra="strip_prefix: false")
        config = config.replace("    proxy: {", "    headers: {X-Frame-Options: DENY}\n    proxy: {", 1)
        srv = self.start_server(extra=config)
        for path, status in (("/api/json", 200), ("/api/missing", 404), ("/api/./x", 400)):
            with self.subTest(path=path), srv.connect() as s:
                s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: a\r\n\r\n")
                resp, _ = read_response(s)
                self.assertEqual((resp.status, resp.header("X-Frame-Options")), (status, "DENY"))
        # The proxy's own error answer (no upstream listening) carries them too.
        config = proxy_config([dead_address()], route_extra="strip_prefix: false")
        config = config.replace("    proxy: {", "    headers: {X-Frame-Options: DENY}\n    proxy: {", 1)
        srv = self.start_server(extra=config)
        with srv.connect() as s:
            s.sendall(b"GET /api/json HTTP/1.1\r\nHost: a\r\n\r\n")
            resp, _ = read_response(s)
            self.assertEqual((resp.status, resp.header("X-Frame-Options")), (502, "DENY"))


if __name__ == "__main__":
    run()
