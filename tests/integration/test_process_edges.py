#!/usr/bin/env python3
"""flared's process model at awkward moments: a HUP while the config is still
loading, a $NOTIFY_SOCKET nobody reads, a worker killed as soon as it starts
(restart back-off), Unix socket paths (another process listening on them, their
owner under `user`, a respelled path on reload), reloads (a listener that cannot
be bound, a raised max_connections, a changed backlog, an old worker that hangs),
and the binary upgrade
(a descriptor leaked after USR1, TERM before the new master is ready, USR2
twice, USR2 in the new master while the old one drains, the old master gone before
the new one names it, a new master that hangs,
signals that reach the new master as it starts, a worker restarted meanwhile)."""
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import flaredtest as ft

FLARED_NEXT = os.environ.get("FLARED_NEXT", "")


read_pid = ft.read_pid


def kill_pid(pid):
    if not pid:
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def live_in_group(pgid):
    """Pids of the processes of group pgid that have not exited."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            pids.append(int(entry))
    return pids


def unix_get(path):
    """The body of GET / over the Unix socket at path, or None when it cannot be had."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect(path)
            s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            return ft.read_until_close(s, 2)[0].rsplit(b"\r\n\r\n", 1)[-1]
    except OSError:
        return None


def listen_backlog(port):
    """The backlog of the listening socket on 127.0.0.1:port, as ss shows it (Send-Q)."""
    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True,
                         timeout=5).stdout
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[3].endswith(f":{port}"):
            return int(fields[2])
    return None


class Daemon:
    """A flared on a config written verbatim (for what the base config cannot express)."""

    def __init__(self, test, text):
        self.dir = tempfile.mkdtemp(prefix="flared-edge-")
        test.addCleanup(shutil.rmtree, self.dir, True)
        self.config = os.path.join(self.dir, "flared.yaml")
        with open(self.config, "w") as f:
            f.write(text.replace("$DIR", self.dir))
        self.log_path = os.path.join(self.dir, "stderr.log")
        self.log_file = open(self.log_path, "ab")
        test.addCleanup(self.log_file.close)
        self.proc = subprocess.Popen([ft.FLARED, "-c", self.config], stdin=subprocess.DEVNULL,
                                     stdout=self.log_file, stderr=self.log_file,
                                     start_new_session=True)
        test.addCleanup(self.kill)

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()

    def log(self):
        return ft.read_text(self.log_path)


