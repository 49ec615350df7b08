#!/usr/bin/env python3
"""The static-files route of the real flared, driven by curl (and by raw sockets
where curl would tidy a hostile path): every conditional and range case, HEAD,
a 20 MiB file read by a slow reader, the traversal corpus, symlinks in and out
of the root, same-size replacement within one second, precompressed siblings,
on-the-fly gzip and directory listings. One server serves one generated tree;
a file outside the root holds a marker that must never appear in any reply."""
import email.utils
import grp
import gzip
import hashlib
import mmap
import os
import pwd
import random
import re
import shutil
import socket
import subprocess
import time
import unittest

import flaredtest as ft

CURL = shutil.which("curl")
SECRET = b"TOP-SECRET-OUTSIDE-THE-ROOT"
BIG_BYTES = 20 << 20
OLD_MTIME = 1_600_000_000  # long past, so Last-Modified is a strong validator

CONFIG = """\
workers: 1
error_log: stderr
timeouts: {{write: 20s}}
listeners:
  - address: 127.0.0.1:{port}
mime_types: {{foo: application/x-foo, Md: text/x-markdown-custom}}
routes:
  - path: /
    static: {{root: site, cache_control: "max-age=60"}}
  - path: /gz/
    static: {{root: site, gzip: {{level: 6, min_size: 100}}}}
  - path: /auto/
    static: {{root: site, autoindex: true}}
  - path: /follow/
    static: {{root: site, follow_symlinks: true}}
  - path: /hidden/
    static: {{root: site, hidden_files: true}}
  - path: /spa/
    static: {{root: site, fallback: /spa/index.html, not_found: errors/404.html}}
  - path: /err/
    static: {{root: site, not_found: errors/404.html, cache_control: "max-age=60"}}
  - path: /gone/
    static: {{root: site, not_found: gone/404.html}}
  - path: /swap/
    static: {{root: site, fallback: swap/app.html, follow_symlinks: true}}
"""

TEXT = b"".join(b"line %05d: the quick brown fox jumps over the lazy dog\n" % i
                for i in range(1000))


class StaticServer(ft.Server):
    """ft.Server with this file's config and tree instead of the shared base config."""

    def config_text(self, **overrides):
        return CONFIG.format(port=self.port)


def put(root, rel, data, mtime=None):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def http_date(t):
    return email.utils.formatdate(t, usegmt=True)


class Reply:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def header(self, name):
        values = [v for n, v in self.headers if n.lower() == name.lower()]
        if len(values) > 1:
            raise AssertionError(f"{name} appears {len(values)} times")
        return values[0] if values else None

    def names(self):
        return sorted(n.lower() for n, _ in self.headers)

    def __repr__(self):
        return f"<Reply {self.status} {self.headers} {self.body[:80]!r}>"


