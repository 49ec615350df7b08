#!/usr/bin/env python3
"""Routing seen from outside (tests/integration/flaredtest.py): escaped paths and
fully qualified Host names reach the route that owns them, so its methods, allow
list and body limit apply; the echo route's JSON for hostile header bytes."""
import json
import socket

import flaredtest as ft

EXTRA = """\
  - path: /admin/
    text: {body: "admin\\n"}
    methods: [GET]
    allow: [192.0.2.0/24]
  - path: /small/
    echo: {raw: true}
    max_body_bytes: 4
  - path: /old/
    redirect: {to: /new, status: 301, keep_path: true, keep_query: true}
  - path: /moved/
    redirect: {to: "https://example.net/v2/", keep_path: true}
  - path: /search
    redirect: {to: "/find?src=old", status: 308, keep_query: true}
  - path: /fixed/
    redirect: {to: /elsewhere}
  - path: /home/
    redirect: {to: /, keep_path: true, keep_query: true}
  - path: /nostore
    text: {body: "private\\n"}
    headers: {Cache-Control: no-store, x-frame-options: SAMEORIGIN}
headers: {Strict-Transport-Security: max-age=63072000, X-Frame-Options: DENY}
hosts:
  - names: [example.com]
    headers: {X-Frame-Options: sameorigin, X-Host: example}
    routes:
      - path: /
        text: {body: "example\\n"}
"""


