#!/usr/bin/env python3
"""libflare's HTTP client (through client_probe and the `flare` CLI) against a
scripted server on 127.0.0.1 that answers a connection's first request, then
meets the next one on that kept-alive connection with 408 Request Timeout and
closes it, as a server does whose idle timer fires as the request arrives
(RFC 9110 §15.5.9). The client sends the request again on a new connection when
its body can be sent again, whatever the method; a 408 on a new connection, or
for a streamed body that cannot be rewound, is the answer. `flare -T FILE` rewinds
its file for the resend."""
import os
import shutil
import subprocess
import tempfile
import unittest

from proxy_upstreams import ScriptedUpstream, WithClose

CLIENT_PROBE = os.environ.get("CLIENT_PROBE", "")
FLARE = os.environ.get("FLARE", "")

TIMEOUT_408 = WithClose(b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
                        b"Content-Length: 8\r\n\r\ntoo slow")


def ok(body):
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def idle_408(number, index, path):
    """Connection 1: "one", then 408 and the close; later connections: "fresh<N>"."""
    if number > 1:
        return ok(b"fresh%d" % number)
    return ok(b"one") if index == 0 else TIMEOUT_408


def close_second(number, index, path):
    """Connection 1: "one", then the close with no answer; later connections: "fresh<N>"."""
    if number > 1:
        return ok(b"fresh%d" % number)
    return ok(b"one") if index == 0 else None


def always_408(number, index, path):
    return TIMEOUT_408


def run(exe, *args):
    if not exe or not os.access(exe, os.X_OK):
        raise AssertionError(f"not an executable: {exe!r} (run through meson test)")
    p = subprocess.run([exe, *args], capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


class ClientRetryTests(unittest.TestCase):

    def serve(self, answer):
        up = ScriptedUpstream(answer, read_bodies=True)
        self.addCleanup(up.close)
        return up, f"http://127.0.0.1:{up.port}/"

    def probe(self, url, *specs):
        rc, out, err = run(CLIENT_PROBE, "requests", url, *specs)
        self.assertEqual(rc, 0, out + err)
        return out.splitlines()

    def test_408_on_a_reused_connection_is_sent_again(self):
        for method, spec, body in (("GET", "GET", b""), ("DELETE", "DELETE", b""),
                                   ("POST", "POST=a body", b"a body"),
                                   ("POST", "POST^streamed, rewindable", b"streamed, rewindable")):
            with self.subTest(spec=spec):
                up, url = self.serve(idle_408)
                lines = self.probe(url, "GET", spec)
                self.assertEqual(lines, ["status=200 reused=0 body=one",
                                         "status=200 reused=0 body=fresh2",
                                         "retries=1 opened=2"])
                self.assertEqual([(n, line.split()[0]) for n, line in up.requests],
                                 [(1, "GET"), (1, method), (2, method)])
                self.assertEqual(up.bodies, [b"", body, body])

    def test_408_on_a_new_connection_is_the_answer(self):
        up, url = self.serve(always_408)
        lines = self.probe(url, "GET")
        self.assertEqual(lines, ["status=408 reused=0 body=too slow", "retries=0 opened=1"])
        self.assertEqual(len(up.requests), 1)

    def test_streamed_body_without_rewind_is_not_sent_again(self):
        up, url = self.serve(idle_408)
        lines = self.probe(url, "GET", "POST~sent once")
        self.assertEqual(lines, ["status=200 reused=0 body=one",
                                 "status=408 reused=1 body=too slow",
                                 "retries=0 opened=1"])
        self.assertEqual([(n, line.split()[0]) for n, line in up.requests],
                         [(1, "GET"), (1, "POST")])

    def test_flare_cli(self):
        up, url = self.serve(idle_408)
        rc, out, err = run(FLARE, "-v", url, url)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, "onefresh2")
        self.assertIn("retrying GET on a new connection (the reused one failed: "
                      "408 Request Timeout)", err)
        self.assertEqual(err.count("* connected to"), 2, err)
        # a 408 on a new connection: printed, and the exit status of a status not 2xx
        up, url = self.serve(always_408)
        rc, out, err = run(FLARE, url)
        self.assertEqual((rc, out), (4, "too slow"), err)

    def test_flare_cli_upload_is_rewound(self):
        """flare -T FILE to two URLs: the second PUT, failed on the reused connection,
        goes again on a new one with the file rewound (Content-Length both times)."""
        d = tempfile.mkdtemp(prefix="flare-retry-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "body.bin")
        data = os.urandom(300_000)
        with open(path, "wb") as f:
            f.write(data)
        for answer, why in ((idle_408, "408 Request Timeout"),
                            (close_second, "closed the connection without a response")):
            with self.subTest(why=why):
                up, url = self.serve(answer)
                rc, out, err = run(FLARE, "-v", "-T", path, url + "a", url + "b")
                self.assertEqual((rc, out), (0, "onefresh2"), err)
                self.assertIn("retrying PUT on a new connection (the reused one failed: ", err)
                self.assertIn(why, err)
                self.assertEqual(up.requests, [(1, "PUT /a HTTP/1.1"), (1, "PUT /b HTTP/1.1"),
                                               (2, "PUT /b HTTP/1.1")])
                self.assertEqual(up.bodies, [data, data, data])
                self.assertTrue(all(f"\r\nContent-Length: {len(data)}\r\n" in head + "\r\n"
                                    for head in up.heads), up.heads)
        # a POST the server may have acted on is not sent again after a close
        up, url = self.serve(close_second)
        rc, out, err = run(FLARE, "-X", "POST", "-T", path, url + "a", url + "b")
        self.assertEqual((rc, out), (2, "one"), err)
        self.assertIn("closed the connection without a response", err)
        self.assertEqual(len(up.requests), 2)


if __name__ == "__main__":
    unittest.main()
