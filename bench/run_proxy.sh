#!/usr/bin/env bash
# run_proxy.sh: reverse proxy CPU per request, flared's proxy route vs nginx
# proxy_pass with upstream keepalive, one worker each, in front of an upstream
# flared plaintext route (see bench/lib/proxy.py; --help for the options).
#   bench/run_proxy.sh --seconds 3 --rounds 3
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec python3 "$here/lib/proxy.py" "$@"
