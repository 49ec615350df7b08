#!/usr/bin/env python3
"""systemd/flared.service: its required settings, `systemd-analyze verify` on a
copy whose paths point at the built flared, and its start / reload / stop
command lines run the way systemd would run them (systemd is not PID 1 here,
so the test plays the service manager, with its own $NOTIFY_SOCKET)."""
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import unittest

import flaredtest as ft

SOURCE_ROOT = os.environ.get("FLARED_SOURCE_ROOT", "")
UNIT = os.path.join(SOURCE_ROOT, "systemd", "flared.service")
INSTALLED_BIN = "/usr/sbin/flared"
INSTALLED_CONF = "/etc/flared/flared.yaml"


def parse_unit(text):
    """[(section, key, value)] in file order; repeated keys are kept, as systemd does."""
    entries, section = [], None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        m = re.fullmatch(r"\[(\w+)\]", line)
        if m:
            section = m.group(1)
            continue
        key, sep, value = line.partition("=")
        if not sep or section is None:
            raise AssertionError(f"not a unit line: {raw!r}")
        entries.append((section, key.strip(), value.strip()))
    return entries


def seconds(value):
    m = re.fullmatch(r"(\d+)(ms|s|min)?", value)
    if not m:
        raise AssertionError(f"unsupported time span {value!r}")
    n = int(m.group(1))
    return {"ms": n / 1000, "s": n, None: n, "min": n * 60}[m.group(2)]


