"""A proxy route's request_headers (fields sent upstream in place of the client's,
with $variables) and hide_headers (upstream response fields not relayed), against
an upstream that echoes the request head it received; the fields an upstream's
health checks send (its routes' request_headers, or its `health: {headers}`); and
the config errors (FILE:LINE:COLUMN, exit 78) for every kind of bad entry."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flaredtest as ft  # noqa: E402
from flaredtest import ServerTestCase, read_response, run  # noqa: E402
from proxy_upstreams import RawUpstream, ScriptedUpstream, headers_of  # noqa: E402
from test_proxy import proxy_config, tls_certs  # noqa: E402


def fields_of(head):
    """{lower-case name: [values]} of a request head."""
    out = {}
    for name, value in headers_of(head):
        out.setdefault(name.lower(), []).append(value)
    return out


class FieldsCase(ServerTestCase):
    def start(self, proxy_extra, top_extra="", upstream=None):
        """A server whose /api/ route proxies to a new upstream; proxy_extra goes into the
        route's flow mapping, top_extra to the top level."""
        up = upstream or RawUpstream()
        self.addCleanup(up.close)
        srv = self.start_server(extra=proxy_config([up.address], upstream_extra=top_extra,
                                                   route_extra="strip_prefix: true, " + proxy_extra))
        return srv, up

    def echo(self, srv, fields=b"", host=b"front.example:8080", sock=None):
        """The head the upstream received for GET /api/echo, and the client socket's port."""
        with srv.connect() as s:
            s.sendall(b"GET /api/echo HTTP/1.1\r\nHost: " + host + b"\r\n" + fields + b"\r\n")
            resp, _ = read_response(s)
            port = s.getsockname()[1]
        self.assertEqual(resp.status, 200, resp)
        return json.loads(resp.body)["head"], port


