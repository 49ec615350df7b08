#!/usr/bin/env bash
# run_tls.sh: flared against nginx, 1 worker each, https (TLS 1.3, same generated cert) wrk -t1 -c64 on a 4 KiB file, CPU per request, and openssl s_time -new full handshakes, CPU per handshake.
#   bench/run_tls.sh --build-dir /tmp/build-bench2 --rounds 2 --duration 5 [--flared-bin B] [--out D]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec python3 "$here/lib/static_tls.py" --workload tls "$@"
