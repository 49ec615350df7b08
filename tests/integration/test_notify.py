#!/usr/bin/env python3
"""The sd_notify protocol without systemd: flared started with $NOTIFY_SOCKET
naming a datagram socket owned by the test sends READY=1 once serving,
RELOADING=1 (with MONOTONIC_USEC) then READY=1 around a reload, good or bad,
with a STATUS= that says which, and STOPPING=1 on TERM. (A reload whose new
workers fail is in test_handover.py.)"""
import os
import signal
import socket
import tempfile
import time

import flaredtest as ft


class NotifyTests(ft.ServerTestCase):
    def notify_socket(self, abstract=False):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(s.close)
        if abstract:
            name = f"@flared-test-{os.getpid()}-{time.monotonic_ns()}"
            s.bind("\0" + name[1:])
        else:
            d = tempfile.TemporaryDirectory(prefix="flared-notify-")
            self.addCleanup(d.cleanup)
            name = os.path.join(d.name, "notify.sock")
            s.bind(name)
        s.settimeout(5)
        return s, name

    def messages(self, sock, count):
        """The next count datagrams, each split into its KEY=VALUE lines."""
        out = []
        for _ in range(count):
            try:
                data = sock.recv(4096)
            except socket.timeout:
                self.fail(f"expected {count} notifications, got {out}")
            out.append(dict(line.split("=", 1) for line in data.decode().split("\n") if line))
        return out

    def assertNothingMore(self, sock):
        sock.settimeout(0.3)
        try:
            extra = sock.recv(4096)
        except socket.timeout:
            return
        finally:
            sock.settimeout(5)
        self.fail(f"unexpected notification {extra!r}")

    def run_protocol(self, abstract):
        sock, name = self.notify_socket(abstract)
        srv = self.start_server(workers=2, env={"NOTIFY_SOCKET": name})
        (ready,) = self.messages(sock, 1)
        self.assertEqual(ready, {"READY": "1"})
        self.assertEqual(srv.get("/plaintext").body, b"Hello, World!")

        srv.write_config(text="reloaded")
        before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        srv.signal(signal.SIGHUP)
        reloading, ready = self.messages(sock, 2)
        after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.assertEqual(reloading.get("RELOADING"), "1", reloading)
        self.assertLessEqual(before, int(reloading["MONOTONIC_USEC"]))
        self.assertLessEqual(int(reloading["MONOTONIC_USEC"]), after)
        self.assertEqual(ready, {"READY": "1", "STATUS": "reloaded: 2 workers on generation 1"})
        # READY=1 goes out once the old workers are told to drain; until they have read
        # it they may take a connection (the one that asserts on the refused reload below).
        self.assertTrue(srv.wait_workers(2, 5), srv.log())
        self.assertEqual(srv.get("/plaintext").body, b"reloaded")

        # A broken config is refused, but the reload cycle still ends with READY=1.
        srv.write_config(verbatim="workers: [\n")
        srv.signal(signal.SIGHUP)
        reloading, ready = self.messages(sock, 2)
        self.assertEqual(reloading.get("RELOADING"), "1")
        self.assertEqual(ready.pop("READY"), "1")
        self.assertRegex(ready.pop("STATUS"), r"^reload refused, still serving the previous "
                         r"config: .*flared\.yaml:2:1: ")
        self.assertEqual(ready, {})
        self.assertEqual(srv.get("/plaintext").body, b"reloaded")

        self.assertNothingMore(sock)  # workers never notify
        srv.signal(signal.SIGTERM)
        (stopping,) = self.messages(sock, 1)
        self.assertEqual(stopping, {"STOPPING": "1"})
        self.assertEqual(srv.wait(10), 0, srv.log())

    def test_path_socket(self):
        self.run_protocol(abstract=False)

    def test_abstract_socket(self):
        self.run_protocol(abstract=True)

    def test_unreachable_notify_socket_is_harmless(self):
        srv = self.start_server(env={"NOTIFY_SOCKET": "/nonexistent/notify.sock"})
        self.assertEqual(srv.get("/plaintext").body, b"Hello, World!")
        self.assertStopsCleanly(srv)


if __name__ == "__main__":
    ft.run()
