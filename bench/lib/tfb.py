"""tfb.py: the driver behind bench/run_tfb.sh (TechEmpower plaintext, test type 6).

Order of work: build the targets, start each on a free 127.0.0.1 port, gate them
on response integrity, then for each configuration warm every target up and run
the rounds interleaved (flared, nginx, go, floor, flared, ...). Around each wrk
round the server's CPU time is read from schedstat for its whole process tree,
after a short pause that lets it process the closing connections.
"""

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time

import common
import integrity
import report
import targets
import wrk

CONFIGS = {
    "a": {"title": "wrk -t1 -c64, keep-alive, no pipelining", "conns": 64, "pipeline": 0},
    "b": {"title": "wrk -t1 -c64, 16 requests pipelined per connection (TechEmpower's)",
          "conns": 64, "pipeline": 16},
    "c": {"title": "wrk -t1 -c1, one connection (latency floor)", "conns": 1, "pipeline": 0},
}
SETTLE_S = 0.25  # after wrk exits, lets the server handle the closing connections


def parse_args(argv):
    p = argparse.ArgumentParser(prog="run_tfb.sh", description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=int, help="seconds per round (default 10; --quick 5)")
    p.add_argument("--rounds", type=int, help="rounds per target and configuration (default 3)")
    p.add_argument("--warmup", type=int, help="warmup seconds per target and configuration "
                   "(default 2; --quick 1)")
    p.add_argument("--quick", action="store_true", help="3 rounds of 5 s, 1 s warmup")
    p.add_argument("--self-test", action="store_true",
                   help="smoke mode: 1 round of 1 s of configs a,b, no warmup; checks the harness")
    p.add_argument("--targets", default=",".join(targets.ALL_TARGETS),
                   help="comma-separated subset of flared,nginx,go,floor (run order)")
    p.add_argument("--configs", default="a,b,c", help="comma-separated subset of a,b,c")
    p.add_argument("--out", help="results directory (default bench/results/<date>-<host>-<sha>)")
    p.add_argument("--build-dir", default=os.path.join(common.REPO_DIR, "build-bench"),
                   help="flared's release build directory (configured if missing)")
    p.add_argument("--flared-bin", help="use this flared binary instead of building one")
    p.add_argument("--flared-rev", help="build flared from this commit (git archive into a "
                   "temporary directory) instead of the work tree, e.g. HEAD")
    p.add_argument("--workload", default=os.path.join(common.BENCH_DIR, "workloads", "plaintext.json"))
    o = p.parse_args(argv)
    if o.self_test:
        defaults = (1, 1, 0)
        if o.configs == "a,b,c":
            o.configs = "a,b"
    elif o.quick:
        defaults = (5, 3, 1)
    else:
        defaults = (10, 3, 2)
    o.duration = o.duration if o.duration is not None else defaults[0]
    o.rounds = o.rounds if o.rounds is not None else defaults[1]
    o.warmup = o.warmup if o.warmup is not None else defaults[2]
    o.targets = [t for t in o.targets.split(",") if t]
    o.configs = [c for c in o.configs.split(",") if c]
    for t in o.targets:
        if t not in targets.ALL_TARGETS:
            p.error(f"unknown target {t} (flared, nginx, go, floor)")
    for c in o.configs:
        if c not in CONFIGS:
            p.error(f"unknown configuration {c} (a, b, c)")
    if o.duration < 1 or o.rounds < 1 or o.warmup < 0:
        p.error("--duration and --rounds must be >= 1, --warmup >= 0")
    return o


def log(msg):
    print(f"run_tfb: {msg}", flush=True)


