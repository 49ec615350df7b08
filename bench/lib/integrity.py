"""integrity.py: the response-bytes gate run before any measurement.

A target is measured only if, for the workload's request, it answers the status,
body and header fields of the workload spec (workloads/<name>.json), once alone
and `pipeline_depth` times to a pipelined batch on the same connection. Only the
fields in `may_differ` may be added or differ; Content-Type may add a parameter
listed in `content_type_params_allowed` (charset). Connection must not say close.
"""

import json
import socket
import time

TFB_HEADERS = [
    ("Host", "localhost"),
    ("Accept", "text/plain,text/html;q=0.9,application/xhtml+xml;q=0.9,application/xml;q=0.8,"
               "*/*;q=0.7"),
    ("Connection", "keep-alive"),
]


def load_spec(path):
    with open(path) as f:
        return json.load(f)


def request_bytes(spec):
    """The bytes wrk sends for this workload with the TechEmpower headers (wrk.format)."""
    req = spec["request"]
    lines = [f"{req['method']} {req['path']} HTTP/1.1"]
    lines += [f"{k}: {v}" for k, v in TFB_HEADERS]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Reader:
    """Reads whole responses (Content-Length framed) from a socket."""

    def __init__(self, sock, deadline):
        self.sock = sock
        self.buf = b""
        self.deadline = deadline

    def fill(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out waiting for the response")
        self.sock.settimeout(left)
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("connection closed by the server")
        self.buf += data

    def response(self):
        """Returns (raw bytes, status line, [(name, value)], body)."""
        while b"\r\n\r\n" not in self.buf:
            self.fill()
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        fields = []
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise ValueError(f"malformed header line {line!r}")
            fields.append((name, value.strip(" \t")))
        lengths = [v for n, v in fields if n.lower() == "content-length"]
        if any(n.lower() == "transfer-encoding" for n, _ in fields) or len(lengths) != 1:
            raise ValueError("response is not framed by exactly one Content-Length")
        length = int(lengths[0])
        while len(rest) < length:
            self.fill()
            rest = self.buf.partition(b"\r\n\r\n")[2]
        raw = head + b"\r\n\r\n" + rest[:length]
        self.buf = rest[length:]
        return raw, lines[0], fields, rest[:length]


def check_response(spec, status_line, fields, body):
    """Problems found in one response (empty list: it matches the spec)."""
    problems = []
    want = spec["response"]
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or parts[0] != "HTTP/1.1" or parts[1] != str(want["status"]):
        problems.append(f"status line {status_line!r}, expected HTTP/1.1 {want['status']}")
    if body != want["body"].encode():
        problems.append(f"body {body[:80]!r}, expected {want['body']!r}")
    may_differ = {h.lower() for h in spec["may_differ"]}
    expected = {k.lower(): (k, v) for k, v in want["headers"].items()}
    seen = {}
    for name, value in fields:
        key = name.lower()
        seen.setdefault(key, []).append(value)
        if key not in expected and key not in may_differ:
            problems.append(f"unexpected header {name}: {value}")
    for key, (name, value) in expected.items():
        got = seen.get(key, [])
        if len(got) != 1:
            problems.append(f"{name} present {len(got)} times, expected once")
            continue
        if key == "content-type":
            media, *params = [p.strip() for p in got[0].split(";")]
            allowed = {p.lower() for p in spec.get("content_type_params_allowed", [])}
            if media.lower() != value.lower():
                problems.append(f"Content-Type {got[0]!r}, expected {value!r}")
            for p in params:
                if p.split("=", 1)[0].strip().lower() not in allowed:
                    problems.append(f"Content-Type parameter {p!r} not allowed")
        elif got[0] != value:
            problems.append(f"{name}: {got[0]!r}, expected {value!r}")
    for value in seen.get("connection", []):
        if "close" in value.lower():
            problems.append(f"Connection: {value} (the benchmark needs keep-alive)")
    return problems


def probe(port, spec, timeout=5.0):
    """Probes a target; returns (ok, problems, first raw response, notes)."""
    req = request_bytes(spec)
    depth = int(spec.get("pipeline_depth", 16))
    problems, notes, first = [], [], b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            reader = Reader(s, time.monotonic() + timeout)
            s.sendall(req)
            first, status, fields, body = reader.response()
            problems += check_response(spec, status, fields, body)
            if not any(n.lower() == "date" for n, _ in fields):
                notes.append("no Date header (RFC 9110 §6.6.1: an origin server with a clock sends one)")
            s.sendall(req * depth)
            pipelined = {}  # problem -> how many of the pipelined responses have it
            for _ in range(depth):
                _, status, fields, body = reader.response()
                for p in check_response(spec, status, fields, body):
                    pipelined[p] = pipelined.get(p, 0) + 1
            problems += [f"{n} of {depth} pipelined responses: {p}" for p, n in pipelined.items()]
            if reader.buf:
                problems.append(f"{len(reader.buf)} unexpected bytes after {depth} pipelined responses")
    except (OSError, ValueError, TimeoutError, ConnectionError) as e:
        problems.append(f"probe failed: {e}")
    return not problems, problems, first, notes
