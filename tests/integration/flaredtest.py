"""Shared fixtures of the flared integration tests.

Each test starts the real built flared (path in $FLARED) on 127.0.0.1 and a
port found free at run time, with a config the test writes into its own temp
directory; it waits until the port accepts and stops the daemon with SIGTERM at
the end, asserting exit status 0. Standard library only.
"""
import os
import random
import re
import resource
import shlex
import shutil
import signal
import socket
import string
import subprocess
import tempfile
import time
import unittest

FLARED = os.environ.get("FLARED", "")
# A command that runs flared (scripts/valgrind-integration.sh sets it to valgrind
# with its options); empty for flared itself. Startup then gets more time.
FLARED_WRAPPER = shlex.split(os.environ.get("FLARED_WRAPPER", ""))

# How many times longer a wait on a condition may take when $FLARED_WRAPPER runs
# flared (memcheck is some 20-50x slower; scripts/valgrind-integration.sh gives meson's
# own timeouts the same factor).
WRAPPER_SLOWDOWN = 10
# The same for a $FLARED built with AddressSanitizer (CI's build-asan, 3-10x slower, on
# a loaded 2-core machine; .ci/run gives meson's own timeouts a factor of 3).
SANITIZER_SLOWDOWN = 3

# The config every test starts from; the $names are filled in by Server ($limits
# and $timeouts add ", key: value" pairs). Limits are lowered so the limit tests
# send little data.
BASE_CONFIG = """\
workers: $workers
error_log: $error_log
log_level: info
limits: {max_header_bytes: 4k, max_headers: 20, max_uri_bytes: 1k$limits}
timeouts: {shutdown: 8s$timeouts}
listeners:
  - address: 127.0.0.1:$port
    reuseport: $reuseport
routes:
  - path: /plaintext
    methods: [GET, HEAD]
    text: {body: "$text", content_type: text/plain}
  - path: /echo
    echo: {}
  - path: /raw
    echo: {raw: true}
  - path: /small
    echo: {raw: true}
    max_body_bytes: 1k
  - path: /status
    status: {}
  - path: /
    static: {root: www, index: [index.html]}
$extra"""

INDEX_HTML = b"<!doctype html><title>flared</title><p>integration test page</p>\n"
BIG_FILE_BYTES = 8 << 20  # larger than tcp_wmem's maximum, so a slow reader keeps it in flight


def free_port():
    """A loopback port that was free a moment ago (bind port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, interval=0.05):
    """Polls predicate until it returns a true value or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


_sanitized = []


def sanitized():
    """True when $FLARED was built with AddressSanitizer (its runtime is linked in)."""
    if not _sanitized:
        try:
            with open(FLARED, "rb") as f:
                _sanitized.append(b"__asan_init" in f.read())
        except OSError:
            _sanitized.append(False)
    return _sanitized[0]


def patience(seconds):
    """seconds, or WRAPPER_SLOWDOWN times as long when $FLARED_WRAPPER runs flared
    (SANITIZER_SLOWDOWN times for a sanitized flared): for waits on a condition that a
    slow flared meets late, never for a bound that a test asserts about flared's own
    timing."""
    if FLARED_WRAPPER:
        return seconds * WRAPPER_SLOWDOWN
    return seconds * SANITIZER_SLOWDOWN if sanitized() else seconds


def read_text(path):
    """The file's text, or "" when it does not exist (yet)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def accepts_or_died(proc, port):
    """True once proc (a Popen) has exited or 127.0.0.1:port accepts a connection."""
    if proc.poll() is not None:
        return True
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def terminate(proc, timeout=5.0):
    """Ends a helper process this test started (haproxy, nginx): SIGTERM, then SIGKILL
    after timeout seconds; reaps it either way."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


_wrapper_fd_floor = []


