"""ws_echo.py: the driver behind bench/run_ws_echo.sh. flared's websocket echo
route against node's ws echo server and the echo floor (baselines/ws_floor.c: one
read, an in-place unmask and one writev per batch, no checks), one worker/process
each on 127.0.0.1, loaded
by the C client bench/ws_echo (N connections, one message in flight each, a fixed
number of messages per connection). Rounds are interleaved across targets; the
server's CPU is read from schedstat (targets.cpu_ns) over its whole process tree.
Reports messages/s and server CPU per message; the issue's targets are printed
beside the ratios, never asserted.
"""

import argparse
import atexit
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import common
import report
import targets

TARGET_RATIO = {64: 0.6, 4096: 0.4}  # flared CPU/message vs node, from the issue
SETTLE_S = 0.25


class WsTarget(targets.Target):
    def command(self):
        subst = {"PORT": str(self.port), "RUNDIR": self.rundir}
        if self.name == "flared":
            cfg = os.path.join(self.rundir, "flared-ws.yaml")
            targets.substitute(os.path.join(common.BENCH_DIR, "workloads", "ws_echo.yaml"), cfg, subst)
            self.error_logs.append(os.path.join(self.rundir, "flared-error.log"))
            return [self.bins["flared"], "-c", cfg], dict(os.environ)
        if self.name == "floor":
            return [self.bins["floor"], str(self.port)], dict(os.environ)
        if self.name == "node":
            return [self.bins["node"], os.path.join(common.BENCH_DIR, "baselines", "ws_echo_node.js"),
                    str(self.port)], dict(os.environ)
        raise ValueError(self.name)


def log(msg):
    print(f"run_ws_echo: {msg}", flush=True)


def measure(t, client, conns, size, count, raw_path):
    pids = t.pids()
    before = targets.cpu_ns(pids)
    cmd = [client, str(t.port), str(conns), str(size), str(count)]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=600)
    time.sleep(SETTLE_S)
    after = targets.cpu_ns(pids)
    with open(raw_path, "w") as f:
        f.write("$ " + " ".join(cmd) + "\n" + p.stdout + f"[exit {p.returncode}]\n")
    m = re.search(r"messages (\d+) seconds ([\d.]+) msgs_per_s ([\d.]+) errors (\d+)", p.stdout)
    r = {"target": t.name, "size": size, "exit": p.returncode, "server_cpu_ns": after - before,
         "messages": int(m.group(1)) if m else None, "seconds": float(m.group(2)) if m else None,
         "msgs_per_s": float(m.group(3)) if m else None, "errors": int(m.group(4)) if m else None}
    r["cpu_ns_per_msg"] = (after - before) / r["messages"] if r["messages"] else None
    r["problems"] = [] if p.returncode == 0 and t.alive() else [p.stdout.strip()[-300:]]
    return r


