#!/usr/bin/env python3
"""Configured `headers` on the answers flared gives before a route is known
(tests/integration/flaredtest.py): the top level's on the parser's refusals (400,
414, 417, 431, 505), a header timeout's 408 and a 404 of the default host; a named
host's own (over the top level's), and not another host's, on its 404s, a host
with no routes included. Raw sockets
for the malformed heads, curl for the ordinary ones."""
import socket
import subprocess
import time

import flaredtest as ft

CONFIG = """\
workers: 1
error_log: stderr
limits: {max_header_bytes: 1k, max_uri_bytes: 256, max_body_bytes: 1k}
timeouts: {header: 1s, shutdown: 5s}
listeners: [{address: 127.0.0.1:$port}]
headers: {Strict-Transport-Security: max-age=63072000, X-Content-Type-Options: nosniff}
routes:
  - path: /plain
    text: {body: "plain\\n"}
    headers: {X-Route: plain}
hosts:
  - names: [a.example]
    headers: {X-Site: a, X-Content-Type-Options: a-nosniff}
    routes:
      - path: /a
        text: {body: "a\\n"}
  - names: [b.example, "*.b.example"]
    headers: {X-Site: b}
    routes:
      - path: /b
        text: {body: "b\\n"}
  - names: [parked.example]
    headers: {X-Site: parked}
    routes: []
"""

TOP = {"strict-transport-security": "max-age=63072000", "x-content-type-options": "nosniff"}


class HeadersServer(ft.Server):
    def config_text(self, **overrides):
        return CONFIG.replace("$port", str(self.port))


