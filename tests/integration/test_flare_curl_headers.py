#!/usr/bin/env python3
"""flare's -H against curl's, on the wire: real curl and the built flare send the same
request to one recording socket server for a matrix of -H 'N: v', 'N:', 'N;' and
'N; ' in every order (up to three per name) for a custom name and for each field
flare or curl writes itself, and the header lists they send must be the same,
names, values and order. What the two send on their own (User-Agent, Accept-Encoding,
a body's Content-Type) is compared as "the tool's own". Where flare differs on
purpose (man/flare.1) the comparison says so: Host is always the first field and
one is required; several Cookie values go as one line (RFC 6265 section 5.4), a
cookie-string: "; " between the values, each without the ';' and blanks it came with,
a lone one too (curl 7.88 sends each -H Cookie as its own line, as given: joined as
they are, 'a=1;' and 'b=2' would make 'a=1;; b=2', an empty cookie-pair)."""
import itertools
import shutil
import subprocess
import threading
import unittest

import flaredtest as ft
from test_flare_cli import flare, one_line, scripted_server

CURL = shutil.which("curl")
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def fields(head):
    """[(name, value)] of a raw request head, values stripped as a parser would."""
    lines = head.decode("latin-1").split("\r\n\r\n")[0].split("\r\n")[1:]
    return [(n, v.strip()) for n, _, v in (line.partition(":") for line in lines)]


def normalized(got, own):
    """got with the tool's own values (those of its request without -H) marked as such,
    Host moved first and the Cookie lines made one as flare sends it: a cookie-string of
    the values without their surrounding ';' and blanks, "; " between them."""
    out = [(n, "<own>" if own.get(n.lower()) == v else v) for n, v in got]
    hosts = [f for f in out if f[0].lower() == "host"]
    out = hosts[:1] + [f for f in out if f[0].lower() != "host"]
    cookies = [v for n, v in out if n.lower() == "cookie"]
    if cookies:
        first = next(i for i, f in enumerate(out) if f[0].lower() == "cookie")
        out = [f for f in out if f[0].lower() != "cookie"]
        pieces = (v.strip("; \t") for v in cookies)
        out.insert(first, ("Cookie", "; ".join(p for p in pieces if p)))
    return out


def as_curl_sees(headers):
    """The -H list that asks curl what flare is asked. 'Name; ' (a blank after the
    semicolon) is 'Name:' to curl, but a first 'Host; ' sends an empty Host: flare
    takes it as 'Host:' there too, so curl is asked that."""
    hosts = [i for i, h in enumerate(headers) if h.lower().startswith(("host:", "host;"))]
    if hosts and headers[hosts[0]] == "Host; ":
        return [*headers[:hosts[0]], "Host:", *headers[hosts[0] + 1:]]
    return list(headers)


class Recorder:
    """A socket server answering 200 to each request, keeping the heads in turn."""

    def __init__(self):
        self.heads = []
        self.lock = threading.Lock()
        self.sock = scripted_server(self.record)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/p"

    def record(self, conn, _index, head):
        with self.lock:
            self.heads.append(head)
        conn.sendall(OK)

    def take(self):
        with self.lock:
            heads, self.heads = self.heads, []
        return heads


# Each name the matrix runs over, with the options that make a tool write its own
# field of that name (curl sends Accept-Encoding with --compressed, flare always).
NAMES = [
    ("X-Custom", []),
    ("User-Agent", []),
    ("Accept", []),
    ("Accept-Encoding", []),
    ("Authorization", ["-u", "a:b"]),
    ("Content-Type", ["-d", "x"]),
    ("Content-Type", []),  # without a body: every value is sent all the same
    ("Connection", []),
    ("Cookie", []),
    ("Host", []),
]


def forms(name):
    return [f"{name}: 1", f"{name}: 2", f"{name}:", f"{name};", f"{name}; "]


def sequences(name):
    """Every order of up to two forms, and of three without the second value."""
    f = forms(name)
    for n in (1, 2):
        yield from itertools.product(f, repeat=n)
    yield from itertools.product([f[0], f[2], f[3]], repeat=3)


class CurlHeaderTests(unittest.TestCase):
    maxDiff = None
    @classmethod
    def setUpClass(cls):
        if not CURL:
            raise unittest.SkipTest("curl is not installed")
        cls.rec = Recorder()

    @classmethod
    def tearDownClass(cls):
        cls.rec.sock.close()

    def send(self, options, headers):
        """The heads curl and flare send; flare's is None when it refused (exit 1)."""
        def args(given):
            return [*options, *(a for h in given for a in ("-H", h))]
        subprocess.run([CURL, "-sS", "-o", "/dev/null", "--compressed",
                        *args(as_curl_sees(headers)), self.rec.url], check=True, timeout=30)
        rc, _, err = flare("-o", "/dev/null", *args(headers), self.rec.url)
        heads = self.rec.take()
        self.assertEqual(len(heads), 2 if rc == 0 else 1, (headers, err))
        return heads[0], heads[1] if rc == 0 else None, err

    def own(self, options):
        """Each tool's own fields for options: {lower-case name: value}, from its request
        without -H; both must send the same names in the same order."""
        curl_head, flare_head, _ = self.send(options, [])
        curl_own, flare_own = fields(curl_head), fields(flare_head)
        self.assertEqual([n for n, _ in curl_own], [n for n, _ in flare_own], options)
        return ({n.lower(): v for n, v in curl_own}, {n.lower(): v for n, v in flare_own})

    def check(self, options, cases):
        curl_own, flare_own = self.own(options)
        wrong = []
        for headers in cases:
            curl_head, flare_head, err = self.send(options, headers)
            want = normalized(fields(curl_head), curl_own)
            if not any(n.lower() == "host" for n, _ in want):
                # curl sent no Host at all; flare refuses, every request has one
                if flare_head is not None or "Host" not in one_line(self, err):
                    wrong.append((headers, "flare did not refuse to leave Host out", err))
                continue
            got = None if flare_head is None else normalized(fields(flare_head), flare_own)
            if got != want:
                wrong.append((headers, want, got, err))
        self.assertEqual(wrong, [], f"{len(wrong)} of {len(cases)} differ from curl")

    def test_each_name_alone(self):
        for name, options in NAMES:
            with self.subTest(name=name):
                self.check(options, list(sequences(name)))

    def test_cookie_values_with_semicolons(self):
        # Values as people paste them from a browser: a ';' or blank at either end.
        cases = [["Cookie: a=1;", "Cookie: b=2"], ["Cookie: a=1; ", "Cookie: b=2;"],
                 ["Cookie: a=1;;", "Cookie:  b=2 ;", "Cookie: c=3"], ["Cookie: a=1; b=2;"]]
        self.check([], cases)
        _, flare_head, _ = self.send([], cases[0])
        self.assertIn(("Cookie", "a=1; b=2"), fields(flare_head))

    def test_names_interleaved(self):
        # A field's place among the others is where its -H is, as in curl.
        picks = ["X-A: 1", "User-Agent: u", "X-A:", "Accept;", "X-B: 2", "User-Agent:",
                 "Authorization: t", "X-A;", "Content-Type: c"]
        cases = [list(p) for p in itertools.permutations(picks, 3)][::7]
        cases.append(picks)
        cases.append(picks[::-1])
        self.check(["-u", "a:b", "-d", "x"], cases)


if __name__ == "__main__":
    ft.run()
