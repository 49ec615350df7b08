#!/bin/bash
# callgrind_static.sh FLARED [BYTES [ACCEPT_ENCODING]]: instructions per static-file GET of one
# flared worker, counted by callgrind (wall clock is meaningless on a shared machine).
# The worker serves a text file of BYTES (default 4096: the per-worker cache; above
# 64 KiB it goes out with sendfile) from a `static` route with gzip on; a client sends
# 500 and then 2500 keep-alive GETs one at a time, with ACCEPT_ENCODING when given
# (say "gzip"), and the difference of the worker's totals over 2000 requests removes
# start-up and shutdown. Prints instructions/request.
#   bench/callgrind_static.sh FLARED [BYTES [ACCEPT_ENCODING]]
set -euo pipefail
flared=$(realpath "$1")
bytes=${2:-4096}
accept=${3:-}
work=$(mktemp -d /tmp/flared-callgrind-XXXXXX)
trap 'rm -rf "$work"' EXIT
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib/callgrind.sh"

mkdir -p "$work/www"
python3 -c "import sys; line = b'the quick brown fox jumps over the lazy dog 0123456789\n'
sys.stdout.buffer.write((line * (int(sys.argv[1]) // len(line) + 1))[:int(sys.argv[1])])" \
    "$bytes" > "$work/www/file.txt"
touch -d '2020-01-01' "$work/www/file.txt"
sleep 2.1 # the cache takes only files whose ctime is 2 s old: every run hits it

client() { # PORT N
    python3 - "$1" "$2" "$accept" <<'PY'
import socket, sys
port, n, accept = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
s = socket.create_connection(("127.0.0.1", port))
req = b"GET /file.txt HTTP/1.1\r\nHost: t\r\nUser-Agent: bench\r\n"
if accept:
    req += b"Accept-Encoding: " + accept.encode() + b"\r\n"
req += b"\r\n"
buf = b""
for _ in range(n):
    s.sendall(req)
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit("connection closed")
        buf += chunk
    head, _, buf = buf.partition(b"\r\n\r\n")
    length = [int(l.split(b":")[1]) for l in head.split(b"\r\n")
              if l.lower().startswith(b"content-length:")]
    if not head.startswith(b"HTTP/1.1 200") or not length:
        raise SystemExit("unexpected head: %r" % head[:200])
    while len(buf) < length[0]:
        chunk = s.recv(1 << 20)
        if not chunk:
            raise SystemExit("connection closed")
        buf += chunk
    buf = buf[length[0]:]
PY
}

worker_ir() { # N -> the worker's total instructions
    local n=$1 dir="$work/$1" port
    mkdir -p "$dir"
    port=$(free_port)
    cat > "$dir/flared.yaml" <<YAML
workers: 1
error_log: $dir/error.log
listeners: [{address: 127.0.0.1:$port}]
routes:
  - path: /
    static: {root: $work/www, gzip: true}
YAML
    callgrind_worker "$flared" "$dir" "$port" client "$port" "$n"
}

a=$(worker_ir 500)
b=$(worker_ir 2500)
echo "$(( (b - a) / 2000 )) instructions/request (GET of $bytes bytes${accept:+, Accept-Encoding: $accept}; $a at 500, $b at 2500)"
