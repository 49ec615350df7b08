#!/bin/bash
# callgrind_plaintext.sh FLARED [access_log [FORMAT]]: instructions per plaintext request of one
# flared worker, counted by callgrind (wall clock is meaningless on a shared machine).
# The worker runs under valgrind while a client sends 500 and then 2500 keep-alive
# GET /plaintext requests, one at a time; the difference of the worker's totals over
# 2000 requests removes start-up and shutdown. With "access_log" the access log is on
# (default combined format, or access_log_format FORMAT). With "routes H R" the config
# has H named hosts (two names each) of R routes plus /plaintext, and the requests name
# the last host: what routing costs a server of many routes. Prints instructions/request.
#   bench/callgrind_plaintext.sh FLARED [access_log [FORMAT] | routes H R]
set -euo pipefail
flared=$(realpath "$1")
mode=${2:-}
format=${3:-}
hosts=0 routes=0
if [ "$mode" = routes ]; then
    hosts=${3:?routes needs H and R} routes=${4:?routes needs H and R} format=
fi
host_field=t
[ "$hosts" -gt 0 ] && host_field="www.site$hosts.example"
work=$(mktemp -d /tmp/flared-callgrind-XXXXXX)
trap 'rm -rf "$work"' EXIT
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/callgrind.sh"

client() { # PORT N
    python3 - "$1" "$2" "$host_field" <<'PY'
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port))
req = b"GET /plaintext HTTP/1.1\r\nHost: " + sys.argv[3].encode() + b"\r\nUser-Agent: bench\r\n\r\n"
for _ in range(n):
    s.sendall(req)
    buf = b""
    while not buf.endswith(b"Hello, World!"):
        chunk = s.recv(4096)
        if not chunk:
            raise SystemExit("connection closed")
        buf += chunk
PY
}

worker_ir() { # N -> the worker's total instructions
    local n=$1 dir="$work/$1" port
    mkdir -p "$dir"
    port=$(free_port)
    {
        echo "workers: 1"
        echo "error_log: $dir/error.log"
        [ "$mode" = access_log ] && echo "access_log: $dir/access.log"
        [ -n "$format" ] && echo "access_log_format: '${format//\'/\'\'}'"
        echo "listeners: [{address: 127.0.0.1:$port}]"
        if [ "$hosts" -gt 0 ]; then
            echo "hosts:"
            for h in $(seq 1 "$hosts"); do
                echo "  - names: [site$h.example, www.site$h.example]"
                echo "    routes:"
                for r in $(seq 1 "$routes"); do
                    echo "      - path: /api/v1/resource$r/"
                    echo "        text: {body: \"r$r\"}"
                done
                echo "      - path: /plaintext"
                echo "        text: {body: \"Hello, World!\", content_type: text/plain}"
            done
        fi
        echo "routes:"
        echo "  - path: /plaintext"
        echo "    text: {body: \"Hello, World!\", content_type: text/plain}"
    } > "$dir/flared.yaml"
    callgrind_worker "$flared" "$dir" "$port" client "$port" "$n"
}

a=$(worker_ir 500)
b=$(worker_ir 2500)
what=${mode:-access log off}
[ "$mode" = routes ] && what="$hosts hosts of $routes routes, Host $host_field"
echo "$(( (b - a) / 2000 )) instructions/request ($what${format:+: $format}; $a at 500, $b at 2500)"
