"""$request_id against the real flared: 32 lowercase hex digits in the access log,
a new one for every request (separate connections, keep-alive, pipelined), none
shared between two workers or two runs, and the id a proxy route sends upstream
in `request_headers: {X-Request-ID: $request_id}` equal to the one logged for the
same request (the client's own X-Request-ID is not believed). A head the server
refuses before any route (400, 414, 431, 501, 505, 408) is logged with an id of its
own as well."""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flaredtest as ft  # noqa: E402
from flaredtest import parse_responses, read_response  # noqa: E402
from proxy_upstreams import RawUpstream, headers_of  # noqa: E402
from test_proxy import proxy_config  # noqa: E402

LOG_FORMAT = "$request_id $worker $connection_requests $request_uri $status"
LINE = re.compile(r"^(?P<id>\S+) (?P<worker>\d+) (?P<nth>\d+) (?P<uri>\S+) (?P<status>\d{3})$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")


class RequestIdCase(ft.ServerTestCase):
    def start_logged(self, workers=1, upstream=None):
        srv = ft.Server(workers=workers, reuseport=workers > 1)
        self.addCleanup(srv.cleanup)
        srv.log_path = os.path.join(srv.dir, "access.log")
        extra = ""
        if upstream:
            extra = proxy_config([upstream.address], route_extra="strip_prefix: true, "
                                 "request_headers: {X-Request-ID: $request_id}")
        srv.params["extra"] = (extra + f"access_log: {srv.log_path}\n"
                               f"access_log_format: '{LOG_FORMAT}'\n")
        srv.start()
        return srv

    def entries(self, srv, count):
        """The first `count` log lines, parsed, once that many are flushed."""
        def parsed():
            lines = [l for l in ft.read_text(srv.log_path).split("\n") if l]
            return lines if len(lines) >= count else None
        lines = ft.wait_for(parsed, 5)
        self.assertTrue(lines, ft.read_text(srv.log_path))
        self.assertEqual(len(lines), count, lines)
        out = []
        for line in lines:
            m = LINE.match(line)
            self.assertTrue(m, line)
            self.assertRegex(m["id"], HEX32, line)
            out.append(m.groupdict())
        return out

    def pipelined(self, srv, paths):
        """The responses to GETs of paths, all sent in one write on one connection."""
        with srv.connect() as s:
            s.sendall(b"".join(f"GET {p} HTTP/1.1\r\nHost: t\r\n\r\n".encode() for p in paths))
            data = b""
            while len(parse_responses(data)[0]) < len(paths):
                chunk = s.recv(65536)
                self.assertTrue(chunk, data)
                data += chunk
        return parse_responses(data)[0]

    def assertDistinct(self, entries):
        ids = [e["id"] for e in entries]
        self.assertEqual(len(set(ids)), len(ids), ids)


