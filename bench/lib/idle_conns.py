"""idle_conns.py: the driver behind bench/idle_conns.sh. For each target in turn:
start it fresh, send one request on a throwaway connection (so lazy start-up
allocations are done), read the worker's VmRSS, then open N keep-alive
connections that each send one request and read the whole response, and read
VmRSS again while all N are held open. RSS added / N is the cost of an idle
keep-alive connection. The worker is the process that holds the connections:
flared's and nginx's single worker, Go's only process.
"""

import argparse
import json
import os
import socket
import sys
import tempfile
import time
import shutil

import common
import integrity
import targets

LABEL = {"flared": "flared", "nginx": "nginx", "go": "Go net/http", "floor": "epoll floor"}


def log(msg):
    print(f"idle_conns: {msg}", flush=True)


def one_request(port, req, spec, deadline):
    """Connects, sends one request, reads the whole response; returns the open socket."""
    s = socket.create_connection(("127.0.0.1", port), timeout=max(0.1, deadline - time.monotonic()))
    try:
        s.sendall(req)
        _, status, fields, body = integrity.Reader(s, deadline).response()
        problems = integrity.check_response(spec, status, fields, body)
        if problems:
            raise ValueError("; ".join(problems))
        return s
    except BaseException:
        s.close()
        raise


def measure(t, conns, spec, settle_s):
    req = integrity.request_bytes(spec)
    one_request(t.port, req, spec, time.monotonic() + 5).close()
    time.sleep(settle_s)
    worker = t.worker_pid()
    if worker is None:
        raise RuntimeError(f"{t.name}: cannot tell its worker process from {t.pids()}")
    before = targets.rss_kib(worker)
    held, failures, first_error = [], 0, None
    t0 = time.monotonic()
    try:
        for _ in range(conns):
            try:
                held.append(one_request(t.port, req, spec, time.monotonic() + 10))
            except (OSError, ValueError, TimeoutError, ConnectionError) as e:
                failures += 1
                first_error = first_error or str(e)
                if failures > 100:
                    break
        open_s = time.monotonic() - t0
        time.sleep(settle_s)
        after = targets.rss_kib(worker)
        alive = t.alive() and targets.rss_kib(worker) is not None
    finally:
        for s in held:
            s.close()
    result = {"target": t.name, "worker_pid": worker, "connections_requested": conns,
              "connections_held": len(held), "failures": failures, "first_error": first_error,
              "open_seconds": round(open_s, 2), "rss_before_kib": before, "rss_after_kib": after,
              "server_alive": alive}
    if before is not None and after is not None:
        added = after - before
        result["rss_added_kib"] = added
        result["bytes_per_connection"] = added * 1024 / len(held) if held else None
    return result


def markdown(env, conns, results):
    lines = [f"# Idle keep-alive connections: RSS added by {conns:,} connections, each after one request",
             "", f"- Run: {env['date']} on `{env['host']}`, flared `{env['flared_git']}`"
             f" ({env['build'].get('flared_build', 'not built')})",
             f"- Machine: {env['cpu_model']}, {env['cpus_online']} CPUs, kernel {env['kernel']}",
             "- Method: VmRSS of the worker process (/proc/PID/status) after one warm-up request,"
             " then again with every connection open and idle (settled 1 s).", "",
             "| server | connections held | RSS before | RSS after | RSS added | per connection |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in results:
        if "error" in r:
            lines.append(f"| {LABEL.get(r['target'], r['target'])} | failed: {r['error']} | | | | |")
            continue
        added = r.get("rss_added_kib")
        per = r.get("bytes_per_connection")
        lines.append(
            f"| {LABEL.get(r['target'], r['target'])} | {r['connections_held']:,}"
            f"{' ⚠ ' + str(r['failures']) + ' failed' if r['failures'] else ''} | "
            f"{r['rss_before_kib'] / 1024:.1f} MiB | {r['rss_after_kib'] / 1024:.1f} MiB | "
            f"{added / 1024:.2f} MiB | {per:,.0f} B |" if added is not None else
            f"| {r['target']} | {r['connections_held']} | – | – | – | – |")
    problems = [r for r in results if r.get("failures") or r.get("error") or not r.get("server_alive", True)]
    lines.append("")
    for r in problems:
        lines.append(f"- {r['target']}: {r.get('failures', 0)} connection(s) failed"
                     f" (first: {r.get('first_error') or r.get('error')})"
                     f"{'; the server died' if not r.get('server_alive', True) else ''}")
    return "\n".join(lines) + "\n"


def main(argv):
    p = argparse.ArgumentParser(prog="idle_conns.sh", description=__doc__.split("\n\n")[0])
    p.add_argument("--conns", type=int, default=10000, help="connections to hold (default 10000)")
    p.add_argument("--targets", default="flared,nginx,go", help="subset of flared,nginx,go,floor")
    p.add_argument("--out", help="results directory (default bench/results/<date>-<host>-<sha>)")
    p.add_argument("--build-dir", default=os.path.join(common.REPO_DIR, "build-bench"))
    p.add_argument("--flared-bin")
    p.add_argument("--flared-rev")
    p.add_argument("--settle", type=float, default=1.0, help="seconds before each RSS reading")
    p.add_argument("--workload", default=os.path.join(common.BENCH_DIR, "workloads", "plaintext.json"))
    o = p.parse_args(argv)
    o.targets = [t for t in o.targets.split(",") if t]
    for t in o.targets:
        if t not in targets.ALL_TARGETS:
            p.error(f"unknown target {t}")
    soft, _ = common.raise_nofile()
    if soft < o.conns + 100:
        p.error(f"RLIMIT_NOFILE is {soft}: too low for {o.conns} connections")
    out_dir = os.path.abspath(o.out or common.default_out_dir(o))
    logs_dir = os.path.join(out_dir, "logs", "idle_conns")
    os.makedirs(logs_dir, exist_ok=True)
    spec = integrity.load_spec(o.workload)
    work = tempfile.mkdtemp(prefix="flared-bench-")
    results = []
    try:
        bins, build_info = common.build_targets(o.targets, o, work, log)
        env = common.environment(bins, build_info, dict(vars(o), command="bench/idle_conns.sh " + " ".join(argv)))
        for name in o.targets:
            t = targets.Target(name, bins, logs_dir)
            try:
                t.start()
                log(f"{name}: opening {o.conns} connections to 127.0.0.1:{t.port}")
                r = measure(t, o.conns, spec, o.settle)
                log(f"{name}: {r['connections_held']} held, RSS {r['rss_before_kib']} -> "
                    f"{r['rss_after_kib']} KiB" + (f", {r['failures']} failed ({r['first_error']})"
                                                   if r["failures"] else ""))
            except (RuntimeError, OSError) as e:
                r = {"target": name, "error": str(e)}
                log(f"{name}: {e}")
            finally:
                t.stop()
            results.append(r)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    with open(os.path.join(out_dir, "idle_conns.json"), "w") as f:
        json.dump({"env": env, "connections": o.conns, "results": results}, f, indent=2)
    md = markdown(env, o.conns, results)
    with open(os.path.join(out_dir, "idle_conns.md"), "w") as f:
        f.write(md)
    print(md)
    log(f"results in {out_dir}")
    return 0 if all("error" not in r and not r["failures"] for r in results) else 3


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (common.BuildError, RuntimeError) as e:
        print(f"idle_conns: {e}", file=sys.stderr)
        sys.exit(2)
