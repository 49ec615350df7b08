#!/usr/bin/env python3
"""flared's process settings and the binary upgrade: the pid file (written
atomically, removed on exit), workers running as `user`/`group` while the
master keeps its identity, the open-files limit raised for max_connections,
and SIGUSR2: a new master started from the (replaced) binary on disk takes over
the listening sockets while requests keep flowing, with zero failed requests
and the new version reported by /status afterwards; a new binary that fails to
start leaves the old master serving."""
import json
import os
import pwd
import resource
import grp
import shutil
import signal
import socket
import tempfile
import threading
import time

import flaredtest as ft

FLARED_NEXT = os.environ.get("FLARED_NEXT", "")


def status_json(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /status HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        data, _ = ft.read_until_close(s, 5)
    responses, _ = ft.parse_responses(data)
    return json.loads(responses[0].body)


read_pid = ft.read_pid


def proc_status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return line.split()[1:]
    return None


class ProcessTests(ft.ServerTestCase):
    def test_pid_file_written_and_removed(self):
        srv = ft.Server(extra="pid_file: run/flared.pid\n")
        self.addCleanup(srv.cleanup)
        os.mkdir(os.path.join(srv.dir, "run"))
        srv.start()
        path = os.path.join(srv.dir, "run", "flared.pid")
        self.assertEqual(read_pid(path), srv.pid)  # written before the ports are bound
        self.assertEqual(os.listdir(os.path.join(srv.dir, "run")), ["flared.pid"])
        self.assertStopsCleanly(srv)
        self.assertFalse(os.path.exists(path))

    def test_second_start_keeps_running_masters_pid_file(self):
        # A second flared with the same pid_file used to overwrite it, and then remove
        # it on its way out (or keep it, naming itself, when its own ports were free).
        first = ft.Server(extra="pid_file: flared.pid\n")
        self.addCleanup(first.cleanup)
        first.start()
        path = os.path.join(first.dir, "flared.pid")
        self.assertEqual(read_pid(path), first.pid)
        second = ft.Server(extra=f"pid_file: {path}\n")
        self.addCleanup(second.cleanup)
        with self.assertRaises(AssertionError):
            second.start(timeout=3)
        self.assertEqual(second.proc.wait(5), 1)
        self.assertIn(f"names pid {first.pid}, a flared that is running", second.log())
        self.assertEqual(read_pid(path), first.pid)
        self.assertEqual(first.get("/plaintext").status, 200)
        self.assertStopsCleanly(first)
        self.assertFalse(os.path.exists(path))

    def test_stale_pid_file_is_replaced(self):
        srv = ft.Server(extra="pid_file: flared.pid\n")
        self.addCleanup(srv.cleanup)
        path = os.path.join(srv.dir, "flared.pid")
        dead = os.fork()
        if dead == 0:
            os._exit(0)
        os.waitpid(dead, 0)
        with open(path, "w") as f:
            f.write(f"{dead}\n")
        srv.start()
        self.assertEqual(read_pid(path), srv.pid)
        self.assertStopsCleanly(srv)

    def test_pid_file_unwritable_fails_start(self):
        srv = ft.Server(extra="pid_file: no/such/dir/flared.pid\n")
        self.addCleanup(srv.cleanup)
        with self.assertRaises(AssertionError):
            srv.start(timeout=3)
        self.assertIn("pid_file", srv.log())

    def test_workers_drop_privileges(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to switch users")
        user = pwd.getpwnam("nobody")
        group = grp.getgrgid(user.pw_gid).gr_name
        srv = ft.Server(workers=2, extra=f"user: nobody\ngroup: {group}\n")
        os.chmod(srv.dir, 0o755)  # the static root must stay readable
        self.addCleanup(srv.cleanup)
        srv.start()
        self.assertEqual(srv.get("/plaintext").status, 200)
        # A worker drops privileges once its listeners are set up: wait for both.
        def dropped():
            pids = srv.workers()
            return len(pids) == 2 and all(proc_status(p, "Uid")[0] != "0" for p in pids) and pids
        workers = ft.wait_for(dropped, 5)
        self.assertTrue(workers, srv.log())
        for pid in workers:
            uids = proc_status(pid, "Uid")
            gids = proc_status(pid, "Gid")
            self.assertEqual(set(uids), {str(user.pw_uid)}, f"worker {pid} uids {uids}")
            self.assertEqual(set(gids), {str(user.pw_gid)}, f"worker {pid} gids {gids}")
            groups = proc_status(pid, "Groups")
            self.assertNotIn("0", groups)
        self.assertEqual(proc_status(srv.pid, "Uid")[0], "0")  # the master keeps root
        self.assertStopsCleanly(srv)

    def test_workers_that_dropped_privileges_exit_when_the_master_dies(self):
        # Changing the effective uid/gid clears PR_SET_PDEATHSIG (commit_creds): workers
        # running as `user` outlived a killed master and kept serving, orphaned, on its port.
        if os.geteuid() != 0:
            self.skipTest("needs root to switch users")
        user = pwd.getpwnam("nobody")
        srv = ft.Server(workers=2, extra="user: nobody\n")
        os.chmod(srv.dir, 0o755)  # the static root must stay readable
        self.addCleanup(srv.cleanup)
        srv.start()
        def dropped():
            pids = srv.workers()
            return len(pids) == 2 and all(proc_status(p, "Uid")[0] != "0" for p in pids) and pids
        workers = ft.wait_for(dropped, 5)
        self.assertTrue(workers, srv.log())
        self.assertEqual(proc_status(workers[0], "Uid")[0], str(user.pw_uid))
        os.kill(srv.pid, signal.SIGKILL)
        srv.proc.wait(5)
        gone = ft.wait_for(lambda: not any(ft.alive(p) for p in workers), 5)
        for pid in workers:
            if ft.alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.assertTrue(gone, f"workers outlived their master:\n{srv.log()}")

    def test_open_files_limit_raised(self):
        need = 2 * 7000 + 256  # a connection's descriptor and its upstream's or file's
        ft.skip_unless_nofile_can_reach(self, need)
        srv = ft.Server(limits=", max_connections: 7000")
        self.addCleanup(srv.cleanup)
        argv = srv.argv
        # Start with a low soft limit, as a shell with ulimit -n 1024 would.
        srv.argv = ["/bin/sh", "-c", 'ulimit -S -n 1024 && exec "$@"', "sh"] + argv
        srv.start()
        # The port accepts as soon as the master listens, which is before it raises the
        # limit (for the sockets it will hold as well).
        self.assertTrue(ft.wait_for(lambda: "raised the open-files limit" in srv.log(),
                                    ft.patience(5)), srv.log())
        with open(f"/proc/{srv.pid}/limits") as f:
            line = next(x for x in f if x.startswith("Max open files"))
        self.assertGreaterEqual(int(line.split()[3]), need, line)
        self.assertStopsCleanly(srv)

    def test_open_files_limit_fits_a_proxied_connection_each(self):
        # Each proxied client holds two descriptors in the worker: its own and its
        # upstream connection's. The limit raised for max_connections fits both, so a
        # worker under max_connections does not run out and answer 502.
        clients, max_connections = 290, 300
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        need_here = 2 * clients + 64  # this process holds both ends' other halves
        if soft < need_here:
            if hard != resource.RLIM_INFINITY and hard < need_here:
                self.skipTest(f"hard limit {hard} is below {need_here}")
            resource.setrlimit(resource.RLIMIT_NOFILE, (need_here, hard))
            self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))
        ft.skip_unless_nofile_can_reach(self, 2 * max_connections + 256)
        up = HeldUpstream()
        self.addCleanup(up.close)
        route = (f"  - path: /api/\n    proxy: {{upstream: app}}\nupstreams:\n  app:\n"
                 f"    servers: [\"127.0.0.1:{up.port}\"]\n    read_timeout: 30s\n")
        srv = ft.Server(limits=f", max_connections: {max_connections}", extra=route)
        self.addCleanup(srv.cleanup)
        # A low soft limit, as a shell with ulimit -n 64 would give; the hard one stays.
        srv.argv = ["/bin/sh", "-c", 'ulimit -S -n 64 && exec "$@"', "sh"] + srv.argv
        srv.start()
        socks = []
        for _ in range(clients):
            s = srv.connect()
            self.addCleanup(s.close)
            s.sendall(b"GET /api/x HTTP/1.1\r\nHost: t\r\n\r\n")
            socks.append(s)
        # Every request reaches the upstream, which answers once all are there (a worker
        # out of descriptors answers some 502 instead, and they never arrive).
        ft.wait_for(lambda: up.count() >= clients, ft.patience(15))
        up.answer_all()
        statuses = {}
        for s in socks:
            r, _ = ft.read_response(s, timeout=ft.patience(10))
            statuses[r.status] = statuses.get(r.status, 0) + 1
        self.assertEqual(statuses, {200: clients})
        self.assertStopsCleanly(srv)


