#!/usr/bin/env python3
"""flared against curl: keep-alive reuse, HEAD, chunked uploads, Expect:
100-continue and HTTP/1.0."""
import json
import os
import random
import shutil
import subprocess
import tempfile
import unittest

import flaredtest as ft

CURL = shutil.which("curl")


@unittest.skipUnless(CURL, "curl is not installed")
class CurlTests(ft.SharedServerTestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="flared-curl-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        super().setUpClass()

    def url(self, path):
        return f"http://127.0.0.1:{self.srv.port}{path}"

    def curl(self, *args, stdin=None):
        """Runs curl; returns (stdout bytes, stderr text). Fails the test on a curl error."""
        p = subprocess.run([CURL, "--silent", "--show-error", "--max-time", "10", *args],
                           input=stdin, capture_output=True, timeout=20)
        self.assertEqual(p.returncode, 0, f"curl {args} failed: {p.stderr.decode()}")
        return p.stdout, p.stderr.decode("utf-8", "replace")

    def payload(self, name, size, seed):
        data = random.Random(seed).randbytes(size)
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        return data, path

    def test_keepalive_reuse_across_two_urls(self):
        out, err = self.curl("-v", "-w", "connects=%{num_connects} code=%{http_code}\n",
                             self.url("/plaintext"), self.url("/index.html"))
        # num_connects counts the new connections each transfer had to open.
        self.assertIn(b"Hello, World!connects=1 code=200\n", out)
        self.assertIn(ft.INDEX_HTML + b"connects=0 code=200\n", out)
        self.assertRegex(err, r"Re-?using existing connection")
        self.assertEqual(err.count("Connected to 127.0.0.1"), 1, err)

    def test_head_has_get_length_and_no_body(self):
        get_out, get_err = self.curl("-v", "-o", os.devnull, self.url("/index.html"))
        head_out, head_err = self.curl("-v", "-I", self.url("/index.html"), self.url("/plaintext"))
        head_text = head_out.decode()
        self.assertIn(f"Content-Length: {len(ft.INDEX_HTML)}\r\n", head_text)
        self.assertIn(f"< Content-Length: {len(ft.INDEX_HTML)}", get_err)
        self.assertIn("Content-Length: 13\r\n", head_text)
        # Two HEADs on one connection: a body after the first would corrupt the second.
        self.assertEqual(head_text.count("HTTP/1.1 200 OK\r\n"), 2, head_text)
        self.assertNotIn("Excess found", head_err)
        self.assertRegex(head_err, r"Re-?using existing connection")

    def test_chunked_upload_from_file(self):
        data, path = self.payload("chunked.bin", 300 * 1024 + 7, 1)
        out, err = self.curl("-v", "-H", "Transfer-Encoding: chunked",
                             "-H", "Content-Type: application/x-test",
                             "--data-binary", "@" + path, "-D", "-", self.url("/raw"))
        self.assertIn("> Transfer-Encoding: chunked", err)
        head, _, body = out.partition(b"\r\n\r\n")
        self.assertIn(b"HTTP/1.1 200", head)
        self.assertIn(b"Content-Type: application/x-test", head)
        self.assertEqual(len(body), len(data))
        self.assertEqual(body, data)

    def test_chunked_upload_from_stdin(self):
        data = random.Random(2).randbytes(100 * 1024 + 3)
        out, err = self.curl("-v", "-T", "-", self.url("/raw"), stdin=data)
        self.assertIn("> Transfer-Encoding: chunked", err)
        self.assertEqual(out, data)

    def test_expect_100_continue(self):
        data, path = self.payload("expect.bin", 2 * 1024 * 1024 + 1, 3)
        out, err = self.curl("-v", "-H", "Expect: 100-continue", "--expect100-timeout", "5",
                             "--data-binary", "@" + path, self.url("/raw"))
        self.assertIn("> Expect: 100-continue", err)
        self.assertIn("< HTTP/1.1 100 Continue", err)
        self.assertIn("< HTTP/1.1 200 OK", err)
        self.assertEqual(out, data)

    def test_expect_100_continue_refused_without_reading_body(self):
        # /small takes 1 KiB: the final status comes instead of 100 Continue.
        _, path = self.payload("toolarge.bin", 64 * 1024, 4)
        out, err = self.curl("-v", "-H", "Expect: 100-continue", "--expect100-timeout", "5",
                             "--data-binary", "@" + path, "-w", "%{http_code}", self.url("/small"))
        self.assertNotIn("100 Continue", err)
        self.assertTrue(out.endswith(b"413"), out)

    def test_http_1_0(self):
        out, err = self.curl("-v", "--http1.0", "-w", "connects=%{num_connects}\n",
                             self.url("/plaintext"), self.url("/plaintext"))
        self.assertIn("> GET /plaintext HTTP/1.0", err)
        self.assertEqual(out, b"Hello, World!connects=1\n" * 2)  # HTTP/1.0 closes by default
        self.assertNotRegex(err, r"Re-?using existing connection")

    def test_http_1_0_keep_alive(self):
        out, err = self.curl("-v", "--http1.0", "-H", "Connection: keep-alive",
                             "-w", "connects=%{num_connects}\n",
                             self.url("/plaintext"), self.url("/plaintext"))
        self.assertIn("< Connection: keep-alive", err)
        self.assertEqual(out, b"Hello, World!connects=1\nHello, World!connects=0\n")

    def test_post_form_to_echo_json(self):
        out, _ = self.curl("-d", "a=1&b=two", self.url("/echo?q=x"))
        doc = json.loads(out)
        self.assertEqual(doc["method"], "POST")
        self.assertEqual(doc["data"], "a=1&b=two")
        self.assertEqual(doc["args"], {"q": "x"})


if __name__ == "__main__":
    ft.run()
