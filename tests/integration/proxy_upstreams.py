"""Upstreams for the proxy tests: a raw-socket HTTP/1.1 server whose behaviour
is chosen by the request path (including malformed, cut and slow answers), which
records every connection and every request head and body it received."""

import json
import socket
import threading
import time


def _read_request(conn, buf):
    """One request (head, body) from conn, or (None, None) at EOF; buf carries extra bytes.
    An /upload request's body is drained, not kept: body is then (length, sha256)."""
    while b"\r\n\r\n" not in buf[0]:
        chunk = conn.recv(65536)
        if not chunk:
            return None, None
        buf[0] += chunk
    head, _, rest = buf[0].partition(b"\r\n\r\n")
    if b"/reject" in head.split(b"\r\n")[0]:
        # Refuses the body without reading it (and without a reset that could hide
        # the answer): the proxy must read the answer while its upload is blocked.
        conn.sendall(b"HTTP/1.1 413 Too Big\r\nContent-Length: 4\r\nConnection: close\r\n\r\n"
                     b"nope")
        time.sleep(8)
        return None, None
    if b"/upload" in head.split(b"\r\n")[0]:
        buf[0] = rest
        if b"slow" in head.split(b"\r\n")[0]:
            time.sleep(1.5)  # a slow upstream: the proxy must not buffer the upload meanwhile
        return head.decode("latin-1"), drain_body(conn, buf, head.decode("latin-1"))
    if b"\r\ntransfer-encoding: chunked" in head.lower():
        buf[0] = rest
        kept = bytearray()
        drain_body(conn, buf, head.decode("latin-1"), kept)
        return head.decode("latin-1"), bytes(kept)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None, None
        rest += chunk
    buf[0] = rest[length:]
    return head.decode("latin-1"), rest[:length]


def drain_body(conn, buf, head, kept=None):
    """Reads a Content-Length or chunked body: (bytes, sha256 hex); the bytes go to
    `kept` (a bytearray) when given."""
    import hashlib
    digest = hashlib.sha256()
    fields = {n.lower(): v for n, v in headers_of(head)}
    total = 0

    def more():
        chunk = conn.recv(1 << 20)
        if not chunk:
            raise OSError("closed in the body")
        return chunk
    if fields.get("transfer-encoding", "").lower() == "chunked":
        data = buf[0]
        while True:
            while b"\r\n" not in data:
                data += more()
            line, _, data = data.partition(b"\r\n")
            size = int(line.split(b";")[0], 16)
            if size == 0:
                while b"\r\n" not in data:
                    data += more()
                data = data.partition(b"\r\n")[2]
                break
            while len(data) < size + 2:
                data += more()
            digest.update(data[:size])
            if kept is not None:
                kept += data[:size]
            total += size
            data = data[size + 2:]
        buf[0] = data
    else:
        left = int(fields.get("content-length", "0"))
        data = buf[0]
        while True:
            take = data[:left]
            digest.update(take)
            if kept is not None:
                kept += take
            total += len(take)
            left -= len(take)
            data = data[len(take):]
            if left == 0:
                break
            data = more()
        buf[0] = data
    return total, digest.hexdigest()


def headers_of(head):
    """[(name, value)] of a request head."""
    out = []
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        out.append((name, value.strip()))
    return out