def gate(servers, spec, out_dir):
    """Probes every target; writes integrity.md; returns the names that passed."""
    lines = ["# Integrity gate", "",
             f"Workload `{os.path.relpath(spec['_path'], common.REPO_DIR)}`: "
             f"`{spec['request']['method']} {spec['request']['path']}` must answer status "
             f"{spec['response']['status']}, body `{spec['response']['body']}` and "
             + ", ".join(f"`{k}: {v}`" for k, v in spec["response"]["headers"].items())
             + f"; only {', '.join(spec['may_differ'])} may differ (and a Content-Type "
             f"{'/'.join(spec['content_type_params_allowed'])} parameter). Checked once alone and "
             f"{spec['pipeline_depth']}× pipelined on the same connection, with the request bytes "
             "wrk sends:", "", "```", integrity.request_bytes(spec).decode().replace("\r\n", "\\r\\n\n")
             + "```", ""]
    passed, results = [], {}
    for t in servers:
        ok, problems, first, notes = integrity.probe(t.port, spec)
        results[t.name] = {"ok": ok, "problems": problems, "notes": notes,
                           "response_bytes": len(first)}
        lines.append(f"## {t.name}: {'PASS' if ok else 'FAIL — excluded from the measurements'}")
        lines.append("")
        for prob in problems:
            lines.append(f"- {prob}")
        for note in notes:
            lines.append(f"- note: {note}")
        if first:
            lines += ["", f"First response ({len(first)} bytes):", "", "```",
                      first.decode("latin-1").replace("\r\n", "\\r\\n\n"), "```"]
        lines.append("")
        if ok:
            passed.append(t.name)
        log(f"integrity {t.name}: {'pass' if ok else 'FAIL: ' + '; '.join(problems)}")
    with open(os.path.join(out_dir, "integrity.md"), "w") as f:
        f.write("\n".join(lines))
    return passed, results


def measure(t, cfg_key, cfg, o, bins, raw_path, path):
    """One wrk round against t with the server's CPU time read around it."""
    pids = t.pids()
    machine0 = targets.machine_cpu_s()
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    before = targets.cpu_ns(pids)
    cmd = wrk.command(bins["wrk"], t.port, path, cfg["conns"], o.duration, cfg["pipeline"],
                      os.path.join(common.BENCH_DIR, "pipeline.lua"))
    t0 = time.monotonic()
    code, out = wrk.run(cmd, o.duration, raw_path)
    time.sleep(SETTLE_S)
    pids_after = t.pids()
    after = targets.cpu_ns(pids)
    children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    machine1 = targets.machine_cpu_s()
    wall = time.monotonic() - t0
    # What ran besides this server and wrk (another build, say), in cores: the machine's
    # busy time (user, system and the softirq time that loopback TCP runs in, which
    # schedstat charges to the task it interrupted) minus the server's and wrk's.
    wrk_s = (children1.ru_utime + children1.ru_stime) - (children0.ru_utime + children0.ru_stime)
    busy = (machine1[0] + machine1[1]) - (machine0[0] + machine0[1])
    other = busy - wrk_s - (after - before) / 1e9
    r = wrk.parse(out)
    r.update({"config": cfg_key, "target": t.name, "wrk_exit": code,
              "wall_s": round(wall, 3), "server_cpu_ns": after - before,
              "wrk_cpu_s": round(wrk_s, 3), "other_load_cores": round(other / wall, 3),
              "steal_cores": round((machine1[2] - machine0[2]) / wall, 3),
              "raw": os.path.relpath(raw_path, os.path.dirname(os.path.dirname(raw_path)))})
    r["cpu_ns_per_req"] = (after - before) / r["requests"] if r["requests"] else None
    problems = []
    if code != 0:
        problems.append(f"wrk exited with status {code}")
    if r["requests"] is None:
        problems.append("no request count in wrk output")
    if r["non2xx"]:
        problems.append(f"{r['non2xx']} non-2xx/3xx responses")
    errs = {k: v for k, v in r["errors"].items() if v}
    if errs:
        problems.append("socket errors " + ", ".join(f"{k} {v}" for k, v in errs.items()))
    if not t.alive():
        problems.append(f"server exited (status {t.proc.returncode}) during the round")
        r["cpu_ns_per_req"] = None  # its threads' counters went with it
    elif sorted(pids_after) != sorted(pids):
        problems.append(f"server processes changed during the round ({pids} -> {pids_after})")
        r["cpu_ns_per_req"] = None  # a process that left took its CPU time along
    r["problems"] = problems
    return r


