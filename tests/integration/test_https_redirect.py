#!/usr/bin/env python3
"""A site on clear text and TLS at once (tests/integration/flaredtest.py): a clear-text
listener with https_redirect sends every request to https://HOST[:PORT]TARGET without
running a route or reading the body, except the ACME challenge path, which its static
route serves; the TLS listener serves the same routes as usual. A redirect route's
`to` may name $host. Config errors of both come with FILE:LINE:COLUMN and exit 78."""
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import unittest

import flaredtest as ft
import test_tls

CERTS = ""

ROUTES = """\
routes:
  - path: /.well-known/acme-challenge/
    static: {root: acme, hidden_files: true}
  - path: /echo
    echo: {}
  - path: /plaintext
    text: {body: "plain over tls\\n"}
  - path: /go/
    redirect: {to: "https://$host", status: 308, keep_path: true, keep_query: true}
  - path: /home/
    redirect: {to: "https://$host/", keep_path: true}
  - path: /fixed
    redirect: {to: "https://$host/landing"}
headers: {X-Top: top}
"""


def setUpModule():
    global CERTS
    if not test_tls.OPENSSL:
        raise unittest.SkipTest("the openssl command is not installed")
    CERTS = tempfile.mkdtemp(prefix="flared-hr-certs-")
    test_tls.make_certs(CERTS)


def tearDownModule():
    if CERTS:
        shutil.rmtree(CERTS, ignore_errors=True)


class RedirectServer(ft.Server):
    """Listeners: the clear-text one the fixture waits on (https_redirect to the TLS port),
    the TLS one, one with `https_redirect: true` (443, 301) and one with 308 and no
    exceptions."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        for name in ("server.pem", "server.key"):
            shutil.copy(os.path.join(CERTS, name), self.dir)
        os.makedirs(os.path.join(self.dir, "acme", ".well-known", "acme-challenge"))
        with open(os.path.join(self.dir, "acme", ".well-known", "acme-challenge", "tok"),
                  "w") as f:
            f.write("token-body\n")
        self.access_path = os.path.join(self.dir, "access.log")

    def config_text(self, **overrides):
        self.tls_port, self.default_port, self.strict_port = (ft.free_port() for _ in range(3))
        return f"""\
workers: 1
error_log: {self.stderr_path}
access_log: {self.access_path}
listeners:
  - address: 127.0.0.1:{self.port}
    https_redirect: {{port: {self.tls_port}}}
  - address: 127.0.0.1:{self.tls_port}
    tls: {{certificates: [{{cert: server.pem, key: server.key}}]}}
  - address: 127.0.0.1:{self.default_port}
    https_redirect: true
  - address: 127.0.0.1:{self.strict_port}
    https_redirect: {{port: 8443, status: 308, except: []}}
{ROUTES}"""


def send(port, data, tls=False, timeout=5.0, sni="localhost"):
    """Sends data on a new connection and reads until the server closes; (bytes, closed).
    Over TLS the handshake sends sni (none for None, the certificate then unchecked)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    if tls:
        ctx = ssl.create_default_context(cafile=os.path.join(CERTS, "ca.pem"))
        ctx.check_hostname = sni is not None
        s = ctx.wrap_socket(s, server_hostname=sni)
    with s:
        s.sendall(data)
        return ft.read_until_close(s, timeout)


