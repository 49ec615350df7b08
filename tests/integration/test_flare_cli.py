#!/usr/bin/env python3
"""The `flare` command-line client (and through it libflare's HTTP and WebSocket
clients) against real servers on 127.0.0.1 and free ports: the built flared
(echo, text, redirect and websocket routes; a TLS listener with a certificate made
here), Python's http.server for the odd cases (chunked with trailers,
close-delimited, gzip and a gzip bomb, redirects to another origin, keep-alive
connections the server closes, slow answers), raw sockets for broken responses,
Python's ssl module for HTTPS failures (untrusted, wrong host), and Debian's
python3-websockets for ws:// and wss://. Exit statuses are checked against
man/flare.1: 0 ok, 1 usage, 2 network, 3 TLS, 4 status not 2xx (ws: a close code not
1000/1001), 22 --fail.
"""
import base64
import gzip
import hashlib
import http.server
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import flaredtest as ft

FLARE = os.environ.get("FLARE", "")


def flare(*args, stdin=None, timeout=30):
    """Runs flare; returns (exit status, stdout bytes, stderr text)."""
    if not FLARE or not os.access(FLARE, os.X_OK):
        raise AssertionError(f"$FLARE does not name the built flare executable: {FLARE!r}")
    p = subprocess.run([FLARE, *args], input=stdin, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def one_line(test, err):
    """flare's errors are one line starting with "flare: "."""
    lines = [line for line in err.splitlines() if line]
    test.assertEqual(len(lines), 1, err)
    test.assertTrue(lines[0].startswith("flare: "), err)
    return lines[0]


# -- a throwaway PKI, made with the openssl command ---------------------------

def make_pki(d):
    """ca.pem; server.pem for localhost and 127.0.0.1; other.pem for other.test only."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=flare cli test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    for name, san in (("server", "DNS:localhost,IP:127.0.0.1"), ("other", "DNS:other.test")):
        run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
        with open(os.path.join(d, f"{name}.ext"), "w") as f:
            f.write(f"subjectAltName={san}\nextendedKeyUsage=serverAuth\n")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext")


# -- Python servers -------------------------------------------------------------

class Recorder:
    """What the Python servers saw: one dict of headers per request."""
    def __init__(self):
        self.requests = []


class OddHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    recorder = None  # set per server class
    other_origin = ""

    def log_message(self, *args):
        pass

    def send_body(self, status, body, headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        self.recorder.requests.append((self.command, self.path, dict(self.headers.items())))
        path = self.path
        if path == "/echo-headers":
            self.send_body(200, json.dumps(dict(self.headers.items())).encode(),
                           [("Content-Type", "application/json")])
        elif path == "/chunked-trailers":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Trailer", "X-Checksum")
            self.end_headers()
            for piece in (b"chunked ", b"with ", b"trailers"):
                self.wfile.write(b"%x;ext=1\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\nX-Checksum: abc\r\n\r\n")
        elif path == "/close-delimited":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"until the server closes")
            self.close_connection = True
        elif path == "/gzip":
            self.send_body(200, gzip.compress(b"decoded by flare\n" * 100),
                           [("Content-Encoding", "gzip")])
        elif path == "/bomb":
            self.send_body(200, BOMB, [("Content-Encoding", "gzip")])
        elif path == "/away":
            self.send_body(302, b"", [("Location", self.other_origin + "/echo-headers")])
        elif path == "/set-cookie":
            self.send_body(302, b"", [("Set-Cookie", "sid=s3cret; Path=/"),
                                      ("Location", "/echo-headers")])
        elif path == "/close-after":
            # keep-alive by the headers, but the server closes the connection anyway
            self.send_body(200, b"closed behind your back\n")
            self.close_connection = True
        elif path == "/slow":
            time.sleep(3)
            self.send_body(200, b"too late")
        else:
            self.send_body(404, b"no such thing\n")

    do_HEAD = do_GET
    do_DELETE = do_GET


BOMB = b""


class QuietServer(http.server.ThreadingHTTPServer):
    """Clients that give up mid-body (the bomb, timeouts) are expected: no tracebacks."""

    def handle_error(self, request, client_address):
        pass


def start_python_server(handler_attrs, tls_context=None):
    """A ThreadingHTTPServer on a free port with its own handler class; returns it."""
    handler = type("Handler", (OddHandler,), dict(handler_attrs))
    srv = QuietServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    if tls_context:
        srv.socket = tls_context.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def raw_server(response, close=True):
    """A socket server answering every request with the same raw bytes."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)

    def serve():
        while True:
            try:
                conn, _ = lsock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                conn.sendall(response)
    threading.Thread(target=serve, daemon=True).start()
    return lsock


def scripted_server(handler):
    """A socket server calling handler(conn, index, head) for each connection, in turn,
    once it has read the request head."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)

    def serve():
        index = 0
        while True:
            try:
                conn, _ = lsock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    data = b""
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                    handler(conn, index, data)
                except OSError:
                    pass
            index += 1
    threading.Thread(target=serve, daemon=True).start()
    return lsock


WS_SERVER = r"""
import asyncio, ssl, sys
import websockets
async def echo(ws, path=None):
    try:
        async for msg in ws:
            await ws.send(msg)
    except websockets.ConnectionClosed:
        pass
async def main():
    ctx = None
    if len(sys.argv) > 1:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    async with websockets.serve(echo, "127.0.0.1", 0, ssl=ctx, ping_interval=None) as server:
        print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.Future()
asyncio.run(main())
"""


def websockets_python():
    """A Python with the websockets module: this one, or Debian's /usr/bin/python3."""
    for exe in (sys.executable, "/usr/bin/python3"):
        if exe and os.access(exe, os.X_OK) and subprocess.run(
                [exe, "-c", "import websockets"], capture_output=True).returncode == 0:
            return exe
    return None


WS_PYTHON = websockets_python()


class TlsFlared(ft.Server):
    """flared with a TLS listener (certificate and key given) instead of clear text."""

    def __init__(self, cert, key, **kwargs):
        super().__init__(**kwargs)
        self.cert, self.key = cert, key

    def config_text(self, **overrides):
        text = super().config_text(**overrides)
        tls = (f"    tls:\n      certificates:\n        - {{cert: {self.cert}, key: {self.key}}}\n")
        return text.replace("    reuseport: false\n", "    reuseport: false\n" + tls, 1)


EXTRA_ROUTES = """\
  - path: /old
    redirect: {to: /plaintext, status: 302}
  - path: /keep
    redirect: {to: /echo, status: 307}
  - path: /ws
    websocket: {}
"""


class FlaredTests(ft.SharedServerTestCase):
    """flare against the real flared."""

    server_kwargs = {"extra": EXTRA_ROUTES}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.url = f"http://127.0.0.1:{cls.srv.port}"

    def test_get(self):
        rc, out, err = flare(self.url + "/plaintext")
        self.assertEqual((rc, out, err), (0, b"Hello, World!", ""))
        # curl's habit: no scheme means http
        rc, out, _ = flare(f"127.0.0.1:{self.srv.port}/plaintext")
        self.assertEqual((rc, out), (0, b"Hello, World!"))

    def test_post_json_reads_back(self):
        rc, out, err = flare("post", self.url + "/echo", '{"hello": "flare"}', "--json")
        self.assertEqual(rc, 0, err)
        self.assertIn(b'\n  "', out)  # pretty-printed
        doc = json.loads(out)
        self.assertEqual(doc["method"], "POST")
        self.assertEqual(doc["json"], {"hello": "flare"})
        headers = {k.lower(): v for k, v in doc["headers"].items()}
        self.assertEqual(headers["content-type"], "application/json")
        self.assertEqual(headers["accept"], "application/json")
        self.assertEqual(headers["accept-encoding"], "gzip, deflate")
        self.assertEqual(headers["user-agent"], "flare/0.1.0")
        self.assertEqual(headers["host"], f"127.0.0.1:{self.srv.port}")

    def echo(self, *args):
        rc, out, err = flare(*args)
        self.assertEqual(rc, 0, err)
        doc = json.loads(out)
        return doc, {k.lower(): v for k, v in doc["headers"].items()}

    def test_headers_and_auth(self):
        doc, h = self.echo("-H", "X-Test: abc", "-H", "Content-Type: text/plain", "-d", "a=1",
                           "-d", "b=2", "-u", "user:pass", "-A", "agent/7", self.url + "/echo")
        self.assertEqual(doc["method"], "POST")
        self.assertEqual(doc["data"], "a=1&b=2")
        self.assertEqual(h["x-test"], "abc")
        self.assertEqual(h["content-type"], "text/plain")
        self.assertEqual(h["authorization"], "Basic dXNlcjpwYXNz")
        self.assertEqual(h["user-agent"], "agent/7")
        _, h = self.echo("--bearer", "tok_abc", self.url + "/echo")
        self.assertEqual(h["authorization"], "Bearer tok_abc")
        # user:pass in the URL is Basic auth, never part of Host
        _, h = self.echo(f"http://al:ice@127.0.0.1:{self.srv.port}/echo")
        self.assertEqual(h["authorization"], "Basic YWw6aWNl")
        self.assertEqual(h["host"], f"127.0.0.1:{self.srv.port}")

    def test_header_left_out_or_sent_empty(self):
        # curl's forms: 'Name:' sends no header flare writes itself and nothing itself,
        # while the -H values of that name are sent whatever their order; 'Name;' sends
        # it with an empty value, 'Name; ' is 'Name:' (test_flare_curl_headers.py
        # compares all of it with curl on the wire).
        _, h = self.echo("-H", "User-Agent:", "-H", "Accept:", "-H", "Accept-Encoding:  ",
                         "-H", "X-Kept: 1", "-H", "X-Kept:", "-H", "X-Gone:", "-H",
                         "Content-Type:", "-u", "user:pass", "-H", "Authorization:", "-d", "a=1",
                         "-H", "X-Empty;", "-H", "Accept-Language; ", self.url + "/echo")
        for name in ("user-agent", "accept", "accept-encoding", "x-gone", "content-type",
                     "authorization", "accept-language"):
            self.assertNotIn(name, h)
        self.assertEqual((h["x-kept"], h["x-empty"]), ("1", ""))
        self.assertEqual(h["host"], f"127.0.0.1:{self.srv.port}")
        _, h = self.echo("-H", "Accept;", "-H", "User-Agent; ", self.url + "/echo")
        self.assertEqual(h["accept"], "")
        self.assertNotIn("user-agent", h)
        # Every request carries a Host (RFC 9112 section 3.2), the first one given;
        # 'Name;x' is neither form.
        rc, out, err = flare("-H", "Host:", self.url + "/echo")
        self.assertNotEqual(rc, 0)
        self.assertIn("Host", one_line(self, err))
        _, h = self.echo("-H", "Host: a.test", "-H", "Host:", "-H", "Host: b.test",
                         self.url + "/echo")
        self.assertEqual(h["host"], "a.test")
        rc, out, err = flare("-H", "X-Odd;x", self.url + "/echo")
        self.assertEqual(rc, 1)
        self.assertIn("-H 'X-Odd;x': has no ':'", one_line(self, err))

    def test_header_errors_name_the_option(self):
        """A refused -H is quoted as given, with why, before any request is sent (not as
        the library's "default header" list names it)."""
        cases = [
            (["-H", "X Y: 1"], "-H 'X Y: 1': invalid header name"),
            (["-H", "X-A: 1\r\nX-B: 2"], "-H 'X-A: 1\\r\\nX-B: 2': value holds CR, LF"),
            (["-H", "Host:"], "-H 'Host:': cannot be left out"),
            (["-H", "Content-Length: 5"], "-H 'Content-Length: 5': set by the client"),
            (["-H", "X-Ok: 1", "-H", "transfer-encoding: chunked"],
             "-H 'transfer-encoding: chunked': set by the client"),
        ]
        for args, want in cases:
            with self.subTest(args=args):
                rc, out, err = flare(*args, self.url + "/echo")
                self.assertEqual((rc, out), (1, b""), err)
                line = one_line(self, err)
                self.assertTrue(line.startswith("flare: " + want), line)
                self.assertNotIn("default header", line)

    def test_methods(self):
        for cmd in ("put", "patch", "delete"):
            doc, _ = self.echo(cmd, self.url + "/echo")
            self.assertEqual(doc["method"], cmd.upper())
        doc, _ = self.echo("-X", "PUT", "--data-binary", "raw body", self.url + "/echo")
        self.assertEqual((doc["method"], doc["data"]), ("PUT", "raw body"))
        with tempfile.NamedTemporaryFile("wb", suffix=".json") as f:
            f.write(b'{"from":\n "file"}\n')
            f.flush()
            doc, _ = self.echo("-d", "@" + f.name, self.url + "/echo")
            self.assertEqual(doc["data"], '{"from": "file"}')  # -d drops newlines (curl)
            doc, _ = self.echo("put", self.url + "/echo", "@" + f.name)
            self.assertEqual(doc["data"], '{"from":\n "file"}\n')

    def test_include_and_head(self):
        rc, out, _ = flare("-i", self.url + "/plaintext")
        self.assertEqual(rc, 0)
        head, _, body = out.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200 OK\r\n"), head)
        self.assertIn(b"\r\nContent-Length: 13", head)
        self.assertEqual(body, b"Hello, World!")
        rc, out, _ = flare("-I", self.url + "/plaintext")
        self.assertEqual(rc, 0)
        self.assertTrue(out.startswith(b"HTTP/1.1 200 OK\r\n"))
        self.assertTrue(out.endswith(b"\r\n\r\n"))
        self.assertNotIn(b"Hello", out)
        rc, out2, _ = flare("head", self.url + "/plaintext")
        self.assertEqual(rc, 0)
        self.assertEqual(out2.split(b"\r\n")[0], b"HTTP/1.1 200 OK")
        self.assertNotIn(b"Hello", out2)

    def test_redirects(self):
        rc, out, err = flare("-i", self.url + "/old")
        self.assertEqual(rc, 4, err)  # a 302 not followed is not 2xx
        self.assertTrue(out.startswith(b"HTTP/1.1 302 "))
        self.assertIn(b"Location: /plaintext", out)
        rc, out, _ = flare("-L", self.url + "/old")
        self.assertEqual((rc, out), (0, b"Hello, World!"))
        rc, out, _ = flare("--max-redirects", "0", self.url + "/old")
        self.assertEqual(rc, 4)
        # 307 keeps the method and the body
        doc, _ = self.echo("-L", "-d", '{"k": 1}', self.url + "/keep")
        self.assertEqual((doc["method"], doc["json"]), ("POST", {"k": 1}))

    def test_status_fail_and_output(self):
        rc, out, err = flare(self.url + "/nothing-here")
        self.assertEqual(rc, 4)
        self.assertTrue(out)  # the 404 body is still written
        self.assertEqual(err, "")
        rc, out, err = flare("-f", self.url + "/nothing-here")
        self.assertEqual((rc, out), (22, b""))
        self.assertIn("HTTP 404", one_line(self, err))
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "out.txt")
            rc, out, _ = flare("-o", path, self.url + "/plaintext")
            self.assertEqual((rc, out), (0, b""))
            with open(path, "rb") as f:
                self.assertEqual(f.read(), b"Hello, World!")
            rc, _, err = flare("-o", os.path.join(d, "no", "such", "dir"), self.url + "/plaintext")
            self.assertEqual(rc, 1)
            one_line(self, err)
        # a body small enough to sit in stdio's buffer until exit: a full disk under
        # stdout is still an error (1), not a silent success with the output lost
        if os.path.exists("/dev/full"):
            for args in ([], ["-i"]):
                with open("/dev/full", "wb") as full:
                    p = subprocess.run([FLARE, *args, self.url + "/plaintext"], stdout=full,
                                       stderr=subprocess.PIPE, timeout=30)
                self.assertEqual(p.returncode, 1, args)
                self.assertIn("cannot write stdout", one_line(self, p.stderr.decode()))

    def test_keepalive_across_urls(self):
        rc, out, err = flare("-v", self.url + "/plaintext", self.url + "/plaintext")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, b"Hello, World!" * 2)
        self.assertEqual(err.count("* connected to"), 1, err)
        self.assertIn("* reusing the connection", err)
        self.assertIn("> GET /plaintext HTTP/1.1", err)
        self.assertIn("< HTTP/1.1 200 OK", err)

    def test_refused_before_sending(self):
        before = self.srv.log()
        for args in (["-H", "X-Evil: a\r\nX-Injected: 1"], ["-X", "GET /x HTTP/1.1\r\nX: y"],
                     ["-H", "Bad Name: x"]):
            rc, out, err = flare(*args, self.url + "/echo")
            self.assertEqual((rc, out), (1, b""), err)
            one_line(self, err)
        rc, _, err = flare(self.url + "/echo\r\nX-Injected: 1")
        self.assertEqual(rc, 1)
        self.assertIn("URL", one_line(self, err))
        self.assertEqual(self.srv.log(), before)

    def test_websocket_echo(self):
        rc, out, err = flare("ws", f"ws://127.0.0.1:{self.srv.port}/ws",
                             stdin=b"hello\nw\xc3\xb6rld\n\nlast line without newline")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, b"hello\nw\xc3\xb6rld\n\nlast line without newline\n")
        # echoes that cannot reach stdout (a full disk) fail the session (1)
        if os.path.exists("/dev/full"):
            with open("/dev/full", "wb") as full:
                p = subprocess.run([FLARE, "ws", f"ws://127.0.0.1:{self.srv.port}/ws"],
                                   input=b"hello\n", stdout=full, stderr=subprocess.PIPE,
                                   timeout=30)
            self.assertEqual(p.returncode, 1)
            self.assertIn("cannot write stdout", one_line(self, p.stderr.decode()))
        # a plain GET to the websocket route is refused with 426 (exit 4)
        rc, _, _ = flare(self.url + "/ws")
        self.assertEqual(rc, 4)
        # a ws client to an HTTP route: the upgrade is refused
        rc, _, err = flare("ws", f"ws://127.0.0.1:{self.srv.port}/plaintext", stdin=b"x\n")
        self.assertNotEqual(rc, 0)
        one_line(self, err)