class AccessLogTests(RequestIdCase):
    def test_every_request_gets_its_own(self):
        srv = self.start_logged()
        for i in range(3):  # separate connections
            self.assertEqual(srv.get(f"/plaintext?c={i}").status, 200)
        with srv.connect() as s:  # keep-alive, one after another
            for i in range(3):
                s.sendall(f"GET /plaintext?k={i} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
                self.assertEqual(read_response(s)[0].status, 200)
        for resp in self.pipelined(srv, [f"/plaintext?p={i}" for i in range(3)]):
            self.assertEqual(resp.status, 200)
        entries = self.entries(srv, 9)
        self.assertEqual([e["nth"] for e in entries], ["1"] * 3 + ["1", "2", "3"] * 2)
        self.assertEqual(entries[8]["uri"], "/plaintext?p=2")
        self.assertDistinct(entries)
        # A request the server answers itself (404) has one as well.
        self.assertEqual(srv.get("/nothing/here").status, 404)
        self.assertDistinct(self.entries(srv, 10))
        self.assertStopsCleanly(srv)

    def test_two_workers_and_two_runs(self):
        srv = self.start_logged(workers=2)
        self.assertEqual(len(srv.wait_workers(2)), 2)
        sent = 0
        # Each worker numbers its own requests from 1: only their keys tell them apart.
        while sent < 200:
            self.assertEqual(srv.get(f"/plaintext?n={sent}").status, 200)
            sent += 1
            if sent % 20 == 0 and len({e["worker"] for e in self.entries(srv, sent)}) == 2:
                break
        first = self.entries(srv, sent)
        self.assertEqual({e["worker"] for e in first}, {"0", "1"}, "reuseport never spread")
        self.assertDistinct(first)
        self.assertEqual(srv.stop(), 0)
        # The next run starts counting at 1 again, with keys of its own.
        os.unlink(srv.log_path)
        srv.start()
        for i in range(10):
            self.assertEqual(srv.get(f"/plaintext?again={i}").status, 200)
        self.assertDistinct(first + self.entries(srv, 10))
        self.assertStopsCleanly(srv)


class RefusedHeadTests(RequestIdCase):
    # Heads the server answers before any route, each on a connection of its own, between
    # good requests: 400 (a bad field), 414, 431, 501 (CONNECT), 505, 408 (never finished).
    BAD = [(b"GET /a HTTP/1.1\r\nHost: t\r\nBad Field: x\r\n\r\n", 400),
           (b"GET /" + b"u" * 2000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
           (b"GET /a HTTP/1.1\r\nHost: t\r\n" + b"X-Many: 1\r\n" * 30 + b"\r\n", 431),
           (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 501),
           (b"GET /a HTTP/2.5\r\nHost: t\r\n\r\n", 505),
           (b"GET /a HTTP/1.1\r\nHost: t\r\n", 408)]
    ANY = re.compile(r"^(?P<id>\S+) (?P<worker>\S+) (?P<nth>\S+) (?P<uri>\S+) (?P<status>\d{3})$")

    def test_every_refused_head_gets_its_own(self):
        srv = ft.Server(timeouts=", header: 1s")
        self.addCleanup(srv.cleanup)
        srv.log_path = os.path.join(srv.dir, "access.log")
        srv.params["extra"] = (f"access_log: {srv.log_path}\n"
                               f"access_log_format: '{LOG_FORMAT}'\n")
        srv.start()
        statuses = [200]
        self.assertEqual(srv.get("/plaintext?before").status, 200)
        for raw, status in self.BAD:
            with self.subTest(status=status), srv.connect() as s:
                s.sendall(raw)
                data, _ = ft.read_until_close(s, 5)
                self.assertEqual([r.status for r in parse_responses(data)[0]], [status], data)
            self.assertEqual(srv.get(f"/plaintext?after={status}").status, 200)
            statuses += [status, 200]

        def lines():
            got = [l for l in ft.read_text(srv.log_path).split("\n") if l]
            return got if len(got) >= len(statuses) else None
        got = ft.wait_for(lines, 5)
        self.assertTrue(got, ft.read_text(srv.log_path))
        entries = [self.ANY.match(l) for l in got]
        self.assertTrue(all(entries), got)
        self.assertEqual([int(e["status"]) for e in entries], statuses, got)
        for e in entries:
            self.assertRegex(e["id"], HEX32, e.group(0))
        self.assertDistinct([e.groupdict() for e in entries])
        self.assertStopsCleanly(srv)


class ProxyTests(RequestIdCase):
    def test_upstream_sees_the_logged_id(self):
        up = RawUpstream()
        self.addCleanup(up.close)
        srv = self.start_logged(upstream=up)
        seen = {}  # request uri -> the X-Request-ID values the upstream got

        def record(resp, uri):
            self.assertEqual(resp.status, 200, resp)
            head = json.loads(resp.body)["head"]
            seen[uri] = [v for n, v in headers_of(head) if n.lower() == "x-request-id"]

        with srv.connect() as s:  # keep-alive; the client's own id is replaced
            for i in range(3):
                s.sendall(f"GET /api/echo?k={i} HTTP/1.1\r\nHost: t\r\n"
                          f"X-Request-ID: client-{i}\r\n\r\n".encode())
                record(read_response(s)[0], f"/api/echo?k={i}")
        paths = [f"/api/echo?p={i}" for i in range(3)]
        for path, resp in zip(paths, self.pipelined(srv, paths)):
            record(resp, path)
        self.assertEqual(srv.get("/plaintext").status, 200)  # not proxied: still an id
        entries = self.entries(srv, 7)
        self.assertDistinct(entries)
        for e in entries[:6]:
            self.assertEqual(seen[e["uri"]], [e["id"]], (e, seen))
        self.assertEqual(entries[6]["uri"], "/plaintext")
        self.assertStopsCleanly(srv)


if __name__ == "__main__":
    ft.run()
