"""A client that gives up on a proxied request, against the real flared: its close (FIN
or reset) is noticed at once while the proxy waits for the upstream's head and while it
streams the upstream's body; the upstream connection is closed (not pooled), the server
is not counted as failed, and the access log shows 499 with the bytes actually sent. A
client that pipelined more requests before half-closing is answered, not aborted."""

import json
import os
import re
import select
import socket
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flaredtest as ft  # noqa: E402
from flaredtest import parse_responses, read_response, read_until_close, recv_head  # noqa: E402
from proxy_upstreams import RawUpstream, _read_request, drain_body  # noqa: E402
from test_proxy import proxy_config, tls_certs  # noqa: E402
from test_proxy_observe import ProxyObserveCase  # noqa: E402
from test_observe import prometheus  # noqa: E402

LOG_FORMAT = ("$request_uri $status $bytes_sent up=$upstream_addr us=$upstream_status "
              "ut=$upstream_response_time")
LINE = re.compile(r"^(?P<uri>\S+) (?P<status>\d{3}) (?P<bytes>\d+) up=(?P<addr>.+) "
                  r"us=(?P<ustatus>\S+) ut=(?P<time>\S+)$")
# /sleep answers after this long unless its connection closes first.
SLEEP_S = 3.0
# /drip sends a chunk this often: a long-lived stream (server-sent events, say).
DRIP_EVERY_S = 2.5


class SleepyUpstream(RawUpstream):
    """RawUpstream (one thread per connection, keep-alive) answering differently:
    /sleep answers after SLEEP_S (/sleep?short after 0.5 s), /drip streams chunks
    every DRIP_EVERY_S for a minute, anything else answers at once with its path.
    `paths` gets (connection number, path) per request; each connection's end as
    this side saw it goes into `ends` (path being served, or "upload" within a
    request body, and the monotonic time)."""

    def __init__(self):
        self.paths = []
        self.ends = []
        super().__init__()

    def _ended(self, path):
        with self.lock:
            self.ends.append((path, time.monotonic()))

    @staticmethod
    def _peer_closed(conn, timeout):
        """True when the proxy closed the connection within timeout (it sends nothing
        else while its request is being answered)."""
        if not select.select([conn], [], [], timeout)[0]:
            return False
        try:
            return conn.recv(1) == b""
        except OSError:
            return True

    def _serve(self, conn, number):
        buf = [b""]
        try:
            while True:
                head, _ = _read_request(conn, buf)
                if head is None:
                    if buf[0]:  # closed within a request (its body)
                        self._ended("upload")
                    return
                path = head.split(" ")[1]
                with self.lock:
                    self.paths.append((number, path))
                if path.startswith("/sleep"):
                    wait = 0.5 if path.endswith("?short") else SLEEP_S
                    if self._peer_closed(conn, wait):
                        self._ended(path)
                        return
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nlate\n")
                elif path == "/drip":
                    conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 b"5\r\ntick\n\r\n")
                    for _ in range(int(60 / DRIP_EVERY_S)):
                        if self._peer_closed(conn, DRIP_EVERY_S):
                            self._ended(path)
                            return
                        conn.sendall(b"5\r\ntick\n\r\n")
                    conn.sendall(b"0\r\n\r\n")
                else:
                    body = path.encode() + b"\n"
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
                                 + body)
        except OSError:
            self._ended("error")
        finally:
            conn.close()


