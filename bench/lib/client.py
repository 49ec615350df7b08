"""client.py: the driver behind bench/run_client.sh. libflare's keep-alive HTTP
client (bench/client/client_bench.c) against curl, each doing the same N
sequential GETs of a URL list over one connection to flared (1 worker, routes
of workloads/client.yaml). curl gets the list as a --config file (one `url` and
`output = /dev/null` per request), so one invocation reuses its connection.
Rounds are interleaved. For both, the wall time and the client's CPU (user +
system, from wait4's rusage of the client process) give requests/s and CPU per
request; the issue's target (libflare >= 2x curl's requests/s) is printed beside
the ratio, never asserted. --callgrind instead counts user-space instructions
per request under valgrind (the difference between a short and a longer run, so
start-up cancels out), a figure the machine's load does not move.
"""

import argparse
import os
import re
import statistics
import subprocess
import time

import common
import targets

TARGET_RATIO = 2.0  # libflare requests/s over curl's, from the issue
PATHS = ["/plaintext", "/json", "/echo"]


class ClientTarget(targets.Target):
    def command(self):
        cfg = os.path.join(self.rundir, "flared-client.yaml")
        targets.substitute(os.path.join(common.BENCH_DIR, "workloads", "client.yaml"), cfg,
                           {"PORT": str(self.port), "RUNDIR": self.rundir})
        self.error_logs.append(os.path.join(self.rundir, "flared-error.log"))
        return [self.bins["flared"], "-c", cfg], dict(os.environ)


def log(msg):
    print(f"run_client: {msg}", flush=True)


