#!/usr/bin/env python3
"""Request rate limits seen from outside (tests/integration/flaredtest.py): a client
gets burst + 1 requests at once, then 429 with Retry-After until its bucket drains;
named limits are one budget for the routes that share them, across every worker;
clients behind a trusted proxy are told apart by X-Forwarded-For (and a flood of them
turns no limit off), IPv6 ones by their
ipv6_prefix (64 by default), also over an IPv6 listener; `status: 503`; the
access log and the status route count refusals; a refused request's body is not read;
bad settings are config errors at FILE:LINE:COLUMN."""
import json
import os
import re
import signal
import socket
import subprocess
import time

import flaredtest as ft

# 20/s: a bucket drains one request every 50 ms, so the waits stay short.
EXTRA = """\
  - path: /limited
    text: {body: "limited\\n"}
    rate_limit: {rate: 20/s, burst: 3}
  - path: /a
    text: {body: "a\\n"}
    rate_limit: shared
  - path: /b
    text: {body: "b\\n"}
    rate_limit: shared
  - path: /own
    text: {body: "own\\n"}
    rate_limit: {rate: 1/m, burst: 1}
  - path: /unavailable
    text: {body: "u\\n"}
    rate_limit: {rate: 1/m, status: 503}
  - path: /upload
    echo: {raw: true}
    rate_limit: {rate: 1/m}
  - path: /perclient
    text: {body: "pc\\n"}
    rate_limit: {rate: 1/m}
  - path: /v6net
    text: {body: "net\\n"}
    rate_limit: {rate: 1/m}
  - path: /v6addr
    text: {body: "addr\\n"}
    rate_limit: {rate: 1/m, ipv6_prefix: 128}
  - path: /v6site
    text: {body: "site\\n"}
    rate_limit: site
rate_limits:
  shared: {rate: 1/m, burst: 1}
  site: {rate: 1/m, ipv6_prefix: 48}
trusted_proxies: [127.0.0.1/32]
"""


def pipeline(port, targets, headers=""):
    """Sends GETs for targets in one write on one connection (one loop turn of the server
    takes them all, so timing cannot blur the counts); returns the responses. headers
    is the same fields for every request, or a list of each one's."""
    each = headers if isinstance(headers, list) else [headers] * len(targets)
    req = "".join(f"GET {t} HTTP/1.1\r\nHost: t\r\n{h}\r\n" for t, h in zip(targets, each))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(req.encode())
        data = b""
        while True:
            responses, _ = ft.parse_responses(data)
            if len(responses) >= len(targets):
                return responses
            chunk = s.recv(65536)
            if not chunk:
                raise AssertionError(f"closed after {len(responses)} responses: {data[-200:]!r}")
            data += chunk


def statuses(responses):
    return [r.status for r in responses]


