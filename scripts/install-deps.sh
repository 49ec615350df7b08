#!/usr/bin/env bash
# install-deps.sh: installs, from the distribution's packages, whatever the build
# and the test suite need and this machine lacks. Debian 12 / Ubuntu 22.04+.
# Usage: scripts/install-deps.sh [--bench] [--fuzz]
set -euo pipefail

packages=(meson ninja-build pkg-config gcc libc6-dev
          libssl-dev zlib1g-dev libyaml-dev libjansson-dev libcmocka-dev libcrypt-dev libpsl-dev libidn2-dev publicsuffix
          curl python3 openssl python3-websockets node-ws python3-prometheus-client
          gnutls-bin sslscan haproxy strace)
for arg in "$@"; do
    case "$arg" in
    --bench) packages+=(wrk nginx-light golang-go valgrind libh2o-dev libhttp-parser-dev) ;;
    --fuzz) packages+=(clang libclang-rt-14-dev) ;;
    *) echo "install-deps.sh: unknown option $arg" >&2; exit 2 ;;
    esac
done

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps.sh: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
