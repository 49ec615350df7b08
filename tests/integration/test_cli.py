#!/usr/bin/env python3
"""flared's command line: -t on good and broken configs (exit 0 / 78 with
FILE:LINE:COLUMN), -v, -h, usage errors, and a broken config refusing to start."""
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import time
import unittest

import flaredtest as ft

GOOD = """\
listeners:
  - address: 127.0.0.1:{port}
routes:
  - path: /plaintext
    text: {{body: hi}}
"""

# (name, config text, line, column, words the reason must contain)
BROKEN = [
    ("unknown_key", "listeners:\n  - address: 127.0.0.1:1\nworkerz: 2\n", 3, 1, ["workerz"]),
    ("duration_without_unit", "timeouts:\n  header: 10\nlisteners:\n  - address: 127.0.0.1:1\n", 2, 11,
     ["duration", "unit"]),
    ("duplicate_key", "workers: 1\nworkers: 2\nlisteners:\n  - address: 127.0.0.1:1\n", 2, 1, ["duplicate"]),
    ("wrong_type", "workers: [1]\nlisteners:\n  - address: 127.0.0.1:1\n", 1, 10, ["workers"]),
    ("bad_address", "listeners:\n  - address: localhost:80\n", 2, 14, ["address"]),
    ("unknown_route_type", "listeners:\n  - address: 127.0.0.1:1\nroutes:\n  - path: /x\n    fastcgi: {}\n",
     5, 5, ["fastcgi"]),
    ("yaml_syntax", "listeners:\n  - address: 127.0.0.1:1\n  bad: [\n", 3, None, []),
    # The server's header array holds at most 1000: a larger value must not pass and
    # then be cut to 1000 without a word.
    ("max_headers_over_limit", "limits: {max_headers: 1001}\nlisteners:\n  - address: 127.0.0.1:1\n",
     1, 23, ["max_headers", "1..1000"]),
    ("alias_refused", "a: &x 1\nlisteners:\n  - address: 127.0.0.1:1\n", 1, None, []),
]