class RequestHeaderTests(FieldsCase):
    def test_replaces_the_client_fields_of_its_name(self):
        srv, _ = self.start("request_headers: {User-Agent: flared-front, x-app: fixed value}")
        head, _ = self.echo(srv, b"user-agent: curl/8\r\nX-APP: a\r\nX-App: b\r\nAccept: */*\r\n")
        f = fields_of(head)
        self.assertEqual(f["user-agent"], ["flared-front"], head)
        self.assertEqual(f["x-app"], ["fixed value"], head)
        self.assertEqual(f["accept"], ["*/*"], head)  # others pass as before
        self.assertIn("User-Agent: flared-front\r\n", head)  # the name as configured
        # Without the client sending it, it is sent all the same.
        head, _ = self.echo(srv)
        self.assertEqual(fields_of(head)["x-app"], ["fixed value"], head)

    def test_empty_value_removes_the_field(self):
        srv, _ = self.start("request_headers: {Cookie: \"\", X-Real-IP: '', Forwarded: \"\"}")
        head, _ = self.echo(srv, b"Cookie: a=1\r\nForwarded: for=10.9.9.9\r\nX-Other: kept\r\n")
        f = fields_of(head)
        for gone in ("cookie", "x-real-ip", "forwarded"):
            self.assertNotIn(gone, f, head)  # the client's and flared's own alike
        self.assertEqual(f["x-other"], ["kept"], head)
        self.assertEqual(f["x-forwarded-for"], ["127.0.0.1"], head)  # not named: unchanged

    def test_underscore_spelling_of_a_set_field_does_not_pass(self):
        # CGI-style upstreams read X_User and X-User as one variable (HTTP_X_USER): a
        # client's X_User would stand in for the field the route removes or sets.
        srv, _ = self.start("request_headers: {X-User: \"\", X-Client-Port: $remote_port, "
                            "x_tenant: fixed}")
        head, port = self.echo(srv, b"X_User: admin\r\nx_client_port: 1\r\n"
                               b"X-Tenant: other\r\nX_Other: kept\r\n")
        f = fields_of(head)
        self.assertNotIn("x_user", f, head)
        self.assertNotIn("x-user", f, head)
        self.assertNotIn("x_client_port", f, head)
        self.assertEqual(f["x-client-port"], [str(port)], head)
        self.assertNotIn("x-tenant", f, head)
        self.assertEqual(f["x_tenant"], ["fixed"], head)
        self.assertEqual(f["x_other"], ["kept"], head)  # not named by the route: passes

    def test_variables(self):
        srv, _ = self.start("request_headers: {X-Client: \"$remote_addr:$remote_port\", "
                            "X-Scheme: $scheme, X-Host: \"${host}!\", "
                            "X-Price: \"$$5 and $${host}\", X-Listener: \"port $server_port\", "
                            "X-Forwarded-For: $remote_addr}")
        # Without trusted_proxies the client's X-Forwarded-For is not believed.
        head, port = self.echo(srv, b"X-Forwarded-For: 203.0.113.7\r\n")
        f = fields_of(head)
        self.assertEqual(f["x-client"], [f"127.0.0.1:{port}"], head)
        self.assertEqual(f["x-scheme"], ["http"], head)
        self.assertEqual(f["x-host"], ["front.example!"], head)  # without the port
        self.assertEqual(f["x-price"], ["$5 and ${host}"], head)
        self.assertEqual(f["x-listener"], [f"port {srv.port}"], head)
        self.assertEqual(f["x-forwarded-for"], ["127.0.0.1"], head)  # replaces the chain

    def test_remote_addr_behind_trusted_proxies(self):
        srv, _ = self.start("request_headers: {X-Client: $remote_addr, "
                            "X-Client-Port: $remote_port}",
                            "trusted_proxies: [127.0.0.1/32]\n")
        head, _ = self.echo(srv, b"X-Forwarded-For: 198.51.100.1, 203.0.113.7\r\n")
        f = fields_of(head)
        self.assertEqual(f["x-client"], ["203.0.113.7"], head)  # as the access log sees it
        # The port of an address read from X-Forwarded-For is unknown: a field whose value
        # comes out empty is left out.
        self.assertNotIn("x-client-port", f, head)

    def test_host(self):
        srv, _ = self.start("request_headers: {host: $host}")
        head, _ = self.echo(srv, host=b"Front.example:8080")
        self.assertEqual(fields_of(head)["host"], ["Front.example"], head)  # as the access log
        self.assertEqual(head.lower().count("\r\nhost:"), 1, head)
        # HTTP/1.0 without Host: $host is empty, so the upstream's name goes as usual.
        with srv.connect() as s:
            s.sendall(b"GET /api/echo HTTP/1.0\r\n\r\n")
            resp, _ = read_response(s)
        self.assertEqual(fields_of(json.loads(resp.body)["head"])["host"], ["app"])

    def test_host_with_port_without_a_client_host(self):
        # "$host:$server_port" (nginx's idiom) for HTTP/1.0 without Host would be
        # ":PORT", a Host with an empty host (RFC 9110 §4.2.1): the upstream's name goes.
        srv, _ = self.start("request_headers: {Host: \"$host:$server_port\"}")
        head, _ = self.echo(srv, host=b"front.example:8080")
        self.assertEqual(fields_of(head)["host"], [f"front.example:{srv.port}"], head)
        with srv.connect() as s:
            s.sendall(b"GET /api/echo HTTP/1.0\r\n\r\n")
            resp, _ = read_response(s)
        head = json.loads(resp.body)["head"]
        self.assertEqual(fields_of(head)["host"], ["app"], head)

    def test_fixed_host(self):
        srv, _ = self.start("request_headers: {Host: \"internal.example:81\"}")
        head, _ = self.echo(srv)
        self.assertEqual(fields_of(head)["host"], ["internal.example:81"], head)


class TlsSchemeTests(FieldsCase):
    def test_scheme_is_https_on_a_tls_listener(self):
        import ssl
        import test_tls
        certs = tls_certs(self)
        up = RawUpstream()
        self.addCleanup(up.close)
        srv = test_tls.TlsServer(
            tls="certificates:\n  - {cert: server.pem, key: server.key}\n",
            extra=proxy_config([up.address], route_extra="strip_prefix: true, request_headers: "
                               "{X-Scheme: $scheme, X-Listener: $server_port}"))
        self.addCleanup(srv.cleanup)
        srv.start()
        ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.pem"))
        ctx.check_hostname = False
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as raw:
            with ctx.wrap_socket(raw) as s:
                s.sendall(b"GET /api/echo HTTP/1.1\r\nHost: a\r\n\r\n")
                resp, _ = read_response(s)
        self.assertEqual(resp.status, 200, resp)
        f = fields_of(json.loads(resp.body)["head"])
        self.assertEqual(f["x-scheme"], ["https"])
        self.assertEqual(f["x-listener"], [str(srv.port)])


