#!/usr/bin/env bash
# parse_callgrind.sh: instructions per parsed head, counted by callgrind, for
# flared's request and response parsers on each SIMD path and for
# picohttpparser and http_parser on the same corpus (bench/micro/corpus.c).
# Instruction counts are repeatable where wall-clock is not (a shared VM); they
# are not time: a SIMD instruction counts as one. Only the parser's entry
# function and what it calls are counted (--toggle-collect), nothing of the loop.
# Valgrind cannot run AVX-512, so the avx512bw column is counted instead by
# single-stepping the same binary (bench/micro/step_count.c, Linux x86-64): the
# same entry function and callees; on the avx2 path both counts agree within a
# few instructions per head. "-" where the CPU lacks the path.
#   bench/parse_callgrind.sh [--build-dir DIR] [--iters N] [--out FILE]
# The build dir defaults to build-bench/ (configured --buildtype=release if missing).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/lib/args.sh"
iters=2000
bench_args 2,9 --iters iters "$@"
command -v valgrind >/dev/null || { echo "parse_callgrind.sh: valgrind not installed" >&2; exit 77; }
bench_build bench/micro_parse_count
ninja -C "$build" bench/micro_step_count >/dev/null 2>&1 || true
bin="$build/bench/micro_parse_count"
stepper="$build/bench/micro_step_count"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Instructions per call of FUNC while BIN runs ARGS... (iters + 1 calls: one check).
count() {
    local func="$1"; shift
    if ! valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" --collect-atstart=no \
        "--toggle-collect=$func" "$bin" "$@" >"$tmp/log" 2>&1; then
        echo "-"
        return
    fi
    awk -v n="$((iters + 1))" '/^(summary|totals):/ { t = $2 } END { printf "%.0f", t / n }' \
        "$tmp/cg.out"
}

# The same per call of flare_http_parse_KIND on PATH by single-stepping, over
# 100 calls (a step costs a few microseconds; every call runs the same code).
steps() {
    local kind="$1" path="$2" in="$3" off
    off=$(nm "$bin" | awk -v f="flare_http_parse_$kind" '$3 == f { print $1 }')
    if [ ! -x "$stepper" ] || [ -z "$off" ]; then
        echo "-"
        return
    fi
    "$stepper" "$off" 101 -- "$bin" "$kind" flared "$path" "$in" 100 2>/dev/null || echo "-"
}

inputs() {
    sed -n '/^const micro_sample micro_'"$1"'\[\]/,/^};/p' "$here/micro/corpus.c" |
        sed -n 's/^ *SAMPLE("\([^"]*\)".*/\1/p'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else printf "-" }'; }

# One markdown table: KIND (request or response) over every input of that kind.
table() {
    local kind="$1" func="flare_http_parse_$1" s e a z p h
    echo
    echo "| $kind | bytes | scalar | sse4.2 | avx2 | avx512bw (stepped) | pico | http_parser |" \
         "avx2/pico | avx512bw/pico | scalar/pico | avx512bw/http_parser |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
    for in in $(inputs "${kind}s"); do
        s=$(count "$func" "$kind" flared scalar "$in" "$iters")
        e=$(count "$func" "$kind" flared sse4.2 "$in" "$iters")
        a=$(count "$func" "$kind" flared avx2 "$in" "$iters")
        z=$(steps "$kind" avx512bw "$in")
        p=$(count "phr_parse_$kind" "$kind" pico - "$in" "$iters")
        h=$(count http_parser_execute "$kind" http_parser - "$in" "$iters")
        echo "| $in | $("$bin" "$kind" - - "$in" 0) | $s | $e | $a | $z | $p | $h |" \
             "$(ratio "$a" "$p") | $(ratio "$z" "$p") | $(ratio "$s" "$p") | $(ratio "$z" "$h") |"
    done
}

{
    echo "# instructions per head (callgrind, $(valgrind --version), $iters calls each)," \
         "$(git -C "$root" rev-parse --short HEAD), $(gcc --version | head -1)"
    table request
    table response
} | if [ -n "$out" ]; then tee "$out"; else cat; fi
