#!/usr/bin/env bash
# soak.sh MINUTES: runs flared (2 workers, SO_REUSEPORT) under a mixed load for
# MINUTES: keep-alive GETs (wrk when installed, else Python), pipelined bursts,
# WebSocket echo, static files (whole, ranged, conditional), HTTPS (keep-alive and
# a full handshake per request, on a TLS listener with defer_accept), and malformed
# or abandoned requests. Every second it samples RSS and open descriptors of the
# master and each worker. It fails on any crash or worker restart, on a wrong
# answer to a valid request, or on a growth trend: RSS or descriptors of a
# process higher in the last fifth of the run than in the second fifth by more
# than a small margin. Not in CI. Samples and a summary go to $SOAK_OUT
# (default /tmp/flared-soak-<time>). Uses $FLARED or build/src/flared/flared.
set -euo pipefail

minutes=${1:?usage: bench/soak.sh MINUTES}
root=$(cd "$(dirname "$0")/.." && pwd)
flared=${FLARED:-$root/build/src/flared/flared}
[ -x "$flared" ] || { echo "soak.sh: no flared at $flared (build first, or set FLARED)" >&2; exit 1; }
out=${SOAK_OUT:-/tmp/flared-soak-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
echo "soak: $minutes min, flared $flared, results in $out"

exec python3 - "$minutes" "$flared" "$out" <<'PYEOF'
import base64, hashlib, json, os, random, re, shutil, signal, socket, statistics
import struct, subprocess, sys, threading, time

minutes, flared, out = float(sys.argv[1]), sys.argv[2], sys.argv[3]
duration = minutes * 60
work = os.path.join(out, "srv")
os.makedirs(os.path.join(work, "www", "sub"), exist_ok=True)
rng = random.Random(1)
with open(os.path.join(work, "www", "index.html"), "wb") as f:
    f.write(b"<!doctype html><title>soak</title>\n")
big = rng.randbytes(1 << 20)
with open(os.path.join(work, "www", "big.bin"), "wb") as f:
    f.write(big)
with open(os.path.join(work, "www", "sub", "style.css"), "wb") as f:
    f.write(b"body { color: #333 }\n" * 200)

ports = []
for _ in range(2):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        ports.append(s.getsockname()[1])
port, tls_port = ports
cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
               check=True, capture_output=True)
config = f"""workers: 2
error_log: {work}/error.log
log_level: info
limits: {{max_connections: 2000, max_body_bytes: 1m}}
timeouts: {{header: 5s, body: 5s, write: 5s, keepalive: 10s, shutdown: 5s}}
listeners:
  - address: 127.0.0.1:{port}
    reuseport: true
  - address: 127.0.0.1:{tls_port}
    reuseport: true
    defer_accept: true
    tls: {{certificates: [{{cert: {cert}, key: {key}}}]}}
routes:
  - path: /plaintext
    text: {{body: "Hello, World!", content_type: text/plain}}
  - path: /echo
    echo: {{raw: true}}
  - path: /ws
    websocket: {{max_message: 64k, deflate: true}}
  - path: /
    static: {{root: www, index: [index.html], gzip: true}}
"""
with open(os.path.join(work, "flared.yaml"), "w") as f:
    f.write(config)
proc = subprocess.Popen([flared, "-c", os.path.join(work, "flared.yaml")],
                        stdout=open(os.path.join(out, "flared.out"), "wb"),
                        stderr=subprocess.STDOUT, start_new_session=True)


def children(pid):
    kids = set()
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids |= {int(x) for x in f.read().split()}
    except OSError:
        pass
    return sorted(kids)


deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        break
    except OSError:
        if proc.poll() is not None:
            sys.exit(f"flared exited at start:\n{open(os.path.join(out, 'flared.out')).read()}")
        time.sleep(0.1)
time.sleep(0.5)
workers = children(proc.pid)
print(f"flared master {proc.pid}, workers {workers}, port {port}")

stop = threading.Event()
stats = {"errors": [], "counts": {}}
lock = threading.Lock()


def count(kind, n=1):
    with lock:
        stats["counts"][kind] = stats["counts"].get(kind, 0) + n


