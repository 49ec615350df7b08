#!/usr/bin/env python3
"""`flare -T` and a lone `--data-binary @FILE`: request bodies streamed from a file
(Content-Length from fstat) or standard input (chunked), never read into memory.
The uploads go through the real flared (a proxy route with max_body_bytes raised)
to proxy_upstreams.RawUpstream, whose /upload answers the length and SHA-256 of
the body it drained and which records each request head; a raw listener watches a
file shrink mid-upload. Retries with a rewound file are in test_client_retry.py."""
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import flaredtest as ft
from proxy_upstreams import RawUpstream
from test_flare_cli import FLARE, flare, one_line
from test_proxy import proxy_config

BIG = 256 << 20  # the memory test's upload
RSS_BOUND_KIB = 32 << 10

# Runs argv and prints its peak RSS in KiB (RUSAGE_CHILDREN of this wrapper alone,
# so no other process of the test counts).
PEAK_RSS = ("import resource, subprocess, sys\n"
            "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
            "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")


def head_fields(head):
    """{lower-case name: value} and the request line of a recorded head."""
    lines = head.split("\r\n")
    return lines[0], {n.strip().lower(): v.strip()
                      for n, _, v in (line.partition(":") for line in lines[1:])}


class UploadTests(ft.SharedServerTestCase):
    """flare -> flared (proxy route /api/) -> RawUpstream."""

    @classmethod
    def setUpClass(cls):
        cls.up = RawUpstream()
        redirects = "".join(f"  - path: /r{status}\n    redirect: {{to: /api/upload, "
                            f"status: {status}}}\n" for status in (301, 302, 303, 307, 308))
        cls.server_kwargs = {"extra": redirects + proxy_config([cls.up.address]).replace(
            "proxy: {upstream: app,", "max_body_bytes: 1g\n    proxy: {upstream: app,")
            .replace("read_timeout: 1s", "read_timeout: 20s")}
        try:
            super().setUpClass()
        except BaseException:
            cls.up.close()
            raise
        cls.url = f"http://127.0.0.1:{cls.srv.port}/api"
        cls.dir = tempfile.mkdtemp(prefix="flare-upload-")
        cls.data = os.urandom(3 << 20) + b"\r\n\n no newline is dropped\r\n"
        cls.file = os.path.join(cls.dir, "data one.bin")
        with open(cls.file, "wb") as f:
            f.write(cls.data)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, True)
        cls.up.close()
        super().tearDownClass()

    def upload(self, *args, stdin=None):
        """Runs flare; returns (the upstream's answer as a dict, the head it saw)."""
        before = len(self.up.requests)
        rc, out, err = flare(*args, stdin=stdin, timeout=120)
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(self.up.requests), before + 1)
        return json.loads(out), self.up.requests[-1][1]

    def expect(self, data):
        return {"length": len(data), "sha256": hashlib.sha256(data).hexdigest()}

    def test_upload_file(self):
        got, head = self.upload("-T", self.file, self.url + "/upload")
        self.assertEqual(got, self.expect(self.data))
        line, fields = head_fields(head)
        self.assertTrue(line.startswith("PUT /upload "), line)
        self.assertEqual(fields.get("content-length"), str(len(self.data)))
        self.assertNotIn("transfer-encoding", fields)
        self.assertNotIn("content-type", fields)  # as curl -T: none unless -H says
        # --upload-file is the long name; -X wins over PUT; -H names a type
        got, head = self.upload("--upload-file", self.file, "-X", "POST", "-H",
                                "Content-Type: application/octet-stream", self.url + "/upload")
        self.assertEqual(got, self.expect(self.data))
        line, fields = head_fields(head)
        self.assertTrue(line.startswith("POST /upload "), line)
        self.assertEqual(fields.get("content-type"), "application/octet-stream")
        self.assertEqual(fields.get("content-length"), str(len(self.data)))

    def test_upload_stdin_is_chunked(self):
        data = os.urandom(200_000)
        got, head = self.upload("-T", "-", self.url + "/upload", stdin=data)
        self.assertEqual(got, self.expect(data))
        line, fields = head_fields(head)
        self.assertTrue(line.startswith("PUT /upload "), line)
        self.assertNotIn("content-length", fields)
        # what flare sent: flared relays a chunked request chunked
        self.assertEqual(fields.get("transfer-encoding"), "chunked")
        # an empty stdin is an empty body
        got, head = self.upload("-T", "-", self.url + "/upload", stdin=b"")
        self.assertEqual(got, self.expect(b""))

    def test_data_binary_file_is_streamed_as_is(self):
        got, head = self.upload("--data-binary", "@" + self.file, self.url + "/upload")
        self.assertEqual(got, self.expect(self.data))  # CR and LF kept
        line, fields = head_fields(head)
        self.assertTrue(line.startswith("POST /upload "), line)
        self.assertEqual(fields.get("content-length"), str(len(self.data)))
        # `flare put URL @FILE` sends the file as --data-binary does: streamed
        got, head = self.upload("put", self.url + "/upload", "@" + self.file)
        self.assertEqual(got, self.expect(self.data))
        line, fields = head_fields(head)
        self.assertTrue(line.startswith("PUT /upload "), line)
        self.assertEqual(fields.get("content-length"), str(len(self.data)))
        # -d @FILE keeps curl's meaning: newlines dropped (read into memory)
        got, head = self.upload("-d", "@" + self.file, self.url + "/upload")
        self.assertEqual(got, self.expect(self.data.replace(b"\r", b"").replace(b"\n", b"")))
        # joined with more data, --data-binary @FILE is read and joined with '&'
        got, head = self.upload("--data-binary", "@" + self.file, "--data-raw", "x=1",
                                self.url + "/upload")
        self.assertEqual(got, self.expect(self.data + b"&x=1"))

    def test_data_binary_file_the_system_sizes_0(self):
        # Files under /proc report size 0 yet have content: --data-binary sends what a
        # read gives (as before streaming, and as curl), not an empty body.
        with open("/proc/version", "rb") as f:
            data = f.read()
        self.assertEqual(os.stat("/proc/version").st_size, 0)
        self.assertTrue(data)
        got, head = self.upload("--data-binary", "@/proc/version", self.url + "/upload")
        self.assertEqual(got, self.expect(data))
        self.assertEqual(head_fields(head)[1].get("content-length"), str(len(data)))
        # a file that is truly empty is an empty body, with its length
        empty = os.path.join(self.dir, "empty")
        open(empty, "wb").close()
        got, head = self.upload("--data-binary", "@" + empty, self.url + "/upload")
        self.assertEqual(got, self.expect(b""))
        self.assertEqual(head_fields(head)[1].get("content-length"), "0")

    def request_line(self, *args, stdin=None):
        """The request line that reached the upstream (which answers 404 for a path
        not its /upload: flare exits 4)."""
        before = len(self.up.requests)
        rc, out, err = flare(*args, stdin=stdin)
        self.assertIn(rc, (0, 4), err)
        self.assertEqual(len(self.up.requests), before + 1)
        return self.up.requests[-1][1].split("\r\n")[0]

    def test_url_ending_in_slash_gets_the_file_name(self):
        # the base name, percent-encoded, after the '/' (before a query)
        self.assertEqual(self.request_line("-T", self.file, self.url + "/dir/"),
                         "PUT /dir/data%20one.bin HTTP/1.1")
        self.assertEqual(self.request_line("-T", self.file, self.url + "/dir/?q=1"),
                         "PUT /dir/data%20one.bin?q=1 HTTP/1.1")
        # a path that names a file is kept; stdin has no name to add
        self.assertEqual(self.request_line("-T", self.file, self.url + "/dir/name"),
                         "PUT /dir/name HTTP/1.1")
        self.assertEqual(self.request_line("-T", "-", self.url + "/dir/", stdin=b"abc"),
                         "PUT /dir/ HTTP/1.1")
        # an empty path is the root: "/" and the name (flared answers that PUT itself)
        rc, out, err = flare("-v", "-T", self.file, f"127.0.0.1:{self.srv.port}")
        self.assertIn("\n> PUT /data%20one.bin HTTP/1.1\n", err)

    def test_redirects(self):
        """A file is read again for a redirect that keeps the body; standard input
        cannot be, and flare says why it stops at any redirect that would need it."""
        base = f"http://127.0.0.1:{self.srv.port}"
        for status in (301, 302, 307, 308):
            with self.subTest(status=status):
                # PUT keeps its method and body on every redirect (only POST becomes GET)
                got, head = self.upload("-L", "-T", self.file, f"{base}/r{status}")
                self.assertEqual(got, self.expect(self.data))
                self.assertTrue(head.startswith("PUT /upload "), head[:40])
                before = len(self.up.requests)
                rc, out, err = flare("-L", "-T", "-", f"{base}/r{status}", stdin=b"abc")
                self.assertEqual(rc, 4, err)
                self.assertIn(f"not following the {status} redirect: the body from standard "
                              "input cannot be sent again", one_line(self, err))
                self.assertEqual(len(self.up.requests), before)
        got, head = self.upload("-L", "--data-binary", "@" + self.file, f"{base}/r307")
        self.assertEqual(got, self.expect(self.data))
        self.assertTrue(head.startswith("POST /upload "), head[:40])
        # 301, 302 and 303 make a POST a GET without a body, from stdin too
        for status in (301, 302, 303):
            with self.subTest(status=status):
                got, head = self.upload("-L", "-X", "POST", "-T", "-", f"{base}/r{status}",
                                        stdin=b"abc")
                self.assertEqual(got, self.expect(b""))
                self.assertTrue(head.startswith("GET /upload "), head[:40])

    def test_usage_errors(self):
        rc, out, err = flare("--help")
        self.assertIn(b"-T, --upload-file FILE", out)
        missing = os.path.join(self.dir, "missing")
        for args, reason in (
                (["-T", missing], f"cannot read {missing}: No such file or directory"),
                (["-T", self.dir], f"cannot send {self.dir}: it is a directory"),
                (["--data-binary", "@" + missing], f"cannot read {missing}"),
                (["-T", self.file, "-d", "x"], "-T and -d/--data* (or a second -T) both give"),
                (["--data-binary", "@" + self.file, "-T", self.file], "both give"),
                (["-T", self.file, "-T", self.file], "both give"),
                (["-T", self.file, "-I"], "a HEAD request carries no body"),
                (["-T", "-", self.url + "/upload"], "standard input can be sent once"),
                (["-T"], "option -T needs an argument")):
            with self.subTest(args=args):
                before = len(self.up.requests)
                rc, out, err = flare(self.url + "/upload", *args, stdin=b"x")
                self.assertEqual(rc, 1, err)
                self.assertIn(reason, one_line(self, err))
                self.assertEqual(len(self.up.requests), before)  # nothing was sent

    def peak_rss_kib(self, *args):
        """Runs flare -o FILE with args to /upload; returns (its answer, peak RSS in KiB)."""
        answer = os.path.join(self.dir, "answer")
        p = subprocess.run([sys.executable, "-c", PEAK_RSS, FLARE, "-o", answer, *args,
                            self.url + "/upload"], capture_output=True, text=True, timeout=300)
        rc, peak_kib = map(int, p.stdout.split())
        self.assertEqual(rc, 0, p.stderr)
        with open(answer) as f:
            return json.load(f), peak_kib

    def test_memory_stays_bounded(self):
        path = os.path.join(self.dir, "big.bin")
        block = os.urandom(1 << 20)
        digest = hashlib.sha256()
        with open(path, "wb") as f:
            for _ in range(BIG >> 20):
                f.write(block)
                digest.update(block)
        self.addCleanup(os.unlink, path)
        want = {"length": BIG, "sha256": digest.hexdigest()}
        _, floor_kib = self.peak_rss_kib("--data-binary", "small")  # flare's own footprint
        # A sanitized flare (CI's ASan build) carries shadow memory: its floor says how much.
        with open(FLARE, "rb") as f:
            sanitized = b"__asan_init" in f.read()
        for args in (["-T", path], ["--data-binary", "@" + path]):
            with self.subTest(args=args):
                got, peak_kib = self.peak_rss_kib(*args)
                self.assertEqual(got, want)
                detail = (f"flare's peak RSS was {peak_kib} KiB for a {BIG >> 20} MiB upload, "
                          f"{floor_kib} KiB for a small one")
                self.assertLess(peak_kib - floor_kib, 16 << 10, detail)
                if not sanitized:
                    self.assertLess(peak_kib, RSS_BOUND_KIB, detail)


