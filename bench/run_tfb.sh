#!/usr/bin/env bash
# run_tfb.sh: TechEmpower plaintext (test type 6) side by side: flared, nginx,
# Go net/http and the epoll floor, one worker each, on 127.0.0.1. Builds what it
# needs (flared release build, Go baseline, floor), gates every target on its
# response bytes, runs wrk rounds interleaved across targets and writes
# bench/results/<date>-<host>-<sha>/ (env.json, integrity.md, RAW/, summary.*).
#   bench/run_tfb.sh                      # 3 configs x 3 rounds x 10 s (about 7 min)
#   bench/run_tfb.sh --quick              # 3 rounds x 5 s
#   bench/run_tfb.sh --self-test --out D  # seconds: checks the harness only
#   bench/run_tfb.sh --help               # every option
# Exit status: 0 clean run, 2 build/start failure, 3 results written but a target
# failed the gate, crashed, or a round had errors (see summary.md).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v python3 >/dev/null || { echo "run_tfb.sh: python3 is required" >&2; exit 2; }
# 10,000+ descriptors for the servers too; the hard limit is the ceiling.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec python3 "$here/lib/tfb.py" "$@"