class ServerHeaderTests(ft.SharedServerTestCase):
    server_class = HeadersServer

    def raw(self, data, method="GET"):
        """The one response to data on a new connection."""
        out, _ = self.srv.exchange(data)
        responses, _ = ft.parse_responses(out, [method])
        self.assertEqual(len(responses), 1, out[:300])
        return responses[0]

    def assertFields(self, resp, status, fields, absent=()):
        self.assertEqual(resp.status, status, resp)
        for name, value in fields.items():
            self.assertEqual(resp.header(name), value, f"{name} on {resp}")
        for name in absent:
            self.assertIsNone(resp.header(name), f"{name} on {resp}")

    def curl(self, path, host):
        """curl's status and fields (lower-case names) for GET path with Host host."""
        out = subprocess.run(
            ["curl", "-sS", "-o", "/dev/null", "-D", "-", "-H", f"Host: {host}",
             f"http://127.0.0.1:{self.srv.port}{path}"],
            capture_output=True, check=True, timeout=10).stdout.decode("latin-1")
        lines = out.split("\r\n")
        fields = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                self.assertNotIn(name.lower(), fields, f"{name} twice in {out!r}")
                fields[name.lower()] = value.strip()
        return int(lines[0].split()[1]), fields

    # -- before any host is known: the top level's ---------------------------
    def test_malformed_request_400(self):
        resp = self.raw(b"GET / HTTP/1.1\r\nHost: a.example\r\nNo colon here\r\n\r\n")
        self.assertFields(resp, 400, TOP, ["x-site"])
        self.assertTrue(resp.closes())

    def test_uri_too_long_414(self):
        resp = self.raw(b"GET /" + b"u" * 400 + b" HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertFields(resp, 414, TOP)
        # curl's view of the same: the fields once each (curl() checks), on the refusal.
        status, fields = self.curl("/" + "u" * 400, "a.example")
        self.assertEqual(status, 414)
        self.assertEqual({k: fields.get(k) for k in TOP}, TOP)
        self.assertNotIn("x-site", fields)

    def test_header_bytes_431(self):
        resp = self.raw(b"GET /plain HTTP/1.1\r\nHost: t\r\n" +
                        b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 100) for i in range(12)) +
                        b"\r\n")
        self.assertFields(resp, 431, TOP, ["x-route"])

    def test_http_2_0_505(self):
        resp = self.raw(b"GET /plain HTTP/2.0\r\nHost: t\r\n\r\n")
        self.assertFields(resp, 505, TOP)

    def test_unmet_expectation_417(self):
        resp = self.raw(b"GET /plain HTTP/1.1\r\nHost: t\r\nExpect: 200-ok\r\n\r\n")
        self.assertFields(resp, 417, TOP)

    def test_header_timeout_408(self):
        with self.srv.connect() as s:
            s.sendall(b"GET /plain HTTP/1.1\r\nHost: t\r\n")  # and nothing more
            start = time.monotonic()
            out, closed = ft.read_until_close(s, ft.patience(6))
        self.assertTrue(closed)
        self.assertLess(time.monotonic() - start, ft.patience(5))
        responses, _ = ft.parse_responses(out)
        self.assertEqual(len(responses), 1, out)
        self.assertFields(responses[0], 408, TOP)

    # -- no route: the host's --------------------------------------------------
    def test_no_route_404_default_host(self):
        status, fields = self.curl("/nowhere", "unknown.example")
        self.assertEqual(status, 404)
        self.assertEqual({k: fields.get(k) for k in TOP}, TOP)
        self.assertNotIn("x-site", fields)
        self.assertNotIn("x-route", fields)
        # A route's answers keep its merged fields, as before.
        resp = self.raw(b"GET /plain HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        self.assertFields(resp, 200, dict(TOP, **{"x-route": "plain"}), ["x-site"])
        self.assertEqual(resp.body, b"plain\n")

    def test_no_route_404_named_host(self):
        # a.example's own field over the top level's, field by field; not b's.
        status, fields = self.curl("/b", "a.example")
        self.assertEqual(status, 404)
        self.assertEqual((fields.get("x-site"), fields.get("x-content-type-options"),
                          fields.get("strict-transport-security")),
                         ("a", "a-nosniff", "max-age=63072000"))
        # b's (a wildcard name too); not a's.
        for host in ("b.example", "deep.b.example"):
            with self.subTest(host=host):
                status, fields = self.curl("/a", host)
                self.assertEqual(status, 404)
                self.assertEqual((fields.get("x-site"), fields.get("x-content-type-options")),
                                 ("b", "nosniff"))

    def test_host_without_routes_answers_404_with_its_fields(self):
        # Its names are its own: not served by the default host's /plain.
        status, fields = self.curl("/plain", "parked.example")
        self.assertEqual(status, 404)
        self.assertEqual((fields.get("x-site"), fields.get("x-content-type-options")),
                         ("parked", "nosniff"))
        self.assertNotIn("x-route", fields)

    def test_no_route_refusals_carry_the_hosts_fields(self):
        # A HEAD's 404 (no body), an unknown method's 501, a body over the limit's 413.
        resp = self.raw(b"HEAD /nowhere HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n",
                        "HEAD")
        self.assertFields(resp, 404, {"x-site": "a"})
        resp = self.raw(b"BREW /nowhere HTTP/1.1\r\nHost: a.example\r\n\r\n")
        self.assertFields(resp, 501, {"x-site": "a", "x-content-type-options": "a-nosniff"})
        resp = self.raw(b"POST /nowhere HTTP/1.1\r\nHost: b.example\r\nContent-Length: 5000\r\n\r\n")
        self.assertFields(resp, 413, {"x-site": "b", "x-content-type-options": "nosniff"})

    def test_keep_alive_404s_each_carry_the_fields_once(self):
        with self.srv.connect() as s:
            for _ in range(3):
                s.sendall(b"GET /nowhere HTTP/1.1\r\nHost: a.example\r\n\r\n")
                resp, rest = ft.read_response(s)
                self.assertEqual(rest, b"")
                self.assertFields(resp, 404, {"x-site": "a"})  # header() fails on a repeat
                self.assertFalse(resp.closes())


if __name__ == "__main__":
    ft.run()