class UsageTests(unittest.TestCase):
    def test_usage_errors(self):
        for args in (["--bogus", "http://h/"], [], ["-X"], ["get"], ["get", "a", "b"],
                     ["ftp://example.com/"], ["http://h:99999/"], ["-H", "no colon", "http://h/"],
                     ["-d", "@/nonexistent/file", "http://h/"], ["-m", "soon", "http://h/"],
                     ["-o", "f", "http://a/", "http://b/"]):
            rc, out, err = flare(*args)
            self.assertEqual((rc, out), (1, b""), f"{args}: {err}")
            one_line(self, err)
        rc, out, err = flare("--help")
        self.assertEqual(rc, 0)
        self.assertIn(b"usage: flare", out)

    def test_ws_refuses_what_its_handshake_cannot_carry(self):
        # These were dropped in silence: the socket opened without the credentials
        # (exit 2 below, the name not resolving, rather than 1).
        for args in (["-H", "Authorization: Bearer t"], ["-u", "a:b"], ["--bearer", "t"],
                     ["-A", "agent"], ["-X", "POST"], ["-d", "x"]):
            rc, out, err = flare("ws", "ws://h.invalid/", *args, stdin=b"")
            self.assertEqual((rc, out), (1, b""), f"{args}: {err}")
            self.assertIn("for HTTP requests", one_line(self, err))

    def test_ws_refuses_what_only_an_http_response_uses(self):
        # These were dropped in silence: ws prints messages, not a response.
        for args in (["-i"], ["-I"], ["-L"], ["--max-redirects", "3"], ["--json"], ["-f"],
                     ["--raw"]):
            rc, out, err = flare("ws", "ws://h.invalid/", *args, stdin=b"")
            self.assertEqual((rc, out), (1, b""), f"{args}: {err}")
            self.assertIn("for HTTP requests", one_line(self, err))

    def test_numbers_that_are_not(self):
        # strtod reads "nan" and "" (as 0), strtoull reads "-1" (as 2^64-1): each
        # was taken as a value, a timeout of none or a limit of none (exit 2 below,
        # the name not resolving, rather than 1).
        for args in (["-m", "nan", "http://h.invalid/"], ["-m", "", "http://h.invalid/"],
                     ["--connect-timeout", "NaN", "http://h.invalid/"],
                     ["--wait", "nan", "ws", "ws://h.invalid/"],
                     ["--max-filesize", "-1", "http://h.invalid/"],
                     ["--max-filesize", "+5", "http://h.invalid/"],
                     ["--max-redirects", "", "http://h.invalid/"],
                     # 2^32 + 1: an int cast before the range check made it 1.
                     ["--max-redirects", "4294967297", "http://h.invalid/"]):
            rc, out, err = flare(*args)
            self.assertEqual((rc, out), (1, b""), f"{args}: {err}")
            one_line(self, err)

    def test_network_errors(self):
        port = ft.free_port()
        rc, out, err = flare(f"http://127.0.0.1:{port}/")
        self.assertEqual((rc, out), (2, b""))
        self.assertIn("refused", one_line(self, err))
        rc, _, err = flare("http://name.invalid/")
        self.assertEqual(rc, 2)
        one_line(self, err)
        # curl's -fsSL: -S brings back the error line that -s hides
        rc, out, err = flare("-fsSL", f"http://127.0.0.1:{port}/")
        self.assertEqual((rc, out), (2, b""))
        self.assertIn("refused", one_line(self, err))
        rc, out, err = flare("-fsL", f"http://127.0.0.1:{port}/")
        self.assertEqual((rc, out, err), (2, b"", ""))

    def test_address_family(self):
        # -4 / -6 (curl's): only addresses of that family are used
        lsock = socket.socket(socket.AF_INET6)
        try:
            lsock.bind(("::1", 0))
        except OSError:
            lsock.close()
            self.skipTest("no ::1 here")
        lsock.listen(4)
        port = lsock.getsockname()[1]

        def serve():
            while True:
                try:
                    conn, _ = lsock.accept()
                except OSError:
                    return
                with conn:
                    conn.recv(65536)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
                                 b"Connection: close\r\n\r\nsix")
        threading.Thread(target=serve, daemon=True).start()
        try:
            rc, out, err = flare("-6", f"http://[::1]:{port}/")
            self.assertEqual((rc, out), (0, b"six"), err)
            rc, out, err = flare("--ipv4", f"http://[::1]:{port}/")
            self.assertEqual((rc, out), (2, b""))
            self.assertIn("IPv4", one_line(self, err))
            rc, _, err = flare("-6", f"http://127.0.0.1:{port}/")
            self.assertEqual(rc, 2)
            self.assertIn("IPv6", one_line(self, err))
        finally:
            lsock.close()


