#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, if they are missing.
# Needs root (or sudo) only when something is missing.
set -euo pipefail
need=()
command -v cc >/dev/null || need+=(gcc)
command -v python3 >/dev/null || need+=(python3)
command -v setpriv >/dev/null || need+=(util-linux)
command -v readelf >/dev/null || need+=(binutils)
if [ ${#need[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
fi
