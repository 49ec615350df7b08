"""Adversarial proxy cases against upstreams scripted byte by byte: response framing
that must stop an upstream connection from being reused, request targets that would
leave the proxied prefix, hop-by-hop fields however long their names, and TLS upstreams
that cut a body or answer an upload before reading it."""

import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flaredtest import (ServerTestCase, patience, read_response, read_until_close, run,  # noqa: E402
                        wait_for)
from proxy_upstreams import ScriptedUpstream  # noqa: E402
from test_proxy import proxy_config  # noqa: E402


class ProxyFramingCase(ServerTestCase):
    def scripted(self, answer):
        """An upstream answering by path alone: answer(path), as ScriptedUpstream's."""
        up = ScriptedUpstream(lambda number, index, path: answer(path))
        self.addCleanup(up.close)
        return up


GOOD = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngood"
EVIL = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nEVIL"


class NoContentFramingTests(ProxyFramingCase):
    """RFC 9110 §8.6, RFC 9112 §6.1: a 204 carries no Content-Length or Transfer-Encoding.
    One that does may be followed by a body; its connection must not serve the next
    request, or that body would be read as the next response."""

    def check(self, framing):
        def answer(path):
            if path.endswith("/nocontent"):
                return [b"HTTP/1.1 204 No Content\r\n" + framing + b"\r\n", EVIL]
            return GOOD
        up = self.scripted(answer)
        srv = self.start_server(extra=proxy_config([up.address]))
        with srv.connect() as s:
            s.sendall(b"GET /api/nocontent HTTP/1.1\r\nHost: a\r\n\r\n")
            first, rest = read_response(s)
            self.assertEqual(first.status, 204)
            s.sendall(b"GET /api/next HTTP/1.1\r\nHost: a\r\n\r\n")
            data, _ = read_until_close(s, 1.0)
        self.assertNotIn(b"EVIL", rest + data)
        self.assertIn(b"\r\n\r\ngood", data)
        self.assertEqual(up.connections, 2, up.requests)

    def test_204_with_content_length_is_not_reused(self):
        self.check(b"Content-Length: 4\r\n")

    def test_204_with_transfer_encoding_is_not_reused(self):
        self.check(b"Transfer-Encoding: chunked\r\n")

    def test_clean_204_is_reused(self):
        # The usual 204 keeps its connection (and an explicit zero length is harmless).
        up = self.scripted(lambda path: b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"
                           if path.endswith("/nocontent") else GOOD)
        srv = self.start_server(extra=proxy_config([up.address]))
        with srv.connect() as s:
            for path in ("/api/nocontent", "/api/next"):
                s.sendall(b"GET %s HTTP/1.1\r\nHost: a\r\n\r\n" % path.encode())
                resp, _ = read_response(s)
                self.assertIn(resp.status, (200, 204))
        self.assertEqual(up.connections, 1)


