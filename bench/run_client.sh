#!/usr/bin/env bash
# run_client.sh: libflare's keep-alive HTTP client (bench/client/client_bench.c)
# against curl reusing one connection, the same sequential GETs of a URL list to
# flared; requests/s and client CPU per request, rounds interleaved.
#   bench/run_client.sh --build-dir /tmp/build-bench --rounds 3 --requests 20000
#   bench/run_client.sh --help
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec python3 "$here/lib/client.py" "$@"