def answer_with_fields(conn, index, path):
    return (b"HTTP/1.1 200 OK\r\nX-Powered-By: PHP/8\r\nx-secret: s\r\nX-Keep: k\r\n"
            b"X-Powered: not the same\r\nContent-Length: 2\r\n\r\nok")


class HideHeaderTests(FieldsCase):
    def test_hidden_fields_are_not_relayed(self):
        srv, _ = self.start("hide_headers: [x-powered-by, X-SECRET]",
                            upstream=ScriptedUpstream(answer_with_fields))
        resp = srv.get("/api/x")
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.body, b"ok")
        self.assertIsNone(resp.header("X-Powered-By"))
        self.assertIsNone(resp.header("X-Secret"))
        self.assertEqual(resp.header("X-Keep"), "k")
        self.assertEqual(resp.header("X-Powered"), "not the same")


class HealthCheckFieldTests(ServerTestCase):
    """An upstream's health checks carry what its routes send it alike (their
    request_headers, a client's variables left out, $request_id new per check), or its
    `health: {headers}`: an upstream that wants a key in every request stays in."""

    HEALTH = "    health: {path: /healthz, interval: 100ms, fails: 1, passes: 1%s}\n"

    @staticmethod
    def route(path, fields="", indent="  "):
        """A proxy route to `app` (a list item at indent), with request_headers fields."""
        sent = f", request_headers: {{{fields}}}" if fields else ""
        return f"{indent}- path: {path}\n{indent}  proxy: {{upstream: app{sent}}}\n"

    def start(self, routes, health_extra="", requires=("X-Api-Key", "secret")):
        up = RawUpstream()
        up.health_requires = requires
        self.addCleanup(up.close)
        extra = (routes + "upstreams:\n  app:\n"
                 f"    servers: [\"{up.address}\"]\n" + self.HEALTH % health_extra)
        return self.start_server(extra=extra), up

    def checks(self, srv, up, count=3):
        """The fields of the health checks once `count` have come, and the server's up flag."""
        self.assertTrue(ft.wait_for(lambda: len(up.health_heads) >= count, 5), up.health_heads)
        status = json.loads(srv.get("/status").body)
        (server,) = status["upstreams"]["app"]
        with up.lock:
            heads = list(up.health_heads)
        return [fields_of(h) for h in heads], server["up"]

    def test_checks_send_the_routes_fields(self):
        srv, up = self.start(self.route(
            "/api/", "X-Api-Key: secret, Authorization: Bearer t0k, Host: backend.internal, "
            "X-Client: \"$remote_addr:$remote_port\", X-Route-Host: $host, "
            "X-Trace: \"t-$request_id\", Cookie: \"\""))
        checks, is_up = self.checks(srv, up)
        self.assertTrue(is_up, checks)
        ids = []
        for f in checks:
            self.assertEqual(f["x-api-key"], ["secret"], f)
            self.assertEqual(f["authorization"], ["Bearer t0k"], f)
            self.assertEqual(f["host"], ["backend.internal"], f)
            self.assertEqual(f["user-agent"], ["flared-health"], f)
            self.assertEqual(f["connection"], ["close"], f)
            for name in ("x-client", "x-route-host", "cookie", "x-forwarded-for"):
                self.assertNotIn(name, f)  # no client: left out
            (trace,) = f["x-trace"]
            self.assertRegex(trace, r"^t-[0-9a-f]{32}$")
            ids.append(trace)
        self.assertEqual(len(set(ids)), len(ids), ids)
        # The requests themselves get the same key; their ids are not a check's.
        r = srv.get("/api/echo")
        self.assertEqual(r.status, 200, r)
        sent = fields_of(json.loads(r.body)["head"])
        self.assertEqual(sent["x-api-key"], ["secret"])
        self.assertNotIn(sent["x-trace"][0], ids)

    def test_routes_that_differ_share_what_they_agree_on(self):
        srv, up = self.start(
            self.route("/a/", "X-Api-Key: secret, X-Prefix: /a, Host: one.internal") +
            self.route("/b/", "x-api-key: secret, X-Prefix: /b, Host: two.internal") +
            "hosts:\n  - names: [example.com]\n    routes:\n" +
            self.route("/c/", "X-API-KEY: secret, X-Prefix: /a", indent="      "))
        checks, is_up = self.checks(srv, up)
        self.assertTrue(is_up, checks)
        for f in checks:
            self.assertEqual(f["x-api-key"], ["secret"], f)
            self.assertNotIn("x-prefix", f)
            self.assertEqual(f["host"], ["app"], f)  # the routes' Hosts differ: the name

    def test_a_route_without_the_field_leaves_it_out(self):
        # One route to the upstream sends no key: the checks send none (and fail here,
        # as that route's own requests would); `headers` is the way to choose.
        srv, up = self.start(self.route("/a/", "X-Api-Key: secret") + self.route("/b/"))
        checks, is_up = self.checks(srv, up)
        self.assertFalse(is_up)
        self.assertTrue(all("x-api-key" not in f for f in checks), checks)

    def test_health_headers_replace_the_routes(self):
        srv, up = self.start(
            self.route("/a/", "X-Api-Key: wrong, X-Only-Route: r") + self.route("/b/"),
            health_extra=", headers: {X-Api-Key: secret, User-Agent: probe/1, "
            "Host: \"h.internal:81\", X-Id: \"$request_id\"}")
        checks, is_up = self.checks(srv, up)
        self.assertTrue(is_up, checks)
        for f in checks:
            self.assertEqual((f["x-api-key"], f["user-agent"], f["host"]),
                             (["secret"], ["probe/1"], ["h.internal:81"]), f)
            self.assertNotIn("x-only-route", f)
            self.assertRegex(f["x-id"][0], r"^[0-9a-f]{32}$")

    def test_removing_user_agent(self):
        srv, up = self.start(self.route("/a/", "User-Agent: \"\""), requires=None)
        checks, is_up = self.checks(srv, up)
        self.assertTrue(is_up)
        self.assertTrue(all("user-agent" not in f for f in checks), checks)