class DoubtfulFramingTests(ProxyFramingCase):
    """Responses whose end is in doubt: the next request on the client connection must get
    its own response, never bytes left over from the doubtful one."""

    CASES = [  # (method, upstream answer, status the client gets)
        ("GET", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + EVIL, 200),
        ("GET", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n" +
         EVIL, 200),
        ("GET", b"HTTP/1.1 304 Not Modified\r\nContent-Length: 4\r\n\r\n" + EVIL, 304),
        ("HEAD", b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n" + EVIL, 200),
        ("GET", b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n" +
         EVIL, 502),
        ("GET", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n" + EVIL, 502),
        ("GET", b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + EVIL, 502),
        ("GET", b"HTTP/1.1 100 Continue\r\nContent-Length: 4\r\n\r\nabcd" + EVIL, 502),
        ("GET", b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n" + EVIL, 502),
    ]

    def test_no_leftover_reaches_the_next_request(self):
        answers = {}
        up = self.scripted(lambda path: answers.get(path, GOOD))
        srv = self.start_server(extra=proxy_config([up.address]))
        for i, (method, answer, status) in enumerate(self.CASES):
            answers["/case%d" % i] = answer
            with srv.connect() as s:
                s.sendall(b"%s /api/case%d HTTP/1.1\r\nHost: a\r\n\r\n" % (method.encode(), i))
                first, rest = read_response(s, method)
                self.assertEqual(first.status, status, answer)
                s.sendall(b"GET /api/next HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                data, _ = read_until_close(s, 2.0)
            self.assertNotIn(b"EVIL", first.body + rest + data, answer)
            self.assertTrue(data.endswith(b"\r\n\r\ngood"), (answer, data))


class HeadTests(ProxyFramingCase):
    def test_head_without_a_length_claims_none(self):
        # RFC 9110 §8.6: a HEAD response's Content-Length is the GET's length, so an upstream
        # that frames its GET body by chunks or by closing must not turn into "0".
        answers = {"/chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                   "/close": b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
                   "/length": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"}
        up = self.scripted(lambda path: answers[path])
        srv = self.start_server(extra=proxy_config([up.address]))
        with srv.connect() as s:
            for path, want in (("chunked", None), ("close", None), ("length", "5")):
                s.sendall(b"HEAD /api/%s HTTP/1.1\r\nHost: a\r\n\r\n" % path.encode())
                resp, rest = read_response(s, "HEAD")
                self.assertEqual(resp.status, 200)
                self.assertEqual(resp.header("Content-Length"), want, path)
                self.assertEqual(rest, b"")
        self.assertEqual(len(up.requests), 3)


class DotSegmentTests(ProxyFramingCase):
    """A target with "." or ".." segments would name, once the upstream resolves them
    (RFC 3986 §5.2.4), a path outside the route's prefix: /api/../admin reaches /admin
    although only /api/ is proxied. Such targets are refused with 400."""

    ESCAPES = [b"/api/../admin", b"/api/%2e%2E/admin", b"/api/.%2e/admin", b"/api/x/../../admin",
               b"/api/..", b"/api/./x", b"/api/..;/admin", b"/api/..\\admin",
               b"/api/..%2fadmin", b"/api/..%5Cadmin",
               b"http://a/api/../admin"]
    FINE = [b"/api/..x/y", b"/api/x..", b"/api/.well-known/z", b"/api/a.b/c?d=/../e",
            b"/api/%2e%2ex", b"/api/a%2fb", b"/api/...", b"/api/x;.."]

    def test_dot_segments_never_reach_the_upstream(self):
        up = self.scripted(lambda path: GOOD)
        srv = self.start_server(extra=proxy_config([up.address]))
        for target in self.ESCAPES:
            data, _ = srv.exchange(b"GET %s HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
                                   % target, 2.0)
            self.assertRegex(data, rb"^HTTP/1.1 400 ", target)
        self.assertEqual(up.requests, [])
        for target in self.FINE:
            data, _ = srv.exchange(b"GET %s HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
                                   % target, 2.0)
            self.assertRegex(data, rb"^HTTP/1.1 200 ", target)
        self.assertEqual(len(up.requests), len(self.FINE))


class ConnectTimeoutTests(ProxyFramingCase):
    def test_connect_timeout_is_504(self):
        # A listener whose backlog is full and that never accepts: the SYN goes unanswered.
        listener = socket.socket()
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        for _ in range(3):
            filler = socket.socket()
            self.addCleanup(filler.close)
            filler.setblocking(False)
            try:
                filler.connect(listener.getsockname())
            except BlockingIOError:
                pass
        srv = self.start_server(extra=proxy_config(["127.0.0.1:%d" % listener.getsockname()[1]]))
        started = time.monotonic()
        data, _ = srv.exchange(b"GET /api/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 5.0)
        self.assertRegex(data, rb"^HTTP/1.1 504 ")  # RFC 9110 §15.6.5
        self.assertIn(b"connect timed out", data)
        self.assertGreaterEqual(time.monotonic() - started, 0.9)  # connect_timeout: 1s


class H2cUpgradeTests(ProxyFramingCase):
    def test_h2c_upgrade_is_not_forwarded(self):
        # RFC 9113 §3.1 deprecates "Upgrade: h2c". Passed on, an upstream that takes it
        # would read whatever HTTP/2 requests the client tunnels, for any path, past the
        # route's prefix and every check of this proxy ("h2c smuggling").
        up = self.scripted(lambda path: b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n"
                           b"Connection: Upgrade\r\n\r\n" if path == "/h2c" else GOOD)
        srv = self.start_server(extra=proxy_config([up.address]))
        for upgrade in (b"h2c", b"H2C", b"websocket, h2c"):
            data, _ = srv.exchange(b"GET /api/h2c HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, "
                                   b"HTTP2-Settings\r\nUpgrade: %s\r\nHTTP2-Settings: AAMAAABkAAQA"
                                   b"AP__\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\n"
                                   b"Connection: close\r\n\r\n" % upgrade, 2.0)
            # The upstream is asked no switch, so its 101 is one nobody asked for: 502. The
            # bytes after the request are flared's next request, not the upstream's.
            self.assertRegex(data, rb"^HTTP/1.1 502 ", upgrade)
            self.assertIn(b"HTTP/1.1 404 ", data)
        self.assertEqual(len(up.heads), 3)
        for head in up.heads:
            self.assertNotIn("upgrade", head.lower())
            self.assertNotIn("http2-settings", head.lower())
        up.heads.clear()
        # Other protocols still pass.
        data, _ = srv.exchange(b"GET /api/ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
                               b"Upgrade: websocket\r\n\r\n", 2.0)
        self.assertRegex(data, rb"^HTTP/1.1 200 ")
        self.assertIn("\r\nUpgrade: websocket\r\n", up.heads[0])


def with_methods(config, methods):
    """proxy_config's text with `methods` on its route."""
    return config.replace("    proxy:", f"    methods: {methods}\n    proxy:", 1)


class TraceTests(ProxyFramingCase):
    """TRACE is refused (405 with Allow) by every route that does not list it, as nginx
    refuses it always: a proxy never forwards it, an echo never reflects it."""

    def test_trace_reaches_only_a_route_that_lists_it(self):
        up = self.scripted(lambda path: GOOD)
        srv = self.start_server(extra=(
            "  - path: /only-get/\n    methods: [GET]\n    proxy: {upstream: app}\n"
            "  - path: /traced/\n    methods: [GET, TRACE]\n    proxy: {upstream: app}\n" +
            proxy_config([up.address])))
        for path, allow in (("/api/x", b"GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH"),
                            ("/only-get/x", b"GET, HEAD"), ("/echo", None)):
            data, _ = srv.exchange(f"TRACE {path} HTTP/1.1\r\nHost: a\r\nCookie: secret\r\n"
                                   "Connection: close\r\n\r\n".encode(), 2.0)
            self.assertRegex(data, rb"^HTTP/1.1 405 ", path)
            self.assertNotIn(b"secret", data, path)
            allowed = re.search(rb"\r\nAllow: ([^\r]*)\r\n", data)
            self.assertIsNotNone(allowed, data)
            self.assertNotIn(b"TRACE", allowed.group(1), path)
            if allow:
                self.assertEqual(allowed.group(1), allow, path)
        self.assertEqual(up.heads, [])
        data, _ = srv.exchange(b"TRACE /traced/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                               2.0)
        self.assertIn(b"good", data)
        self.assertEqual([h.split("\r\n")[0] for h in up.heads], ["TRACE /traced/x HTTP/1.1"])


class MaxForwardsTests(ProxyFramingCase):
    """RFC 9110 §7.6.2: TRACE and OPTIONS with Max-Forwards 0 are answered here; above 0
    they go on with the value decremented."""

    def test_zero_is_answered_here_and_others_decremented(self):
        up = self.scripted(lambda path: GOOD)
        srv = self.start_server(extra=with_methods(proxy_config([up.address]), "[GET, OPTIONS, TRACE]"))
        data, _ = srv.exchange(b"TRACE /api/t?q=1 HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\n"
                               b"Cookie: secret\r\nX-Probe: 1\r\nConnection: close\r\n\r\n", 2.0)
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertRegex(head, rb"^HTTP/1.1 200 ")
        self.assertIn(b"\r\nContent-Type: message/http", head)
        self.assertTrue(body.startswith(b"TRACE /api/t?q=1 HTTP/1.1\r\n"), body)
        self.assertIn(b"\r\nX-Probe: 1\r\n", body)
        self.assertNotIn(b"secret", body)  # RFC 9110 §9.3.8: sensitive fields stay out
        data, _ = srv.exchange(b"OPTIONS /api/o HTTP/1.1\r\nHost: a\r\nMax-Forwards: 0\r\n"
                               b"Connection: close\r\n\r\n", 2.0)
        self.assertRegex(data, rb"^HTTP/1.1 200 ")
        self.assertNotIn(b"good", data)
        self.assertEqual(up.heads, [])
        for method, sent, want in ((b"OPTIONS", b"Max-Forwards: 5\r\n", "Max-Forwards: 4"),
                                   (b"TRACE", b"Max-Forwards: 1\r\n", "Max-Forwards: 0"),
                                   (b"GET", b"Max-Forwards: 0\r\n", "Max-Forwards: 0")):
            data, _ = srv.exchange(method + b" /api/x HTTP/1.1\r\nHost: a\r\n" + sent +
                                   b"Connection: close\r\n\r\n", 2.0)
            self.assertIn(b"good", data)
            fields = [line for line in up.heads[-1].split("\r\n")
                      if line.lower().startswith("max-forwards")]
            self.assertEqual(fields, [want], method)


def queued_bytes(local_port, peer_port):
    """Bytes in the kernel between two loopback sockets: the sender's unsent and unacked
    queue plus the receiver's unread one (/proc/net/tcp, IPv4)."""
    total = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, remote = int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16)
            tx, rx = (int(x, 16) for x in fields[4].split(":"))
            if (local, remote) == (local_port, peer_port):
                total += tx
            elif (local, remote) == (peer_port, local_port):
                total += rx
    return total


class SlowUpgradeTests(ProxyFramingCase):
    def test_101_waiting_for_the_client_outlives_read_timeout(self):
        # The upstream's 101 waits behind earlier output the client has not read; the
        # wait is the client's (the server's write timeout), not the upstream's
        # read_timeout. A timer that cut the request there left the server holding a
        # callback to a recycled request: the hand-over then crashed the worker.
        def answer(path):
            if path.startswith("/big"):
                size = int(path[4:])
                return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + b"x" * size
            return [b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    b"Connection: upgrade\r\n\r\n", b"after"]
        up = self.scripted(answer)
        srv = self.start_server(extra=proxy_config([up.address]))  # read_timeout: 1s
        # The port listens before the worker is forked: wait for it, or the list taken
        # here can be empty and never equal the one at the end.
        worker = srv.wait_workers(1)
        self.assertEqual(len(worker), 1)
        # What the kernel holds for a client that reads nothing...
        with srv.connect(rcvbuf=4096) as s:
            s.sendall(b"GET /api/big20000000 HTTP/1.1\r\nHost: a\r\n\r\n")
            time.sleep(1.5)
            kernel = queued_bytes(srv.port, s.getsockname()[1])
        self.assertGreater(kernel, 0)
        # ... plus 128 KiB, under the output high-water mark: the first response ends
        # (the upgrade is dispatched) with output still queued in flared.
        size = kernel + 128 * 1024
        with srv.connect(rcvbuf=4096) as s:
            s.sendall(b"GET /api/big%d HTTP/1.1\r\nHost: a\r\n\r\nGET /api/ws HTTP/1.1\r\n"
                      b"Host: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n" % size)
            time.sleep(2.5)
            data, _ = read_until_close(s, 3.0)
        self.assertIn(b"HTTP/1.1 101 ", data[size:])
        self.assertTrue(data.endswith(b"\r\n\r\nafter"), data[-200:])
        # The same worker: a crash would show as a new pid (and in the log).
        self.assertEqual(srv.workers(), worker, srv.log()[-3000:])
        self.assertNotIn("killed by signal", srv.log())


class TunnelCloseTests(ProxyFramingCase):
    def test_bytes_sent_before_the_upstream_closes_all_reach_the_client(self):
        # The upstream sends its last bytes (a WebSocket close frame, say) and closes while
        # the client is not reading: what the tunnel still holds must be written first.
        size = [0]

        def answer(path):
            if path == "/big":
                return b"HTTP/1.1 200 OK\r\nContent-Length: 20000000\r\n\r\n" + b"x" * 20000000
            return [b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    b"Connection: upgrade\r\n\r\n" + b"y" * size[0], None]
        up = self.scripted(answer)
        srv = self.start_server(extra=proxy_config([up.address]))
        with srv.connect(rcvbuf=4096) as s:
            s.sendall(b"GET /api/big HTTP/1.1\r\nHost: a\r\n\r\n")
            time.sleep(0.8)
            kernel = queued_bytes(srv.port, s.getsockname()[1])
        self.assertGreater(kernel, 0)
        # More than the kernel takes while the client waits: the rest stays in the tunnel.
        size[0] = kernel + 32 * 1024
        with srv.connect(rcvbuf=4096) as s:
            s.sendall(b"GET /api/ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n"
                      b"Upgrade: websocket\r\n\r\n")
            time.sleep(0.8)  # under read_timeout: the tunnel is not idle
            data, closed = read_until_close(s, 3.0)
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 101 "), head)
        self.assertEqual(len(body), size[0])
        self.assertTrue(closed)


class Http10CutTests(ProxyFramingCase):
    def test_cut_close_delimited_response_ends_with_a_reset(self):
        # An HTTP/1.0 client reads the body up to the close: a FIN after a cut upstream
        # body would present it as whole. The connection is reset instead.
        up = self.scripted(lambda path: [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                         b"5\r\nhello\r\n", None])
        srv = self.start_server(extra=proxy_config([up.address]))
        with srv.connect() as s:
            s.sendall(b"GET /api/x HTTP/1.0\r\n\r\n")
            time.sleep(0.5)  # the cut has happened: a reset now meets unread bytes
            ending, data = None, b""
            while ending is None:
                try:
                    chunk = s.recv(65536)
                except ConnectionResetError:
                    ending = "reset"
                else:
                    data += chunk
                    ending = None if chunk else "fin"
        self.assertEqual(ending, "reset", data)
        # A whole close-delimited body still ends with a plain close.
        up2 = self.scripted(lambda path: [b"HTTP/1.0 200 OK\r\n\r\nwhole", None])
        srv2 = self.start_server(extra=proxy_config([up2.address]))
        data, closed = srv2.exchange(b"GET /api/x HTTP/1.0\r\n\r\n", 3.0)
        self.assertTrue(closed)
        self.assertTrue(data.endswith(b"\r\n\r\nwhole"), data)


class TlsUpstreamCase(ProxyFramingCase):
    def tls_upstream(self, handle):
        """A TLS upstream on 127.0.0.1 (certificates from test_tls.make_certs): handle(conn,
        head) serves each connection once its first request head is read, then it closes.
        Returns the proxy config for it; skips the test without openssl."""
        import ssl
        import shutil
        import tempfile
        import test_tls
        if not test_tls.OPENSSL:
            self.skipTest("the openssl command is not installed")
        certs = tempfile.mkdtemp(prefix="flared-px-certs-")
        self.addCleanup(shutil.rmtree, certs, True)
        test_tls.make_certs(certs)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(f"{certs}/server.pem", f"{certs}/server.key")
        listener = socket.socket()
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)

        def serve():
            while True:
                try:
                    raw, _ = listener.accept()
                except OSError:
                    return
                try:
                    conn = ctx.wrap_socket(raw, server_side=True)
                    head = b""
                    while b"\r\n\r\n" not in head:
                        head += conn.recv(4096)
                    handle(conn, head)
                    conn.close()
                except (OSError, ssl.SSLError):
                    pass
        threading.Thread(target=serve, daemon=True).start()
        return proxy_config(
            ["127.0.0.1:%d" % listener.getsockname()[1]],
            upstream_extra=f"    tls: {{ca: {certs}/ca.pem, sni: localhost}}\n").replace(
                "connect_timeout: 1s", "connect_timeout: 10s")


class TlsTruncationTests(TlsUpstreamCase):
    def test_close_delimited_body_needs_close_notify(self):
        # RFC 9112 §9.8: over TLS a body that ends with the connection is complete only
        # with a closure alert; a bare TCP close (a crash, or a FIN injected on the path)
        # must cut the client response rather than complete it.
        def handle(conn, head):
            conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npart")
            if b"/clean" in head:
                conn = conn.unwrap()  # close_notify, then the TCP close
            conn.shutdown(socket.SHUT_RDWR)  # on an SSLSocket: no close_notify
        srv = self.start_server(extra=self.tls_upstream(handle).replace(
            "read_timeout: 1s", "read_timeout: 10s"))
        data, closed = srv.exchange(b"GET /api/clean HTTP/1.1\r\nHost: a\r\n\r\n", 5.0)
        self.assertTrue(data.endswith(b"\r\n\r\n4\r\npart\r\n0\r\n\r\n"), data)
        data, closed = srv.exchange(b"GET /api/cut HTTP/1.1\r\nHost: a\r\n\r\n", 5.0)
        self.assertRegex(data, rb"^HTTP/1.1 200 ")
        self.assertNotIn(b"0\r\n\r\n", data.partition(b"\r\n\r\n")[2])  # never complete
        self.assertTrue(closed)


class TlsEarlyAnswerTests(TlsUpstreamCase):
    def test_an_upload_refused_before_it_is_read_gets_the_answer(self):
        # An upstream over TLS answering an upload it will not read (a 413) was not read
        # while the proxy sent: the upload stalled and the client got 504 at read_timeout,
        # not the answer, as it does from a plain upstream (test_proxy's).
        done = threading.Event()
        self.addCleanup(done.set)

        def handle(conn, head):
            conn.sendall(b"HTTP/1.1 413 Too Big\r\nContent-Length: 4\r\nConnection: close\r\n"
                         b"\r\nnope")
            done.wait(20)  # reads nothing more
        srv = self.start_server(extra=self.tls_upstream(handle).replace(
            "proxy: {upstream: app,", "max_body_bytes: 1g\n    proxy: {upstream: app,"))
        with srv.connect(timeout=20) as s:
            s.sendall(b"POST /api/upload HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n"
                      % (64 << 20))

            def upload():
                try:
                    for _ in range(64):
                        s.sendall(b"z" * (1 << 20))
                except OSError:
                    pass  # flared closes once the answer is out
            threading.Thread(target=upload, daemon=True).start()
            resp, _ = read_response(s, timeout=15)
        self.assertEqual((resp.status, resp.body), (413, b"nope"))


class ForwardingSpoofTests(ProxyFramingCase):
    def test_forwarding_fields_a_client_writes_are_dropped(self):
        # CGI-style upstreams (HTTP_X_FORWARDED_FOR) read "X_Forwarded_For" as the field
        # this proxy writes: a client must not be able to supply one that way. Nor by its
        # own Forwarded: RFC 7239 readers take the first element, which would be the
        # client's, before this hop's.
        up = self.scripted(lambda path: GOOD)
        srv = self.start_server(extra=proxy_config([up.address]))
        data, _ = srv.exchange(b"GET /api/x HTTP/1.1\r\nHost: a\r\nX_Forwarded_For: 6.6.6.6\r\n"
                               b"x-forwarded_proto: https\r\nX-FORWARDED_HOST: evil\r\n"
                               b"Forwarded: for=7.7.7.7;host=evil;proto=https\r\n"
                               b"X_Real_Thing: kept\r\nConnection: close\r\n\r\n", 2.0)
        self.assertRegex(data, rb"^HTTP/1.1 200 ")
        head = up.heads[0]
        for spoof in ("6.6.6.6", "7.7.7.7", "https", "evil"):
            self.assertNotIn(spoof, head)
        self.assertIn("\r\nX_Real_Thing: kept", head)
        self.assertIn("\r\nForwarded: for=127.0.0.1;host=a;proto=http\r\n", head + "\r\n")


class LongHopByHopTests(ProxyFramingCase):
    def test_field_named_by_connection_is_removed_whatever_its_length(self):
        name = b"X-" + b"a" * 200
        up = self.scripted(lambda path: b"HTTP/1.1 200 OK\r\nConnection: " + name + b"\r\n" +
                           name + b": secret\r\nContent-Length: 2\r\n\r\nok")
        srv = self.start_server(extra=proxy_config([up.address]))
        data, _ = srv.exchange(b"GET /api/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 2.0)
        self.assertRegex(data, rb"^HTTP/1.1 200 ")
        self.assertNotIn(b"secret", data)


class StreamedBodyErrorTests(ProxyFramingCase):
    """A proxied chunked upload that breaks its framing or the route's limit is answered
    by flared (400, 413, Connection: close) before the upstream has answered, whether
    the fault arrives with the head or later, while the body is being relayed."""

    def start(self):
        # Uploads are answered only after a second, so any answer before that is flared's;
        # /up/ok at once.
        up = self.scripted(lambda path: GOOD if path.endswith("/ok") else [b""] * 5 + [GOOD])
        srv = self.start_server(extra=(
            "  - path: /up/\n"
            "    max_body_bytes: 16\n"
            "    proxy: {upstream: app}\n" + proxy_config([up.address])))
        return srv, up

    def answer(self, srv, first, later=b""):
        with srv.connect(5.0) as s:
            s.sendall(first)
            if later:
                time.sleep(0.4)  # the head and first chunk are on their way upstream
                s.sendall(later)
            return read_until_close(s, 5.0)

    HEAD = b"POST /up/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"

    def check(self, data, closed, status):
        self.assertTrue(data.startswith(b"HTTP/1.1 %d " % status), data[:200])
        self.assertIn(b"\r\nConnection: close\r\n", data.split(b"\r\n\r\n")[0] + b"\r\n")
        self.assertNotIn(b"good", data)
        self.assertTrue(closed)

    def test_malformed_chunk_with_the_head_is_400(self):
        srv, _ = self.start()
        self.check(*self.answer(srv, self.HEAD + b"5\r\nhello\r\nZZ\r\n"), 400)

    def test_malformed_chunk_while_relaying_is_400(self):
        srv, up = self.start()
        self.check(*self.answer(srv, self.HEAD + b"5\r\nhello\r\n", b"5\r\nhello\r\nZZ\r\n"), 400)
        self.assertEqual(len(up.heads), 1)  # the upload had reached the upstream

    def test_chunked_body_over_the_route_limit_is_413(self):
        srv, _ = self.start()
        self.check(*self.answer(srv, self.HEAD + b"a\r\n0123456789\r\n",
                                b"a\r\n0123456789\r\n0\r\n\r\n"), 413)

    def test_chunk_announced_over_the_route_limit_is_413_before_its_data(self):
        # 10 bytes relayed, then a chunk of 7 announced with only 3 of them sent: its
        # size line alone passes the 16-byte limit.
        srv, _ = self.start()
        self.check(*self.answer(srv, self.HEAD + b"a\r\n0123456789\r\n", b"7\r\nabc"), 413)

    def test_the_worker_serves_on_after_them(self):
        srv, _ = self.start()
        for first, later in ((self.HEAD + b"ZZ\r\n", b""), (self.HEAD + b"1\r\na\r\n", b"QQ\r\n")):
            self.answer(srv, first, later)
        data, _ = srv.exchange(b"GET /up/ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        self.assertRegex(data, rb"^HTTP/1.1 200 ")
        self.assertTrue(data.endswith(b"good"), data[-100:])


if __name__ == "__main__":
    run()
