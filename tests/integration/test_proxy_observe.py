"""What the proxy route shows to operators, against the real flared: the access log's
$upstream_addr, $upstream_status and $upstream_response_time (proxied, not proxied,
all servers down), and /status's per-upstream-server counters summed over workers
in JSON and in the Prometheus exposition."""

import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import flaredtest as ft  # noqa: E402
from flaredtest import read_response  # noqa: E402
from proxy_upstreams import RawUpstream, dead_address  # noqa: E402
from test_proxy import proxy_config  # noqa: E402
from test_observe import HAVE_PARSER, parse_prometheus, prometheus  # noqa: E402

LOG_FORMAT = "$request_uri $status up=$upstream_addr us=$upstream_status ut=$upstream_response_time"
LINE = re.compile(r"^(?P<uri>\S+) (?P<status>\d{3}) up=(?P<addr>.+) us=(?P<ustatus>\S+) "
                  r"ut=(?P<time>\S+)$")


class ProxyObserveCase(ft.ServerTestCase):
    LINE = LINE  # what log_entries parses: a subclass logging another format sets its own

    def upstream(self, **kwargs):
        up = RawUpstream(**kwargs)
        self.addCleanup(up.close)
        return up

    def start_logged(self, servers, workers=1):
        srv = ft.Server(workers=workers, reuseport=workers > 1)
        self.addCleanup(srv.cleanup)
        srv.log_path = os.path.join(srv.dir, "access.log")
        srv.params["extra"] = (proxy_config(servers) + f"access_log: {srv.log_path}\n"
                               f"access_log_format: '{LOG_FORMAT}'\n")
        srv.start()
        return srv

    def request(self, srv, path):
        with srv.connect() as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
            resp, _ = read_response(s, "GET")
            return resp

    def log_entries(self, srv, count):
        def parsed():
            lines = [l for l in ft.read_text(srv.log_path).split("\n") if l]
            return lines if len(lines) >= count else None
        lines = ft.wait_for(parsed, 5)
        self.assertTrue(lines, ft.read_text(srv.log_path))
        out = []
        for line in lines:
            m = self.LINE.match(line)
            self.assertTrue(m, line)
            out.append(m.groupdict())
        return out


