#!/usr/bin/env python3
"""flared's process model under signals: HUP reloads (a good config is picked
up, a broken one keeps the old serving, fewer workers keep every socket
served), TERM drains in-flight slow transfers, QUIT exits at once, USR1 reopens
the log, and a worker killed with SIGKILL is replaced by the master."""
import http.client
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

import flaredtest as ft

UPLOAD_BYTES = 4096  # sent at 1 KiB/s across the TERM


def body_or_none(srv, path="/plaintext"):
    try:
        return srv.get(path, timeout=2).body
    except (OSError, AssertionError):
        return None


def hup_with_address(srv, address, text):
    """Writes the base config with the listener at address and the body text, then HUP."""
    srv.write_config(verbatim=srv.config_text(text=text).replace(f"127.0.0.1:{srv.port}", address))
    srv.signal(signal.SIGHUP)


class SignalTests(ft.ServerTestCase):
    # -- SIGHUP ----------------------------------------------------------------

    def test_hup_picks_up_changed_route(self):
        srv = self.start_server(workers=2, reuseport=True, text="version one")
        self.assertEqual(srv.get("/plaintext").body, b"version one")
        old = srv.wait_workers(2)
        self.assertTrue(old, "two workers expected")
        srv.write_config(text="version two")
        srv.signal(signal.SIGHUP)
        self.assertTrue(ft.wait_for(lambda: body_or_none(srv) == b"version two", 5),
                        f"the reloaded body was never served:\n{srv.log()}")
        # The old workers drain and exit; two new ones serve.
        self.assertTrue(ft.wait_for(lambda: not any(ft.alive(p) for p in old), 5), srv.log())
        new = srv.workers()
        self.assertEqual(len(new), 2)
        self.assertFalse(set(new) & set(old))
        for _ in range(20):
            self.assertEqual(srv.get("/plaintext").body, b"version two")
        # The master logs it after it has told the old workers to drain: they may be quicker.
        self.assertTrue(ft.wait_for(lambda: "reloaded: 2 workers on generation 1" in srv.log(),
                                    ft.patience(5)), srv.log())
        self.assertStopsCleanly(srv)

    def test_hup_reads_the_config_through_a_symlink_switched_since_the_start(self):
        # Deploys that switch a symlink (a Kubernetes ConfigMap's ..data, a release's
        # `current`) and remove the old target: the reload opens the name it was given.
        srv = ft.Server(text="version one")
        self.addCleanup(srv.cleanup)
        link = os.path.join(srv.dir, "current.yaml")
        os.symlink("flared.yaml", link)
        srv.argv = ft.FLARED_WRAPPER + [ft.FLARED, "-c", link]
        srv.start()
        self.assertEqual(srv.get("/plaintext").body, b"version one")
        with open(os.path.join(srv.dir, "next.yaml"), "w") as f:
            f.write(srv.config_text(text="version two"))
        os.symlink("next.yaml", link + ".tmp")
        os.replace(link + ".tmp", link)
        os.unlink(srv.config_path)
        srv.signal(signal.SIGHUP)
        self.assertTrue(ft.wait_for(lambda: body_or_none(srv) == b"version two", 5),
                        f"the switched config was never served:\n{srv.log()}")
        self.assertStopsCleanly(srv)

    def test_hup_with_broken_config_keeps_serving(self):
        srv = self.start_server(text="still here")
        self.assertEqual(srv.get("/plaintext").body, b"still here")
        workers = srv.wait_workers(1)
        self.assertTrue(workers)
        good = srv.config_text()
        srv.write_config(verbatim=good + "no_such_key: 1\n")
        srv.signal(signal.SIGHUP)
        self.assertTrue(ft.wait_for(lambda: "reload refused" in srv.log(), 5), srv.log())
        self.assertRegex(srv.log(), r"reload refused, still serving the previous config: "
                         + r".*flared\.yaml:\d+:\d+: .*no_such_key")
        for _ in range(10):
            self.assertEqual(srv.get("/plaintext").body, b"still here")
        self.assertEqual(srv.workers(), workers)  # nothing was restarted
        # The master is still able to reload once the file is fixed.
        srv.write_config(text="fixed")
        srv.signal(signal.SIGHUP)
        self.assertTrue(ft.wait_for(lambda: body_or_none(srv) == b"fixed", 5), srv.log())
        self.assertStopsCleanly(srv)

    def test_hup_moving_the_listener(self):
        srv = self.start_server()
        old_port = srv.port
        srv.port = ft.free_port()
        srv.write_config()
        srv.signal(signal.SIGHUP)
        self.assertTrue(ft.wait_for(lambda: body_or_none(srv) == b"Hello, World!", 5), srv.log())

        def old_refused():
            try:
                socket.create_connection(("127.0.0.1", old_port), timeout=1).close()
                return False
            except ConnectionRefusedError:
                return True
        self.assertTrue(ft.wait_for(old_refused, 5), "the old port is still open")
        self.assertStopsCleanly(srv)

    def test_hup_lowering_workers_keeps_every_socket_served(self):
        # Three SO_REUSEPORT sockets, then one worker: the kernel still hashes new
        # connections onto all three sockets, so each must still be accepted from.
        srv = self.start_server(workers=3, reuseport=True)
        srv.write_config(workers=1, text="one worker")
        srv.signal(signal.SIGHUP)
        self.assertTrue(ft.wait_for(lambda: body_or_none(srv) == b"one worker", 5), srv.log())
        self.assertTrue(srv.wait_workers(1, 5), srv.workers())
        for i in range(40):
            r = srv.get("/plaintext", timeout=3)
            self.assertEqual(r.body, b"one worker", f"connection {i}")
        # Raising it again reuses the kept sockets and binds the missing one.
        srv.write_config(workers=4, text="four workers")
        srv.signal(signal.SIGHUP)
        self.assertTrue(ft.wait_for(lambda: body_or_none(srv) == b"four workers", 5), srv.log())
        self.assertTrue(srv.wait_workers(4, 5), srv.workers())
        for i in range(40):
            r = srv.get("/plaintext", timeout=3)
            self.assertEqual(r.body, b"four workers", f"connection {i}")
        self.assertStopsCleanly(srv)

    def test_hup_toggling_reuseport_is_refused(self):
        # The old and new sockets could not share the port: the reload is refused
        # (flared(8) says so) and the running config keeps serving.
        srv = self.start_server(workers=2, reuseport=False, text="before")
        srv.write_config(reuseport="true", text="after")
        srv.signal(signal.SIGHUP)
        self.assertTrue(ft.wait_for(lambda: "reload refused" in srv.log(), 5), srv.log())
        # The socket in the way is flared's own, not "another process" to stop.
        self.assertIn(f"flared.yaml:7:5: listener: tcp bind 127.0.0.1:{srv.port}: flared's own "
                      f"listener 127.0.0.1:{srv.port} holds this port", srv.log())
        for _ in range(10):
            self.assertEqual(srv.get("/plaintext").body, b"before")
        self.assertStopsCleanly(srv)

    def test_hup_respelling_a_listener_keeps_its_socket(self):
        # "127.0.0.1:0P" and "[::1]"'s other spellings are the address already bound: the
        # reload used to bind it again beside the running socket, and was refused.
        srv = self.start_server(text="before")
        hup_with_address(srv, f"127.0.0.1:0{srv.port}", "after")
        self.assertTrue(ft.wait_for(lambda: body_or_none(srv) == b"after", 5), srv.log())
        # The new worker may answer before the master has logged its readiness.
        self.assertTrue(ft.wait_for(lambda: "reloaded: 1 workers on generation 1" in srv.log(),
                                    5), srv.log())
        self.assertNotIn("closing listener", srv.log())  # the running socket was kept
        self.assertStopsCleanly(srv)

    def test_hup_moving_a_listener_to_its_ports_wildcard_is_refused_as_flareds_own(self):
        # 127.0.0.1:P still serves while 0.0.0.0:P would be bound: the kernel refuses it.
        srv = self.start_server(text="before")
        port = srv.port
        hup_with_address(srv, f"0.0.0.0:{port}", "after")
        self.assertTrue(ft.wait_for(lambda: "reload refused" in srv.log(), 5), srv.log())
        self.assertIn(f"flared.yaml:7:5: listener: tcp bind 0.0.0.0:{port}: flared's own "
                      f"listener 127.0.0.1:{port} holds this port: a reload binds the new "
                      "sockets before it closes the old ones, so restart flared", srv.log())
        self.assertNotIn("stop that process", srv.log())
        for _ in range(5):
            self.assertEqual(srv.get("/plaintext").body, b"before")
        self.assertStopsCleanly(srv)

    # -- SIGTERM ---------------------------------------------------------------

    def test_term_lets_slow_transfers_finish(self):
        srv = self.start_server(big_file=True)
        payload = os.urandom(UPLOAD_BYTES)

        # An idle keep-alive connection, which the drain closes at once.
        idle = srv.connect()
        self.addCleanup(idle.close)
        idle.sendall(b"GET /plaintext HTTP/1.1\r\nHost: t\r\n\r\n")
        r, _ = ft.read_response(idle)
        self.assertFalse(r.closes())

        # A slow upload: head and the first KiB now, one more KiB every second. Its 100
        # Continue says the worker has it in flight before the TERM.
        up = srv.connect(timeout=10)
        self.addCleanup(up.close)
        ft.send_head_awaiting_continue(
            up, b"POST /raw HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\n"
            b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % UPLOAD_BYTES)
        up.sendall(payload[:1024])

        # A slow reader of a file larger than the kernel can buffer for it.
        down = srv.connect(timeout=10, rcvbuf=4096)
        self.addCleanup(down.close)
        down.sendall(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        received = bytearray()
        term_sent = threading.Event()
        progress = {}

        def reader():
            slow_until = None
            while True:
                if term_sent.is_set() and slow_until is None:
                    progress["at_term"] = len(received)
                    slow_until = time.monotonic() + 1.0
                slow = slow_until is None or time.monotonic() < slow_until
                try:
                    chunk = down.recv(4096 if slow else 1 << 20)
                except OSError as e:  # a timeout, or the test closed the socket
                    progress["error"] = e
                    return
                if not chunk:
                    return
                received.extend(chunk)
                if slow:
                    time.sleep(0.01)
        t = threading.Thread(target=reader, daemon=True)
        t.start()
        # The download has begun (its connection was accepted) before the TERM.
        self.assertTrue(ft.wait_for(lambda: received, ft.patience(5)), srv.log())

        time.sleep(1.0)
        up.sendall(payload[1024:2048])
        srv.signal(signal.SIGTERM)
        term_sent.set()
        t0 = time.monotonic()

        # The idle connection is closed by the drain.
        idle.settimeout(3)
        self.assertEqual(idle.recv(100), b"")

        # New connections are refused while the drain runs.
        def refused():
            try:
                socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()
                return False
            except ConnectionRefusedError:
                return True
        self.assertTrue(ft.wait_for(refused, 3), "a new connection was accepted during the drain")

        for k in (2, 3):
            time.sleep(max(0.0, t0 + (k - 1) - time.monotonic()))
            up.sendall(payload[k * 1024:(k + 1) * 1024])
        resp, rest = ft.read_response(up, "POST", timeout=5)
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.body, payload)
        self.assertTrue(resp.closes(), "a response sent while draining must close")
        self.assertEqual(rest, b"")

        t.join(10)
        self.assertFalse(t.is_alive(), "the download did not finish")
        self.assertNotIn("error", progress)
        head, _, body = bytes(received).partition(b"\r\n\r\n")
        self.assertIn(b"HTTP/1.1 200 OK", head)
        self.assertIn(b"Content-Length: %d" % len(srv.big), head)
        # At TERM time most of the file had not left the server yet.
        self.assertLess(progress["at_term"], len(srv.big) // 2)
        self.assertEqual(len(body), len(srv.big))
        self.assertTrue(body == srv.big, "the download is not byte-exact")

        self.assertEqual(srv.wait(10), 0, srv.log())
        self.assertIn("exited", srv.log())

    def test_int_drains_like_term(self):
        srv = self.start_server(workers=2)
        srv.signal(signal.SIGINT)
        self.assertEqual(srv.wait(10), 0, srv.log())
        self.assertIn("shutting down: draining workers", srv.log())
        self.assertEqual(srv.log().count(": draining ("), 2)

    def test_quit_exits_promptly_despite_transfers(self):
        srv = self.start_server(workers=2, reuseport=True)
        workers = srv.wait_workers(2)
        self.assertTrue(workers, "two workers expected")
        up = srv.connect()
        self.addCleanup(up.close)
        up.sendall(b"POST /raw HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\nonly a little")
        time.sleep(0.2)
        srv.signal(signal.SIGQUIT)
        # The drain would wait for the upload up to timeouts.shutdown (8s); QUIT does not.
        self.assertEqual(srv.wait(4), 0, srv.log())
        _, closed = ft.read_until_close(up, 2)
        self.assertTrue(closed)
        self.assertTrue(ft.wait_for(lambda: not any(ft.alive(p) for p in workers), 2))

    def test_quit_during_drain_exits_at_once(self):
        srv = self.start_server()
        up = srv.connect()
        self.addCleanup(up.close)
        # In flight before the TERM: a connection the worker had not yet accepted or
        # read would not hold the drain, and flared would exit on the TERM alone.
        ft.send_head_awaiting_continue(up, b"POST /raw HTTP/1.1\r\nHost: t\r\n"
                                       b"Expect: 100-continue\r\nContent-Length: 100000\r\n\r\n")
        up.sendall(b"only a little")
        srv.signal(signal.SIGTERM)
        self.assertTrue(ft.wait_for(lambda: ": draining (1 connections" in srv.log(),
                                    ft.patience(5)), srv.log())
        time.sleep(0.5)
        self.assertIsNone(srv.proc.poll(), "the drain should wait for the upload")
        srv.signal(signal.SIGQUIT)
        self.assertEqual(srv.wait(4), 0, srv.log())

    def test_quit_keeps_the_access_log_lines_of_answered_requests(self):
        # Workers buffer access-log lines for up to a second; QUIT exits at once, but
        # a request the client got its answer to must still be in the log.
        srv = ft.Server()
        self.addCleanup(srv.cleanup)
        log = os.path.join(srv.dir, "access.log")
        srv.params["extra"] = f"access_log: {log}\n"
        srv.start()
        self.assertTrue(srv.wait_workers(1), srv.log())
        answered = []

        def ask():
            # Keep-alive GETs one after another until QUIT cuts the connection.
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
            try:
                while len(answered) < 100000:
                    conn.request("GET", "/plaintext")
                    response = conn.getresponse()
                    if response.read() != b"Hello, World!":
                        break
                    answered.append(1)
            except (OSError, http.client.HTTPException):
                pass
            finally:
                conn.close()

        client = threading.Thread(target=ask)
        client.start()
        self.assertTrue(ft.wait_for(lambda: len(answered) >= 20, 5), srv.log())
        srv.signal(signal.SIGQUIT)
        self.assertEqual(srv.wait(4), 0, srv.log())
        client.join(10)
        self.assertFalse(client.is_alive())
        logged = ft.read_text(log).count('"GET /plaintext HTTP/1.1" 200 ')
        # Every answer the client read was logged (the last one logged may not have
        # reached the client before the worker exited).
        self.assertGreaterEqual(logged, len(answered), f"{len(answered)} answered")

    # -- worker supervision ------------------------------------------------------

    def test_killed_worker_is_replaced(self):
        srv = self.start_server(workers=2, reuseport=True)
        workers = srv.wait_workers(2)
        self.assertTrue(workers)
        victim = workers[0]
        os.kill(victim, signal.SIGKILL)
        new = ft.wait_for(lambda: (len(srv.workers()) == 2 and victim not in srv.workers()
                                   and srv.workers()), 5)
        self.assertTrue(new, f"no replacement worker: {srv.workers()}\n{srv.log()}")
        self.assertIn(workers[1], new)
        self.assertRegex(srv.log(), rf"worker \d \(pid {victim}\) killed by signal 9; restarting")
        # Both SO_REUSEPORT sockets are served again: every connection is answered.
        for _ in range(30):
            self.assertEqual(srv.get("/plaintext", timeout=3).body, b"Hello, World!")
        self.assertStopsCleanly(srv)

    def test_workers_exit_when_the_master_dies(self):
        srv = self.start_server(workers=2)
        workers = srv.wait_workers(2)
        self.assertTrue(workers)
        os.kill(srv.pid, signal.SIGKILL)
        srv.proc.wait(5)
        self.assertTrue(ft.wait_for(lambda: not any(ft.alive(p) for p in workers), 5),
                        "workers outlived their master")

    def pid_namespace_prefix(self):
        """The unshare(1) command line that runs a program as pid 1 of a new pid namespace
        (skips the test where none can be made)."""
        unshare = shutil.which("unshare")
        if not unshare:
            self.skipTest("unshare(1) is not installed")
        for flags in (["--pid", "--fork", "--kill-child"],
                      ["--user", "--map-root-user", "--pid", "--fork", "--kill-child"]):
            if subprocess.run([unshare, *flags, "true"], capture_output=True).returncode == 0:
                return [unshare, *flags]
        self.skipTest("cannot create a pid namespace here (unshare --pid failed)")

    def start_as_pid_1(self, workers):
        """A started Server whose master runs as pid 1 of a new pid namespace, and
        [the master's pid] as this namespace sees it."""
        prefix = self.pid_namespace_prefix()
        srv = ft.Server(workers=workers)
        self.addCleanup(srv.cleanup)
        srv.argv = [*prefix, *srv.argv]
        srv.start()
        master = ft.wait_for(lambda: ft.children_of(srv.pid), 3)
        self.assertEqual(len(master), 1)
        return srv, master

    def test_runs_as_pid_1(self):
        # A container entrypoint: the master is pid 1 of its pid namespace, and its
        # workers must still start (and the master must still reap them).
        srv, master = self.start_as_pid_1(workers=2)
        with open(f"/proc/{master[0]}/status") as f:
            self.assertRegex(f.read(), r"NSpid:\s+\d+\s+1\n", "flared is not pid 1 of its namespace")
        for _ in range(10):
            self.assertEqual(srv.get("/plaintext", timeout=3).body, b"Hello, World!")
        self.assertEqual(len([p for p in ft.children_of(master[0]) if ft.alive(p)]), 2)
        self.assertNotIn("exited with status", srv.log())
        os.kill(master[0], signal.SIGTERM)
        self.assertEqual(srv.wait(10), 0, srv.log())  # unshare exits with flared's status
        self.assertIn("exited", srv.log())

    def test_usr2_as_pid_1_is_refused(self):
        # When pid 1 of a namespace exits, the kernel kills every other process in it: an
        # upgrade's new master, once the old one (pid 1) had drained and exited, died with
        # it, and the container with nothing serving.
        srv, master = self.start_as_pid_1(workers=1)
        os.kill(master[0], signal.SIGUSR2)
        self.assertTrue(ft.wait_for(lambda: "SIGUSR2" in srv.log(), 5), srv.log())
        time.sleep(1)  # long enough for an upgrade to hand over, and pid 1 to exit
        self.assertIn("pid 1", srv.log())
        self.assertNotIn("binary upgrade: starting", srv.log())
        self.assertIsNone(srv.proc.poll(), srv.log())
        self.assertEqual(srv.get("/plaintext", timeout=3).body, b"Hello, World!")
        os.kill(master[0], signal.SIGTERM)
        self.assertEqual(srv.wait(10), 0, srv.log())

    # -- SIGUSR1 -----------------------------------------------------------------

    def test_usr1_reopens_the_error_log(self):
        srv = ft.Server(workers=2)
        self.addCleanup(srv.cleanup)
        log = os.path.join(srv.dir, "error.log")
        srv.params["error_log"] = log
        srv.start()
        self.assertTrue(ft.wait_for(lambda: "started 2 workers" in ft.read_text(log), 3))
        workers = srv.wait_workers(2)
        self.assertTrue(workers, "two workers expected")
        rotated = log + ".1"
        os.rename(log, rotated)
        srv.signal(signal.SIGUSR1)
        self.assertTrue(ft.wait_for(lambda: os.path.exists(log), 3), "USR1 did not create a new log file")
        self.assertTrue(ft.wait_for(lambda: "reopened the error log" in ft.read_text(log), 3))
        # The workers reopened it too: their drain lines on reload land in the new file.
        srv.signal(signal.SIGHUP)
        self.assertTrue(ft.wait_for(
            lambda: all(f"flared[{p}]: worker" in ft.read_text(log) for p in workers), 5),
                        ft.read_text(log))
        old = ft.read_text(rotated)
        self.assertIn("started 2 workers", old)
        self.assertNotIn("reloading", old)
        # The master logs it after it has told the workers to drain: they may be quicker.
        self.assertTrue(ft.wait_for(lambda: "reloaded" in ft.read_text(log), ft.patience(5)),
                        ft.read_text(log))
        self.assertStopsCleanly(srv)


if __name__ == "__main__":
    ft.run()
