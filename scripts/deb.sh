#!/usr/bin/env bash
# make deb-only: a Debian package of what `make build` built, with the contents of
# `make install PREFIX=/usr`, made with dpkg-deb (no packaging tool to compile).
# Writes $TARGET/solab_$VERSION_ARCH.deb. Differences from a plain make install, all
# required by Debian policy: binaries and library stripped, man pages and changelog
# gzipped, copyright and changelog added, and no install-manifest (dpkg keeps its own list).
set -euo pipefail
: "${TARGET:?} ${VERSION:?}"
MAKE=${MAKE:-make}
arch=$(dpkg --print-architecture)
deb=$TARGET/solab_${VERSION}_${arch}.deb
work=$TARGET/deb
stage=$work/root
rm -rf "$work"
mkdir -p "$work"
stage=$(cd "$work" && pwd)/root

"$MAKE" --no-print-directory install DESTDIR="$stage" PREFIX=/usr >/dev/null
rm -f "$stage/usr/share/solab/install-manifest"
rmdir "$stage/usr/share/solab"

# What dh_strip would do.
strip --remove-section=.comment --remove-section=.note "$stage"/usr/bin/*
strip --strip-unneeded --remove-section=.comment --remove-section=.note \
    "$stage"/usr/lib/libsolib.so."$(sed -n 's/^version = "\(.*\)"/\1/p' solib/Cargo.toml | head -1)"
gzip -9n "$stage"/usr/share/man/man1/*.1
# solab exporter's unit, installed disabled (no postinst enables it), an example scrape
# configuration and a Grafana dashboard.
install -D -m 644 packaging/exporter/solab-exporter.service \
    "$stage/usr/lib/systemd/system/solab-exporter.service"
install -D -m 644 packaging/exporter/prometheus-scrape.yml \
    "$stage/usr/share/doc/solab/examples/prometheus-scrape.yml"
install -D -m 644 packaging/exporter/grafana-dashboard.json \
    "$stage/usr/share/doc/solab/examples/grafana-dashboard.json"

# The package's identity: the last commit's author and date, so that two builds of one
# commit make the same package.
maint=${DEB_MAINTAINER:-$(git log -1 --format='%an <%ae>' 2>/dev/null || echo 'solab maintainers <root@localhost>')}
date=$(git log -1 --format=%aD 2>/dev/null || date -R)
doc=$stage/usr/share/doc/solab
first=$(git log --max-parents=0 --format=%ad --date=format:%Y 2>/dev/null | tail -n 1)  # tail reads all: no SIGPIPE under pipefail
last=$(git log -1 --format=%ad --date=format:%Y 2>/dev/null || date +%Y)
years=${first:-$last}
[ "$years" = "$last" ] || years="$years-$last"
sed "s/@YEARS@/$years/" packaging/deb/copyright >"$doc/copyright"
chmod 644 "$doc/copyright"
printf 'solab (%s) unstable; urgency=medium\n\n  * Built from the solab source tree with make deb.\n\n -- %s  %s\n' \
    "$VERSION" "$maint" "$date" | gzip -9n >"$doc/changelog.gz"
chmod 644 "$doc/changelog.gz"

mkdir -p "$stage/DEBIAN"
# Run-time dependencies from the libraries the binaries link (libc6, libgcc-s1).
# dpkg-shlibdeps reads debian/control, so it runs in a scratch source tree.
mkdir -p "$work/src/debian"
printf 'Source: solab\n\nPackage: solab\nArchitecture: any\n' >"$work/src/debian/control"
depends=$(cd "$work/src" && dpkg-shlibdeps -O "$stage"/usr/bin/* "$stage"/usr/lib/libsolib.so.*.* 2>/dev/null |
    sed -n 's/^shlibs:Depends=//p')
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<CONTROL
Package: solab
Version: $VERSION
Architecture: $arch
Maintainer: $maint
Installed-Size: $size
Depends: $depends
Section: utils
Priority: optional
Description: see and prove how Linux shares an ELF shared object
 solab reads the ELF headers, /proc/PID/maps, pagemap and (as root) kpagecount
 and kpageflags to show, page by page, that a library's code is one physical
 copy in every process, that written data pages are private copy-on-write
 copies, and what sharing saves per library.
 .
 The package also holds libsolib.so, a library whose .shared section is one
 page shared by every process of a user that loads it (with its C header and
 pkg-config file), and solab-lab, guided experiments that prove each claim on
 this machine.
CONTROL
# The library's users get a dependency on this package; the loader cache learns of it.
echo "libsolib $(readelf -d "$stage"/usr/lib/libsolib.so.*.* | sed -n 's/.*soname: \[libsolib\.so\.\(.*\)\]/\1/p') solab (>= $VERSION)" \
    >"$stage/DEBIAN/shlibs"
echo "activate-noawait ldconfig" >"$stage/DEBIAN/triggers"
(cd "$stage" && find usr -type f -print0 | sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
chmod 644 "$stage/DEBIAN"/*
chmod -R u+rwX,go+rX,go-w "$stage"
# Every file dated at the last commit: two builds of one commit give the same package.
epoch=$(git log -1 --format=%ct 2>/dev/null || date +%s)
find "$stage" -exec touch -h -d "@$epoch" {} +

dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
rm -rf "$work"
echo "$deb ($(du -k "$deb" | cut -f1) KiB): apt install $(realpath "$deb")"