class AccessLogTest(ProxyObserveCase):
    def test_proxied_and_not_proxied(self):
        up = self.upstream()
        srv = self.start_logged([up.address])
        self.assertEqual(self.request(srv, "/api/echo").status, 200)
        self.assertEqual(self.request(srv, "/plaintext").status, 200)
        first, second = self.log_entries(srv, 2)
        self.assertEqual(first["uri"], "/api/echo")
        self.assertEqual(first["addr"], up.address)
        self.assertEqual(first["ustatus"], "200")
        self.assertRegex(first["time"], r"^\d+\.\d{3}$")
        self.assertLess(float(first["time"]), 5.0)
        self.assertEqual(second, {"uri": "/plaintext", "status": "200", "addr": "-",
                                  "ustatus": "-", "time": "-"})

    def test_upstream_status_is_the_upstreams(self):
        up = self.upstream()
        srv = self.start_logged([up.address])
        self.assertEqual(self.request(srv, "/api/nothing").status, 404)
        (entry,) = self.log_entries(srv, 1)
        self.assertEqual((entry["status"], entry["ustatus"]), ("404", "404"))

    def test_failover_lists_every_server_tried(self):
        up = self.upstream()
        dead = dead_address()
        srv = self.start_logged([dead, up.address])
        self.assertEqual(self.request(srv, "/api/echo").status, 200)
        (entry,) = self.log_entries(srv, 1)
        self.assertEqual(entry["addr"], f"{dead}, {up.address}")
        self.assertEqual(entry["ustatus"], "200")

    def test_all_down(self):
        a, b = dead_address(), dead_address()
        srv = self.start_logged([a, b])
        self.assertEqual(self.request(srv, "/api/echo").status, 502)
        # Both are out now: the next request tries none and logs the upstream's name.
        self.assertEqual(self.request(srv, "/api/echo").status, 502)
        first, second = self.log_entries(srv, 2)
        self.assertEqual(first["status"], "502")
        self.assertEqual(sorted(first["addr"].split(", ")), sorted([a, b]))
        self.assertEqual(first["ustatus"], "-")  # no upstream answered
        self.assertRegex(first["time"], r"^\d+\.\d{3}$")
        self.assertEqual((second["status"], second["addr"], second["ustatus"]),
                         ("502", "app", "-"))

    def test_timeout_is_504_with_no_upstream_status(self):
        up = self.upstream()
        srv = self.start_logged([up.address])
        self.assertEqual(self.request(srv, "/api/slow").status, 504)  # read_timeout: 1s
        (entry,) = self.log_entries(srv, 1)
        self.assertEqual((entry["status"], entry["addr"], entry["ustatus"]),
                         ("504", up.address, "-"))
        self.assertGreaterEqual(float(entry["time"]), 0.9)
        self.assertLess(float(entry["time"]), 3.0)
        (server,) = json.loads(srv.get("/status").body)["total"]["upstreams"]["app"]
        self.assertEqual((server["requests"], server["timeouts"], server["failures"],
                          server["connect_failures"]), (1, 1, 1, 0))
        self.assertEqual(sum(server["responses"].values()), 0)


    def test_client_gone_before_the_head_is_499_and_frees_the_upstream(self):
        up = self.upstream()
        srv = self.start_logged([up.address])
        s = srv.connect()
        s.sendall(b"GET /api/hold HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertTrue(ft.wait_for(lambda: up.requests, 5), "the upstream got no request")
        s.close()
        closed = time.monotonic()
        ends = ft.wait_for(lambda: up.hold_ends, 5)
        self.assertTrue(ends, "the upstream connection was never closed")
        # At once, not at the 1 s read_timeout.
        self.assertLess(ends[0] - closed, 0.5)
        (entry,) = self.log_entries(srv, 1)
        self.assertEqual((entry["uri"], entry["status"], entry["addr"], entry["ustatus"]),
                         ("/api/hold", "499", up.address, "-"))
        self.assertEqual(srv.get("/api/echo").status, 200)  # the worker carries on


class UpstreamStatusTest(ProxyObserveCase):
    N = 20

    def test_counters_summed_over_two_workers(self):
        a, b = self.upstream(), self.upstream()
        dead = dead_address()
        srv = self.start_logged([a.address, b.address, dead], workers=2)
        codes = [self.request(srv, "/api/echo" if i % 4 else "/api/nothing").status
                 for i in range(self.N)]
        self.assertEqual(len(a.requests) + len(b.requests), self.N)
        not_found = codes.count(404)
        self.assertEqual(codes.count(200) + not_found, self.N)
        st = json.loads(srv.get("/status").body)
        workers = st["workers"]
        self.assertEqual(len(workers), 2)
        total = {s["server"]: s for s in st["total"]["upstreams"]["app"]}
        self.assertEqual(list(total), [a.address, b.address, dead])
        per = [{s["server"]: s for s in w["upstreams"]["app"]} for w in workers]
        for addr in (a.address, b.address, dead):
            for key in ("requests", "failures", "connect_failures", "timeouts", "active", "up"):
                self.assertEqual(total[addr][key], sum(p[addr][key] for p in per), (addr, key))
        ok = [total[x] for x in (a.address, b.address)]
        self.assertEqual(sum(s["responses"]["2xx"] for s in ok), self.N - not_found)
        self.assertEqual(sum(s["responses"]["4xx"] for s in ok), not_found)
        self.assertEqual(total[a.address]["requests"], len(a.requests))
        self.assertEqual(total[b.address]["requests"], len(b.requests))
        # Each worker that picked the dead server failed to connect to it once, then it is out.
        self.assertEqual(total[dead]["requests"], total[dead]["connect_failures"])
        self.assertEqual(total[dead]["requests"], total[dead]["failures"])
        self.assertEqual(total[dead]["responses"]["2xx"], 0)
        self.assertEqual(sum(total[x]["requests"] for x in total),
                         self.N + total[dead]["requests"])
        self.assertEqual(sum(total[x]["active"] for x in total), 0)
        # The gauges of the other worker are refreshed by its once-a-second tick.
        def up_counts():
            t = json.loads(srv.get("/status").body)["total"]["upstreams"]["app"]
            return [s["up"] for s in t[:2]] == [2, 2]
        self.assertTrue(ft.wait_for(up_counts, 3))

        if not HAVE_PARSER:
            self.skipTest("python3-prometheus-client is not installed for /usr/bin/python3")
        r, text = prometheus(srv)
        self.assertEqual(r.status, 200)
        samples, families = parse_prometheus(text)
        self.assertEqual(families["flared_upstream_requests"], "counter")
        self.assertEqual(families["flared_upstream_up"], "gauge")

        def value(name, **labels):
            return samples[(name, frozenset(labels.items()))]

        for addr in (a.address, b.address, dead):
            self.assertEqual(value("flared_upstream_requests_total", upstream="app", server=addr),
                             total[addr]["requests"])
            per_worker = sum(value("flared_worker_upstream_requests_total", upstream="app",
                                   server=addr, worker=str(w["id"]),
                                   generation=str(w["generation"])) for w in workers)
            self.assertEqual(per_worker, total[addr]["requests"])
        got_2xx = sum(value("flared_upstream_responses_total", upstream="app", server=x,
                            **{"class": "2xx"}) for x in (a.address, b.address))
        self.assertEqual(got_2xx, self.N - not_found)
        self.assertEqual(value("flared_upstream_connect_failures_total", upstream="app",
                               server=dead), total[dead]["connect_failures"])
        self.assertEqual(value("flared_upstream_up", upstream="app", server=a.address), 2)


if __name__ == "__main__":
    ft.run()
