"""report.py: medians, spreads and ratios of a run_tfb.sh run, as summary.json and
summary.md. CPU per request (server schedstat ns / requests wrk completed) is the
primary figure; req/s and latency come from wrk. A spread (coefficient of
variation over the rounds) above 3% is flagged; rounds with errors are flagged.
"""

import statistics

CV_FLAG = 0.03
OTHER_FLAG = 0.1  # cores used by something other than the server and wrk
BASELINES = ("nginx", "go", "floor")
LABEL = {"flared": "flared", "nginx": "nginx", "go": "Go net/http", "floor": "epoll floor"}


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def cv(values):
    values = [v for v in values if v is not None]
    if len(values) < 2 or statistics.mean(values) == 0:
        return None
    return statistics.stdev(values) / statistics.mean(values)


def ratio(a, b):
    return a / b if a is not None and b else None


def paired_note(label, rounds, num, den, key, target=None):
    """A summary line on each round's num/den ratio of r[key], num and den being two
    targets measured back to back in that round (rounds with problems left out);
    None when no round has both."""
    by_round = {}
    for r in rounds:
        if not r["problems"] and r[key]:
            by_round.setdefault(r["round"], {})[r["target"]] = r[key]
    paired = [v[num] / v[den] for v in by_round.values() if num in v and den in v]
    if not paired:
        return None
    line = (f"- {label}: per-round {num}/{den} median {statistics.median(paired):.2f}×, "
            f"range {min(paired):.2f}–{max(paired):.2f}×")
    if target is not None:
        below = sum(1 for x in paired if x <= target)
        line += f"; ≤ {target}× in {below} of {len(paired)} rounds"
    return line


def summarize(env, o, configs, gate, rounds, server_logs, crashed):
    out = {"env": env, "integrity": gate, "crashed": crashed, "server_log_lines": server_logs,
           "configs": {}, "rounds": rounds,
           "method": "median over interleaved rounds; CPU/request = server schedstat ns (all "
                     "processes and threads) / requests completed by wrk"}
    for ck in o.configs:
        per = {}
        latency_valid = configs[ck]["pipeline"] == 0
        for name in o.targets:
            rs = [r for r in rounds if r["config"] == ck and r["target"] == name]
            if not rs:
                continue
            if not latency_valid:
                for r in rs:
                    r["wrk_printed_p50_us"], r["wrk_printed_p99_us"] = r["p50_us"], r["p99_us"]
                    r["p50_us"] = r["p99_us"] = None
            per[name] = {
                "rounds": len(rs),
                "rounds_with_problems": sum(1 for r in rs if r["problems"]),
                "median": {k: median([r[k] for r in rs])
                           for k in ("rps", "p50_us", "p99_us", "cpu_ns_per_req")},
                "cv": {"rps": cv([r["rps"] for r in rs]),
                       "cpu_ns_per_req": cv([r["cpu_ns_per_req"] for r in rs])},
            }
        for name, s in per.items():
            m = s["median"]
            s["ratios"] = {}
            for b in BASELINES:
                if b in per and b != name:
                    bm = per[b]["median"]
                    s["ratios"][b] = {"cpu_ns_per_req": ratio(m["cpu_ns_per_req"], bm["cpu_ns_per_req"]),
                                      "rps": ratio(m["rps"], bm["rps"]),
                                      "p99_us": ratio(m["p99_us"], bm["p99_us"])}
        out["configs"][ck] = {"title": configs[ck]["title"], "conns": configs[ck]["conns"],
                              "pipeline": configs[ck]["pipeline"], "latency_valid": latency_valid,
                              "targets": per}
    return out


def fmt_rps(v):
    return f"{v:,.0f}" if v is not None else "–"


def fmt_us(v):
    if v is None:
        return "–"
    return f"{v / 1000:.2f} ms" if v >= 1000 else f"{v:.0f} µs"


def fmt_cpu(ns):
    if ns is None:
        return "–"
    return f"{ns / 1000:.2f} µs" if ns >= 1000 else f"{ns:.0f} ns"


def fmt_ratio(v):
    return f"{v:.2f}×" if v is not None else "–"


def fmt_cv(v):
    if v is None:
        return "–"
    return f"{v * 100:.1f}%" + (" ⚠" if v > CV_FLAG else "")


