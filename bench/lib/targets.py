"""targets.py: starting, probing and stopping the servers the benchmarks compare.

Each target runs on its own free 127.0.0.1 port with one worker (or one thread of
Go code): flared (master + 1 worker), nginx (master + 1 worker), Go net/http
(GOMAXPROCS=1) and the epoll floor. CPU time is read from /proc/PID/task/*/schedstat
(first field, ns on CPU) for every process and thread of the server's tree.
"""

import os
import signal
import socket
import subprocess
import time

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALL_TARGETS = ["flared", "nginx", "go", "floor"]


def free_port():
    """A port that was free on 127.0.0.1 a moment ago (bind port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_children():
    """Map of pid -> [child pids] for every process, from /proc/*/stat."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may hold spaces or parentheses: ppid follows the last ')'.
        fields = stat[stat.rindex(")") + 2:].split()
        children.setdefault(int(fields[1]), []).append(int(name))
    return children


def process_tree(root):
    """The root pid and all its descendants."""
    children = proc_children()
    pids, todo = [], [root]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo.extend(children.get(p, []))
    return pids


def cpu_ns(pids):
    """Sum over every thread of every pid of the first schedstat field (ns on CPU)."""
    total = 0
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    return total


def machine_cpu_s():
    """CPU seconds spent by the whole machine so far: (user+nice+system, irq+softirq, steal)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    hz = os.sysconf("SC_CLK_TCK")
    return (v[0] + v[1] + v[2]) / hz, (v[5] + v[6]) / hz, v[7] / hz


def rss_kib(pid):
    """VmRSS of one process in KiB, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def substitute(template_path, out_path, values):
    with open(template_path) as f:
        text = f.read()
    for key, value in values.items():
        text = text.replace("@" + key + "@", value)
    with open(out_path, "w") as f:
        f.write(text)


class Target:
    """One server under test: command line, process tree, log file."""

    def __init__(self, name, bins, rundir):
        self.name = name
        self.bins = bins
        self.rundir = rundir
        self.port = None
        self.proc = None
        self.log_path = os.path.join(rundir, f"{name}.log")
        self.error_logs = [self.log_path]

    def command(self):
        port = str(self.port)
        subst = {"PORT": port, "RUNDIR": self.rundir}
        env = dict(os.environ)
        if self.name == "flared":
            cfg = os.path.join(self.rundir, "flared.yaml")
            substitute(os.path.join(BENCH_DIR, "workloads", "plaintext.yaml"), cfg, subst)
            self.error_logs.append(os.path.join(self.rundir, "flared-error.log"))
            return [self.bins["flared"], "-c", cfg], env
        if self.name == "nginx":
            prefix = os.path.join(self.rundir, "nginx")
            os.makedirs(prefix, exist_ok=True)
            cfg = os.path.join(self.rundir, "nginx.conf")
            substitute(os.path.join(BENCH_DIR, "baselines", "nginx.conf"), cfg, subst)
            err = os.path.join(self.rundir, "nginx-error.log")
            self.error_logs.append(err)
            return [self.bins["nginx"], "-p", prefix + "/", "-e", err, "-c", cfg], env
        if self.name == "go":
            env["GOMAXPROCS"] = "1"
            return [self.bins["go"], "-addr", f"127.0.0.1:{port}"], env
        if self.name == "floor":
            return [self.bins["floor"], port], env
        raise ValueError(f"unknown target {self.name}")

    def start(self, timeout=10.0):
        """Starts the server and waits until its port accepts a connection."""
        self.port = free_port()
        cmd, env = self.command()
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with status {self.proc.returncode} at start;"
                                   f" see {self.log_path}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                # flared and nginx accept in the worker; wait until the worker exists.
                if self.name in ("flared", "nginx") and len(self.pids()) < 2:
                    time.sleep(0.05)
                    continue
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not accept connections on 127.0.0.1:{self.port}"
                           f" within {timeout:.0f} s; see {self.log_path}")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def pids(self):
        """Every process of the server (master and workers)."""
        return process_tree(self.proc.pid) if self.alive() else []

    def worker_pid(self):
        """The process that serves connections: the only child for flared and nginx."""
        pids = self.pids()
        if self.name in ("flared", "nginx"):
            kids = [p for p in pids if p != self.proc.pid]
            return kids[0] if len(kids) == 1 else None
        return pids[0] if pids else None

    def stop(self):
        if not self.alive():
            return
        # nginx and flared: TERM is a fast/graceful stop; the floor and Go just exit.
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def error_log_lines(self):
        """Non-empty lines the server wrote to its logs (flared/nginx error logs, stdout)."""
        lines = []
        for path in self.error_logs:
            try:
                with open(path, errors="replace") as f:
                    lines += [f"{os.path.basename(path)}: {line.rstrip()}" for line in f if line.strip()]
            except OSError:
                pass
        return lines
