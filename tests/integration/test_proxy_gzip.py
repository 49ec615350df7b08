#!/usr/bin/env python3
"""The proxy route's `gzip`: responses the upstream sent uncompressed are gzipped for
clients that take gzip, whatever their framing (length, chunked, until close), with a
weak ETag and Vary; what must not be transformed is passed on as it is; a streamed
body is decodable piece by piece as it arrives. Real flared, a scripted upstream,
raw sockets and curl --compressed."""

import gzip
import os
import shutil
import subprocess
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flaredtest import ServerTestCase, read_response, run  # noqa: E402
from proxy_upstreams import ScriptedUpstream, WithClose  # noqa: E402
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


if __name__ == "__main__":
    run()