class OddServerTests(unittest.TestCase):
    """flare against Python's http.server and raw sockets that misbehave on purpose."""

    @classmethod
    def setUpClass(cls):
        global BOMB
        BOMB = gzip.compress(bytes(150 << 20), 9)  # 150 MiB of zeros in ~150 KiB
        cls.rec_a, cls.rec_b = Recorder(), Recorder()
        cls.b = start_python_server({"recorder": cls.rec_b})
        b_url = f"http://127.0.0.1:{cls.b.server_address[1]}"
        cls.a = start_python_server({"recorder": cls.rec_a, "other_origin": b_url})
        cls.url = f"http://127.0.0.1:{cls.a.server_address[1]}"

    @classmethod
    def tearDownClass(cls):
        cls.a.shutdown()
        cls.b.shutdown()

    def test_chunked_with_trailers(self):
        rc, out, err = flare(self.url + "/chunked-trailers")
        self.assertEqual((rc, out), (0, b"chunked with trailers"), err)

    def test_close_delimited(self):
        rc, out, err = flare(self.url + "/close-delimited")
        self.assertEqual((rc, out), (0, b"until the server closes"), err)

    def test_gzip_and_bomb(self):
        rc, out, err = flare(self.url + "/gzip")
        self.assertEqual((rc, out), (0, b"decoded by flare\n" * 100), err)
        rc, out, err = flare("--compressed", "--http1.1", self.url + "/gzip")
        self.assertEqual((rc, out), (0, b"decoded by flare\n" * 100), err)
        rc, out, _ = flare("--raw", self.url + "/gzip")
        self.assertEqual(gzip.decompress(out), b"decoded by flare\n" * 100)
        rc, _, err = flare("--max-filesize", "1000000", "-o", "/dev/null", self.url + "/bomb")
        self.assertEqual(rc, 2)
        self.assertIn("limit", one_line(self, err))
        # --json holds the body in memory: the library's 100 MiB default stops the bomb
        rc, out, err = flare("--json", self.url + "/bomb")
        self.assertEqual((rc, out), (2, b""))
        self.assertIn("limit", one_line(self, err))

    def test_credentials_stay_with_the_first_origin(self):
        self.rec_b.requests.clear()
        rc, out, err = flare("-L", "-u", "user:pass", "-H", "Cookie: mine=1", "-H", "X-Keep: 1",
                             self.url + "/away")
        self.assertEqual(rc, 0, err)
        seen = {k.lower(): v for k, v in json.loads(out).items()}
        self.assertNotIn("authorization", seen)
        self.assertNotIn("cookie", seen)
        self.assertEqual(seen["x-keep"], "1")
        first = {k.lower(): v for k, v in self.rec_a.requests[-1][2].items()}
        self.assertEqual(first["authorization"], "Basic dXNlcjpwYXNz")

    def test_cookie_jar_across_a_redirect(self):
        rc, out, err = flare("-L", self.url + "/set-cookie")
        self.assertEqual(rc, 0, err)
        seen = {k.lower(): v for k, v in json.loads(out).items()}
        self.assertEqual(seen["cookie"], "sid=s3cret")

    def test_connection_closed_by_the_server(self):
        rc, out, err = flare("-v", self.url + "/close-after", self.url + "/close-after")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, b"closed behind your back\n" * 2)
        # either the pool saw the close, or the GET was retried once on a new connection
        self.assertTrue("dropping an idle connection" in err or "retrying GET" in err, err)
        self.assertEqual(err.count("* connected to"), 2, err)

    def test_timeout(self):
        t0 = time.monotonic()
        rc, out, err = flare("--max-time", "0.5", self.url + "/slow")
        self.assertEqual((rc, out), (2, b""))
        self.assertIn("timeout", one_line(self, err))
        self.assertLess(time.monotonic() - t0, 2.5)
        # under a millisecond is still a timeout, not 0 (none): rounded up, it expires
        t0 = time.monotonic()
        rc, out, err = flare("--max-time", "0.0004", self.url + "/slow")
        self.assertEqual((rc, out), (2, b""), err)
        # On a loaded machine the millisecond can be gone before the connect starts:
        # "tcp connect to ...: timed out (budget 1 ms, 0 of 1 addresses tried ...)".
        self.assertRegex(one_line(self, err), "timeout|timed out")
        self.assertLess(time.monotonic() - t0, 2.5)

    def test_answer_before_the_upload_ends(self):
        # 413 after the head, then close with the body unread (a reset): flare shows
        # the server's answer, not "connection reset"
        def early(conn, index, _head):
            conn.sendall(b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 8\r\n"
                         b"Connection: close\r\n\r\ntoo big\n")
            time.sleep(0.05)
        lsock = scripted_server(early)
        with tempfile.NamedTemporaryFile() as f:
            f.write(b"x" * (32 << 20))
            f.flush()
            try:
                rc, out, err = flare("--data-binary", "@" + f.name,
                                     f"http://127.0.0.1:{lsock.getsockname()[1]}/upload")
            finally:
                lsock.close()
        self.assertEqual((rc, out), (4, b"too big\n"), err)

    def test_coded_responses_without_content(self):
        # HEAD and 304 name the coding of a body they do not carry: nothing to decode
        head = (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 120\r\n"
                b"Connection: close\r\n\r\n")
        for args, response, want in ((["-I"], head, 0),
                                     ([], b"HTTP/1.1 304 Not Modified\r\n"
                                      b"Content-Encoding: gzip\r\n\r\n", 4)):
            lsock = scripted_server(lambda conn, index, _head, r=response: conn.sendall(r))
            try:
                rc, out, err = flare(*args, f"http://127.0.0.1:{lsock.getsockname()[1]}/")
            finally:
                lsock.close()
            self.assertEqual((rc, err), (want, ""), args)
            self.assertEqual(out, head if args else b"")

    def test_redirect_with_an_endless_body(self):
        # a 302 whose body never ends is not drained: -L goes on to the next hop
        def endless(conn, index, _head):
            if index > 0:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
                return
            conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: /next\r\n\r\n")
            end = time.monotonic() + 5
            while time.monotonic() < end:
                conn.sendall(b"x" * 65536)
        lsock = scripted_server(endless)
        t0 = time.monotonic()
        try:
            rc, out, err = flare("-L", f"http://127.0.0.1:{lsock.getsockname()[1]}/start",
                                 timeout=10)
        finally:
            lsock.close()
        self.assertEqual((rc, out), (0, b"ok\n"), err)
        self.assertLess(time.monotonic() - t0, 3)

    def test_proxy_credentials_stay_with_the_first_origin(self):
        self.rec_b.requests.clear()
        rc, out, err = flare("-L", "-H", "Proxy-Authorization: Basic cDpx", self.url + "/away")
        self.assertEqual(rc, 0, err)
        seen = {k.lower(): v for k, v in json.loads(out).items()}
        self.assertNotIn("proxy-authorization", seen)
        first = {k.lower(): v for k, v in self.rec_a.requests[-1][2].items()}
        self.assertEqual(first["proxy-authorization"], "Basic cDpx")

    def test_redirect_to_a_bad_location(self):
        # the server's bad Location is a protocol error (2), not a usage error (1); a
        # control character stays refused, as does a space in a host
        for location in (b"/a\tb", b"http://a b/", b"ftp://elsewhere/file"):
            lsock = raw_server(b"HTTP/1.1 302 Found\r\nLocation: " + location +
                               b"\r\nContent-Length: 0\r\n\r\n")
            try:
                rc, out, err = flare("-L", f"http://127.0.0.1:{lsock.getsockname()[1]}/")
            finally:
                lsock.close()
            self.assertEqual(rc, 2, err)
            self.assertIn("Location", one_line(self, err))

    def test_redirect_to_a_location_with_spaces_and_utf8(self):
        # curl's way: raw spaces and bytes from 0x80 are sent percent-encoded.
        hops = []

        def hop(conn, index, head):
            hops.append(head.split(b"\r\n")[0])
            if index == 0:
                conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: /caf\xc3\xa9 au lait?q=a b\r\n"
                             b"Content-Length: 0\r\nConnection: close\r\n\r\n")
            else:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
                             b"Connection: close\r\n\r\nok\n")
        lsock = scripted_server(hop)
        self.addCleanup(lsock.close)
        rc, out, err = flare("-L", f"http://127.0.0.1:{lsock.getsockname()[1]}/start")
        self.assertEqual((rc, out), (0, b"ok\n"), err)
        self.assertEqual(hops, [b"GET /start HTTP/1.1",
                                b"GET /caf%C3%A9%20au%20lait?q=a%20b HTTP/1.1"])

    def test_unicode_host_goes_by_its_a_label(self):
        # As curl does with libidn2: the name looked up (and sent as Host) is the
        # A-label. ".invalid" never resolves (RFC 6761 §6.4), so the lookup's error
        # names what was looked up; -m bounds it wherever DNS is slow to say so.
        rc, out, err = flare("-m", "5", "http://B\u00fccher.invalid:1/x".encode())
        self.assertEqual(rc, 2, err)
        self.assertIn('resolving "xn--bcher-kva.invalid"', one_line(self, err))
        # ... in a redirect's Location too
        lsock = raw_server(b"HTTP/1.1 302 Found\r\nLocation: http://stra\xc3\x9fe.invalid:1/\r\n"
                           b"Content-Length: 0\r\n\r\n")
        try:
            rc, out, err = flare("-L", "-m", "5", f"http://127.0.0.1:{lsock.getsockname()[1]}/")
        finally:
            lsock.close()
        self.assertEqual(rc, 2, err)
        self.assertIn('resolving "xn--strae-oqa.invalid"', one_line(self, err))
        # a name IDNA refuses is a usage error that says why
        rc, out, err = flare("http://\u2488x.com/".encode())
        self.assertEqual(rc, 1, err)
        self.assertIn("not a valid international host name", one_line(self, err))

    def test_redirect_with_two_different_locations(self):
        # RFC 9110 §10.2.2: one URI-reference. The first of two was followed; now
        # neither is: a protocol error (2), nothing written; the same one twice is one.
        hops = []

        def two(conn, index, head):
            hops.append(head.split(b"\r\n")[0])
            if head.startswith(b"GET /same "):
                conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: /next\r\nLocation: /next\r\n"
                             b"Content-Length: 0\r\nConnection: close\r\n\r\n")
            elif head.startswith(b"GET /next "):
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
                             b"Connection: close\r\n\r\nok\n")
            else:
                conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: /next\r\nLocation: /evil\r\n"
                             b"Content-Length: 5\r\nConnection: close\r\n\r\nmoved")
        lsock = scripted_server(two)
        self.addCleanup(lsock.close)
        base = f"http://127.0.0.1:{lsock.getsockname()[1]}"
        rc, out, err = flare("-L", base + "/start")
        self.assertEqual((rc, out), (2, b""), err)
        self.assertIn("two different Locations", one_line(self, err))
        self.assertEqual(hops, [b"GET /start HTTP/1.1"])
        rc, out, err = flare("-L", base + "/same")
        self.assertEqual((rc, out), (0, b"ok\n"), err)
        # without -L the 302 is the answer, both fields in its head (exit 4, as any 3xx)
        rc, out, err = flare("-i", base + "/start")
        self.assertEqual(rc, 4, err)
        self.assertIn(b"Location: /next\r\nLocation: /evil\r\n", out)

    def test_broken_responses(self):
        for response in (b"HTTP/1.1 abc Bad\r\n\r\n",
                         b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b",
                         b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                         b""):
            lsock = raw_server(response)
            try:
                rc, out, err = flare(f"http://127.0.0.1:{lsock.getsockname()[1]}/")
            finally:
                lsock.close()
            self.assertEqual(rc, 2, f"{response!r}: {err}")
            one_line(self, err)
        # too many fields is said as such, not as a malformed head; 256 still pass
        for count, want in ((300, "more than 256 header fields"), (255, None)):
            lsock = raw_server(b"HTTP/1.1 200 OK\r\n" +
                               b"".join(b"X-%d: v\r\n" % i for i in range(count)) +
                               b"Content-Length: 2\r\n\r\nok")
            try:
                rc, out, err = flare(f"http://127.0.0.1:{lsock.getsockname()[1]}/")
            finally:
                lsock.close()
            if want:
                self.assertEqual(rc, 2, err)
                self.assertIn(want, one_line(self, err))
            else:
                self.assertEqual((rc, out, err), (0, b"ok", ""))


