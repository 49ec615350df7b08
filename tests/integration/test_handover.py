#!/usr/bin/env python3
"""Reload (HUP) and binary upgrade (USR2) hand over only to workers that reported
ready: a new generation whose workers fail after fork (here: a config whose static
roots need more descriptors than RLIMIT_NOFILE allows, which the master cannot see
when it loads the file), are killed as they start, or never report (stopped by the
test), is given up and the
old workers, or the old master, serve on without a failed request; under systemd
the reload still ends with READY=1, its STATUS= saying it failed. A good reload
drains the old workers only once every new one serves."""
import os
import re
import shutil
import signal
import time

import flaredtest as ft
import test_notify
from test_process import FLARED_NEXT, Loop, status_json
from test_signals import body_or_none

NOFILE = 64
# Each static route holds its root open in the worker: more routes than descriptors.
TOO_MANY_ROOTS = "".join(f"  - path: /root{i}\n    static: {{root: www}}\n"
                         for i in range(NOFILE + 16))
# Enough routes that a worker takes a while to be ready (tens of ms; seconds under ASan).
SLOW_START = "".join(f"  - path: /r{i}\n    text: {{body: r}}\n" for i in range(2000))


def limited(srv, nofile=NOFILE):
    """Makes srv start under `ulimit -n nofile` (soft and hard: the master cannot raise it)."""
    srv.argv = ["/bin/sh", "-c", f'ulimit -n {nofile} && exec "$@"', "sh"] + srv.argv


