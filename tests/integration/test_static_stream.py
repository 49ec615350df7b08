#!/usr/bin/env python3
"""Static-route bodies written as the client reads them (src/flared/static_stream.c).
On-the-fly gzip of files above the in-memory limit (1 MiB): real curl --compressed
over clear text and TLS gets the exact bytes; HTTP/1.0 gets a body delimited by
the close; HEAD gets the same head and no body; a Range request gets identity; and
clients that stop reading keep the worker's memory bounded (the file is read only
as fast as the client takes the output). Directory listings: a page of many MB is
listed whole, chunked, and stalled readers of it keep the worker's memory bounded."""
import base64
import concurrent.futures
import gzip
import hashlib
import os
import random
import shutil
import socket
import subprocess
import sys
import time
import unittest
import zlib

import flaredtest as ft

CURL = shutil.which("curl")
OPENSSL = shutil.which("openssl")
SLOW_CLIENTS = 6
LISTED = 8000  # names of 240 bytes, mostly '&': a listing page of about 17 MB

CONFIG = """\
workers: 1
error_log: stderr
timeouts: {{write: 60s}}
listeners:
  - address: 127.0.0.1:{port}
  - address: 127.0.0.1:{tls_port}
    tls:
      certificates:
        - {{cert: server.pem, key: server.key}}
routes:
  - path: /
    static: {{root: site, gzip: {{level: 1, min_size: 100}}, cache_control: "max-age=60"}}
  - path: /many/
    static: {{root: site, autoindex: true}}
"""


class StreamServer(ft.Server):
    """ft.Server with a clear-text and a TLS listener on one static route with gzip."""

    def config_text(self, **overrides):
        self.tls_port = ft.free_port()  # each start's attempt picks both ports anew
        return CONFIG.format(port=self.port, tls_port=self.tls_port)

    def start(self, timeout=5.0):
        super().start(timeout)
        if not ft.wait_for(lambda: ft.accepts_or_died(self.proc, self.tls_port), 5.0):
            raise AssertionError(f"no TLS listener on {self.tls_port}:\n{self.log()}")
        return self


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def head_fields(head):
    lines = head.decode("latin-1").split("\r\n")
    return lines[0], [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:] if line]


def drain(sock, timeout):
    """Reads until the peer closes; returns the bytes (a bytearray: fast to grow)."""
    data = bytearray()
    sock.settimeout(timeout)
    while chunk := sock.recv(1 << 20):
        data += chunk
    return data


def dechunk(data):
    """The payload of a chunked body (RFC 9112 §7.1) and what follows it."""
    out, pos = bytearray(), 0
    while True:
        eol = data.index(b"\r\n", pos)
        size = int(bytes(data[pos:eol]).split(b";")[0], 16)
        pos = eol + 2
        if size == 0:
            return bytes(out), bytes(data[pos:])
        out += data[pos:pos + size]
        pos += size + 2


def wait_idle(pid, timeout):
    """Waits until pid has used no CPU for a second (or timeout): whatever it would do
    without its clients reading is done."""
    deadline = time.monotonic() + ft.patience(timeout)
    last = cpu_ticks(pid)
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = cpu_ticks(pid)
        if now == last:
            return
        last = now


def field(fields, name):
    values = [v for n, v in fields if n.lower() == name.lower()]
    if len(values) > 1:
        raise AssertionError(f"{name} appears {len(values)} times in {fields}")
    return values[0] if values else None


