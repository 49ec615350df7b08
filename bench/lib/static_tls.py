"""static_tls.py: the driver behind bench/run_static.sh and bench/run_tls.sh.
flared (static route, 1 worker) against nginx (sendfile on, access_log off,
1 worker) serving the same files from one directory:
  static: http, a 4 KiB and a 1 MiB file, wrk -t1 -c64, CPU per request;
  tls:    https (TLS 1.3, one generated P-256 certificate for both), the 4 KiB
          file with wrk -t1 -c64 (CPU per request), then full handshakes with
          `openssl s_time -new` (CPU per handshake).
Each server's CPU comes from schedstat over its process tree (targets.cpu_ns);
rounds are interleaved (flared, nginx, flared, ...). Targets from the issue are
printed beside the ratios, never asserted.
"""

import argparse
import json
import os
import re
import ssl
import statistics
import subprocess
import sys
import time
import urllib.request

import common
import report
import targets
import wrk

FILES = {"f4k": 4096, "f1m": 1 << 20}
SETTLE_S = 0.25


class StaticTarget(targets.Target):
    tls = None  # (cert, key) or None

    def command(self):
        subst = {"PORT": str(self.port), "RUNDIR": self.rundir}
        if self.name == "flared":
            cfg = os.path.join(self.rundir, "flared-static.yaml")
            subst["TLS"] = ("" if not self.tls else
                            "    tls:\n      min_version: \"1.3\"\n      certificates:\n"
                            f"        - {{cert: \"{self.tls[0]}\", key: \"{self.tls[1]}\"}}\n")
            targets.substitute(os.path.join(common.BENCH_DIR, "workloads", "static.yaml"), cfg, subst)
            self.error_logs.append(os.path.join(self.rundir, "flared-error.log"))
            return [self.bins["flared"], "-c", cfg], dict(os.environ)
        if self.name == "nginx":
            os.makedirs(os.path.join(self.rundir, "nginx"), exist_ok=True)
            cfg = os.path.join(self.rundir, "nginx-static.conf")
            subst["SSL"] = "ssl" if self.tls else ""
            subst["SSLCONF"] = ("" if not self.tls else
                                f"ssl_certificate {self.tls[0]}; ssl_certificate_key {self.tls[1]}; "
                                # Like for like: both resume by session tickets (nginx's
                                # default, flared's session_tickets: true), neither keeps
                                # a server-side session cache.
                                "ssl_protocols TLSv1.3; ssl_session_tickets on; ssl_session_cache off; "
                                # Same cipher: the server's order, as flared's
                                # (src/tls/tls_internal.h), AES-128-GCM first.
                                "ssl_prefer_server_ciphers on; ssl_conf_command Options PrioritizeChaCha; "
                                "ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256:"
                                "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384;")
            targets.substitute(os.path.join(common.BENCH_DIR, "baselines", "nginx-static.conf"), cfg, subst)
            err = os.path.join(self.rundir, "nginx-error.log")
            self.error_logs.append(err)
            return [self.bins["nginx"], "-p", os.path.join(self.rundir, "nginx") + "/", "-e", err,
                    "-c", cfg], dict(os.environ)
        raise ValueError(self.name)


def log(msg):
    print(f"static_tls: {msg}", flush=True)


def make_files(rundir):
    www = os.path.join(rundir, "www")
    os.makedirs(www, exist_ok=True)
    for name, size in FILES.items():
        with open(os.path.join(www, name), "wb") as f:
            f.write(bytes((i * 7 + 13) & 0xff for i in range(size)))


def make_cert(rundir):
    cert, key = os.path.join(rundir, "cert.pem"), os.path.join(rundir, "key.pem")
    common.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
    return cert, key


def gate(t, scheme):
    """Every file must come back whole; returns the problems."""
    ctx = ssl._create_unverified_context() if scheme == "https" else None
    problems = []
    for name, size in FILES.items():
        try:
            with urllib.request.urlopen(f"{scheme}://127.0.0.1:{t.port}/{name}", context=ctx,
                                        timeout=10) as r:
                body = r.read()
                if r.status != 200 or len(body) != size:
                    problems.append(f"/{name}: status {r.status}, {len(body)} bytes")
        except OSError as e:
            problems.append(f"/{name}: {e}")
    return problems


