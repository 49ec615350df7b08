# callgrind.sh: shell helpers the callgrind_*.sh scripts source.

# free_port: a TCP port on 127.0.0.1 that is free now.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_port PORT: waits up to 30 s (valgrind starts slowly) until PORT accepts.
wait_port() {
    for _ in $(seq 150); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1', $1)).close()" \
            2> /dev/null && return 0
        sleep 0.2
    done
    echo "wait_port: nothing accepts on 127.0.0.1:$1" >&2
    return 1
}

# callgrind_totals DIR [SKIP_PID]: the instruction total of every DIR/cg.<pid>
# profile, one per line, leaving out SKIP_PID's (a master process).
callgrind_totals() {
    local f
    for f in "$1"/cg.*; do
        [ -n "${2:-}" ] && [ "${f##*.}" = "$2" ] && continue
        callgrind_annotate "$f" | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}'
    done
}

# callgrind_worker FLARED DIR PORT CLIENT [ARGS...]: runs FLARED -c DIR/flared.yaml (its
# workers too) under callgrind, waits for PORT, runs CLIENT ARGS..., stops flared and
# prints its workers' instruction totals (not the master's).
callgrind_worker() {
    local flared=$1 dir=$2 port=$3 vpid
    shift 3
    valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$dir/cg.%p" \
        "$flared" -c "$dir/flared.yaml" > "$dir/valgrind.log" 2>&1 &
    vpid=$!
    wait_port "$port"
    "$@"
    kill -TERM "$vpid"
    wait "$vpid" || true
    callgrind_totals "$dir" "$vpid"
}
