#!/usr/bin/env python3
"""flared against Python's http.client: GET, POST and HEAD on one keep-alive
connection, the echo route's JSON, and static files."""
import base64
import http.client
import json

import flaredtest as ft


class HttpClientTests(ft.SharedServerTestCase):

    def setUp(self):
        self.conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=5)
        self.addCleanup(self.conn.close)

    def request(self, method, path, body=None, headers=None):
        self.conn.request(method, path, body=body, headers=headers or {})
        r = self.conn.getresponse()
        return r, r.read()

    def test_get_post_head_on_one_connection(self):
        r, body = self.request("GET", "/plaintext")
        self.assertEqual((r.status, body), (200, b"Hello, World!"))
        self.assertEqual(r.getheader("Server"), "flared")
        self.assertIsNotNone(r.getheader("Date"))
        sock = self.conn.sock
        local = sock.getsockname()

        r, body = self.request("POST", "/echo", body=b'{"k": [1, 2]}',
                               headers={"Content-Type": "application/json", "X-Test": "abc"})
        self.assertEqual(r.status, 200)
        doc = json.loads(body)
        self.assertEqual(doc["method"], "POST")
        self.assertEqual(doc["json"], {"k": [1, 2]})
        self.assertEqual(doc["data"], '{"k": [1, 2]}')
        headers = {k.lower(): v for k, v in doc["headers"].items()}
        self.assertEqual(headers["x-test"], "abc")
        self.assertEqual(doc["origin"], "127.0.0.1")

        r, body = self.request("HEAD", "/index.html")
        self.assertEqual((r.status, body), (200, b""))
        self.assertEqual(int(r.getheader("Content-Length")), len(ft.INDEX_HTML))

        r, body = self.request("GET", "/")
        self.assertEqual((r.status, body), (200, ft.INDEX_HTML))
        self.assertIn("text/html", r.getheader("Content-Type"))

        # Every exchange went over the first connection: http.client reconnects
        # silently, so compare the socket and its local port.
        self.assertIs(self.conn.sock, sock)
        self.assertEqual(self.conn.sock.getsockname(), local)

    def test_echo_query_and_non_utf8_body(self):
        raw = bytes(range(256))
        r, body = self.request("PUT", "/echo?a=1&b=%20x", body=raw,
                               headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(r.status, 200)
        doc = json.loads(body)
        self.assertEqual(doc["method"], "PUT")
        self.assertEqual(doc["args"], {"a": "1", "b": " x"})
        # An argument that does not decode to UTF-8 (or holds a NUL) is left out; it used
        # to make json_dumps fail and the whole answer a 500.
        r, body = self.request("GET", "/echo?a=%ff&b=%C3%A9&%fe=1&c=%00&d=ok")
        self.assertEqual(r.status, 200, body)
        self.assertEqual(json.loads(body)["args"], {"b": "\u00e9", "d": "ok"})
        # As httpbin does: a body that is not UTF-8 comes back as a base64 data URL.
        prefix = "data:application/octet-stream;base64,"
        self.assertTrue(doc["data"].startswith(prefix), doc["data"][:60])
        self.assertEqual(base64.b64decode(doc["data"][len(prefix):]), raw)
        self.assertIsNone(doc["json"])

    def test_raw_echo_round_trip(self):
        payload = bytes(range(256)) * 300
        r, body = self.request("POST", "/raw", body=payload, headers={"Content-Type": "image/x-test"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Content-Type"), "image/x-test")
        self.assertEqual(body, payload)

    def test_not_found_keeps_and_405_closes_the_connection(self):
        r, _ = self.request("GET", "/no/such/file")
        self.assertEqual(r.status, 404)
        sock = self.conn.sock
        self.assertIsNotNone(sock)  # a 404 keeps the connection
        r, _ = self.request("DELETE", "/plaintext")
        self.assertEqual(r.status, 405)
        self.assertEqual(r.getheader("Allow"), "GET, HEAD")
        self.assertEqual(r.getheader("Connection"), "close")
        self.assertIsNone(self.conn.sock)  # a rejection ends it
        r, body = self.request("GET", "/plaintext")  # http.client reconnects
        self.assertEqual((r.status, body), (200, b"Hello, World!"))

    def test_static_does_not_escape_root(self):
        for path in ("/../flared.yaml", "/%2e%2e/flared.yaml", "/www/../../flared.yaml"):
            r, body = self.request("GET", path)
            self.assertIn(r.status, (400, 403, 404), path)
            self.assertNotIn(b"listeners", body, path)

    def test_connection_close_is_honoured(self):
        r, body = self.request("GET", "/plaintext", headers={"Connection": "close"})
        self.assertEqual(body, b"Hello, World!")
        self.assertEqual(r.getheader("Connection"), "close")
        self.assertIsNone(self.conn.sock)  # http.client closed it as the server said


if __name__ == "__main__":
    ft.run()
