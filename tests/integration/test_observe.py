"""Observability of the real flared: the access log (default combined format,
custom formats with headers and request time, buffering and the one-second
flush, SIGUSR1 reopen after a logrotate-style rename, a route's access_log: off),
the status route in JSON and in the Prometheus text format (checked with
prometheus_client's parser) with several workers, WebSocket counters, and
timeouts.drain_delay (health answers 503 while new connections are still served).
"""
import http.client
import json
import grp
import os
import pwd
import re
import signal
import subprocess
import time
import unittest

import flaredtest as ft
import test_websocket as wst

# The exposition format is checked by prometheus_client's parser (Debian's
# python3-prometheus-client, installed by scripts/install-deps.sh for /usr/bin/python3,
# which may not be the interpreter running this file).
PARSE_SCRIPT = """
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {"families": {}, "samples": []}
for fam in text_string_to_metric_families(sys.stdin.read()):
    out["families"][fam.name] = fam.type
    for s in fam.samples:
        out["samples"].append([s.name, s.labels, s.value])
json.dump(out, sys.stdout)
"""
SYSTEM_PYTHON = "/usr/bin/python3"
HAVE_PARSER = subprocess.run([SYSTEM_PYTHON, "-c", "import prometheus_client"],
                             capture_output=True).returncode == 0

COMBINED = re.compile(
    r'^(?P<addr>\S+) - - \[(?P<time>\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] '
    r'"(?P<request>[^"]*)" (?P<status>\d{3}) (?P<bytes>\d+) "(?P<referer>[^"]*)" '
    r'"(?P<ua>[^"]*)"$')

EXTRA_ROUTES = """\
  - path: /quiet
    text: {body: "shh"}
    access_log: off
  - path: /health
    health: {}
  - path: /ws
    websocket: {}
"""


def log_lines(path):
    return [l for l in ft.read_text(path).split("\n") if l]


def curl(*args):
    return subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", *args],
                          capture_output=True, text=True, timeout=10).stdout


def holds_open(pid, path):
    """True when process pid has a descriptor open on path (by the name it has now)."""
    fds = f"/proc/{pid}/fd"
    for fd in os.listdir(fds):
        try:
            if os.readlink(os.path.join(fds, fd)) == path:
                return True
        except OSError:  # closed meanwhile
            pass
    return False


