#!/usr/bin/env python3
"""The top-level `server_header` (tests/integration/flaredtest.py): its value is the
Server field of every answer flared makes (a text route, a redirect, an https_redirect,
status, health, a static file and its 304, a WebSocket 101, a 404, the parser's 400 and
431, a header timeout's 408, a 405) and of what a proxy route relays, in place of the
upstream's own Server (a 200 and a 101); `off` sends no Server field at all; a value that
is not a field value is refused at FILE:LINE:COLUMN with exit 78; a reload that changes
it takes effect. curl for the ordinary answers, raw sockets for the malformed ones."""
import os
import signal
import socket
import subprocess
import threading
import time

import flaredtest as ft

VALUE = "edge/1.0 (knobs test)"

CONFIG = """\
workers: 1
error_log: stderr
$server_header
limits: {max_header_bytes: 1k}
timeouts: {header: 1s, shutdown: 5s}
listeners:
  - address: 127.0.0.1:$port
  - address: 127.0.0.1:$redirect_port
    https_redirect: {port: 8443}
upstreams:
  app: {servers: ["127.0.0.1:$upstream_port"], keepalive: 0}
routes:
  - path: /text
    methods: [GET, HEAD]
    text: {body: "text\\n"}
  - path: /go
    redirect: {to: /text, status: 301}
  - path: /status
    status: {}
  - path: /health
    health: {}
  - path: /files/
    static: {root: www}
  - path: /ws
    websocket: {}
  - path: /app/
    proxy: {upstream: app}
"""

