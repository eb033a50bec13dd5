#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, if they are missing.
# Needs root (or sudo) only when something is missing.
#   scripts/install-deps.sh           what make build, make test and make deb need
#   scripts/install-deps.sh lintian   also lintian, for make lintian only (it brings some
#                                     60 MB of Perl modules that nothing else needs)
set -euo pipefail
need=()
command -v cc >/dev/null || need+=(gcc)
command -v python3 >/dev/null || need+=(python3)
command -v setpriv >/dev/null || need+=(util-linux)
command -v readelf >/dev/null || need+=(binutils)
# The man-page test renders every page; make install's test builds the C client with
# pkg-config; make deb finds the package's dependencies with dpkg-shlibdeps.
command -v man >/dev/null || need+=(man-db)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v dpkg-shlibdeps >/dev/null || need+=(dpkg-dev)
# A real pre-fork server for tests/nginx.rs and the book's nginx chapter (a master and its
# forked workers). nginx is in /usr/sbin, which an ordinary user's PATH may lack.
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
# promtool checks solab exporter's exposition, and a real Prometheus scrapes it, in
# tests/exporter.rs (Debian's prometheus package ships both).
command -v promtool >/dev/null || need+=(prometheus)
if [ "${1:-}" = lintian ]; then
    command -v lintian >/dev/null || need+=(lintian)
fi
if [ ${#need[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}"
fi