@unittest.skipUnless(SOURCE_ROOT, "FLARED_SOURCE_ROOT is not set")
class UnitTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(UNIT) as f:
            cls.text = f.read()
        cls.entries = parse_unit(cls.text)

    def values(self, key, section="Service"):
        return [v for s, k, v in self.entries if s == section and k == key]

    def value(self, key, section="Service"):
        vals = self.values(key, section)
        self.assertEqual(len(vals), 1, f"{section}.{key}: {vals}")
        return vals[0]

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="flared-unit-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def rewritten_unit(self, config_path):
        """A copy of the unit running the built flared on config_path."""
        path = os.path.join(self.tmp, "flared.service")
        with open(path, "w") as f:
            f.write(self.text.replace(INSTALLED_BIN, ft.FLARED).replace(INSTALLED_CONF, config_path))
        return path

    # -- the settings the issue asks for ------------------------------------------

    def test_required_settings(self):
        self.assertEqual(self.value("Type"), "notify")
        self.assertEqual(self.value("NotifyAccess"), "all")  # the upgraded master's MAINPID=
        start = shlex.split(self.value("ExecStart"))
        self.assertEqual(start[0], INSTALLED_BIN)
        self.assertEqual(start[1:], ["-c", INSTALLED_CONF])
        self.assertEqual(shlex.split(self.value("ExecStartPre")), [INSTALLED_BIN, "-t", "-c", INSTALLED_CONF])
        reload = [shlex.split(v) for v in self.values("ExecReload")]
        self.assertEqual(reload, [[INSTALLED_BIN, "-t", "-c", INSTALLED_CONF],
                                  ["/bin/kill", "-HUP", "$MAINPID"]])
        self.assertEqual(self.value("KillSignal"), "SIGTERM")
        self.assertIn("78", self.value("RestartPreventExitStatus").split())
        # Above timeouts.shutdown (10s by default) plus the master's 2s margin.
        self.assertGreater(seconds(self.value("TimeoutStopSec")), 12)
        for key, want in [("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("ProtectHome", "yes"),
                          ("PrivateTmp", "yes"), ("PrivateDevices", "yes"), ("ProtectKernelTunables", "yes"),
                          ("ProtectKernelModules", "yes"), ("ProtectKernelLogs", "yes"),
                          ("ProtectControlGroups", "yes"), ("User", "flared"), ("Group", "flared"),
                          ("CapabilityBoundingSet", "CAP_NET_BIND_SERVICE")]:
            self.assertEqual(self.value(key), want, key)
        self.assertEqual(set(self.value("RestrictAddressFamilies").split()),
                         {"AF_INET", "AF_INET6", "AF_UNIX"})
        self.assertGreaterEqual(int(self.value("LimitNOFILE")), 10000)
        self.assertIn("/var/log/flared", self.value("ReadWritePaths").split())
        # The capability is granted only when someone uncomments it for a port < 1024.
        self.assertEqual(self.values("AmbientCapabilities"), [])
        self.assertRegex(self.text, r"#\s*Only when binding ports < 1024.*\n(#.*\n)*"
                                    r"#AmbientCapabilities=CAP_NET_BIND_SERVICE")
        self.assertEqual(self.values("WantedBy", "Install"), ["multi-user.target"])

    # -- systemd-analyze verify ---------------------------------------------------

    def test_systemd_analyze_verify(self):
        tool = shutil.which("systemd-analyze")
        if not tool:
            self.skipTest("systemd-analyze is not installed (apt-get install systemd): unit not verified")
        # The Documentation= pages must resolve: give man(1) the repo's pages.
        mandir = os.path.join(self.tmp, "man")
        for section, name in (("8", "flared.8"), ("5", "flared.yaml.5")):
            os.makedirs(os.path.join(mandir, "man" + section), exist_ok=True)
            shutil.copy(os.path.join(SOURCE_ROOT, "man", name), os.path.join(mandir, "man" + section, name))
        env = dict(os.environ, MANPATH=mandir, SYSTEMD_LOG_COLOR="0")
        conf = os.path.join(SOURCE_ROOT, "conf", "flared.yaml")

        def verify(unit_path):
            p = subprocess.run([tool, "verify", unit_path], capture_output=True, text=True, env=env,
                               timeout=60)
            return p.returncode, (p.stdout + p.stderr).strip()

        # Control: the tool must notice a broken copy, or its silence proves nothing.
        bad = os.path.join(self.tmp, "bad", "flared.service")
        os.makedirs(os.path.dirname(bad))
        with open(bad, "w") as f:
            f.write(self.text.replace("Type=notify", "Type=notifyy").replace(INSTALLED_BIN, ft.FLARED))
        rc, out = verify(bad)
        if rc == 0 and not out:
            self.skipTest("systemd-analyze verify cannot check units here (it accepted a broken one)")
        rc, out = verify(self.rewritten_unit(conf))
        self.assertEqual((rc, out), (0, ""), "systemd-analyze verify complained")

    # -- the command lines, run as systemd would ------------------------------------

    def exec_lines(self, key, unit_text, mainpid=None):
        out = []
        for value in [v for s, k, v in parse_unit(unit_text) if s == "Service" and k == key]:
            argv = shlex.split(value)
            out.append([str(mainpid) if a == "$MAINPID" else a for a in argv])
        return out

    def test_start_reload_stop_cycle(self):
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(notify.close)
        notify_path = os.path.join(self.tmp, "notify.sock")
        notify.bind(notify_path)
        notify.settimeout(5)

        srv = ft.Server(env={"NOTIFY_SOCKET": notify_path})
        self.addCleanup(srv.cleanup)
        srv.port = ft.free_port()
        srv.write_config()
        with open(self.rewritten_unit(srv.config_path)) as f:
            unit = f.read()

        # ExecStartPre, then ExecStart, which must report READY=1.
        for argv in self.exec_lines("ExecStartPre", unit):
            self.assertEqual(subprocess.run(argv, capture_output=True, timeout=10).returncode, 0, argv)
        (srv.argv,) = self.exec_lines("ExecStart", unit)
        srv.start()
        self.assertEqual(notify.recv(4096), b"READY=1")

        # ExecReload: the check passes, HUP reloads.
        srv.write_config(text="reloaded by ExecReload")
        for argv in self.exec_lines("ExecReload", unit, srv.pid):
            self.assertEqual(subprocess.run(argv, capture_output=True, timeout=10).returncode, 0, argv)
        self.assertTrue(notify.recv(4096).startswith(b"RELOADING=1\n"))
        self.assertEqual(notify.recv(4096), b"READY=1\nSTATUS=reloaded: 1 workers on generation 1")
        self.assertTrue(ft.wait_for(lambda: srv.get("/plaintext").body == b"reloaded by ExecReload", 5))

        # A broken file: the first ExecReload line fails with 78, so systemd never sends HUP.
        good = srv.config_text()
        srv.write_config(verbatim=good.replace("workers: 1", "workers: many"))
        check = self.exec_lines("ExecReload", unit, srv.pid)[0]
        p = subprocess.run(check, capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 78)
        self.assertRegex(p.stderr, re.escape(srv.config_path) + r":1:10: ")
        self.assertIn(str(p.returncode), self.value("RestartPreventExitStatus").split())

        # KillSignal to the main process only (KillMode=mixed): STOPPING=1, exit 0 in time.
        self.assertEqual(self.value("KillMode"), "mixed")
        srv.signal(getattr(signal, self.value("KillSignal")))
        self.assertEqual(notify.recv(4096), b"STOPPING=1")
        self.assertEqual(srv.wait(seconds(self.value("TimeoutStopSec"))), 0, srv.log())


if __name__ == "__main__":
    ft.run()