def negotiated(port):
    p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=10)
    m = re.search(r"(TLSv[\d.]+), Cipher is (\S+)", p.stdout)
    g = re.search(r"(?:Server Temp Key|Negotiated TLS1.3 group): (\S+)", p.stdout)
    return (" ".join(m.groups()) if m else "?") + (f", key exchange {g.group(1).rstrip(',')}" if g else "")


def around(t, fn):
    pids = t.pids()
    before = targets.cpu_ns(pids)
    res = fn()
    time.sleep(SETTLE_S)
    return res, targets.cpu_ns(pids) - before, t.alive()


def wrk_round(t, wrk_bin, scheme, path, duration, raw):
    cmd = [wrk_bin, "-t1", "-c64", f"-d{duration}s", f"{scheme}://127.0.0.1:{t.port}{path}"]
    (code, out), cpu, alive = around(t, lambda: wrk.run(cmd, duration, raw))
    r = wrk.parse(out)
    errs = {k: v for k, v in r["errors"].items() if v}
    ok = code == 0 and r["requests"] and not r["non2xx"] and not errs and alive
    return {"rate": r["rps"], "count": r["requests"], "cpu_ns": cpu,
            "cpu_per": cpu / r["requests"] if r["requests"] else None,
            "problems": [] if ok else [f"wrk exit {code}, non2xx {r['non2xx']}, errors {errs}"]}