class RateLimitTests(ft.ServerTestCase):
    def start(self, workers=1, reuseport=False, extra=EXTRA, log_format=None, limits=""):
        srv = ft.Server(workers=workers, reuseport=reuseport, limits=limits)
        self.access_log = os.path.join(srv.dir, "access.log")
        top = f"access_log: {self.access_log}\n"
        if log_format:
            top += f"access_log_format: '{log_format}'\n"
        srv.params["extra"] = extra + top
        self.addCleanup(srv.cleanup)
        ft.require_flared()
        srv.start()
        return srv

    def access_lines(self, n):
        return ft.wait_for(lambda: (lambda t: len(t) >= n and t)(
            ft.read_text(self.access_log).splitlines()), ft.patience(3)) or []

    def test_burst_then_429_then_drained(self):
        srv = self.start()
        rs = pipeline(srv.port, ["/limited"] * 6)
        self.assertEqual(statuses(rs), [200, 200, 200, 200, 429, 429])
        first = rs[4]
        self.assertEqual(first.reason, "Too Many Requests")
        self.assertEqual(first.header("Retry-After"), "1")
        self.assertFalse(first.closes(), "a bodiless refusal keeps the connection")
        # Each interval (50 ms) drains one request: after one, some are taken again, but
        # never more than the whole burst, and then the limit holds.
        time.sleep(0.06)
        got = statuses(pipeline(srv.port, ["/limited"] * 8))
        taken = got.count(200)
        self.assertTrue(1 <= taken <= 4, got)
        self.assertEqual(got, [200] * taken + [429] * (8 - taken))
        time.sleep(0.3)  # the whole bucket (4 x 50 ms) drains
        self.assertEqual(statuses(pipeline(srv.port, ["/limited"] * 5)), [200] * 4 + [429])
        # Unlimited routes never see it.
        self.assertEqual(statuses(pipeline(srv.port, ["/plaintext"] * 20)), [200] * 20)
        # The refusals are in the access log with their status, and counted by the status route.
        refused = 2 + (8 - taken) + 1
        lines = self.access_lines(39)
        self.assertEqual(sum(1 for l in lines if '"GET /limited HTTP/1.1" 429 ' in l), refused,
                         lines)
        total = json.loads(srv.get("/status").body)["total"]
        self.assertEqual(total["rate_limit"]["refused"], refused)
        self.assertEqual(total["responses"]["4xx"], refused)
        self.assertStopsCleanly(srv)

    def test_routes_share_a_named_limit(self):
        srv = self.start()
        rs = pipeline(srv.port, ["/a", "/b", "/a", "/b", "/own", "/own", "/own"])
        self.assertEqual(statuses(rs), [200, 200, 429, 429, 200, 200, 429])
        self.assertEqual(rs[2].header("Retry-After"), "60")  # 1/m, burst 1, two taken
        self.assertStopsCleanly(srv)

    def test_status_503(self):
        srv = self.start()
        rs = pipeline(srv.port, ["/unavailable"] * 2)
        self.assertEqual(statuses(rs), [200, 503])
        self.assertEqual(rs[1].header("Retry-After"), "60")
        self.assertEqual(rs[1].body, b"503 Service Unavailable\n")
        self.assertStopsCleanly(srv)

    def test_clients_apart_behind_trusted_proxy(self):
        srv = self.start()
        one = "X-Forwarded-For: 192.0.2.1\r\n"
        two = "X-Forwarded-For: 192.0.2.2\r\n"
        self.assertEqual(statuses(pipeline(srv.port, ["/perclient"] * 2, one)), [200, 429])
        self.assertEqual(statuses(pipeline(srv.port, ["/perclient"] * 2, two)), [200, 429])
        self.assertEqual(statuses(pipeline(srv.port, ["/perclient"], one)), [429])
        # The socket peer itself (no field) is a third client.
        self.assertEqual(statuses(pipeline(srv.port, ["/perclient"])), [200])
        lines = self.access_lines(6)
        self.assertTrue(any(l.startswith("192.0.2.2 ") and '" 429 ' in l for l in lines), lines)
        self.assertStopsCleanly(srv)

    def test_flood_of_addresses_does_not_turn_limits_off(self):
        """4096 addresses, one request each, overrun the smallest table (1024 buckets in
        64 groups of 16). A client that comes after them is still held to its limit
        (it used to find its group full and be let through uncounted), and the flood
        gets no more than the table's buckets hold."""
        srv = self.start(limits=", rate_limit_entries: 1024")
        flood = [f"X-Forwarded-For: 10.{i >> 8 & 255}.{i & 255}.1\r\n" for i in range(4096)]
        flood_ok = 0
        for start in range(0, len(flood), 512):
            rs = pipeline(srv.port, ["/perclient"] * 512, flood[start:start + 512])
            flood_ok += statuses(rs).count(200)
        self.assertLessEqual(flood_ok, 1024)
        late = statuses(pipeline(srv.port, ["/perclient"] * 5, "X-Forwarded-For: 192.0.2.9\r\n"))
        self.assertLessEqual(late.count(200), 1, late)
        self.assertEqual(late[1:], [429] * 4, late)
        total = json.loads(srv.get("/status").body)["total"]
        self.assertEqual(total["rate_limit"]["evictions"], 4096 - 1024 + 1)
        text = srv.get("/status?format=prometheus").body.decode()
        self.assertRegex(text, r"(?m)^flared_rate_limit_evictions_total \d+$")
        self.assertStopsCleanly(srv)

    def test_ipv6_clients_by_prefix(self):
        """Addresses from X-Forwarded-For (a trusted proxy's) stand for IPv6 clients that
        loopback cannot give: by default every address of a /64 is one client."""
        srv = self.start()

        def get(target, client):
            (r,) = pipeline(srv.port, [target], f"X-Forwarded-For: {client}\r\n")
            return r.status

        # The default, 64: the same /64 is one client whatever its last 64 bits.
        self.assertEqual(get("/v6net", "2001:db8:1:2::1"), 200)
        self.assertEqual(get("/v6net", "2001:db8:1:2:ffff:ffff:ffff:fffe"), 429)
        self.assertEqual(get("/v6net", "2001:db8:1:3::1"), 200)
        # IPv4 clients stay per address.
        self.assertEqual(get("/v6net", "192.0.2.10"), 200)
        self.assertEqual(get("/v6net", "192.0.2.11"), 200)
        # ipv6_prefix: 128 counts each address.
        self.assertEqual(get("/v6addr", "2001:db8:1:2::1"), 200)
        self.assertEqual(get("/v6addr", "2001:db8:1:2::2"), 200)
        self.assertEqual(get("/v6addr", "2001:db8:1:2::2"), 429)
        # A named limit's ipv6_prefix: 48 holds a whole site to one budget.
        self.assertEqual(get("/v6site", "2001:db8:7:1::1"), 200)
        self.assertEqual(get("/v6site", "2001:db8:7:ffff::9"), 429)
        self.assertEqual(get("/v6site", "2001:db8:8::1"), 200)
        self.assertStopsCleanly(srv)

    def test_loopback_ipv6_client_is_limited(self):
        """A client connected over IPv6 (::1, no proxy field) is counted by its /64."""
        srv = ft.Server()
        self.addCleanup(srv.cleanup)
        port6 = ft.free_port()
        base = srv.config_text

        def with_v6(**overrides):
            return base(**overrides).replace(
                "listeners:\n", f"listeners:\n  - address: \"[::1]:{port6}\"\n", 1)

        srv.config_text = with_v6
        srv.params["extra"] = EXTRA
        ft.require_flared()
        srv.start()
        req = b"GET /v6net HTTP/1.1\r\nHost: t\r\n\r\n" * 2
        with socket.create_connection(("::1", port6), timeout=5) as s:
            s.sendall(req)
            data = b""
            while len(ft.parse_responses(data)[0]) < 2:
                chunk = s.recv(65536)
                self.assertTrue(chunk, data)
                data += chunk
        self.assertEqual(statuses(ft.parse_responses(data)[0]), [200, 429])
        # The IPv4 listener's client is another.
        self.assertEqual(statuses(pipeline(srv.port, ["/v6net"])), [200])
        self.assertStopsCleanly(srv)

    def test_refused_body_is_not_read(self):
        srv = self.start()
        post = b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
        data, _ = srv.exchange(post.replace(b"Host: t", b"Host: t\r\nConnection: close"))
        self.assertIn(b" 200 ", data.split(b"\r\n")[0])
        # Over the limit with a large body promised and barely begun: answered at once,
        # not after the body, and the connection ends since the body stays unread.
        with srv.connect() as s:
            s.sendall(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\nxx")
            start = time.monotonic()
            data, closed = ft.read_until_close(s, 5)
            elapsed = time.monotonic() - start
        rs, _ = ft.parse_responses(data)
        self.assertEqual(statuses(rs), [429])
        self.assertTrue(rs[0].closes())
        self.assertTrue(closed)
        self.assertLess(elapsed, 3)
        self.assertStopsCleanly(srv)

    def test_one_budget_across_workers(self):
        # 1/m with burst 9: exactly 10 requests in all, whichever worker takes them.
        extra = EXTRA.replace("rate: 1/m, burst: 1}", "rate: 1/m, burst: 9}")
        srv = self.start(workers=2, reuseport=True, extra=extra,
                         log_format="$pid $request_uri $status")
        self.assertEqual(len(srv.wait_workers(2)), 2)
        got = []
        for _ in range(60):
            got.append(srv.get("/own").status)
        self.assertEqual(got.count(200), 10, got)
        self.assertEqual(got.count(429), 50, got)
        lines = [l.split() for l in self.access_lines(60)]
        pids = {l[0] for l in lines if l[1] == "/own"}
        self.assertEqual(len(pids), 2, "both workers took requests")
        self.assertEqual(sum(1 for l in lines if l[2] == "200"), 10)
        self.assertStopsCleanly(srv)

    def test_reload_adds_and_keeps_limits(self):
        # Started without any rate limit: the master maps the table only on the reload.
        srv = self.start(extra="  - path: /later\n    text: {body: later}\n")
        self.assertEqual(statuses(pipeline(srv.port, ["/later"] * 3)), [200] * 3)
        def reload(extra, text, limits=""):
            srv.write_config(extra=extra + f"access_log: {self.access_log}\n", text=text,
                             limits=limits)
            srv.reload()
            self.assertEqual(srv.get("/plaintext").body, text.encode())
        limited = "  - path: /later\n    text: {body: later}\n    rate_limit: l\n" \
                  "rate_limits: {l: {rate: 1/m, burst: 1}}\n"
        reload(limited, "two")
        self.assertEqual(statuses(pipeline(srv.port, ["/later"] * 3)), [200, 200, 429])
        # Same table size: the clients' buckets survive a reload, so no fresh burst.
        reload(limited, "three")
        self.assertEqual(statuses(pipeline(srv.port, ["/later"])), [429])
        # A new size starts an empty table.
        reload(limited, "four", limits=", rate_limit_entries: 2048")
        self.assertEqual(statuses(pipeline(srv.port, ["/later"] * 3)), [200, 200, 429])
        self.assertStopsCleanly(srv)

    def test_reload_raising_a_rate_is_not_held_to_the_old_one(self):
        # The named limit keeps its buckets; one filled at 1/m must not stay refused for
        # a minute under 20/s (one interval there is 50 ms).
        limited = "  - path: /later\n    text: {body: later}\n    rate_limit: l\n"
        srv = self.start(extra=limited + "rate_limits: {l: {rate: 1/m}}\n")
        refused = pipeline(srv.port, ["/later"] * 2)
        self.assertEqual(statuses(refused), [200, 429])
        self.assertEqual(refused[1].header("retry-after"), "60")
        srv.write_config(extra=limited + "rate_limits: {l: {rate: 20/s}}\n"
                         f"access_log: {self.access_log}\n", text="two")
        srv.reload()
        self.assertEqual(srv.get("/plaintext").body, b"two")
        # Still full, but for one interval of the new rate.
        got = pipeline(srv.port, ["/later"])
        self.assertEqual(statuses(got), [429])
        self.assertEqual(got[0].header("retry-after"), "1")
        time.sleep(0.1)
        self.assertEqual(statuses(pipeline(srv.port, ["/later"] * 2)), [200, 429])
        self.assertStopsCleanly(srv)

    def test_refused_reload_keeps_the_running_table(self):
        # A reload that would start a new table (another size) and is refused after the
        # table was made (a listener's port is taken) leaves the running workers' table
        # in place: a worker started again for the running config shares it.
        limited = "  - path: /later\n    text: {body: later}\n    rate_limit: l\n" \
                  "rate_limits: {l: {rate: 1/m}}\n"
        srv = self.start(extra=limited)
        self.assertEqual(statuses(pipeline(srv.port, ["/later"] * 2)), [200, 429])
        busy = socket.socket()
        self.addCleanup(busy.close)
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        text = srv.config_text(extra=limited, limits=", rate_limit_entries: 2048")
        srv.write_config(verbatim=text.replace(
            "listeners:\n", f"listeners:\n  - address: 127.0.0.1:{busy.getsockname()[1]}\n"))
        srv.signal(signal.SIGHUP)
        self.assertTrue(ft.wait_for(lambda: "reload refused" in srv.log(), ft.patience(5)),
                        srv.log())
        (worker,) = srv.workers()
        os.kill(worker, signal.SIGKILL)
        self.assertTrue(ft.wait_for(lambda: srv.workers() and srv.workers() != [worker],
                                    ft.patience(5)), srv.log())
        self.assertTrue(ft.wait_for(lambda: srv.get("/plaintext").status == 200,
                                    ft.patience(5)))
        self.assertEqual(statuses(pipeline(srv.port, ["/later"])), [429])
        self.assertStopsCleanly(srv)

    def test_unix_socket_clients_are_not_one_client(self):
        # A client on a Unix socket has no address to tell it from the next: its requests
        # are not counted (nginx leaves a request with an empty key out the same way),
        # rather than all such clients sharing one budget that the first could use up.
        srv = ft.Server(extra=EXTRA)
        self.addCleanup(srv.cleanup)
        ft.require_flared()
        path = os.path.join(srv.dir, "flared.sock")
        base = srv.config_text
        srv.config_text = lambda **kw: base(**kw).replace(
            "listeners:\n", f"listeners:\n  - address: unix:{path}\n")
        srv.start()

        def get(target):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(5)
                s.connect(path)
                s.sendall(f"GET {target} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
                return ft.read_response(s)[0].status

        self.assertEqual([get("/perclient") for _ in range(3)], [200] * 3)
        # Over TCP the limit holds as before.
        self.assertEqual(statuses(pipeline(srv.port, ["/perclient"] * 2)), [200, 429])
        self.assertStopsCleanly(srv)


class RateLimitConfigTests(ft.ServerTestCase):
    def check(self, text):
        ft.require_flared()
        srv = ft.Server()
        self.addCleanup(srv.cleanup)
        srv.port = ft.free_port()
        config = srv.config_text(extra=text)
        srv.write_config(verbatim=config)
        return subprocess.run([ft.FLARED, "-t", "-c", srv.config_path], capture_output=True,
                              text=True, timeout=10), srv.config_path, config

    def test_good_config(self):
        r, _, _ = self.check(EXTRA)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("is valid", r.stdout + r.stderr)
        for prefix in (1, 64, 128):
            r, _, _ = self.check(f"rate_limits: {{z: {{rate: 1/s, ipv6_prefix: {prefix}}}}}\n")
            self.assertEqual(r.returncode, 0, r.stderr)

    def test_errors_have_a_position(self):
        # (extra config, the text the error points at, the message)
        cases = [
            ("  - path: /x\n    text: {body: x}\n    rate_limit: {rate: 0/s}\n", "0/s",
             "rate: '0/s' is out of range 1..1000000 per second"),
            ("  - path: /x\n    text: {body: x}\n    rate_limit: {rate: -1/s}\n", "-1/s",
             "rate: expected requests per second or minute (10/s, 600/m), got '-1/s'"),
            ("  - path: /x\n    text: {body: x}\n    rate_limit: {rate: 10/h}\n", "10/h",
             "rate: unknown unit 'h' in '10/h'; use /s or /m"),
            ("  - path: /x\n    text: {body: x}\n    rate_limit: nosuch\n", "nosuch",
             "rate_limit: no rate limit named 'nosuch'"),
            ("rate_limits: {z: {rate: 1/s, burst: 1000000}}\n", "1000000",
             "burst: '1000000' is out of range 0..100000"),
            ("rate_limits: {z: {rate: 1/s, status: 500}}\n", "500",
             "status: a rate limit answers 429 or 503, got 500"),
            ("rate_limits: {z: {rate: 1/s, ipv6_prefix: 0}}\n", "0}",
             "ipv6_prefix: '0' is out of range 1..128"),
            ("rate_limits: {z: {rate: 1/s, ipv6_prefix: 129}}\n", "129",
             "ipv6_prefix: '129' is out of range 1..128"),
            ("  - path: /x\n    text: {body: x}\n    rate_limit: {rate: 1/s, ipv6_prefix: /64}\n",
             "/64", "ipv6_prefix: expected an integer, got '/64'"),
        ]
        for extra, at, message in cases:
            with self.subTest(extra=extra):
                r, path, config = self.check(extra)
                self.assertEqual(r.returncode, 78, r.stderr)
                lines = config.splitlines()
                line = next(i for i, l in enumerate(lines) if at in l and "rate" in l)
                column = lines[line].index(at) + 1
                self.assertIn(f"{path}:{line + 1}:{column}: {message}", r.stderr)


if __name__ == "__main__":
    ft.run()