class AccessLogTest(ft.ServerTestCase):
    def start_logged(self, fmt=None, workers=1, extra=""):
        extra = EXTRA_ROUTES + extra
        srv = ft.Server(workers=workers, extra=extra)
        os.chmod(srv.dir, 0o755)  # readable by a worker that runs as another user
        self.addCleanup(srv.cleanup)
        srv.log_path = os.path.join(srv.dir, "access.log")
        top = f"access_log: {srv.log_path}\n"
        if fmt is not None:
            top += "access_log_format: '" + fmt.replace("'", "''") + "'\n"
        srv.params["extra"] = extra + top
        srv.start()
        return srv

    def test_combined_default(self):
        srv = self.start_logged()
        url = f"http://127.0.0.1:{srv.port}"
        self.assertEqual(curl("-A", 'Agent "quoted"\\x', "-e", "http://ref.example/a",
                              url + "/plaintext?x=1"), "200")
        self.assertEqual(curl(url + "/nothing-here"), "404")
        self.assertEqual(curl(url + "/quiet"), "200")  # access_log: off
        lines = ft.wait_for(lambda: len(log_lines(srv.log_path)) >= 2 and log_lines(srv.log_path),
                            3)
        self.assertTrue(lines, "no line flushed within 3 s")
        self.assertEqual(len(lines), 2, lines)
        m = COMBINED.match(lines[0])
        self.assertIsNotNone(m, lines[0])
        self.assertEqual(m["addr"], "127.0.0.1")
        self.assertEqual(m["request"], "GET /plaintext?x=1 HTTP/1.1")
        self.assertEqual(m["status"], "200")
        self.assertEqual(m["bytes"], str(len("Hello, World!")))
        self.assertEqual(m["referer"], "http://ref.example/a")
        # The quote and backslash are escaped: the line cannot be split or forged.
        self.assertEqual(m["ua"], "Agent \\x22quoted\\x22\\x5Cx")
        t = time.strptime(m["time"], "%d/%b/%Y:%H:%M:%S %z")
        self.assertLess(abs(time.mktime(t) - time.mktime(time.localtime())), 120)
        m = COMBINED.match(lines[1])
        self.assertIsNotNone(m, lines[1])
        self.assertEqual((m["request"], m["status"], m["referer"], m["ua"][:5]),
                         ("GET /nothing-here HTTP/1.1", "404", "-", "curl/"))
        self.assertNotIn("/quiet", "\n".join(lines))
        self.assertStopsCleanly(srv)

    def test_forged_line_is_escaped(self):
        srv = self.start_logged()
        with srv.connect() as s:
            s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                      b"User-Agent: x\" 200 1 \"-\" \"y\xff\r\n\r\n")
            ft.read_until_close(s, 5)
        # A control byte in a field is a 400 (RFC 9110 §5.5); it is logged without a request.
        data, _ = srv.exchange(b"GET /plaintext HTTP/1.1\r\nHost: t\r\nX: a\x01b\r\n\r\n")
        self.assertTrue(data.startswith(b"HTTP/1.1 400 "), data)
        lines = ft.wait_for(lambda: len(log_lines(srv.log_path)) >= 2 and log_lines(srv.log_path),
                            3)
        self.assertTrue(lines)
        self.assertEqual(len(lines), 2, lines)
        self.assertTrue(lines[0].endswith('"x\\x22 200 1 \\x22-\\x22 \\x22y\\xFF"'), lines[0])
        self.assertIsNotNone(COMBINED.match(lines[0]), lines[0])
        m = COMBINED.match(lines[1])
        self.assertIsNotNone(m, lines[1])
        self.assertEqual((m["request"], m["status"]), ("-", "400"))

    def test_custom_format_headers_and_time(self):
        fmt = ('$remote_addr|$status|$request_time_us|$http_x_trace_id|$sent_http_content_type|'
               '$worker|$bytes_sent|$body_bytes_sent|$request_method|$request_uri|$tls_version|'
               '$request_body_length')
        srv = self.start_logged(fmt)
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
        conn.request("GET", "/plaintext", headers={"X-Trace-Id": "abc-123"})
        r = conn.getresponse()
        body = r.read()
        conn.request("POST", "/raw", body=b"0123456789")
        r2 = conn.getresponse()
        r2.read()
        conn.close()
        lines = ft.wait_for(lambda: len(log_lines(srv.log_path)) >= 2 and log_lines(srv.log_path),
                            3)
        self.assertTrue(lines)
        f = lines[0].split("|")
        self.assertEqual(len(f), 12, lines[0])
        self.assertEqual(f[0], "127.0.0.1")
        self.assertEqual(f[1], "200")
        self.assertTrue(f[2].isdigit() and 0 < int(f[2]) < 5_000_000, f[2])
        self.assertEqual(f[3], "abc-123")
        self.assertEqual(f[4], "text/plain")
        self.assertEqual(f[5], "0")
        self.assertEqual(int(f[7]), len(body))
        self.assertGreater(int(f[6]), int(f[7]) + 50)  # the head is counted in bytes_sent
        self.assertEqual((f[8], f[9], f[10], f[11]), ("GET", "/plaintext", "-", "0"))
        g = lines[1].split("|")
        self.assertEqual((g[1], g[3], g[8], g[9], g[11]), ("200", "-", "POST", "/raw", "10"))

    def test_buffered_then_flushed_within_a_second(self):
        srv = self.start_logged()
        url = f"http://127.0.0.1:{srv.port}/plaintext"
        sent = time.monotonic()
        self.assertEqual(curl(url), "200")
        self.assertTrue(ft.wait_for(lambda: log_lines(srv.log_path), 2.5),
                        "the line was not flushed within ~1 s")
        self.assertLess(time.monotonic() - sent, 2.5)
        # Many lines: the 64 KiB buffer fills and is written whole lines at a time.
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
        for i in range(700):
            conn.request("GET", f"/plaintext?pad={'x' * 100}&i={i}")
            conn.getresponse().read()
        conn.close()
        lines = ft.wait_for(lambda: len(log_lines(srv.log_path)) >= 701 and
                            log_lines(srv.log_path), 3)
        self.assertTrue(lines)
        self.assertEqual(len(lines), 701)
        for line in lines:
            self.assertIsNotNone(COMBINED.match(line), line)
        self.assertEqual([int(re.search(r"&i=(\d+)", l)[1]) for l in lines[1:]], list(range(700)))

    def test_sigusr1_reopens_after_rename(self):
        self.check_reopen(self.start_logged(workers=2))

    def test_sigusr1_reopens_for_unprivileged_workers(self):
        # Workers that run as `user` could not open a log file the master (root) created,
        # so they kept writing into the rotated file: the master hands the file to them.
        if os.geteuid() != 0:
            self.skipTest("needs root to switch users")
        user = pwd.getpwnam("nobody")
        srv = self.start_logged(workers=2, extra=f"user: nobody\ngroup: {grp.getgrgid(user.pw_gid).gr_name}\n")
        self.assertEqual(os.stat(srv.log_path).st_uid, user.pw_uid)
        self.check_reopen(srv)
        self.assertEqual(os.stat(srv.log_path).st_uid, user.pw_uid)

    def check_reopen(self, srv):
        url = f"http://127.0.0.1:{srv.port}"
        workers = srv.wait_workers(2)
        self.assertTrue(workers, srv.log())
        self.assertEqual(curl(url + "/plaintext?before"), "200")
        rotated = srv.log_path + ".1"
        os.rename(srv.log_path, rotated)
        # Until the reopen the workers write into the renamed file.
        self.assertEqual(curl(url + "/plaintext?between"), "200")
        self.assertTrue(ft.wait_for(lambda: "?between" in ft.read_text(rotated), 3))
        srv.signal(signal.SIGUSR1)
        self.assertTrue(ft.wait_for(lambda: os.path.exists(srv.log_path), 3), srv.log())
        # The workers reopen on their own signal, and log nothing: until a worker has, it
        # holds the rotated file open (and writes the next lines there).
        self.assertTrue(ft.wait_for(lambda: not any(holds_open(p, rotated) for p in workers),
                                    ft.patience(3)), srv.log())
        for i in range(6):  # reach both workers
            self.assertEqual(curl(url + f"/plaintext?after{i}"), "200")
        self.assertTrue(ft.wait_for(lambda: ft.read_text(srv.log_path).count("?after") == 6, 3),
                        ft.read_text(srv.log_path))
        old = ft.read_text(rotated)
        self.assertIn("?before", old)
        self.assertNotIn("?after", old)
        self.assertNotIn("?before", ft.read_text(srv.log_path))
        self.assertIn("reopened the error log and the access log", srv.log())
        self.assertStopsCleanly(srv)

    def test_lines_flushed_on_exit(self):
        srv = self.start_logged()
        with srv.connect() as s:
            s.sendall(b"GET /plaintext?last HTTP/1.1\r\nHost: t\r\n\r\n")
            ft.read_response(s)
        self.assertStopsCleanly(srv)
        self.assertIn("?last", ft.read_text(srv.log_path))

    def test_chunked_body_then_pipelined_request_keeps_its_line(self):
        # The bytes read past a chunked body (the next request) go back into the input
        # block; they must not land on the head the first request's line is made from.
        srv = self.start_logged('$request|$http_user_agent|$status|$request_body_length')
        with srv.connect() as s:
            s.sendall(b"POST /raw?first HTTP/1.1\r\nHost: t\r\nUser-Agent: agent-one\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                      b"GET /plaintext?second HTTP/1.1\r\nHost: t\r\nUser-Agent: B\r\n\r\n")
            data = b""
            while len(ft.parse_responses(data)[0]) < 2:
                chunk = s.recv(65536)
                self.assertTrue(chunk, data)
                data += chunk
        self.assertStopsCleanly(srv)
        self.assertEqual(log_lines(srv.log_path),
                         ["POST /raw?first HTTP/1.1|agent-one|200|5",
                          "GET /plaintext?second HTTP/1.1|B|200|0"])

    def test_chunked_body_then_a_block_of_pipelined_requests(self):
        # Read past the chunked body: more pipelined requests than fit behind the head
        # (the test server's input block is 16 KiB). The first request's line is written
        # before they move over its head, and every request is answered in order.
        srv = self.start_logged('$request|$status|$request_body_length')
        head = (b"POST /raw?first HTTP/1.1\r\nHost: t\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")
        size = 16384 - len(head) - len(b"0000\r\n")
        first = head + b"%04x\r\n" % size + b"x" * size  # fills the block exactly
        gets = [b"GET /plaintext?%d HTTP/1.1\r\nHost: t\r\n\r\n" % i for i in range(500)]
        with srv.connect() as s:
            s.sendall(first)
            time.sleep(0.3)
            s.sendall(b"\r\n0\r\n\r\n" + b"".join(gets))
            data = b""
            while len(ft.parse_responses(data)[0]) < 1 + len(gets):
                chunk = s.recv(1 << 20)
                self.assertTrue(chunk, data[-300:])
                data += chunk
        responses = ft.parse_responses(data)[0]
        self.assertEqual([r.status for r in responses], [200] * (1 + len(gets)))
        self.assertStopsCleanly(srv)
        lines = log_lines(srv.log_path)
        self.assertEqual(lines[0], f"POST /raw?first HTTP/1.1|200|{size}")
        self.assertEqual(lines[1:], [f"GET /plaintext?{i} HTTP/1.1|200|0" for i in range(500)])

    def test_bad_format_is_a_config_error(self):
        srv = ft.Server(extra="access_log_format: '$status $bogus'\n")
        self.addCleanup(srv.cleanup)
        srv.port = 1
        srv.write_config()
        r = subprocess.run([ft.FLARED, "-t", "-c", srv.config_path], capture_output=True,
                           text=True, timeout=10)
        self.assertEqual(r.returncode, 78)
        self.assertRegex(r.stderr, r"flared\.yaml:\d+:29: access_log_format: unknown variable: "
                                   r"'\$bogus'")


def status_json(srv):
    return json.loads(srv.get("/status").body)


def prometheus(srv, path="/status?format=prometheus", accept=None):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
    conn.request("GET", path, headers={"Accept": accept} if accept else {})
    r = conn.getresponse()
    body = r.read().decode()
    conn.close()
    return r, body


def parse_prometheus(text):
    """{(name, frozenset(labels)): value} and {family: type}, by prometheus_client's parser
    (which raises on malformed input: the subprocess then fails)."""
    r = subprocess.run([SYSTEM_PYTHON, "-c", PARSE_SCRIPT], input=text, capture_output=True,
                       text=True, timeout=30)
    if r.returncode != 0:
        raise AssertionError(f"prometheus_client rejects the exposition:\n{r.stderr}")
    out = json.loads(r.stdout)
    samples = {(n, frozenset(l.items())): v for n, l, v in out["samples"]}
    return samples, out["families"]


class StatusTest(ft.ServerTestCase):
    N = 24

    def start_two(self):
        return self.start_server(workers=2, reuseport=True, extra=EXTRA_ROUTES)

    def load(self, srv):
        for i in range(self.N):
            r = srv.get("/plaintext")
            self.assertEqual(r.status, 200)

    def test_json_numbers_print_as_written(self):
        # The bucket bounds and the millisecond uptime, not their binary expansions
        # (0.0050000000000000001, 1.5269999999999999).
        srv = self.start_server()
        body = srv.get("/status").body.decode()
        bounds = re.findall(r'"le":\s*([0-9.e+-]+)', body)
        written = ["0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
                   "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "10.0"]
        self.assertEqual(bounds, written * 2)  # total, then the one worker
        uptime = re.search(r'"uptime_seconds":\s*([0-9.e+-]+)', body).group(1)
        self.assertRegex(uptime, r"^[0-9]+(\.[0-9]{1,3})?$")

    def test_json_sums_per_worker(self):
        srv = self.start_two()
        self.load(srv)
        r = srv.get("/nope")
        self.assertEqual(r.status, 404)
        st = status_json(srv)
        self.assertEqual(st["version"], "0.1.0")
        self.assertEqual(st["reloads"], 0)
        self.assertGreaterEqual(st["uptime_seconds"], 0)
        total = st["total"]
        self.assertEqual(total["responses"]["2xx"], self.N)
        self.assertEqual(total["responses"]["4xx"], 1)
        self.assertEqual(total["requests"], self.N + 1)
        workers = st["workers"]
        self.assertEqual(len(workers), 2)
        self.assertEqual(sorted(w["id"] for w in workers), [0, 1])
        self.assertTrue(all(w["alive"] for w in workers))
        for key in ("requests", "bytes_in", "bytes_out"):
            self.assertEqual(total[key], sum(w[key] for w in workers), key)
        for cls in ("2xx", "4xx"):
            self.assertEqual(total["responses"][cls], sum(w["responses"][cls] for w in workers))
        self.assertEqual(total["connections"]["accepted"],
                         sum(w["connections"]["accepted"] for w in workers))
        self.assertGreaterEqual(total["connections"]["accepted"], self.N + 2)
        self.assertGreater(total["bytes_out"], self.N * 100)
        hist = total["request_duration"]
        counts = [b["count"] for b in hist["buckets"]]
        self.assertEqual(counts, sorted(counts))
        self.assertEqual(hist["buckets"][-1]["le"], "+Inf")
        self.assertEqual(counts[-1], self.N + 1)
        self.assertEqual(hist["count"], self.N + 1)
        routes = {r["path"]: r["requests"] for r in st["routes"]}
        self.assertEqual(routes["/plaintext"], self.N)
        self.assertEqual(routes["/echo"], 0)
        # The status connection itself is open and being answered.
        self.assertGreaterEqual(st["connections"]["active"], 1)
        self.assertStopsCleanly(srv)

    def test_top_level_counts_what_the_answering_worker_entry_counts(self):
        """The top-level requests and responses are the answering worker's own entry in
        workers: answered requests, refused heads (400) included and the status request
        itself not yet. Two 400s and three 200s: the server's count of parsed heads says
        4 (three plus the status request), the worker's entry 5."""
        srv = self.start_server(extra=EXTRA_ROUTES)
        for _ in range(2):
            data, _ = srv.exchange(b"GET /plaintext HTTP/1.1\r\nHost: t\r\nX: a\x01b\r\n\r\n")
            self.assertTrue(data.startswith(b"HTTP/1.1 400 "), data)
        for _ in range(3):
            self.assertEqual(srv.get("/plaintext").status, 200)
        st = status_json(srv)
        mine = [w for w in st["workers"] if (w["id"], w["pid"]) == (st["worker"], st["pid"])]
        self.assertEqual(len(mine), 1, st["workers"])
        self.assertEqual((st["requests"], mine[0]["requests"]), (5, 5))
        self.assertEqual(st["responses"], mine[0]["responses"])
        self.assertEqual((st["responses"]["2xx"], st["responses"]["4xx"]), (3, 2))
        for key in ("bytes_in", "bytes_out"):
            self.assertEqual(st[key], mine[0][key], key)
        self.assertEqual(st["connections"]["accepted"], mine[0]["connections"]["accepted"])
        self.assertStopsCleanly(srv)

    @unittest.skipUnless(HAVE_PARSER, "python3-prometheus-client missing (scripts/install-deps.sh)")
    def test_prometheus_parses_and_sums(self):
        srv = self.start_two()
        self.load(srv)
        r, text = prometheus(srv)
        self.assertEqual(r.status, 200)
        self.assertTrue(r.getheader("Content-Type").startswith("text/plain; version=0.0.4"))
        samples, families = parse_prometheus(text)
        self.assertEqual(families["flared_request_duration_seconds"], "histogram")
        self.assertEqual(families["flared_requests"], "counter")
        self.assertEqual(families["flared_connections"], "gauge")
        self.assertEqual(families["flared_worker_request_duration_seconds"], "histogram")
        ok = samples[("flared_requests_total", frozenset({("class", "2xx")}))]
        self.assertEqual(ok, self.N)
        per_worker = [v for (n, l), v in samples.items()
                      if n == "flared_worker_requests_total" and ("class", "2xx") in l]
        self.assertEqual(len(per_worker), 2)
        self.assertEqual(sum(per_worker), ok)
        count = samples[("flared_request_duration_seconds_count", frozenset())]
        inf = samples[("flared_request_duration_seconds_bucket", frozenset({("le", "+Inf")}))]
        self.assertEqual(count, self.N)
        self.assertEqual(inf, count)
        buckets = sorted((float(dict(l)["le"]), v) for (n, l), v in samples.items()
                         if n == "flared_request_duration_seconds_bucket")
        self.assertEqual([v for _, v in buckets], sorted(v for _, v in buckets))
        self.assertGreater(samples[("flared_request_duration_seconds_sum", frozenset())], 0)
        self.assertEqual(samples[("flared_build_info", frozenset({("version", "0.1.0")}))], 1)
        route = samples[("flared_route_requests_total",
                         frozenset({("host", ""), ("path", "/plaintext"), ("index", "0")}))]
        self.assertEqual(route, self.N)
        # Each family has exactly one HELP and one TYPE line.
        for name in ("flared_requests_total", "flared_worker_request_duration_seconds"):
            self.assertEqual(text.count(f"# TYPE {name} "), 1, name)
            self.assertEqual(text.count(f"# HELP {name} "), 1, name)
        self.assertStopsCleanly(srv)

    def test_totals_match_the_workers_while_they_count(self):
        """An answer reads each worker's counters once: while both workers keep counting
        (curl's parallel requests), every total is still the sum of the per-worker numbers
        printed in the same answer, in JSON and in Prometheus alike."""
        srv = self.start_two()
        load = subprocess.Popen(
            ["curl", "-s", "-o", "/dev/null", "-Z", "--parallel-max", "4",
             f"http://127.0.0.1:{srv.port}/plaintext?[1-1000000]"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (load.kill(), load.wait()))
        # Both workers take requests before the answers are checked.
        self.assertTrue(ft.wait_for(
            lambda: all(w["requests"] > 100 for w in status_json(srv)["workers"]), 10))
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
        mismatches = []
        for i in range(300):
            conn.request("GET", "/status")
            st = json.loads(conn.getresponse().read())
            workers, total = st["workers"], st["total"]
            for key in ("requests", "bytes_in", "bytes_out"):
                if total[key] != sum(w[key] for w in workers):
                    mismatches.append(("json", key, total[key], [w[key] for w in workers]))
            conn.request("GET", "/status?format=prometheus")
            text = conn.getresponse().read().decode()
            for family in ("requests_total", "sent_bytes_total"):
                summed = sum(int(v) for v in re.findall(
                    rf"^flared_{family}(?:{{[^}}]*}})? (\d+)$", text, re.M))
                per_worker = sum(int(v) for v in re.findall(
                    rf"^flared_worker_{family}{{[^}}]*}} (\d+)$", text, re.M))
                if summed != per_worker:
                    mismatches.append(("prometheus", family, summed, per_worker))
        conn.close()
        self.assertEqual(mismatches, [])
        load.kill()
        load.wait()
        self.assertStopsCleanly(srv)

    def test_totals_survive_reload_and_worker_restart(self):
        srv = self.start_server(workers=2, reuseport=True, extra=EXTRA_ROUTES)
        self.load(srv)
        before = status_json(srv)["total"]["responses"]["2xx"]
        self.assertEqual(before, self.N)
        # A killed worker is restarted into its slot, which keeps counting.
        victim = srv.workers()[0]
        os.kill(victim, signal.SIGKILL)
        self.assertTrue(ft.wait_for(lambda: len(srv.workers()) == 2 and victim not in srv.workers(),
                                    5), srv.log())
        # The new process claims the slot as it starts: poll until it has.
        st = ft.wait_for(lambda: (lambda s: s if sorted(w["starts"] for w in s["workers"]) == [1, 2]
                                  and all(w["alive"] for w in s["workers"]) else None)(
            status_json(srv)), 5)
        self.assertTrue(st, "the restarted worker did not take over its slot")
        self.assertGreaterEqual(st["total"]["responses"]["2xx"], self.N + 1)
        self.assertEqual(sorted(w["id"] for w in st["workers"]), [0, 1])
        self.assertEqual({w["generation"] for w in st["workers"]}, {0})
        # A reload counts, starts a second slot set, and the totals do not go back.
        srv.signal(signal.SIGHUP)
        self.assertTrue(ft.wait_for(lambda: "reloaded" in srv.log(), 5), srv.log())
        # Until both new workers have claimed their slots (slow under valgrind).
        st = ft.wait_for(lambda: (lambda s: s if s["reloads"] == 1 and s["generation"] == 1 and
                                  len([w for w in s["workers"] if w["generation"] == 1]) == 2
                                  else None)(status_json(srv)), 10)
        self.assertTrue(st)
        self.assertGreaterEqual(st["total"]["responses"]["2xx"], self.N + 2)
        self.assertEqual(sum(w["responses"]["2xx"] for w in st["workers"]),
                         st["total"]["responses"]["2xx"])
        self.assertEqual(len([w for w in st["workers"] if w["generation"] == 1]), 2)
        # Route counters belong to the new configuration's generation only.
        routes = {r["path"]: r["requests"] for r in st["routes"]}
        self.assertEqual(routes["/plaintext"], 0)
        self.assertStopsCleanly(srv)

    def test_accept_negotiation(self):
        srv = self.start_server(extra=EXTRA_ROUTES)
        scrape = ("application/openmetrics-text;version=1.0.0;q=0.5,"
                  "text/plain;version=0.0.4;q=0.3,*/*;q=0.2")
        r, text = prometheus(srv, "/status", scrape)
        self.assertTrue(r.getheader("Content-Type").startswith("text/plain"), text[:200])
        self.assertIn("# TYPE flared_requests_total counter", text)
        r, text = prometheus(srv, "/status", "*/*")
        self.assertEqual(r.getheader("Content-Type"), "application/json")
        json.loads(text)
        r, text = prometheus(srv, "/status", "application/json, text/plain;q=0.9")
        self.assertEqual(r.getheader("Content-Type"), "application/json")
        # RFC 9110 §12.4.2 qvalues only: "1e3", "inf" and "2" are no weights (strtod took
        # them, so text/plain outbid application/json).
        for bogus in ("1e3", "inf", "2", "0x1p0", "1.5", "0.12345"):
            r, text = prometheus(srv, "/status", f"application/json;q=0.9, text/plain;q={bogus}")
            self.assertEqual(r.getheader("Content-Type"), "application/json", bogus)
        r, text = prometheus(srv, "/status", "application/json;q=0.9, text/plain;q=1.000")
        self.assertTrue(r.getheader("Content-Type").startswith("text/plain"))
        r, text = prometheus(srv, "/status?x=1&format=prometheus")
        self.assertIn("flared_uptime_seconds", text)
        r, text = prometheus(srv, "/status?format=prometheusx")
        self.assertEqual(r.getheader("Content-Type"), "application/json")

    def test_websocket_counters(self):
        srv = self.start_server(extra=EXTRA_ROUTES)
        p = wst.Peer(srv)
        for i in range(3):
            p.send_frame(0x1, f"m{i}".encode())
            self.assertEqual(p.read_message(), (0x1, f"m{i}".encode()))
        p.send_frame(0x8, wst.close_payload(1000))
        self.assertEqual(p.read_frame().op, 0x8)
        p.close()
        st = ft.wait_for(lambda: (lambda s: s if s["total"]["websocket"]["active"] == 0 else None)(
            status_json(srv)), 3)
        self.assertTrue(st)
        ws = st["total"]["websocket"]
        self.assertEqual(ws["opened"], 1)
        self.assertEqual(ws["messages_in"], 3)
        self.assertEqual(ws["messages_out"], 3)
        self.assertStopsCleanly(srv)


class DrainDelayTest(ft.ServerTestCase):
    def test_health_503_while_still_serving(self):
        srv = self.start_server(workers=2, extra=EXTRA_ROUTES, timeouts=", drain_delay: 2s")
        self.assertEqual(srv.get("/health").status, 200)
        self.assertTrue(srv.wait_workers(2), srv.log())
        srv.signal(signal.SIGTERM)
        t0 = time.monotonic()
        # Each worker turns health to 503 once it has read its signal (and says so); each
        # then serves on until 2 s after that, so at least until t0 + 2 s. (A fixed pause
        # here met a worker not yet at its signal on a loaded machine.)
        self.assertTrue(ft.wait_for(lambda: srv.log().count("health answers 503") >= 2, 1.4),
                        srv.log())
        seen = []
        while time.monotonic() - t0 < 1.5:
            # New connections are still accepted and served; health says 503.
            self.assertEqual(srv.get("/health").status, 503)
            self.assertEqual(srv.get("/plaintext").status, 200)
            seen.append(time.monotonic() - t0)
            time.sleep(0.1)
        self.assertTrue(seen)
        status = srv.wait(12)
        self.assertEqual(status, 0, srv.log())
        self.assertGreaterEqual(time.monotonic() - t0, 1.9)
        self.assertIn("draining in 2000 ms", srv.log())

    def test_health_stays_200_through_a_reload(self):
        """A reload's old workers are replaced, not leaving: they stop accepting at once
        (the new workers already accept on the same sockets) and health keeps answering
        200. Before, they served drain_delay more with health 503, and about half of a
        balancer's checks in that time met one of them: out of rotation for a reload."""
        srv = self.start_server(workers=2, reuseport=True, extra=EXTRA_ROUTES,
                                timeouts=", drain_delay: 3s")
        self.assertEqual(srv.get("/health").status, 200)
        srv.signal(signal.SIGHUP)
        self.assertTrue(ft.wait_for(lambda: "reloaded: 2 workers" in srv.log(), 10), srv.log())
        statuses = [srv.get("/health").status for _ in range(60)]
        self.assertEqual(statuses, [200] * 60)
        # A stop is still a leave: 503 through the drain_delay (as tested above).
        srv.signal(signal.SIGTERM)
        self.assertTrue(ft.wait_for(lambda: srv.log().count("health answers 503") >= 2, 5),
                        srv.log())
        self.assertEqual(srv.get("/health").status, 503)
        self.assertEqual(srv.wait(12), 0, srv.log())

    def test_no_delay_by_default(self):
        srv = self.start_server(extra=EXTRA_ROUTES)
        t0 = time.monotonic()
        self.assertStopsCleanly(srv)
        self.assertLess(time.monotonic() - t0, 1.5)


if __name__ == "__main__":
    unittest.main(verbosity=2)