@unittest.skipUnless(CURL, "curl is not installed")
class StaticTests(ft.SharedServerTestCase):
    server_class = StaticServer

    @classmethod
    def prepare_server(cls, srv):
        cls.build_tree(srv.dir)
        # Files changed in the last two seconds are not cached: let the tree settle,
        # so the tests go through the cache as well as around it.
        time.sleep(2.1)

    @classmethod
    def build_tree(cls, top):
        site = cls.site = os.path.join(top, "site")
        put(top, "outside/secret.txt", SECRET + b"\n")
        cls.hello = put(site, "plain/hello.txt", b"hello, static world\n", OLD_MTIME)
        put(site, "plain/index.html", b"<p>plain index</p>\n")
        put(site, "plain/page.html", b"<p>page</p>\n")
        put(site, "plain/img.png", b"\x89PNG\r\n\x1a\nnot really")
        put(site, "plain/data.foo", b"foo data")
        put(site, "plain/notes.MD", b"# notes")
        put(site, "plain/blob.unknownext", b"?")
        put(site, "plain/README", b"readme")
        cls.digits = put(site, "plain/digits.txt", b"0123456789abcdefghijklmnopqrstuvwxyz",
                         OLD_MTIME)
        put(site, "noindex/file.txt", b"x")
        put(site, "a dir/index.html", b"<p>spaced</p>\n")
        put(site, ".env", b"SECRET=1\n")
        put(site, "hidden/.env", b"HIDDEN=1\n")
        cls.big = random.Random(20).randbytes(BIG_BYTES)
        put(site, "big.bin", cls.big)
        # Symlinks: inside and outside the root, files and directories.
        for d in ("links", "follow"):
            os.makedirs(os.path.join(site, d), exist_ok=True)
            os.symlink("../plain/hello.txt", os.path.join(site, d, "in.txt"))
            os.symlink("../../outside/secret.txt", os.path.join(site, d, "out.txt"))
            os.symlink(os.path.join(top, "outside", "secret.txt"), os.path.join(site, d, "abs.txt"))
            os.symlink("../plain", os.path.join(site, d, "indir"))
            os.symlink("../../outside", os.path.join(site, d, "outdir"))
        # Precompressed siblings (fake brotli bytes: only their choice is checked).
        cls.app_js = TEXT[:20000]
        put(site, "pre/app.js", cls.app_js, OLD_MTIME)
        cls.app_js_gz = put(site, "pre/app.js.gz", gzip.compress(cls.app_js, mtime=0), OLD_MTIME)
        cls.app_js_br = put(site, "pre/app.js.br", b"BROTLI-BYTES", OLD_MTIME)
        cls.style = TEXT[:5000]
        put(site, "pre/style.css", cls.style, OLD_MTIME)
        put(site, "pre/style.css.gz", gzip.compress(cls.style, mtime=0), OLD_MTIME)
        put(site, "pre/stale.txt.gz", gzip.compress(b"old content\n"), OLD_MTIME - 100)
        put(site, "pre/stale.txt", b"new content\n", OLD_MTIME)
        # On-the-fly gzip: a cached-size text, a large one, a tiny one, an image.
        put(site, "gz/text.txt", TEXT[:30000], OLD_MTIME)
        put(site, "gz/large.txt", TEXT * 6, OLD_MTIME)  # ~340 KB: above the small-file cache
        put(site, "gz/tiny.txt", b"tiny\n")
        put(site, "gz/img.png", b"\x89PNG" + bytes(5000))
        # SVG kept compressed: gzip bytes whose media type is image/svg+xml.
        cls.svg = b"<svg xmlns='http://www.w3.org/2000/svg'>" + b"".join(
            b"<text y='%d'>%x</text>" % (i, random.Random(i).getrandbits(64)) for i in range(300)
        ) + b"</svg>\n"
        cls.svgz = gzip.compress(cls.svg, mtime=0)
        put(site, "gz/logo.svgz", cls.svgz, OLD_MTIME)
        put(site, "plain/logo.svgz", cls.svgz, OLD_MTIME)
        # 404 replacements.
        cls.spa_index = b"<!doctype html><div id=app></div>\n"
        put(site, "spa/index.html", cls.spa_index, OLD_MTIME)
        put(site, "spa/real.txt", b"a real file\n")
        put(site, "spa/.env", b"SPA-SECRET\n")
        cls.page_404 = b"<h1>Not here</h1>\n"
        put(site, "errors/404.html", cls.page_404)
        put(site, "err/real.txt", b"real\n")
        put(site, "gone/404.html", b"soon gone\n")
        put(site, "swap/app.html", b"<p>app</p>\n")
        # Listing.
        put(site, "auto/b.txt", b"abc")
        put(site, "auto/<b>&.txt", b"odd")
        put(site, "auto/.dot", b"dot")
        put(site, "auto/zsub/x", b"x")
        put(site, "auto/asub/x", b"x")

    # -- clients --------------------------------------------------------------
    def url(self, path):
        return f"http://127.0.0.1:{self.srv.port}{path}"

    def curl(self, path, *args, headers=(), head=False):
        cmd = [CURL, "--silent", "--show-error", "--max-time", "60", "--path-as-is"]
        cmd += ["-I"] if head else ["-i"]
        for h in headers:
            cmd += ["-H", h]
        cmd += [*args, self.url(path)]
        p = subprocess.run(cmd, capture_output=True, timeout=90)
        self.assertEqual(p.returncode, 0, f"{cmd}: {p.stderr.decode()}")
        head_bytes, _, body = p.stdout.partition(b"\r\n\r\n")
        lines = head_bytes.decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.1 (\d{3}) ", lines[0])
        self.assertTrue(m, lines[0])
        fields = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:]]
        return Reply(int(m.group(1)), fields, body)

    def raw(self, target, extra=b""):
        """One request sent byte for byte (no client-side tidying of the path)."""
        data, _ = self.srv.exchange(b"GET " + target + b" HTTP/1.1\r\nHost: t\r\n" + extra +
                                    b"Connection: close\r\n\r\n", timeout=10)
        responses, rest = ft.parse_responses(data)
        self.assertEqual((len(responses), rest), (1, b""), data[:300])
        return responses[0]

    # -- basics ---------------------------------------------------------------
    def test_get_file(self):
        r = self.curl("/plain/hello.txt")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"hello, static world\n")
        self.assertEqual(r.header("Content-Type"), "text/plain; charset=utf-8")
        self.assertEqual(r.header("Content-Length"), "20")
        self.assertEqual(r.header("Last-Modified"), http_date(OLD_MTIME))
        self.assertEqual(r.header("Accept-Ranges"), "bytes")
        self.assertEqual(r.header("Cache-Control"), "max-age=60")
        self.assertEqual(r.header("Vary"), "Accept-Encoding")  # precompressed is on
        st = os.stat(self.hello)
        self.assertEqual(r.header("ETag"),
                         f'"{st.st_ino:x}-{st.st_size:x}-{OLD_MTIME:x}.0"')
        # Served twice (the second from the cache): the same answer.
        again = self.curl("/plain/hello.txt")
        self.assertEqual((again.body, again.header("ETag")), (r.body, r.header("ETag")))

    def test_media_types(self):
        cases = {
            "/plain/page.html": "text/html; charset=utf-8",
            "/plain/img.png": "image/png",
            "/plain/data.foo": "application/x-foo",            # mime_types override
            "/plain/notes.MD": "text/x-markdown-custom; charset=utf-8",
            "/plain/blob.unknownext": "application/octet-stream",
            "/plain/README": "application/octet-stream",
            "/pre/app.js": "text/javascript; charset=utf-8",
        }
        for path, ctype in cases.items():
            with self.subTest(path=path):
                self.assertEqual(self.curl(path).header("Content-Type"), ctype)

    def test_directories(self):
        self.assertEqual(self.curl("/plain/").body, b"<p>plain index</p>\n")
        r = self.curl("/plain?x=1&y=%20")
        self.assertEqual(r.status, 301)
        self.assertEqual(r.header("Location"), "/plain/?x=1&y=%20")
        r = self.curl("/a%20dir")
        self.assertEqual((r.status, r.header("Location")), (301, "/a%20dir/"))
        self.assertEqual(self.curl("/a%20dir/").body, b"<p>spaced</p>\n")
        # Built from the normalised path: a "//" path cannot redirect off-site.
        r = self.raw(b"//plain")
        self.assertEqual((r.status, r.header("Location")), (301, "/plain/"))
        # No index and no listing: forbidden, as nginx does.
        self.assertEqual(self.curl("/noindex/").status, 403)
        # A file asked for as a directory.
        self.assertEqual(self.curl("/plain/hello.txt/").status, 404)
        self.assertEqual(self.curl("/nope.txt").status, 404)

    def test_hidden_files(self):
        self.assertEqual(self.curl("/.env").status, 404)
        self.assertEqual(self.curl("/%2eenv").status, 404)
        r = self.curl("/hidden/.env")
        self.assertEqual((r.status, r.body), (200, b"HIDDEN=1\n"))

    # -- HEAD -----------------------------------------------------------------
    def test_head_has_the_headers_of_get(self):
        cases = [
            ("/plain/hello.txt", ()),
            ("/big.bin", ()),
            ("/nope", ()),
            ("/plain", ()),
            ("/noindex/", ()),
            ("/auto/", ()),
            ("/pre/app.js", ("Accept-Encoding: gzip",)),
            ("/gz/text.txt", ("Accept-Encoding: gzip",)),
            ("/gz/large.txt", ("Accept-Encoding: gzip",)),
            ("/plain/hello.txt", ("If-None-Match: *",)),
        ]
        for path, headers in cases:
            with self.subTest(path=path, headers=headers):
                get = self.curl(path, headers=headers)
                head = self.curl(path, headers=headers, head=True)
                self.assertEqual(head.status, get.status)
                self.assertEqual(head.body, b"")
                strip = lambda fs: sorted((n.lower(), v) for n, v in fs if n.lower() != "date")
                self.assertEqual(strip(head.headers), strip(get.headers))
                if get.status == 200:
                    self.assertEqual(int(head.header("Content-Length")), len(get.body))

    # -- conditional requests ---------------------------------------------------
    def etag_of(self, path):
        return self.curl(path).header("ETag")

    def test_if_none_match(self):
        tag = self.etag_of("/plain/hello.txt")
        for value in (tag, f'"nope", {tag}', "*", "W/" + tag, f' "a" ,  {tag} '):
            with self.subTest(value=value):
                r = self.curl("/plain/hello.txt", headers=[f"If-None-Match: {value}"])
                self.assertEqual(r.status, 304)
                self.assertEqual(r.body, b"")
                self.assertEqual(r.header("ETag"), tag)
                self.assertEqual(r.header("Cache-Control"), "max-age=60")
                self.assertIsNone(r.header("Content-Length"))
        r = self.curl("/plain/hello.txt", headers=['If-None-Match: "other"'])
        self.assertEqual((r.status, r.body), (200, b"hello, static world\n"))

    def test_if_modified_since(self):
        lm = http_date(OLD_MTIME)
        self.assertEqual(self.curl("/plain/hello.txt", headers=[f"If-Modified-Since: {lm}"]).status,
                         304)
        later = http_date(OLD_MTIME + 86400)
        self.assertEqual(
            self.curl("/plain/hello.txt", headers=[f"If-Modified-Since: {later}"]).status, 304)
        earlier = http_date(OLD_MTIME - 1)
        self.assertEqual(
            self.curl("/plain/hello.txt", headers=[f"If-Modified-Since: {earlier}"]).status, 200)
        self.assertEqual(
            self.curl("/plain/hello.txt", headers=["If-Modified-Since: yesterday"]).status, 200)
        # Obsolete date forms are read too (RFC 9110 §5.6.7).
        t = time.gmtime(OLD_MTIME)
        asctime = time.strftime("%a %b %e %H:%M:%S %Y", t)
        self.assertEqual(
            self.curl("/plain/hello.txt", headers=[f"If-Modified-Since: {asctime}"]).status, 304)

    def test_future_modification_time(self):
        """RFC 9110 §8.8.2.1: Last-Modified is never later than Date; a file
        dated in the future gets the time of the response instead."""
        future = int(time.time()) + 10 * 365 * 86400
        put(self.site, "plain/future.txt", b"from the future\n", future)
        for headers in ((), ("Accept-Encoding: gzip",)):
            with self.subTest(headers=headers):
                r = self.curl("/plain/future.txt", headers=headers)
                self.assertEqual(r.status, 200)
                date = email.utils.parsedate_to_datetime(r.header("Date")).timestamp()
                lm = email.utils.parsedate_to_datetime(r.header("Last-Modified")).timestamp()
                self.assertEqual(lm, date)
                self.assertLess(lm, future)
        # Such a time is no strong validator: If-Range with it does not apply Range.
        r = self.curl("/plain/future.txt", "-r", "0-3",
                      headers=[f"If-Range: {http_date(future)}"])
        self.assertEqual(r.status, 200)

    def test_if_none_match_takes_precedence(self):
        lm = http_date(OLD_MTIME)
        r = self.curl("/plain/hello.txt",
                      headers=['If-None-Match: "stale"', f"If-Modified-Since: {lm}"])
        self.assertEqual(r.status, 200)

    def test_if_match_and_if_unmodified_since(self):
        tag = self.etag_of("/plain/hello.txt")
        self.assertEqual(self.curl("/plain/hello.txt", headers=[f"If-Match: {tag}"]).status, 200)
        self.assertEqual(self.curl("/plain/hello.txt", headers=["If-Match: *"]).status, 200)
        r = self.curl("/plain/hello.txt", headers=['If-Match: "other"'])
        self.assertEqual(r.status, 412)
        self.assertNotIn(b"hello", r.body)
        self.assertEqual(self.curl("/plain/hello.txt", headers=[f"If-Match: W/{tag}"]).status,
                         412)
        self.assertEqual(self.curl("/plain/hello.txt", headers=[
            f"If-Unmodified-Since: {http_date(OLD_MTIME - 1)}"]).status, 412)
        self.assertEqual(self.curl("/plain/hello.txt", headers=[
            f"If-Unmodified-Since: {http_date(OLD_MTIME)}"]).status, 200)
        # If-Match decides before If-None-Match could say 304.
        self.assertEqual(self.curl("/plain/hello.txt", headers=[
            'If-Match: "other"', f"If-None-Match: {tag}"]).status, 412)

    # -- ranges ---------------------------------------------------------------
    DIGITS = b"0123456789abcdefghijklmnopqrstuvwxyz"

    def test_single_ranges(self):
        n = len(self.DIGITS)
        for spec, first, last in (("0-9", 0, 9), ("10-", 10, n - 1), ("-5", n - 5, n - 1),
                                  ("30-1000", 30, n - 1), ("0-0", 0, 0)):
            with self.subTest(spec=spec):
                r = self.curl("/plain/digits.txt", "-r", spec)
                self.assertEqual(r.status, 206)
                self.assertEqual(r.body, self.DIGITS[first:last + 1])
                self.assertEqual(r.header("Content-Range"), f"bytes {first}-{last}/{n}")
                self.assertEqual(r.header("Content-Type"), "text/plain; charset=utf-8")
                self.assertIsNotNone(r.header("ETag"))

    def parts(self, reply):
        m = re.fullmatch(r"multipart/byteranges; boundary=(\S+)", reply.header("Content-Type"))
        self.assertTrue(m, reply.header("Content-Type"))
        boundary = m.group(1).encode()
        self.assertTrue(reply.body.endswith(b"\r\n--" + boundary + b"--\r\n"))
        out = []
        for chunk in reply.body.split(b"--" + boundary)[1:-1]:
            head, _, data = chunk.partition(b"\r\n\r\n")
            self.assertTrue(data.endswith(b"\r\n"))
            fields = dict(line.split(": ", 1) for line in head.decode().strip().split("\r\n"))
            out.append((fields["Content-Range"], fields["Content-Type"], data[:-2]))
        return out

    def test_multiple_ranges(self):
        n = len(self.DIGITS)
        r = self.curl("/plain/digits.txt", "-r", "0-1,5-6,-2")
        self.assertEqual(r.status, 206)
        self.assertIsNone(r.header("Content-Range"))
        self.assertEqual(int(r.header("Content-Length")), len(r.body))
        self.assertEqual(self.parts(r), [
            (f"bytes 0-1/{n}", "text/plain; charset=utf-8", b"01"),
            (f"bytes 5-6/{n}", "text/plain; charset=utf-8", b"56"),
            (f"bytes {n - 2}-{n - 1}/{n}", "text/plain; charset=utf-8", b"yz"),
        ])
        # Overlapping ranges are coalesced; one range left is a plain 206.
        r = self.curl("/plain/digits.txt", "-r", "0-5,3-9")
        self.assertEqual((r.status, r.header("Content-Range"), r.body),
                         (206, f"bytes 0-9/{n}", self.DIGITS[:10]))
        # Multipart from a file that is not cached (sendfile-sized).
        r = self.curl("/big.bin", "-r", "0-99,1000000-1000099")
        self.assertEqual([p[2] for p in self.parts(r)],
                         [self.big[:100], self.big[1000000:1000100]])

    def test_unsatisfiable_and_ignored_ranges(self):
        n = len(self.DIGITS)
        for spec in (f"{n}-", f"{n + 10}-{n + 20}", "-0"):
            with self.subTest(spec=spec):
                r = self.curl("/plain/digits.txt", headers=[f"Range: bytes={spec}"])
                self.assertEqual(r.status, 416)
                self.assertEqual(r.header("Content-Range"), f"bytes */{n}")
        too_many = ",".join(f"{i}-{i}" for i in range(0, 34, 2))  # 17 ranges
        for value in ("bytes=5-1", "bytes=abc", "lines=0-1", "bytes=" + too_many):
            with self.subTest(value=value):
                r = self.curl("/plain/digits.txt", headers=[f"Range: {value}"])
                self.assertEqual((r.status, r.body), (200, self.DIGITS))
        # HEAD: Range is defined for GET only.
        r = self.curl("/plain/digits.txt", "-r", "0-1", head=True)
        self.assertEqual((r.status, r.header("Content-Length")), (200, str(n)))

    def test_if_range(self):
        tag = self.etag_of("/plain/digits.txt")
        r = self.curl("/plain/digits.txt", "-r", "0-3", headers=[f"If-Range: {tag}"])
        self.assertEqual((r.status, r.body), (206, b"0123"))
        r = self.curl("/plain/digits.txt", "-r", "0-3", headers=['If-Range: "other"'])
        self.assertEqual((r.status, r.body), (200, self.DIGITS))
        r = self.curl("/plain/digits.txt", "-r", "0-3", headers=[f"If-Range: W/{tag}"])
        self.assertEqual(r.status, 200)
        r = self.curl("/plain/digits.txt", "-r", "0-3",
                      headers=[f"If-Range: {http_date(OLD_MTIME)}"])
        self.assertEqual((r.status, r.body), (206, b"0123"))
        r = self.curl("/plain/digits.txt", "-r", "0-3",
                      headers=[f"If-Range: {http_date(OLD_MTIME + 1)}"])
        self.assertEqual(r.status, 200)
        # A date of a Wednesday ("Wed, ...") is a date, not a malformed "W/" tag.
        wednesday = 1_599_652_800
        put(self.site, "plain/wednesday.txt", self.DIGITS, wednesday)
        r = self.curl("/plain/wednesday.txt", "-r", "0-3",
                      headers=[f"If-Range: {http_date(wednesday)}"])
        self.assertEqual((r.status, r.body), (206, b"0123"))

    def test_range_of_large_file(self):
        r = self.curl("/big.bin", "-r", "1000000-2999999")
        self.assertEqual(r.status, 206)
        self.assertEqual(r.body, self.big[1000000:3000000])
        self.assertEqual(r.header("Content-Range"), f"bytes 1000000-2999999/{BIG_BYTES}")
        r = self.curl("/big.bin", "-r", f"-{10}")
        self.assertEqual(r.body, self.big[-10:])

    def test_suffix_range_of_empty_file(self):
        # RFC 9110 §14.1.1: a non-zero suffix is satisfiable even for zero bytes;
        # nothing can be a part of them, so the whole (empty) file gets 200.
        put(self.site, "plain/empty.txt", b"")
        for spec in ("-5", "0-,-1"):
            with self.subTest(spec=spec):
                r = self.curl("/plain/empty.txt", headers=[f"Range: bytes={spec}"])
                self.assertEqual((r.status, r.body, r.header("Content-Length")), (200, b"", "0"))
                self.assertIsNone(r.header("Content-Range"))
        r = self.curl("/plain/empty.txt", headers=["Range: bytes=0-"])
        self.assertEqual((r.status, r.header("Content-Range")), (416, "bytes */0"))

    # -- the large file ---------------------------------------------------------
    def test_large_file_with_curl(self):
        out = os.path.join(self.srv.dir, "big.out")
        p = subprocess.run([CURL, "--silent", "--show-error", "--max-time", "60",
                            "--limit-rate", "10M", "-o", out, self.url("/big.bin")],
                           capture_output=True, timeout=90)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        with open(out, "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).digest(), hashlib.sha256(self.big).digest())

    def test_large_file_slow_reader(self):
        """A reader with a tiny receive window that sleeps: sendfile must resume
        exactly where each short write stopped."""
        with self.srv.connect(timeout=30, rcvbuf=4096) as s:
            s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            data = bytearray()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                chunk = s.recv(4096 if len(data) < (1 << 20) else 1 << 20)
                if not chunk:
                    break
                data += chunk
                if len(data) < (1 << 20):
                    time.sleep(0.002)  # the first MiB trickles
        head, _, body = bytes(data).partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200 OK\r\n"), head[:100])
        self.assertIn(f"Content-Length: {BIG_BYTES}\r\n".encode(), head + b"\r\n")
        self.assertEqual(len(body), BIG_BYTES)
        self.assertEqual(hashlib.sha256(body).digest(), hashlib.sha256(self.big).digest())

    def test_special_files_answer_404_without_holding_the_worker(self):
        """A FIFO (with no writer: a blocking open would wait forever) and a Unix
        socket at a requested path are 404, and the same connection goes on."""
        special = os.path.join(self.site, "special")
        os.makedirs(special, exist_ok=True)
        self.addCleanup(shutil.rmtree, special, True)
        os.mkfifo(os.path.join(special, "fifo"))
        sock = socket.socket(socket.AF_UNIX)
        self.addCleanup(sock.close)
        sock.bind(os.path.join(special, "sock"))
        req = b"GET %s HTTP/1.1\r\nHost: t\r\n%s\r\n"
        data, closed = self.srv.exchange(
            req % (b"/special/fifo", b"") + req % (b"/special/sock", b"") +
            req % (b"/plain/hello.txt", b"Connection: close\r\n"), timeout=10)
        responses, rest = ft.parse_responses(data)
        self.assertTrue(closed)
        self.assertEqual(([r.status for r in responses], rest), ([404, 404, 200], b""), data[:300])
        self.assertEqual(responses[2].body, b"hello, static world\n")

    def test_file_that_shrinks_while_sent_ends_the_connection(self):
        """Content-Length was promised from the size at open: when the file is cut
        short under sendfile, the connection must close, never carry a short body
        followed by the next pipelined response (which would be read as body bytes)."""
        size = ft.beyond_socket_buffers()
        path = put(self.site, "shrink/cut.bin", b"A" * size)
        self.addCleanup(shutil.rmtree, os.path.dirname(path), True)
        with self.srv.connect(timeout=20, rcvbuf=4096) as s:
            s.sendall(b"GET /shrink/cut.bin HTTP/1.1\r\nHost: t\r\n\r\n"
                      b"GET /plain/hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            data = ft.recv_head(s)
            os.truncate(path, 65536)
            rest, closed = ft.read_until_close(s, 20)
            data += rest
        self.assertTrue(closed, "the connection stayed open after the file was cut short")
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertIn(f"Content-Length: {size}\r\n".encode(), head + b"\r\n")
        self.assertLess(len(body), size)
        # Pages already queued by sendfile are sent as they are when the socket gets
        # to them, so the cut may show as zeros; anything else is a response that
        # followed the short body.
        self.assertEqual(body.translate(None, b"A\0"), b"", "the next response followed")

    # -- traversal ------------------------------------------------------------
    TRAVERSAL = [
        b"/../outside/secret.txt",
        b"/../../outside/secret.txt",
        b"/plain/../../outside/secret.txt",
        b"//../outside/secret.txt",
        b"/./../outside/secret.txt",
        b"/%2e%2e/outside/secret.txt",
        b"/%2E%2E/outside/secret.txt",
        b"/.%2e/outside/secret.txt",
        b"/%2e%2e%2foutside%2fsecret.txt",
        b"/..%2foutside%2fsecret.txt",
        b"/plain/%2e%2e/%2e%2e/outside/secret.txt",
        b"/%252e%252e/outside/secret.txt",
        b"/%252e%252e%252foutside%252fsecret.txt",
        b"/..%5coutside%5csecret.txt",
        b"/..%5Coutside%5Csecret.txt",
        b"/..\\outside\\secret.txt",
        b"/%c0%ae%c0%ae/outside/secret.txt",
        b"/%c0%ae%c0%ae%c0%afoutside%c0%afsecret.txt",
        b"/%e0%80%ae%e0%80%ae/outside/secret.txt",
        b"/%f0%80%80%ae%f0%80%80%ae/outside/secret.txt",
        b"/%c1%9c..%c1%9coutside",
        b"/links/out.txt",
        b"/links/abs.txt",
        b"/links/outdir/secret.txt",
        b"/follow/out.txt",
        b"/follow/abs.txt",
        b"/follow/outdir/secret.txt",
        b"/follow/indir/../../outside/secret.txt",
        b"/%00",
        b"/plain/hello.txt%00.html",
        b"/plain/hello.txt%0a",
        b"http://t/../outside/secret.txt",
        b"http://t/%2e%2e/outside/secret.txt",
    ]

    def test_traversal_corpus_raw(self):
        for target in self.TRAVERSAL:
            with self.subTest(target=target):
                r = self.raw(target)
                if r.status == 301:
                    # Resolved to a path of another route: sent there, on this site.
                    location = r.header("Location").encode()
                    self.assertTrue(location.startswith(b"/") and not location.startswith(b"//"))
                    r = self.raw(location)
                self.assertNotEqual(r.status, 200)
                self.assertIn(r.status, (400, 403, 404))
                self.assertNotIn(SECRET, r.body)

    def test_traversal_corpus_curl(self):
        for target in self.TRAVERSAL:
            if b"\\" in target or target.startswith(b"http"):
                continue  # curl would rewrite these; the raw test sends them as is
            with self.subTest(target=target):
                r = self.curl(target.decode())
                self.assertNotEqual(r.status, 200)
                self.assertNotIn(SECRET, r.body)

    def test_expected_statuses(self):
        # Malformed input is 400; an escape through a symlink reads as missing.
        self.assertEqual(self.raw(b"/../outside/secret.txt").status, 400)
        self.assertEqual(self.raw(b"/%c0%ae%c0%ae/outside/secret.txt").status, 400)
        self.assertEqual(self.raw(b"/..%5coutside").status, 400)
        self.assertEqual(self.raw(b"/%00").status, 400)
        self.assertEqual(self.raw(b"/links/out.txt").status, 404)
        # Double-encoded dots are a file name ("%2e%2e"), which does not exist.
        self.assertEqual(self.raw(b"/%252e%252e/outside/secret.txt").status, 404)
        # Dot segments inside the root are fine.
        self.assertEqual(self.raw(b"/plain/../plain/./hello.txt").status, 200)
        self.assertEqual(self.raw(b"/plain/%2e%2e/plain/hello.txt").status, 200)
        self.assertEqual(self.raw(b"//plain///hello.txt").status, 200)

    # -- routes -----------------------------------------------------------------
    def test_resolved_path_keeps_to_its_route(self):
        """The router matches the raw path; a path whose dot segments or escapes
        resolve under another route must not be served with this route's settings
        (hidden_files, follow_symlinks), but sent to where it belongs."""
        cases = [
            (b"/hidden/../.env", "/.env", 404),                   # "/" has no hidden_files
            (b"/hidden/%2e%2e/.env?a=1", "/.env?a=1", 404),
            (b"/follow/../links/in.txt", "/links/in.txt", 404),  # "/" follows no symlink
            (b"/x/../%66ollow/in.txt", "/follow/in.txt", 200),   # "/follow/" does
            (b"/x/./../%61uto/", "/auto/", 200),                  # the listing of "/auto/"
            (b"/x/..//%68idden/.env", "/hidden/.env", 200),       # "/hidden/" serves dotfiles
        ]
        for target, location, final in cases:
            with self.subTest(target=target):
                r = self.raw(target)
                self.assertEqual((r.status, r.header("Location")), (301, location))
                self.assertNotIn(b"SECRET=1", r.body)
                self.assertEqual(self.raw(location.encode()).status, final)
        # Dot segments and escapes that stay within the route are served as before.
        r = self.raw(b"/hidden/x/../.env")
        self.assertEqual((r.status, r.body), (200, b"HIDDEN=1\n"))
        r = self.raw(b"/follow/./%69n.txt")
        self.assertEqual((r.status, r.body), (200, b"hello, static world\n"))
        # An escaped unreserved character is the character itself (RFC 3986
        # §6.2.2.2): the router already picks the route that owns the path.
        r = self.raw(b"/%66ollow/in.txt")
        self.assertEqual((r.status, r.body), (200, b"hello, static world\n"))
        r = self.raw(b"/%68idden/.env")
        self.assertEqual((r.status, r.body), (200, b"HIDDEN=1\n"))
        self.assertEqual(self.raw(b"/%6Cinks/in.txt").status, 404)  # "/links/": no symlinks

    # -- symlinks --------------------------------------------------------------
    def test_symlinks(self):
        # Default: no symlink is followed, wherever it points.
        for path in ("/links/in.txt", "/links/out.txt", "/links/indir/hello.txt"):
            with self.subTest(path=path):
                self.assertEqual(self.curl(path).status, 404)
        # follow_symlinks: links inside the root work...
        r = self.curl("/follow/in.txt")
        self.assertEqual((r.status, r.body), (200, b"hello, static world\n"))
        r = self.curl("/follow/indir/hello.txt")
        self.assertEqual((r.status, r.body), (200, b"hello, static world\n"))
        # ...links out of it still do not.
        for path in ("/follow/out.txt", "/follow/abs.txt", "/follow/outdir/secret.txt"):
            with self.subTest(path=path):
                r = self.curl(path)
                self.assertEqual(r.status, 404)
                self.assertNotIn(SECRET, r.body)

    # -- same-size replacement ---------------------------------------------------
    def test_same_size_replacement_gets_new_etag(self):
        path = put(self.site, "swap/file.txt", b"version-A\n")
        second = 1_700_000_000
        os.utime(path, ns=(second * 10**9 + 100, second * 10**9 + 100))
        first = self.curl("/swap/file.txt")
        self.assertEqual(first.body, b"version-A\n")
        # Rewritten in place, same size, same second (only nanoseconds differ).
        with open(path, "r+b") as f:
            f.write(b"version-B\n")
        os.utime(path, ns=(second * 10**9 + 900, second * 10**9 + 900))
        second_reply = self.curl("/swap/file.txt")
        self.assertEqual(second_reply.body, b"version-B\n")
        self.assertEqual(second_reply.header("Last-Modified"), first.header("Last-Modified"))
        self.assertNotEqual(second_reply.header("ETag"), first.header("ETag"))
        # The old tag no longer matches, even with a date that would say 304.
        r = self.curl("/swap/file.txt", headers=[
            f"If-None-Match: {first.header('ETag')}",
            f"If-Modified-Since: {first.header('Last-Modified')}"])
        self.assertEqual((r.status, r.body), (200, b"version-B\n"))
        # Replaced by rename with the very same mtime: another inode, another tag.
        tmp = put(self.site, "swap/.tmp", b"version-C\n")
        os.utime(tmp, ns=(second * 10**9 + 900, second * 10**9 + 900))
        os.replace(tmp, path)
        third = self.curl("/swap/file.txt")
        self.assertEqual(third.body, b"version-C\n")
        self.assertNotEqual(third.header("ETag"), second_reply.header("ETag"))
        self.assertEqual(self.curl("/swap/file.txt", headers=[
            f"If-None-Match: {third.header('ETag')}"]).status, 304)

    def test_change_that_leaves_the_stat_alone_is_not_served_from_cache(self):
        """A file's size and times do not always move with its bytes: a write(2)
        stamps the times before it copies the data (a read in between caches torn
        bytes under the final stat), and stores through a shared mapping into a page
        already dirty stamp nothing. A cached copy would then be served for good;
        so a file changed within the last seconds is not cached."""
        path = put(self.site, "racy/file.txt", b"A" * 1000)
        with open(path, "r+b") as f, mmap.mmap(f.fileno(), 1000) as m:
            m[0:1] = b"B"  # dirties the page and stamps the times
            first = self.curl("/racy/file.txt")
            self.assertEqual(first.body, b"B" + b"A" * 999)
            before = os.stat(path)
            m[1:2] = b"C"  # the same dirty page: no new times
            after = os.stat(path)
            if (after.st_ctime_ns, after.st_mtime_ns, after.st_size) != \
                    (before.st_ctime_ns, before.st_mtime_ns, before.st_size):
                self.skipTest("this kernel stamped a store to a dirty page")
            second = self.curl("/racy/file.txt")
        self.assertEqual(second.body, b"BC" + b"A" * 998)
        self.assertEqual(second.header("ETag"), first.header("ETag"))  # the stat is all it sees

    def test_vanished_file(self):
        path = put(self.site, "gone/file.txt", b"soon gone")
        self.assertEqual(self.curl("/gone/file.txt").status, 200)  # now cached
        os.unlink(path)
        self.assertEqual(self.curl("/gone/file.txt").status, 404)
        put(self.site, "gone/file.txt", b"back again!")
        self.assertEqual(self.curl("/gone/file.txt").body, b"back again!")

    # -- precompressed siblings ------------------------------------------------
    def test_precompressed_gzip_with_curl(self):
        r = self.curl("/pre/style.css", "--compressed")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Encoding"), "gzip")
        self.assertEqual(r.header("Vary"), "Accept-Encoding")
        self.assertEqual(r.body, self.style)  # curl decoded it
        raw = self.curl("/pre/style.css", headers=["Accept-Encoding: gzip"])
        with open(os.path.join(self.site, "pre/style.css.gz"), "rb") as f:
            self.assertEqual(raw.body, f.read())  # the sibling's bytes, as stored
        plain = self.curl("/pre/style.css")
        self.assertIsNone(plain.header("Content-Encoding"))
        self.assertEqual(plain.body, self.style)
        self.assertEqual(plain.header("Vary"), "Accept-Encoding")
        self.assertNotEqual(plain.header("ETag"), raw.header("ETag"))
        # Each representation revalidates against its own tag.
        self.assertEqual(self.curl("/pre/style.css", headers=[
            "Accept-Encoding: gzip", f"If-None-Match: {raw.header('ETag')}"]).status, 304)
        self.assertEqual(self.curl("/pre/style.css", headers=[
            f"If-None-Match: {raw.header('ETag')}"]).status, 200)

    def test_precompressed_choice(self):
        with open(self.app_js_gz, "rb") as f:
            gz_bytes = f.read()
        cases = [
            ("gzip, br", "br", b"BROTLI-BYTES"),
            ("br;q=0.5, gzip", "gzip", gz_bytes),
            ("gzip;q=0, br;q=0", None, self.app_js),
            ("identity", None, self.app_js),
            ("*", "br", b"BROTLI-BYTES"),
            ("*;q=0, gzip", "gzip", gz_bytes),
            ("x-gzip", "gzip", gz_bytes),
            ("deflate", None, self.app_js),
            ("identity;q=0", None, self.app_js),  # refused, but there is nothing else
        ]
        for accept, coding, body in cases:
            with self.subTest(accept=accept):
                r = self.curl("/pre/app.js", headers=[f"Accept-Encoding: {accept}"])
                self.assertEqual(r.status, 200)
                self.assertEqual(r.header("Content-Encoding"), coding)
                self.assertEqual(r.body, body)
                self.assertEqual(r.header("Content-Type"), "text/javascript; charset=utf-8")

    def test_precompressed_stale_sibling_and_ranges(self):
        r = self.curl("/pre/stale.txt", "--compressed")
        self.assertIsNone(r.header("Content-Encoding"))
        self.assertEqual(r.body, b"new content\n")
        # A range always gets the identity bytes.
        r = self.curl("/pre/app.js", "-r", "0-9", headers=["Accept-Encoding: gzip, br"])
        self.assertEqual(r.status, 206)
        self.assertIsNone(r.header("Content-Encoding"))
        self.assertEqual(r.body, self.app_js[:10])
        self.assertEqual(r.header("Vary"), "Accept-Encoding")

    # -- on-the-fly gzip -------------------------------------------------------
    def test_gzip_on_the_fly(self):
        for path, size in (("/gz/text.txt", 30000), ("/gz/large.txt", len(TEXT) * 6)):
            with self.subTest(path=path):
                expected = (TEXT * 6)[:size]
                r = self.curl(path, "--compressed")
                self.assertEqual(r.status, 200)
                self.assertEqual(r.header("Content-Encoding"), "gzip")
                self.assertEqual(r.header("Vary"), "Accept-Encoding")
                self.assertEqual(r.body, expected)
                tag = r.header("ETag")
                self.assertTrue(tag.startswith('W/"') and tag.endswith('-gzip"'), tag)
                raw = self.curl(path, headers=["Accept-Encoding: gzip"])
                self.assertEqual(gzip.decompress(raw.body), expected)
                self.assertLess(len(raw.body), size // 4)
                self.assertEqual(int(raw.header("Content-Length")), len(raw.body))
                # Twice (then from the cache): the same bytes and tag.
                again = self.curl(path, headers=["Accept-Encoding: gzip"])
                self.assertEqual((again.body, again.header("ETag")), (raw.body, tag))
                self.assertEqual(self.curl(path, headers=[
                    "Accept-Encoding: gzip", f"If-None-Match: {tag}"]).status, 304)
                plain = self.curl(path)
                self.assertIsNone(plain.header("Content-Encoding"))
                self.assertEqual(plain.body, expected)
                self.assertEqual(plain.header("Vary"), "Accept-Encoding")

    def test_gzip_never_with_ranges(self):
        r = self.curl("/gz/text.txt", "-r", "5-14", "--compressed")
        self.assertEqual(r.status, 206)
        self.assertIsNone(r.header("Content-Encoding"))
        self.assertEqual(r.body, TEXT[5:15])
        r = self.curl("/gz/text.txt", "-r", "0-1,10-11", headers=["Accept-Encoding: gzip"])
        self.assertEqual(r.status, 206)
        self.assertEqual([p[2] for p in self.parts(r)], [TEXT[0:2], TEXT[10:12]])

    def test_coded_responses_offer_no_ranges(self):
        """Ranges are served of the file's own bytes only, so a body in a coding chosen for
        the request (gzip made here, a .gz sibling) must not offer them: its Last-Modified
        is the file's, and a client resuming it with Range and that date in If-Range gets
        identity bytes to splice onto coded ones. The file's own bytes still offer them."""
        for path in ("/gz/text.txt", "/pre/style.css"):
            with self.subTest(path=path):
                coded = self.curl(path, headers=["Accept-Encoding: gzip"])
                self.assertEqual((coded.status, coded.header("Content-Encoding")), (200, "gzip"))
                self.assertIsNone(coded.header("Accept-Ranges"))
                head = self.curl(path, head=True, headers=["Accept-Encoding: gzip"])
                self.assertEqual(head.header("Content-Encoding"), "gzip")
                self.assertIsNone(head.header("Accept-Ranges"))
                plain = self.curl(path)
                self.assertIsNone(plain.header("Content-Encoding"))
                self.assertEqual(plain.header("Accept-Ranges"), "bytes")
                # The resumption the field would invite gets the identity bytes.
                resumed = self.curl(path, headers=[
                    "Accept-Encoding: gzip", "Range: bytes=10-",
                    f"If-Range: {coded.header('Last-Modified')}"])
                self.assertEqual((resumed.status, resumed.header("Content-Encoding")), (206, None))

    def test_gzip_skipped(self):
        for path in ("/gz/tiny.txt", "/gz/img.png"):  # under min_size; not a text type
            with self.subTest(path=path):
                r = self.curl(path, headers=["Accept-Encoding: gzip"])
                self.assertEqual(r.status, 200)
                self.assertIsNone(r.header("Content-Encoding"))

    def test_svgz_is_gzip_coded_svg(self):
        """A .svgz holds gzip bytes: they go out as they are, named by Content-Encoding
        (without it no browser reads them as the SVG the type says), never gzipped a
        second time where gzip is on, and ranges count the stored bytes."""
        for path in (b"/gz/logo.svgz", b"/plain/logo.svgz"):  # gzip on; gzip off
            with self.subTest(path=path):
                for method in ("GET", "HEAD"):
                    head = method == "HEAD"
                    data, _ = self.srv.exchange(
                        method.encode() + b" " + path + b" HTTP/1.1\r\nHost: t\r\n"
                        b"Accept-Encoding: gzip\r\nConnection: close\r\n\r\n", timeout=10)
                    (r,), rest = ft.parse_responses(data, [method])
                    self.assertEqual((r.status, rest), (200, b""))
                    self.assertEqual(r.header("Content-Type"), "image/svg+xml")
                    self.assertEqual(r.header("Content-Encoding"), "gzip")
                    self.assertEqual(r.header("Content-Length"), str(len(self.svgz)))
                    self.assertIsNone(r.header("Vary"))
                    self.assertEqual(r.body, b"" if head else self.svgz)
                    if not head:
                        self.assertEqual(gzip.decompress(r.body), self.svg)
                r = self.raw(path, b"Range: bytes=0-9\r\n")
                self.assertEqual((r.status, r.header("Content-Encoding")), (206, "gzip"))
                self.assertEqual(r.header("Content-Range"), f"bytes 0-9/{len(self.svgz)}")
                self.assertEqual(r.body, self.svgz[:10])
                # Parts of it could not each say they are gzip: the whole instead.
                r = self.raw(path, b"Range: bytes=0-9,20-29\r\n")
                self.assertEqual((r.status, r.header("Content-Encoding")), (200, "gzip"))
                self.assertEqual(r.body, self.svgz)

    # -- listings ---------------------------------------------------------------
    def test_autoindex(self):
        r = self.curl("/auto/")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Type"), "text/html; charset=utf-8")
        html = r.body.decode()
        self.assertIn("<title>Index of /auto/</title>", html)
        rows = re.findall(r'<a href="([^"]*)">([^<]*)</a>', html)
        self.assertEqual(rows, [
            ("../", "../"),
            ("asub/", "asub/"),
            ("zsub/", "zsub/"),
            ("%3Cb%3E&amp;.txt", "&lt;b&gt;&amp;.txt"),
            ("b.txt", "b.txt"),
        ])
        self.assertIn("<td>3</td>", html)
        self.assertNotIn(".dot", html)
        # The links work.
        self.assertEqual(self.curl("/auto/%3Cb%3E&.txt").body, b"odd")
        self.assertEqual(self.curl("/auto/asub/").status, 200)
        # The same directory through a route without autoindex: 403.
        self.assertEqual(self.curl("/noindex/").status, 403)


    # -- fallback (try_files' last resort) and not_found (error_page 404) ------
    def test_fallback_answers_what_would_be_404(self):
        for path in ("/spa/", "/spa/app/route/42", "/spa/x.js", "/spa/real.txt/", "/spa/.env"):
            with self.subTest(path=path):
                r = self.curl(path)
                self.assertEqual((r.status, r.body), (200, self.spa_index))
                self.assertEqual(r.header("Content-Type"), "text/html; charset=utf-8")
                self.assertNotIn(b"SPA-SECRET", r.body)
        r = self.curl("/spa/real.txt")
        self.assertEqual((r.status, r.body), (200, b"a real file\n"))
        # The fallback is a file like any other: validators, 304, ranges, HEAD.
        first = self.curl("/spa/deep/link")
        etag = first.header("ETag")
        self.assertTrue(etag)
        self.assertEqual(first.header("Last-Modified"), http_date(OLD_MTIME))
        self.assertEqual(self.curl("/spa/other", headers=[f"If-None-Match: {etag}"]).status, 304)
        r = self.curl("/spa/other", headers=["Range: bytes=0-8"])
        self.assertEqual((r.status, r.body), (206, self.spa_index[:9]))
        r = self.curl("/spa/other", head=True)
        self.assertEqual((r.status, r.header("Content-Length")), (200, str(len(self.spa_index))))
        # Errors other than 404 stay theirs.
        self.assertEqual(self.raw(b"/spa/%00").status, 400)

    def test_not_found_page_is_the_body_of_a_404(self):
        r = self.curl("/err/missing.html")
        self.assertEqual((r.status, r.body), (404, self.page_404))
        self.assertEqual(r.header("Content-Type"), "text/html; charset=utf-8")
        # Nothing that would describe the page as the resource asked for, or cache it.
        for name in ("ETag", "Last-Modified", "Cache-Control", "Accept-Ranges"):
            self.assertIsNone(r.header(name), name)
        r = self.curl("/err/missing.html", headers=["Range: bytes=0-3"])
        self.assertEqual((r.status, r.body), (404, self.page_404))
        r = self.curl("/err/missing.html", head=True)
        self.assertEqual((r.status, r.header("Content-Length")), (404, str(len(self.page_404))))
        self.assertEqual(r.body, b"")
        r = self.curl("/err/real.txt")
        self.assertEqual((r.status, r.body, r.header("Cache-Control")), (200, b"real\n", "max-age=60"))
        # A hidden file's 404 gets the page too; a 400 does not.
        self.assertEqual(self.curl("/err/.env").body, self.page_404)
        self.assertEqual(self.raw(b"/err/%00").status, 400)

    def test_fallback_replaced_after_load_is_never_served_as_something_else(self):
        # What stands at the fallback's name now is looked at as it is served: a FIFO
        # (opening it must not block the worker), a directory, or a symlink out of the
        # root (even with follow_symlinks) give the plain 404; the file back, it serves.
        app = os.path.join(self.site, "swap", "app.html")
        os.rename(app, app + ".bak")
        self.addCleanup(lambda: os.path.exists(app + ".bak") and os.replace(app + ".bak", app))
        for kind, make, undo in (
                ("fifo", lambda: os.mkfifo(app), os.unlink),
                ("directory", lambda: os.mkdir(app), os.rmdir),
                ("symlink out", lambda: os.symlink("../../outside/secret.txt", app), os.unlink)):
            with self.subTest(kind):
                make()
                try:
                    r = self.raw(b"/swap/client/route")
                    self.assertEqual((r.status, r.body), (404, b"404 Not Found\n"))
                finally:
                    undo(app)
        os.replace(app + ".bak", app)
        r = self.raw(b"/swap/client/route")
        self.assertEqual((r.status, r.body), (200, b"<p>app</p>\n"))

    def test_configured_page_gone_gives_the_plain_404(self):
        self.assertEqual(self.curl("/gone/x").body, b"soon gone\n")
        os.unlink(os.path.join(self.site, "gone", "404.html"))
        r = self.curl("/gone/x")
        self.assertEqual((r.status, r.body), (404, b"404 Not Found\n"))


class PermissionTests(ft.ServerTestCase):
    """Permissions as the worker sees them: under root, the workers drop to nobody."""

    def test_unreadable_files_and_search_only_directories(self):
        extra = "  - path: /auto/\n    static: {root: www, autoindex: true}\n"
        if os.geteuid() == 0:
            group = grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name
            extra += f"user: nobody\ngroup: {group}\n"
        srv = ft.Server(extra=extra)
        self.addCleanup(srv.cleanup)
        os.chmod(srv.dir, 0o755)
        www = os.path.join(srv.dir, "www")
        os.chmod(put(www, "secret.txt", b"no"), 0o600)
        put(www, "search/index.html", b"index of a search-only directory\n")
        put(www, "auto/search/file.txt", b"reachable by name\n")
        for d in ("search", "auto/search"):
            os.chmod(os.path.join(www, d), 0o711)  # may be searched, not read
        srv.start()
        self.assertEqual(srv.get("/secret.txt").status, 403)
        # Its index is served (as nginx does); only a listing needs to read it.
        r = srv.get("/search/")
        self.assertEqual((r.status, r.body), (200, b"index of a search-only directory\n"))
        r = srv.get("/search")
        self.assertEqual((r.status, r.header("Location")), (301, "/search/"))
        self.assertEqual(srv.get("/auto/search/").status, 403)
        r = srv.get("/auto/search/file.txt")
        self.assertEqual((r.status, r.body), (200, b"reachable by name\n"))
        self.assertStopsCleanly(srv)


if __name__ == "__main__":
    ft.run()
