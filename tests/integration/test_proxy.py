"""The proxy route against upstreams started by the test: a raw-socket upstream
that records what it receives and misbehaves on request, Python's http.server,
and flared itself. Covers header rewriting, framing in both directions, keep-alive
reuse, failover, 502/504, cut responses, smuggling attempts, health checks and
bounded memory while streaming."""

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flaredtest import (ServerTestCase, Server, parse_responses, read_response,  # noqa: E402
                        patience, read_until_close, rss_kib, run, wait_for)
from proxy_upstreams import RawUpstream, dead_address, headers_of  # noqa: E402


def proxy_config(servers, upstream_extra="", route_extra="strip_prefix: true"):
    listed = ", ".join(f'"{s}"' for s in servers)
    return (f"  - path: /api/\n"
            f"    proxy: {{upstream: app, {route_extra}}}\n"
            f"upstreams:\n"
            f"  app:\n"
            f"    servers: [{listed}]\n"
            f"    connect_timeout: 1s\n"
            f"    read_timeout: 1s\n"
            f"{upstream_extra}")


def tls_certs(test):
    """A folder of test certificates (test_tls.make_certs; ca.pem signed them) that
    test_tls.TlsServer copies from; skips test without openssl."""
    import test_tls
    if not test_tls.OPENSSL:
        test.skipTest("the openssl command is not installed")
    certs = tempfile.mkdtemp(prefix="flared-px-certs-")
    test.addCleanup(shutil.rmtree, certs, True)
    test_tls.make_certs(certs)
    test_tls.CERTS = certs
    return certs


def tls_backend(test, text):
    """A started flared HTTPS server (test_tls.TlsServer) whose /plaintext answers text,
    and the folder of its certificates (ca.pem signed them); skips test without openssl."""
    import test_tls
    certs = tls_certs(test)
    backend = test_tls.TlsServer(text=text)
    test.addCleanup(backend.cleanup)
    backend.start()
    return backend, certs


class ProxyCase(ServerTestCase):
    def upstream(self, **kwargs):
        up = RawUpstream(**kwargs)
        self.addCleanup(up.close)
        return up

    def proxy(self, servers, **kwargs):
        return self.start_server(extra=proxy_config(servers, **kwargs))

    def request(self, srv, raw, method="GET"):
        with srv.connect() as s:
            s.sendall(raw)
            resp, _ = read_response(s, method)
            return resp

    def server_up(self, srv, address):
        """Whether the status route says the worker sends requests to upstream server
        address (published once a second: it says what health checks decided)."""
        servers = json.loads(srv.get("/status").body)["upstreams"]["app"]
        return {s["server"]: s["up"] for s in servers}[address]


