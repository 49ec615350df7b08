"""wrk.py: running wrk for one round and reading its report."""

import re
import subprocess

from integrity import TFB_HEADERS

UNITS_US = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}


def command(wrk, port, path, conns, duration, pipeline, lua):
    cmd = [wrk, "-t1", f"-c{conns}", f"-d{duration}s", "--latency"]
    for name, value in TFB_HEADERS:
        cmd += ["-H", f"{name}: {value}"]
    if pipeline:
        cmd += ["-s", lua]
    cmd.append(f"http://127.0.0.1:{port}{path}")
    if pipeline:
        cmd += ["--", str(pipeline)]
    return cmd


def run(cmd, duration, raw_path):
    """Runs wrk, saves its output (with the command line) and returns (exit code, output)."""
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=duration + 60)
        code, out = p.returncode, p.stdout
    except subprocess.TimeoutExpired as e:
        code, out = -1, (e.stdout or b"").decode(errors="replace") + "\n[wrk timed out]\n"
    with open(raw_path, "w") as f:
        f.write("$ " + " ".join(f"'{a}'" if " " in a else a for a in cmd) + "\n")
        f.write(out)
        if code != 0:
            f.write(f"[wrk exit status {code}]\n")
    return code, out


def to_us(value, unit):
    return float(value) * UNITS_US[unit]


def parse(out):
    """Figures of one wrk report; missing ones are None."""
    r = {"requests": None, "seconds": None, "rps": None, "p50_us": None, "p75_us": None,
         "p90_us": None, "p99_us": None, "max_us": None, "non2xx": 0,
         "errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0}}
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h)", out)
    if m:
        r["requests"] = int(m.group(1))
        r["seconds"] = to_us(m.group(2), m.group(3)) / 1e6
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        r["rps"] = float(m.group(1))
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m|h)\s*$", out, re.M)
        if m and float(m.group(1)) > 0:  # wrk prints 0.00us when its histogram scan fails
            r[f"p{pct}_us"] = to_us(m.group(1), m.group(2))
    m = re.search(r"Latency\s+[\d.]+\w+\s+[\d.]+\w+\s+([\d.]+)(us|ms|s|m|h)", out)
    if m:
        r["max_us"] = to_us(m.group(1), m.group(2))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        r["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        r["errors"] = dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups())))
    return r