def markdown(s):
    env, opts = s["env"], s["env"]["options"]
    v = env["versions"]
    lines = [
        f"# TechEmpower plaintext: flared against nginx, Go and the epoll floor",
        "",
        f"- Run: {env['date']} on `{env['host']}`, flared `{env['flared_git']}`"
        f" ({env['build'].get('flared_build', 'not built')})",
        f"- Machine: {env['cpu_model']}, {env['cpus_online']} CPUs, kernel {env['kernel']}, {env['os']}",
        f"- Tools: {v['wrk']}; {v['nginx']}; {v['go']}; {v['gcc']}",
        f"- Command: `{opts['command']}` — {opts['rounds']} rounds × {opts['duration']} s per target"
        f" and configuration, {opts['warmup']} s warmup, rounds interleaved across targets",
        "- CPU/request: server CPU time (first field of `/proc/PID/task/*/schedstat`, every process"
        " and thread of the server) over the round, divided by the requests wrk completed. wrk"
        " fills one of the two cores by itself, so req/s flattens for fast servers; CPU/request is"
        " the figure that separates them. Values are medians; spread is the coefficient of"
        " variation over the rounds (⚠ above 3%).",
    ]
    if env["build"].get("flared_build_warning"):
        lines.append(f"- ⚠ {env['build']['flared_build_warning']}")
    lines.append("")
    failed = {n: g for n, g in s["integrity"].items() if not g["ok"]}
    if failed:
        lines.append("**Integrity gate: " + "; ".join(
            f"{n} EXCLUDED ({'; '.join(g['problems'])})" for n, g in failed.items()) + "** (integrity.md)")
    else:
        lines.append(f"Integrity gate: all of {', '.join(s['integrity'])} passed (integrity.md).")
    lines.append("")

    for ck, c in s["configs"].items():
        lines += [f"## ({ck}) {c['title']}", ""]
        per = c["targets"]
        if not per:
            lines += ["No target was measured.", ""]
            continue
        present = [b for b in BASELINES if b in per]
        head = ["target", "req/s", "p50", "p99", "CPU/request"]
        head += [f"CPU vs {LABEL[b]}" for b in present]
        if "nginx" in per:
            head += ["req/s vs nginx", "p99 vs nginx"]
        head += ["spread CPU / req/s"]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
        for name, t in per.items():
            m = t["median"]
            row = [LABEL.get(name, name), fmt_rps(m["rps"]), fmt_us(m["p50_us"]), fmt_us(m["p99_us"]),
                   fmt_cpu(m["cpu_ns_per_req"])]
            row += ["1" if b == name else fmt_ratio(t["ratios"].get(b, {}).get("cpu_ns_per_req"))
                    for b in present]
            if "nginx" in per:
                nr = t["ratios"].get("nginx", {})
                row += ["1" if name == "nginx" else fmt_ratio(nr.get("rps")),
                        "1" if name == "nginx" else fmt_ratio(nr.get("p99_us"))]
            row.append(f"{fmt_cv(t['cv']['cpu_ns_per_req'])} / {fmt_cv(t['cv']['rps'])}")
            if t["rounds_with_problems"]:
                row[0] += f" (⚠ {t['rounds_with_problems']}/{t['rounds']} rounds with errors)"
            lines.append("| " + " | ".join(row) + " |")
        loads = [r.get("other_load_cores") for r in s["rounds"] if r["config"] == ck]
        loads = [x for x in loads if x is not None]
        if loads:
            lines += ["", f"Other load on the machine during these rounds (cores used by neither the"
                      f" server nor wrk): median {statistics.median(loads):.2f}, max {max(loads):.2f}"
                      + (" ⚠" if max(loads) > OTHER_FLAG else "") + "."]
        if not c["latency_valid"]:
            lines += ["", "Latency is not reported for pipelined runs: wrk 4.1 records one latency per"
                      " batch of responses but corrects for coordinated omission with the per-response"
                      " interval, which corrupts its percentiles (they print as 0.00us; wg/wrk#236)."
                      " The raw outputs keep what wrk printed."]
        lines.append("")

    problems = [r for r in s["rounds"] if r["problems"]]
    lines += ["## Errors and anomalies", ""]
    if not problems and not s["crashed"] and not any(
            (r.get("other_load_cores") or 0) > OTHER_FLAG for r in s["rounds"]):
        lines.append("None: every round completed with no socket errors and only 2xx responses,"
                     " and every server stayed up.")
    for r in problems:
        lines.append(f"- ({r['config']}) round {r['round']} {r['target']}: {'; '.join(r['problems'])}"
                     f" — see {r['raw']}")
    busy = [r for r in s["rounds"] if (r.get("other_load_cores") or 0) > OTHER_FLAG]
    if busy:
        lines.append(f"- {len(busy)} of {len(s['rounds'])} rounds ran while something else used more"
                     f" than {OTHER_FLAG} core (see \"other load\" below); their figures are noisier.")
    for name, code in s["crashed"].items():
        lines.append(f"- {name} exited with status {code} during the run")
    for name, log in s["server_log_lines"].items():
        if log:
            lines.append(f"- {name} logged {len(log)} line(s), first: `{log[0][:200]}`")
    lines.append("")

    lines += ["## Rounds in run order", "",
              "| config | round | target | req/s | p50 | p99 | CPU/request | requests | other load | raw |",
              "|---|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in s["rounds"]:
        lines.append(f"| {r['config']} | {r['round']} | {r['target']} | {fmt_rps(r['rps'])} | "
                     f"{fmt_us(r['p50_us'])} | {fmt_us(r['p99_us'])} | {fmt_cpu(r['cpu_ns_per_req'])} | "
                     f"{fmt_rps(r['requests'])} | {r.get('other_load_cores', 0):.2f} | "
                     f"{r['raw']}{' ⚠' if r['problems'] else ''} |")
    lines.append("")
    return "\n".join(lines)