class HttpsRedirectTests(ft.SharedServerTestCase):
    server_class = RedirectServer

    def one(self, data, port=None, method="GET", tls=False, sni="localhost"):
        out, _ = send(port or self.srv.port, data, tls, sni=sni)
        responses, rest = ft.parse_responses(out, [method])
        self.assertEqual((len(responses), rest), (1, b""), out)
        return responses[0]

    def test_get_goes_to_the_tls_port_with_path_and_query(self):
        r = self.one(b"GET /a?b=1 HTTP/1.1\r\nHost: localhost:%d\r\nConnection: close\r\n\r\n"
                     % self.srv.port)
        self.assertEqual(r.status, 301)
        self.assertEqual(r.header("Location"), f"https://localhost:{self.srv.tls_port}/a?b=1")
        self.assertEqual(r.header("X-Top"), "top")  # the configured fields, as on any answer
        # The target as received: no normalization of its path or query.
        r = self.one(b"GET /x/%41/../y?q=a%20b& HTTP/1.1\r\nHost: Example.COM\r\n"
                     b"Connection: close\r\n\r\n")
        self.assertEqual(r.header("Location"),
                         f"https://Example.COM:{self.srv.tls_port}/x/%41/../y?q=a%20b&")
        # The access log shows the redirect.
        self.assertTrue(ft.wait_for(lambda: re.search(
            r'"GET /a\?b=1 HTTP/1\.1" 301 ', ft.read_text(self.srv.access_path)), 5),
            ft.read_text(self.srv.access_path))

    def test_keep_alive_and_head(self):
        with self.srv.connect() as s:
            s.sendall(b"HEAD /p HTTP/1.1\r\nHost: a.test\r\n\r\n"
                      b"GET /q HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
            out, _ = ft.read_until_close(s, 5)
        (head, get), rest = ft.parse_responses(out, ["HEAD", "GET"])
        self.assertEqual(rest, b"")
        self.assertEqual((head.status, head.body), (301, b""))
        self.assertEqual(head.header("Location"), f"https://a.test:{self.srv.tls_port}/p")
        self.assertFalse(head.closes())
        self.assertEqual(get.header("Location"), f"https://a.test:{self.srv.tls_port}/q")

    def test_body_is_not_read_and_the_connection_closes(self):
        # Half the announced body: a route that read it would wait for the rest.
        out, closed = send(self.srv.port, b"POST /echo HTTP/1.1\r\nHost: a.test\r\n"
                           b"Content-Length: 100\r\n\r\n" + b"x" * 50, timeout=3)
        self.assertTrue(closed, out)
        (r,), _ = ft.parse_responses(out, ["POST"])
        self.assertEqual(r.status, 301)
        self.assertTrue(r.closes(), r)
        self.assertEqual(r.header("Location"), f"https://a.test:{self.srv.tls_port}/echo")
        # A chunked body, and one above any body limit, alike.
        for framing in (b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
                        b"Content-Length: 99999999999\r\n\r\n"):
            out, closed = send(self.srv.port, b"PUT /echo HTTP/1.1\r\nHost: a.test\r\n" + framing,
                               timeout=3)
            (r,), _ = ft.parse_responses(out, ["PUT"])
            self.assertEqual((r.status, closed), (301, True), out)

    def test_absolute_form_and_ipv6_host(self):
        r = self.one(b"GET http://abs.test:8080/p/q?r=1 HTTP/1.1\r\nHost: ignored.test\r\n"
                     b"Connection: close\r\n\r\n")
        self.assertEqual(r.header("Location"), f"https://abs.test:{self.srv.tls_port}/p/q?r=1")
        r = self.one(b"GET http://abs.test HTTP/1.1\r\nHost: abs.test\r\nConnection: close\r\n\r\n")
        self.assertEqual(r.header("Location"), f"https://abs.test:{self.srv.tls_port}/")
        r = self.one(b"GET /v6 HTTP/1.1\r\nHost: [::1]:%d\r\nConnection: close\r\n\r\n"
                     % self.srv.port)
        self.assertEqual(r.header("Location"), f"https://[::1]:{self.srv.tls_port}/v6")

    def test_default_port_443_is_left_out_and_statuses(self):
        r = self.one(b"GET /d?x HTTP/1.1\r\nHost: site.test:80\r\nConnection: close\r\n\r\n",
                     port=self.srv.default_port)
        self.assertEqual((r.status, r.header("Location")), (301, "https://site.test/d?x"))
        r = self.one(b"POST /e HTTP/1.1\r\nHost: site.test\r\nContent-Length: 0\r\n"
                     b"Connection: close\r\n\r\n", port=self.srv.strict_port, method="POST")
        self.assertEqual((r.status, r.header("Location")), (308, "https://site.test:8443/e"))

    def test_acme_challenge_is_served_over_clear_text(self):
        for target in (b"/.well-known/acme-challenge/tok", b"/%2Ewell-known/acme-challenge/tok"):
            with self.subTest(target):
                r = self.one(b"GET " + target + b" HTTP/1.1\r\nHost: a.test\r\n"
                             b"Connection: close\r\n\r\n")
                self.assertEqual((r.status, r.body), (200, b"token-body\n"))
        # Outside the prefix, and on a listener without exceptions, it is redirected.
        r = self.one(b"GET /.well-known/other HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
        self.assertEqual(r.status, 301)
        r = self.one(b"GET /.well-known/acme-challenge/tok HTTP/1.1\r\nHost: a.test\r\n"
                     b"Connection: close\r\n\r\n", port=self.srv.strict_port)
        self.assertEqual((r.status, r.header("Location")),
                         (308, "https://a.test:8443/.well-known/acme-challenge/tok"))

    def test_tls_listener_serves_the_routes(self):
        r = self.one(b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
                     port=self.srv.tls_port, tls=True)
        self.assertEqual((r.status, r.body), (200, b"plain over tls\n"))
        self.assertIsNone(r.header("Location"))

    def test_http10_without_host_is_400(self):
        r = self.one(b"GET /a HTTP/1.0\r\n\r\n")
        self.assertEqual(r.status, 400)
        self.assertIsNone(r.header("Location"))
        self.assertEqual(r.header("X-Top"), "top")
        # With a Host it is redirected.
        r = self.one(b"GET /a HTTP/1.0\r\nHost: old.test\r\n\r\n")
        self.assertEqual(r.header("Location"), f"https://old.test:{self.srv.tls_port}/a")

    def test_redirect_route_with_host_variable(self):
        def get(target, host=b"Host: Site.test:4433\r\n", version=b"1.1", sni="localhost"):
            return self.one(b"GET " + target + b" HTTP/" + version + b"\r\n" + host +
                            b"Connection: close\r\n\r\n", port=self.srv.tls_port, tls=True,
                            sni=sni)

        r = get(b"/go/a/b?x=1")
        self.assertEqual((r.status, r.header("Location")), (308, "https://Site.test/a/b?x=1"))
        r = get(b"/go/v", host=b"Host: [::1]:4433\r\n")
        self.assertEqual(r.header("Location"), "https://[::1]/v")
        r = get(b"/fixed")
        self.assertEqual((r.status, r.header("Location")), (302, "https://Site.test/landing"))
        # keep_path's guards hold: "//" cannot become a scheme-relative off-site
        # Location, and ".." cannot climb out of `to`.
        r = get(b"/home//evil.example/x")
        self.assertEqual(r.header("Location"), "https://Site.test/evil.example/x")
        self.assertEqual(get(b"/home/a/../../x").status, 400)
        # HTTP/1.0 without Host: the host is the SNI name; without SNI there is none.
        r = get(b"/go/a", host=b"", version=b"1.0")
        self.assertEqual((r.status, r.header("Location")), (308, "https://localhost/a"))
        r = get(b"/go/a", host=b"", version=b"1.0", sni=None)
        self.assertEqual(r.status, 400)
        self.assertIsNone(r.header("Location"))


BASE = """\
listeners:
  - address: 127.0.0.1:{port}
{more}routes:
  - path: /
    text: {{body: hi}}
"""


class ConfigErrorTests(unittest.TestCase):
    def setUp(self):
        ft.require_flared()
        self.dir = tempfile.mkdtemp(prefix="flared-hr-cfg-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        for name in ("server.pem", "server.key"):
            shutil.copy(os.path.join(CERTS, name), self.dir)

    def check(self, text):
        path = os.path.join(self.dir, "flared.yaml")
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.run([ft.FLARED, "-t", "-c", path], capture_output=True, text=True,
                           timeout=20)
        return p.returncode, p.stderr, path

    def assertRefused(self, more, line, column, words, routes=None):
        text = BASE.format(port=ft.free_port(), more=more)
        if routes:
            text = text[:text.index("routes:")] + routes
        rc, err, path = self.check(text)
        self.assertEqual(rc, 78, err)
        self.assertRegex(err, re.escape(path) + f":{line}:{column}: ")
        for w in words:
            self.assertIn(w, err)

    def test_good_config_passes(self):
        rc, err, _ = self.check(BASE.format(
            port=ft.free_port(),
            more="    https_redirect: {port: 8443, status: 307, except: [/a/, /b]}\n"))
        self.assertEqual(rc, 0, err)

    def test_listener_errors(self):
        self.assertRefused("    tls: {certificates: [{cert: server.pem, key: server.key}]}\n"
                           "    https_redirect: true\n", 4, 21, ["https_redirect:", "TLS"])
        self.assertRefused("    https_redirect: {status: 303}\n", 3, 30, ["status:", "308"])
        self.assertRefused("    https_redirect: {port: 0}\n", 3, 28, ["port"])
        self.assertRefused("    https_redirect: {port: 70000}\n", 3, 28, ["port"])
        self.assertRefused("    https_redirect: {except: [nope]}\n", 3, 31, ["except:", "'/'"])
        self.assertRefused("    https_redirect: {porth: 1}\n", 3, 22, ["porth"])
        self.assertRefused("    https_redirect: maybe\n", 3, 21, ["https_redirect"])
        unix = f"unix:{self.dir}/s.sock"
        text = f"listeners:\n  - address: {unix}\n    https_redirect: true\n" \
               "routes:\n  - path: /\n    text: {body: hi}\n"
        rc, err, path = self.check(text)
        self.assertEqual(rc, 78, err)
        self.assertRegex(err, re.escape(path) + r":3:21: https_redirect: .*Unix")

    def test_redirect_route_variable(self):
        self.assertRefused("", 5, 29, ["only variable is $host"],
                           routes="routes:\n  - path: /\n    redirect: {to: \"https://$hostname/\"}\n")


class BodyLengthServer(ft.Server):
    """A redirecting listener whose exception is a text route that takes POST (so it
    drops bodies), with the body length in the access log."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.access_path = os.path.join(self.dir, "access.log")

    def config_text(self, **overrides):
        return f"""\
workers: 1
error_log: {self.stderr_path}
access_log: {self.access_path}
access_log_format: '$request $status $request_body_length'
listeners:
  - address: 127.0.0.1:{self.port}
    https_redirect: {{port: 8443, except: [/open/]}}
routes:
  - path: /open/
    methods: [GET, POST]
    text: {{body: "open\\n"}}
"""


class RedirectBodyLengthTests(ft.ServerTestCase):
    def test_redirect_after_a_dropped_body_logs_no_body(self):
        # The redirect is answered at its head, none of its body read; the body the
        # exempt route dropped before it on the connection is not counted again.
        srv = self.start_server(BodyLengthServer)
        with srv.connect() as s:
            s.sendall(b"POST /open/ HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n\r\nhello"
                      b"POST /shut HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\n\r\n")
            out, _ = ft.read_until_close(s, 5)
        responses, _ = ft.parse_responses(out, ["POST", "POST"])
        self.assertEqual([r.status for r in responses], [200, 301], out)
        want = ["POST /open/ HTTP/1.1 200 5", "POST /shut HTTP/1.1 301 0"]
        self.assertTrue(ft.wait_for(
            lambda: len(ft.read_text(srv.access_path).splitlines()) >= 2, 5))
        self.assertEqual(ft.read_text(srv.access_path).splitlines(), want)


class WebrootServer(ft.Server):
    """certbot's webroot layout: one static route serves the site and its
    .well-known/acme-challenge/ files, behind the default exception."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        for rel, body in ((".well-known/acme-challenge/tok", "token-body\n"),
                          ("account.html", "account page\n")):
            path = os.path.join(self.dir, "site", rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(body)

    def config_text(self, **overrides):
        return f"""\
workers: 1
error_log: {self.stderr_path}
listeners:
  - address: 127.0.0.1:{self.port}
    https_redirect: true
routes:
  - path: /
    static: {{root: site, hidden_files: true}}
"""


class RedirectExceptionTests(ft.ServerTestCase):
    def test_dot_segments_do_not_leave_the_exception(self):
        # The exempt prefix followed by dot segments resolves, in the static route that
        # serves it, to any file of the site: it would go out in clear text. nginx
        # matches the exception after removing them; here such a path is redirected.
        srv = self.start_server(WebrootServer)
        def get(target):
            out, _ = send(srv.port, b"GET " + target + b" HTTP/1.1\r\nHost: a.test\r\n"
                          b"Connection: close\r\n\r\n")
            (r,), _ = ft.parse_responses(out)
            return r
        r = get(b"/.well-known/acme-challenge/tok")
        self.assertEqual((r.status, r.body), (200, b"token-body\n"))
        for target in (b"/.well-known/acme-challenge/../../account.html",
                       b"/.well-known/acme-challenge/%2e%2E/%2E%2e/account.html",
                       b"/.well-known/acme-challenge/..%2f..%2faccount.html",
                       b"/.well-known/acme-challenge/./../../account.html"):
            with self.subTest(target=target):
                r = get(target)
                self.assertEqual(r.status, 301, r)
                self.assertEqual(r.header("Location"), "https://a.test" + target.decode())
                self.assertNotIn(b"account page", r.body)
        self.assertEqual(get(b"/account.html").status, 301)

if __name__ == "__main__":
    ft.run()