class AbortCase(ProxyObserveCase):
    """flared (or server_class) proxying /api/ to two SleepyUpstreams, logging LOG_FORMAT."""
    LINE = LINE

    def setUp(self, server_class=ft.Server):
        self.a, self.b = SleepyUpstream(), SleepyUpstream()
        self.addCleanup(self.a.close)
        self.addCleanup(self.b.close)
        # Round robin over two servers: one passively marked down would be skipped.
        self.srv = self.start_proxy([self.a.address, self.b.address], server_class)

    def start_proxy(self, servers, server_class=ft.Server):
        srv = server_class()
        self.addCleanup(srv.cleanup)
        srv.log_path = os.path.join(srv.dir, "access.log")
        config = (proxy_config(servers, upstream_extra="    max_fails: 1\n    fail_timeout: 30s\n")
                  + f"access_log: {srv.log_path}\naccess_log_format: '{LOG_FORMAT}'\n")
        # The waits here are longer than proxy_config's 1 s timeouts.
        srv.params["extra"] = config.replace("read_timeout: 1s", "read_timeout: 30s").replace(
            "connect_timeout: 1s", "connect_timeout: 30s")
        srv.start()
        return srv

    # -- helpers ----------------------------------------------------------
    def requests_seen(self):
        return sorted(self.a.paths + self.b.paths)

    def ends(self):
        return self.a.ends + self.b.ends

    def get_on(self, s, path):
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
        resp, _ = read_response(s, "GET")
        return resp

    def assert_servers_healthy(self, aborted):
        """Neither server is counted as failed or left out: four requests on one
        keep-alive connection alternate between them, on the idle pool's connections
        or new ones, and /status shows no failure, nothing in flight, and the aborted
        server's attempt among client_aborts, in JSON and in the Prometheus format."""
        before = {self.a.address: len(self.a.paths), self.b.address: len(self.b.paths)}
        with self.srv.connect() as s:
            for i in range(4):
                resp = self.get_on(s, f"/api/fast{i}")
                self.assertEqual((resp.status, resp.body), (200, f"/fast{i}\n".encode()))
        self.assertEqual(len(self.a.paths) - before[self.a.address], 2)
        self.assertEqual(len(self.b.paths) - before[self.b.address], 2)
        st = json.loads(self.srv.get("/status").body)
        aborts = {}
        for server in st["total"]["upstreams"]["app"]:
            self.assertEqual((server["failures"], server["timeouts"], server["active"],
                              server["up"]), (0, 0, 0, 1), server)
            aborts[server["server"]] = server["client_aborts"]
        self.assertEqual(aborts, {up.address: int(up is aborted) for up in (self.a, self.b)})
        _, text = prometheus(self.srv)
        for up in (self.a, self.b):
            self.assertIn(f'flared_upstream_client_aborts_total{{upstream="app",'
                          f'server="{up.address}"}} {int(up is aborted)}', text.splitlines())

    def aborted_upstream(self):
        """The one upstream that saw the proxy give up on a request."""
        (up,) = [u for u in (self.a, self.b) if u.ends]
        return up

    def close_and_see_upstream_closed(self, s, what):
        """Closes the client socket s; the proxy closes the upstream connection within
        a second, while it served `what` (a path, or "upload")."""
        s.close()
        closed = time.monotonic()
        ends = ft.wait_for(lambda: self.ends(), 5)
        self.assertTrue(ends, "the upstream connection was never closed")
        self.assertEqual(ends[0][0], what)
        self.assertLess(ends[0][1] - closed, 1.0)

    def owner_of(self, path):
        for up in (self.a, self.b):
            for number, p in up.paths:
                if p == path:
                    return up, number
        self.fail(f"no upstream got {path}")