def main(argv):
    o = parse_args(argv)
    common.raise_nofile()
    out_dir = os.path.abspath(o.out or common.default_out_dir(o))
    os.makedirs(os.path.join(out_dir, "RAW"), exist_ok=True)
    logs_dir = os.path.join(out_dir, "logs")
    os.makedirs(logs_dir, exist_ok=True)
    spec = integrity.load_spec(o.workload)
    spec["_path"] = os.path.abspath(o.workload)
    work = tempfile.mkdtemp(prefix="flared-bench-")
    servers = []
    try:
        wrk_bin = common.find_tool("wrk")
        if not wrk_bin:
            raise common.BuildError("wrk not found (apt-get install wrk)")
        bins, build_info = common.build_targets(o.targets, o, work, log)
        bins["wrk"] = wrk_bin
        options = {k: v for k, v in vars(o).items()}
        options["command"] = "bench/run_tfb.sh " + " ".join(argv)
        env = common.environment(bins, build_info, options)
        with open(os.path.join(out_dir, "env.json"), "w") as f:
            json.dump(env, f, indent=2)

        for name in o.targets:
            t = targets.Target(name, bins, logs_dir)
            t.start()
            servers.append(t)
            log(f"{name} listening on 127.0.0.1:{t.port} (pids {t.pids()})")
        passed, gate_results = gate(servers, spec, out_dir)
        measured = [t for t in servers if t.name in passed]

        rounds = []
        total = len(o.configs) * (o.rounds * o.duration + o.warmup) * len(measured)
        log(f"measuring {', '.join(t.name for t in measured)}: configs {','.join(o.configs)}, "
            f"{o.rounds} x {o.duration} s, warmup {o.warmup} s (about {total // 60} min {total % 60} s)")
        for ck in o.configs:
            cfg = CONFIGS[ck]
            if o.warmup:
                for t in measured:
                    if t.alive():
                        cmd = wrk.command(wrk_bin, t.port, spec["request"]["path"], cfg["conns"],
                                          o.warmup, cfg["pipeline"],
                                          os.path.join(common.BENCH_DIR, "pipeline.lua"))
                        wrk.run(cmd, o.warmup, os.path.join(out_dir, "RAW", f"{ck}-warmup-{t.name}.txt"))
            for rn in range(1, o.rounds + 1):
                for t in measured:
                    if not t.alive():
                        continue
                    raw = os.path.join(out_dir, "RAW", f"{ck}-r{rn}-{t.name}.txt")
                    r = measure(t, ck, cfg, o, bins, raw, spec["request"]["path"])
                    r["round"] = rn
                    rounds.append(r)
                    cpu = f"{r['cpu_ns_per_req']:.0f} ns/req" if r["cpu_ns_per_req"] else "-"
                    rps = f"{r['rps']:.0f} req/s" if r["rps"] else "-"
                    log(f"({ck}) round {rn} {t.name}: {rps}, {cpu}"
                        + (f"  PROBLEMS: {'; '.join(r['problems'])}" if r["problems"] else ""))
        server_logs = {t.name: t.error_log_lines() for t in servers}
        crashed = {t.name: t.proc.returncode for t in servers if not t.alive()}
    finally:
        for t in servers:
            t.stop()
        shutil.rmtree(work, ignore_errors=True)

    summary = report.summarize(env, o, CONFIGS, gate_results, rounds, server_logs, crashed)
    with open(os.path.join(out_dir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    md = report.markdown(summary)
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write(md)
    print(md)
    log(f"results in {out_dir}")
    failed_gate = [n for n, g in gate_results.items() if not g["ok"]]
    return 3 if (failed_gate or crashed or any(r["problems"] for r in rounds)) else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (common.BuildError, RuntimeError) as e:
        print(f"run_tfb: {e}", file=sys.stderr)
        sys.exit(2)
