#!/usr/bin/env python3
"""examples/08_http_server (path in $FLARE_EXAMPLE_08) on a free loopback port:
"/" -> hello, POST /data with JSON -> {"received": true}, anything else -> 404,
over one keep-alive connection, pipelined raw requests and curl."""
import http.client
import json
import os
import shutil
import socket
import subprocess
import unittest

import flaredtest as ft

EXAMPLE = os.environ.get("FLARE_EXAMPLE_08", "")


@unittest.skipUnless(EXAMPLE, "FLARE_EXAMPLE_08 is not set: examples/08_http_server is not built")
class Example08Tests(unittest.TestCase):
    def setUp(self):
        for _ in range(3):
            self.port = ft.free_port()
            self.proc = subprocess.Popen([EXAMPLE, str(self.port)], stderr=subprocess.PIPE)
            if ft.wait_for(lambda: ft.accepts_or_died(self.proc, self.port), 5) \
                    and self.proc.poll() is None:
                break
            self.proc.wait()
        else:
            self.fail(f"08_http_server did not start: {self.proc.stderr.read()!r}")
        self.addCleanup(self.stop)

    def stop(self):
        self.proc.terminate()  # the example has no signal handling: TERM ends it
        self.proc.wait(5)
        self.proc.stderr.close()

    def test_routes_on_one_connection(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        self.addCleanup(conn.close)
        conn.request("GET", "/")
        r = conn.getresponse()
        self.assertEqual((r.status, r.read()), (200, b"hello"))
        sock = conn.sock
        conn.request("POST", "/data", body=b'{"a": [1, 2, {"b": null}]}',
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(json.loads(r.read()), {"received": True})
        self.assertEqual(r.getheader("Content-Type"), "application/json")
        conn.request("POST", "/data", body=b"{nope")
        r = conn.getresponse()
        self.assertEqual((r.status, r.read()), (400, b"bad json\n"))
        conn.request("GET", "/elsewhere")
        r = conn.getresponse()
        r.read()
        self.assertEqual(r.status, 404)
        self.assertIs(conn.sock, sock)

    def test_pipelined(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
                      b"POST /data HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}"
                      b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            data, closed = ft.read_until_close(s, 5)
        responses, rest = ft.parse_responses(data)
        self.assertEqual([r.status for r in responses], [200, 200, 404])
        self.assertEqual(responses[0].body, b"hello")
        self.assertEqual(json.loads(responses[1].body), {"received": True})
        self.assertTrue(closed)
        self.assertEqual(rest, b"")

    @unittest.skipUnless(shutil.which("curl"), "curl is not installed")
    def test_curl(self):
        p = subprocess.run(["curl", "-sS", "--max-time", "10", "-H", "Content-Type: application/json",
                            "-d", '{"x": 1}', f"http://127.0.0.1:{self.port}/data"],
                           capture_output=True, timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout), {"received": True})


if __name__ == "__main__":
    ft.run()