def wrapper_fd_floor():
    """The lowest descriptor number $FLARED_WRAPPER keeps for itself in the processes it
    runs, or None. valgrind moves its own descriptors (its log, the client executable,
    its pipes) to the top of the range and shows its client an RLIMIT_NOFILE lowered to
    just below them (by a number of slots that depends on its version); the client can
    never hold a descriptor there. A client of the same valgrind asked for its hard
    limit therefore names the first reserved descriptor."""
    if not _wrapper_fd_floor:
        floor = None
        if FLARED_WRAPPER and os.path.basename(FLARED_WRAPPER[0]) == "valgrind":
            out = subprocess.run([FLARED_WRAPPER[0], "-q", "--tool=none", "sh", "-c", "ulimit -Hn"],
                                 capture_output=True, text=True, check=True).stdout.split()
            floor = int(out[-1]) if out and out[-1].isdigit() else None
        _wrapper_fd_floor.append(floor)
    return _wrapper_fd_floor[0]


def rss_kib(pid):
    """The resident set size of a process (VmRSS), in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def open_fds(pid):
    """The number of descriptors pid holds, not counting those its wrapper keeps for
    itself out of the program's range (see wrapper_fd_floor)."""
    floor = wrapper_fd_floor()
    return len([fd for fd in os.listdir(f"/proc/{pid}/fd") if floor is None or int(fd) < floor])


def children_of(pid):
    """Pids of the direct children of pid, from /proc (the master's workers)."""
    kids = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return sorted(set(kids))


