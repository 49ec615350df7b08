# shellcheck shell=bash
# args.sh: option parsing and the build step shared by the bench scripts that
# build their binaries with meson; they set `here` (the bench/ folder), then
# source it.

# bench_args HELP OPTION VAR "$@" parses the options these scripts share:
#   --build-dir DIR  sets build (default <repo>/build-bench); root is set too
#   --out X          sets out (default empty)
#   -h, --help       prints lines HELP (a sed range such as 2,9) of the script
#   OPTION N         sets the variable named VAR (no such option if OPTION is "")
#   -- ARGS...       puts ARGS into the array rest, if the caller declared it (rest=())
# Anything else stops the script with a message and exit status 2.
bench_args() {
    local help="$1" option="$2" var="$3" name
    name="$(basename "$0")"
    shift 3
    root="$(dirname "$here")"
    build="$root/build-bench"
    out=""
    while [ $# -gt 0 ]; do
        case "$1" in
        --build-dir) build="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        -h|--help) sed -n "${help}p" "$0"; exit 0 ;;
        *)
            if [ -n "$option" ] && [ "$1" = "$option" ]; then
                printf -v "$var" '%s' "$2"
                shift 2
            elif [ "$1" = -- ] && declare -p rest >/dev/null 2>&1; then
                shift
                rest=("$@")
                return
            else
                echo "$name: unknown option $1" >&2
                exit 2
            fi
            ;;
        esac
    done
}

# bench_build TARGET...: configures $build (release) unless it is already, then
# builds the targets quietly.
bench_build() {
    [ -f "$build/build.ninja" ] || meson setup "$build" "$root" --buildtype=release >/dev/null
    ninja -C "$build" "$@" >/dev/null
}