def run_timed(cmd, raw_path):
    """Runs cmd to completion; returns (exit status, output, wall s, CPU s of the child)."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = p.stdout.read().decode("utf-8", "replace")
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - t0
    with open(raw_path, "w") as f:
        f.write("$ " + " ".join(cmd) + "\n" + out[-20000:] + f"\n[exit {p.returncode}, "
                f"wall {wall:.3f} s, user {ru.ru_utime:.3f} s, sys {ru.ru_stime:.3f} s]\n")
    return p.returncode, out, wall, ru.ru_utime + ru.ru_stime


def measure(name, client, url_file, curl_config, n, raw_path):
    if name == "libflare":
        cmd = [client, "--requests", str(n), "--warmup", "0", url_file]
    else:
        cmd = [common.find_tool("curl"), "--silent", "--show-error", "--fail", "--config",
               curl_config]
    status, out, wall, cpu = run_timed(cmd, raw_path)
    r = {"client": name, "exit": status, "requests": n, "wall_s": wall, "cpu_s": cpu,
         "req_per_s": n / wall, "cpu_us_per_req": cpu * 1e6 / n, "problems": []}
    if status != 0:
        r["problems"].append(out.strip()[-300:])
    if name == "libflare":
        m = re.search(r"connections (\d+) .* errors (\d+)", out)
        if not m or m.group(1) != "1" or m.group(2) != "0":
            r["problems"].append(f"expected 1 connection and no errors: {out.strip()[-300:]}")
    return r


def callgrind_per_request(name, client, urls, out_dir, short, long):
    """Instructions per request: (Ir(long) - Ir(short)) / (long - short)."""
    counts = {}
    for n in (short, long):
        url_file = os.path.join(out_dir, "urls.txt")
        if name == "libflare":
            cmd = [client, "--requests", str(n), "--warmup", "0", url_file]
        else:
            cfg = os.path.join(out_dir, f"curl-{n}.config")
            with open(cfg, "w") as f:
                for i in range(n):
                    f.write(f'url = "{urls[i % len(urls)]}"\noutput = "/dev/null"\n')
            cmd = [common.find_tool("curl"), "--silent", "--show-error", "--fail", "--config", cfg]
        vg = [common.find_tool("valgrind"), "--tool=callgrind", "--callgrind-out-file=/dev/null"]
        p = subprocess.run(vg + cmd, capture_output=True, text=True, timeout=1800)
        m = re.search(r"Collected : (\d+)", p.stderr)
        if p.returncode != 0 or not m:
            raise RuntimeError(f"callgrind {name} {n}: exit {p.returncode}: {p.stderr[-500:]}")
        counts[n] = int(m.group(1))
    return (counts[long] - counts[short]) / (long - short), counts


def main(argv):
    ap = argparse.ArgumentParser(prog="run_client.sh", description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=20000, help="per client per round")
    ap.add_argument("--out", help="results directory (default bench/results/<date>-<host>-<sha>-client)")
    ap.add_argument("--build-dir", default=os.path.join(common.REPO_DIR, "build-bench"))
    ap.add_argument("--flared-bin")
    ap.add_argument("--client", help="the client_bench binary (default <build-dir>/bench/client_bench)")
    ap.add_argument("--callgrind", action="store_true",
                    help="count instructions per request under valgrind instead of timing")
    o = ap.parse_args(argv)
    o.flared_rev = None
    if not common.find_tool("curl"):
        raise common.BuildError("curl is not installed")
    out_dir = os.path.abspath(o.out or common.default_out_dir(o, "-client"))
    os.makedirs(os.path.join(out_dir, "RAW"), exist_ok=True)
    logs_dir = os.path.join(out_dir, "logs")
    os.makedirs(logs_dir, exist_ok=True)
    build = os.path.abspath(o.build_dir)
    bins = {}
    if o.flared_bin:
        bins["flared"] = os.path.abspath(o.flared_bin)
    else:
        bins["flared"], _ = common.build_flared(build, log)
    client = o.client or os.path.join(build, "bench", "client_bench")
    if not o.client:
        common.run(["ninja", "-C", build, "-j2", "bench/client_bench"])
    srv = ClientTarget("flared", bins, logs_dir)
    srv.start()
    log(f"flared on 127.0.0.1:{srv.port} (pids {srv.pids()})")
    urls = [f"http://127.0.0.1:{srv.port}{p}" for p in PATHS]
    url_file = os.path.join(out_dir, "urls.txt")
    with open(url_file, "w") as f:
        f.write("".join(u + "\n" for u in urls))
    curl_config = os.path.join(out_dir, "curl.config")
    with open(curl_config, "w") as f:
        for i in range(o.requests):
            f.write(f'url = "{urls[i % len(urls)]}"\noutput = "/dev/null"\n')
    if o.callgrind:
        try:
            ir = {n: callgrind_per_request(n, client, urls, out_dir, 300, 1500)
                  for n in ("libflare", "curl")}
        finally:
            srv.stop()
        lines = ["# HTTP client under callgrind: user-space instructions per GET "
                 f"(runs of 1500 and 300 requests of {', '.join(PATHS)}, difference / 1200)", "",
                 "| client | instructions/request | vs curl |", "|---|---|---|"]
        for n in ("libflare", "curl"):
            lines.append(f"| {n} | {ir[n][0]:,.0f} | {ir[n][0] / ir['curl'][0]:.2f}× |")
        common.write_results(out_dir, "client-callgrind", "\n".join(lines) + "\n",
                             {"options": vars(o), "counts": {n: ir[n][1] for n in ir}}, log)
        return 0
    rounds = []
    try:
        for name in ("libflare", "curl"):  # warmup, and a check that both work
            r = measure(name, client, url_file, curl_config, o.requests,
                        os.path.join(out_dir, "RAW", f"warmup-{name}.txt"))
            if r["problems"]:
                raise RuntimeError(f"{name} failed its warmup: {r['problems']}")
        for rn in range(1, o.rounds + 1):
            for name in ("libflare", "curl"):
                r = measure(name, client, url_file, curl_config, o.requests,
                            os.path.join(out_dir, "RAW", f"r{rn}-{name}.txt"))
                r["round"] = rn
                rounds.append(r)
                log(f"round {rn} {name}: {r['req_per_s']:,.0f} req/s, "
                    f"{r['cpu_us_per_req']:.1f} µs CPU/request"
                    + (f" PROBLEMS: {r['problems']}" if r["problems"] else ""))
    finally:
        srv.stop()
    med = {}
    for name in ("libflare", "curl"):
        rs = [r for r in rounds if r["client"] == name and not r["problems"]]
        if rs:
            med[name] = (statistics.median(r["req_per_s"] for r in rs),
                         statistics.median(r["cpu_us_per_req"] for r in rs))
    lines = [f"# HTTP client: {o.requests} sequential GETs of {len(PATHS)} URLs "
             f"({', '.join(PATHS)}) over one keep-alive connection to flared, "
             f"{o.rounds} rounds interleaved", "",
             "Short runs on a shared, noisy 2-core machine: indicative only.", "",
             "| client | req/s (median) | client CPU/request (median) | req/s vs curl | issue target |",
             "|---|---|---|---|---|"]
    for name in ("libflare", "curl"):
        if name not in med:
            lines.append(f"| {name} | – | – | – | |")
            continue
        rate, cpu = med[name]
        ratio, tgt = "", ""
        if name == "libflare" and "curl" in med:
            x = rate / med["curl"][0]
            ratio = f"{x:.2f}×"
            tgt = f"≥ {TARGET_RATIO}× ({'met' if x >= TARGET_RATIO else 'not met'})"
        lines.append(f"| {name} | {rate:,.0f} | {cpu:.1f} µs | {ratio} | {tgt} |")
    common.write_results(out_dir, "client", "\n".join(lines) + "\n",
                         {"options": vars(o), "rounds": rounds}, log)
    return 3 if any(r["problems"] for r in rounds) else 0


if __name__ == "__main__":
    common.run_main(main, "run_client")