class Server:
    """One flared master started on a free port with a config written by the test."""

    def __init__(self, workers=1, reuseport=False, text="Hello, World!", extra="",
                 error_log="stderr", env=None, big_file=False, limits="", timeouts=""):
        self.dir = tempfile.mkdtemp(prefix="flared-it-")
        self.config_path = os.path.join(self.dir, "flared.yaml")
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        self.env = env
        # A test may substitute its own command.
        self.argv = FLARED_WRAPPER + [FLARED, "-c", self.config_path]
        self.proc = None
        os.mkdir(os.path.join(self.dir, "www"))
        with open(os.path.join(self.dir, "www", "index.html"), "wb") as f:
            f.write(INDEX_HTML)
        self.big = b""
        if big_file:
            self.big = random.Random(8).randbytes(BIG_FILE_BYTES)
            with open(os.path.join(self.dir, "www", "big.bin"), "wb") as f:
                f.write(self.big)
        self.params = {"workers": workers, "reuseport": "true" if reuseport else "false",
                       "text": text, "extra": extra, "error_log": error_log, "limits": limits,
                       "timeouts": timeouts}

    # -- config ---------------------------------------------------------------
    def config_text(self, **overrides):
        params = dict(self.params, port=self.port, **overrides)
        return string.Template(BASE_CONFIG).substitute(params)

    def write_config(self, verbatim=None, **overrides):
        """Writes verbatim, or the base config with overrides (which stick for later writes)."""
        self.params.update(overrides)
        text = self.config_text() if verbatim is None else verbatim
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.config_path)  # a reload never sees a half-written file

    # -- lifecycle ------------------------------------------------------------
    def start(self, timeout=5.0):
        """Starts flared and waits until its port accepts; retries if the port was taken."""
        last = ""
        if FLARED_WRAPPER:
            timeout = max(timeout, 60.0)
        for _ in range(3):
            self.port = free_port()
            self.write_config()
            self.stderr = open(self.stderr_path, "ab")
            env = dict(os.environ)
            env.pop("NOTIFY_SOCKET", None)
            if self.env:
                env.update(self.env)
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                         stdout=self.stderr, stderr=self.stderr, env=env,
                                         start_new_session=True)
            if wait_for(lambda: accepts_or_died(self.proc, self.port), timeout) \
                    and self.proc.poll() is None:
                return self
            self.kill()
            last = self.log()
            if "Address already in use" not in last:
                break
        raise AssertionError(f"flared did not start on port {self.port}:\n{last}")

    @property
    def pid(self):
        return self.proc.pid

    def signal(self, sig):
        self.proc.send_signal(sig)

    def reloads(self):
        """How many reloads the master has logged as done so far."""
        return self.log().count("reloaded:")

    def reload(self, timeout=5.0):
        """SIGHUP, then waits for the reload's end and for the old workers to go (see
        wait_reloaded)."""
        done = self.reloads()
        self.signal(signal.SIGHUP)
        self.wait_reloaded(done + 1, timeout)

    def wait_reloaded(self, count, timeout=5.0):
        """Waits until the master has logged its count-th reload done and the old workers
        have gone, for a reload that the test or the master itself began. A new worker
        serving is not enough: until an old one reads its drain signal it still accepts
        from the shared socket, with the old config and the old rate table."""
        if not wait_for(lambda: self.reloads() >= count, patience(timeout)) \
                or not self.wait_workers(self.params["workers"], timeout):
            raise AssertionError(f"the reload did not complete:\n{self.log()}")

    def wait(self, timeout):
        """Waits for the master to exit; returns its status (fails the test on timeout)."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"flared did not exit within {timeout}s:\n{self.log()}")

    def stop(self, timeout=10.0):
        """SIGTERM, then the exit status."""
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self):
        """Hard kill of the process group this Server started (cleanup only)."""
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()

    def cleanup(self):
        self.kill()
        if self.proc:
            self.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self):
        return read_text(self.stderr_path)

    def workers(self):
        """Pids of the master's live workers (exited ones not yet reaped are left out)."""
        return [p for p in children_of(self.proc.pid) if alive(p)]

    def wait_workers(self, n, timeout=3.0):
        """The pids of the master's n live workers once there are n (the master accepts
        into its backlog before it forks them), or [] after timeout (see patience)."""
        return wait_for(lambda: len(self.workers()) == n and self.workers(),
                        patience(timeout)) or []

    # -- clients --------------------------------------------------------------
    def connect(self, timeout=5.0, rcvbuf=None):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(timeout)
        try:
            s.connect(("127.0.0.1", self.port))
        except BaseException:
            s.close()
            raise
        return s

    def exchange(self, data, timeout=5.0):
        """Sends data on a new connection, reads until the server closes (or timeout).
        Returns (bytes, closed) where closed is True when EOF or a reset was seen."""
        with self.connect(timeout) as s:
            s.sendall(data)
            return read_until_close(s, timeout)

    def get(self, path, timeout=5.0):
        """One GET with Connection: close; returns the parsed Response."""
        data, _ = self.exchange(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
                                .encode(), timeout)
        responses, rest = parse_responses(data)
        if len(responses) != 1 or rest:
            raise AssertionError(f"GET {path}: unexpected reply {data[:300]!r}")
        return responses[0]