class CliTests(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="flared-cli-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def flared(self, *args, timeout=10):
        return subprocess.run([ft.FLARED, *args], capture_output=True, text=True, timeout=timeout)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_check_good_config_exits_0(self):
        path = self.write("good.yaml", GOOD.format(port=ft.free_port()))
        p = self.flared("-t", "-c", path)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("valid", p.stdout)

    def test_check_shipped_default_config(self):
        root = os.environ.get("FLARED_SOURCE_ROOT")
        if not root:
            self.skipTest("FLARED_SOURCE_ROOT is not set")
        p = self.flared("-t", "-c", os.path.join(root, "conf", "flared.yaml"))
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_check_readme_config(self):
        # The configuration README.md shows under "flared in short" is one flared accepts.
        root = os.environ.get("FLARED_SOURCE_ROOT")
        if not root:
            self.skipTest("FLARED_SOURCE_ROOT is not set")
        with open(os.path.join(root, "README.md")) as f:
            readme = f.read()
        section = readme[readme.index("## flared in short"):]
        block = re.search(r"```yaml\n(.*?)```", section, re.S)
        self.assertIsNotNone(block, "no yaml block under 'flared in short'")
        os.mkdir(os.path.join(self.dir, "www"))
        p = self.flared("-t", "-c", self.write("readme.yaml", block.group(1)))
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_check_broken_configs_exit_78_with_position(self):
        for name, text, line, column, words in BROKEN:
            with self.subTest(name):
                path = self.write(name + ".yaml", text)
                p = self.flared("-t", "-c", path)
                self.assertEqual(p.returncode, 78, f"{name}: {p.stdout}{p.stderr}")
                m = re.search(re.escape(path) + r":(\d+):(\d+): (.+)", p.stderr)
                self.assertIsNotNone(m, f"{name}: no FILE:LINE:COLUMN in {p.stderr!r}")
                self.assertEqual(int(m.group(1)), line, p.stderr)
                if column is not None:
                    self.assertEqual(int(m.group(2)), column, p.stderr)
                for w in words:
                    self.assertIn(w, m.group(3), p.stderr)
                self.assertNotIn("valid", p.stdout)

    def test_missing_file_exits_78(self):
        path = os.path.join(self.dir, "absent.yaml")
        p = self.flared("-t", "-c", path)
        self.assertEqual(p.returncode, 78)
        self.assertIn(path, p.stderr)

    def test_broken_config_does_not_start(self):
        port = ft.free_port()
        path = self.write("bad.yaml", GOOD.format(port=port) + "bogus: 1\n")
        p = self.flared("-c", path)
        self.assertEqual(p.returncode, 78, p.stderr)
        self.assertRegex(p.stderr, re.escape(path) + r":6:1: ")
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()

    def test_unwritable_files_fail_check_and_start_alike(self):
        # `flared -t` used to pass a config whose error_log, access_log or pid_file cannot be
        # written, which then failed to start (78 without a position, or 1).
        missing = os.path.join(self.dir, "no", "such", "dir")
        gone = re.escape(missing + "/x")
        reasons = {"error_log": f"cannot open '{gone}': No such file",
                   "access_log": f"cannot open '{gone}': No such file",
                   "pid_file": f"cannot write '{gone}': its directory does not exist"}
        for key, reason in reasons.items():
            with self.subTest(key):
                port = ft.free_port()
                path = self.write(key + ".yaml", GOOD.format(port=port) + f"{key}: {missing}/x\n")
                want = re.escape(path) + f":6:{len(key) + 3}: {key}: {reason}"
                check = self.flared("-t", "-c", path)
                self.assertEqual(check.returncode, 78, check.stdout + check.stderr)
                self.assertRegex(check.stderr, want)
                start = self.flared("-c", path)
                self.assertEqual(start.returncode, 78, start.stderr)
                self.assertRegex(start.stderr, want)

    def test_files_flared_writes_must_not_be_files_it_reads(self):
        # `pid_file: flared.yaml` passed -t, and the start replaced the config with the pid
        # (and removed it on exit); a log there was appended to the config.
        port = ft.free_port()
        for key in ("pid_file", "error_log", "access_log"):
            with self.subTest(key):
                name = key + ".yaml"
                text = GOOD.format(port=port) + f"{key}: {name}\n"
                path = self.write(name, text)
                want = (re.escape(path) + f":6:{len(key) + 3}: {key}: '" + re.escape(path) +
                        "' is also this config file, which flared would destroy")
                for args in (("-t", "-c", path), ("-c", path)):
                    p = self.flared(*args)
                    self.assertEqual(p.returncode, 78, p.stdout + p.stderr)
                    self.assertRegex(p.stderr, want)
                    with open(path) as f:
                        self.assertEqual(f.read(), text)
        # (extra config, the message): the pid file over a log (the rename would take the
        # log's place); a log over the auth's user file (request lines in the password file).
        self.write("users", "u:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=\n")
        cases = [("access_log: flared.log\npid_file: flared.log\n",
                  f":7:11: pid_file: '{self.dir}/flared.log' is also access_log"),
                 ("    auth: {realm: r, users: users}\naccess_log: users\n",
                  f":7:13: access_log: '{self.dir}/users' is also the users file of the auth "
                  "at line 6")]
        for i, (extra, message) in enumerate(cases):
            path = self.write(f"clash{i}.yaml", GOOD.format(port=port) + extra)
            p = self.flared("-t", "-c", path)
            self.assertEqual(p.returncode, 78, p.stdout + p.stderr)
            self.assertIn(path + message, p.stderr)

    def test_pid_file_over_a_device_or_fifo_is_refused(self):
        # `pid_file: /dev/null` passed -t; the start renamed the pid file over the device and
        # removed it on exit. Over a FIFO, the start blocked reading it.
        fifo = os.path.join(self.dir, "pid.fifo")
        os.mkfifo(fifo)
        path = self.write("fifo.yaml", GOOD.format(port=ft.free_port()) + f"pid_file: {fifo}\n")
        for args in (("-t", "-c", path), ("-c", path)):
            p = self.flared(*args)
            self.assertEqual(p.returncode, 78, p.stdout + p.stderr)
            self.assertIn(f"{path}:6:11: pid_file: cannot write '{fifo}': it is a device, FIFO "
                          "or socket, which flared would replace", p.stderr)
            self.assertTrue(stat.S_ISFIFO(os.lstat(fifo).st_mode))

    def test_errors_are_one_line_whatever_the_file_holds(self):
        # A "\n" escape in a value or path the message repeats used to split it: a second,
        # forged line in the error log (and an escape sequence on a terminal).
        port = ft.free_port()
        cases = {"error_log": 'error_log: "/nonexistent-dir\\nFORGED: \\e[2J/x.log"\n',
                 "static_root": '  - path: /\n    static: {root: "no\\nFORGED"}\n'}
        for name, extra in cases.items():
            with self.subTest(name):
                path = self.write(name + ".yaml", GOOD.format(port=port) + extra)
                for args in (("-t", "-c", path), ("-c", path)):
                    p = self.flared(*args)
                    self.assertEqual(p.returncode, 78, p.stderr)
                    self.assertEqual(len(p.stderr.splitlines()), 1, p.stderr)
                    self.assertIn("?FORGED", p.stderr)
                    self.assertNotIn("\x1b", p.stderr)

    def test_user_switch_without_root_fails_check_and_start_alike(self):
        # `flared -t` passed `user: root` for a flared that is not root, whose start then
        # failed with status 1 and no position. Run as nobody when the tests run as root.
        kwargs = {}
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            kwargs = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
            os.chmod(self.dir, 0o755)
        path = self.write("user.yaml", GOOD.format(port=ft.free_port()) + "user: root\n")
        os.chmod(path, 0o644)
        want = re.escape(path) + r":6:7: user: switching to 'root' needs root, and flared runs as uid"
        for args in (["-t", "-c", path], ["-c", path]):
            with self.subTest(args[0]):
                p = subprocess.run([ft.FLARED, *args], capture_output=True, text=True, timeout=10,
                                   **kwargs)
                self.assertEqual(p.returncode, 78, p.stdout + p.stderr)
                self.assertRegex(p.stderr, want)

    def test_version(self):
        for opt in ("-v", "--version"):
            p = self.flared(opt)
            self.assertEqual(p.returncode, 0)
            self.assertRegex(p.stdout, r"^flared \d+\.\d+\.\d+\n$")

    def test_help(self):
        for opt in ("-h", "--help"):
            p = self.flared(opt)
            self.assertEqual(p.returncode, 0)
            for name in ("-c, --config FILE", "-t, --test", "-s, --signal SIGNAL", "-v, --version",
                         "-h, --help"):
                self.assertIn(name, p.stdout)

    def test_long_options(self):
        # as h2o and most daemons spell them: --config FILE, --config=FILE, --test
        path = self.write("long.yaml", "listeners: [{address: '127.0.0.1:8080'}]\n"
                                       "routes:\n  - path: /\n    text: {body: x}\n")
        for args in (["--test", "--config", path], [f"--config={path}", "-t"]):
            with self.subTest(args):
                p = self.flared(*args)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertIn("is valid", p.stdout)
        p = self.flared("--signal", "restart")
        self.assertEqual(p.returncode, 64, p.stderr)
        self.assertIn("unknown signal 'restart'", p.stderr)

    def test_usage_errors_exit_64(self):
        for args in (["-x"], ["-c"], ["extra-argument"], ["-s"], ["-s", "restart"],
                     ["-t", "-s", "reload"]):
            with self.subTest(args):
                p = self.flared(*args)
                self.assertEqual(p.returncode, 64, p.stderr)
                self.assertIn("usage:", p.stderr)

    @unittest.skipIf(ft.FLARED_WRAPPER, "under $FLARED_WRAPPER the master's name is the "
                     "wrapper's, so -s rightly finds no flared in the pid file")
    def test_signal_option_reaches_the_master_of_the_pid_file(self):
        pid_file = os.path.join(self.dir, "flared.pid")
        srv = ft.Server(extra=f"pid_file: {pid_file}\n", text="one")
        self.addCleanup(srv.cleanup)
        srv.start()
        self.assertTrue(ft.wait_for(lambda: os.path.exists(pid_file), 5))
        # reload: the changed route is served.
        srv.write_config(text="two")
        p = self.flared("-s", "reload", "-c", srv.config_path)
        self.assertEqual((p.returncode, p.stderr), (0, ""))
        self.assertTrue(ft.wait_for(lambda: srv.get("/plaintext").body == b"two", 5), srv.log())
        # reopen: the master says so in its log.
        self.assertEqual(self.flared("-s", "reopen", "-c", srv.config_path).returncode, 0)
        self.assertTrue(ft.wait_for(lambda: "reopened the error log" in srv.log(), 5), srv.log())
        # stop: the master drains and exits 0, and removes its pid file.
        self.assertEqual(self.flared("-s", "stop", "-c", srv.config_path).returncode, 0)
        self.assertEqual(srv.wait(10), 0)
        self.assertFalse(os.path.exists(pid_file))
        # Nothing running now: exit 1, said plainly.
        p = self.flared("-s", "quit", "-c", srv.config_path)
        self.assertEqual(p.returncode, 1)
        self.assertIn(f"pid_file {pid_file} names no running flared", p.stderr)

    @unittest.skipIf(ft.FLARED_WRAPPER, "under $FLARED_WRAPPER the master's name is the "
                     "wrapper's, so -s rightly finds no flared in the pid file")
    def test_signal_option_stops_a_master_whose_config_no_longer_loads(self):
        # A relative pid_file is next to the config, whatever directory -s runs in.
        srv = ft.Server(extra="pid_file: run/flared.pid\n")
        self.addCleanup(srv.cleanup)
        os.mkdir(os.path.join(srv.dir, "run"))
        srv.start()
        pid_file = os.path.join(srv.dir, "run", "flared.pid")
        self.assertTrue(ft.wait_for(lambda: os.path.exists(pid_file), 5))
        self.assertNotEqual(os.getcwd(), srv.dir)
        # The static route's root goes away: the file no longer loads.
        os.rename(os.path.join(srv.dir, "www"), os.path.join(srv.dir, "www.old"))
        # reload would load that file: not sent, and said why.
        p = self.flared("-s", "reload", "-c", srv.config_path)
        self.assertEqual(p.returncode, 78)
        self.assertIn("root: directory", p.stderr)
        self.assertIsNone(srv.proc.poll())
        # stop finds the master by pid_file alone, and it drains and exits 0.
        p = self.flared("-s", "stop", "-c", srv.config_path)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("-s stop: signalling by pid_file alone", p.stderr)
        self.assertEqual(srv.wait(10), 0)
        self.assertFalse(os.path.exists(pid_file))

    @unittest.skipIf(ft.FLARED_WRAPPER, "under $FLARED_WRAPPER the master's name is the "
                     "wrapper's, so -s rightly finds no flared in the pid file")
    def test_signal_stop_right_after_an_upgrade_stops_every_master(self):
        # While the upgrade runs, pid_file is pid_file.oldbin until the new master writes
        # it: stop must still find the masters, whenever it comes, and stop them all.
        for delay in (0, 0.05, 0.5):
            with self.subTest(delay=delay):
                srv = ft.Server(extra="pid_file: flared.pid\n")
                self.addCleanup(srv.cleanup)
                srv.start()
                pid_file = os.path.join(srv.dir, "flared.pid")
                self.assertTrue(ft.wait_for(lambda: os.path.exists(pid_file), 5))
                self.assertEqual(self.flared("-s", "upgrade", "-c", srv.config_path).returncode, 0)
                time.sleep(delay)
                p = self.flared("-s", "stop", "-c", srv.config_path)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertEqual(srv.wait(10), 0)

                def refused():
                    try:
                        socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()
                        return False
                    except OSError:
                        return True

                self.assertTrue(ft.wait_for(refused, 10), "a master still serves:\n" + srv.log())
                self.assertTrue(ft.wait_for(lambda: not os.path.exists(pid_file) and
                                            not os.path.exists(pid_file + ".oldbin"), 5),
                                os.listdir(srv.dir))

    def test_signal_option_leaves_a_process_that_is_not_flared_alone(self):
        pid_file = os.path.join(self.dir, "flared.pid")
        path = self.write("p.yaml", GOOD.format(port=ft.free_port()) + f"pid_file: {pid_file}\n")
        sleeper = subprocess.Popen(["sleep", "30"])
        self.addCleanup(sleeper.wait)
        self.addCleanup(sleeper.kill)
        with open(pid_file, "w") as f:
            f.write(f"{sleeper.pid}\n")
        for name in ("stop", "quit", "reload"):
            with self.subTest(name):
                p = self.flared("-s", name, "-c", path)
                self.assertEqual(p.returncode, 1)
                self.assertIn("names no running flared", p.stderr)
        time.sleep(0.2)
        self.assertIsNone(sleeper.poll())

    def test_signal_option_needs_a_pid_file(self):
        path = self.write("good.yaml", GOOD.format(port=ft.free_port()))
        p = self.flared("-s", "reload", "-c", path)
        self.assertEqual(p.returncode, 78)
        self.assertIn("sets no pid_file", p.stderr)


if __name__ == "__main__":
    ft.run()
