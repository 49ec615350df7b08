#!/usr/bin/env python3
"""Request smuggling and desync review of flared's HTTP/1.1 framing, differential:
every request of smuggling_corpus.CASES (with PROBE behind it in the same write)
goes to a real flared on loopback, and its answers must be the ones the corpus
expects from RFC 9112 / RFC 9110: the statuses in order, the body the echo route
saw, whether PROBE was answered (so where the message ended), a Connection: close
before every close, and the connection closed at the end. The same answers must
come when each case is sent a byte at a time, and (but for PROXY_DIFFERS) when it
goes through flared's own proxy route in front of the flared under test, whose
streamed request bodies take another path than the buffered ones.

When Debian's nginx and haproxy are installed, the corpus (and test_raw.py's
rejections) also goes through each of them in front of the same flared (nginx
proxy_pass, HAProxy mode http), and a table in the test log compares them: where
a front proxy frames or refuses differently from flared, the one behind it could
see another request than the one the proxy saw. A same status list with different
echoed bodies would be such a desync (none is). Those columns are reported, not
asserted (FRONT_NOTES in the corpus explains each difference); a missing nginx or
haproxy leaves its column out."""
import concurrent.futures
import os
import shutil
import socket
import string
import subprocess
import sys
import tempfile
import time

import flaredtest as ft
from smuggling_corpus import CASES, FRONT_NOTES, P, PROBE, PROBE_BODY
from test_raw import REJECTED

RAW_CASES = [("raw:" + name, data, [status], "test_raw.py") for name, data, status in REJECTED]

# The header and body timeouts turn a request that never completes into a 408; under
# a wrapper (valgrind) they are longer, so that a slow flared still reads in time. The
# header's is a deadline for the whole head, which send_in_pieces delivers in up to 340
# pieces a millisecond or more apart: on a loaded machine that took over a second, and
# heads that arrive whole in one write got 408 in pieces.
TIMEOUTS = ", header: %ds, body: %ds" % (ft.patience(3), ft.patience(1))
READ_TIMEOUT = ft.patience(3) + 5.0  # past those timeouts, on a loaded machine too


def which(name):
    path = shutil.which(name) or f"/usr/sbin/{name}"
    return path if os.access(path, os.X_OK) else None


NGINX = which("nginx")
HAPROXY = which("haproxy")

NGINX_CONFIG = """\
daemon off;
master_process off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log info;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    client_header_timeout 1s;
    client_body_timeout 1s;
    server {
        listen 127.0.0.1:$port;
        location / { proxy_pass http://127.0.0.1:$backend; }
    }
}
"""

HAPROXY_CONFIG = """\
global
    maxconn 256
defaults
    mode http
    timeout connect 2s
    timeout client 2s
    timeout server 5s
    timeout http-request 1s
frontend fe
    bind 127.0.0.1:$port
    default_backend be
backend be
    server s1 127.0.0.1:$backend
"""


FLARED_FRONT_CONFIG = """\
workers: 1
error_log: stderr
limits: {max_header_bytes: 4k, max_headers: 20, max_uri_bytes: 1k}
timeouts: {shutdown: 8s$timeouts}
listeners:
  - address: 127.0.0.1:$port
routes:
  - path: /
    proxy: {upstream: app}
upstreams:
  app:
    servers: ["127.0.0.1:$backend"]
"""


class FlaredFront(ft.Server):
    """flared as the front: every path proxied to the flared under test, so that
    request bodies take the streamed path (flare_http_stream_read_body)."""

    def __init__(self, backend):
        super().__init__(timeouts=TIMEOUTS)
        self.backend = backend

    def config_text(self, **overrides):
        return string.Template(FLARED_FRONT_CONFIG).substitute(
            port=self.port, backend=self.backend, timeouts=TIMEOUTS)