class ProxyAbortTest(AbortCase):
    def test_close_while_the_upstream_prepares_its_head(self):
        s = self.srv.connect()
        s.sendall(b"GET /api/sleep HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertTrue(ft.wait_for(lambda: self.requests_seen(), 5), "no request upstream")
        time.sleep(0.3)  # the upstream's part has lasted a while when the client leaves
        s.close()
        closed = time.monotonic()
        ends = ft.wait_for(lambda: self.ends(), 5)
        self.assertTrue(ends, "the upstream connection was never closed")
        self.assertEqual(ends[0][0], "/sleep")
        # At once: well before the upstream would have answered.
        self.assertLess(ends[0][1] - closed, 1.0)
        up, number = self.owner_of("/sleep")
        (entry,) = self.log_entries(self.srv, 1)
        self.assertEqual((entry["uri"], entry["status"], entry["bytes"], entry["addr"],
                          entry["ustatus"]), ("/api/sleep", "499", "0", up.address, "-"))
        # $upstream_response_time: until the client left, as nginx logs it.
        self.assertGreaterEqual(float(entry["time"]), 0.25)
        self.assertLess(float(entry["time"]), 2.0)
        self.assert_servers_healthy(self.aborted_upstream())
        # That upstream connection was closed, not pooled: it served nothing more.
        self.assertEqual([p for n, p in up.paths if n == number], ["/sleep"])

    def test_reset_while_the_upstream_prepares_its_head(self):
        s = self.srv.connect()
        s.sendall(b"GET /api/sleep HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertTrue(ft.wait_for(lambda: self.requests_seen(), 5), "no request upstream")
        time.sleep(0.3)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()  # RST
        closed = time.monotonic()
        ends = ft.wait_for(lambda: self.ends(), 5)
        self.assertTrue(ends, "the upstream connection was never closed")
        self.assertLess(ends[0][1] - closed, 1.0)
        (entry,) = self.log_entries(self.srv, 1)
        self.assertEqual((entry["status"], entry["bytes"]), ("499", "0"))
        self.assertGreaterEqual(float(entry["time"]), 0.25)
        self.assert_servers_healthy(self.aborted_upstream())

    def test_close_during_a_long_streamed_body(self):
        s = self.srv.connect()
        s.sendall(b"GET /api/drip HTTP/1.1\r\nHost: a\r\n\r\n")
        got = b""
        while b"tick\n" not in got:
            chunk = s.recv(4096)
            self.assertTrue(chunk, "flared closed the stream")
            got += chunk
        self.assertTrue(got.startswith(b"HTTP/1.1 200 "), got)
        s.close()  # between two chunks: nothing is written to notice it by
        closed = time.monotonic()
        ends = ft.wait_for(lambda: self.ends(), 5)
        self.assertTrue(ends, "the upstream connection was never closed")
        self.assertEqual(ends[0][0], "/drip")
        self.assertLess(ends[0][1] - closed, 1.0)  # the next chunk is 2.5 s away
        up, number = self.owner_of("/drip")
        (entry,) = self.log_entries(self.srv, 1)
        self.assertEqual((entry["uri"], entry["status"], entry["ustatus"]),
                         ("/api/drip", "499", "200"))
        # What went out: the head and the first chunk, as the client received them.
        self.assertEqual(int(entry["bytes"]), len(got))
        self.assert_servers_healthy(self.aborted_upstream())
        self.assertEqual([p for n, p in up.paths if n == number], ["/drip"])

    def test_close_during_an_upload(self):
        s = self.srv.connect()
        s.sendall(b"POST /api/sleep HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n")
        self.assertTrue(ft.wait_for(lambda: self.a.connections + self.b.connections, 5))
        time.sleep(0.2)
        s.sendall(b"x" * 100000)  # read over the head, which the log line still shows
        time.sleep(0.2)
        self.close_and_see_upstream_closed(s, "upload")
        (entry,) = self.log_entries(self.srv, 1)
        self.assertEqual((entry["uri"], entry["status"], entry["bytes"], entry["ustatus"]),
                         ("/api/sleep", "499", "0", "-"))
        self.assertGreaterEqual(float(entry["time"]), 0.3)
        self.assert_servers_healthy(self.aborted_upstream())
        # A whole upload read the same way logs its own target too.
        with self.srv.connect() as s:
            s.sendall(b"POST /api/whole HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n")
            time.sleep(0.2)
            s.sendall(b"x" * 100000)
            resp, _ = read_response(s, "POST")
            self.assertEqual((resp.status, resp.body), (200, b"/whole\n"))
        entries = self.log_entries(self.srv, 7)
        self.assertEqual((entries[-1]["uri"], entries[-1]["status"]), ("/api/whole", "200"))

    def test_close_after_an_upload_that_filled_the_block(self):
        # Head and body end exactly at the end of the input block (16 KiB for the test
        # server): the hang-up is looked for behind the head all the same.
        head = b"POST /api/sleep HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n"
        size = 16384 - len(head % 10000)
        s = self.srv.connect()
        s.sendall(head % size + b"x" * size)
        self.assertTrue(ft.wait_for(lambda: self.requests_seen(), 5), "no request upstream")
        time.sleep(0.3)
        self.close_and_see_upstream_closed(s, "/sleep")
        (entry,) = self.log_entries(self.srv, 1)
        self.assertEqual((entry["uri"], entry["status"], entry["bytes"]),
                         ("/api/sleep", "499", "0"))
        self.assert_servers_healthy(self.aborted_upstream())

    def test_pipelined_requests_are_not_a_close(self):
        # Pipelined behind a proxied request in the same write, then in a later one while
        # the proxy waits: neither is taken for the client leaving.
        with self.srv.connect() as s:
            s.sendall(b"GET /api/sleep?short HTTP/1.1\r\nHost: a\r\n\r\n"
                      b"GET /api/one HTTP/1.1\r\nHost: a\r\n\r\n")
            self.assertTrue(ft.wait_for(lambda: self.requests_seen(), 5))
            s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n")
            got = b""
            while True:
                resps, _ = parse_responses(got, ["GET"] * 3)
                if len(resps) == 3:
                    break
                chunk = s.recv(65536)
                self.assertTrue(chunk, got)
                got += chunk
            self.assertEqual([(r.status, r.body) for r in resps],
                             [(200, b"late\n"), (200, b"/one\n"), (200, b"Hello, World!")])
        # The same, with the client's sending side shut after its last request: it
        # waits for the answers to what it sent, and gets them.
        with self.srv.connect() as s:
            s.sendall(b"GET /api/sleep?short HTTP/1.1\r\nHost: a\r\n\r\n")
            self.assertTrue(ft.wait_for(lambda: len(self.requests_seen()) == 3, 5))
            # The last one is proxied too: nothing follows it, but it is answered.
            s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n"
                      b"GET /api/two HTTP/1.1\r\nHost: a\r\n\r\n")
            s.shutdown(socket.SHUT_WR)
            got, closed = read_until_close(s, 5)
            self.assertTrue(closed)
            resps, rest = parse_responses(got, ["GET"] * 3)
            self.assertEqual(([(r.status, r.body) for r in resps], rest),
                             ([(200, b"late\n"), (200, b"Hello, World!"), (200, b"/two\n")],
                              b""))
        self.assertEqual(self.ends(), [])
        # A half-close right after a lone request is the client giving up (as nginx
        # takes it): the upstream connection goes at once, nothing is answered.
        with self.srv.connect() as s:
            s.sendall(b"GET /api/sleep HTTP/1.1\r\nHost: a\r\n\r\n")
            self.assertTrue(ft.wait_for(lambda: len(self.requests_seen()) == 5, 5))
            s.shutdown(socket.SHUT_WR)
            shut = time.monotonic()
            got, closed = read_until_close(s, 5)
            self.assertEqual((got, closed), (b"", True))
        ends = ft.wait_for(lambda: self.ends(), 5)
        self.assertTrue(ends)
        self.assertLess(ends[0][1] - shut, 1.0)
        entries = self.log_entries(self.srv, 7)
        self.assertEqual([(e["uri"], e["status"]) for e in entries],
                         [("/api/sleep?short", "200"), ("/api/one", "200"), ("/plaintext", "200"),
                          ("/api/sleep?short", "200"), ("/plaintext", "200"), ("/api/two", "200"),
                          ("/api/sleep", "499")])
        self.assert_servers_healthy(self.aborted_upstream())


def syn_sent_to(port, exclude):
    """Local ports of this host's TCP connections stuck in SYN-SENT to 127.0.0.1:port,
    but those in exclude (/proc/net/tcp: state 02)."""
    out = []
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, remote, state = fields[1], fields[2], fields[3]
            if state == "02" and int(remote.split(":")[1], 16) == port:
                lport = int(local.split(":")[1], 16)
                if lport not in exclude:
                    out.append(lport)
    return out


class ConnectAbortTest(AbortCase):
    """An upstream whose accept queue is full: the proxy's SYN goes unanswered."""

    def setUp(self):
        pass

    def test_close_while_the_proxy_connects(self):
        listener = socket.socket()
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = []
        for _ in range(3):
            f = socket.socket()
            self.addCleanup(f.close)
            f.setblocking(False)
            f.connect_ex(("127.0.0.1", port))
            fillers.append(f.getsockname()[1])
        srv = self.start_proxy([f"127.0.0.1:{port}"])
        s = srv.connect()
        s.sendall(b"GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertTrue(ft.wait_for(lambda: syn_sent_to(port, fillers), 5),
                        "the proxy's connect was answered: the queue was not full")
        time.sleep(0.3)
        s.close()
        closed = time.monotonic()
        self.assertTrue(ft.wait_for(lambda: not syn_sent_to(port, fillers), 5),
                        "the connect went on")
        self.assertLess(time.monotonic() - closed, 1.0)
        (entry,) = self.log_entries(srv, 1)
        self.assertEqual((entry["uri"], entry["status"], entry["bytes"], entry["ustatus"]),
                         ("/api/x", "499", "0", "-"))
        self.assertGreaterEqual(float(entry["time"]), 0.25)
        (server,) = json.loads(srv.get("/status").body)["total"]["upstreams"]["app"]
        self.assertEqual((server["requests"], server["failures"], server["connect_failures"],
                          server["timeouts"], server["client_aborts"], server["active"]),
                         (1, 0, 0, 0, 1, 0))


def tcp_row(local_port, remote_port):
    """(state, tx_queue, rx_queue) of this host's IPv4 TCP socket from local_port to
    remote_port (/proc/net/tcp, hex state: 01 is ESTABLISHED), or None."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if (int(fields[1].split(":")[1], 16), int(fields[2].split(":")[1], 16)) == \
                    (local_port, remote_port):
                tx, rx = fields[4].split(":")
                return fields[3], int(tx, 16), int(rx, 16)
    return None


def peeks_at_an_offset():
    """Whether TCP sockets take SO_PEEK_OFF here (Linux 6.9 and later)."""
    with socket.socket() as s:
        try:
            s.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_PEEK_OFF", 42), 0)
        except OSError:
            return False
    return True


class StallingUpstream(RawUpstream):
    """Reads a request head and then nothing more, so an upload to it stalls (its receive
    buffer fills, then the proxy's), until `release` is set: then it reads the body and
    answers with its length. Each connection stays open until close."""

    def __init__(self):
        self.peer_ports = []
        self.done = threading.Event()
        self.release = threading.Event()
        super().__init__()

    def _serve(self, conn, number):
        with conn:
            with self.lock:
                self.peer_ports.append(conn.getpeername()[1])
            head, _, rest = recv_head(conn).partition(b"\r\n\r\n")
            if self.release.wait(60) and not self.closed:
                try:
                    length, _ = drain_body(conn, [rest], head.decode("latin-1"))
                except OSError:  # the proxy gave up within the body
                    return
                body = b"%d\n" % length
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            self.done.wait(60)

    def proxy_sockets(self):
        """The state of the proxy's end of each connection to this upstream."""
        with self.lock:
            return [tcp_row(port, self.port) for port in self.peer_ports]

    def close(self):
        super().close()
        self.done.set()
        self.release.set()


class PausedUploadAbortTest(AbortCase):
    """The client leaves while its upload is paused: the upstream takes nothing, so the
    proxy stopped reading the client. The hang-up is noticed then, not when reading
    resumes (never, here), as nginx notices it (proxy_ignore_client_abort off)."""

    def setUp(self):
        self.up = StallingUpstream()
        self.addCleanup(self.up.close)
        self.srv = self.start_proxy([self.up.address])

    def paused_upload(self, chunked=False):
        """A client socket whose Content-Length (or chunked) upload flared has stopped
        reading, with every byte it sent delivered (none waits in its own send queue);
        and the payload bytes sent."""
        s = self.srv.connect()
        self.addCleanup(s.close)
        size = 10 << 20  # the body limit: what flared takes in before it pauses is far less
        framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % size
        s.sendall(b"POST /api/stall HTTP/1.1\r\nHost: a\r\n%s\r\n\r\n" % framing)
        mine = s.getsockname()[1]
        payload = 16384
        piece = b"%x\r\n%s\r\n" % (payload, b"x" * payload) if chunked else b"x" * payload
        sent = 0

        def unread():  # bytes flared has not read from this client
            row = tcp_row(self.srv.port, mine)
            return row[2] if row else 0
        for _ in range(size // len(piece) - 1):  # never the whole body
            s.sendall(piece)
            sent += payload
            time.sleep(0.002)
            if unread() and ft.wait_for(lambda: unread() == 0, 0.5) is False:
                break
        else:
            self.fail("flared never stopped reading the upload")
        self.assertTrue(ft.wait_for(lambda: tcp_row(mine, self.srv.port)[1] == 0, 5),
                        "the client's last bytes stayed in its send queue")
        self.assertEqual(self.up.connections, 1)
        self.assertEqual([row[0] for row in self.up.proxy_sockets()], ["01"])
        return s, sent

    def assert_upstream_let_go(self):
        # Closed (no longer ESTABLISHED on flared's side), well before read_timeout.
        self.assertTrue(ft.wait_for(lambda: all(row is None or row[0] != "01"
                                                for row in self.up.proxy_sockets()),
                                    ft.patience(10)),
                        "flared kept the upstream connection of the departed client")
        (entry,) = self.log_entries(self.srv, 1)
        self.assertEqual((entry["uri"], entry["status"], entry["ustatus"]),
                         ("/api/stall", "499", "-"))
        (server,) = json.loads(self.srv.get("/status").body)["total"]["upstreams"]["app"]
        self.assertEqual((server["failures"], server["timeouts"], server["client_aborts"],
                          server["active"]), (0, 0, 1, 0))

    def test_close_while_the_upload_is_paused(self):
        self.paused_upload()[0].close()  # a FIN behind the last body byte: the body cannot end
        self.assert_upstream_let_go()

    def test_close_while_a_chunked_upload_is_paused(self):
        # A FIN between chunks, before the last-chunk: the body can never end either.
        if not peeks_at_an_offset():
            self.skipTest("TCP has SO_PEEK_OFF from Linux 6.9 on: without it a queue larger "
                          "than the input block is left for the reader (flared.yaml(5))")
        self.paused_upload(chunked=True)[0].close()
        self.assert_upstream_let_go()

    def test_half_close_behind_a_whole_chunked_upload(self):
        # The last-chunk, a pipelined request, then a FIN: the client has sent everything
        # it wants answered, and it is, once the upstream takes the upload. (The hang-up
        # of a lone request, with nothing behind it, is a departure once its body is in.)
        s, sent = self.paused_upload(chunked=True)
        s.sendall(b"0\r\n\r\nGET /status HTTP/1.1\r\nHost: a\r\n\r\n")
        s.shutdown(socket.SHUT_WR)
        mine = s.getsockname()[1]

        def state():  # of flared's side: CLOSE_WAIT (08) once it has the FIN
            return (tcp_row(self.srv.port, mine) or ["closed"])[0]
        ft.wait_for(lambda: state() != "01", 5)
        self.assertEqual(state(), "08")
        self.assertEqual([row[0] for row in self.up.proxy_sockets()], ["01"])
        self.up.release.set()
        upload, rest = read_response(s, "POST", ft.patience(10))
        self.assertEqual((upload.status, upload.body), (200, b"%d\n" % sent))
        data, closed = read_until_close(s, ft.patience(10))
        self.assertTrue(closed)
        (status, ), _ = parse_responses(rest + data, ["GET"])
        self.assertEqual(status.status, 200)
        entries = self.log_entries(self.srv, 2)
        self.assertEqual([(e["uri"], e["status"]) for e in entries],
                         [("/api/stall", "200"), ("/status", "200")])

    def test_reset_while_the_upload_is_paused(self):
        s = self.paused_upload()[0]
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()  # RST
        self.assert_upstream_let_go()


class TlsClient:
    """A TLS client over memory BIOs, so that it can send close_notify and then shut its
    sending side without waiting for the server's own close_notify."""

    def __init__(self, port, cafile):
        ctx = ssl.create_default_context(cafile=cafile)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.inc, self.out, server_hostname="localhost")
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.sock.sendall(self.out.read())
                self._feed()
        self.sock.sendall(self.out.read())

    def _feed(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.inc.write(data)

    def send(self, data):
        self.tls.write(data)
        self.sock.sendall(self.out.read())

    def close_notify(self):
        try:
            self.tls.unwrap()
        except ssl.SSLWantReadError:
            pass  # the server's close_notify is not awaited
        self.sock.sendall(self.out.read())
        self.sock.shutdown(socket.SHUT_WR)

    def read_all(self, timeout=5):
        """Everything decrypted until the server ends the connection."""
        got = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                got += self.tls.read(65536)
                continue
            except ssl.SSLWantReadError:
                pass
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                break
            try:
                self._feed()
            except (EOFError, OSError):
                break
        return got


class TlsClientAbortTest(AbortCase):
    """The same over TLS: the socket may hold only the client's close_notify, which is
    a hang-up, or pipelined requests, which are not."""

    def setUp(self):
        import test_tls
        self.cafile = os.path.join(tls_certs(self), "ca.pem")
        super().setUp(server_class=test_tls.TlsServer)

    def test_close_notify_while_the_upstream_prepares_its_head(self):
        c = TlsClient(self.srv.port, self.cafile)
        c.send(b"GET /api/sleep HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertTrue(ft.wait_for(lambda: self.requests_seen(), 5), "no request upstream")
        time.sleep(0.3)
        c.close_notify()
        closed = time.monotonic()
        self.assertEqual(c.read_all(), b"")
        ends = ft.wait_for(lambda: self.ends(), 5)
        self.assertTrue(ends, "the upstream connection was never closed")
        self.assertLess(ends[0][1] - closed, 1.0)
        (entry,) = self.log_entries(self.srv, 1)
        self.assertEqual((entry["uri"], entry["status"], entry["bytes"]),
                         ("/api/sleep", "499", "0"))
        self.assertGreaterEqual(float(entry["time"]), 0.25)
        c.sock.close()

    def test_close_notify_after_pipelined_requests(self):
        c = TlsClient(self.srv.port, self.cafile)
        c.send(b"GET /api/sleep?short HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertTrue(ft.wait_for(lambda: self.requests_seen(), 5), "no request upstream")
        c.send(b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n")
        c.close_notify()
        resps, rest = parse_responses(c.read_all(), ["GET"] * 2)
        self.assertEqual(([(r.status, r.body) for r in resps], rest),
                         ([(200, b"late\n"), (200, b"Hello, World!")], b""))
        self.assertEqual(self.ends(), [])
        c.sock.close()


if __name__ == "__main__":
    ft.run()
