#!/usr/bin/env bash
# run_static.sh: flared against nginx, 1 worker each, static files (4 KiB, 1 MiB) over http, wrk -t1 -c64, CPU per request.
#   bench/run_static.sh --build-dir /tmp/build-bench2 --rounds 2 --duration 5 [--flared-bin B] [--out D]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec python3 "$here/lib/static_tls.py" --workload static "$@"