class ConfigTests(unittest.TestCase):
    """Each bad entry is refused with its FILE:LINE:COLUMN and exit 78."""

    BASE = ("listeners:\n  - address: 127.0.0.1:1\n"
            "upstreams:\n  app: {servers: [\"127.0.0.1:2\"]}\n"
            "routes:\n  - path: /api/\n    proxy:\n      upstream: app\n")
    # (name, lines after BASE, line, column, words of the reason)
    BROKEN = [
        ("unknown_variable", "      request_headers:\n        X-Id: \"id=$request_uuid\"\n",
         10, 19, ["unknown variable", "$request_uuid"]),
        ("braced_unknown", "      request_headers:\n        X-Id: a${nope}\n", 10, 16,
         ["unknown variable", "${nope}"]),
        ("dollar_alone", "      request_headers:\n        X-Id: \"5 $\"\n", 10, 18,
         ["'$' without a variable name", "$$"]),
        ("unclosed_brace", "      request_headers:\n        X-Id: ${host\n", 10, 15,
         ["'$' without"]),
        ("not_a_token", "      request_headers:\n        \"Bad Name\": v\n", 10, 9,
         ["not a field name"]),
        ("connection", "      request_headers:\n        Connection: close\n", 10, 9,
         ["hop-by-hop"]),
        ("transfer_encoding", "      request_headers:\n        transfer-encoding: x\n", 10, 9,
         ["frames the body"]),
        ("content_length", "      request_headers:\n        Content-Length: \"5\"\n", 10, 9,
         ["frames the body"]),
        ("upgrade", "      request_headers:\n        Upgrade: websocket\n", 10, 9,
         ["hop-by-hop"]),
        ("te", "      request_headers:\n        TE: trailers\n", 10, 9, ["hop-by-hop"]),
        ("proxy_family", "      request_headers:\n        Proxy-Authorization: x\n", 10, 9,
         ["Proxy-*"]),
        ("via", "      request_headers:\n        Via: me\n", 10, 9, ["RFC 9110 §7.6.3"]),
        ("carriage_return", "      request_headers:\n        X-A: \"a\\rb\"\n", 10, 14,
         ["control characters"]),
        ("line_feed", "      request_headers:\n        X-A: \"a\\nX-B: b\"\n", 10, 14,
         ["control characters"]),
        ("nul", "      request_headers:\n        X-A: \"a\\0b\"\n", 10, 14,
         ["control characters"]),
        ("no_value", "      request_headers:\n        X-A:\n", 10, 13, ["needs a value"]),
        ("twice", "      request_headers:\n        X-A: a\n        x-a: b\n", 11, 9,
         ["listed twice", "line 10"]),
        ("remove_host", "      request_headers:\n        Host: \"\"\n", 10, 15,
         ["Host cannot be removed"]),
        ("host_and_preserve", "      preserve_host: true\n      request_headers:\n"
         "        Host: $host\n", 11, 9, ["preserve_host"]),
        ("host_chars", "      request_headers:\n        Host: \"a b\"\n", 10, 15,
         ["not part of a host name"]),
        ("not_a_mapping", "      request_headers: [X-A]\n", 9, 24, ["mapping"]),
        ("hide_framing", "      hide_headers: [Content-Length]\n", 9, 22, ["frames the body"]),
        ("hide_hop", "      hide_headers: [X-A, keep-alive]\n", 9, 27, ["hop-by-hop"]),
        ("hide_coding", "      hide_headers: [Content-Encoding]\n", 9, 22, ["coded"]),
        ("hide_token", "      hide_headers: [\"X A\"]\n", 9, 22, ["not a field name"]),
        ("hide_twice", "      hide_headers: [Server, server]\n", 9, 30, ["listed twice"]),
        ("hide_not_a_list", "      hide_headers: Server\n", 9, 21, ["hide_headers"]),
    ]
    # Lines 3-4 of BASE again, with a health check: (name, health value, line, column, words)
    HEALTH_BASE = ("listeners:\n  - address: 127.0.0.1:1\n"
                   "upstreams:\n  app:\n    servers: [\"127.0.0.1:2\"]\n    health:\n"
                   "      headers:\n%s"
                   "routes:\n  - path: /api/\n    proxy: {upstream: app}\n")
    HEALTH_BROKEN = [
        ("client_variable", "        X-Client: \"c=$remote_addr\"\n", 8, 22,
         ["headers:", "$remote_addr", "no value in a health check", "$request_id"]),
        ("host_variable", "        Host: ${host}\n", 8, 15, ["${host}", "no value"]),
        ("hop_by_hop", "        Connection: keep-alive\n", 8, 9, ["headers:", "hop-by-hop"]),
        ("unknown", "        X-A: $nope\n", 8, 14, ["headers:", "unknown variable"]),
        ("twice", "        X-A: a\n        X-a: b\n", 9, 9, ["headers:", "listed twice"]),
    ]

    GOOD = ("      request_headers:\n"
            "        Host: \"$host:$server_port\"\n"
            "        X-Real-IP: $remote_addr\n"
            "        X-Forwarded-For: \"\"\n"
            "        X-Price: \"$$1 ${scheme}://$host $remote_port\"\n"
            "      hide_headers: [X-Powered-By, Server, Via]\n")

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="flared-pf-cfg-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def check(self, name, text):
        path = os.path.join(self.dir, name + ".yaml")
        with open(path, "w") as f:
            f.write(text)
        return path, subprocess.run([ft.FLARED, "-t", "-c", path], capture_output=True,
                                    text=True, timeout=10)

    def test_good_config_passes(self):
        path, p = self.check("good", self.BASE + self.GOOD)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("valid", p.stdout)
        path, p = self.check("good_health", self.HEALTH_BASE % (
            "        X-Api-Key: \"k$$1\"\n        X-Id: \"${request_id}\"\n"
            "        Host: app.internal\n        User-Agent: \"\"\n"))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_bad_entries_exit_78_with_position(self):
        cases = [(n, self.BASE + lines, l, c, w) for n, lines, l, c, w in self.BROKEN]
        cases += [("health_" + n, self.HEALTH_BASE % lines, l, c, w)
                  for n, lines, l, c, w in self.HEALTH_BROKEN]
        for name, text, line, column, words in cases:
            with self.subTest(name):
                path, p = self.check(name, text)
                self.assertEqual(p.returncode, 78, f"{name}: {p.stdout}{p.stderr}")
                m = re.search(re.escape(path) + r":(\d+):(\d+): (.+)", p.stderr)
                self.assertIsNotNone(m, f"{name}: no FILE:LINE:COLUMN in {p.stderr!r}")
                self.assertEqual((int(m.group(1)), int(m.group(2))), (line, column), p.stderr)
                for w in words:
                    self.assertIn(w, m.group(3), p.stderr)


if __name__ == "__main__":
    run()
