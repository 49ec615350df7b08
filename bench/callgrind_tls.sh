#!/bin/bash
# callgrind_tls.sh FLARED: user-space instructions per full TLS 1.3 handshake of one
# flared worker and of one nginx worker, counted by callgrind (repeatable, where the
# CPU time of bench/run_tls.sh swings by several percent between rounds). Both
# servers get the same P-256 certificate, cipher order and one worker; each runs
# under valgrind while a Python client makes 50 and then 250 handshakes, one at a
# time, each closed at once. The difference over 200 handshakes removes start-up
# and shutdown. Prints instructions/handshake for both and their ratio. Kernel time
# (about a quarter of a handshake here) is not counted.
set -euo pipefail
flared=$(realpath "$1")
nginx=$(command -v nginx || echo /usr/sbin/nginx)
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work=$(mktemp -d /tmp/flared-callgrind-tls-XXXXXX)
trap 'rm -rf "$work"' EXIT
. "$here/lib/callgrind.sh"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/key.pem" \
    -out "$work/cert.pem" -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2> /dev/null
mkdir -p "$work/www"
echo hi > "$work/www/f"

handshakes() { # PORT N
    python3 - "$1" "$2" << 'PY'
import socket, ssl, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
for _ in range(n):
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", port))):
        pass
PY
}

worker_ir() { # flared|nginx N -> the worker's total instructions
    local who=$1 n=$2 dir="$work/$1-$2" port vpid
    mkdir -p "$dir/nginx"
    port=$(free_port)
    if [ "$who" = flared ]; then
        cat > "$dir/flared.yaml" << EOF
workers: 1
error_log: "$dir/error.log"
listeners:
  - address: "127.0.0.1:$port"
    tls:
      min_version: "1.3"
      certificates:
        - {cert: "$work/cert.pem", key: "$work/key.pem"}
routes:
  - path: /
    static: {root: "$work/www"}
EOF
        valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$dir/cg.%p" \
            "$flared" -c "$dir/flared.yaml" > "$dir/valgrind.log" 2>&1 &
    else
        # nginx-static.conf with bench/lib/static_tls.py's TLS lines, in one process.
        sed -e "s/@PORT@/$port/; s|@RUNDIR@|$dir|g; s/@SSL@/ssl/" \
            -e "s/^worker_processes 1;/worker_processes 1; master_process off;/" \
            -e "s|@SSLCONF@|ssl_certificate $work/cert.pem; ssl_certificate_key $work/key.pem; ssl_protocols TLSv1.3; ssl_session_tickets on; ssl_session_cache off; ssl_prefer_server_ciphers on; ssl_conf_command Options PrioritizeChaCha; ssl_conf_command Ciphersuites TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384;|" \
            -e "s|root @RUNDIR@/www;|root $work/www;|" \
            "$here/baselines/nginx-static.conf" > "$dir/nginx.conf"
        valgrind --tool=callgrind --callgrind-out-file="$dir/cg.%p" \
            "$nginx" -p "$dir/nginx/" -e "$dir/error.log" -c "$dir/nginx.conf" \
            > "$dir/valgrind.log" 2>&1 &
    fi
    vpid=$!
    wait_port "$port"
    handshakes "$port" "$n"
    kill -TERM "$vpid"
    wait "$vpid" || true
    callgrind_totals "$dir" "$([ "$who" = flared ] && echo "$vpid")" # not flared's master
}

declare -A per
for who in flared nginx; do
    a=$(worker_ir "$who" 50)
    b=$(worker_ir "$who" 250)
    per[$who]=$(((b - a) / 200))
    echo "$who: ${per[$who]} instructions/handshake ($a at 50, $b at 250)"
done
python3 -c "import sys; print(f'flared/nginx: {int(sys.argv[1]) / int(sys.argv[2]):.3f}')" \
    "${per[flared]}" "${per[nginx]}"