class RouteTests(ft.SharedServerTestCase):
    server_kwargs = {"extra": EXTRA}

    def send(self, data):
        with socket.create_connection(("127.0.0.1", self.srv.port), timeout=5) as s:
            s.sendall(data)
            out = b""
            while chunk := s.recv(65536):
                out += chunk
        head, _, body = out.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            fields[name.lower()] = value.strip()
        return int(lines[0].split()[1]), fields, body

    def get(self, target, headers=b"Host: t\r\n", method=b"GET", body=b""):
        return self.send(method + b" " + target + b" HTTP/1.1\r\n" + headers +
                         b"Connection: close\r\n\r\n" + body)

    def test_escaped_path_keeps_route_settings(self):
        # "/%61dmin/" is "/admin/" (RFC 3986 §6.2.2.2): its allow list applies
        # rather than the "/" static route's openness.
        for target in (b"/admin/", b"/%61dmin/", b"/%61%64%6D%69%6e/x"):
            with self.subTest(target=target):
                self.assertEqual(self.get(target)[0], 403)
        status, fields, _ = self.get(b"/%61dmin/", method=b"POST")
        self.assertEqual((status, fields.get("allow")), (405, "GET, HEAD"))
        # ...and so does a route's body limit.
        length = b"Content-Length: 10\r\nHost: t\r\n"
        self.assertEqual(self.get(b"/%73mall/", length, b"POST", b"0123456789")[0], 413)
        status, _, body = self.get(b"/small/", b"Content-Length: 3\r\nHost: t\r\n", b"POST",
                                   b"abc")
        self.assertEqual((status, body), (200, b"abc"))

    def test_fqdn_host_is_the_named_host(self):
        for host in (b"example.com", b"example.com.", b"EXAMPLE.com.:80"):
            with self.subTest(host=host):
                status, _, body = self.get(b"/", b"Host: " + host + b"\r\n")
                self.assertEqual((status, body), (200, b"example\n"))
        status, _, body = self.get(b"http://example.com./", b"Host: other\r\n")
        self.assertEqual((status, body), (200, b"example\n"))

    def test_redirect_keeps_the_rest_of_the_path_and_the_query(self):
        cases = [
            # keep_path: what follows the prefix, as strip_prefix leaves it, escapes kept.
            (b"/old/a/b%20c", 301, "/new/a/b%20c"),
            (b"/old/a?x=1&y", 301, "/new/a?x=1&y"),
            (b"/old/", 301, "/new/"),
            (b"/%6Fld/a?q", 301, "/new/a?q"),  # the bytes the router matched
            (b"//old//a", 301, "/new//a"),
            # "…/v2/" and "/a" make "…/v2/a", not "…/v2//a"; no keep_query: query dropped.
            (b"/moved/a/b?drop=1", 302, "https://example.net/v2/a/b"),
            # keep_query onto a `to` with its own query joins with '&'.
            (b"/search?q=x%20y", 308, "/find?src=old&q=x%20y"),
            (b"/search", 308, "/find?src=old"),
            # Neither key: the fixed Location, as before.
            (b"/fixed/deep/path?q=1", 302, "/elsewhere"),
        ]
        for target, code, location in cases:
            with self.subTest(target=target):
                status, fields, _ = self.get(target)
                self.assertEqual((status, fields.get("location")), (code, location))

    def test_redirect_keeping_the_path_stays_on_the_site(self):
        # A Location starting "//" (or "/\\", which browsers read alike) is scheme-relative:
        # `to: /` with keep_path must not turn a request path into another host.
        cases = [
            (b"/home//evil.example", "/evil.example"),
            (b"/home///evil.example/x", "/evil.example/x"),
            (b"//home//evil.example", "/evil.example"),
            (b"http://t/home//evil.example", "/evil.example"),  # absolute-form
            (b"/home/\\evil.example", "/%5Cevil.example"),
            (b"/home//\\evil.example", "/%5Cevil.example"),
            (b"/home/%2F%2Fevil.example", "/%2F%2Fevil.example"),  # data, not separators
            # Bytes a request-target may hold but a URI-reference may not are escaped.
            (b'/home/a"<>{|}^`?q="<>', "/a%22%3C%3E%7B%7C%7D%5E%60?q=%22%3C%3E"),
            (b"/moved//a", "https://example.net/v2/a"),
            # Names with dots that are not dot segments stay.
            (b"/home/.well-known/x", "/.well-known/x"),
            (b"/home/..a/b.tar.gz", "/..a/b.tar.gz"),
        ]
        for target, location in cases:
            with self.subTest(target=target):
                status, fields, _ = self.get(target)
                self.assertIn(status, (301, 302))
                self.assertEqual(fields.get("location"), location)
        # A kept dot segment, resolved by the client, would climb out of `to`'s path.
        for target in (b"/moved/../../admin", b"/moved/%2e%2E/x", b"/home/./a", b"/moved/a/.."):
            with self.subTest(target=target):
                status, fields, _ = self.get(target)
                self.assertEqual((status, fields.get("location")), (400, None))
                # Still the route's answer: its (inherited) headers come with it.
                self.assertEqual(fields.get("x-frame-options"), "DENY")

    def test_headers_inherit_field_by_field(self):
        # The top level's fields reach every route; a host's or a route's own field of
        # the same name (in any case) replaces it, the others stay.
        status, fields, _ = self.get(b"/echo")
        self.assertEqual(status, 200)
        self.assertEqual(fields.get("strict-transport-security"), "max-age=63072000")
        self.assertEqual(fields.get("x-frame-options"), "DENY")
        _, fields, _ = self.get(b"/nostore")
        self.assertEqual((fields.get("x-frame-options"), fields.get("cache-control"),
                          fields.get("strict-transport-security")),
                         ("SAMEORIGIN", "no-store", "max-age=63072000"))
        _, fields, body = self.get(b"/", b"Host: example.com\r\n")
        self.assertEqual(body, b"example\n")
        self.assertEqual((fields.get("x-frame-options"), fields.get("x-host"),
                          fields.get("strict-transport-security")),
                         ("sameorigin", "example", "max-age=63072000"))
        # A redirect and a route's error answer carry them too.
        status, fields, _ = self.get(b"/old/x")
        self.assertEqual((status, fields.get("x-frame-options")), (301, "DENY"))
        status, fields, _ = self.get(b"/admin/")
        self.assertEqual((status, fields.get("strict-transport-security")),
                         (403, "max-age=63072000"))
        # So do the server's own refusals once the route is known: 405 and 413.
        status, fields, _ = self.get(b"/nostore", method=b"POST")
        self.assertEqual((status, fields.get("cache-control"), fields.get("x-frame-options")),
                         (405, "no-store", "SAMEORIGIN"))
        status, fields, _ = self.get(b"/small/x", b"Content-Length: 10\r\nHost: t\r\n", b"POST",
                                     b"0123456789")
        self.assertEqual((status, fields.get("x-frame-options")), (413, "DENY"))
        # A Host no host names falls to the default host, whose "/" static route answers
        # the missing file with the top level's fields (test_server_headers.py has the
        # answers given before a route is known).
        status, fields, _ = self.get(b"/nowhere", b"Host: nowhere.example\r\n")
        self.assertEqual((status, fields.get("strict-transport-security"), fields.get("x-host")),
                         (404, "max-age=63072000", None))

    def test_echo_combines_fields_whatever_their_case(self):
        # RFC 9110 §5.1: field names are case-insensitive; §5.3: repeats combine.
        _, _, body = self.get(b"/echo", b"Host: t\r\nX-A: 1\r\nx-a: 2\r\nX-a: 3\r\n")
        headers = json.loads(body)["headers"]
        self.assertEqual(headers.get("X-A"), "1, 2, 3")
        self.assertNotIn("x-a", headers)

    def test_echo_keeps_obs_text_bytes(self):
        # obs-text (RFC 9110 §5.5) is not UTF-8; shown as ISO-8859-1 rather than lost.
        _, _, body = self.get(b"/echo", b"Host: t\r\nX-Bin: caf\xe9 \xff\r\n")
        self.assertEqual(json.loads(body)["headers"]["X-Bin"], "caf\u00e9 \u00ff")


if __name__ == "__main__":
    ft.run()
