#!/usr/bin/env python3
"""Scale-out behind a real load balancer, on loopback: HAProxy (Debian's
haproxy) in front of two flared instances, speaking PROXY protocol v2 to them
and checking their `health` route. The client binds 127.0.0.2, so the address
flared logs (each instance's access log) and reports (/echo's origin) proves
PROXY v2 carried it through HAProxy, which itself connects from 127.0.0.1. Requests spread over both instances, and
when one is stopped with SIGTERM (draining) while requests keep coming, none
fails. Skips when haproxy is not installed."""
import json
import os
import shutil
import signal
import socket
import string
import subprocess
import tempfile
import threading
import time
import unittest

import flaredtest as ft

HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy")
                                      else None)
CLIENT_ADDR = "127.0.0.2"

FLARED_CONFIG = """\
workers: 1
error_log: stderr
access_log: $access_log
timeouts: {shutdown: 5s, drain_delay: 300ms}
listeners:
  - address: 127.0.0.1:$port
  - address: 127.0.0.1:$proxy_port
    proxy_protocol: true
routes:
  - path: /who
    text: {body: "$name"}
  - path: /echo
    echo: {}
  - path: /health
    health: {}
"""

HAPROXY_CONFIG = """\
global
    maxconn 256
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
    timeout check 1s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout
frontend fe
    bind 127.0.0.1:$fe_port
    default_backend be
backend be
    balance roundrobin
    option httpchk GET /health
    http-check expect status 200
    server s1 127.0.0.1:$p1 send-proxy-v2 check inter 100ms fall 1 rise 1
    server s2 127.0.0.1:$p2 send-proxy-v2 check inter 100ms fall 1 rise 1
"""


class Instance(ft.Server):
    def __init__(self, name):
        super().__init__()
        self.name = name
        self.proxy_port = ft.free_port()

    def config_text(self, **overrides):
        return string.Template(FLARED_CONFIG).substitute(port=self.port,
                                                         proxy_port=self.proxy_port,
                                                         name=self.name,
                                                         access_log=self.access_log)

    @property
    def access_log(self):
        return os.path.join(self.dir, "access.log")


def request(fe_port, path):
    """One GET through HAProxy from CLIENT_ADDR on a new connection; the Response."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.bind((CLIENT_ADDR, 0))
        s.connect(("127.0.0.1", fe_port))
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        data, _ = ft.read_until_close(s, 5)
    responses, _ = ft.parse_responses(data)
    if len(responses) != 1:
        raise AssertionError(f"reply {data[:200]!r}")
    return responses[0]


@unittest.skipUnless(HAPROXY, "haproxy is not installed")
class HaproxyTests(ft.ServerTestCase):
    def setUp(self):
        self.instances = []
        for name in ("s1", "s2"):
            inst = Instance(name)
            self.addCleanup(inst.cleanup)
            inst.start()
            self.instances.append(inst)
        self.dir = self.enterContext(tempfile.TemporaryDirectory(prefix="flared-haproxy-"))
        self.fe_port = ft.free_port()
        cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(string.Template(HAPROXY_CONFIG).substitute(
                fe_port=self.fe_port, p1=self.instances[0].proxy_port,
                p2=self.instances[1].proxy_port))
        self.hlog = open(os.path.join(self.dir, "haproxy.log"), "wb")
        self.addCleanup(self.hlog.close)
        self.haproxy = subprocess.Popen([HAPROXY, "-db", "-f", cfg], stdout=self.hlog,
                                        stderr=self.hlog, start_new_session=True)
        self.addCleanup(self.stop_haproxy)
        # Both servers up: every answer comes from one of them, and both answer.
        seen = set()

        def both_up():
            try:
                seen.add(request(self.fe_port, "/who").body)
            except (OSError, AssertionError):
                pass
            return seen == {b"s1", b"s2"}
        if not ft.wait_for(both_up, 10):
            self.fail(f"haproxy did not reach both instances (saw {seen}):\n{self.haproxy_log()}")

    def stop_haproxy(self):
        ft.terminate(self.haproxy)

    def haproxy_log(self):
        self.hlog.flush()
        return ft.read_text(os.path.join(self.dir, "haproxy.log"))

    def test_spread_and_client_address(self):
        counts = {}
        for _ in range(40):
            r = request(self.fe_port, "/who")
            self.assertEqual(r.status, 200)
            counts[r.body] = counts.get(r.body, 0) + 1
        self.assertEqual(set(counts), {b"s1", b"s2"})
        self.assertGreaterEqual(min(counts.values()), 10, counts)
        # The client address crossed HAProxy in the PROXY v2 header.
        for _ in range(4):
            r = request(self.fe_port, "/echo")
            self.assertEqual(json.loads(r.body)["origin"], CLIENT_ADDR)
        # Both instances logged the client, never HAProxy's own address (the access
        # log is flushed within a second).
        for inst in self.instances:
            def client_lines(inst=inst):
                text = ft.read_text(inst.access_log) if os.path.exists(inst.access_log) else ""
                return [l for l in text.splitlines() if '"GET /who ' in l]
            self.assertTrue(ft.wait_for(lambda: len(client_lines()) >= 10, 5), inst.name)
            for line in client_lines():
                self.assertTrue(line.startswith(CLIENT_ADDR + " "), line)

    def test_sigterm_of_one_instance_loses_no_request(self):
        failures, served = [], []
        stop = threading.Event()

        def loop():
            while not stop.is_set():
                try:
                    r = request(self.fe_port, "/who")
                    if r.status != 200:
                        failures.append(f"status {r.status}")
                    served.append(r.body)
                except Exception as e:  # noqa: BLE001 - every failure counts
                    failures.append(repr(e))

        threads = [threading.Thread(target=loop) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.5)
            s1 = self.instances[0]
            s1.signal(signal.SIGTERM)
            self.assertEqual(s1.wait(10), 0, s1.log())
            mark = len(served)
            time.sleep(1.0)
        finally:
            stop.set()
            for t in threads:
                t.join(10)
        self.assertEqual(failures, [], self.haproxy_log())
        self.assertIn(b"s1", served[:mark])
        after = served[mark:]
        self.assertGreater(len(after), 20)
        self.assertEqual(set(after), {b"s2"})


if __name__ == "__main__":
    ft.run()
