"""The upstream connection pool against scripted upstreams: a response with no body
(to HEAD, a 204, a 304) followed by a body anyway, however late it comes, never
answers the next request; bytes left in the socket behind a response are found
before the connection is pooled; TLS connections are reused; idle connections go
after keepalive_timeout or before the upstream's Keep-Alive timeout; a server out of
rotation keeps none, leaving `keepalive` to the others."""

import json
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flaredtest import (ServerTestCase, parse_responses, patience,  # noqa: E402
                        read_response, run, wait_for)
from proxy_upstreams import RawUpstream, ScriptedUpstream  # noqa: E402
from test_proxy import proxy_config, tls_backend  # noqa: E402

GOOD = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngood"
STRAY = b"hello"
# (method, the head of a response without a body): each is followed by STRAY.
BODILESS = [
    (b"HEAD", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"),
    (b"GET", b"HTTP/1.1 204 No Content\r\n\r\n"),
    (b"GET", b"HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\n\r\n"),
]


class PoolCase(ServerTestCase):
    def scripted(self, first, second=GOOD):
        """An upstream answering `first` to the first request it gets, `second` to the next
        one on that connection, GOOD to the others."""
        up = ScriptedUpstream(lambda number, index, path: (first, second)[index]
                              if number == 1 and index < 2 else GOOD)
        self.addCleanup(up.close)
        return up

    def lines(self, up):
        with up.lock:
            return [(number, line.split(" ")[0]) for number, line in up.requests]


class StrayBodyTests(PoolCase):
    """RFC 9110 §9.3.2, §15.3.5, §15.4.5: these responses end with their head. A body an
    upstream sends behind one anyway must not be read as the next response."""

    def check(self, answer, wait=0.0, pipelined=False, sent_twice=False):
        """For each bodiless response, answer(head): the upstream's answers to the first
        request and to the next one on its connection (scripted). Then a GET on
        the same client connection (after `wait` s, or pipelined behind the first). The
        GET gets the real response, from a fresh upstream connection (also, when
        sent_twice, after it went on the first one). Returns the /status bodies read
        before each GET."""
        statuses = []
        for method, head in BODILESS:
            up = self.scripted(*answer(head))
            srv = self.start_server(extra=proxy_config([up.address]))
            first = b"%s /api/first HTTP/1.1\r\nHost: a\r\n\r\n" % method
            second = b"GET /api/second HTTP/1.1\r\nHost: a\r\n\r\n"
            methods = [method.decode(), "GET"]
            with srv.connect() as s:
                s.sendall(first + second if pipelined else first)
                data, sent = b"", pipelined
                while len(parse_responses(data, methods)[0]) < 2:
                    if not sent and parse_responses(data, methods)[0]:
                        time.sleep(wait)
                        statuses.append(srv.get("/status").body)
                        s.sendall(second)
                        sent = True
                    s.settimeout(5)
                    chunk = s.recv(65536)
                    self.assertTrue(chunk, data)
                    data += chunk
            responses, rest = parse_responses(data, methods)
            self.assertEqual(rest, b"", head)
            self.assertEqual((responses[1].status, responses[1].body), (200, b"good"), head)
            expect = [(1, method.decode())] + [(1, "GET")] * sent_twice + [(2, "GET")]
            self.assertEqual(sorted(self.lines(up)), sorted(expect), head)
            srv.stop()
        return statuses

    def test_stray_body_with_the_head(self):
        self.check(lambda head: (head + STRAY, GOOD))

    def test_stray_body_arriving_while_the_connection_is_idle(self):
        # The body comes 0.2 s after the head, while the connection waits in the pool:
        # the connection is closed then, and the next request opens a fresh one.
        for status in self.check(lambda head: ([head, STRAY], GOOD), wait=0.5):
            self.assertIn(b'"idle":0', status)

    def test_stray_body_arriving_after_the_next_request_went_out(self):
        # Nothing could tell the connection apart when the next request was sent on it;
        # the body comes only then (the upstream sends it with that request's response).
        # The request is sent again on a fresh connection; the client gets the real response.
        self.check(lambda head: (head, STRAY + GOOD), sent_twice=True)

    def test_a_pipelined_request_does_not_take_the_connection_at_once(self):
        # The next request is already there when the bodiless response ends: the
        # connection it would take has not been watched for a stray body yet, so the
        # request goes on a fresh one, and only there.
        self.check(lambda head: ([head, STRAY], GOOD), pipelined=True)

    def test_a_post_after_a_bodiless_response_is_not_lost(self):
        # A POST is not sent twice; it waits for no stray body either: with none, the
        # pooled connection serves it.
        up = self.scripted(BODILESS[0][1])
        srv = self.start_server(extra=proxy_config([up.address]))
        with srv.connect() as s:
            s.sendall(b"HEAD /api/first HTTP/1.1\r\nHost: a\r\n\r\n")
            read_response(s, "HEAD")
            s.sendall(b"POST /api/second HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi")
            second, _ = read_response(s)
        self.assertEqual((second.status, second.body), (200, b"good"))
        self.assertEqual(self.lines(up), [(1, "HEAD"), (1, "POST")])


class UnreadInputTests(PoolCase):
    def test_bytes_behind_a_response_that_filled_the_read_buffer(self):
        # The whole response fills the proxy's 64 KiB read buffer exactly and 4 more
        # bytes wait in the socket: no new readiness edge will announce them. The worker
        # is stopped while the upstream sends, so one read takes the 64 KiB at once.
        head = b"HTTP/1.1 200 OK\r\nContent-Length: %05d\r\n\r\n"
        body_len = 65536 - len(head % 0)
        answer = (head % body_len) + b"x" * body_len + b"EVIL"
        worker = []

        def first(number, index, path):
            if number > 1 or index:
                return GOOD
            os.kill(worker[0], signal.SIGSTOP)
            threading.Timer(0.3, os.kill, (worker[0], signal.SIGCONT)).start()
            return answer
        up = ScriptedUpstream(first)
        self.addCleanup(up.close)
        srv = self.start_server(extra=proxy_config([up.address]))
        worker.append(srv.wait_workers(1)[0])
        with srv.connect() as s:
            s.sendall(b"GET /api/first HTTP/1.1\r\nHost: a\r\n\r\n")
            first_resp, _ = read_response(s)
            s.sendall(b"GET /api/second HTTP/1.1\r\nHost: a\r\n\r\n")
            second, _ = read_response(s)
        self.assertEqual(len(first_resp.body), body_len)
        self.assertEqual((second.status, second.body), (200, b"good"))
        self.assertEqual(self.lines(up), [(1, "GET"), (2, "GET")])


class TlsPoolTests(PoolCase):
    def test_tls_connections_are_reused(self):
        # Over TLS, what the session leaves unread (a late session ticket) is no stray
        # body: the connection is pooled and reused, one handshake for every request.
        backend, certs = tls_backend(self, "over tls")
        srv = self.start_server(extra=proxy_config(
            [f"127.0.0.1:{backend.port}"],
            upstream_extra=f"    tls: {{ca: {certs}/ca.pem, sni: localhost}}\n").replace(
                "connect_timeout: 1s", "connect_timeout: 10s").replace(
                "read_timeout: 1s", "read_timeout: 10s"))  # handshakes under valgrind
        for method in ("GET", "HEAD", "GET", "GET"):
            with srv.connect() as s:
                s.sendall(b"%s /api/plaintext HTTP/1.1\r\nHost: a\r\n\r\n" % method.encode())
                resp, _ = read_response(s, method, timeout=patience(5))
            self.assertEqual(resp.status, 200)
            time.sleep(0.2)
        with srv.connect() as s:
            s.sendall(b"GET /api/status HTTP/1.1\r\nHost: a\r\n\r\n")  # the backend's
            total = json.loads(read_response(s, timeout=patience(5))[0].body)["total"]
        self.assertEqual(total["tls"]["handshakes"], 1)


class IdleTimeTests(PoolCase):
    """An idle connection is closed after keepalive_timeout, or a little before the
    upstream closes it when its Keep-Alive field says when that is."""

    def idle_after(self, path, upstream_extra, waits):
        """One GET of path on a fresh proxy; then, for each wait, the pool's idle count
        that many seconds after the response, and the connections made by the next GET."""
        def answer(number, index, p):
            hint = p.rsplit("/", 1)[-1]
            field = b"Keep-Alive: timeout=%s\r\n" % hint[4:].encode() if hint[:4] == "hint" else b""
            return b"HTTP/1.1 200 OK\r\n" + field + b"Content-Length: 4\r\n\r\ngood"
        up = ScriptedUpstream(answer)
        self.addCleanup(up.close)
        srv = self.start_server(extra=proxy_config([up.address], upstream_extra=upstream_extra))
        seen = []
        with srv.connect() as s:
            for wait in waits:
                s.sendall(b"GET /api/%s HTTP/1.1\r\nHost: a\r\n\r\n" % path.encode())
                resp, _ = read_response(s)
                self.assertEqual(resp.status, 200)
                time.sleep(wait)
                idle = json.loads(srv.get("/status").body)["upstreams"]["app"][0]["idle"]
                seen.append(idle)
        srv.stop()
        return seen, up.connections

    def test_keepalive_timeout_closes_idle_connections(self):
        # 1.2 s: closed; 0.1 s: still there, and the next request takes it.
        self.assertEqual(self.idle_after("x", "    keepalive_timeout: 600ms\n", [1.2, 0.1, 0]),
                         ([0, 1, 1], 2))

    def test_the_upstream_keep_alive_timeout_is_honoured(self):
        # timeout=2: kept 1 s (a second before the upstream would close it).
        self.assertEqual(self.idle_after("hint2", "", [0.5, 1.4, 0]), ([1, 0, 1], 2))
        # timeout=1: kept half a second.
        self.assertEqual(self.idle_after("hint1", "", [0.8, 0]), ([0, 1], 2))
        # timeout=0: not kept at all.
        self.assertEqual(self.idle_after("hint0", "", [0, 0]), ([0, 0], 2))
        # A longer one than keepalive_timeout does not keep it longer.
        self.assertEqual(self.idle_after("hint100", "    keepalive_timeout: 400ms\n", [0.8, 0]),
                         ([0, 1], 2))


class CapTests(PoolCase):
    """`keepalive` bounds the idle connections of an upstream across its servers. Those of a
    server taken out of rotation serve nothing: they are closed, so the servers still in
    keep theirs."""

    def status(self, srv):
        return {s["server"]: s for s in json.loads(srv.get("/status").body)["upstreams"]["app"]}

    def checked_pair(self):
        """Servers a and b behind a proxy keeping 1 idle connection and checking health
        every 100 ms (one failure takes a server out), once both passed."""
        a, b = RawUpstream(), RawUpstream()
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        srv = self.start_server(extra=proxy_config(
            [a.address, b.address],
            upstream_extra="    keepalive: 1\n"
                           "    health: {path: /healthz, interval: 100ms, fails: 1, passes: 1}\n"
        ).replace("read_timeout: 1s", "read_timeout: 5s"))
        self.assertTrue(wait_for(lambda: a.health_checks >= 2 and b.health_checks >= 2, 5))
        return a, b, srv

    def assert_b_keeps_its_connection(self, srv, a, b):
        """a is out and keeps nothing idle; 4 requests go to b on one connection (health
        checks open connections of their own: those requests came on are counted)."""
        for _ in range(4):
            with srv.connect() as s:
                s.sendall(b"GET /api/echo HTTP/1.1\r\nHost: a\r\n\r\n")
                self.assertEqual(read_response(s)[0].status, 200)
        self.assertEqual(self.status(srv)[a.address]["idle"], 0)
        self.assertEqual(len(b.requests), 4)
        self.assertEqual(len({number for number, _, _ in b.requests}), 1)

    def test_a_server_out_by_health_check_leaves_its_share_of_the_pool(self):
        a, b, srv = self.checked_pair()
        with srv.connect() as s:
            s.sendall(b"GET /api/echo HTTP/1.1\r\nHost: a\r\n\r\n")
            self.assertEqual(read_response(s)[0].status, 200)
        self.assertEqual(self.status(srv)[a.address]["idle"], 1, (a.requests, b.requests))
        a.health_status = 503
        self.assertTrue(wait_for(lambda: not self.status(srv)[a.address]["up"], 3))
        self.assert_b_keeps_its_connection(srv, a, b)

    def test_a_connection_that_ends_while_its_server_is_out_is_not_kept(self):
        a, b, srv = self.checked_pair()
        with srv.connect() as s:
            s.sendall(b"GET /api/slow HTTP/1.1\r\nHost: a\r\n\r\n")  # a answers in 3 s
            self.assertTrue(wait_for(lambda: a.requests, 2))
            a.health_status = 503  # meanwhile a is taken out
            self.assertTrue(wait_for(lambda: not self.status(srv)[a.address]["up"], 2))
            self.assertEqual(read_response(s)[0].body, b"late")
        self.assert_b_keeps_its_connection(srv, a, b)

    def test_a_server_out_after_a_timeout_leaves_its_share_of_the_pool(self):
        # ip_hash sends every request of 127.0.0.1 to one server, X, until X is out.
        def answer(number, index, path):
            return [b""] * 10 if path.endswith("/hang") else GOOD  # /hang: 2 s of silence
        ups = [ScriptedUpstream(answer), ScriptedUpstream(answer)]
        for up in ups:
            self.addCleanup(up.close)
        srv = self.start_server(extra=proxy_config(
            [up.address for up in ups],
            upstream_extra="    balance: ip_hash\n    keepalive: 1\n    fail_timeout: 30s\n"))
        with srv.connect() as hang, srv.connect() as s:
            hang.sendall(b"GET /api/hang HTTP/1.1\r\nHost: a\r\n\r\n")
            self.assertTrue(wait_for(lambda: sum(len(up.requests) for up in ups) == 1, 3))
            s.sendall(b"GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n")
            self.assertEqual(read_response(s)[0].status, 200)
            x = next(up for up in ups if up.requests)
            self.assertEqual(self.status(srv)[x.address]["idle"], 1)
            self.assertEqual(read_response(hang)[0].status, 504)  # read_timeout: X is out
        y = next(up for up in ups if up is not x)
        for _ in range(3):
            with srv.connect() as s:
                s.sendall(b"GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n")
                self.assertEqual(read_response(s)[0].status, 200)
        self.assertEqual(self.status(srv)[x.address]["idle"], 0)
        self.assertEqual((len(y.requests), y.connections), (3, 1))


if __name__ == "__main__":
    run()