# Where flared's proxy route in front changes the answer, and why: statuses expected.
PROXY_DIFFERS = {
    # The proxy adds its forwarding fields, so the upstream's own limits (4k, 20
    # fields) are passed: its 431 is relayed, and the proxy keeps the client.
    "field_value_near_limit": ([431, P], None),
    "twenty_fields": ([431, P], None),
    "head_exactly_at_limit": ([431, P], None),
    # The proxy's route takes POST, so it answers 100 (Continue) and waits for the
    # body, as nginx's proxy does; the upstream, passed a small body without Expect,
    # waits for it too before its 405, so the client that sends none gets the 408.
    "expect_on_refused_method": ([100, 408], None),
}


def send_case(port, data):
    """Sends data on a new connection; (bytes read until close or timeout, closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT) as s:
        s.sendall(data)
        return ft.read_until_close(s, READ_TIMEOUT)


def cut_points(data, every=300, limit=40):
    """Where to split data: after each of its first `every` bytes, then after each
    LF, ':' and ';' and before each CR of its first 4 KiB (`limit` of those), so
    that line ends deep in a body straddle two reads too."""
    cuts = set(range(1, every))
    later = set()
    for i, b in enumerate(data[every:4096], every):
        if b in b"\n:;":
            later.add(i + 1)
        elif b == 13:
            later.add(i)
    cuts.update(sorted(later)[:limit])
    return sorted(c for c in cuts if 0 < c < len(data))


def send_in_pieces(port, data, pause=0.001):
    """send_case, but written in pieces at cut_points with a pause between them, so
    the server reads the head and body a piece at a time."""
    with socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        bounds = [0] + cut_points(data) + [len(data)]
        try:
            for a, b in zip(bounds, bounds[1:]):
                s.sendall(data[a:b])
                time.sleep(pause)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before the end: the answer is already on its way
        return ft.read_until_close(s, READ_TIMEOUT)


def answers(data, closed):
    """The answers in data as a list of (status, body, Response), PROBE's as P; and a
    note when the bytes are no HTTP/1.1 responses or the connection stayed open."""
    try:
        responses, rest = ft.parse_responses(data)
    except (AssertionError, ValueError, UnicodeDecodeError) as e:
        return [], f"unparsable ({e}): {data[:60]!r}"
    out = []
    for r in responses:
        probe = r.status == 200 and r.body == PROBE_BODY
        out.append((P, None, r) if probe else (r.status, r.body, r))
    note = ""
    if rest:
        note = f"trailing bytes {rest[:40]!r}"
    if not closed:
        note = (note + "; " if note else "") + "left open"
    return out, note


def echoed(got):
    """The bodies /raw echoed (200 answers): what each request's body was taken to be."""
    return [body for status, body, _ in got if status == 200]


def show(body):
    """A body in a table cell: short ones as text, long ones by their length."""
    return repr(body.decode("latin-1")) if len(body) <= 12 else f"{len(body)} bytes"


def brief(got, note):
    """One cell of the table: statuses, the first 200's body in brackets, P for PROBE."""
    cells = []
    for status, body, _ in got:
        if status == 200 and body is not None and len(cells) == 0:
            cells.append(f"200[{show(body)}]")
        else:
            cells.append(str(status))
    text = " ".join(cells) or "-"
    return text + (f" ({note})" if note else "")


def expected_brief(expect):
    cells = []
    for item in expect:
        if isinstance(item, tuple):
            cells.append(f"{item[0]}[{show(item[1])}]")
        else:
            cells.append(str(item))
    return " ".join(cells)


def matches(expect, got, note):
    if note or len(expect) != len(got):
        return False
    for want, (status, body, _) in zip(expect, got):
        if isinstance(want, tuple):
            if (status, body) != want:
                return False
        elif want != status:
            return False
    return True


def run_corpus(port, send=send_case, cases=CASES):
    """{name: (answers, note)} for every case, sent concurrently (the timeouts overlap)."""
    def one(case):
        data, closed = send(port, case[1] + PROBE)
        return case[0], answers(data, closed)
    with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
        return dict(pool.map(one, cases))