class HeaderTests(ProxyCase):
    def test_request_is_rewritten(self):
        up = self.upstream()
        srv = self.proxy([up.address])
        resp = self.request(srv, b"GET /api/echo?x=1 HTTP/1.1\r\nHost: front.example:8080\r\n"
                                 b"Connection: keep-alive, X-Secret\r\nX-Secret: s\r\n"
                                 b"Keep-Alive: timeout=9\r\nTE: trailers\r\n"
                                 b"Proxy-Authorization: Basic eA==\r\nProxy: http://evil:1\r\n"
                                 b"X-Forwarded-For: 10.0.0.9\r\n"
                                 b"X-Forwarded-Proto: https\r\nX-Real-IP: 10.6.6.6\r\n"
                                 b"X_Real_IP: 10.6.6.7\r\nX-Forwarded-Port: 1\r\n"
                                 b"X-Forwarded-Prefix: /evil\r\nX_Forwarded_Port: 2\r\n"
                                 b"x_forwarded_prefix: /evil2\r\nUser-Agent: t\r\n\r\n")
        self.assertEqual(resp.status, 200)
        head = json.loads(resp.body)["head"]
        self.assertTrue(head.startswith("GET /echo?x=1 HTTP/1.1\r\n"), head)
        fields = {}
        for name, value in headers_of(head):
            fields.setdefault(name.lower(), []).append(value)
        # "proxy": httpoxy, a CGI upstream would read it as its HTTP_PROXY setting
        for hop in ("connection", "x-secret", "keep-alive", "te", "proxy-authorization", "proxy"):
            self.assertNotIn(hop, fields, head)
        self.assertEqual(fields["host"], ["app"])
        self.assertEqual(fields["x-forwarded-for"], ["10.0.0.9, 127.0.0.1"])
        self.assertEqual(fields["x-real-ip"], ["127.0.0.1"])  # the client's own is dropped
        # CGI-style upstreams read X_Forwarded_Port as X-Forwarded-Port (HTTP_X_FORWARDED_PORT)
        for spoof in ("x_real_ip", "x-forwarded-port", "x-forwarded-prefix", "x_forwarded_port",
                      "x_forwarded_prefix"):
            self.assertNotIn(spoof, fields, head)
        self.assertEqual(fields["x-forwarded-proto"], ["http"])
        self.assertEqual(fields["x-forwarded-host"], ["front.example:8080"])
        self.assertEqual(fields["forwarded"],
                         ['for=127.0.0.1;host="front.example:8080";proto=http'])
        self.assertEqual(fields["via"], ["1.1 flared"])
        self.assertEqual(fields["user-agent"], ["t"])
        self.assertNotIn("content-length", fields)  # a GET without a body gets none
        self.assertEqual(resp.header("Via"), "1.1 flared")

    def test_strip_prefix_of_escaped_or_doubled_path(self):
        # The router matches "/%61pi/" and "//api//" to "/api/": what is stripped is the
        # part of the request that matched, not as many bytes as the route's path has.
        up = self.upstream()
        srv = self.proxy([up.address])
        for target, forwarded in ((b"/%61pi/echo?x=1", "/echo?x=1"),
                                  (b"/%61%70%69/echo", "/echo"),
                                  (b"//api//echo", "//echo"),
                                  (b"/API/echo", None)):
            with self.subTest(target=target):
                resp = self.request(srv, b"GET " + target + b" HTTP/1.1\r\nHost: a\r\n\r\n")
                if forwarded is None:
                    self.assertEqual(resp.status, 404)
                    continue
                self.assertEqual(resp.status, 200)
                head = json.loads(resp.body)["head"]
                self.assertTrue(head.startswith(f"GET {forwarded} HTTP/1.1\r\n"), head)

    def test_preserve_host_and_no_strip(self):
        up = self.upstream()
        srv = self.proxy([up.address], route_extra="preserve_host: true")
        resp = self.request(srv, b"GET /api/echo HTTP/1.1\r\nHost: front.example\r\n\r\n")
        head = json.loads(resp.body)["head"]
        self.assertTrue(head.startswith("GET /api/echo HTTP/1.1\r\n"), head)
        self.assertIn(("Host", "front.example"), headers_of(head))

    def test_response_hop_by_hop_removed(self):
        up = self.upstream()
        srv = self.proxy([up.address])
        resp = self.request(srv, b"GET /api/hop HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.body, b"ok")
        names = [n.lower() for n, _ in resp.headers]
        for hop in ("x-hop", "keep-alive", "proxy-foo"):
            self.assertNotIn(hop, names)
        self.assertEqual(resp.header("X-End"), "2")
        self.assertEqual(resp.header("Server"), "flared")  # one Server field, ours
        self.assertIsNone(resp.header("Connection"))

    def test_request_bodies_keep_their_framing(self):
        up = self.upstream()
        srv = self.proxy([up.address])
        resp = self.request(srv, b"POST /api/echo HTTP/1.1\r\nHost: a\r\n"
                                 b"Transfer-Encoding: chunked\r\n\r\n"
                                 b"3;x=y\r\nabc\r\n4\r\ndefg\r\n0\r\nT: 1\r\n\r\n")
        echoed = json.loads(resp.body)
        self.assertEqual(echoed["body"], "abcdefg")
        fields = dict((n.lower(), v) for n, v in headers_of(echoed["head"]))
        self.assertEqual(fields["transfer-encoding"], "chunked")  # re-framed, streamed
        self.assertNotIn("content-length", fields)
        self.assertNotIn("t", fields)
        resp = self.request(srv, b"POST /api/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                                 b"\r\nhello")
        echoed = json.loads(resp.body)
        self.assertEqual(echoed["body"], "hello")
        fields = dict((n.lower(), v) for n, v in headers_of(echoed["head"]))
        self.assertEqual(fields["content-length"], "5")


class FramingTests(ProxyCase):
    def test_chunked_close_delimited_head_and_204(self):
        up = self.upstream()
        srv = self.proxy([up.address])
        with srv.connect() as s:
            s.sendall(b"GET /api/chunked HTTP/1.1\r\nHost: a\r\n\r\n"
                      b"GET /api/close HTTP/1.1\r\nHost: a\r\n\r\n"
                      b"HEAD /api/big5000 HTTP/1.1\r\nHost: a\r\n\r\n"
                      b"GET /api/nocontent HTTP/1.1\r\nHost: a\r\n\r\n"
                      b"GET /api/interim HTTP/1.1\r\nHost: a\r\n\r\n")
            data = b""
            methods = ["GET", "GET", "HEAD", "GET", "GET", "GET"]  # 103 takes a place
            deadline = time.monotonic() + 10
            while len(parse_responses(data, methods)[0]) < 6 and time.monotonic() < deadline:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            responses, rest = parse_responses(data, methods)
        self.assertEqual([r.status for r in responses], [200, 200, 200, 204, 103, 201], data[:800])
        # RFC 9110 §15.2: the 103 is passed on, the 100 (Expect is answered here) is not.
        self.assertEqual(responses[4].header("Link"), "</a>")
        self.assertEqual(responses[0].body, b"hello, world")
        self.assertEqual(responses[0].header("Transfer-Encoding"), "chunked")
        self.assertEqual(responses[1].body, b"until the end")
        self.assertEqual(responses[1].header("Transfer-Encoding"), "chunked")
        self.assertEqual(responses[2].header("Content-Length"), "5000")
        self.assertEqual(responses[5].body, b"done")
        self.assertEqual(rest, b"")

    def test_http10_client_gets_close_delimited_body(self):
        up = self.upstream()
        srv = self.proxy([up.address])
        data, closed = srv.exchange(b"GET /api/chunked HTTP/1.0\r\nHost: a\r\n\r\n")
        self.assertTrue(closed)
        self.assertTrue(data.endswith(b"\r\n\r\nhello, world"), data)
        self.assertNotIn(b"chunked", data)


class FailureTests(ProxyCase):
    def test_malformed_upstream_is_502(self):
        up = self.upstream()
        srv = self.proxy([up.address])
        for path in (b"malformed", b"smuggle"):
            resp = self.request(srv, b"GET /api/" + path + b" HTTP/1.1\r\nHost: a\r\n\r\n")
            self.assertEqual(resp.status, 502)
            self.assertNotIn(b"ok", resp.body)
        resp = self.request(srv, b"GET /api/echo HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertEqual(resp.status, 200)

    def test_killed_mid_response_is_cut(self):
        up = self.upstream()
        srv = self.proxy([up.address])
        for path, framing in ((b"kill", b"Content-Length: 1000"),
                              (b"killchunked", b"Transfer-Encoding: chunked")):
            data, closed = srv.exchange(b"GET /api/" + path + b" HTTP/1.1\r\nHost: a\r\n\r\n"
                                        b"GET /api/echo HTTP/1.1\r\nHost: a\r\n\r\n")
            self.assertTrue(closed)
            self.assertIn(framing, data)
            self.assertNotIn(b"\r\n0\r\n\r\n", data)  # never a complete chunked body
            self.assertEqual(data.count(b"HTTP/1.1"), 1)  # the pipelined request is dropped
            responses, rest = parse_responses(data)
            self.assertEqual(responses, [])  # incomplete: the client can tell

    def test_all_down_is_502(self):
        srv = self.proxy([dead_address(), dead_address()])
        resp = self.request(srv, b"GET /api/echo HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertEqual(resp.status, 502)
        servers = json.loads(srv.get("/status").body)["upstreams"]["app"]
        self.assertEqual([(s["up"], s["failures"]) for s in servers], [(False, 1), (False, 1)])
        resp = self.request(srv, b"GET /api/echo HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertEqual(resp.status, 502)  # both out for fail_timeout: no attempt at all
        servers = json.loads(srv.get("/status").body)["upstreams"]["app"]
        self.assertEqual([s["attempts"] for s in servers], [1, 1])

    def test_connect_failure_fails_over(self):
        up = self.upstream()
        srv = self.proxy([dead_address(), up.address])
        for _ in range(6):
            resp = self.request(srv, b"GET /api/echo HTTP/1.1\r\nHost: a\r\n\r\n")
            self.assertEqual(resp.status, 200)
        self.assertEqual(len(up.requests), 6)

    def test_reset_retried_once_for_idempotent_only(self):
        a, b, c = self.upstream(), self.upstream(), self.upstream()
        srv = self.proxy([a.address, b.address, c.address])

        def received():
            return len(a.requests) + len(b.requests) + len(c.requests)
        resp = self.request(srv, b"GET /api/reset HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertEqual(resp.status, 502)
        self.assertEqual(received(), 2)  # tried, then retried once on the next server
        resp = self.request(srv, b"POST /api/reset HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
                                 b"\r\nx")
        self.assertEqual(resp.status, 502)
        self.assertEqual(received(), 3)  # a POST is never repeated

    def test_slow_upstream_is_504(self):
        up = self.upstream()
        srv = self.proxy([up.address])
        start = time.monotonic()
        resp = self.request(srv, b"GET /api/slow HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertEqual(resp.status, 504)
        self.assertLess(time.monotonic() - start, 2.9)


class BalanceTests(ProxyCase):
    def test_round_robin_spreads_and_ip_hash_sticks(self):
        ups = [self.upstream() for _ in range(3)]
        srv = self.proxy([u.address for u in ups])
        for _ in range(9):
            self.assertEqual(self.request(srv, b"GET /api/echo HTTP/1.1\r\nHost: a\r\n\r\n")
                             .status, 200)
        self.assertEqual([len(u.requests) for u in ups], [3, 3, 3])
        ups = [self.upstream() for _ in range(3)]
        srv = self.proxy([u.address for u in ups], upstream_extra="    balance: ip_hash\n")
        for _ in range(6):
            self.request(srv, b"GET /api/echo HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertEqual(sorted(len(u.requests) for u in ups), [0, 0, 6])

    def test_least_conn_avoids_the_busy_server(self):
        a, b = self.upstream(), self.upstream()
        srv = self.start_server(extra=proxy_config([a.address, b.address],
                                                   upstream_extra="    balance: least_conn\n")
                                .replace("read_timeout: 1s", "read_timeout: 10s"))
        slow = srv.connect(timeout=10)
        self.addCleanup(slow.close)
        slow.sendall(b"GET /api/slow HTTP/1.1\r\nHost: a\r\n\r\n")  # holds one server
        self.assertTrue(wait_for(lambda: len(a.requests) + len(b.requests) == 1, 5))
        busy = a if a.requests else b
        for _ in range(4):
            self.assertEqual(self.request(srv, b"GET /api/echo HTTP/1.1\r\nHost: a\r\n\r\n")
                             .status, 200)
        self.assertEqual(len(busy.requests), 1)

    def test_server_named_by_host(self):
        # "localhost" is resolved as the config loads (from /etc/hosts here), each of
        # its addresses a server of its own: an IPv6 one, where the hosts file lists
        # ::1 too, fails to connect and the request moves on to 127.0.0.1.
        up = self.upstream()
        srv = self.proxy([f"localhost:{up.port}"])
        for _ in range(3):
            resp = self.request(srv, b"GET /api/echo HTTP/1.1\r\nHost: a\r\n\r\n")
            self.assertEqual(resp.status, 200, resp.body)
        self.assertEqual(len(up.requests), 3)

    def test_unix_socket_upstream(self):
        path = os.path.join(tempfile.mkdtemp(prefix="flared-px-"), "up.sock")
        up = self.upstream(unix_path=path)
        srv = self.proxy([up.address])
        resp = self.request(srv, b"GET /api/echo HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertEqual(resp.status, 200)
        self.assertIn(("X-Forwarded-For", "127.0.0.1"), headers_of(json.loads(resp.body)["head"]))


class TlsUpstreamTests(ProxyCase):
    def test_https_upstream(self):
        backend, certs = tls_backend(self, "over tls")
        # Handshakes are slow under valgrind: a generous connect budget.
        srv = self.start_server(extra=proxy_config(
            [f"127.0.0.1:{backend.port}"],
            upstream_extra=f"    tls: {{ca: {certs}/ca.pem, sni: localhost}}\n"
                           "    health: {interval: 100ms, fails: 1, passes: 1}\n").replace(
                "connect_timeout: 1s", "connect_timeout: 10s").replace(
                "read_timeout: 1s", "read_timeout: 10s"))
        time.sleep(0.5)  # several health checks: over TLS they must not take the server out
        with srv.connect() as s:
            for _ in range(3):
                s.sendall(b"GET /api/plaintext HTTP/1.1\r\nHost: a\r\n\r\n")
                resp, _ = read_response(s)
                self.assertEqual(resp.status, 200)
                self.assertEqual(resp.body, b"over tls")
            s.sendall(b"POST /api/raw HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"5\r\nhello\r\n0\r\n\r\n")
            resp, _ = read_response(s)
            self.assertEqual(resp.body, b"hello")
        # A CA that did not sign the server's certificate: nothing is sent, 502.
        bad = self.proxy([f"127.0.0.1:{backend.port}"],
                         upstream_extra=f"    tls: {{ca: {certs}/rogue-ca.pem}}\n")
        resp = self.request(bad, b"GET /api/plaintext HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertEqual(resp.status, 502)

    def test_server_named_by_host_is_verified_by_that_name(self):
        # Without `sni`, a server given as localhost:PORT is asked for and checked
        # against "localhost", which its certificate names (and no IP address of it).
        import test_tls
        certs = tls_certs(self)
        backend = test_tls.TlsServer(text="by name",
                                     tls="certificates:\n  - {cert: named.pem, key: named.key}\n")
        self.addCleanup(backend.cleanup)
        backend.start()
        srv = self.start_server(extra=proxy_config(
            [f"localhost:{backend.port}"],
            upstream_extra=f"    tls: {{ca: {certs}/ca.pem}}\n").replace(
                "connect_timeout: 1s", "connect_timeout: 10s").replace(
                "read_timeout: 1s", "read_timeout: 10s"))
        resp = self.request(srv, b"GET /api/plaintext HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertEqual((resp.status, resp.body), (200, b"by name"))

    def test_health_check_speaks_tls(self):
        # The check is a real request over TLS: a path the server answers 404 takes it
        # out (a completed TCP connect used to pass); one it answers 200 keeps it in.
        backend, certs = tls_backend(self, "over tls")
        for path, want in [("/plaintext", 200), ("/no-such-page", 502)]:
            with self.subTest(path=path):
                srv = self.start_server(extra=proxy_config(
                    [f"127.0.0.1:{backend.port}"],
                    upstream_extra=f"    tls: {{ca: {certs}/ca.pem, sni: localhost}}\n"
                                   f"    health: {{path: {path}, interval: 100ms, fails: 1, "
                                   "passes: 1}\n").replace(
                        "connect_timeout: 1s", "connect_timeout: 10s").replace(
                        "read_timeout: 1s", "read_timeout: 10s"))
                if want == 502:  # once a check has failed (a TLS handshake, slow under ASan)
                    self.assertTrue(wait_for(lambda: not self.server_up(
                        srv, f"127.0.0.1:{backend.port}"), patience(5)), srv.log())
                else:
                    time.sleep(0.6)  # several checks, which must not take it out
                resp = self.request(srv, b"GET /api/plaintext HTTP/1.1\r\nHost: a\r\n\r\n")
                self.assertEqual(resp.status, want, resp.body)
                srv.cleanup()


class DrainTests(ProxyCase):
    def test_sigterm_lets_a_proxied_request_finish(self):
        import signal as sig
        up = self.upstream()
        srv = self.start_server(extra=proxy_config([up.address]).replace("read_timeout: 1s",
                                                                          "read_timeout: 10s"))
        with srv.connect(timeout=10) as s:
            s.sendall(b"GET /api/slow HTTP/1.1\r\nHost: a\r\n\r\n")
            self.assertTrue(wait_for(lambda: len(up.requests) == 1, 5))
            srv.signal(sig.SIGTERM)
            resp, _ = read_response(s, timeout=10)
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.body, b"late")
        self.assertTrue(resp.closes())
        self.assertEqual(srv.wait(10), 0)


class KeepAliveTests(ProxyCase):
    def test_upstream_connections_are_reused(self):
        up = self.upstream()
        srv = self.proxy([up.address])
        for _ in range(10):
            with srv.connect() as s:
                s.sendall(b"GET /api/echo HTTP/1.1\r\nHost: a\r\n\r\n")
                resp, _ = read_response(s)
                self.assertEqual(resp.status, 200)
        self.assertEqual(len(up.requests), 10)
        self.assertEqual(up.connections, 1)
        status = json.loads(srv.get("/status").body)
        self.assertEqual(status["upstreams"], {"app": [{
            "server": up.address, "up": True, "attempts": 10, "responses": 10, "failures": 0,
            "in_flight": 0, "idle": 1}]})

    def test_keepalive_zero_closes(self):
        up = self.upstream()
        srv = self.proxy([up.address], upstream_extra="    keepalive: 0\n")
        for _ in range(3):
            self.assertEqual(self.request(srv, b"GET /api/echo HTTP/1.1\r\nHost: a\r\n\r\n")
                             .status, 200)
        self.assertEqual(up.connections, 3)


class SmugglingTests(ProxyCase):
    ATTEMPTS = [
        b"POST /api/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /api/echo HTTP/1.1\r\nHost: a\r\n\r\n",
        b"POST /api/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\n"
        b"abcd",
        b"GET /api/echo HTTP/1.1\r\nHost: a\r\nX-Folded: a\r\n b\r\n\r\n",
        b"POST /api/echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n"
        b"0\r\n\r\n",
        b"GET /api/echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    ]

    def test_ambiguous_requests_never_reach_the_upstream(self):
        up = self.upstream()
        srv = self.proxy([up.address])
        for attempt in self.ATTEMPTS:
            data, closed = srv.exchange(attempt)
            self.assertTrue(closed, attempt)
            self.assertRegex(data, rb"^HTTP/1.1 (400|501) ", attempt)
        self.assertEqual(up.requests, [])


class StreamingTests(ProxyCase):
    def test_100_mib_response_with_bounded_memory(self):
        up = self.upstream()
        srv = self.start_server(extra=proxy_config([up.address]).replace("read_timeout: 1s",
                                                                          "read_timeout: 20s"))
        worker = wait_for(srv.workers, 5)[0]
        before = rss_kib(worker)
        size = 100 << 20
        peak = before
        with srv.connect(timeout=30) as s:
            s.sendall(b"GET /api/big%d HTTP/1.1\r\nHost: a\r\n\r\n" % size)
            got = 0
            head = b""
            while b"\r\n\r\n" not in head:
                head += s.recv(65536)
            got = len(head) - head.index(b"\r\n\r\n") - 4
            n = 0
            while got < size:
                chunk = s.recv(1 << 20)
                self.assertTrue(chunk)
                got += len(chunk)
                n += 1
                if n % 64 == 0:
                    peak = max(peak, rss_kib(worker))
        self.assertEqual(got, size)
        self.assertLess(peak - before, 16 * 1024, f"RSS grew from {before} to {peak} KiB")

    def test_slow_client_fast_upstream(self):
        up = self.upstream()
        srv = self.start_server(extra=proxy_config([up.address]).replace("read_timeout: 1s",
                                                                          "read_timeout: 20s"))
        worker = wait_for(srv.workers, 5)[0]
        before = rss_kib(worker)
        size = 32 << 20
        with srv.connect(timeout=30, rcvbuf=16384) as s:
            s.sendall(b"GET /api/big%d HTTP/1.1\r\nHost: a\r\n\r\n" % size)
            time.sleep(1.5)  # the client does not read: flared must not buffer it all
            stalled = rss_kib(worker)
            head = b""
            while b"\r\n\r\n" not in head:
                head += s.recv(4096)
            got = len(head) - head.index(b"\r\n\r\n") - 4
            while got < size:
                chunk = s.recv(1 << 16)
                self.assertTrue(chunk, f"closed after {got} bytes")
                got += len(chunk)
        self.assertEqual(got, size)
        self.assertLess(stalled - before, 8 * 1024, f"RSS {before} -> {stalled} KiB while stalled")


class UploadTests(ProxyCase):
    def upload(self, srv, path, size, chunked, worker):
        """Sends size pseudo-random bytes; returns (response, peak RSS growth in KiB)."""
        import hashlib
        block = os.urandom(1 << 20)
        digest = hashlib.sha256()
        before = peak = rss_kib(worker)
        with srv.connect(timeout=60) as s:
            framing = (b"Transfer-Encoding: chunked" if chunked
                       else b"Content-Length: %d" % size)
            s.sendall(b"POST " + path + b" HTTP/1.1\r\nHost: a\r\n" + framing + b"\r\n\r\n")
            sent = 0
            while sent < size:
                piece = block[:min(len(block), size - sent)]
                digest.update(piece)
                s.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                sent += len(piece)
                if sent % (8 << 20) == 0:
                    peak = max(peak, rss_kib(worker))
            if chunked:
                s.sendall(b"0\r\n\r\n")
            resp, _ = read_response(s, timeout=60)
        return resp, digest.hexdigest(), peak - before

    def test_100_mib_uploads_stream_with_bounded_memory(self):
        up = self.upstream()
        srv = self.start_server(extra=proxy_config([up.address]).replace(
            "proxy: {upstream: app,", "max_body_bytes: 1g\n    proxy: {upstream: app,")
            .replace("read_timeout: 1s", "read_timeout: 20s"))
        worker = wait_for(srv.workers, 5)[0]
        for chunked in (False, True):
            size = 100 << 20
            resp, digest, growth = self.upload(srv, b"/api/upload", size, chunked, worker)
            self.assertEqual(resp.status, 200, resp)
            self.assertEqual(json.loads(resp.body), {"length": size, "sha256": digest})
            self.assertLess(growth, 16 * 1024, f"RSS grew by {growth} KiB")
        resp, digest, growth = self.upload(srv, b"/api/uploadslow", 32 << 20, False, worker)
        self.assertEqual(json.loads(resp.body)["sha256"], digest)
        self.assertLess(growth, 16 * 1024, f"RSS grew by {growth} KiB with a slow upstream")

    def test_upstream_refusing_an_upload_early(self):
        up = self.upstream()
        srv = self.start_server(extra=proxy_config([up.address]).replace(
            "proxy: {upstream: app,", "max_body_bytes: 1g\n    proxy: {upstream: app,")
            .replace("read_timeout: 1s", "read_timeout: 20s"))
        start = time.monotonic()
        with srv.connect(timeout=20) as s:
            s.sendall(b"POST /api/reject HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n"
                      % (64 << 20))
            block = b"z" * (1 << 20)
            try:
                for _ in range(64):
                    s.sendall(block)
            except OSError:
                pass  # flared may close once the answer is out
            data, closed = read_until_close(s, 20)
        self.assertTrue(data.startswith(b"HTTP/1.1 413 "), data[:200])
        self.assertTrue(data.endswith(b"nope"), data[:300])
        self.assertLess(time.monotonic() - start, 15)

    def test_upload_over_the_limit(self):
        up = self.upstream()
        srv = self.start_server(extra=proxy_config([up.address]).replace(
            "proxy: {upstream: app,", "max_body_bytes: 1k\n    proxy: {upstream: app,"))
        data, closed = srv.exchange(b"POST /api/upload HTTP/1.1\r\nHost: a\r\n"
                                    b"Content-Length: 2000\r\n\r\n" + b"x" * 2000)
        self.assertTrue(data.startswith(b"HTTP/1.1 413 "), data)
        data, closed = srv.exchange(b"POST /api/upload HTTP/1.1\r\nHost: a\r\n"
                                    b"Transfer-Encoding: chunked\r\n\r\n" +
                                    b"400\r\n" + b"x" * 1024 + b"\r\n" * 1 +
                                    b"400\r\n" + b"x" * 1024 + b"\r\n0\r\n\r\n")
        self.assertTrue(closed)
        self.assertNotIn(b"HTTP/1.1 200", data)


class HealthTests(ProxyCase):
    def test_health_check_takes_server_out_and_back(self):
        a = self.upstream()
        b = self.upstream()
        srv = self.proxy([a.address, b.address],
                         upstream_extra="    health: {path: /healthz, interval: 100ms, fails: 1, "
                                        "passes: 1}\n")
        self.assertTrue(wait_for(lambda: a.health_checks >= 2 and b.health_checks >= 2, 5))
        a.health_status = 503
        self.assertTrue(wait_for(lambda: not self.server_up(srv, a.address), patience(5)),
                        srv.log())
        before = len(a.requests)
        for _ in range(6):
            self.assertEqual(self.request(srv, b"GET /api/echo HTTP/1.1\r\nHost: a\r\n\r\n")
                             .status, 200)
        self.assertEqual(len(a.requests), before)  # out of rotation
        a.health_status = 200
        self.assertTrue(wait_for(lambda: self.server_up(srv, a.address), patience(5)),
                        srv.log())
        for _ in range(6):
            self.assertEqual(self.request(srv, b"GET /api/echo HTTP/1.1\r\nHost: a\r\n\r\n")
                             .status, 200)
        self.assertGreater(len(a.requests), before)  # back in


class RealUpstreamTests(ProxyCase):
    def test_python_http_server(self):
        root = tempfile.mkdtemp(prefix="flared-px-")
        with open(os.path.join(root, "file.txt"), "wb") as f:
            f.write(b"x" * 100000)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                                 "127.0.0.1", "--directory", root],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(proc.wait)
        self.addCleanup(proc.kill)
        def accepts():
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                return True
            except OSError:
                return False
        self.assertTrue(wait_for(accepts, 10))
        srv = self.proxy([f"127.0.0.1:{port}"])
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
        for _ in range(3):
            conn.request("GET", "/api/file.txt")
            r = conn.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.read(), b"x" * 100000)
        conn.request("GET", "/api/missing")
        r = conn.getresponse()
        r.read()
        self.assertEqual(r.status, 404)

    def test_flared_as_upstream(self):
        backend = self.start_server(text="from the backend")
        srv = self.proxy([f"127.0.0.1:{backend.port}"])
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
        for _ in range(20):
            conn.request("GET", "/api/plaintext")
            r = conn.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.read(), b"from the backend")
        conn.request("POST", "/api/raw", body=b"y" * 200000)
        r = conn.getresponse()
        self.assertEqual(r.read(), b"y" * 200000)


NODE_WS_ECHO = """
const WebSocket = require('/usr/share/nodejs/ws');
const wss = new WebSocket.Server({host: '127.0.0.1', port: 0}, () => {
  console.log(wss.address().port);
});
wss.on('connection', (ws, req) => {
  ws.send('hello ' + req.url + ' ' + (req.headers['x-forwarded-for'] || ''));
  ws.on('message', (m, binary) => ws.send(m, {binary: binary}));
});
"""


def ws_frame(payload, opcode=1):
    """A masked client frame (RFC 6455 §5.2); payload under 64 KiB."""
    mask = os.urandom(4)
    head = bytes([0x80 | opcode])
    if len(payload) < 126:
        head += bytes([0x80 | len(payload)])
    else:
        head += bytes([0x80 | 126]) + len(payload).to_bytes(2, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ws_read_frame(sock, buf):
    """(opcode, payload) of one unmasked server frame; buf carries extra bytes."""
    def need(n):
        while len(buf[0]) < n:
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError("closed while reading a frame")
            buf[0] += chunk
    need(2)
    opcode, length = buf[0][0] & 0x0F, buf[0][1] & 0x7F
    start = 2
    if length == 126:
        need(4)
        length, start = int.from_bytes(buf[0][2:4], "big"), 4
    elif length == 127:
        need(10)
        length, start = int.from_bytes(buf[0][2:10], "big"), 10
    need(start + length)
    payload = buf[0][start:start + length]
    buf[0] = buf[0][start + length:]
    return opcode, payload


class WebSocketTests(ProxyCase):
    def test_pass_through_to_node_ws(self):
        node = subprocess.Popen(["node", "-e", NODE_WS_ECHO], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        self.addCleanup(node.stdout.close)
        self.addCleanup(node.wait)
        self.addCleanup(node.kill)
        port = int(node.stdout.readline())
        srv = self.proxy([f"127.0.0.1:{port}"])
        with srv.connect() as s:
            s.sendall(b"GET /api/chat?room=1 HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
                      b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                      b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n" +
                      ws_frame(b"early"))
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = s.recv(4096)
                self.assertTrue(chunk, head)
                head += chunk
            head, _, rest = head.partition(b"\r\n\r\n")
            self.assertTrue(head.startswith(b"HTTP/1.1 101 "), head)
            self.assertIn(b"\r\nUpgrade: websocket", head)
            self.assertIn(b"\r\nConnection: upgrade", head)
            self.assertIn(b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", head)
            buf = [rest]
            self.assertEqual(ws_read_frame(s, buf), (1, b"hello /chat?room=1 127.0.0.1"))
            self.assertEqual(ws_read_frame(s, buf), (1, b"early"))
            big = os.urandom(60000)
            for i in range(20):
                s.sendall(ws_frame(b"msg %d" % i))
                self.assertEqual(ws_read_frame(s, buf), (1, b"msg %d" % i))
            s.sendall(ws_frame(big, opcode=2))
            self.assertEqual(ws_read_frame(s, buf), (2, big))
            s.sendall(ws_frame(b"\x03\xe8", opcode=8))
            self.assertEqual(ws_read_frame(s, buf)[0], 8)
            data, closed = read_until_close(s, 5)
            self.assertTrue(closed)  # node closed the TCP connection, so does flared

    def test_upgrade_refused_is_an_ordinary_response(self):
        up = self.upstream()
        srv = self.proxy([up.address])
        resp = self.request(srv, b"GET /api/echo HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n"
                                 b"Upgrade: websocket\r\n\r\n")
        self.assertEqual(resp.status, 200)
        fields = dict((n.lower(), v) for n, v in headers_of(json.loads(resp.body)["head"]))
        self.assertEqual(fields["upgrade"], "websocket")
        self.assertEqual(fields["connection"], "upgrade")


class ClientAddressTests(ProxyCase):
    """The client address the upstream sees comes after PROXY protocol and trusted_proxies."""

    def test_proxy_protocol_client_reaches_the_upstream(self):
        up = self.upstream()
        srv = Server(extra=proxy_config([up.address]))
        self.addCleanup(srv.cleanup)
        base = srv.config_text
        srv.config_text = lambda **kw: base(**kw).replace(
            "    reuseport: false\n", "    reuseport: false\n    proxy_protocol: true\n", 1)
        srv.start()
        with srv.connect() as s:
            s.sendall(b"PROXY TCP4 198.51.100.9 127.0.0.1 5555 80\r\n"
                      b"GET /api/echo HTTP/1.1\r\nHost: a\r\n\r\n")
            resp, _ = read_response(s)
        self.assertEqual(resp.status, 200)
        fields = dict((n.lower(), v) for n, v in headers_of(json.loads(resp.body)["head"]))
        self.assertEqual(fields["x-forwarded-for"], "198.51.100.9")
        self.assertEqual(fields["forwarded"], 'for=198.51.100.9;host=a;proto=http')

    def test_trusted_proxy_forwards_its_client(self):
        up = self.upstream()
        srv = self.start_server(extra=proxy_config([up.address]) +
                                "trusted_proxies: [127.0.0.1]\n")
        resp = self.request(srv, b"GET /api/echo HTTP/1.1\r\nHost: a\r\n"
                                 b"X-Forwarded-For: 203.0.113.7\r\n\r\n")
        self.assertEqual(resp.status, 200)
        fields = dict((n.lower(), v) for n, v in headers_of(json.loads(resp.body)["head"]))
        self.assertEqual(fields["forwarded"], 'for=203.0.113.7;host=a;proto=http')
        self.assertTrue(fields["x-forwarded-for"].startswith("203.0.113.7"), fields)
        # An untrusted peer's X-Forwarded-For is kept as written, never believed.
        srv2 = self.proxy([up.address])
        resp = self.request(srv2, b"GET /api/echo HTTP/1.1\r\nHost: a\r\n"
                                  b"X-Forwarded-For: 203.0.113.7\r\n\r\n")
        fields = dict((n.lower(), v) for n, v in headers_of(json.loads(resp.body)["head"]))
        self.assertEqual(fields["forwarded"], 'for=127.0.0.1;host=a;proto=http')


if __name__ == "__main__":
    run()