def stime_round(t, duration, raw):
    cmd = ["openssl", "s_time", "-connect", f"127.0.0.1:{t.port}", "-new", "-time", str(duration)]

    def go():
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=duration + 60)
        with open(raw, "w") as f:
            f.write("$ " + " ".join(cmd) + "\n" + p.stdout)
        return p
    p, cpu, alive = around(t, go)
    m = re.search(r"(\d+) connections in ([\d.]+) real seconds", p.stdout)
    n = int(m.group(1)) if m else None
    return {"rate": n / float(m.group(2)) if m else None, "count": n, "cpu_ns": cpu,
            "cpu_per": cpu / n if n else None,
            "problems": [] if (n and alive) else [p.stdout.strip()[-300:]]}


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workload", choices=["static", "tls"], required=True)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--case", action="append", metavar="LABEL",
                    help="run only this case (repeatable): '4 KiB', '1 MiB', 'https 4 KiB', "
                         "'full handshake'")
    ap.add_argument("--out")
    ap.add_argument("--build-dir", default=os.path.join(common.REPO_DIR, "build-bench"))
    ap.add_argument("--flared-bin")
    o = ap.parse_args(argv)
    o.flared_rev = None
    out_dir = os.path.abspath(o.out or common.default_out_dir(o, "-" + o.workload))
    os.makedirs(os.path.join(out_dir, "RAW"), exist_ok=True)
    rundir = os.path.join(out_dir, "logs")
    os.makedirs(rundir, exist_ok=True)
    common.raise_nofile()
    bins = {"nginx": common.find_tool("nginx"), "wrk": common.find_tool("wrk")}
    if not bins["nginx"] or not bins["wrk"]:
        raise common.BuildError("nginx and wrk are required")
    bins["flared"] = (os.path.abspath(o.flared_bin) if o.flared_bin
                      else common.build_flared(os.path.abspath(o.build_dir), log)[0])
    make_files(rundir)
    tls = make_cert(rundir) if o.workload == "tls" else None
    scheme = "https" if tls else "http"
    cases = ([("4 KiB", "wrk", "/f4k"), ("1 MiB", "wrk", "/f1m")] if not tls
             else [("https 4 KiB", "wrk", "/f4k"), ("full handshake", "s_time", None)])
    if o.case:
        unknown = set(o.case) - {label for label, _, _ in cases}
        if unknown:
            ap.error(f"unknown case {sorted(unknown)}")
        cases = [c for c in cases if c[0] in o.case]
    servers, rounds, notes = [], [], []
    try:
        for n in ("flared", "nginx"):
            t = StaticTarget(n, bins, rundir)
            t.tls = tls
            t.start()
            servers.append(t)
            probs = gate(t, scheme)
            if probs:
                raise RuntimeError(f"{n} failed the gate: {probs}")
            if tls:
                notes.append(f"{n}: {negotiated(t.port)}")
            log(f"{n} on 127.0.0.1:{t.port}: gate passed" + (f" ({notes[-1]})" if tls else ""))
        # Like for like: the same protocol, cipher and key exchange, or no comparison.
        if tls and len({note.split(": ", 1)[1] for note in notes}) != 1:
            raise RuntimeError(f"the targets negotiate different TLS parameters: {notes}")
        for label, kind, path in cases:
            for rn in range(0, o.rounds + 1):  # round 0 is a 1 s warmup, not reported
                d = 1 if rn == 0 else o.duration
                for t in servers:
                    raw = os.path.join(out_dir, "RAW", f"{label.replace(' ', '_')}-r{rn}-{t.name}.txt")
                    r = (wrk_round(t, bins["wrk"], scheme, path, d, raw) if kind == "wrk"
                         else stime_round(t, d, raw))
                    if rn == 0:
                        continue
                    r.update({"case": label, "target": t.name, "round": rn})
                    rounds.append(r)
                    log(f"{label} round {rn} {t.name}: {r['rate'] or 0:,.0f}/s, "
                        f"{r['cpu_per'] or 0:,.0f} ns each" + (f" PROBLEMS {r['problems']}" if r["problems"] else ""))
    finally:
        for t in servers:
            t.stop()
    goal = {"static": 0.9, "tls": 0.9}[o.workload]
    lines = [f"# {o.workload}: flared vs nginx, 1 worker each, {o.rounds} rounds × {o.duration} s "
             "interleaved (+1 s warmup)", "",
             "Short runs on a shared, noisy 2-core machine: indicative only.", ""]
    lines += [f"- {n}" for n in notes] + ([""] if notes else [])
    lines += ["| case | target | rate (median) | server CPU each (median) | flared/nginx | issue target |",
              "|---|---|---|---|---|---|"]
    paired_notes = []
    for label, kind, _ in cases:
        med = {}
        for n in ("flared", "nginx"):
            rs = [r for r in rounds if r["case"] == label and r["target"] == n and not r["problems"]]
            if rs:
                med[n] = (statistics.median(r["rate"] for r in rs), statistics.median(r["cpu_per"] for r in rs))
        what = "handshakes/s" if kind == "s_time" else "req/s"
        tgt_ratio = 1.0 if kind == "s_time" else goal
        for n in ("flared", "nginx"):
            if n not in med:
                lines.append(f"| {label} | {n} | – | – | | |")
                continue
            ratio = tgt = ""
            if n == "flared" and "nginx" in med:
                x = med["flared"][1] / med["nginx"][1]
                ratio = f"{x:.2f}×"
                tgt = f"≤ {tgt_ratio}× ({'met' if x <= tgt_ratio else 'not met'})"
            lines.append(f"| {label} | {n} | {med[n][0]:,.0f} {what} | {med[n][1] / 1000:.1f} µs | {ratio} | {tgt} |")
        note = report.paired_note(label, [r for r in rounds if r["case"] == label], "flared",
                                  "nginx", "cpu_per", tgt_ratio)
        if note:
            paired_notes.append(note)
    lines += [""] + paired_notes if paired_notes else []
    md = "\n".join(lines) + "\n"
    with open(os.path.join(out_dir, f"{o.workload}.md"), "w") as f:
        f.write(md)
    with open(os.path.join(out_dir, f"{o.workload}.json"), "w") as f:
        json.dump({"options": vars(o), "notes": notes, "rounds": rounds}, f, indent=2)
    print(md)
    log(f"results in {out_dir}")
    return 3 if any(r["problems"] for r in rounds) else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (common.BuildError, RuntimeError) as e:
        print(f"static_tls: {e}", file=sys.stderr)
        sys.exit(2)