def stopped(pid):
    """Whether process pid is stopped (by SIGSTOP)."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "T"


def debug_config(srv, **overrides):
    """Writes srv's config with overrides at log_level debug: each worker then logs
    "worker N: serving ..." right before it reports ready."""
    srv.write_config(verbatim=srv.config_text(**overrides)
                     .replace("log_level: info", "log_level: debug"))


class HandoverTests(ft.ServerTestCase):
    def setUp(self):
        if ft.FLARED_WRAPPER:
            self.skipTest("the descriptor limit and the start timing are the program's, not "
                          "the wrapper's")

    # The sd_notify receiver of test_notify.py.
    notify_socket = test_notify.NotifyTests.notify_socket
    messages = test_notify.NotifyTests.messages
    assertNothingMore = test_notify.NotifyTests.assertNothingMore

    # -- SIGHUP ------------------------------------------------------------------

    def test_hup_whose_new_workers_fail_keeps_the_old_ones_serving(self):
        sock, path = self.notify_socket()
        srv = ft.Server(workers=2, text="old", env={"NOTIFY_SOCKET": path})
        self.addCleanup(srv.cleanup)
        limited(srv)
        srv.start()
        self.assertEqual(self.messages(sock, 1), [{"READY": "1"}])
        old = srv.wait_workers(2)
        self.assertTrue(old, srv.log())
        with Loop(srv.port) as loop:
            time.sleep(0.3)
            srv.write_config(text="new", extra=TOO_MANY_ROOTS)
            srv.signal(signal.SIGHUP)
            reloading, ready = self.messages(sock, 2)
            self.assertEqual(reloading.get("RELOADING"), "1")
            time.sleep(0.5)  # the old workers serve on after the failure too
        self.assertEqual(loop.failures, [], srv.log())
        self.assertGreater(loop.ok, 10)
        log = srv.log()
        self.assertRegex(log, r"worker \d: static root .*www: Too many open files")
        self.assertRegex(log, r"reload failed, still serving the previous config: new worker \d "
                              r"\(pid \d+\) exited with status 1")
        self.assertNotIn("reloaded:", log)
        self.assertEqual(ready.get("READY"), "1", ready)
        self.assertRegex(ready.get("STATUS", ""),
                         r"^reload failed, still serving the previous config: new worker")
        # The new generation is gone, the old one was never told to drain.
        self.assertTrue(ft.wait_for(lambda: sorted(srv.workers()) == sorted(old), 5),
                        f"{srv.workers()} != {old}\n{log}")
        self.assertTrue(ft.wait_for(lambda: re.search(
            r"worker \d \(pid \d+\) of the failed generation exited", srv.log()), 5), srv.log())
        self.assertNotIn(": draining (", log)
        for _ in range(10):
            self.assertEqual(srv.get("/plaintext").body, b"old")
        # Fixed, the file reloads as usual.
        srv.write_config(text="fixed", extra="")
        srv.signal(signal.SIGHUP)
        reloading, ready = self.messages(sock, 2)
        self.assertEqual(reloading.get("RELOADING"), "1")
        self.assertEqual(ready, {"READY": "1", "STATUS": "reloaded: 2 workers on generation 1"})
        self.assertTrue(ft.wait_for(lambda: body_or_none(srv) == b"fixed", 5), srv.log())
        self.assertTrue(ft.wait_for(lambda: not any(ft.alive(p) for p in old), 10), srv.log())
        self.assertStopsCleanly(srv)

    def test_failed_reload_raising_workers_leaves_no_socket_unserved(self):
        # The reload binds a second SO_REUSEPORT socket for the second worker, and the
        # kernel hashes new connections onto it at once; once the reload fails, no old
        # worker accepts from it, so it must not stay open.
        srv = ft.Server(workers=1, reuseport=True, text="old")
        self.addCleanup(srv.cleanup)
        limited(srv)
        srv.start()
        old = srv.wait_workers(1)
        srv.write_config(workers=2, extra=TOO_MANY_ROOTS)
        srv.signal(signal.SIGHUP)
        self.assertTrue(ft.wait_for(lambda: "reload failed" in srv.log(), 5), srv.log())
        # Until the new worker that holds it has exited, the socket still takes connections.
        self.assertTrue(ft.wait_for(lambda: srv.workers() == old, 5), srv.log())
        for i in range(40):
            self.assertEqual(body_or_none(srv), b"old", f"connection {i}:\n{srv.log()}")
        self.assertStopsCleanly(srv)

    def test_hup_drains_the_old_workers_only_once_the_new_ones_serve(self):
        srv = self.start_server(workers=2, text="one")
        old = srv.wait_workers(2)
        self.assertTrue(old, srv.log())
        with Loop(srv.port) as loop:
            time.sleep(0.3)
            debug_config(srv, text="two", extra=SLOW_START)
            srv.signal(signal.SIGHUP)
            self.assertTrue(ft.wait_for(lambda: not any(ft.alive(p) for p in old), 10),
                            srv.log())
            time.sleep(0.3)
        self.assertEqual(loop.failures, [], srv.log())
        self.assertGreater(loop.ok, 10)
        lines = srv.log().splitlines()
        new = srv.workers()
        self.assertEqual(len(new), 2)

        def first(pids, text):
            return min(i for i, line in enumerate(lines) for p in pids
                       if f"flared[{p}]: worker" in line and text in line)
        serving = [max(i for i, line in enumerate(lines)
                       if f"flared[{p}]: worker" in line and "serving" in line) for p in new]
        self.assertLess(max(serving), first(old, ": draining ("),
                        "an old worker drained before every new one served:\n" + srv.log())
        # The master logs it after it has told the old workers to drain: they may be quicker.
        self.assertTrue(ft.wait_for(lambda: "reloaded: 2 workers on generation 1" in srv.log(),
                                    ft.patience(5)), srv.log())
        self.assertEqual(srv.get("/plaintext").body, b"two")
        self.assertStopsCleanly(srv)

    def hup_and_freeze(self, srv):
        """Reloads srv (one worker) into a config whose worker is slow to start, and
        freezes (SIGSTOP) the new worker before it reports ready. A worker logs "serving"
        (at debug level) just before it reports: when the frozen one has, it was quicker
        than the test, which lets it go on and tries again. Returns (old worker, frozen
        worker, the body the old worker serves)."""
        old = srv.wait_workers(1)
        self.assertTrue(old, srv.log())
        served = srv.get("/plaintext").body
        for attempt in range(4):
            debug_config(srv, text=f"new {attempt}", extra=SLOW_START,
                         timeouts=", worker_start: 1s")
            reloads = srv.log().count("reloaded:")
            srv.signal(signal.SIGHUP)
            new = ft.wait_for(lambda: [p for p in srv.workers() if p not in old], 5,
                              interval=0.0005)
            self.assertEqual(len(new or []), 1, srv.log())
            os.kill(new[0], signal.SIGSTOP)
            self.addCleanup(lambda pid=new[0]: ft.alive(pid) and os.kill(pid, signal.SIGKILL))
            # kill() returns before a worker running on another CPU has stopped.
            self.assertTrue(ft.wait_for(lambda: stopped(new[0]), 5, interval=0.001))
            if f"flared[{new[0]}]: worker 0: serving" not in srv.log():
                return old[0], new[0], served
            os.kill(new[0], signal.SIGCONT)
            self.assertTrue(ft.wait_for(lambda: srv.log().count("reloaded:") > reloads, 5),
                            srv.log())
            self.assertTrue(ft.wait_for(lambda: srv.workers() == new, 10), srv.log())
            old, served = new, f"new {attempt}".encode()
        self.skipTest("the new worker was always ready before the test could stop it")

    def test_hup_whose_new_worker_never_reports_ready_times_out(self):
        srv = self.start_server(workers=1, text="old")
        old, frozen, served = self.hup_and_freeze(srv)
        # The old worker serves while the new one is late, and after it was given up.
        self.assertEqual(srv.get("/plaintext", timeout=3).body, served)
        self.assertTrue(ft.wait_for(lambda: "did not report ready" in srv.log(), 5), srv.log())
        self.assertIn("reload failed, still serving the previous config: 1 of 1 new workers "
                      "did not report ready within 1000 ms", srv.log())
        self.assertNotIn(f"flared[{old}]: worker 0: draining", srv.log())
        self.assertTrue(ft.wait_for(lambda: not ft.alive(frozen), 5), srv.log())
        self.assertEqual(srv.workers(), [old])
        for _ in range(10):
            self.assertEqual(srv.get("/plaintext").body, served)
        self.assertStopsCleanly(srv)

    def test_ready_workers_of_a_failed_reload_leave_with_health_200(self):
        # Of two new workers one reports ready (it accepts already) and one never does:
        # the reload fails, and the ready one stops accepting at once with health 200, as
        # the old workers of a reload do. With a plain SIGTERM it served on through the new
        # config's drain_delay answering health 503: a balancer took the server out.
        health = "  - path: /health\n    health: {}\n"
        srv = self.start_server(workers=2, extra=health)
        old = srv.wait_workers(2)
        self.assertTrue(old, srv.log())
        for attempt in range(4):
            debug_config(srv, extra=health + SLOW_START,
                         timeouts=", worker_start: 1s, drain_delay: 3s")
            failures = srv.log().count("reload failed")
            srv.signal(signal.SIGHUP)
            new = ft.wait_for(lambda: [p for p in srv.workers() if p not in old], 5,
                              interval=0.0005)
            self.assertTrue(new, srv.log())
            os.kill(new[0], signal.SIGSTOP)
            self.addCleanup(lambda pid=new[0]: ft.alive(pid) and os.kill(pid, signal.SIGKILL))
            self.assertTrue(ft.wait_for(lambda: stopped(new[0]), 5, interval=0.001))
            if not re.search(rf"flared\[{new[0]}\]: worker \d: serving", srv.log()):
                break
            os.kill(new[0], signal.SIGCONT)  # quicker than the test: let the reload end
            self.assertTrue(ft.wait_for(lambda: len(srv.workers()) == 2 and
                                        not set(srv.workers()) & set(old), 10), srv.log())
            old = srv.workers()
        else:
            self.skipTest("the new worker was always ready before the test could stop it")
        self.assertTrue(ft.wait_for(lambda: srv.log().count("reload failed") > failures, 5),
                        srv.log())
        self.assertIn("1 of 2 new workers did not report ready", srv.log())  # one was ready
        statuses = [srv.get("/health").status for _ in range(40)]
        self.assertEqual(statuses, [200] * 40, srv.log())
        self.assertNotIn("health answers 503", srv.log())
        self.assertStopsCleanly(srv)

    def test_hup_whose_new_worker_is_killed_before_it_is_ready(self):
        srv = self.start_server(workers=1, text="old")
        old, frozen, served = self.hup_and_freeze(srv)
        os.kill(frozen, signal.SIGKILL)  # a crash as it starts
        self.assertTrue(ft.wait_for(lambda: "reload failed" in srv.log(), 5), srv.log())
        self.assertIn("reload failed, still serving the previous config: new worker 0 "
                      f"(pid {frozen}) was killed by signal 9", srv.log())
        self.assertNotIn("did not report ready", srv.log())  # at once, not at the timeout
        self.assertEqual(srv.workers(), [old])
        for _ in range(10):
            self.assertEqual(srv.get("/plaintext").body, served)
        self.assertStopsCleanly(srv)

    def test_old_worker_dying_while_a_reload_fails_is_restarted_on_the_old_config(self):
        srv = self.start_server(workers=1, text="old")
        old, frozen, served = self.hup_and_freeze(srv)
        os.kill(old, signal.SIGKILL)  # left for the new generation to replace...
        self.assertTrue(ft.wait_for(lambda: f"worker 0 (pid {old}) exited" in srv.log(), 5),
                        srv.log())
        # ...which does not come: the old config's worker is started again.
        self.assertTrue(ft.wait_for(lambda: "did not report ready" in srv.log(), 5), srv.log())
        self.assertTrue(ft.wait_for(lambda: not ft.alive(frozen), 5), srv.log())
        replacement = srv.wait_workers(1, 5)
        self.assertTrue(replacement and replacement[0] not in (old, frozen), srv.log())
        for _ in range(10):
            self.assertEqual(srv.get("/plaintext").body, served)
        self.assertStopsCleanly(srv)

    def test_hup_while_new_workers_start_reloads_once_they_are_decided(self):
        srv = self.start_server(workers=1, text="old")
        old, frozen, served = self.hup_and_freeze(srv)
        srv.write_config(verbatim=srv.config_text(text="latest", extra=""))
        srv.signal(signal.SIGHUP)
        self.assertTrue(ft.wait_for(lambda: "SIGHUP: new workers are still starting" in srv.log(),
                                    5), srv.log())
        self.assertEqual(srv.get("/plaintext", timeout=3).body, served)
        # The frozen generation fails at its timeout; then the second HUP reloads. (A new
        # worker serves as soon as it has reported, maybe before the master logs it.)
        self.assertTrue(ft.wait_for(lambda: "reloaded: 1 workers" in srv.log(), 10), srv.log())
        self.assertTrue(ft.wait_for(lambda: body_or_none(srv) == b"latest", 10), srv.log())
        log = srv.log()
        second = log.rindex(f"reloading {srv.config_path}")
        self.assertLess(log.index("did not report ready within 1000 ms"), second)
        self.assertLess(second, log.rindex("reloaded: 1 workers"))
        self.assertTrue(ft.wait_for(lambda: not ft.alive(frozen) and not ft.alive(old), 10),
                        srv.log())
        self.assertStopsCleanly(srv)

    # -- SIGUSR2 -----------------------------------------------------------------

    def test_upgrade_whose_new_workers_fail_leaves_the_old_master_serving(self):
        if not FLARED_NEXT or not os.access(FLARED_NEXT, os.X_OK):
            self.fail(f"$FLARED_NEXT does not name the test build flared-next: {FLARED_NEXT!r}")
        sock, path = self.notify_socket()
        srv = ft.Server(workers=2, extra="pid_file: flared.pid\n", env={"NOTIFY_SOCKET": path})
        self.addCleanup(srv.cleanup)
        exe = os.path.join(srv.dir, "bin", "flared")
        os.mkdir(os.path.dirname(exe))
        shutil.copy2(ft.FLARED, exe)
        srv.argv = [exe, "-c", srv.config_path]
        limited(srv)
        srv.start()
        self.assertEqual(self.messages(sock, 1), [{"READY": "1"}])
        pid_file = os.path.join(srv.dir, "flared.pid")
        old = srv.wait_workers(2)
        self.assertTrue(old, srv.log())
        with Loop(srv.port) as loop:
            time.sleep(0.3)
            # The new master reads the file as it is now: its workers cannot start.
            srv.write_config(extra=TOO_MANY_ROOTS + "pid_file: flared.pid\n")
            shutil.copy2(FLARED_NEXT, exe + ".new")
            os.replace(exe + ".new", exe)
            srv.signal(signal.SIGUSR2)
            self.assertTrue(ft.wait_for(
                lambda: f"still serving with pid {srv.pid}" in srv.log(), 15), srv.log())
            time.sleep(0.5)
        self.assertEqual(loop.failures, [], srv.log())
        self.assertGreater(loop.ok, 10)
        log = srv.log()
        m = re.search(r"flared\[(\d+)\]: binary upgrade failed: new worker \d \(pid \d+\) "
                      r"exited with status 1; see its message above; exiting, the previous "
                      rf"master \(pid {srv.pid}\) serves on", log)
        self.assertTrue(m, log)
        new_master = int(m.group(1))
        self.assertTrue(ft.wait_for(lambda: not ft.alive(new_master), 10), srv.log())
        self.assertIsNone(srv.proc.poll(), srv.log())
        self.assertEqual(sorted(srv.workers()), sorted(old))
        self.assertEqual(ft.read_pid(pid_file), srv.pid)
        self.assertFalse(os.path.exists(pid_file + ".oldbin"))
        self.assertEqual(status_json(srv.port)["version"], "0.1.0")
        # The service manager heard nothing: no MAINPID, READY or STOPPING from the new master.
        self.assertNothingMore(sock)
        self.assertStopsCleanly(srv)


if __name__ == "__main__":
    ft.run()
