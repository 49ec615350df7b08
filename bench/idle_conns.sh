#!/usr/bin/env bash
# idle_conns.sh: memory of idle keep-alive connections. For flared, nginx and Go
# (one worker each, same workload as run_tfb.sh) it opens 10,000 connections that
# each make one request, holds them, and reports the worker's RSS added
# (/proc/PID/status VmRSS before vs after). Writes idle_conns.md/.json into
# bench/results/<date>-<host>-<sha>/ or --out DIR (e.g. a run_tfb.sh result).
#   bench/idle_conns.sh [--conns N] [--targets flared,nginx,go] [--out DIR]
#                       [--flared-rev REV | --flared-bin FILE | --build-dir DIR]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v python3 >/dev/null || { echo "idle_conns.sh: python3 is required" >&2; exit 2; }
# The client and every server need 10,000+ descriptors: raise the soft limit to
# the hard one (20,000 on the reference machine) before anything starts.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec python3 "$here/lib/idle_conns.py" "$@"
