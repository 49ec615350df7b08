#!/usr/bin/env python3
"""flared at the edge of a network: PROXY protocol v1 and v2 listeners (the
client address /echo reports is the one in the header; malformed, late or
missing headers close the connection without an answer), PROXY before TLS,
trusted_proxies with X-Forwarded-For, a route's `allow` list (403 outside),
limits.max_connections_per_ip (503 for the excess, counted by the address
after PROXY, an IPv6 one by its max_connections_per_ip_ipv6_prefix), listeners with defer_accept (a silent connection is not
accepted, one that sends is answered at once; a reload turns it off), and the
config errors of these keys."""
import signal
import json
import os
import socket
import ssl
import struct
import subprocess
import time

import flaredtest as ft

CONFIG = """\
workers: 1
error_log: stderr
limits: {max_connections_per_ip: 2, max_connections_per_ip_ipv6_prefix: 56}
timeouts: {header: 1s, shutdown: 5s}
trusted_proxies: [10.0.0.0/8, "fd00::/8"]
listeners:
  - address: 127.0.0.1:$port
  - address: 127.0.0.1:$proxy_port
    proxy_protocol: true
routes:
  - path: /echo
    echo: {}
  - path: /private
    text: {body: "secret\\n"}
    allow: [192.0.2.0/24, "2001:db8::/32"]
  - path: /status
    status: {}
"""

V2SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2(ver_cmd, fam, block):
    return V2SIG + bytes([ver_cmd, fam]) + struct.pack(">H", len(block)) + block


def v2_inet(src, sport, dst="127.0.0.1", dport=80, tlvs=b""):
    block = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack(">HH", sport, dport)
    return v2(0x21, 0x11, block + tlvs)


def v2_inet6(src, sport, dst="::1", dport=80):
    block = (socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst) +
             struct.pack(">HH", sport, dport))
    return v2(0x21, 0x21, block)


def get(path, headers=""):
    return f"GET {path} HTTP/1.1\r\nHost: t\r\n{headers}Connection: close\r\n\r\n".encode()


class EdgeServer(ft.Server):
    def __init__(self, config=CONFIG, **kw):
        super().__init__(**kw)
        self.template = config

    def config_text(self, **overrides):
        import string
        if not hasattr(self, "proxy_port"):
            self.proxy_port = ft.free_port()
        return string.Template(self.template).substitute(port=self.port,
                                                         proxy_port=self.proxy_port)


