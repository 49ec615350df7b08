"""Adversarial review of the proxy route against upstreams scripted per connection:
stale pooled connections (closed, reset, 408), a full Unix accept queue, interim
responses (also while the body is sent), protocol switches, slow uploads and stalled
bodies, pipelined clients, tunnels, Host and worker start."""

import hashlib
import json
import os
import random
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flaredtest import (ServerTestCase, parse_responses, read_response,  # noqa: E402
                        read_until_close, run, wait_for)
from proxy_upstreams import (RawUpstream, ScriptedUpstream, WithClose,  # noqa: E402
                             drain_body)
from test_proxy import proxy_config  # noqa: E402


def ok(body=b"good"):
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


class ReviewCase(ServerTestCase):
    def conn_upstream(self, answer):
        up = ScriptedUpstream(answer)
        self.addCleanup(up.close)
        return up

    def tmp_dir(self):
        path = tempfile.mkdtemp(prefix="flared-review-")
        self.addCleanup(shutil.rmtree, path, True)
        return path


class StalePoolTests(ReviewCase):
    """A pooled connection the upstream closes as the request reaches it (its keep-alive
    timer ran out meanwhile) is stale: nothing was processed, so an idempotent request is
    sent again, on a fresh connection, not on the next pooled one (just as stale)."""

    def test_retry_after_a_stale_connection_opens_a_fresh_one(self):
        def answer(number, index, path):
            if index == 0:
                return [b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n", b"slow"]
            return None  # the second request on a connection: closed unanswered
        up = self.conn_upstream(answer)
        srv = self.start_server(extra=proxy_config([up.address],
                                                   upstream_extra="    keepalive: 4\n"))
        socks = [srv.connect() for _ in range(3)]
        for s in socks:
            s.sendall(b"GET /api/prime HTTP/1.1\r\nHost: a\r\n\r\n")
        for s in socks:
            resp, _ = read_response(s)
            self.assertEqual(resp.status, 200)
            s.close()
        self.assertEqual(up.connections, 3)
        with srv.connect() as s:
            s.sendall(b"GET /api/again HTTP/1.1\r\nHost: a\r\n\r\n")
            resp, _ = read_response(s)
        self.assertEqual(resp.status, 200, up.requests)
        self.assertEqual(resp.body, b"slow")
        self.assertEqual(up.connections, 4, up.requests)

    def test_a_stale_connection_after_a_reset_is_still_replaced(self):
        # Server a resets every request; b closes a connection at its second request. A GET
        # reset by a, retried on b's stale pooled connection, was answered 502: the stale
        # connection had used up the one retry, though b was fine.
        a = self.conn_upstream(lambda number, index, path: None)
        b = self.conn_upstream(lambda number, index, path: ok(b"from b") if index == 0 else None)
        srv = self.start_server(extra=proxy_config([a.address, b.address],
                                                   upstream_extra="    max_fails: 100\n"))
        for _ in range(3):
            with srv.connect() as s:
                s.sendall(b"GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n")
                resp, _ = read_response(s)
            self.assertEqual((resp.status, resp.body), (200, b"from b"), (a.requests, b.requests))

    def test_a_408_on_a_pooled_connection_is_a_stale_connection(self):
        # RFC 9112 §9.5: the server announced the close of the idle connection with a 408
        # before this request reached it; the GET goes again, the POST gets the 408.
        timeout = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        up = self.conn_upstream(lambda number, index, path: ok() if index == 0 else [timeout, None])
        srv = self.start_server(extra=proxy_config([up.address]))
        with srv.connect() as s:
            s.sendall(b"GET /api/prime HTTP/1.1\r\nHost: a\r\n\r\n")
            self.assertEqual(read_response(s)[0].status, 200)
            s.sendall(b"GET /api/again HTTP/1.1\r\nHost: a\r\n\r\n")
            self.assertEqual(read_response(s)[0].status, 200, up.requests)
            s.sendall(b"POST /api/order HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi")
            self.assertEqual(read_response(s)[0].status, 408, up.requests)
        self.assertEqual(up.connections, 2, up.requests)

    def test_a_post_is_not_sent_again_after_a_stale_connection(self):
        # RFC 9110 §9.2.2: the upstream may have acted on it before closing.
        up = self.conn_upstream(lambda number, index, path: ok() if index == 0 else None)
        srv = self.start_server(extra=proxy_config([up.address]))
        with srv.connect() as s:
            s.sendall(b"GET /api/prime HTTP/1.1\r\nHost: a\r\n\r\n")
            self.assertEqual(read_response(s)[0].status, 200)
            s.sendall(b"POST /api/order HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi")
            self.assertEqual(read_response(s)[0].status, 502)
        self.assertEqual([line for _, line in up.requests].count("POST /order HTTP/1.1"), 1)
        self.assertEqual(up.connections, 1)

    def test_a_connection_the_upstream_closed_after_answering_is_not_reused(self):
        # No Connection: close, but the close follows the response at once: its edge
        # comes with the response's, so only a look before reuse sees it. A POST sent
        # there would be lost (and answered 502) though the upstream is fine.
        up = self.conn_upstream(lambda number, index, path: WithClose(ok()))
        srv = self.start_server(extra=proxy_config([up.address]))
        for _ in range(5):
            with srv.connect() as s:
                s.sendall(b"GET /api/first HTTP/1.1\r\nHost: a\r\n\r\n")
                self.assertEqual(read_response(s)[0].status, 200)
                s.sendall(b"POST /api/second HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi")
                self.assertEqual(read_response(s)[0].status, 200, up.requests)
        self.assertEqual(up.connections, 10)


EARLY_HINTS = b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"


class PipelineTests(ReviewCase):
    def test_pipelined_requests_with_bodies_keep_order_and_bytes(self):
        # Bodies of every framing in one write, each request's bytes going to its own
        # upstream request and each answer back in order; the first answer is slow, so the
        # rest wait behind it with their bodies already read into the server's buffer.
        up = RawUpstream()
        self.addCleanup(up.close)
        srv = self.start_server(extra=proxy_config([up.address]).replace("read_timeout: 1s",
                                                                         "read_timeout: 3s"))
        big = bytes(range(256)) * 300
        raw = (b"POST /api/uploadslow HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
               b"POST /api/echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"3\r\nGET\r\n4;x=y\r\n /x \r\n0\r\n\r\n"
               b"HEAD /api/chunked HTTP/1.1\r\nHost: a\r\n\r\n"
               b"PUT /api/upload HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s"
               b"GET /api/chunked HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
               % (len(big), big))
        with srv.connect() as s:
            s.sendall(raw)
            data, _ = read_until_close(s, 6.0)
        responses, rest = parse_responses(data, ["POST", "POST", "HEAD", "PUT", "GET"])
        self.assertEqual([r.status for r in responses], [200] * 5, data[:600])
        self.assertEqual(rest, b"")
        self.assertEqual(json.loads(responses[0].body)["length"], 3)
        self.assertEqual(json.loads(responses[1].body)["body"], "GET /x ")
        self.assertEqual(responses[2].body, b"")
        self.assertEqual(json.loads(responses[3].body),
                         {"length": len(big), "sha256": hashlib.sha256(big).hexdigest()})
        self.assertEqual(responses[4].body, b"hello, world")


class TunnelTests(ReviewCase):
    def test_a_tunnel_moves_megabytes_both_ways_byte_exact_to_a_slow_client(self):
        down = random.Random(5).randbytes(8 << 20)
        up_bytes = random.Random(6).randbytes(4 << 20)
        got = {}
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        self.addCleanup(listener.close)

        def upstream():
            conn, _ = listener.accept()
            with conn:
                buf = b""
                while b"\r\n\r\n" not in buf:
                    buf += conn.recv(65536)
                conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x-test\r\n"
                             b"Connection: upgrade\r\n\r\n")
                sender = threading.Thread(target=conn.sendall, args=(down,))
                sender.start()
                rest = buf.partition(b"\r\n\r\n")[2]
                while len(rest) < len(up_bytes):
                    chunk = conn.recv(1 << 20)
                    if not chunk:
                        break
                    rest += chunk
                got["up"] = rest
                sender.join()
        thread = threading.Thread(target=upstream, daemon=True)
        thread.start()
        srv = self.start_server(extra=proxy_config([f"127.0.0.1:{listener.getsockname()[1]}"]))
        with srv.connect(rcvbuf=16384) as s:
            s.sendall(b"GET /api/t HTTP/1.1\r\nHost: a\r\nUpgrade: x-test\r\n"
                      b"Connection: upgrade\r\n\r\n")
            sender = threading.Thread(target=s.sendall, args=(up_bytes,))
            sender.start()
            data = b""
            while b"\r\n\r\n" not in data:
                data += s.recv(65536)
            self.assertTrue(data.startswith(b"HTTP/1.1 101 "), data[:100])
            data = data.partition(b"\r\n\r\n")[2]
            time.sleep(0.5)  # a client slow to start reading: the proxy must hold back
            while len(data) < len(down):
                chunk = s.recv(1 << 20)
                if not chunk:
                    break
                data += chunk
            sender.join()
        thread.join(5)
        self.assertEqual(hashlib.sha256(data).hexdigest(), hashlib.sha256(down).hexdigest())
        self.assertEqual(hashlib.sha256(got.get("up", b"")).hexdigest(),
                         hashlib.sha256(up_bytes).hexdigest())

    def test_a_switch_to_a_protocol_not_asked_for_is_refused(self):
        # RFC 9110 §7.8. An h2c tunnel in particular would let the client send HTTP/2
        # requests for any path past the route (the request side drops h2c for that).
        def answer(number, index, path):
            proto = {"/h2c": b"h2c", "/case": b"WebSocket", "/none": b""}[path]
            return (b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n"
                    b"Upgrade: %s\r\n\r\n" % proto)
        up = self.conn_upstream(answer)
        srv = self.start_server(extra=proxy_config([up.address]))
        for path, status in (("h2c", 502), ("case", 101), ("none", 502)):
            with srv.connect() as s:
                s.sendall(b"GET /api/%s HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
                          b"Connection: upgrade, close\r\n\r\n" % path.encode())
                data, _ = read_until_close(s, 1.5)  # a tunnel ends at read_timeout
            self.assertTrue(data.startswith(b"HTTP/1.1 %d " % status), (path, data))