def main(argv):
    ap = argparse.ArgumentParser(prog="run_ws_echo.sh", description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--conns", type=int, default=16)
    ap.add_argument("--sizes", default="64,4096")
    ap.add_argument("--messages", type=int, default=20000, help="per connection per round")
    ap.add_argument("--targets", default="flared,node,floor")
    ap.add_argument("--out", help="results directory (default bench/results/<date>-<host>-<sha>-ws)")
    ap.add_argument("--build-dir", default=os.path.join(common.REPO_DIR, "build-bench"))
    ap.add_argument("--flared-bin")
    ap.add_argument("--client", help="the ws_echo binary (default <build-dir>/bench/ws_echo)")
    o = ap.parse_args(argv)
    o.flared_rev = None
    names = [n for n in o.targets.split(",") if n]
    sizes = [int(s) for s in o.sizes.split(",")]
    out_dir = os.path.abspath(o.out or common.default_out_dir(o, "-ws"))
    os.makedirs(os.path.join(out_dir, "RAW"), exist_ok=True)
    logs_dir = os.path.join(out_dir, "logs")
    os.makedirs(logs_dir, exist_ok=True)
    common.raise_nofile()
    bins = {}
    if "flared" in names:
        if o.flared_bin:
            bins["flared"] = os.path.abspath(o.flared_bin)
        else:
            bins["flared"], _ = common.build_flared(os.path.abspath(o.build_dir), log)
    client = o.client or os.path.join(os.path.abspath(o.build_dir), "bench", "ws_echo")
    if not o.client:
        common.run(["ninja", "-C", os.path.abspath(o.build_dir), "-j2", "bench/ws_echo"])
    if "floor" in names:
        work = tempfile.mkdtemp(prefix="flared-bench-ws-")
        atexit.register(shutil.rmtree, work, True)
        bins["floor"] = common.build_floor(work, log, "ws_floor", ["-lcrypto"])
    if "node" in names:
        bins["node"] = common.find_tool("node") or common.find_tool("nodejs")
        if not bins["node"] or not os.path.exists("/usr/share/nodejs/ws"):
            raise common.BuildError("node or node-ws missing (apt-get install nodejs node-ws)")
    servers, rounds = [], []
    try:
        for n in names:
            t = WsTarget(n, bins, logs_dir)
            t.start()
            servers.append(t)
            log(f"{n} on 127.0.0.1:{t.port} (pids {t.pids()})")
        for size in sizes:
            for t in servers:  # warmup, and a check that the echo works
                measure(t, client, o.conns, size, max(1, o.messages // 10),
                        os.path.join(out_dir, "RAW", f"{size}-warmup-{t.name}.txt"))
            for rn in range(1, o.rounds + 1):
                for t in servers:
                    r = measure(t, client, o.conns, size, o.messages,
                                os.path.join(out_dir, "RAW", f"{size}-r{rn}-{t.name}.txt"))
                    r["round"] = rn
                    rounds.append(r)
                    log(f"{size} B round {rn} {t.name}: {r['msgs_per_s'] or 0:,.0f} msg/s, "
                        f"{r['cpu_ns_per_msg'] or 0:,.0f} ns/msg"
                        + (f" PROBLEMS: {r['problems']}" if r["problems"] else ""))
    finally:
        for t in servers:
            t.stop()
    lines = [f"# WebSocket echo: {o.conns} connections, one message in flight each, "
             f"{o.messages} messages per connection per round, {o.rounds} rounds interleaved",
             "", "Short runs on a shared, noisy 2-core machine: indicative only.", "",
             "| size | target | msg/s (median) | server CPU/msg (median) | ratio vs node | vs floor "
             "| issue target |",
             "|---|---|---|---|---|---|---|"]
    med = {}
    for size in sizes:
        for n in names:
            rs = [r for r in rounds if r["size"] == size and r["target"] == n and not r["problems"]]
            if rs:
                med[(size, n)] = (statistics.median(r["msgs_per_s"] for r in rs),
                                  statistics.median(r["cpu_ns_per_msg"] for r in rs))
        for n in names:
            if (size, n) not in med:
                lines.append(f"| {size} B | {n} | – | – | – | – | |")
                continue
            rate, cpu = med[(size, n)]
            ratio, vs_floor, tgt = "", "", ""
            if n != "node" and (size, "node") in med:
                ratio = f"{cpu / med[(size, 'node')][1]:.2f}×"
                if n == "flared" and size in TARGET_RATIO:
                    ok = cpu / med[(size, 'node')][1] <= TARGET_RATIO[size]
                    tgt = f"≤ {TARGET_RATIO[size]}× ({'met' if ok else 'not met'})"
            if n != "floor" and (size, "floor") in med:
                vs_floor = f"{cpu / med[(size, 'floor')][1]:.2f}×"
            lines.append(f"| {size} B | {n} | {rate:,.0f} | {cpu / 1000:.2f} µs | {ratio} "
                         f"| {vs_floor} | {tgt} |")
    notes = []
    for size in sizes:
        of_size = [r for r in rounds if r["size"] == size]
        for num, den in (("flared", "node"), ("floor", "node"), ("flared", "floor")):
            if num in names and den in names:
                target = TARGET_RATIO.get(size) if (num, den) == ("flared", "node") else None
                note = report.paired_note(f"{size} B", of_size, num, den, "cpu_ns_per_msg", target)
                if note:
                    notes.append(note)
    lines += [""] + notes if notes else []
    md = "\n".join(lines) + "\n"
    with open(os.path.join(out_dir, "ws_echo.md"), "w") as f:
        f.write(md)
    with open(os.path.join(out_dir, "ws_echo.json"), "w") as f:
        json.dump({"options": vars(o), "rounds": rounds}, f, indent=2)
    print(md)
    log(f"results in {out_dir}")
    return 3 if any(r["problems"] for r in rounds) else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (common.BuildError, RuntimeError) as e:
        print(f"run_ws_echo: {e}", file=sys.stderr)
        sys.exit(2)