class EdgeTests(ft.SharedServerTestCase):
    server_class = EdgeServer

    @classmethod
    def server_ready(cls, srv):
        ft.wait_for(lambda: cls.raw_ok(srv.proxy_port), 5)

    @staticmethod
    def raw_ok(port):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    def send(self, data, port=None, timeout=5.0):
        port = port or self.srv.proxy_port
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(data)
            return ft.read_until_close(s, timeout)

    def echo_origin(self, prefix, headers="", port=None):
        data, _ = self.send(prefix + get("/echo", headers), port)
        responses, _ = ft.parse_responses(data)
        self.assertEqual(len(responses), 1, data[:300])
        self.assertEqual(responses[0].status, 200, data[:300])
        return json.loads(responses[0].body)["origin"]

    # -- PROXY protocol -------------------------------------------------------
    def test_v1_tcp4_sets_origin(self):
        self.assertEqual(self.echo_origin(b"PROXY TCP4 198.51.100.7 127.0.0.1 40000 80\r\n"),
                         "198.51.100.7")

    def test_v1_tcp6_sets_origin(self):
        self.assertEqual(self.echo_origin(b"PROXY TCP6 2001:db8::42 ::1 40000 80\r\n"),
                         "2001:db8::42")

    def test_v1_unknown_keeps_socket_peer(self):
        self.assertEqual(self.echo_origin(b"PROXY UNKNOWN\r\n"), "127.0.0.1")

    def test_v2_inet_and_inet6_set_origin(self):
        self.assertEqual(self.echo_origin(v2_inet("203.0.113.9", 5555)), "203.0.113.9")
        self.assertEqual(self.echo_origin(v2_inet6("2001:db8::9", 5555)), "2001:db8::9")
        tlvs = b"\x01\x00\x08http/1.1" + b"\x04\x00\x00"
        self.assertEqual(self.echo_origin(v2_inet("203.0.113.10", 1, tlvs=tlvs)),
                         "203.0.113.10")

    def test_v2_local_keeps_socket_peer(self):
        self.assertEqual(self.echo_origin(v2(0x20, 0x00, b"")), "127.0.0.1")

    def test_header_in_pieces(self):
        header = v2_inet("203.0.113.11", 7)
        with socket.create_connection(("127.0.0.1", self.srv.proxy_port), timeout=5) as s:
            for i in range(0, len(header), 5):
                s.sendall(header[i:i + 5])
                time.sleep(0.02)
            s.sendall(get("/echo"))
            data, _ = ft.read_until_close(s, 5)
        responses, _ = ft.parse_responses(data)
        self.assertEqual(json.loads(responses[0].body)["origin"], "203.0.113.11")

    def test_malformed_headers_close_without_answer(self):
        bad = [
            b"PROXY TCP4 1.2.3.4 5.6.7.8 01 80\r\n",
            b"PROXY TCP4 1.2.3.4  5.6.7.8 1 80\r\n",
            b"PROXY TCP6 1.2.3.4 5.6.7.8 1 80\r\n",
            b"PROXY UNKNOWN " + b"x" * 120 + b"\r\n",
            v2(0x31, 0x11, bytes(12)),
            v2(0x21, 0x12, bytes(12)),
            v2_inet("1.2.3.4", 1, tlvs=b"\x01\x00\x09abc"),
            b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\n",  # no header at all
        ]
        for data in bad:
            with self.subTest(data=data[:40]):
                reply, closed = self.send(data)
                self.assertEqual(reply, b"")
                self.assertTrue(closed)

    def test_missing_header_times_out(self):
        start = time.monotonic()
        reply, closed = self.send(b"PROXY TCP4 1.2.3.4", timeout=5)
        self.assertEqual(reply, b"")
        self.assertTrue(closed)
        self.assertLess(time.monotonic() - start, 4)

    def test_plain_listener_ignores_proxy_text(self):
        # Without proxy_protocol, a PROXY line is just a bad request.
        data, _ = self.send(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 80\r\n" + get("/echo"),
                            port=self.srv.port)
        self.assertTrue(data.startswith(b"HTTP/1.1 400"), data[:100])

    # -- trusted proxies and X-Forwarded-For ----------------------------------
    def test_trusted_proxy_xff(self):
        xff = "X-Forwarded-For: 1.1.1.1, 198.51.100.20, 10.9.9.9\r\n"
        # The PROXY source is a trusted proxy: the rightmost untrusted hop wins.
        self.assertEqual(self.echo_origin(b"PROXY TCP4 10.0.0.5 127.0.0.1 1 80\r\n", xff),
                         "198.51.100.20")
        # An untrusted PROXY source: the field is ignored.
        self.assertEqual(self.echo_origin(b"PROXY TCP4 192.0.2.5 127.0.0.1 1 80\r\n", xff),
                         "192.0.2.5")
        # The plain listener's peer (127.0.0.1) is not trusted either.
        self.assertEqual(self.echo_origin(b"", xff, port=self.srv.port), "127.0.0.1")
        # Malformed entries keep the socket peer; all trusted gives the leftmost.
        self.assertEqual(self.echo_origin(b"PROXY TCP4 10.0.0.5 127.0.0.1 1 80\r\n",
                                          "X-Forwarded-For: nonsense\r\n"), "10.0.0.5")
        self.assertEqual(self.echo_origin(b"PROXY TCP6 fd00::1 ::1 1 80\r\n",
                                          "X-Forwarded-For: 10.1.1.1, fd00::2\r\n"), "10.1.1.1")

    # -- allow ------------------------------------------------------------------
    def status_of(self, prefix, path, headers="", port=None):
        data, _ = self.send(prefix + get(path, headers), port)
        responses, _ = ft.parse_responses(data)
        return responses[0].status

    def test_allow(self):
        self.assertEqual(self.status_of(b"", "/private", port=self.srv.port), 403)
        self.assertEqual(self.status_of(b"PROXY TCP4 192.0.2.1 127.0.0.1 1 80\r\n", "/private"),
                         200)
        self.assertEqual(self.status_of(b"PROXY TCP6 2001:db8::5 ::1 1 80\r\n", "/private"), 200)
        self.assertEqual(self.status_of(b"PROXY TCP4 198.51.100.1 127.0.0.1 1 80\r\n",
                                        "/private"), 403)
        # Through a trusted proxy, the forwarded client is what `allow` checks.
        self.assertEqual(self.status_of(b"PROXY TCP4 10.0.0.1 127.0.0.1 1 80\r\n", "/private",
                                        "X-Forwarded-For: 192.0.2.77\r\n"), 200)
        self.assertEqual(self.status_of(b"PROXY TCP4 10.0.0.1 127.0.0.1 1 80\r\n", "/private",
                                        "X-Forwarded-For: 198.51.100.77\r\n"), 403)

    # -- max_connections_per_ip -----------------------------------------------
    def test_max_connections_per_ip(self):
        header = b"PROXY TCP4 198.51.100.99 127.0.0.1 1 80\r\n"
        held = []
        try:
            for _ in range(2):
                s = socket.create_connection(("127.0.0.1", self.srv.proxy_port), timeout=5)
                held.append(s)
                s.sendall(header + b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\n")
                ft.read_response(s)  # served, and kept open
            data, closed = self.send(header + get("/echo"))
            self.assertTrue(data.startswith(b"HTTP/1.1 503"), data[:100])
            self.assertTrue(closed)
            # Another client address is not affected.
            self.assertEqual(self.echo_origin(b"PROXY TCP4 198.51.100.98 127.0.0.1 1 80\r\n"),
                             "198.51.100.98")
        finally:
            for s in held:
                s.close()
        # Once they close, the address may connect again.
        ok = ft.wait_for(lambda: self.send(header + get("/echo"))[0].startswith(b"HTTP/1.1 200"),
                         5)
        self.assertTrue(ok)

    def test_max_connections_per_ip_counts_an_ipv6_prefix(self):
        # max_connections_per_ip_ipv6_prefix: 56 here; two /64s of one /56 are one client.
        def proxy6(src):
            return f"PROXY TCP6 {src} ::1 1 80\r\n".encode()
        held = []
        try:
            for src in ("2001:db8:7700:1::1", "2001:db8:7700:2::2"):
                s = socket.create_connection(("127.0.0.1", self.srv.proxy_port), timeout=5)
                held.append(s)
                s.sendall(proxy6(src) + b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\n")
                ft.read_response(s)  # served, and kept open
            data, closed = self.send(proxy6("2001:db8:7700:3:a:b:c:d") + get("/echo"))
            self.assertTrue(data.startswith(b"HTTP/1.1 503"), data[:100])
            self.assertTrue(closed)
            # The next /56 is another client.
            self.assertEqual(self.echo_origin(proxy6("2001:db8:7700:100::1")),
                             "2001:db8:7700:100::1")
        finally:
            for s in held:
                s.close()


class TlsProxyTests(ft.ServerTestCase):
    """PROXY comes before the TLS handshake on a TLS listener."""

    def test_proxy_then_tls(self):
        cert, key = self_signed(self.enterContext(tempfile_dir()))
        config = CONFIG.replace("    proxy_protocol: true\n",
                                "    proxy_protocol: true\n"
                                f"    tls: {{certificates: [{{cert: {cert}, key: {key}}}]}}\n")
        srv = EdgeServer(config=config)
        self.addCleanup(srv.cleanup)
        srv.start()
        self.assertTrue(ft.wait_for(lambda: EdgeTests.raw_ok(srv.proxy_port), 5))
        ctx = ssl.create_default_context(cafile=cert)
        raw = socket.create_connection(("127.0.0.1", srv.proxy_port), timeout=5)
        raw.sendall(b"PROXY TCP4 198.51.100.50 127.0.0.1 1 443\r\n")
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(get("/echo"))
            data, _ = ft.read_until_close(s, 5)
        responses, _ = ft.parse_responses(data)
        self.assertEqual(json.loads(responses[0].body)["origin"], "198.51.100.50")
        self.assertStopsCleanly(srv)


DEFER_CONFIG = """\
workers: 1
error_log: stderr
timeouts: {header: 2s}
listeners:
  - address: 127.0.0.1:$port
    defer_accept: $defer
  - address: 127.0.0.1:$proxy_port
routes:
  - path: /echo
    echo: {}
  - path: /status
    status: {}
"""


class DeferAcceptTests(ft.ServerTestCase):
    """TCP_DEFER_ACCEPT: the kernel hands flared a connection with its first bytes."""

    def active(self, srv):
        data, _ = self.send_to(srv.proxy_port, get("/status"))
        responses, _ = ft.parse_responses(data)
        return json.loads(responses[0].body)["connections"]["active"]

    @staticmethod
    def send_to(port, data):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(data)
            return ft.read_until_close(s, 5)

    def start_deferring(self, defer):
        srv = EdgeServer(config=DEFER_CONFIG.replace("$defer", defer))
        self.addCleanup(srv.cleanup)
        srv.start()
        self.assertTrue(ft.wait_for(lambda: EdgeTests.raw_ok(srv.proxy_port), 5))
        return srv

    def silent_counted(self, srv):
        """Whether a connection that has sent nothing counts as active."""
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as silent:
            counts = []
            ft.wait_for(lambda: counts.append(self.active(srv)) or counts[-1] > 1, 0.5)
            # The status connection itself is the one active connection either way.
            counted = counts[-1] > 1
            # Bytes on the silent connection get an answer right away.
            silent.sendall(get("/echo"))
            data, _ = ft.read_until_close(silent, 5)
        responses, _ = ft.parse_responses(data)
        self.assertEqual([r.status for r in responses], [200], data[:300])
        return counted

    def test_silent_connection_waits_in_the_kernel(self):
        srv = self.start_deferring("true")
        self.assertFalse(self.silent_counted(srv))
        # The same server's plain listener does count one (the test sees the difference).
        with socket.create_connection(("127.0.0.1", srv.proxy_port), timeout=5):
            self.assertTrue(ft.wait_for(lambda: self.active(srv) == 2, 2))
        self.assertStopsCleanly(srv)

    def test_reload_turns_it_off_on_the_same_socket(self):
        srv = self.start_deferring("true")
        self.assertFalse(self.silent_counted(srv))
        old = srv.workers()
        srv.write_config(verbatim=DEFER_CONFIG.replace("$defer", "false").replace(
            "$port", str(srv.port)).replace("$proxy_port", str(srv.proxy_port)))
        srv.signal(signal.SIGHUP)
        self.assertTrue(ft.wait_for(lambda: not any(ft.alive(p) for p in old), 5), srv.log())
        self.assertTrue(self.silent_counted(srv))
        self.assertStopsCleanly(srv)

    def test_tls_listener(self):
        cert, key = self_signed(self.enterContext(tempfile_dir()))
        srv = self.start_deferring(
            f"true\n    tls: {{certificates: [{{cert: {cert}, key: {key}}}]}}")
        ctx = ssl.create_default_context(cafile=cert)
        for _ in range(3):
            raw = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(get("/echo"))
                data, _ = ft.read_until_close(s, 5)
            responses, _ = ft.parse_responses(data)
            self.assertEqual([r.status for r in responses], [200], data[:300])
        self.assertStopsCleanly(srv)


def self_signed(d):
    """A P-256 certificate for localhost and its key, written to folder d."""
    cert, key = os.path.join(d, "c.pem"), os.path.join(d, "k.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost"], check=True, capture_output=True)
    return cert, key


def tempfile_dir():
    import tempfile
    return tempfile.TemporaryDirectory(prefix="flared-edge-")


class ConfigErrorTests(ft.ServerTestCase):
    def check(self, text, where, what):
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "f.yaml")
            with open(path, "w") as f:
                f.write(text)
            r = subprocess.run([ft.FLARED, "-t", "-c", path], capture_output=True, text=True)
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn(f"{path}:{where}: ", r.stderr)
        self.assertIn(what, r.stderr)

    def test_errors(self):
        base = "listeners: [{address: 127.0.0.1:1}]\nroutes: [{path: /, text: {body: x}}]\n"
        self.check(base + "trusted_proxies: [10.0.0.0/33]\n", "3:19", "invalid CIDR block")
        self.check(base + "trusted_proxies: []\n", "3:18", "empty")
        self.check("listeners: [{address: 127.0.0.1:1}]\n"
                   "routes:\n  - path: /\n    text: {body: x}\n    allow: [1.2.3.4/8, nope]\n",
                   "5:24", "invalid CIDR block 'nope'")
        self.check("listeners: [{address: 127.0.0.1:1, proxy_protocol: yes}]\n", "1:52",
                   "proxy_protocol")
        self.check("listeners: [{address: 127.0.0.1:1, defer_accept: 1}]\n", "1:50",
                   "defer_accept")
        self.check("listeners: [{address: 'unix:/tmp/f.sock', defer_accept: true}]\n", "1:57",
                   "defer_accept: only IP listeners can defer accept")
        self.check(base + "limits: {max_connections_per_ip: 0}\n", "3:34",
                   "max_connections_per_ip")
        self.check(base + "limits: {max_connections_per_ip_ipv6_prefix: 129}\n", "3:46",
                   "max_connections_per_ip_ipv6_prefix: '129' is out of range 1..128")
        self.check(base + "limits: {max_connections_per_ip_ipv6_prefix: /64}\n", "3:46",
                   "max_connections_per_ip_ipv6_prefix: expected an integer, got '/64'")
        self.check(base + "user: no-such-user-flared\n", "3:7", "no user named")
        self.check(base + "group: no-such-group-flared\n", "3:8", "no group named")


if __name__ == "__main__":
    ft.run()