class TlsTests(unittest.TestCase):
    """HTTPS: certificates made here with openssl, served by Python's ssl and flared."""

    @classmethod
    def setUpClass(cls):
        if not shutil.which("openssl"):
            raise unittest.SkipTest("no openssl command")
        cls.dir = tempfile.mkdtemp(prefix="flare-cli-tls-")
        make_pki(cls.dir)
        cls.ca = os.path.join(cls.dir, "ca.pem")
        cls.servers = {}
        for name in ("server", "other"):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(os.path.join(cls.dir, f"{name}.pem"),
                                os.path.join(cls.dir, f"{name}.key"))
            cls.servers[name] = start_python_server({"recorder": Recorder()}, ctx)

    @classmethod
    def tearDownClass(cls):
        for srv in cls.servers.values():
            srv.shutdown()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def url(self, name, host="127.0.0.1"):
        return f"https://{host}:{self.servers[name].server_address[1]}/echo-headers"

    def test_verified(self):
        rc, out, err = flare("--cacert", self.ca, self.url("server"))
        self.assertEqual(rc, 0, err)
        self.assertIn("host", {k.lower() for k in json.loads(out)})
        rc, _, err = flare("--cacert", self.ca, self.url("server", "localhost"))
        self.assertEqual(rc, 0, err)

    def test_untrusted(self):
        rc, out, err = flare(self.url("server"))
        self.assertEqual((rc, out), (3, b""))
        one_line(self, err)

    def test_wrong_host(self):
        rc, out, err = flare("--cacert", self.ca, self.url("other"))
        self.assertEqual((rc, out), (3, b""))
        one_line(self, err)

    def test_insecure_warns(self):
        rc, out, err = flare("-k", self.url("other"))
        self.assertEqual(rc, 0, err)
        self.assertIn("warning", one_line(self, err))

    def test_flared_tls_listener(self):
        srv = TlsFlared(os.path.join(self.dir, "server.pem"), os.path.join(self.dir, "server.key"),
                        extra=EXTRA_ROUTES)
        try:
            ok = subprocess.run([ft.FLARED, "-t", "-c", self.write_config(srv)],
                                capture_output=True).returncode == 0
            if not ok:
                self.skipTest("this flared has no TLS listeners")
            srv.start()
            url = f"https://localhost:{srv.port}"
            rc, out, err = flare("--cacert", self.ca, url + "/plaintext", url + "/plaintext")
            self.assertEqual((rc, out), (0, b"Hello, World!" * 2), err)
            rc, out, err = flare("ws", f"wss://localhost:{srv.port}/ws", "--cacert", self.ca,
                                 stdin=b"over tls\n")
            self.assertEqual((rc, out), (0, b"over tls\n"), err)
            rc, _, err = flare("ws", f"wss://localhost:{srv.port}/ws", stdin=b"x\n")
            self.assertEqual(rc, 3, err)
            self.assertEqual(srv.stop(), 0)
        finally:
            srv.cleanup()

    def write_config(self, srv):
        srv.port = ft.free_port()
        srv.write_config()
        return srv.config_path