def error(kind, what):
    with lock:
        if len(stats["errors"]) < 200:
            stats["errors"].append(f"{kind}: {what}")
        stats["counts"]["errors"] = stats["counts"].get("errors", 0) + 1


def read_response(sock, head_only=False):
    """One response (Content-Length or chunked); returns (status, headers, body)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a response")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower()] = v.strip()
    if head_only or status in (204, 304):
        return status, headers, b"", rest
    if headers.get(b"transfer-encoding") == b"chunked":
        body = b""
        while True:
            while b"\r\n" not in rest:
                rest += sock.recv(65536)
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            while len(rest) < size + 2:
                rest += sock.recv(65536)
            body += rest[:size]
            rest = rest[size + 2:]
            if size == 0:
                return status, headers, body, rest
    n = int(headers.get(b"content-length", b"0"))
    while len(rest) < n:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed mid-body")
        rest += chunk
    return status, headers, rest[:n], rest[n:]


def connect():
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def get_plaintext(s, request, kind, counted):
    """Sends request (a GET /plaintext) on s and checks the answer is Hello, World!."""
    s.sendall(request)
    st, _, body, _ = read_response(s)
    if st != 200 or body != b"Hello, World!":
        error(kind, f"{st} {body[:40]!r}")
    count(counted)


def keepalive_loop():
    while not stop.is_set():
        try:
            with connect() as s:
                for _ in range(500):
                    if stop.is_set():
                        return
                    get_plaintext(s, b"GET /plaintext HTTP/1.1\r\nHost: soak\r\n\r\n",
                                  "keepalive", "keepalive")
        except OSError as e:
            error("keepalive", repr(e))


def pipeline_loop():
    reqs = (b"GET /plaintext HTTP/1.1\r\nHost: soak\r\n\r\n" * 30 +
            b"POST /echo HTTP/1.1\r\nHost: soak\r\nContent-Length: 5\r\n\r\nhello")
    while not stop.is_set():
        try:
            with connect() as s:
                for _ in range(50):
                    if stop.is_set():
                        return
                    s.sendall(reqs)
                    rest = b""
                    for i in range(31):
                        # read_response reads from the socket; feed leftovers back first
                        st, body = pipelined_one(s, rest)
                        rest = body[1]
                        want = b"hello" if i == 30 else b"Hello, World!"
                        if st != 200 or body[0] != want:
                            error("pipeline", f"{st} {body[0][:40]!r}")
                    count("pipelined", 31)
        except OSError as e:
            error("pipeline", repr(e))


class Prefixed:
    """A socket whose first reads return leftover bytes."""
    def __init__(self, sock, prefix):
        self.sock, self.prefix = sock, prefix

    def recv(self, n):
        if self.prefix:
            data, self.prefix = self.prefix, b""
            return data
        return self.sock.recv(n)


def pipelined_one(sock, rest):
    st, _, body, rest = read_response(Prefixed(sock, rest))
    return st, (body, rest)


def static_loop():
    paths = ["/", "/index.html", "/big.bin", "/sub/style.css", "/missing", "/../etc/passwd"]
    while not stop.is_set():
        try:
            with connect() as s:
                for _ in range(50):
                    if stop.is_set():
                        return
                    p = rng.choice(paths)
                    extra = b""
                    if p == "/big.bin" and rng.random() < 0.5:
                        extra = b"Range: bytes=1000-1999\r\n"
                    if p == "/sub/style.css" and rng.random() < 0.5:
                        extra = b"Accept-Encoding: gzip\r\n"
                    s.sendall(b"GET " + p.encode() + b" HTTP/1.1\r\nHost: soak\r\n" + extra + b"\r\n")
                    st, h, body, _ = read_response(s)
                    if p == "/big.bin":
                        ok = (st == 206 and body == big[1000:2000]) if extra else (st == 200 and body == big)
                    elif p in ("/missing", "/../etc/passwd"):
                        ok = st in (400, 404)
                    else:
                        ok = st == 200 and len(body) > 0
                    if not ok:
                        error("static", f"{p} {st} {len(body)}")
                    count("static")
        except OSError as e:
            error("static", repr(e))


def ws_loop():
    while not stop.is_set():
        try:
            with connect() as s:
                key = base64.b64encode(os.urandom(16))
                s.sendall(b"GET /ws HTTP/1.1\r\nHost: soak\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
                buf = b""
                while b"\r\n\r\n" not in buf:
                    chunk = s.recv(4096)
                    if not chunk:
                        raise ConnectionError("closed during the handshake")
                    buf += chunk
                head, _, buf = buf.partition(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 101"):
                    error("ws", head[:60])
                    continue
                for i in range(200):
                    if stop.is_set():
                        break
                    msg = os.urandom(rng.randrange(1, 3000))
                    mask = os.urandom(4)
                    n = len(msg)
                    hdr = bytes([0x82, 0x80 | (n if n < 126 else 126)]) + (struct.pack(">H", n) if n >= 126 else b"")
                    s.sendall(hdr + mask + bytes(c ^ mask[j % 4] for j, c in enumerate(msg)))
                    while True:
                        while len(buf) < 2 or (buf[1] & 0x7f == 126 and len(buf) < 4):
                            chunk = s.recv(65536)
                            if not chunk:
                                raise ConnectionError("closed mid-frame")
                            buf += chunk
                        ln = buf[1] & 0x7f
                        off = 2
                        if ln == 126:
                            ln = struct.unpack(">H", buf[2:4])[0]
                            off = 4
                        while len(buf) < off + ln:
                            buf += s.recv(65536)
                        op, payload, buf = buf[0] & 0x0f, buf[off:off + ln], buf[off + ln:]
                        if op == 0x9 or op == 0xa:
                            continue
                        break
                    if op != 0x2 or payload != msg:
                        error("ws", f"echo mismatch op {op} len {len(payload)} want {n}")
                    count("ws")
                s.sendall(bytes([0x88, 0x82]) + b"\x00\x00\x00\x00" + b"\x03\xe8")
        except OSError as e:
            error("ws", repr(e))


MALFORMED = [
    b"GET / HTTP/1.1\r\nHost: soak\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"GET /\x00 HTTP/1.1\r\n\r\n", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
    b"GET / HTTP/1.1\r\nHost: soak\r\n" + b"X: " + b"a" * 20000 + b"\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: soak\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET / HTTP/9.9\r\nHost: soak\r\n\r\n", b"BREW /pot HTTP/1.1\r\nHost: soak\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: soak\r\nX: a\r\n b\r\n\r\n", b"\r\n\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: soak\r\nContent-Length: 100\r\n\r\nshort",  # then abandoned
]


def malformed_loop():
    while not stop.is_set():
        try:
            with connect() as s:
                s.settimeout(3)
                s.sendall(rng.choice(MALFORMED))
                if rng.random() < 0.3:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    continue  # reset
                try:
                    data = s.recv(4096)
                    if data and not data.startswith(b"HTTP/1.1 4") and not data.startswith(b"HTTP/1.1 5"):
                        error("malformed", data[:60])
                except socket.timeout:
                    pass
                count("malformed")
        except OSError as e:
            error("malformed", repr(e))
        time.sleep(0.01)


def tls_loop():
    import ssl
    ctx = ssl.create_default_context(cafile=cert)
    get = b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\n\r\n"
    while not stop.is_set():
        try:
            # A keep-alive connection, then full handshakes of one request each.
            with ctx.wrap_socket(socket.create_connection(("127.0.0.1", tls_port), timeout=10),
                                 server_hostname="localhost") as s:
                for _ in range(200):
                    get_plaintext(s, get, "tls", "https keep-alive")
            for _ in range(20):
                with ctx.wrap_socket(socket.create_connection(("127.0.0.1", tls_port), timeout=10),
                                     server_hostname="localhost") as s:
                    get_plaintext(s, get.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"),
                                  "tls", "https handshakes")
        except OSError as e:
            error("tls", repr(e))


threads = [threading.Thread(target=f, daemon=True) for f in
           [keepalive_loop, keepalive_loop, pipeline_loop, static_loop, ws_loop, ws_loop,
            malformed_loop, tls_loop]]
wrk = shutil.which("wrk")
wrk_proc = None
if wrk:
    wrk_proc = subprocess.Popen([wrk, "-t1", "-c16", f"-d{int(duration)}s",
                                 f"http://127.0.0.1:{port}/plaintext"],
                                stdout=open(os.path.join(out, "wrk.txt"), "w"), stderr=subprocess.STDOUT)
for t in threads:
    t.start()


def sample(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        return rss, fds
    except (OSError, AttributeError):
        return None


samples = {p: [] for p in [proc.pid] + workers}
crash = None
start = time.monotonic()
with open(os.path.join(out, "samples.csv"), "w") as csv:
    csv.write("t,pid,rss_kib,fds\n")
    while time.monotonic() - start < duration:
        time.sleep(1)
        t = time.monotonic() - start
        if proc.poll() is not None:
            crash = f"master exited with {proc.returncode}"
            break
        now = children(proc.pid)
        if now != workers:
            crash = f"workers changed: {workers} -> {now}"
            break
        for p in samples:
            s = sample(p)
            if s:
                samples[p].append(s)
                csv.write(f"{t:.0f},{p},{s[0]},{s[1]}\n")
stop.set()
if wrk_proc:
    try:
        wrk_proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        wrk_proc.kill()
for t in threads:
    t.join(15)
try:
    os.kill(proc.pid, signal.SIGTERM)
    code = proc.wait(timeout=20)
except subprocess.TimeoutExpired:
    os.killpg(proc.pid, signal.SIGKILL)
    code = "timeout"

failures = []
if crash:
    failures.append(crash)
if code != 0:
    failures.append(f"flared exit status at SIGTERM: {code}")
log = open(os.path.join(work, "error.log"), errors="replace").read()
for pat in ("killed by signal", "exited with status", "AddressSanitizer", "runtime error"):
    if pat in log:
        failures.append(f"error log mentions '{pat}'")
summary = {"minutes": minutes, "counts": stats["counts"], "errors": stats["errors"][:20], "processes": {}}
for p, ss in samples.items():
    if len(ss) < 10:
        continue
    k = len(ss) // 5
    early, late = ss[k:2 * k], ss[-k:]  # the first fifth is warm-up
    rss_early = statistics.median(x[0] for x in early)
    rss_late = statistics.median(x[0] for x in late)
    fd_early = statistics.median(x[1] for x in early)
    fd_late = statistics.median(x[1] for x in late)
    summary["processes"][p] = {"rss_kib": [ss[0][0], rss_early, rss_late, max(x[0] for x in ss)],
                               "fds": [ss[0][1], fd_early, fd_late, max(x[1] for x in ss)]}
    # Growth trend: the late median over the early one, beyond a margin for noise
    # (allocator caches, connection churn).
    if rss_late > rss_early * 1.10 + 2048:
        failures.append(f"pid {p}: RSS grew {rss_early:.0f} -> {rss_late:.0f} KiB")
    if fd_late > fd_early + 16:
        failures.append(f"pid {p}: descriptors grew {fd_early:.0f} -> {fd_late:.0f}")
valid_errors = [e for e in stats["errors"]]
if valid_errors:
    failures.append(f"{stats['counts'].get('errors', 0)} wrong answers or connection errors, e.g. "
                    + "; ".join(valid_errors[:5]))
if wrk_proc:
    wrk_out = open(os.path.join(out, "wrk.txt")).read()
    summary["wrk"] = wrk_out
    m = re.search(r"Socket errors: (.*)", wrk_out)
    if m:
        failures.append(f"wrk socket errors: {m.group(1)}")
    if "Non-2xx" in wrk_out:
        failures.append("wrk saw non-2xx responses")
summary["failures"] = failures
with open(os.path.join(out, "summary.json"), "w") as f:
    json.dump(summary, f, indent=2)
print(json.dumps({k: v for k, v in summary.items() if k != "wrk"}, indent=2))
if wrk_proc:
    print(summary["wrk"])
print("SOAK " + ("FAILED:\n  " + "\n  ".join(failures) if failures else "PASSED"))
sys.exit(1 if failures else 0)
PYEOF
