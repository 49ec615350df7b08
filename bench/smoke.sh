#!/usr/bin/env bash
# smoke.sh FLARED: the bench-smoke check of run_tfb.sh (meson test --suite bench-smoke).
# Runs the harness in --self-test mode against the given flared binary and checks
# that every target passed the integrity gate and produced a round with a request
# count and a CPU figure. Never judges a speed figure. Exit 77 (skip) when wrk,
# nginx or go is missing (CI installs them only with install-deps.sh --bench).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
flared="${1:?usage: smoke.sh FLARED_BINARY}"
for tool in wrk nginx go python3; do
    if ! command -v "$tool" >/dev/null && [ ! -x "/usr/sbin/$tool" ]; then
        echo "smoke.sh: $tool is not installed; skipping (scripts/install-deps.sh --bench)"
        exit 77
    fi
done
out="$(mktemp -d "${TMPDIR:-/tmp}/flared-bench-smoke.XXXXXX")"
trap 'rm -rf "$out"' EXIT
status=0
"$here/run_tfb.sh" --self-test --flared-bin "$flared" --out "$out/run" || status=$?
if [ "$status" -ne 0 ]; then
    echo "smoke.sh: run_tfb.sh --self-test exited with status $status"
    [ -f "$out/run/summary.md" ] && cat "$out/run/summary.md"
    exit 1
fi
python3 - "$out/run" <<'PY'
import json, os, sys
d = sys.argv[1]
for f in ("env.json", "integrity.md", "summary.md", "summary.json"):
    assert os.path.getsize(os.path.join(d, f)) > 0, f"{f} missing or empty"
s = json.load(open(os.path.join(d, "summary.json")))
targets = ["flared", "nginx", "go", "floor"]
for name in targets:
    assert s["integrity"][name]["ok"], f"{name} failed the integrity gate"
for ck in ("a", "b"):
    for name in targets:
        t = s["configs"][ck]["targets"][name]
        m = t["median"]
        assert m["rps"] and m["rps"] > 0, f"({ck}) {name}: no req/s"
        assert m["cpu_ns_per_req"] and m["cpu_ns_per_req"] > 0, f"({ck}) {name}: no CPU figure"
        assert t["rounds_with_problems"] == 0, f"({ck}) {name}: errors in a round"
raws = os.listdir(os.path.join(d, "RAW"))
assert len(raws) == 8, f"expected 8 raw wrk outputs, found {len(raws)}"
print("smoke.sh: harness ran: 4 targets passed the gate, 2 configurations measured")
PY