WS_UPGRADE = (b"GET %s HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
              b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")


def read_head(sock):
    """A message head from sock, without its blank line; b"" when it closes before one."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return b""
        data += chunk
    return data.partition(b"\r\n\r\n")[0]


class Upstream:
    """Answers every request with its own Server field: a 200, or a 101 to an upgrade."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.sock.close()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with conn:
            head = read_head(conn)
            if not head:
                return
            if b"\r\nupgrade: websocket" in head.lower():
                conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nServer: upstream/9\r\n"
                             b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                             b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
                time.sleep(0.5)
                return
            conn.sendall(b"HTTP/1.1 200 OK\r\nServer: upstream/9\r\nX-Upstream: yes\r\n"
                         b"Content-Length: 3\r\nConnection: close\r\n\r\nup\n")


class FieldServer(ft.Server):
    """flared with CONFIG; server_header is the line to write (empty: the default)."""

    def __init__(self, server_header, upstream_port):
        super().__init__()
        self.server_header = server_header
        self.upstream_port = upstream_port
        self.redirect_port = None
        os.mkdir(os.path.join(self.dir, "www", "files"))  # root: the path is kept
        with open(os.path.join(self.dir, "www", "files", "a.txt"), "w") as f:
            f.write("file\n")

    def config_text(self, **overrides):
        if self.redirect_port is None:
            self.redirect_port = ft.free_port()
        return (CONFIG.replace("$server_header", self.server_header)
                .replace("$port", str(self.port))
                .replace("$redirect_port", str(self.redirect_port))
                .replace("$upstream_port", str(self.upstream_port)))


def heads(port, data, method="GET", timeout=5.0):
    """The responses to data on a new connection (read until the server closes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out, _ = ft.read_until_close(s, timeout)
    responses, _ = ft.parse_responses(out, [method])
    return responses


def head_until_blank(port, data, timeout=5.0):
    """The raw head of the first answer to data (a 101 is not followed by a close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        return read_head(s).decode("latin-1")


def server_fields(head):
    """Every Server field of a raw head, in order."""
    return [line.partition(":")[2].strip() for line in head.split("\r\n")[1:]
            if line.lower().startswith("server:")]


class Fixture:
    """Starts an upstream and a FieldServer writing server_header; both cleaned up."""

    @staticmethod
    def start(test, server_header):
        ft.require_flared()
        up = Upstream()
        test.addCleanup(up.close)
        srv = FieldServer(server_header, up.port)
        test.addCleanup(srv.cleanup)
        srv.start()
        return srv

    @staticmethod
    def curl(srv, path, *args, port=None):
        """(status, [Server values]) of curl's answer to GET path."""
        out = subprocess.run(
            ["curl", "-sS", "-o", "/dev/null", "-D", "-", *args,
             f"http://127.0.0.1:{port or srv.port}{path}"],
            capture_output=True, check=True, timeout=10).stdout.decode("latin-1")
        return int(out.split()[1]), server_fields(out)

    @staticmethod
    def answers(srv):
        """(name, status, [Server values]) of one answer of every kind flared makes."""
        got = []
        for name, path, args in (("text", "/text", ()), ("head", "/text", ("-I",)),
                                 ("redirect", "/go", ()), ("status", "/status", ()),
                                 ("health", "/health", ()), ("static", "/files/a.txt", ()),
                                 ("static 304", "/files/a.txt",
                                  ("-H", "If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT")),
                                 ("404", "/nowhere", ()), ("proxy", "/app/x", ())):
            got.append((name, *Fixture.curl(srv, path, *args)))
        got.append(("https_redirect", *Fixture.curl(srv, "/text", port=srv.redirect_port)))
        r = heads(srv.port, b"POST /text HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
        got.append(("405", r[0].status, r[0].all("server")))
        r = heads(srv.port, b"GET / HTTP/1.1\r\nHost: t\r\nBad Name: x\r\n\r\n")
        got.append(("400", r[0].status, r[0].all("server")))
        r = heads(srv.port, b"GET /text HTTP/1.1\r\nHost: t\r\nX-Pad: " + b"p" * 2000 +
                  b"\r\n\r\n")
        got.append(("431", r[0].status, r[0].all("server")))
        r = heads(srv.port, b"GET /text HTTP/1.1\r\nHost: t\r\n", timeout=ft.patience(6))
        got.append(("408", r[0].status, r[0].all("server")))
        for name, path in (("websocket 101", b"/ws"), ("proxied 101", b"/app/ws")):
            head = head_until_blank(srv.port, WS_UPGRADE % path)
            got.append((name, int(head.split()[1]), server_fields(head)))
        return got


# The status of each answer of Fixture.answers that is not a 200.
STATUSES = {"redirect": 301, "https_redirect": 301, "static 304": 304, "404": 404, "405": 405,
            "400": 400, "431": 431, "408": 408, "websocket 101": 101, "proxied 101": 101}


class CustomValueTests(ft.ServerTestCase):
    def test_every_answer_carries_the_configured_value(self):
        srv = Fixture.start(self, f'server_header: "{VALUE}"')
        for name, status, servers in Fixture.answers(srv):
            with self.subTest(answer=name):
                self.assertEqual(status, STATUSES.get(name, 200))
                # Once: a proxied answer's upstream Server is replaced, not added to.
                self.assertEqual(servers, [VALUE])
        self.assertStopsCleanly(srv)

    def test_default_is_flared(self):
        srv = Fixture.start(self, "")
        self.assertEqual(Fixture.curl(srv, "/text"), (200, ["flared"]))
        self.assertEqual(Fixture.curl(srv, "/app/x"), (200, ["flared"]))
        self.assertStopsCleanly(srv)


class OffTests(ft.ServerTestCase):
    def test_off_sends_no_server_field(self):
        for spelling in ("off", "false", "''"):
            with self.subTest(spelling=spelling):
                srv = Fixture.start(self, f"server_header: {spelling}")
                for name, status, servers in Fixture.answers(srv):
                    self.assertEqual((status, servers), (STATUSES.get(name, 200), []), name)
                # The upstream's own Server does not come through in its place.
                self.assertEqual(Fixture.curl(srv, "/app/x"), (200, []))
                self.assertStopsCleanly(srv)


class ConfigTests(ft.ServerTestCase):
    def check(self, line):
        """flared -t on CONFIG with `line`: (result, path, config text)."""
        ft.require_flared()
        srv = FieldServer(line, 9)
        self.addCleanup(srv.cleanup)
        srv.port = ft.free_port()
        config = srv.config_text()
        srv.write_config(verbatim=config)
        return subprocess.run([ft.FLARED, "-t", "-c", srv.config_path], capture_output=True,
                              text=True, timeout=10), srv.config_path, config

    def test_bad_values_are_refused_with_a_position(self):
        cases = [  # (line, the 1-based column of the blamed byte, message)
            ('server_header: "a\\tb\\x01"', 20,
             "server_header: control character 0x01 in 'a?b?'; a field value holds visible "
             "ASCII, spaces and tabs (RFC 9110 §5.5)"),
            ('server_header: "flared "', 23,
             "server_header: 'flared ' has whitespace at its end; a field value starts and "
             "ends with a visible character (RFC 9110 §5.5)"),
            ("server_header: flarëd", 20,
             "server_header: byte 0xc3 in 'flarëd' is not visible ASCII; write the Server "
             "value in ASCII"),
            ("server_header: " + "x" * 257, 16,
             "server_header: 257 bytes; at most 256 are allowed"),
            ("server_header: [a]", 16,
             "server_header: expected the Server field's value (e.g. flared) or off, got a "
             "list"),
        ]
        for line, column, message in cases:
            with self.subTest(line=line[:40]):
                r, path, config = self.check(line)
                self.assertEqual(r.returncode, 78, r.stdout + r.stderr)
                number = config.splitlines().index(line) + 1
                self.assertIn(f"{path}:{number}:{column}: {message}", r.stderr)

    def test_a_start_with_a_bad_value_fails(self):
        ft.require_flared()
        srv = FieldServer('server_header: "a\\r\\nX-Injected: 1"', 9)
        self.addCleanup(srv.cleanup)
        srv.port = ft.free_port()
        srv.write_config()
        r = subprocess.run([ft.FLARED, "-c", srv.config_path], capture_output=True, text=True,
                           timeout=10)
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn(f"{srv.config_path}:3:16: server_header: control character 0x0d",
                      r.stderr)

    def test_headers_may_not_name_server(self):
        r, path, config = self.check("headers: {Server: x}")
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn(f"{path}:3:11: headers: 'Server' is set by flared and cannot be "
                      "configured; the top-level server_header sets it", r.stderr)


class ReloadTests(ft.ServerTestCase):
    def reload(self, srv, line):
        """Reloads srv with line; until the old worker has read its drain signal it may
        take a connection with the old value (see ft.Server.wait_reloaded)."""
        srv.server_header = line
        srv.write_config()
        srv.reload()

    def test_reload_changes_the_value(self):
        srv = Fixture.start(self, "server_header: one/1")
        self.assertEqual(Fixture.curl(srv, "/text"), (200, ["one/1"]))
        self.reload(srv, "server_header: two/2")
        self.assertEqual(Fixture.curl(srv, "/text"), (200, ["two/2"]))
        self.assertEqual(Fixture.curl(srv, "/nowhere"), (404, ["two/2"]))
        self.assertEqual(Fixture.curl(srv, "/app/x"), (200, ["two/2"]))
        # off by reload: none at all.
        self.reload(srv, "server_header: off")
        self.assertEqual(Fixture.curl(srv, "/text"), (200, []))
        self.assertEqual(Fixture.curl(srv, "/nowhere"), (404, []))
        # A refused reload keeps what is running.
        srv.server_header = 'server_header: " bad"'
        srv.write_config()
        srv.signal(signal.SIGHUP)
        self.assertTrue(ft.wait_for(lambda: "reload refused" in srv.log(), ft.patience(5)),
                        srv.log())
        self.assertIn("server_header: ' bad' has whitespace at its start", srv.log())
        self.assertEqual(Fixture.curl(srv, "/text"), (200, []))
        self.assertStopsCleanly(srv)


if __name__ == "__main__":
    ft.run()