def skip_unless_nofile_can_reach(test, need):
    """Skips test unless flared can raise RLIMIT_NOFILE to need (hard limit, valgrind)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        test.skipTest(f"hard limit {hard} is below {need}")
    if wrapper_fd_floor() is not None:
        # valgrind answers the program's setrlimit itself and keeps the top of
        # the range for its own descriptors, so the kernel's limit never moves.
        test.skipTest("valgrind keeps RLIMIT_NOFILE to itself")


def read_pid(path):
    """The pid a pid file holds, or None (no file, no number)."""
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def start_from_copy(test, **server_kwargs):
    """Starts Server(**server_kwargs) from a copy of flared in its dir (SIGUSR2 executes the
    path it was started from, so a test may replace that file); returns (server, copy path)."""
    srv = Server(**server_kwargs)
    test.addCleanup(srv.cleanup)
    exe = os.path.join(srv.dir, "bin", "flared")
    os.mkdir(os.path.dirname(exe))
    shutil.copy2(FLARED, exe)
    srv.argv = FLARED_WRAPPER + [exe, "-c", srv.config_path]
    srv.start()
    return srv, exe


def require_flared():
    """Fails (AssertionError) unless $FLARED names an executable."""
    if not FLARED or not os.access(FLARED, os.X_OK):
        raise AssertionError(f"$FLARED does not name the built flared executable: {FLARED!r}")


class ServerTestCase(unittest.TestCase):
    """A TestCase with self.start_server(...) that cleans up whatever it started."""

    def start_server(self, server_class=Server, **kwargs):
        """Starts server_class(**kwargs) (a Server) for this test only."""
        require_flared()
        srv = server_class(**kwargs)
        self.addCleanup(srv.cleanup)
        srv.start()
        return srv

    def assertStopsCleanly(self, srv, timeout=10.0):
        status = srv.stop(timeout)
        self.assertEqual(status, 0, f"flared exited with {status}; log:\n{srv.log()}")


class SharedServerTestCase(ServerTestCase):
    """A ServerTestCase whose tests share one flared, cls.srv: server_class(**server_kwargs)
    started in setUpClass and stopped in tearDownClass, which requires exit status 0.
    prepare_server(srv) runs before the start (files in srv.dir), server_ready(srv) after
    it; the server is cleaned up if either or the start fails."""

    server_class = Server
    server_kwargs = {}

    @classmethod
    def prepare_server(cls, srv):
        pass

    @classmethod
    def server_ready(cls, srv):
        pass

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.srv = start_shared(cls.server_class(**cls.server_kwargs), cls.prepare_server,
                               cls.server_ready)

    @classmethod
    def tearDownClass(cls):
        try:
            stop_shared(cls.srv)
        finally:
            super().tearDownClass()


def start_shared(srv, prepare=None, ready=None):
    """Starts a server that a whole class shares (setUpClass), calling prepare(srv) before
    and ready(srv) after the start; cleans the server up if any of it fails."""
    try:
        require_flared()
        if prepare:
            prepare(srv)
        srv.start()
        if ready:
            ready(srv)
    except BaseException:
        srv.cleanup()
        raise
    return srv


def stop_shared(srv):
    """Stops a shared server (tearDownClass), requiring exit status 0, and cleans up."""
    try:
        status = srv.stop()
        if status != 0:
            raise AssertionError(f"flared exited with {status}:\n{srv.log()}")
    finally:
        srv.cleanup()


# -- raw HTTP/1.1 ------------------------------------------------------------

def beyond_socket_buffers():
    """A body size that the kernel cannot take into its socket buffers at once (four
    times the largest send buffer TCP may grow to, 16 to 64 MiB: a receiver with a
    small window keeps the sender's buffer far below a larger maximum), so a server
    sending it to a client that does not read is still sending."""
    try:
        with open("/proc/sys/net/ipv4/tcp_wmem") as f:
            wmem_max = int(f.read().split()[2])
    except (OSError, ValueError, IndexError):
        wmem_max = 4 << 20
    return min(max(16 << 20, 4 * wmem_max), 64 << 20)


def recv_head(sock):
    """Reads until a response head (through its blank line) has arrived; returns every
    byte read, the head and whatever of the body came with it."""
    data = sock.recv(65536)
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"the connection ended inside a head: {data[:300]!r}")
        data += chunk
    return data


def send_head_awaiting_continue(sock, head):
    """Sends a request head that carries Expect: 100-continue and reads the server's 100
    Continue (RFC 9110 §10.1.1). Once it is in, a worker has accepted the connection and
    read the head: the request is in flight, which a drain waits for, where a connection
    still queued in the kernel or a head not yet read is not."""
    if b"\r\nExpect: 100-continue\r\n" not in head:
        raise AssertionError(f"no Expect: 100-continue in {head!r}")
    sock.sendall(head)
    data = recv_head(sock)
    if not data.startswith(b"HTTP/1.1 100 ") or not data.endswith(b"\r\n\r\n"):
        raise AssertionError(f"no lone 100 Continue: {data[:300]!r}")


def read_until_close(sock, timeout):
    """Reads until EOF, a reset, or timeout seconds without the peer closing."""
    data = b""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return data, False
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return data, False
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk


def read_response(sock, method="GET", timeout=5.0):
    """Reads exactly one response from a blocking socket (keep-alive friendly): the
    final response (after any interim ones) and the bytes read past it, which may hold
    the next responses whole when they came in the same read."""
    data = b""
    deadline = time.monotonic() + timeout
    while True:
        responses, rest = parse_responses(data, [method], max_finals=1)
        if responses and responses[-1].status >= 200:
            return responses[-1], rest
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no complete response within {timeout}s: {data[:300]!r}")
        sock.settimeout(left)
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed mid-response: {data[:300]!r}")
        data += chunk


class Response:
    def __init__(self, status, reason, headers, body):
        self.status, self.reason, self.headers, self.body = status, reason, headers, body

    def header(self, name):
        """The value of the only field called name (case-insensitive), or None."""
        values = self.all(name)
        if len(values) > 1:
            raise AssertionError(f"{name} appears {len(values)} times")
        return values[0] if values else None

    def all(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def closes(self):
        """True when the response announces Connection: close."""
        return any("close" in (t.strip().lower() for t in v.split(",")) for v in self.all("Connection"))

    def __repr__(self):
        return f"<Response {self.status} {self.headers} {self.body[:60]!r}>"


_STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3}) ([^\r\n]*)")


def parse_responses(data, methods=None, max_finals=None):
    """Splits data into complete responses (interim 1xx included) and the bytes left.
    methods[i] is the method of the i-th final response (HEAD has no body). With
    max_finals, parsing stops after that many final responses."""
    out = []
    finals = 0
    while True:
        end = data.find(b"\r\n\r\n")
        if end < 0 or finals == max_finals:
            return out, data
        lines = data[:end].split(b"\r\n")
        m = _STATUS_LINE.fullmatch(lines[0])
        if not m:
            raise AssertionError(f"bad status line {lines[0][:100]!r}")
        status = int(m.group(1))
        headers = []
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep or name != name.strip() or not name:
                raise AssertionError(f"bad header line {line!r}")
            headers.append((name.decode(), value.strip().decode("latin-1")))
        rest = data[end + 4:]
        resp = Response(status, m.group(2).decode(), headers, b"")
        method = "GET"
        if status >= 200 and methods and finals < len(methods):
            method = methods[finals]
        if status < 200 or status in (204, 304) or method == "HEAD":
            body_len = 0
        elif resp.header("Transfer-Encoding"):
            if resp.header("Transfer-Encoding").lower() != "chunked":
                raise AssertionError("unexpected transfer coding")
            body, consumed = _dechunk(rest)
            if body is None:
                return out, data
            resp.body = body
            rest = rest[consumed:]
            body_len = None
        elif resp.header("Content-Length") is not None:
            body_len = int(resp.header("Content-Length"))
        else:
            raise AssertionError(f"response without framing: {data[:200]!r}")
        if body_len is not None:
            if len(rest) < body_len:
                return out, data
            resp.body, rest = rest[:body_len], rest[body_len:]
        out.append(resp)
        if status >= 200:
            finals += 1
        data = rest


def _dechunk(data):
    body, pos = b"", 0
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            return None, 0
        size = int(data[pos:eol].split(b";")[0], 16)
        pos = eol + 2
        if size == 0:
            end = data.find(b"\r\n\r\n", pos - 2)
            return (body, end + 4) if end >= 0 else (None, 0)
        if len(data) < pos + size + 2:
            return None, 0
        body += data[pos:pos + size]
        pos += size + 2


def run(main_module="__main__"):
    """unittest.main with verbose output, so meson's log shows every test."""
    unittest.main(module=main_module, verbosity=2)
