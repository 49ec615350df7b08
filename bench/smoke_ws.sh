#!/usr/bin/env bash
# smoke_ws.sh FLARED WS_ECHO: the bench-smoke check of run_ws_echo.sh. One short
# round per target (flared, node ws, the echo floor) at 64 B and 4 KiB, then checks
# that every target answered every message and has a CPU figure. Never judges a
# speed figure. Exit 77 (skip) when node or node-ws is missing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
flared="${1:?usage: smoke_ws.sh FLARED WS_ECHO}"
client="${2:?usage: smoke_ws.sh FLARED WS_ECHO}"
if ! command -v node >/dev/null && ! command -v nodejs >/dev/null || [ ! -d /usr/share/nodejs/ws ]; then
    echo "smoke_ws.sh: node or node-ws is not installed; skipping"
    exit 77
fi
out="$(mktemp -d "${TMPDIR:-/tmp}/flared-ws-smoke.XXXXXX")"
trap 'rm -rf "$out"' EXIT
"$here/run_ws_echo.sh" --flared-bin "$flared" --client "$client" --rounds 1 --conns 4 \
    --messages 200 --out "$out/run"
python3 - "$out/run" <<'PY'
import json, os, sys
rounds = json.load(open(os.path.join(sys.argv[1], "ws_echo.json")))["rounds"]
seen = {(r["target"], r["size"]) for r in rounds}
want = {(t, s) for t in ("flared", "node", "floor") for s in (64, 4096)}
assert seen == want, f"rounds for {sorted(seen)}, want {sorted(want)}"
for r in rounds:
    assert not r["problems"], r
    assert r["messages"] == 4 * 200 and r["errors"] == 0, r
    assert r["server_cpu_ns"] > 0, r
PY
echo "smoke_ws.sh: flared, node and the floor each echoed 800 messages at 64 B and 4 KiB"
