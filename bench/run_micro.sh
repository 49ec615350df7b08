#!/usr/bin/env bash
# run_micro.sh: builds the micro benchmarks (meson, release) and runs each one with
# its default timing (median of 15 runs of ~20 ms), printing and saving micro.txt.
#   bench/run_micro.sh [--build-dir DIR] [--out DIR] [-- extra args for every binary]
# The build dir defaults to build-bench/ at the top of the repository (configured
# --buildtype=release if missing). Results go to --out DIR (default: print only).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/lib/args.sh"
rest=()
bench_args 2,6 "" "" "$@"
[ -f "$build/build.ninja" ] || meson setup "$build" "$root" --buildtype=release >/dev/null
buildtype="$(meson introspect --buildoptions "$build" | python3 -c \
    'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="buildtype"))')"
benches=(parse_request parse_response serialize url chunked header_id ws_mask)
ninja -C "$build" -j2 "${benches[@]/#/bench/micro_}" >/dev/null
{
    echo "# micro benchmarks: $(date -Is), $(hostname), $(git -C "$root" rev-parse --short HEAD)," \
         "build $build ($buildtype), $(gcc --version | head -1)"
    [ "$buildtype" = release ] || echo "# WARNING: not a release build"
    for b in "${benches[@]}"; do
        echo
        "$build/bench/micro_$b" "${rest[@]}"
    done
} | if [ -n "$out" ]; then mkdir -p "$out" && tee "$out/micro.txt"; else cat; fi
