#!/usr/bin/env python3
"""Per-connection limits and timers of flared, seen from a client: the excess
connection gets a short 503, a slowloris head gets 408 at the header deadline
however it trickles, a stalled body gets 408, an idle keep-alive connection
is closed, max_keepalive_requests closes the connection after the last one, a chunk
over the body limit is refused at its size line, a body the server's own answer
does not need is not read, and one a route ignores is dropped as it arrives."""
import sys
import time

import flaredtest as ft

GET = b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n"


def read_responses(sock, n):
    """Reads until n complete responses are in; (the responses, bytes after them)."""
    data = b""
    while len(ft.parse_responses(data)[0]) < n:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"closed after {data[:300]!r}")
        data += chunk
    return ft.parse_responses(data)


def unread_bytes(port):
    """Bytes waiting in the receive queues of the server's sockets on port."""
    total = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == port:
                total += int(fields[4].split(":")[1], 16)
    return total


class LimitTests(ft.SharedServerTestCase):
    server_kwargs = {"limits": ", max_connections: 3, max_keepalive_requests: 3",
                     "timeouts": ", header: 2s, body: 1s, keepalive: 1s"}

    def wait_for_no_connections(self):
        # The status route itself holds one connection while it answers.
        def quiet():
            r = self.srv.get("/status", timeout=2)
            return b'"active":1,' in r.body
        self.assertTrue(ft.wait_for(quiet, 5), "connections of an earlier test are still open")

    def test_excess_connection_gets_503_and_others_are_unharmed(self):
        self.wait_for_no_connections()
        held = [self.srv.connect() for _ in range(3)]
        for s in held:
            self.addCleanup(s.close)
        held[0].sendall(GET)  # make sure the worker has accepted the three
        ft.read_response(held[0])
        data, closed = self.srv.exchange(GET, timeout=3)
        responses, _ = ft.parse_responses(data)
        self.assertEqual([r.status for r in responses], [503], data)
        self.assertTrue(responses[0].closes())
        self.assertTrue(closed)
        for s in held[1:]:
            s.sendall(GET)
            r, _ = ft.read_response(s)
            self.assertEqual(r.body, b"Hello, World!")

    def test_slowloris_head_gets_408_at_the_header_deadline(self):
        with self.srv.connect() as s:
            s.sendall(b"GET /plaintext HTTP/1.1\r\n")
            start = time.monotonic()
            # One byte every 200ms would never finish; the deadline is total, not idle.
            s.settimeout(0.2)
            data = b""
            while time.monotonic() - start < 8:
                try:
                    s.sendall(b"X")
                except OSError:
                    break
                try:
                    chunk = s.recv(4096)
                except TimeoutError:
                    continue
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                data += chunk
            rest, _ = ft.read_until_close(s, 2)
            data += rest
        elapsed = time.monotonic() - start
        responses, _ = ft.parse_responses(data)
        self.assertEqual([r.status for r in responses], [408], data)
        self.assertTrue(responses[0].closes())
        self.assertLess(elapsed, 6, "the header deadline (2s) was extended by trickling bytes")

    def test_stalled_body_gets_408(self):
        with self.srv.connect() as s:
            s.sendall(b"POST /raw HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nab")
            data, closed = ft.read_until_close(s, 4)
        responses, _ = ft.parse_responses(data)
        self.assertEqual([r.status for r in responses], [408], data)
        self.assertTrue(closed)

    def test_chunk_over_the_body_limit_gets_413_at_its_size_line(self):
        # /small takes 1k. A chunk announced larger is refused before its data, as a
        # Content-Length is; the client that stops after a few bytes of it would
        # otherwise wait for the body timeout's 408.
        with self.srv.connect() as s:
            s.sendall(b"POST /small HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"401\r\nabc")
            data, closed = ft.read_until_close(s, 4)
        responses, _ = ft.parse_responses(data)
        self.assertEqual([r.status for r in responses], [413], data)
        self.assertTrue(closed)
        # Exactly at the limit in two chunks is taken; one byte more in the second is not.
        for second, status in ((b"200", 200), (b"201", 413)):
            body = b"200\r\n" + b"a" * 512 + b"\r\n" + second + b"\r\n" + b"b" * int(second, 16)
            with self.subTest(second=second), self.srv.connect() as s:
                s.sendall(b"POST /small HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                          b"Connection: close\r\n\r\n" + body + b"\r\n0\r\n\r\n")
                data, closed = ft.read_until_close(s, 4)
                responses, _ = ft.parse_responses(data)
                self.assertEqual([r.status for r in responses], [status], data[:300])
                if status == 200:
                    self.assertEqual(responses[0].body, b"a" * 512 + b"b" * 512)

    def test_body_the_server_refuses_is_not_read(self):
        # /plaintext takes GET and HEAD: a POST gets the server's own 405, which needs
        # none of the body. It is answered at once, not after the body was read into
        # memory (up to the body limit, on every connection) or the body timeout's 408.
        heads = [b"Content-Length: 5000000\r\n\r\n" + b"a" * 65536,
                 b"Transfer-Encoding: chunked\r\n\r\n100000\r\n" + b"a" * 65536]
        for head in heads:
            with self.subTest(head=head[:30]), self.srv.connect() as s:
                s.sendall(b"POST /plaintext HTTP/1.1\r\nHost: t\r\n" + head)
                data, closed = ft.read_until_close(s, 4)
                responses, _ = ft.parse_responses(data)
                self.assertEqual([r.status for r in responses], [405], data[:300])
                self.assertEqual(responses[0].header("Allow"), "GET, HEAD")
                self.assertTrue(responses[0].closes())
                self.assertTrue(closed)

    def test_small_body_the_server_answers_keeps_the_connection(self):
        # A small body to a request the server answers itself (here OPTIONS *; a 404
        # alike) is read in the input block, and the connection goes on, as nginx keeps
        # it; sent at once or a byte at a time, the answers are the same. (405 and 501
        # end the connection anyway.)
        data = (b"OPTIONS * HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello" +
                b"OPTIONS * HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc" + GET)
        for step in [len(data), 1]:
            with self.subTest(step=step), self.srv.connect() as s:
                for i in range(0, len(data), step):
                    s.sendall(data[i:i + step])
                responses, rest = read_responses(s, 3)
                self.assertEqual([r.status for r in responses], [200, 200, 200])
                # The third closes: this server's max_keepalive_requests is 3.
                self.assertEqual(([r.closes() for r in responses], rest),
                                 ([False, False, True], b""))

    def test_idle_keepalive_connection_is_closed(self):
        with self.srv.connect() as s:
            s.sendall(GET)
            r, rest = ft.read_response(s)
            self.assertFalse(r.closes())
            data, closed = ft.read_until_close(s, 4)
        self.assertEqual((rest + data, closed), (b"", True))

    def test_max_keepalive_requests(self):
        with self.srv.connect() as s:
            s.sendall(GET * 4)
            data, closed = ft.read_until_close(s, 4)
        responses, rest = ft.parse_responses(data)
        self.assertEqual(len(responses), 3, data)
        self.assertEqual([r.closes() for r in responses], [False, False, True])
        self.assertEqual(rest, b"")
        self.assertTrue(closed)


class DiscardedBodyTests(ft.SharedServerTestCase):
    """A route that ignores bodies (text, static, status, redirect) drops one as it
    arrives, as nginx discards it, instead of holding it whole: the connection goes on
    with the next request, and stalled uploads cost the worker no more than a block."""

    server_kwargs = {"limits": ", max_body_bytes: 16m", "timeouts": ", body: 5s"}
    BODY = 6 << 20

    def test_body_is_dropped_and_the_connection_goes_on(self):
        bodies = [
            (b"Content-Length: %d\r\n\r\n" % self.BODY, b"x" * self.BODY),
            (b"Transfer-Encoding: chunked\r\n\r\n",
             b"".join(b"%x\r\n%s\r\n" % (1 << 20, b"y" * (1 << 20)) for _ in range(6)) +
             b"0\r\nTrailer-Field: t\r\n\r\n"),
        ]
        for head, body in bodies:
            with self.subTest(head=head[:20]), self.srv.connect(timeout=10) as s:
                # The next request rides in the same send as the body's end.
                s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n" + head + body + GET)
                responses, rest = read_responses(s, 2)
                self.assertEqual([(r.status, r.body) for r in responses],
                                 [(200, b"Hello, World!")] * 2)
                self.assertEqual((responses[0].closes(), rest), (False, b""))

    def test_body_over_the_limit_is_still_413(self):
        chunked = b"Transfer-Encoding: chunked\r\n\r\n%x\r\n" % (17 << 20)
        for head in [b"Content-Length: %d\r\n\r\n" % (17 << 20), chunked]:
            with self.subTest(head=head[:20]), self.srv.connect() as s:
                s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n" + head + b"z" * 4096)
                data, closed = ft.read_until_close(s, 4)
                responses, _ = ft.parse_responses(data)
                self.assertEqual([r.status for r in responses], [413], data[:200])

    def test_stalled_uploads_are_not_held(self):
        # Eight clients each send 6 MiB of a 7 MiB body and stop. Held whole, the
        # bodies would grow the worker by about 48 MiB; dropped, by about a block each.
        (worker,) = self.srv.wait_workers(1)
        before = ft.rss_kib(worker)
        socks = []
        for _ in range(8):
            s = self.srv.connect(timeout=10)
            self.addCleanup(s.close)
            s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n"
                      % (self.BODY + (1 << 20)))
            s.sendall(b"x" * self.BODY)
            socks.append(s)
        # The worker has taken all there is once nothing waits unread in its sockets.
        ft.wait_for(lambda: unread_bytes(self.srv.port) == 0, 5)
        grown = ft.rss_kib(worker) - before
        print(f"worker VmRSS +{grown} KiB with 8 stalled 6 MiB uploads", file=sys.stderr)
        self.assertLess(grown, 16 << 10, f"worker RSS grew {grown} KiB for 8 stalled uploads")
        for s in socks:
            s.sendall(b"x" * (1 << 20))
            r, _ = ft.read_response(s)
            self.assertEqual(r.status, 200)


if __name__ == "__main__":
    ft.run()
