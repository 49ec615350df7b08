#!/usr/bin/env bash
# fuzz/run.sh SECONDS [HARNESS...]: builds the libFuzzer harnesses with clang in
# build-fuzz/ (ASan + UBSan, the whole library instrumented for coverage) and runs
# each one for SECONDS over its committed corpus, with its dictionary. New inputs
# go to build-fuzz/fuzz-work/<name>/ (not the committed corpus); a crash, leak,
# timeout or sanitizer report is copied into fuzz/corpus/<name>/crash-<sha1>,
# where the fuzz-replay suite turns it into a regression test. Prints a table of
# executions and findings per harness (also in build-fuzz/fuzz-summary.md).
# Needs clang and libclang-rt-14-dev: scripts/install-deps.sh --fuzz.
set -euo pipefail

seconds=${1:?usage: fuzz/run.sh SECONDS [HARNESS...]}
shift
root=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD:-$root/build-fuzz}
harnesses=(request response chunked headers url cookie net_addr hostname config ws_frame
           ws_parser ws_handshake utf8 inflate static_path range_cond server timer_wheel
           proxy_protocol forwarded ws_url ws_client http_client htpasswd router negotiate
           proxy_fields local_files access_log cli_upload client_request)
[ $# -gt 0 ] && harnesses=("$@")

command -v clang >/dev/null || { echo "run.sh: clang is missing (scripts/install-deps.sh --fuzz)" >&2; exit 1; }
if [ ! -f "$build/build.ninja" ]; then
    # -Dfuzz=true compiles the library with -fsanitize=fuzzer-no-link (the coverage
    # feedback libFuzzer steers by); fuzz/meson.build links each harness with
    # -fsanitize=fuzzer.
    CC=clang meson setup "$build" "$root" -Dfuzz=true -Dtests=false \
        -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized
fi
targets=()
for h in "${harnesses[@]}"; do targets+=("fuzz/fuzz_$h"); done
ninja -C "$build" -j"${FUZZ_JOBS:-2}" "${targets[@]}"

max_len() {
    case "$1" in
    server | ws_parser | inflate | ws_client | http_client) echo 65536 ;;
    config | request | response | headers | url | timer_wheel) echo 16384 ;;
    *) echo 4096 ;;
    esac
}
dict() {
    case "$1" in
    request | response | chunked | headers | url | cookie | range_cond | server | forwarded | \
        http_client) echo http.dict ;;
    ws_frame | ws_parser | ws_handshake | ws_client) echo ws.dict ;;
    config) echo yaml.dict ;;
    *) echo "" ;;
    esac
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
summary="$build/fuzz-summary.md"
printf '| harness | seconds | executions | exec/s | corpus | new findings |\n' >"$summary"
printf '|---|---:|---:|---:|---:|---|\n' >>"$summary"
total=0
status=0
for h in "${harnesses[@]}"; do
    work="$build/fuzz-work/$h"
    crashes="$build/fuzz-crashes/$h"
    mkdir -p "$work" "$crashes"
    args=(-max_total_time="$seconds" -max_len="$(max_len "$h")" -timeout=10 -rss_limit_mb=2048
          -print_final_stats=1 -artifact_prefix="$crashes/")
    d=$(dict "$h")
    [ -n "$d" ] && args+=(-dict="$root/fuzz/$d")
    log="$build/fuzz-$h.log"
    echo "== fuzz_$h for ${seconds}s"
    set +e
    "$build/fuzz/fuzz_$h" "${args[@]}" "$work" "$root/fuzz/corpus/$h" >"$log" 2>&1
    rc=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    corpus=$(ls "$work" | wc -l)
    found=""
    for f in "$crashes"/*; do
        [ -f "$f" ] || continue
        sha=$(sha1sum "$f" | cut -c1-16)
        kind=$(basename "$f" | cut -d- -f1)
        dest="$root/fuzz/corpus/$h/crash-$sha"
        if [ ! -f "$dest" ]; then
            cp "$f" "$dest"
            found="$found $kind-$sha"
        fi
        rm -f "$f"
    done
    if [ $rc -ne 0 ] || [ -n "$found" ]; then
        status=1
        echo "   fuzz_$h exited $rc;${found:- no new input saved}; log: $log"
        grep -m3 -E "ERROR|runtime error|invariant broken" "$log" || true
    fi
    total=$((total + ${execs:-0}))
    printf '| %s | %s | %s | %s | %s | %s |\n' "$h" "$seconds" "${execs:-?}" "${rate:-?}" \
        "$corpus" "${found:-none}" >>"$summary"
    echo "   ${execs:-?} executions (${rate:-?}/s), ${corpus} inputs in the work corpus"
done
printf '| **total** | | **%s** | | | |\n' "$total" >>"$summary"
echo
cat "$summary"
exit $status