class StallTests(ReviewCase):
    def test_an_upstream_stalling_mid_body_cuts_the_response_at_read_timeout(self):
        # The head is passed on; the body stops. After read_timeout (1 s) the client
        # connection ends without the rest: a short Content-Length, no last chunk.
        stall = [b"", b"", b"", b"", b"", b"", b"", b"", b"", b""]  # 2 s of silence
        answers = {"/length": [b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"] + stall,
                   "/chunked": [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                b"3\r\nabc\r\n"] + stall}
        up = self.conn_upstream(lambda number, index, path: answers[path])
        srv = self.start_server(extra=proxy_config([up.address]))
        for path in answers:
            with srv.connect() as s:
                start = time.monotonic()
                s.sendall(b"GET /api%s HTTP/1.1\r\nHost: a\r\n\r\n" % path.encode())
                data, closed = read_until_close(s, 4.0)
            self.assertTrue(closed, path)
            self.assertLess(time.monotonic() - start, 1.9, path)
            head, _, body = data.partition(b"\r\n\r\n")
            self.assertTrue(head.startswith(b"HTTP/1.1 200 OK"), data)
            self.assertIn(body, (b"abc", b"3\r\nabc\r\n"), data)


class FailureTextTests(ReviewCase):
    """The 502 says how the servers tried failed, not that none was available."""

    def test_502_tells_why(self):
        up = self.conn_upstream(lambda number, index, path: None)  # closes unanswered
        refused = socket.socket()
        refused.bind(("127.0.0.1", 0))  # bound, never listening: connects are refused
        self.addCleanup(refused.close)
        for servers, why in (([up.address], b"upstream closed the connection\n"),
                             ([f"127.0.0.1:{refused.getsockname()[1]}"],
                              b"upstream connect failed\n")):
            srv = self.start_server(extra=proxy_config(servers))
            with srv.connect() as s:
                s.sendall(b"GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n")
                resp, _ = read_response(s)
            self.assertEqual((resp.status, resp.body), (502, why))
            srv.stop()


class UnixBacklogTests(ReviewCase):
    def test_a_unix_upstream_with_a_full_accept_queue_fails_over(self):
        # connect() on a Unix socket whose accept queue is full fails with EAGAIN: no
        # connect is under way. It was taken for one, the request was sent on an unconnected
        # socket, and a POST got 502 "upstream closed the connection" instead of going to
        # the next server as any failed connect does.
        path = os.path.join(self.tmp_dir(), "full.sock")
        listener = socket.socket(socket.AF_UNIX)
        self.addCleanup(listener.close)
        listener.bind(path)
        listener.listen(0)  # never accepts
        queued = socket.socket(socket.AF_UNIX)
        self.addCleanup(queued.close)
        queued.connect(path)  # fills the queue
        up = RawUpstream()
        self.addCleanup(up.close)
        srv = self.start_server(extra=proxy_config([f"unix:{path}", up.address]))
        with srv.connect() as s:
            s.sendall(b"POST /api/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi")
            resp, _ = read_response(s)
        self.assertEqual(resp.status, 200, resp.body)
        self.assertEqual(json.loads(resp.body)["body"], "hi")


class InterimTests(ReviewCase):
    """RFC 9110 §15.2: a proxy forwards 1xx responses (103 Early Hints, say), except to an
    HTTP/1.0 client; a 100 Continue answers the Expect this proxy answered itself."""

    def get(self, answer, version=b"1.1"):
        up = self.conn_upstream(lambda number, index, path: answer)
        srv = self.start_server(extra=proxy_config([up.address]))
        with srv.connect() as s:
            s.sendall(b"GET /api/x HTTP/%s\r\nHost: a\r\nConnection: close\r\n\r\n" % version)
            data, _ = read_until_close(s, 2.0)
        return data

    def one_connection(self, serve):
        """A listener whose one connection is handed to serve(conn, head, rest) once the
        request head is read (rest: the bytes behind it); returns its port."""
        listener = socket.create_server(("127.0.0.1", 0))
        self.addCleanup(listener.close)

        def accept():
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(10)
                buf = b""
                while b"\r\n\r\n" not in buf:
                    buf += conn.recv(65536)
                head, _, rest = buf.partition(b"\r\n\r\n")
                serve(conn, head.decode("latin-1"), rest)
        threading.Thread(target=accept, daemon=True).start()
        return listener.getsockname()[1]

    def test_early_hints_reach_the_client_before_the_response(self):
        data = self.get(b"HTTP/1.1 100 Continue\r\n\r\n" + EARLY_HINTS + ok())
        self.assertTrue(data.startswith(b"HTTP/1.1 103 Early Hints\r\n"), data)
        hints, _, final = data.partition(b"\r\n\r\n")
        self.assertIn(b"\r\nLink: </s.css>; rel=preload\r\n", hints + b"\r\n")
        self.assertNotIn(b"Content-Length", hints)
        self.assertTrue(final.startswith(b"HTTP/1.1 200 OK\r\n"), data)
        self.assertTrue(final.endswith(b"\r\n\r\ngood"), data)
        self.assertNotIn(b" 100 ", data)

    def test_early_hints_before_a_websocket_switch(self):
        # RFC 9110 §15.2: 1xx before the 101 are interim too: the 103 is passed on (the
        # 100 is not, as above), the 101 still switches, and the 103's fields stay out
        # of the 101 (they were the hints', not the switch's).
        switch = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                  b"\r\n\x81\x05hello")
        up = self.conn_upstream(lambda number, index, path: WithClose(
            b"HTTP/1.1 100 Continue\r\n\r\n" + EARLY_HINTS + switch))
        srv = self.start_server(extra=proxy_config([up.address]))
        with srv.connect() as s:
            s.sendall(b"GET /api/chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
                      b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                      b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
            data, closed = read_until_close(s, 5.0)  # the upstream's close ends the tunnel
        self.assertTrue(closed, data)
        hints, _, rest = data.partition(b"\r\n\r\n")
        self.assertTrue(hints.startswith(b"HTTP/1.1 103 Early Hints\r\n"), data)
        self.assertIn(b"\r\nLink: </s.css>; rel=preload", hints)
        head, _, frames = rest.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 101 "), data)
        self.assertIn(b"\r\nUpgrade: websocket", head)
        self.assertIn(b"\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", head)
        self.assertNotIn(b"Link:", head)
        self.assertEqual(frames, b"\x81\x05hello")
        self.assertNotIn(b" 100 ", data)

    def test_an_http10_client_gets_none(self):
        data = self.get(EARLY_HINTS + ok(), b"1.0")
        self.assertTrue(data.startswith(b"HTTP/1.1 200 OK\r\n"), data)
        self.assertNotIn(b"103", data)

    def test_a_flood_of_them_is_bounded(self):
        data = self.get(EARLY_HINTS * 50 + ok())
        self.assertEqual(data.count(b"HTTP/1.1 103 "), 8)
        self.assertTrue(data.endswith(b"\r\n\r\ngood"), data[-200:])

    def test_one_sent_while_the_body_streams_lets_the_body_go_on(self):
        # RFC 9110 §15.2: an upstream may send 1xx unasked, here before it reads the body.
        # The rest of the body was dropped, the upstream waited for it: 504 at read_timeout.
        received = []

        def serve(conn, head, rest):
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n" + EARLY_HINTS)
            body = bytearray()
            drain_body(conn, [rest], head, body)
            received.append(bytes(body))
            conn.sendall(ok(b"got %d" % len(body)))
        port = self.one_connection(serve)
        srv = self.start_server(extra=proxy_config([f"127.0.0.1:{port}"]))  # read_timeout: 1s
        with srv.connect() as s:
            s.sendall(b"POST /api/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                      b"Connection: close\r\n\r\n5\r\nhello\r\n")
            time.sleep(0.5)  # the 1xx comes while the body is still on its way
            s.sendall(b"6\r\n world\r\n0\r\n\r\n")
            data, _ = read_until_close(s, 5.0)
        self.assertTrue(data.startswith(b"HTTP/1.1 103 Early Hints\r\n"), data)
        self.assertIn(b"HTTP/1.1 200 OK\r\n", data)
        self.assertTrue(data.endswith(b"\r\n\r\ngot 11"), data)
        self.assertEqual(received, [b"hello world"])


    def test_one_that_comes_with_room_to_send_lets_the_sending_go_on(self):
        # A 1xx read while the body waits for room in the upstream connection: when its
        # readable edge came with the writable one (here both come while the worker is
        # stopped) the sending waited for another writable edge, which never came: 504
        # at read_timeout.
        size = 8 << 20
        stopped, hinted, received = threading.Event(), threading.Event(), []

        def serve(conn, head, rest):
            stopped.wait(10)  # until then nothing is read: the proxy's sending waits
            conn.sendall(EARLY_HINTS)
            conn.settimeout(0.05)
            until = time.monotonic() + 0.3
            while time.monotonic() < until:  # room for more, while the worker sleeps
                try:
                    rest += conn.recv(1 << 20)
                except socket.timeout:
                    pass
            conn.settimeout(10)
            hinted.set()
            received.append(drain_body(conn, [rest], head)[0])
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        port = self.one_connection(serve)
        srv = self.start_server(extra=proxy_config([f"127.0.0.1:{port}"]).replace(
            "proxy: {upstream: app,", "max_body_bytes: 1g\n    proxy: {upstream: app,").replace(
            "read_timeout: 1s", "read_timeout: 3s"))
        worker = srv.wait_workers(1)[0]
        with srv.connect(timeout=10) as s:
            s.sendall(b"POST /api/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
                      b"Content-Length: %d\r\n\r\n" % size)

            def upload():
                try:
                    s.sendall(b"u" * size)
                except OSError:
                    pass
            threading.Thread(target=upload, daemon=True).start()
            time.sleep(0.5)  # the proxy fills the upstream connection and waits for room
            os.kill(worker, signal.SIGSTOP)
            try:
                stopped.set()
                hinted.wait(5)
            finally:
                os.kill(worker, signal.SIGCONT)
            data, _ = read_until_close(s, 10.0)
        self.assertTrue(data.startswith(b"HTTP/1.1 103 Early Hints\r\n"), data[:300])
        self.assertIn(b"HTTP/1.1 200 OK\r\n", data)
        self.assertTrue(data.endswith(b"\r\n\r\nok"), data[-300:])
        self.assertEqual(received, [size])


class HostTests(ReviewCase):
    def test_preserve_host_sends_the_absolute_form_authority(self):
        # RFC 9112 §3.2.2: the authority of an absolute-form target replaces Host; the
        # upstream must see the host the request was routed by, not the ignored field.
        up = self.conn_upstream(lambda number, index, path: ok())
        srv = self.start_server(extra=proxy_config(
            [up.address], route_extra="strip_prefix: true, preserve_host: true"))
        with srv.connect() as s:
            s.sendall(b"GET http://a.example:8080/api/x HTTP/1.1\r\nHost: b.example\r\n\r\n"
                      b"GET /api/y HTTP/1.1\r\nHost: c.example:81\r\nConnection: close\r\n\r\n")
            data, _ = read_until_close(s, 3.0)
        responses, _ = parse_responses(data)
        self.assertEqual([r.status for r in responses], [200, 200], data)
        fields = [dict(line.split(": ", 1) for line in head.split("\r\n")[1:])
                  for head in up.heads]
        self.assertEqual([f["Host"] for f in fields], ["a.example:8080", "c.example:81"])
        self.assertEqual([f["X-Forwarded-Host"] for f in fields],
                         ["a.example:8080", "c.example:81"])


class SlowUploadTests(ReviewCase):
    """read_timeout bounds an upstream that stops reading or answering, not a client slow
    to send its body: that one is the server's body timeout's to judge. A 504 there also
    counted against the (healthy) server."""

    def test_a_slow_upload_within_the_body_timeout_gets_through(self):
        up = RawUpstream()
        self.addCleanup(up.close)
        srv = self.start_server(extra=proxy_config([up.address]))  # read_timeout: 1s
        body = b"0123456789"
        with srv.connect() as s:
            s.sendall(b"POST /api/echo HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n"
                      % len(body))
            for i in range(len(body)):
                time.sleep(0.25)  # 2.5 s in all, each pause well within timeouts.body
                s.sendall(body[i:i + 1])
            resp, _ = read_response(s)
        self.assertEqual(resp.status, 200, resp.body)
        self.assertEqual([b for _, _, b in up.requests], [body])

    def test_a_stalled_upload_ends_at_the_body_timeout(self):
        up = RawUpstream()
        self.addCleanup(up.close)
        srv = self.start_server(extra=proxy_config([up.address]), timeouts=", body: 1s")
        with srv.connect() as s:
            s.sendall(b"POST /api/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
            start = time.monotonic()
            data, closed = read_until_close(s, 5.0)
        self.assertTrue(closed)
        self.assertLess(time.monotonic() - start, 3.0)
        self.assertNotIn(b"504", data)
        self.assertEqual(up.requests, [])  # the upstream never got a whole request


class WorkerStartTests(ReviewCase):
    def test_a_worker_that_cannot_load_the_upstream_ca_exits_cleanly(self):
        # The CA was read at load; a worker restarted after it went away must say so and
        # exit, not crash freeing the half-built proxy state.
        ca = os.path.join(self.tmp_dir(), "ca.pem")
        shutil.copy("/etc/ssl/certs/ca-certificates.crt", ca)
        srv = self.start_server(extra=proxy_config(
            ["127.0.0.1:9", "127.0.0.1:10"], upstream_extra=f"    tls: {{ca: {ca}}}\n"))
        worker = srv.wait_workers(1)[0]
        os.unlink(ca)
        os.kill(worker, signal.SIGKILL)
        self.assertTrue(wait_for(lambda: "exited with status 1" in srv.log(), 3), srv.log())
        self.assertIn(f"tls CA file {ca}: No such file or directory", srv.log())
        self.assertNotIn("killed by signal 11", srv.log())


if __name__ == "__main__":
    run()