@unittest.skipUnless(CURL and OPENSSL, "curl and openssl are needed")
class StaticStreamTests(ft.SharedServerTestCase):
    server_class = StreamServer

    @classmethod
    def prepare_server(cls, srv):
        rng = random.Random(7)
        words = [b"alpha", b"bravo", b"charlie", b"delta", b"echo", b"foxtrot", b"golf",
                 b"hotel", b"india", b"juliet", b"kilo", b"lima", b"mike", b"november"]
        # About 6 MiB of text: compressible, and far above the 1 MiB in-memory limit.
        cls.text = b"".join(b"%07d " % i + b" ".join(rng.choices(words, k=12)) + b"\n"
                            for i in range(75000))
        # 24 MiB that compresses to about three quarters: base64 of random bytes.
        cls.huge = base64.encodebytes(rng.randbytes(18 << 20))
        site = os.path.join(srv.dir, "site")
        os.makedirs(site)
        for name, data in (("big.txt", cls.text), ("huge.txt", cls.huge),
                           ("small.txt", cls.text[:20000])):
            with open(os.path.join(site, name), "wb") as f:
                f.write(data)
        os.makedirs(os.path.join(site, "many"))
        for i in range(LISTED):
            open(os.path.join(site, "many", "%05d" % i + "&" * 235), "wb").close()
        cls.cert = os.path.join(srv.dir, "server.pem")
        p = subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                            os.path.join(srv.dir, "server.key"), "-out", cls.cert, "-days", "2",
                            "-subj", "/CN=localhost", "-addext",
                            "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                           capture_output=True, timeout=30)
        assert p.returncode == 0, p.stderr.decode()

    # -- clients --------------------------------------------------------------
    def curl_compressed(self, url, *args):
        """curl --compressed to a file; returns (head fields, decoded body)."""
        out = os.path.join(self.srv.dir, "curl.out")
        hdr = os.path.join(self.srv.dir, "curl.head")
        for path in (out, hdr):  # curl writes no file for an empty body
            if os.path.exists(path):
                os.unlink(path)
        p = subprocess.run([CURL, "--silent", "--show-error", "--max-time", "60", "--compressed",
                            "--cacert", self.cert, "-D", hdr, "-o", out, *args, url],
                           capture_output=True, timeout=90)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        with open(hdr, "rb") as f:
            status, fields = head_fields(f.read().rstrip(b"\r\n"))
        if not os.path.exists(out):
            return status, fields, b""
        with open(out, "rb") as f:
            return status, fields, f.read()

    def assertStreamedGzip(self, status, fields):
        self.assertTrue(status.startswith("HTTP/1.1 200"), status)
        self.assertEqual(field(fields, "Content-Encoding"), "gzip")
        self.assertEqual(field(fields, "Transfer-Encoding"), "chunked")
        self.assertIsNone(field(fields, "Content-Length"))
        self.assertEqual(field(fields, "Vary"), "Accept-Encoding")
        tag = field(fields, "ETag")
        self.assertTrue(tag.startswith('W/"') and tag.endswith('-gzip"'), tag)
        self.assertEqual(field(fields, "Content-Type"), "text/plain; charset=utf-8")
        self.assertEqual(field(fields, "Cache-Control"), "max-age=60")
        self.assertIsNotNone(field(fields, "Last-Modified"))
        self.assertIsNone(field(fields, "Accept-Ranges"))  # nginx's gzip filter drops it too
        return tag

    # -- tests ------------------------------------------------------------------
    def test_curl_compressed_clear_text(self):
        status, fields, body = self.curl_compressed(f"http://127.0.0.1:{self.srv.port}/big.txt")
        self.assertStreamedGzip(status, fields)
        self.assertEqual(hashlib.sha256(body).digest(), hashlib.sha256(self.text).digest())

    def test_curl_compressed_tls(self):
        status, fields, body = self.curl_compressed(
            f"https://127.0.0.1:{self.srv.tls_port}/big.txt")
        self.assertStreamedGzip(status, fields)
        self.assertEqual(hashlib.sha256(body).digest(), hashlib.sha256(self.text).digest())

    def test_gzip_bytes_and_keep_alive(self):
        """The raw body is one gzip member, and the connection goes on after it."""
        with self.srv.connect(timeout=30) as s:
            req = b"GET /big.txt HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n"
            s.sendall(req + b"GET /small.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            data, closed = ft.read_until_close(s, 60)
        self.assertTrue(closed)
        (first, second), rest = ft.parse_responses(data)
        self.assertEqual((first.status, second.status, rest), (200, 200, b""))
        self.assertEqual(first.header("Content-Encoding"), "gzip")
        self.assertEqual(gzip.decompress(first.body), self.text)
        self.assertLess(len(first.body), len(self.text) // 2)
        self.assertEqual(second.body, self.text[:20000])

    def test_http10_is_delimited_by_the_close(self):
        data, closed = self.srv.exchange(
            b"GET /big.txt HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n", timeout=60)
        self.assertTrue(closed)
        head, _, body = data.partition(b"\r\n\r\n")
        status, fields = head_fields(head)
        self.assertTrue(status.startswith("HTTP/1.1 200"), status)
        self.assertEqual(field(fields, "Content-Encoding"), "gzip")
        self.assertIsNone(field(fields, "Content-Length"))
        self.assertIsNone(field(fields, "Transfer-Encoding"))
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self.assertEqual(d.decompress(body) + d.flush(), self.text)
        self.assertTrue(d.eof)  # the whole member: the close came after its end

    def test_head_has_the_head_of_get_and_no_body(self):
        with self.srv.connect(timeout=30) as s:
            s.sendall(b"HEAD /big.txt HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n"
                      b"GET /big.txt HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n"
                      b"Connection: close\r\n\r\n")
            data, closed = ft.read_until_close(s, 60)
        self.assertTrue(closed)
        # parse_responses reads no body after a HEAD: a body would break the GET's parse.
        (head, get), rest = ft.parse_responses(data, ["HEAD", "GET"])
        self.assertEqual((head.status, get.status, rest), (200, 200, b""))
        self.assertEqual(head.body, b"")
        self.assertEqual(gzip.decompress(get.body), self.text)
        for name in ("Content-Type", "Content-Encoding", "Transfer-Encoding", "ETag",
                     "Last-Modified", "Vary", "Content-Length", "Accept-Ranges"):
            self.assertEqual(head.header(name), get.header(name), name)
        self.assertEqual(head.header("Content-Encoding"), "gzip")

    def test_range_is_served_identity(self):
        status, fields, body = self.curl_compressed(
            f"http://127.0.0.1:{self.srv.port}/big.txt", "-r", "1000-1999")
        self.assertTrue(status.startswith("HTTP/1.1 206"), status)
        self.assertIsNone(field(fields, "Content-Encoding"))
        self.assertEqual(field(fields, "Content-Range"), f"bytes 1000-1999/{len(self.text)}")
        self.assertEqual(body, self.text[1000:2000])

    def test_if_none_match_weak_tag(self):
        status, fields, _ = self.curl_compressed(f"http://127.0.0.1:{self.srv.port}/big.txt")
        tag = self.assertStreamedGzip(status, fields)
        status, fields, body = self.curl_compressed(
            f"http://127.0.0.1:{self.srv.port}/big.txt", "-H", f"If-None-Match: {tag}")
        self.assertTrue(status.startswith("HTTP/1.1 304"), status)
        self.assertEqual(field(fields, "ETag"), tag)
        self.assertEqual(body, b"")

    def test_slow_clients_keep_memory_bounded(self):
        """Clients that read the head and stop: each response stays at the mark of
        queued output instead of compressing the whole 24 MiB file (18 MiB of gzip)
        into memory; once they read again, each gets the exact bytes."""
        self.curl_compressed(f"http://127.0.0.1:{self.srv.port}/big.txt")  # warm up
        # About 1.5 MiB per client (deflate state and queued output); holding the
        # compressed file would take 18 MiB per client, over 100 MiB in all.
        replies = self.stalled_readers(b"GET /huge.txt HTTP/1.1\r\nHost: t\r\n"
                                       b"Accept-Encoding: gzip\r\n", 32)
        for fields, payload in replies:
            self.assertEqual(field(fields, "Content-Encoding"), "gzip")
            self.assertEqual(hashlib.sha256(gzip.decompress(payload)).digest(),
                             hashlib.sha256(self.huge).digest())

    def test_file_cut_while_sent_is_never_complete(self):
        """A file truncated while its gzip is sent: the response is cut (no last chunk,
        the connection closed), never a complete body of other bytes."""
        path = os.path.join(self.srv.dir, "site", "shrink.txt")
        with open(path, "wb") as f:
            f.write(self.huge)
        with self.srv.connect(timeout=60, rcvbuf=4096) as s:
            s.sendall(b"GET /shrink.txt HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n"
                      b"Connection: close\r\n\r\n")
            first = ft.recv_head(s)
            os.truncate(path, len(self.huge) // 2)  # past what the worker has read yet
            data = first + drain(s, 60)
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertIn(b"Content-Encoding: gzip\r\n", head + b"\r\n")
        self.assertFalse(body.endswith(b"\r\n0\r\n\r\n"), body[-20:])
        self.assertIn("became shorter", self.srv.log())

    def stalled_readers(self, request, bound_mib):
        """SLOW_CLIENTS connections with tiny windows send request (without its blank
        line) and stop reading after the head; once the worker is idle, its RSS must
        have grown by less than bound_mib. Then they read on; returns each one's
        (head fields, dechunked body)."""
        (worker,) = self.srv.wait_workers(1)
        before = ft.rss_kib(worker)
        socks = []
        try:
            for _ in range(SLOW_CLIENTS):
                s = self.srv.connect(timeout=60, rcvbuf=4096)
                socks.append(s)
                s.sendall(request + b"Connection: close\r\n\r\n")
            heads = [ft.recv_head(s) for s in socks]
            wait_idle(worker, 60)
            grown_mib = (ft.rss_kib(worker) - before) / 1024
            print(f"worker RSS grew by {grown_mib:.1f} MiB", file=sys.stderr)
            self.assertLess(grown_mib, bound_mib, f"worker RSS grew by {grown_mib:.1f} MiB")
            # All read at once: one after another, the last would wait past the
            # write timeout while the first take their bytes through tiny windows.
            with concurrent.futures.ThreadPoolExecutor(len(socks)) as pool:
                replies = list(pool.map(lambda s: drain(s, 120), socks))
        finally:
            for s in socks:
                s.close()
        out = []
        for first, data in zip(heads, replies):
            head, _, body = (first + data).partition(b"\r\n\r\n")
            status, fields = head_fields(head)
            self.assertTrue(status.startswith("HTTP/1.1 200"), status)
            payload, rest = dechunk(body)
            self.assertEqual(rest, b"\r\n")  # the chunked body's end: no trailer
            out.append((fields, payload))
        return out

    # -- directory listings ---------------------------------------------------
    def listing_rows(self, page):
        return page.count(b"<tr><td><a href=")

    def test_large_listing_is_whole_and_chunked(self):
        """A page of about 17 MB: every entry is listed (no 1 MiB cap), chunked."""
        with self.srv.connect(timeout=60) as s:
            s.sendall(b"GET /many/ HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            data = drain(s, 60)
        head, _, body = data.partition(b"\r\n\r\n")
        status, fields = head_fields(head)
        self.assertTrue(status.startswith("HTTP/1.1 200"), status)
        self.assertEqual(field(fields, "Transfer-Encoding"), "chunked")
        self.assertEqual(field(fields, "Content-Type"), "text/html; charset=utf-8")
        page, rest = dechunk(body)
        self.assertEqual(rest, b"\r\n")
        self.assertGreater(len(page), 16 << 20)
        self.assertEqual(self.listing_rows(page), LISTED + 1)  # and the parent's row
        self.assertNotIn(b"Only the first", page)
        self.assertTrue(page.endswith(b"</table>\n</body></html>\n"))
        name = ("%05d" % (LISTED - 1)).encode() + b"&amp;" * 235 + b"</a>"
        self.assertIn(name, page)

    def test_listing_head_and_http10(self):
        with self.srv.connect(timeout=30) as s:
            s.sendall(b"HEAD /many/ HTTP/1.1\r\nHost: t\r\n\r\n"
                      b"GET /small.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            data, closed = ft.read_until_close(s, 60)
        self.assertTrue(closed)
        (head, get), rest = ft.parse_responses(data, ["HEAD", "GET"])
        self.assertEqual((head.status, head.body, get.status, rest), (200, b"", 200, b""))
        self.assertEqual(head.header("Transfer-Encoding"), "chunked")
        self.assertEqual(get.body, self.text[:20000])
        data, closed = self.srv.exchange(b"GET /many/ HTTP/1.0\r\n\r\n", timeout=60)
        self.assertTrue(closed)
        head, _, page = data.partition(b"\r\n\r\n")
        _, fields = head_fields(head)
        self.assertIsNone(field(fields, "Transfer-Encoding"))
        self.assertIsNone(field(fields, "Content-Length"))
        self.assertEqual(self.listing_rows(page), LISTED + 1)
        self.assertTrue(page.endswith(b"</body></html>\n"))

    def test_stalled_listing_readers_keep_memory_bounded(self):
        """Readers that stop after the head: the page is written only as they read,
        so each holds the sorted entries (about 2 MB here) and queued output, not the
        17 MB page."""
        # Whole pages would take 6 x 17 MB, over 100 MiB.
        for _, page in self.stalled_readers(b"GET /many/ HTTP/1.1\r\nHost: t\r\n", 48):
            self.assertEqual(self.listing_rows(page), LISTED + 1)


if __name__ == "__main__":
    ft.run()
