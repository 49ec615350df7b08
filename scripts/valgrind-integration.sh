#!/usr/bin/env bash
# valgrind-integration.sh [BUILD_DIR] [TEST...]: runs the integration suite (or
# the named tests, e.g. integration_raw_http) with every flared the tests start
# running under valgrind memcheck: tests/integration/flaredtest.py prefixes its
# command with $FLARED_WRAPPER. Workers are forked, so memcheck follows them as
# well (--trace-children covers anything flared would exec). Each process writes
# its own log; the script then reports invalid reads/writes, uninitialised
# values, leaks ("definitely" and "possibly lost") per process, and the tests
# that failed. Exit status 0 only when the tests pass and memcheck found
# nothing. Slow (tens of minutes for the whole suite): not part of CI.
# BUILD_DIR must be a build without sanitizers (valgrind and ASan do not mix).
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
shift || true
command -v valgrind >/dev/null || { echo "valgrind-integration.sh: valgrind is missing (scripts/install-deps.sh --bench)" >&2; exit 1; }
[ -f "$build/build.ninja" ] || { echo "valgrind-integration.sh: $build is not a meson build directory" >&2; exit 1; }
san=$(meson introspect "$build" --buildoptions |
      python3 -c 'import json, sys; print([o["value"] for o in json.load(sys.stdin) if o["name"] == "b_sanitize"][0])')
if [ "$san" != none ]; then
    echo "valgrind-integration.sh: $build is built with -Db_sanitize=$san; use a plain build" >&2
    exit 1
fi
ninja -C "$build" >/dev/null || exit 1

logs=$(mktemp -d /tmp/flared-valgrind.XXXXXX)
export FLARED_WRAPPER="valgrind --tool=memcheck --trace-children=yes --error-exitcode=99 \
--leak-check=full --show-leak-kinds=definite,possible --errors-for-leak-kinds=definite,possible \
--track-origins=yes --num-callers=30 --log-file=$logs/vg-%p.log"
echo "valgrind logs: $logs"

tests=("$@")
[ ${#tests[@]} -eq 0 ] && tests=(--suite integration)
# Everything is some 20-50x slower under memcheck; the tests' own deadlines are not.
meson test -C "$build" "${tests[@]}" --no-rebuild --timeout-multiplier 10 --num-processes 1 \
    --print-errorlogs \
    >"$logs/meson-test.log" 2>&1
test_status=$?
grep -E "^ *[0-9]+/[0-9]+ " "$logs/meson-test.log"

processes=$(ls "$logs"/vg-*.log 2>/dev/null | wc -l)
bad=0
for f in "$logs"/vg-*.log; do
    [ -f "$f" ] || continue
    errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$f" | tail -1)
    if [ "${errors:-0}" != "0" ]; then
        bad=$((bad + 1))
        echo "== $f: ${errors} errors"
        grep -E "Invalid (read|write)|uninitialised|definitely lost|possibly lost|Mismatched|free\(\)" "$f" | sort | uniq -c | head -20
    fi
done
echo
echo "memcheck: $processes flared processes, $bad with errors; tests: exit $test_status"
grep -h -E "definitely lost:|possibly lost:|Invalid read|Invalid write" "$logs"/vg-*.log 2>/dev/null |
    sed 's/==[0-9]*==//' | sort | uniq -c | sort -rn | head -10
[ "$bad" -eq 0 ] && [ "$test_status" -eq 0 ]