class RawUpstream:
    """Listens on 127.0.0.1; every accepted connection is served in its own thread."""

    def __init__(self, health_status=200, unix_path=None):
        if unix_path:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.bind(unix_path)
            self.port = 0
        else:
            self.sock = socket.socket()
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind(("127.0.0.1", 0))
            self.port = self.sock.getsockname()[1]
        self.unix_path = unix_path
        self.sock.listen(128)
        self.connections = 0
        self.requests = []  # (connection number, head, body)
        self.health_status = health_status
        self.health_checks = 0
        self.health_heads = []  # the request head of every health check
        # (name, value) a health check must carry to be answered health_status, else 401
        self.health_requires = None
        self.hold_ends = []  # monotonic times at which /hold saw the proxy give up
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self):
        return f"unix:{self.unix_path}" if self.unix_path else f"127.0.0.1:{self.port}"

    def close(self):
        self.closed = True
        self.sock.close()

    def _accept(self):
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                number = self.connections
            threading.Thread(target=self._serve, args=(conn, number), daemon=True).start()

    def _serve(self, conn, number):
        buf = [b""]
        try:
            while True:
                head, body = _read_request(conn, buf)
                if head is None:
                    return
                path = head.split(" ")[1]
                if path == "/healthz":
                    with self.lock:
                        self.health_checks += 1
                        self.health_heads.append(head)
                    status = self.health_status
                    if self.health_requires and self.health_requires not in headers_of(head):
                        status = 401
                    conn.sendall(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n"
                                 "Connection: close\r\n\r\n".encode())
                    return
                with self.lock:
                    self.requests.append((number, head, body))
                if not self._answer(conn, path, head, body):
                    return
        except OSError:
            pass
        finally:
            conn.close()

    def _answer(self, conn, path, head, body):
        """Sends the answer for path; False when the connection must end."""
        name = path.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
        if name in ("upload", "uploadslow"):
            payload = json.dumps({"length": body[0], "sha256": body[1]}).encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(payload) +
                         payload)
        elif name == "echo":
            payload = json.dumps({"head": head, "body": body.decode("latin-1"),
                                  "port": self.port}).encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(payload) + payload)
        elif name == "chunked":
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n")
        elif name == "close":
            conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")
            return False
        elif name == "hop":
            conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: X-Hop\r\nX-Hop: 1\r\n"
                         b"Keep-Alive: timeout=5\r\nProxy-Foo: x\r\nX-End: 2\r\n"
                         b"Server: upstream\r\nContent-Length: 2\r\n\r\nok")
        elif name == "interim":
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\n"
                         b"Link: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\ndone")
        elif name == "nocontent":
            conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
        elif name == "malformed":
            conn.sendall(b"HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\nok")
            return False
        elif name == "smuggle":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok")
            return False
        elif name == "kill":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
            time.sleep(0.1)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            return False
        elif name == "killchunked":
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
            time.sleep(0.1)
            return False
        elif name == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            return False
        elif name == "hold":
            # No answer ever: waits for the proxy to close the connection.
            conn.settimeout(5)
            try:
                conn.recv(1)
            except OSError:
                pass
            with self.lock:
                self.hold_ends.append(time.monotonic())
            return False
        elif name == "slow":
            time.sleep(3)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate")
        elif name.startswith("big"):
            size = int(name[3:])
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
            if head.startswith("HEAD "):
                return True
            block = bytes(range(256)) * 4096
            sent = 0
            while sent < size:
                n = min(len(block), size - sent)
                conn.sendall(block[:n])
                sent += n
        else:
            conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        return True


def dead_address():
    """A loopback address nothing listens on."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"127.0.0.1:{port}"


class WithClose:
    """An answer sent together with the close of the connection."""

    def __init__(self, data):
        self.data = data


class ScriptedUpstream(RawUpstream):
    """A listener whose answers are chosen by answer(conn_number, index_on_conn, path): the
    bytes to send, or a list of them sent 0.2 s apart (None there: close the connection;
    WithClose(bytes): those bytes and the close in one segment).
    Records (connection number, request line) and the head of every request read.
    With read_bodies, a request's body (Content-Length or chunked) is read before the
    answer and recorded in bodies; else it is left unread."""

    def __init__(self, answer, read_bodies=False):
        self.answer = answer
        self.heads = []
        self.read_bodies = read_bodies
        self.bodies = []
        super().__init__()

    def _serve(self, conn, number):
        buf = b""
        index = 0
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, _, buf = buf.partition(b"\r\n\r\n")
                line = head.split(b"\r\n")[0].decode("latin-1")
                if self.read_bodies:
                    rest, body = [buf], bytearray()
                    drain_body(conn, rest, head.decode("latin-1"), body)
                    buf = rest[0]
                with self.lock:
                    self.requests.append((number, line))
                    self.heads.append(head.decode("latin-1"))
                    if self.read_bodies:
                        self.bodies.append(bytes(body))
                parts = self.answer(number, index, line.split(" ")[1])
                index += 1
                for i, part in enumerate(parts if isinstance(parts, list) else [parts]):
                    if i:
                        time.sleep(0.2)
                    if part is None:
                        return  # closes the connection
                    if isinstance(part, WithClose):
                        # Corked: the bytes and the FIN leave in one segment, so the
                        # proxy sees them in one readiness edge.
                        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
                        conn.sendall(part.data)
                        conn.shutdown(socket.SHUT_WR)
                        return
                    conn.sendall(part)
        except OSError:
            pass
        finally:
            conn.close()