class HeldUpstream:
    """An upstream that takes connections and reads their requests, but answers only
    when told: each proxied request then holds its upstream connection open."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(c)

    def count(self):
        with self.lock:
            return len(self.conns)

    def answer_all(self):
        with self.lock:
            for c in self.conns:
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    def close(self):
        self.sock.close()
        with self.lock:
            for c in self.conns:
                c.close()


class Stale(Exception):
    """A kept-alive connection was closed by the server before it answered."""


class Loop:
    """Requests in a loop on one keep-alive connection and on fresh connections."""

    def __init__(self, port):
        self.port = port
        self.stop = threading.Event()
        self.ok = 0
        self.failures = []
        self.threads = [threading.Thread(target=self.keepalive), threading.Thread(target=self.fresh)]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(10)

    def request(self, sock, reused=False):
        """One GET; raises Stale when a reused connection closed before any answer."""
        try:
            sock.sendall(b"GET /echo HTTP/1.1\r\nHost: t\r\n\r\n")
            r, _ = ft.read_response(sock)
        except (ConnectionResetError, BrokenPipeError) as e:
            if reused:
                raise Stale() from e
            raise
        except AssertionError as e:
            if reused and "connection closed mid-response: b''" in str(e):
                raise Stale() from e
            raise
        if r.status != 200:
            raise AssertionError(f"status {r.status}")
        return r

    def fresh(self):
        while not self.stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                    s.sendall(b"GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                    data, _ = ft.read_until_close(s, 5)
                responses, _ = ft.parse_responses(data)
                if len(responses) != 1 or responses[0].status != 200:
                    raise AssertionError(f"reply {data[:80]!r}")
                self.ok += 1
            except Exception as e:  # noqa: BLE001 - every failure is counted
                self.failures.append(f"new connection: {e!r}")

    def keepalive(self):
        sock = None
        while not self.stop.is_set():
            try:
                if sock is None:
                    sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                    self.request(sock)
                    self.ok += 1
                    continue
                try:
                    r = self.request(sock, reused=True)
                except Stale:
                    # RFC 9112 §9.3.1: a server may close an idle keep-alive connection
                    # at any time; a client retries an idempotent request that got no
                    # answer on a new connection. Only a failure there counts.
                    sock.close()
                    sock = None
                    continue
                self.ok += 1
                if r.closes():
                    sock.close()
                    sock = None
            except Exception as e:  # noqa: BLE001
                self.failures.append(f"keep-alive: {e!r}")
                if sock:
                    sock.close()
                sock = None
        if sock:
            sock.close()


class UpgradeTests(ft.ServerTestCase):
    def start_from_copy(self, workers=2, env=None):
        if not FLARED_NEXT or not os.access(FLARED_NEXT, os.X_OK):
            self.fail(f"$FLARED_NEXT does not name the test build flared-next: {FLARED_NEXT!r}")
        srv, self.exe = ft.start_from_copy(self, workers=workers, extra="pid_file: flared.pid\n",
                                           env=env)
        self.pid_file = os.path.join(srv.dir, "flared.pid")
        return srv

    def replace_binary(self, source):
        tmp = self.exe + ".new"
        shutil.copy2(source, tmp)
        os.replace(tmp, self.exe)

    def kill_pid(self, pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def test_sigusr2_swaps_binary_without_failed_requests(self):
        srv = self.start_from_copy()
        old_pid = srv.pid
        self.assertEqual(status_json(srv.port)["version"], "0.1.0")
        with Loop(srv.port) as loop:
            time.sleep(0.5)
            before = loop.ok
            self.replace_binary(FLARED_NEXT)
            srv.signal(signal.SIGUSR2)
            status = srv.wait(15)  # the old master drains and exits
            self.assertEqual(status, 0, srv.log())
            new_pid = read_pid(self.pid_file)
            self.assertIsNotNone(new_pid)
            self.addCleanup(self.kill_pid, new_pid)
            time.sleep(0.5)
        self.assertNotEqual(new_pid, old_pid)
        self.assertEqual(loop.failures, [], srv.log())
        self.assertGreater(before, 10)
        self.assertGreater(loop.ok, before + 10)
        st = status_json(srv.port)
        self.assertEqual(st["version"], "0.1.0-next")
        self.assertFalse(os.path.exists(self.pid_file + ".oldbin"))
        # The new master logs it after its "R": the old one may have drained and exited.
        self.assertTrue(ft.wait_for(lambda: f"binary upgrade: took over from pid {old_pid}"
                                    in srv.log(), ft.patience(5)), srv.log())
        # The new master stops like any other and removes its pid file.
        os.kill(new_pid, signal.SIGTERM)
        self.assertTrue(ft.wait_for(lambda: not ft.alive(new_pid), 15), srv.log())
        self.assertFalse(os.path.exists(self.pid_file))

    def test_upgrade_announces_mainpid(self):
        d = self.enterContext(tempfile.TemporaryDirectory(prefix="flared-notify-"))
        path = os.path.join(d, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.bind(path)
        sock.settimeout(10)
        srv = self.start_from_copy(workers=1, env={"NOTIFY_SOCKET": path})
        self.assertEqual(sock.recv(4096), b"READY=1")
        self.replace_binary(FLARED_NEXT)
        srv.signal(signal.SIGUSR2)
        msg = sock.recv(4096).decode()
        self.assertEqual(srv.wait(15), 0, srv.log())
        new_pid = read_pid(self.pid_file)
        self.addCleanup(self.kill_pid, new_pid)
        self.assertEqual(msg, f"MAINPID={new_pid}\nREADY=1")
        # The old master leaves without STOPPING=1: the service goes on.
        sock.settimeout(0.5)
        with self.assertRaises(socket.timeout):
            extra = sock.recv(4096)
            self.fail(f"unexpected notification {extra!r}")
        os.kill(new_pid, signal.SIGTERM)
        sock.settimeout(5)
        self.assertEqual(sock.recv(4096), b"STOPPING=1")
        self.assertTrue(ft.wait_for(lambda: not ft.alive(new_pid), 15), srv.log())

    def test_failed_upgrade_keeps_serving(self):
        srv = self.start_from_copy(workers=1)
        with open(self.exe + ".new", "w") as f:
            f.write("#!/bin/sh\necho 'broken build' >&2\nexit 1\n")
        os.chmod(self.exe + ".new", 0o755)
        os.replace(self.exe + ".new", self.exe)
        srv.signal(signal.SIGUSR2)
        self.assertTrue(ft.wait_for(lambda: "binary upgrade failed" in srv.log(), 10), srv.log())
        self.assertEqual(read_pid(self.pid_file), srv.pid)
        self.assertFalse(os.path.exists(self.pid_file + ".oldbin"))
        self.assertEqual(srv.get("/plaintext").status, 200)
        self.assertEqual(status_json(srv.port)["version"], "0.1.0")
        self.assertStopsCleanly(srv)

    def test_upgrade_refused_by_the_config_says_why_in_the_error_log(self):
        # The new master fails before it opens any log: its FILE:LINE:COLUMN reaches the
        # old master's error_log, not only a stderr nobody reads once error_log is a file.
        srv = ft.Server(workers=1, extra="pid_file: flared.pid\n")
        self.addCleanup(srv.cleanup)
        log = os.path.join(srv.dir, "error.log")
        srv.params["error_log"] = log
        srv.start()
        self.assertTrue(ft.wait_for(lambda: "started 1 workers" in ft.read_text(log), 5))
        pid_file = os.path.join(srv.dir, "flared.pid")
        broken = srv.config_text() + "no_such_key: 1\n"
        line = broken.count("\n")
        srv.write_config(verbatim=broken)
        srv.signal(signal.SIGUSR2)
        self.assertTrue(ft.wait_for(lambda: "binary upgrade failed" in ft.read_text(log), 10),
                        ft.read_text(log) + srv.log())
        self.assertIn(f"binary upgrade failed (the new master did not start: {srv.config_path}:"
                      f"{line}:1: unknown key 'no_such_key' at the top level", ft.read_text(log))
        self.assertEqual(read_pid(pid_file), srv.pid)
        self.assertFalse(os.path.exists(pid_file + ".oldbin"))
        self.assertEqual(srv.get("/plaintext").status, 200)
        self.assertStopsCleanly(srv)


if __name__ == "__main__":
    ft.run()