class EdgeTests(ft.ServerTestCase):
    def setUp(self):
        ft.require_flared()

    def unix_socket(self, kind):
        """A Unix socket of kind bound in a fresh directory; returns (path, socket)."""
        d = tempfile.mkdtemp(prefix="flared-edge-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "s.sock")
        sock = socket.socket(socket.AF_UNIX, kind)
        self.addCleanup(sock.close)
        sock.bind(path)
        return path, sock

    # -- signals before the master loop ------------------------------------------

    def test_hup_while_the_config_loads_is_not_fatal(self):
        # Thousands of routes keep the config loading for a while after exec; a HUP
        # then used to kill the process (default action) before the master blocked it.
        if ft.FLARED_WRAPPER:
            self.skipTest("the wrapper itself would take the signal")
        if "ASAN_OPTIONS" in os.environ:
            # ASan's allocator maps its own memory: no [heap] tells when main has begun.
            # The plain build runs this test.
            self.skipTest("no [heap] mapping under AddressSanitizer")
        port = ft.free_port()
        routes = "".join(f"  - {{path: /r{i}, text: {{body: x}}}}\n" for i in range(8000))
        d = Daemon(self, f"listeners:\n  - address: 127.0.0.1:{port}\nroutes:\n{routes}")
        # Past the dynamic loader, in main: the first malloc (loading the file) made the heap.
        self.assertTrue(ft.wait_for(lambda: "[heap]" in ft.read_text(f"/proc/{d.proc.pid}/maps"),
                                    5, interval=0.001), d.log())
        for _ in range(3):
            d.proc.send_signal(signal.SIGHUP)
            time.sleep(0.005)
        self.assertTrue(ft.wait_for(lambda: ft.accepts_or_died(d.proc, port), 10), d.log())
        self.assertIsNone(d.proc.poll(), f"flared died ({d.proc.returncode}):\n{d.log()}")
        # The HUPs were kept for the loop: it reloads and serves on.
        self.assertTrue(ft.wait_for(lambda: "reloaded" in d.log(), 10), d.log())
        d.proc.send_signal(signal.SIGTERM)
        self.assertEqual(d.proc.wait(10), 0, d.log())

    def test_a_notify_socket_nobody_reads_does_not_block_the_master(self):
        # sd_notify went out with a blocking sendto: a full queue on $NOTIFY_SOCKET (a
        # service manager stuck, or gone and its path reused) froze the master for good.
        path, receiver = self.unix_socket(socket.SOCK_DGRAM)
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as filler:
            filler.setblocking(False)
            with self.assertRaises(BlockingIOError):
                for _ in range(100000):
                    filler.sendto(b"x", path)
        srv = self.start_server(env={"NOTIFY_SOCKET": path})
        self.assertEqual(srv.get("/plaintext").status, 200)
        srv.signal(signal.SIGHUP)  # RELOADING=1 and READY=1 find the queue full too
        self.assertTrue(ft.wait_for(lambda: "reloaded" in srv.log(), 5), srv.log())
        self.assertStopsCleanly(srv, timeout=5)

    def test_a_worker_killed_as_soon_as_it_starts_is_restarted_ever_later(self):
        # No fork bomb: a worker that dies young is restarted after a delay that doubles.
        srv = self.start_server(workers=1)
        killed = set()
        end = time.monotonic() + 3
        while time.monotonic() < end:
            for pid in srv.workers():
                if pid not in killed:
                    killed.add(pid)
                    kill_pid(pid)
            time.sleep(0.005)
        delays = [int(d) for d in re.findall(r"killed by signal 9; restarting in (\d+) ms",
                                             srv.log())]
        # 100 + 200 + 400 + 800 + 1600 ms: at most six workers in three seconds.
        self.assertLessEqual(len(killed), 6, srv.log())
        self.assertGreaterEqual(len(delays), 4, srv.log())
        self.assertEqual(delays[:4], [100, 200, 400, 800], srv.log())
        self.assertTrue(srv.wait_workers(1, 5), srv.log())  # it still comes back
        self.assertEqual(srv.get("/plaintext").status, 200)
        self.assertStopsCleanly(srv)

    # -- Unix socket listeners ---------------------------------------------------

    def test_unix_path_another_process_listens_on_is_left_alone(self):
        path, theirs = self.unix_socket(socket.SOCK_STREAM)
        theirs.listen(8)
        config = f"listeners:\n  - address: unix:{path}\nroutes:\n  - path: /\n    text: {{body: ours}}\n"
        first = Daemon(self, config)
        self.assertEqual(first.proc.wait(10), 1, first.log())
        self.assertIn(f"unix:{path}: another process listens on it", first.log())
        # The other program still owns the path: its socket gets the connection.
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(c.close)
        c.connect(path)
        theirs.settimeout(5)
        conn, _ = theirs.accept()
        conn.close()
        # Once nobody listens, the file left behind is stale and flared replaces it.
        theirs.close()
        second = Daemon(self, config)
        self.assertTrue(ft.wait_for(lambda: unix_get(path) == b"ours" or second.proc.poll(), 10),
                        second.log())
        self.assertIsNone(second.proc.poll(), second.log())
        second.proc.send_signal(signal.SIGTERM)
        self.assertEqual(second.proc.wait(10), 0, second.log())

    def test_hup_respelling_a_unix_path_keeps_its_socket(self):
        d = tempfile.mkdtemp(prefix="flared-unix-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "s.sock")
        config = "listeners:\n  - address: unix:%s\nroutes:\n  - path: /\n    text: {body: %s}\n"
        daemon = Daemon(self, config % (path, "one"))
        self.assertTrue(ft.wait_for(lambda: unix_get(path) == b"one", 5), daemon.log())
        inode = os.stat(path).st_ino
        with open(daemon.config, "w") as f:
            f.write(config % (os.path.join(d, ".", "", "s.sock"), "two"))
        daemon.proc.send_signal(signal.SIGHUP)
        self.assertTrue(ft.wait_for(lambda: re.search("reloaded|reload refused", daemon.log()), 5),
                        daemon.log())
        self.assertNotIn("reload refused", daemon.log())
        self.assertTrue(ft.wait_for(lambda: unix_get(path) == b"two", 5), daemon.log())
        self.assertEqual(os.stat(path).st_ino, inode)  # the same socket, not bound again
        daemon.proc.send_signal(signal.SIGTERM)
        self.assertEqual(daemon.proc.wait(10), 0, daemon.log())

    def test_unix_socket_belongs_to_the_workers_user(self):
        # Made by the root master, the socket file was root's (0755 under umask 022), so
        # nobody running as the configured user could connect to it.
        if os.geteuid() != 0:
            self.skipTest("needs root to switch users")
        user = pwd.getpwnam("nobody")
        d = tempfile.mkdtemp(prefix="flared-unix-")
        self.addCleanup(shutil.rmtree, d, True)
        os.chmod(d, 0o755)
        path = os.path.join(d, "s.sock")
        daemon = Daemon(self, f"user: nobody\nlisteners:\n  - address: unix:{path}\n"
                              "routes:\n  - path: /\n    text: {body: served}\n")
        self.assertTrue(ft.wait_for(lambda: os.path.exists(path) or daemon.proc.poll() is not None,
                                    5), daemon.log())
        st = os.stat(path)
        self.assertEqual((st.st_uid, st.st_gid), (user.pw_uid, user.pw_gid), daemon.log())
        probe = ("import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.settimeout(5)\n"
                 f"s.connect({path!r})\n"
                 "s.sendall(b'GET / HTTP/1.1\\r\\nHost: t\\r\\nConnection: close\\r\\n\\r\\n')\n"
                 "d=b''\nwhile (c:=s.recv(4096)): d+=c\nsys.stdout.write(d.decode())\n")
        python = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
        p = subprocess.run([python, "-c", probe], user=user.pw_uid, group=user.pw_gid,
                           extra_groups=[], capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 0, p.stderr + daemon.log())
        self.assertIn("served", p.stdout)
        daemon.proc.send_signal(signal.SIGTERM)
        self.assertEqual(daemon.proc.wait(10), 0, daemon.log())

    # -- reload --------------------------------------------------------------------

    def test_hup_with_a_listener_that_cannot_be_bound(self):
        srv = self.start_server(workers=2, reuseport=True, text="before")
        workers = srv.wait_workers(2)
        held = socket.socket()
        self.addCleanup(held.close)
        held.bind(("127.0.0.1", 0))
        held.listen()
        free, taken = ft.free_port(), held.getsockname()[1]
        text = srv.config_text(text="after").replace(
            "routes:\n", f"  - address: 127.0.0.1:{free}\n  - address: 127.0.0.1:{taken}\n"
            "routes:\n", 1)
        srv.write_config(verbatim=text)
        srv.signal(signal.SIGHUP)
        self.assertTrue(ft.wait_for(lambda: "reload refused" in srv.log(), 5), srv.log())
        # The message names the listener by its place in the file (line 10 of the base config).
        self.assertRegex(srv.log(), r"reload refused, still serving the previous config: "
                         + re.escape(srv.config_path) + r":10:5: listener: .*"
                         + f"127.0.0.1:{taken}.*Address already in use")
        # The listener bound before the failure is closed again; the old config serves on.
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", free), timeout=1).close()
        for _ in range(10):
            self.assertEqual(srv.get("/plaintext").body, b"before")
        self.assertEqual(srv.workers(), workers)
        self.assertStopsCleanly(srv)

    def test_old_worker_hung_after_a_reload_is_killed(self):
        # After a reload the old workers were told to drain and then left alone: one that
        # hung (here: stopped) ran for ever, holding its listening sockets. It is killed once
        # its config's drain_delay + shutdown (8 s here) and 2 s more have passed.
        srv = self.start_server(workers=1)
        (old,) = srv.wait_workers(1)
        self.addCleanup(kill_pid, old)
        os.kill(old, signal.SIGSTOP)
        srv.write_config(text="reloaded")
        srv.signal(signal.SIGHUP)
        self.assertTrue(ft.wait_for(lambda: "reloaded:" in srv.log(), 5), srv.log())
        self.assertEqual(srv.get("/plaintext").body, b"reloaded")
        time.sleep(1)
        self.assertTrue(ft.alive(old))  # still within its shutdown time
        self.assertTrue(ft.wait_for(lambda: not ft.alive(old), 15), srv.log())
        self.assertIn(f"worker 0 (pid {old}) of generation 0 did not finish draining", srv.log())
        self.assertEqual(srv.get("/plaintext").body, b"reloaded")
        self.assertStopsCleanly(srv)

    def test_hup_raising_max_connections_raises_the_open_files_limit(self):
        # The limit was raised for max_connections at start only: after a reload that
        # raised max_connections the new workers ran out of descriptors long before it.
        need = 15000 + 256
        ft.skip_unless_nofile_can_reach(self, need)
        srv = ft.Server(limits=", max_connections: 100")
        self.addCleanup(srv.cleanup)
        srv.argv = ["/bin/sh", "-c", 'ulimit -S -n 1024 && exec "$@"', "sh"] + srv.argv
        srv.start()
        srv.write_config(limits=", max_connections: 15000", text="more")
        srv.signal(signal.SIGHUP)
        self.assertTrue(ft.wait_for(lambda: srv.get("/plaintext").body == b"more", 5), srv.log())
        self.assertTrue(srv.wait_workers(1, 5), srv.log())  # the old worker has gone
        for pid in [srv.pid] + srv.workers():
            with open(f"/proc/{pid}/limits") as f:
                line = next(x for x in f if x.startswith("Max open files"))
            self.assertGreaterEqual(int(line.split()[3]), need, f"pid {pid}: {line}")
        self.assertStopsCleanly(srv)

    def test_hup_moves_the_error_and_access_logs(self):
        srv = self.start_server(error_log="one.log", extra="access_log: one-access.log\n")

        def path(name):
            return os.path.join(srv.dir, name)
        self.assertEqual(srv.get("/plaintext?before").status, 200)
        srv.write_config(error_log="two.log", extra="access_log: two-access.log\n", text="two")
        srv.signal(signal.SIGHUP)
        self.assertTrue(ft.wait_for(lambda: "reloaded" in ft.read_text(path("two.log")), 5),
                        ft.read_text(path("one.log")))
        # The old worker, until it has gone, may take ?after and log it in one-access.log.
        self.assertTrue(srv.wait_workers(1, 5), ft.read_text(path("two.log")))
        self.assertEqual(srv.get("/plaintext?after").body, b"two")
        self.assertTrue(ft.wait_for(lambda: "/plaintext?after" in ft.read_text(
            path("two-access.log")), 5), ft.read_text(path("two-access.log")))
        self.assertIn("/plaintext?before", ft.read_text(path("one-access.log")))
        self.assertNotIn("/plaintext?after", ft.read_text(path("one-access.log")))
        self.assertNotIn("reloaded", ft.read_text(path("one.log")))
        self.assertStopsCleanly(srv)
        self.assertIn("exited", ft.read_text(path("two.log")))

    def test_hup_applies_a_changed_backlog(self):
        srv = self.start_server()
        self.assertEqual(listen_backlog(srv.port), 4096)  # the default
        srv.write_config(reuseport="false\n    backlog: 77", text="reloaded")
        srv.signal(signal.SIGHUP)
        self.assertTrue(ft.wait_for(lambda: srv.get("/plaintext").body == b"reloaded", 5),
                        srv.log())
        self.assertEqual(listen_backlog(srv.port), 77, "the kept socket has the old backlog")
        self.assertStopsCleanly(srv)

    # -- binary upgrade ------------------------------------------------------------

    def start_from_copy(self, timeouts="", error_log="stderr"):
        if not FLARED_NEXT or not os.access(FLARED_NEXT, os.X_OK):
            self.fail(f"$FLARED_NEXT does not name the test build flared-next: {FLARED_NEXT!r}")
        srv, self.exe = ft.start_from_copy(self, extra="pid_file: flared.pid\n",
                                           timeouts=timeouts, error_log=error_log)
        # Every master of the upgrade is in the group the first one leads, even once it exited.
        self.addCleanup(kill_group, srv.pid)
        self.pid_file = os.path.join(srv.dir, "flared.pid")
        return srv

    def replace_binary(self, text=None, source=None):
        tmp = self.exe + ".new"
        if source:
            shutil.copy2(source, tmp)
        else:
            with open(tmp, "w") as f:
                f.write(text)
            os.chmod(tmp, 0o755)
        os.replace(tmp, self.exe)

    def test_upgrade_after_usr1_leaks_no_log_descriptor(self):
        # USR1 reopened the error log with dup2, which drops FD_CLOEXEC: every later upgrade
        # handed the new master one more descriptor of the log.
        srv = self.start_from_copy(error_log="flared.log")
        log = os.path.join(srv.dir, "flared.log")
        srv.signal(signal.SIGUSR1)
        self.assertTrue(ft.wait_for(lambda: "reopened the error log" in ft.read_text(log), 5))
        self.replace_binary(source=FLARED_NEXT)
        srv.signal(signal.SIGUSR2)
        self.assertTrue(ft.wait_for(lambda: "took over from pid" in ft.read_text(log), 10),
                        ft.read_text(log))
        new_pid = read_pid(self.pid_file)
        self.addCleanup(kill_pid, new_pid)
        self.assertEqual(srv.wait(15), 0, ft.read_text(log))
        fd_dir = f"/proc/{new_pid}/fd"
        logs = [fd for fd in os.listdir(fd_dir) if os.readlink(os.path.join(fd_dir, fd)) == log]
        self.assertEqual(len(logs), 1, f"descriptors of the error log: {logs}")
        os.kill(new_pid, signal.SIGTERM)
        self.assertTrue(ft.wait_for(lambda: not ft.alive(new_pid), 15), ft.read_text(log))

    def test_term_before_the_new_master_is_ready_stops_it_too(self):
        srv = self.start_from_copy()
        started = os.path.join(srv.dir, "new.pid")
        # A new binary slow to start: TERM reaches the old master before the new is ready.
        self.replace_binary(f"#!/bin/sh\necho $$ > {started}\nsleep 1.5\n"
                            f"exec {FLARED_NEXT} \"$@\"\n")
        srv.signal(signal.SIGUSR2)
        self.assertTrue(ft.wait_for(lambda: read_pid(started), 5), srv.log())
        new_pid = read_pid(started)
        self.addCleanup(kill_pid, new_pid)
        self.assertTrue(os.path.exists(self.pid_file + ".oldbin"))
        srv.signal(signal.SIGTERM)
        self.assertEqual(srv.wait(10), 0, srv.log())
        # Nothing serves on after the stop: the new master went with the old one.
        self.assertFalse(ft.alive(new_pid), f"the new master {new_pid} runs on:\n{srv.log()}")
        # The script's sleep holds the sockets until it ends; a new master would stay.
        self.assertTrue(ft.wait_for(lambda: not live_in_group(srv.pid), ft.patience(10)),
                        f"still running: {live_in_group(srv.pid)}\n{srv.log()}")
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()
        self.assertFalse(os.path.exists(self.pid_file + ".oldbin"))
        self.assertFalse(os.path.exists(self.pid_file))
        self.assertIn("stopping the new master", srv.log())

    def test_usr2_twice_starts_one_upgrade(self):
        srv = self.start_from_copy()
        old_pid = srv.pid
        started = os.path.join(srv.dir, "new.pid")
        self.replace_binary(f"#!/bin/sh\necho $$ >> {started}\nsleep 0.5\n"
                            f"exec {FLARED_NEXT} \"$@\"\n")
        srv.signal(signal.SIGUSR2)
        self.assertTrue(ft.wait_for(lambda: read_pid(started), 5), srv.log())
        srv.signal(signal.SIGUSR2)
        self.assertTrue(ft.wait_for(lambda: "an upgrade is already running" in srv.log(), 5),
                        srv.log())
        self.assertEqual(srv.wait(15), 0, srv.log())  # handed over, drained
        new_pid = read_pid(self.pid_file)
        self.addCleanup(kill_pid, new_pid)
        with open(started) as f:
            self.assertEqual(f.read().split(), [str(new_pid)])  # one new master, no other
        # The new master logs it after its "R": the old one may have drained and exited.
        self.assertTrue(ft.wait_for(lambda: f"took over from pid {old_pid}" in srv.log(),
                                    ft.patience(5)), srv.log())
        self.assertEqual(srv.get("/plaintext").status, 200)
        os.kill(new_pid, signal.SIGTERM)
        self.assertTrue(ft.wait_for(lambda: not ft.alive(new_pid), 15), srv.log())

    def test_new_master_names_the_old_one_after_that_exited(self):
        # The new master logged getppid() after writing "R": once the old master had read it,
        # drained and exited (quick with idle workers, and likely under load), that was the
        # pid it was reparented to, and the log said "took over from pid 1". strace delays
        # each getppid() of the new master (not its workers) by 1.5 s, so the old master is
        # always gone by then; -D keeps the new master the old one's child.
        strace = shutil.which("strace")
        self.assertIsNotNone(strace, "strace is needed (scripts/install-deps.sh installs it)")
        srv = self.start_from_copy()
        old_pid = srv.pid
        # LeakSanitizer cannot run in a traced process (an ASan build's leak check at exit
        # would report a fatal error instead): it is off for this master and its workers.
        self.replace_binary(f"#!/bin/sh\n"
                            f"ASAN_OPTIONS=\"${{ASAN_OPTIONS:+$ASAN_OPTIONS:}}detect_leaks=0\" "
                            f"exec {strace} -D -qq -o /dev/null -e trace=getppid "
                            f"-e inject=getppid:delay_enter=1500000 {FLARED_NEXT} \"$@\"\n")
        srv.signal(signal.SIGUSR2)
        self.assertEqual(srv.wait(15), 0, srv.log())  # handed over, drained
        new_pid = read_pid(self.pid_file)
        self.assertNotIn(new_pid, (None, old_pid))
        self.addCleanup(kill_pid, new_pid)
        self.assertTrue(ft.wait_for(lambda: "took over from pid" in srv.log(), 10), srv.log())
        self.assertIn(f"took over from pid {old_pid}", srv.log())
        self.assertEqual(srv.get("/plaintext").status, 200)
        os.kill(new_pid, signal.SIGTERM)
        self.assertTrue(ft.wait_for(lambda: not ft.alive(new_pid), 15), srv.log())

    def test_new_master_that_hangs_is_killed_and_the_old_one_serves_on(self):
        # A new binary that never reports ready nor exits held the upgrade "running" for
        # ever: pid_file stayed renamed to .oldbin and every later SIGUSR2 was refused. It
        # gets twice timeouts.worker_start, then it is killed and the upgrade has failed.
        srv = self.start_from_copy(timeouts=", worker_start: 1s")
        old_pid = srv.pid
        started = os.path.join(srv.dir, "new.pid")
        self.replace_binary(f"#!/bin/sh\necho $$ > {started}\nexec sleep 60\n")
        srv.signal(signal.SIGUSR2)
        self.assertTrue(ft.wait_for(lambda: read_pid(started), 5), srv.log())
        hung = read_pid(started)
        self.addCleanup(kill_pid, hung)
        self.assertTrue(ft.wait_for(lambda: "binary upgrade failed" in srv.log(), 8), srv.log())
        self.assertIn(f"the new master (pid {hung}) did not report ready", srv.log())
        self.assertTrue(ft.wait_for(lambda: not ft.alive(hung), 5))
        self.assertEqual(read_pid(self.pid_file), old_pid)
        self.assertFalse(os.path.exists(self.pid_file + ".oldbin"))
        self.assertEqual(srv.get("/plaintext").status, 200)
        # The next upgrade is not refused as "already running".
        self.replace_binary(source=FLARED_NEXT)
        srv.signal(signal.SIGUSR2)
        self.assertEqual(srv.wait(15), 0, srv.log())
        new_pid = read_pid(self.pid_file)
        self.assertNotIn(new_pid, (None, old_pid))
        self.addCleanup(kill_pid, new_pid)
        # The new master logs it after its "R": the old one may have drained and exited.
        self.assertTrue(ft.wait_for(lambda: f"took over from pid {old_pid}" in srv.log(),
                                    ft.patience(5)), srv.log())
        os.kill(new_pid, signal.SIGTERM)
        self.assertTrue(ft.wait_for(lambda: not ft.alive(new_pid), 15), srv.log())

    def test_signals_sent_to_the_new_master_as_it_starts_are_not_fatal(self):
        # The old master unblocked every signal before executing the new binary, which had
        # them at their default action until its main() blocked them again: a USR1 or HUP
        # sent to every flared at that moment (logrotate's killall -USR1 flared, systemctl
        # kill) killed the new master and failed the upgrade. The wrapper's sleep holds that
        # moment open; it is Python, which keeps the signal mask it was started with (dash
        # clears it).
        srv = self.start_from_copy()
        old_pid = srv.pid
        started = os.path.join(srv.dir, "new.pid")
        self.replace_binary(f"#!{sys.executable}\nimport os, sys, time\n"
                            f"with open({started!r}, 'w') as f:\n    f.write(f'{{os.getpid()}}\\n')\n"
                            f"time.sleep(1)\nos.execv({FLARED_NEXT!r}, ['flared'] + sys.argv[1:])\n")
        srv.signal(signal.SIGUSR2)
        self.assertTrue(ft.wait_for(lambda: read_pid(started), 5), srv.log())
        new_pid = read_pid(started)
        self.addCleanup(kill_pid, new_pid)
        os.kill(new_pid, signal.SIGUSR1)
        os.kill(new_pid, signal.SIGHUP)
        self.assertEqual(srv.wait(15), 0, srv.log())  # handed over, drained
        self.assertNotIn("binary upgrade failed", srv.log())
        # The new master logs it after its "R": the old one may have drained and exited.
        self.assertTrue(ft.wait_for(lambda: f"took over from pid {old_pid}" in srv.log(),
                                    ft.patience(5)), srv.log())
        self.assertEqual(read_pid(self.pid_file), new_pid)
        # Both were handled as signals, once the new master could: logs reopened, reloaded.
        self.assertTrue(ft.wait_for(lambda: f"flared[{new_pid}]: reloaded" in srv.log(), 10),
                        srv.log())
        self.assertIn(f"flared[{new_pid}]: SIGUSR1: reopened", srv.log())
        self.assertEqual(srv.get("/plaintext").status, 200)
        os.kill(new_pid, signal.SIGTERM)
        self.assertTrue(ft.wait_for(lambda: not ft.alive(new_pid), 15), srv.log())

    def test_worker_restarted_during_an_upgrade_holds_no_pipe(self):
        # A worker the old master forked while an upgrade ran inherited the read end of the
        # new master's readiness pipe. Workers hold no pipe at all once they are set up.
        srv = self.start_from_copy()
        started = os.path.join(srv.dir, "new.pid")
        self.replace_binary(f"#!/bin/sh\necho $$ > {started}\nsleep 4\n"
                            f"exec {FLARED_NEXT} \"$@\"\n")
        (worker,) = srv.wait_workers(1)
        srv.signal(signal.SIGUSR2)
        self.assertTrue(ft.wait_for(lambda: read_pid(started), 5), srv.log())
        self.addCleanup(kill_pid, read_pid(started))
        os.kill(worker, signal.SIGKILL)
        new_workers = [p for p in ft.wait_for(lambda: [p for p in srv.workers()
                                                       if p not in (worker, read_pid(started))],
                                              5) or []]
        self.assertEqual(len(new_workers), 1, srv.log())
        fd_dir = f"/proc/{new_workers[0]}/fd"

        def pipes():
            found = []
            for fd in os.listdir(fd_dir):
                try:
                    if os.readlink(os.path.join(fd_dir, fd)).startswith("pipe:"):
                        found.append(fd)
                except OSError:
                    pass
            return found
        # Once set up it has written its readiness report and closed that pipe.
        self.assertTrue(ft.wait_for(lambda: not pipes(), 2), f"pipes {pipes()}\n{srv.log()}")
        self.assertEqual(srv.wait(15), 0, srv.log())  # the upgrade still completes
        new_pid = read_pid(self.pid_file)
        self.addCleanup(kill_pid, new_pid)
        os.kill(new_pid, signal.SIGTERM)
        self.assertTrue(ft.wait_for(lambda: not ft.alive(new_pid), 15), srv.log())

    def test_second_usr2_while_the_old_master_drains_is_refused(self):
        # An upload in flight on an old worker keeps the old master (and that worker) alive
        # after it handed over, until the body ends; meanwhile pid_file.oldbin names it.
        srv = self.start_from_copy()
        old_pid = srv.pid
        hold = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        self.addCleanup(hold.close)
        hold.sendall(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n")
        self.assertIn(b" 200 ", hold.recv(4096))  # served: the connection is the old worker's
        hold.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nabc")
        self.replace_binary(source=FLARED_NEXT)
        srv.signal(signal.SIGUSR2)
        self.assertTrue(ft.wait_for(lambda: f"took over from pid {old_pid}" in srv.log(), 10),
                        srv.log())
        new_pid = read_pid(self.pid_file)
        self.assertNotIn(new_pid, (None, old_pid))
        self.addCleanup(kill_pid, new_pid)
        self.assertEqual(read_pid(self.pid_file + ".oldbin"), old_pid)
        self.assertTrue(ft.alive(old_pid))
        os.kill(new_pid, signal.SIGUSR2)
        self.assertTrue(ft.wait_for(lambda: "is still draining" in srv.log(), 5), srv.log())
        self.assertEqual(read_pid(self.pid_file + ".oldbin"), old_pid)
        self.assertEqual(read_pid(self.pid_file), new_pid)
        self.assertEqual(len(re.findall(r"SIGUSR2: binary upgrade: starting", srv.log())), 1)
        # The upload ends, answered; then the old master is gone, and an upgrade is possible again.
        hold.sendall(b"def")
        self.assertIn(b" 200 ", hold.recv(4096))
        self.assertEqual(srv.wait(15), 0, srv.log())
        self.assertTrue(ft.wait_for(lambda: not os.path.exists(self.pid_file + ".oldbin"), 5))
        os.kill(new_pid, signal.SIGTERM)
        self.assertTrue(ft.wait_for(lambda: not ft.alive(new_pid), 15), srv.log())


if __name__ == "__main__":
    ft.run()
