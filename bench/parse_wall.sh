#!/usr/bin/env bash
# parse_wall.sh: wall-clock ns per parsed head for the request and response
# micro benchmarks, made as robust as a shared, loaded VM allows: each binary
# runs --reps times (default 7), each run reports the fastest of many short
# timed runs (--min), and every cell keeps the minimum over the repetitions,
# so the parsers compared each get several chances at a quiet moment. Ratios
# are computed from those minima. Prints a markdown table.
#   bench/parse_wall.sh [--build-dir DIR] [--reps N] [--out FILE] [-- micro args]
# Default micro args: --min --runs 101 --ms 2.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/lib/args.sh"
reps=7
rest=()
bench_args 2,9 --reps reps "$@"
args=("${rest[@]}")
[ ${#args[@]} -gt 0 ] || args=(--min --runs 101 --ms 2)
bench_build bench/micro_parse_request bench/micro_parse_response
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for ((i = 0; i < reps; i++)); do
    "$build/bench/micro_parse_request" "${args[@]}" >"$tmp/request.$i"
    "$build/bench/micro_parse_response" "${args[@]}" >"$tmp/response.$i"
done
python3 - "$tmp" "$reps" "${args[*]}" <<'PY' | if [ -n "$out" ]; then tee "$out"; else cat; fi
import sys
tmp, reps, args = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def rows(kind):
    """{input: {column: min ns}} over the repetitions, and the column names."""
    best, cols = {}, None
    for i in range(reps):
        for line in open(f"{tmp}/{kind}.{i}"):
            f = line.split()
            if not f or line.startswith("#"):
                continue
            if f[0] == "input":
                cols = f[1:]
                continue
            cells = best.setdefault(f[0], {})
            for name, val in zip(cols, f[1:]):
                if name.endswith("x") or "/" in name:
                    continue
                try:
                    v = float(val)
                except ValueError:
                    continue
                cells[name] = min(cells.get(name, v), v)
    return best

def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "-"

print(f"# wall-clock ns per head: minimum over {reps} runs of each micro binary ({args})")
print()
req = rows("request")
print("| request | bytes | scalar | sse4.2 | avx2 | avx512bw | pico | http_parser | avx2/pico | avx512bw/pico | scalar/pico | avx512bw/http_parser |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for name, c in req.items():
    g = lambda k: c.get(k)
    fmt = lambda v: f"{v:.1f}" if v else "-"
    print(f"| {name} | {int(g('bytes'))} | {fmt(g('scalar'))} | {fmt(g('sse4.2'))} | {fmt(g('avx2'))} "
          f"| {fmt(g('avx512bw'))} | {fmt(g('pico'))} | {fmt(g('http_parser'))} "
          f"| {ratio(g('avx2'), g('pico'))} | {ratio(g('avx512bw'), g('pico'))} "
          f"| {ratio(g('scalar'), g('pico'))} | {ratio(g('avx512bw'), g('http_parser'))} |")
print()
resp = rows("response")
print("| response | bytes | flared (run-time path) | pico | flared/pico |")
print("|---|---|---|---|---|")
for name, c in resp.items():
    fmt = lambda v: f"{v:.1f}" if v else "-"
    print(f"| {name} | {int(c['bytes'])} | {fmt(c.get('flared'))} | {fmt(c.get('pico'))} "
          f"| {ratio(c.get('flared'), c.get('pico'))} |")
PY
