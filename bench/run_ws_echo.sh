#!/usr/bin/env bash
# run_ws_echo.sh: WebSocket echo, flared (websocket route, 1 worker) against node's
# ws (Debian node-ws, baselines/ws_echo_node.js): bench/ws_echo with 16 connections,
# 64 B and 4 KiB messages, rounds interleaved; messages/s and server CPU/message.
#   bench/run_ws_echo.sh --build-dir /tmp/build-bench2 --rounds 2 --messages 20000
#   bench/run_ws_echo.sh --help
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec python3 "$here/lib/ws_echo.py" "$@"