class ShrinkTests(unittest.TestCase):
    """A file cut shorter while flare sends it: the request fails with a clear error and
    the connection closes mid-body; a short body never passes for the whole."""

    def test_file_that_shrinks_while_sent(self):
        d = tempfile.mkdtemp(prefix="flare-shrink-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "shrinks.bin")
        size = 64 << 20
        with open(path, "wb") as f:
            f.truncate(size)
        listener = socket.create_server(("127.0.0.1", 0))
        self.addCleanup(listener.close)
        seen = {}
        head_read = threading.Event()
        may_drain = threading.Event()

        def serve():
            conn, _ = listener.accept()
            with conn, conn.makefile("rb") as stream:
                seen["head"] = list(iter(stream.readline, b"\r\n"))
                head_read.set()
                may_drain.wait(30)  # meanwhile flare fills the socket buffers and blocks
                seen["body"] = sum(map(len, iter(lambda: stream.read1(1 << 20), b"")))

        server = threading.Thread(target=serve, daemon=True)
        server.start()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
        proc = subprocess.Popen([FLARE, "-T", path, url], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        self.addCleanup(ft.terminate, proc)
        self.assertTrue(head_read.wait(10), "no request head")
        time.sleep(0.5)
        os.truncate(path, 0)
        may_drain.set()
        out, err = proc.communicate(timeout=30)
        server.join(30)
        self.assertIn(b"Content-Length: %d\r\n" % size, seen["head"])
        self.assertEqual(proc.returncode, 1, err)
        line = one_line(self, err.decode())
        self.assertIn(f"flare: {path} shrank while it was sent (", line)
        self.assertIn(f"of its {size} bytes read): the request was abandoned", line)
        self.assertLess(seen["body"], size)  # the connection closed before a whole body
        self.assertEqual(out, b"")


if __name__ == "__main__":
    unittest.main()