@unittest.skipUnless(WS_PYTHON, "python3-websockets is not installed")
class PythonWebSocketTests(unittest.TestCase):
    """flare ws against an independent server: Debian's python3-websockets."""

    def start(self, *args):
        p = subprocess.Popen([WS_PYTHON, "-c", WS_SERVER, *args], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
        self.addCleanup(p.wait)
        self.addCleanup(p.kill)
        line = p.stdout.readline()
        self.assertTrue(line.startswith("PORT "), line)
        return int(line.split()[1])

    def test_ws_interactive(self):
        port = self.start()
        p = subprocess.Popen([FLARE, "ws", f"ws://127.0.0.1:{port}/"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(p.kill)
        for line, echo in ((b"one\n", b"one\n"), (b"two\r\n", b"two\n"),
                           ("dr\u00e9i\n".encode(), "dr\u00e9i\n".encode())):
            p.stdin.write(line)
            p.stdin.flush()
            self.assertEqual(p.stdout.readline(), echo)  # each answer as it comes
        p.stdin.close()
        self.assertEqual(p.wait(10), 0, p.stderr.read())
        self.assertEqual(p.stdout.read(), b"")

    def test_ws_wait(self):
        # This server drops messages that arrive with a close frame; --wait holds the
        # close back until the answers are in.
        port = self.start()
        rc, out, err = flare("ws", "--wait", "1", f"ws://127.0.0.1:{port}/",
                             stdin=b"one\ntwo\r\nthree")
        self.assertEqual((rc, out), (0, b"one\ntwo\nthree\n"), err)

    def test_ws_long_line_cut_between_characters(self):
        # A line over the 64 KiB buffer goes out in pieces; each piece must be UTF-8
        # of its own, so the cut may not fall inside a character.
        port = self.start()
        first = "a" + "\u00e9" * 32767  # 65535 bytes; byte 65536 starts another é
        line = (first + "\u00e9" * 100).encode()
        rc, out, err = flare("ws", "--wait", "1", f"ws://127.0.0.1:{port}/", stdin=line + b"\n")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, first.encode() + b"\n" + ("\u00e9" * 100).encode() + b"\n")
        self.assertIn("sent in pieces", err)

    def test_wss(self):
        if not shutil.which("openssl"):
            self.skipTest("no openssl command")
        d = tempfile.mkdtemp(prefix="flare-cli-wss-")
        self.addCleanup(shutil.rmtree, d, True)
        make_pki(d)
        port = self.start(os.path.join(d, "server.pem"), os.path.join(d, "server.key"))
        rc, out, err = flare("ws", f"wss://localhost:{port}/", "--cacert",
                             os.path.join(d, "ca.pem"), "--wait", "1", stdin=b"secure hello\n")
        self.assertEqual((rc, out), (0, b"secure hello\n"), err)
        rc, out, err = flare("ws", f"wss://localhost:{port}/", stdin=b"x\n")
        self.assertEqual((rc, out), (3, b""), err)
        one_line(self, err)


def ws_accept(conn, head):
    """Answers the WebSocket handshake in head with a 101 (RFC 6455 §4.2.2)."""
    key = [line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
           if line.lower().startswith(b"sec-websocket-key:")][0]
    accept = base64.b64encode(hashlib.sha1(
        key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")


def ws_close_frame(code=None, reason=b""):
    """An unmasked server close frame (RFC 6455 §5.5.1); no code: an empty payload."""
    payload = b"" if code is None else code.to_bytes(2, "big") + reason
    return bytes([0x88, len(payload)]) + payload


class WebSocketCloseStatusTests(unittest.TestCase):
    """flare ws's exit status says how the session ended (man/flare.1): 0 for a close
    with 1000, 1001 or no code, 4 for any other code, 2 for no close frame at all."""

    def session(self, script, *args, stdin=b""):
        """flare ws against a server that answers the handshake, then script(conn). Give
        "--wait" to keep flare's own close from racing the server's end."""
        def serve(conn, index, head):
            ws_accept(conn, head)
            script(conn)
        lsock = scripted_server(serve)
        self.addCleanup(lsock.close)
        p = subprocess.Popen([FLARE, "ws", *args, f"ws://127.0.0.1:{lsock.getsockname()[1]}/"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        self.addCleanup(p.kill)
        out, err = p.communicate(stdin, timeout=15)
        return p.returncode, out, err.decode()

    def server_closes(self, frame):
        def script(conn):
            conn.sendall(b"\x81\x02hi" + frame)
            conn.recv(1024)  # the client's answer to the close
        return script

    def test_a_close_that_went_well_is_0(self):
        for frame in (ws_close_frame(1000), ws_close_frame(1001, b"bye"), ws_close_frame()):
            rc, out, err = self.session(self.server_closes(frame), "--wait", "5")
            self.assertEqual((rc, out, err), (0, b"hi\n", ""), frame)

    def test_a_close_with_an_error_code_is_4(self):
        for code, reason in ((1011, b"internal error"), (1009, b""), (1008, b"policy"),
                             (4000, b"app")):
            rc, out, err = self.session(self.server_closes(ws_close_frame(code, reason)),
                                        "--wait", "5")
            self.assertEqual((rc, out), (4, b"hi\n"), err)
            self.assertIn(f"closed the connection with {code} \"{reason.decode()}\"",
                          one_line(self, err))

    def test_a_close_reason_cannot_break_the_error_line(self):
        # The reason is any UTF-8, controls included: printed as it came, a newline
        # split the error in two and an escape sequence reached the terminal.
        reason = b"line1\nline2 \x1b[31mred\x1b[0m\r"
        rc, out, err = self.session(self.server_closes(ws_close_frame(4000, reason)),
                                    "--wait", "5")
        self.assertEqual((rc, out), (4, b"hi\n"), err)
        line = one_line(self, err)
        self.assertNotIn("\x1b", line)
        self.assertNotIn("\r", line)
        self.assertIn(r'with 4000 "line1\nline2 \x1b[31mred\x1b[0m\r"', line)

    def test_a_close_reason_cannot_break_the_verbose_trace(self):
        # -v traces a normal close with its reason, escaped as in an error line.
        reason = b"bye\n* forged line \x1b[2J"
        rc, out, err = self.session(self.server_closes(ws_close_frame(1000, reason)),
                                    "-v", "--wait", "5")
        self.assertEqual((rc, out), (0, b"hi\n"), err)
        closed = [l for l in err.splitlines() if l.startswith("* closed:")]
        self.assertEqual(closed, [r"* closed: 1000 bye\n* forged line \x1b[2J"], err)
        self.assertNotIn("\x1b", err)
        self.assertNotIn("forged", "".join(l for l in err.splitlines() if not l.startswith("* closed:")))

    def test_no_close_frame_is_2(self):
        # 1006: the connection ended without a close frame
        rc, out, err = self.session(lambda conn: conn.sendall(b"\x81\x02hi"), "--wait", "5")
        self.assertEqual((rc, out), (2, b"hi\n"), err)
        one_line(self, err)

    def test_the_close_flare_sends_at_the_end_of_input_is_0(self):
        def echo_close(conn):
            data = b""
            while len(data) < 2 or data[0] != 0x88:
                chunk = conn.recv(1024)
                if not chunk:
                    return
                data += chunk
            conn.sendall(ws_close_frame(1000))
        rc, out, err = self.session(echo_close)
        self.assertEqual((rc, out, err), (0, b"", ""))

    def test_max_filesize_bounds_a_message(self):
        # --max-filesize was ignored: a message over it is refused (1009 sent), exit 2
        rc, out, err = self.session(lambda conn: (conn.sendall(b"\x81\x7e\x01\x00" + b"x" * 256),
                                                  conn.recv(1024)), "--max-filesize", "100", "--wait", "5")
        self.assertEqual((rc, out), (2, b""), err)
        one_line(self, err)
        rc, out, err = self.session(self.server_closes(ws_close_frame(1000)),
                                    "--max-filesize", "2", "--wait", "5")
        self.assertEqual((rc, out), (0, b"hi\n"), err)

    def test_output_file(self):
        # -o was ignored: messages went to stdout all the same
        d = tempfile.mkdtemp(prefix="flare-cli-ws-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "messages")
        rc, out, err = self.session(self.server_closes(ws_close_frame(1000)), "-o", path,
                                    "--wait", "5")
        self.assertEqual((rc, out), (0, b""), err)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b"hi\n")
        rc, out, err = self.session(self.server_closes(ws_close_frame(1000)), "-o",
                                    os.path.join(d, "no", "such", "dir"), "--wait", "5")
        self.assertEqual((rc, out), (1, b""), err)
        self.assertIn("cannot write", one_line(self, err))


class RestlessWebSocketServerTests(unittest.TestCase):
    """flare ws against a server that streams messages without a pause and never
    answers a close frame."""

    def flood_server(self):
        def flood(conn, index, head):
            ws_accept(conn, head)
            burst = b"\x81\x04tick" * 20000
            end = time.monotonic() + 30
            while time.monotonic() < end:  # until flare hangs up
                conn.sendall(burst)
        lsock = scripted_server(flood)
        self.addCleanup(lsock.close)
        return lsock.getsockname()[1]

    def test_ws_close_wait_ends_while_messages_keep_coming(self):
        # Input ends, so flare sends its close and waits --max-time for the peer's.
        # Printing the messages that keep coming must not push that deadline away.
        port = self.flood_server()
        started = time.monotonic()
        try:
            p = subprocess.run([FLARE, "ws", "--max-time", "1", f"ws://127.0.0.1:{port}/"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, timeout=15)
        except subprocess.TimeoutExpired:
            self.fail("flare ws kept printing and never gave up waiting for the close")
        self.assertLess(time.monotonic() - started, 10)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("did not answer the close", p.stderr.decode())

    def test_ws_sending_to_a_server_that_does_not_read_ends(self):
        # Over ws:// a write had no bound: once the socket buffers were full, flare
        # waited for ever on a server that took no more (wss:// gave up after 10 s).
        stop = threading.Event()
        self.addCleanup(stop.set)

        def deaf(conn, index, head):
            ws_accept(conn, head)
            stop.wait(30)  # reads nothing
        lsock = scripted_server(deaf)
        self.addCleanup(lsock.close)
        lines = (b"x" * 65000 + b"\n") * 512  # 32 MiB, past loopback's buffers
        p = subprocess.Popen([FLARE, "ws", f"ws://127.0.0.1:{lsock.getsockname()[1]}/"],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        self.addCleanup(p.kill)
        try:
            _, err = p.communicate(lines, timeout=25)
        except subprocess.TimeoutExpired:
            self.fail("flare ws kept waiting to write to a server that reads nothing")
        self.assertEqual(p.returncode, 2, err)
        self.assertIn("timed out", one_line(self, err.decode()))



# Inside a network and mount namespace of its own, /etc/resolv.conf names a DNS server
# on the namespace's loopback that reads queries and never answers, with a resolver
# timeout of 30 s; then flare runs and the server is stopped. Exit 77 when the
# namespace cannot be set up.
SILENT_DNS_SCRIPT = r"""
ip link set lo up || exit 77
mount --bind "$1/resolv.conf" /etc/resolv.conf || exit 77
/usr/bin/python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
open(sys.argv[1], "w").close()
while True:
    s.recvfrom(512)
' "$1/ready" >/dev/null 2>&1 &
dns=$!
while [ ! -e "$1/ready" ]; do sleep 0.05; done
shift
"$@"
rc=$?
kill $dns
exit $rc
"""


class NameLookupTimeoutTests(unittest.TestCase):
    """The name lookup counts against --connect-timeout and -m: a resolver that never
    answers held flare for resolv.conf's timeout (here 30 s) whatever they said."""

    def run_flare(self, *args):
        return self.run_silent_dns(FLARE, *args)

    def run_silent_dns(self, *argv):
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d, True)
        with open(os.path.join(d, "resolv.conf"), "w") as f:
            f.write("nameserver 127.0.0.1\noptions timeout:30 attempts:1\n")
        for unshare in (["unshare", "--mount", "--net"],
                        ["unshare", "--map-root-user", "--mount", "--net"]):
            try:
                p = subprocess.run(unshare + ["sh", "-c", SILENT_DNS_SCRIPT, "sh", d, *argv],
                                   capture_output=True, timeout=20)
            except FileNotFoundError:
                self.skipTest("no unshare here")
            if p.returncode != 77 and b"unshare:" not in p.stderr[:100]:
                return p.returncode, p.stderr.decode(errors="replace")
        self.skipTest("no network and mount namespace here")

    def test_connect_timeout_bounds_the_lookup(self):
        rc, err = self.run_flare("--connect-timeout", "1", "http://hang.flared-test/")
        self.assertEqual(rc, 2, err)
        self.assertIn("no answer within 1000 ms", err)

    def test_flared_config_load_bounds_the_lookup(self):
        # The master resolves upstream names at load (and for `resolve`): 5 s at most.
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d, True)
        conf = os.path.join(d, "flared.yaml")
        with open(conf, "w") as f:
            f.write("listeners: [{address: 127.0.0.1:8080}]\n"
                    "upstreams: {app: {servers: [hang.flared-test:80]}}\n"
                    "routes: [{path: /, proxy: {upstream: app}}]\n")
        rc, err = self.run_silent_dns(ft.FLARED, "-t", "-c", conf)
        self.assertEqual(rc, 78, err)
        self.assertIn("no answer within 5000 ms", err)

    def test_max_time_bounds_the_lookup(self):
        rc, err = self.run_flare("-m", "1.5", "http://hang.flared-test/")
        self.assertEqual(rc, 2, err)
        # The lookup gets what is left of -m's 1.5 s when it starts: a sanitized build can
        # take a millisecond or so to get there.
        m = re.search(r"no answer within (\d+) ms", err)
        self.assertIsNotNone(m, err)
        self.assertTrue(1400 <= int(m.group(1)) <= 1500, err)

if __name__ == "__main__":
    ft.run()
