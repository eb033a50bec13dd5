#!/usr/bin/env bash
# make install / make uninstall (see the Makefile for the variables it passes).
#
#   scripts/install.sh install     copy what `make build` built under $DESTDIR$PREFIX
#   scripts/install.sh uninstall   remove exactly what the last install there copied
#
# install writes the list of what it copied to $PREFIX/share/solab/install-manifest, and
# uninstall removes the files and links listed there (the book is installed only when
# `make docs` built it, so the list cannot be recomputed later). Directories that only
# solab uses are removed when empty; shared ones (bin, lib, share/man/man1...) stay.
set -euo pipefail

: "${OUT:?} ${PREFIX:?} ${SOLIB_VERSION:?}"
DESTDIR=${DESTDIR:-}
BINDIR=${BINDIR:-$PREFIX/bin}
LIBDIR=${LIBDIR:-$PREFIX/lib}
INCLUDEDIR=${INCLUDEDIR:-$PREFIX/include}
DATADIR=${DATADIR:-$PREFIX/share}
MANDIR=${MANDIR:-$DATADIR/man}
DOCDIR=${DOCDIR:-$DATADIR/doc/solab}
BOOK=${BOOK:-docs/book}
manifest=$DATADIR/solab/install-manifest

installed=()
# put MODE SRC DST: copies a file, creating DST's directory.
put() {
    install -D -m "$1" "$2" "$DESTDIR$3"
    installed+=("$3")
}
# link TARGET DST: a symbolic link DST -> TARGET.
link() {
    ln -sfn "$1" "$DESTDIR$2"
    installed+=("$2")
}

remove_listed() {
    local f
    while IFS= read -r f; do
        [ -n "$f" ] && rm -f "$DESTDIR$f"
    done <"$DESTDIR$manifest"
    rm -f "$DESTDIR$manifest"
    for d in "$DESTDIR$DOCDIR" "$DESTDIR$DATADIR/solab"; do
        [ -d "$d" ] && find "$d" -depth -type d -empty -delete
    done
    return 0
}

case "${1:-}" in
install)
    for f in solab solab-lab solab-lab-host libsolib.so man/man1/solab.1 completions/solab.bash; do
        [ -e "$OUT/$f" ] || { echo "install: $OUT/$f is missing: run make build first" >&2; exit 1; }
    done
    # Installing again over an older install: what it had and this one has not goes too.
    [ -f "$DESTDIR$manifest" ] && remove_listed

    for p in solab solab-lab solab-lab-host; do
        put 755 "$OUT/$p" "$BINDIR/$p"
    done
    # The usual scheme: the file carries the full version, the loader finds the DT_SONAME
    # link (solib/build.rs sets it), the linker's -lsolib finds libsolib.so.
    soname=$(readelf -d "$OUT/libsolib.so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
    case "$soname" in
    libsolib.so.*) ;;
    *) echo "install: $OUT/libsolib.so has DT_SONAME '$soname', not libsolib.so.N" >&2; exit 1 ;;
    esac
    put 644 "$OUT/libsolib.so" "$LIBDIR/libsolib.so.$SOLIB_VERSION"
    [ "$soname" = "libsolib.so.$SOLIB_VERSION" ] || link "libsolib.so.$SOLIB_VERSION" "$LIBDIR/$soname"
    link "$soname" "$LIBDIR/libsolib.so"
    put 644 solib/include/solib.h "$INCLUDEDIR/solib.h"

    # pkg-config: paths under the prefix are written as ${prefix}/..., so that
    # `pkg-config --define-prefix` can relocate them.
    rel() { case "$1" in "$PREFIX"/*) echo "\${prefix}${1#"$PREFIX"}" ;; *) echo "$1" ;; esac; }
    pc=$(mktemp)
    trap 'rm -f "$pc"' EXIT
    sed -e "s|@PREFIX@|$PREFIX|" -e "s|@LIBDIR@|$(rel "$LIBDIR")|" \
        -e "s|@INCLUDEDIR@|$(rel "$INCLUDEDIR")|" -e "s|@VERSION@|$SOLIB_VERSION|" \
        packaging/solib.pc.in >"$pc"
    put 644 "$pc" "$LIBDIR/pkgconfig/solib.pc"

    for page in "$OUT"/man/man1/*.1; do
        put 644 "$page" "$MANDIR/man1/${page##*/}"
    done
    put 644 "$OUT/completions/solab.bash" "$DATADIR/bash-completion/completions/solab"
    put 644 "$OUT/completions/_solab" "$DATADIR/zsh/vendor-completions/_solab"
    put 644 "$OUT/completions/solab.fish" "$DATADIR/fish/vendor_completions.d/solab.fish"

    put 644 README.md "$DOCDIR/README.md"
    # The HTML book only when `make docs` has built it: building it needs mdBook, which
    # `make docs` compiles from crates.io, too much to impose on every install.
    if [ -f "$BOOK/index.html" ]; then
        while IFS= read -r -d '' f; do
            put 644 "$f" "$DOCDIR/book/${f#"$BOOK"/}"
        done < <(find "$BOOK" -type f -print0 | sort -z)
    else
        echo "install: no HTML book ($BOOK/index.html): run make docs first to install it too"
    fi

    mkdir -p "$(dirname "$DESTDIR$manifest")"
    printf '%s\n' "${installed[@]}" "$manifest" >"$DESTDIR$manifest"
    echo "installed ${#installed[@]} files under $DESTDIR$PREFIX (list: $DESTDIR$manifest)"
    ;;
uninstall)
    if [ ! -f "$DESTDIR$manifest" ]; then
        echo "uninstall: nothing to do: no $DESTDIR$manifest (solab is not installed there)" >&2
        exit 0
    fi
    n=$(($(wc -l <"$DESTDIR$manifest") - 1)) # the manifest lists itself last
    remove_listed
    echo "removed $n files under $DESTDIR$PREFIX"
    ;;
*)
    echo "usage: $0 install|uninstall" >&2
    exit 2
    ;;
esac