class Front:
    """nginx or haproxy started on a free port in front of flared, from a config
    template with $dir, $port and $backend."""

    def __init__(self, argv_of, template, backend):
        self.dir = tempfile.mkdtemp(prefix="flared-front-")
        self.port = ft.free_port()
        self.config = os.path.join(self.dir, "front.conf")
        with open(self.config, "w") as f:
            f.write(string.Template(template).substitute(dir=self.dir, port=self.port,
                                                         backend=backend))
        self.log = open(os.path.join(self.dir, "front.log"), "wb")
        self.proc = subprocess.Popen(argv_of(self.config), stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        if not ft.wait_for(lambda: ft.accepts_or_died(self.proc, self.port), 10) \
                or self.proc.poll() is not None:
            self.stop()
            raise AssertionError(f"front did not start: {ft.read_text(self.log.name)}")

    def stop(self):
        ft.terminate(self.proc)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class SmugglingTests(ft.SharedServerTestCase):
    server_kwargs = {"timeouts": TIMEOUTS}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        front = FlaredFront(cls.srv.port)
        try:
            cls.flared = run_corpus(cls.srv.port)
            front.start()
            cls.through_flared = run_corpus(front.port, cases=CASES + RAW_CASES)
            status = front.stop()
            if status != 0:
                raise AssertionError(f"the front flared exited with {status}:\n{front.log()}")
        except BaseException:
            cls.srv.cleanup()  # tearDownClass does not run after a failed setUpClass
            raise
        finally:
            front.cleanup()

    def test_corpus_is_large_and_names_unique(self):
        names = [c[0] for c in CASES]
        self.assertEqual(len(names), len(set(names)))
        self.assertGreaterEqual(len(CASES), 80)
        for name, _, expect, reason in CASES:
            self.assertTrue(expect and reason, name)

    def test_flared_answers_as_the_rfc_requires(self):
        for name, _, expect, reason in CASES:
            with self.subTest(name):
                got, note = self.flared[name]
                self.assertTrue(matches(expect, got, note),
                                f"{name}: expected {expected_brief(expect)}, got "
                                f"{brief(got, note)} ({reason})")

    def test_same_answers_when_sent_in_pieces(self):
        """Where a message ends does not depend on how its bytes arrive: each case sent
        a byte at a time (see cut_points) gets the answers it gets in one write.
        Only a 100 (Continue) may come or not: it depends on whether the body was there
        when the head was read (RFC 9110 §10.1.1), so it is left out of both sides."""
        pieces = run_corpus(self.srv.port, send_in_pieces)
        for name, _, expect, reason in CASES:
            with self.subTest(name):
                got, note = pieces[name]
                expect = [e for e in expect if e != 100]
                got = [g for g in got if g[0] != 100]
                self.assertTrue(matches(expect, got, note),
                                f"{name} in pieces: expected {expected_brief(expect)}, got "
                                f"{brief(got, note)} ({reason})")

    def test_mutated_requests_frame_the_same_in_pieces(self):
        """1,000 seeded mutations of the llhttp differential's requests (CL/TE, line
        ends, folds, chunk syntax, random bytes): a byte at a time, each gets the
        statuses and bodies it gets in one write (a 100 aside, as above)."""
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                        "..", "differential"))
        import gen_requests
        cases = [(f"mutation {i}", r, None, "") for i, r in
                 enumerate(gen_requests.generate(1000, 20261207))]
        whole = run_corpus(self.srv.port, cases=cases)
        pieces = run_corpus(self.srv.port, send_in_pieces, cases=cases)

        def seen(result):
            got, note = result
            return [(s, b) for s, b, _ in got if s != 100], note
        for name, data, _, _ in cases:
            with self.subTest(name):
                self.assertEqual(seen(pieces[name]), seen(whole[name]), f"{data[:200]!r}")

    def test_proxy_route_frames_as_flared_does(self):
        """flared's proxy route in front of flared: every case gets the statuses and
        echoed bodies flared alone gives it, but for PROXY_DIFFERS."""
        for name, _, _, _ in CASES:
            with self.subTest(name):
                alone, _ = self.flared[name]
                chain, note = self.through_flared[name]
                got = ([s for s, _, _ in chain], echoed(chain))
                want = PROXY_DIFFERS.get(name, ([s for s, _, _ in alone], echoed(alone)))
                self.assertEqual(got[0], want[0], f"{name} through the proxy ({note})")
                if name not in PROXY_DIFFERS:
                    self.assertEqual(got[1], want[1], f"{name}: bodies through the proxy")

    def test_a_connection_ends_only_after_saying_close(self):
        """When PROBE goes unanswered, the last answer announced the close (RFC 9112 §9.6)."""
        for name, _, _, _ in CASES:
            got, _ = self.flared[name]
            with self.subTest(name):
                self.assertTrue(got, f"{name}: no answer")
                status, _, last = got[-1]
                if status != P:
                    self.assertTrue(last.closes(), f"{name}: {status} without Connection: close")

    def test_differential_table(self):
        """nginx, haproxy and flared's own proxy route in front of flared, side by side
        with flared alone: this corpus, then test_raw.py's rejections (asserted there,
        only compared here). A missing nginx or haproxy leaves its column out."""
        table_cases = CASES + RAW_CASES
        flared = dict(self.flared, **run_corpus(self.srv.port, cases=RAW_CASES))
        columns = {}
        fronts = [("nginx", NGINX, NGINX_CONFIG, lambda c: [NGINX, "-c", c, "-e", "stderr"]),
                  ("haproxy", HAPROXY, HAPROXY_CONFIG, lambda c: [HAPROXY, "-db", "-f", c])]
        for label, exe, template, argv_of in fronts:
            if not exe:
                continue
            front = Front(argv_of, template, self.srv.port)
            try:
                columns[label] = run_corpus(front.port, cases=table_cases)
            finally:
                front.stop()
        columns["flared"] = self.through_flared
        header = ["case", "expected", "flared"] + [f"{k}->flared" for k in columns]
        rows = []
        differ = {k: 0 for k in columns}
        bodies = {k: 0 for k in columns}
        for name, _, expect, _ in table_cases:
            mine = brief(*flared[name])
            row = [name, expected_brief(expect), mine]
            for k, col in columns.items():
                theirs = brief(*col[name])
                if [s for s, _, _ in col[name][0]] != [s for s, _, _ in flared[name][0]]:
                    differ[k] += 1
                    theirs = "* " + theirs
                elif echoed(col[name][0]) != echoed(flared[name][0]):
                    # The same answers, but a body framed differently: a desync.
                    bodies[k] += 1
                    theirs = "! " + theirs
                row.append(theirs)
            rows.append(row)
        widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in [header] + rows]
        summary = ", ".join(f"{k}->flared differs from flared in {n} (bodies in {bodies[k]})"
                            for k, n in differ.items())
        print(f"\n{len(table_cases)} cases; {summary}. * marks a different status list, "
              "! the same statuses with different bodies")
        print("\n".join(lines))
        unnoted = sorted(name for name, _, _, _ in CASES
                         if name not in FRONT_NOTES and name not in PROXY_DIFFERS
                         and any(len(col[name][0]) != len(flared[name][0]) or
                                 [s for s, _, _ in col[name][0]] !=
                                 [s for s, _, _ in flared[name][0]]
                                 for k, col in columns.items() if k != "flared"))
        print(f"front differences without a FRONT_NOTES entry: {unnoted or 'none'}")
        self.assertEqual(len(rows), len(table_cases))


if __name__ == "__main__":
    ft.run()
