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
#
# The checkout may belong to another user than the one who installs (make build as
# yourself, then sudo make install), so nothing in it is trusted: a source that is a
# symbolic link (or lies below one in the checkout or the build), or is not a regular
# file, is refused, so that a link cannot install a file its owner could not read; a name
# with a control character is refused. The list is NUL-separated (an older install's
# newline-separated one is still read), and uninstall removes only entries that are
# solab's own names under the prefix. Every check is made before anything is copied or
# removed.
set -euo pipefail
export LC_ALL=C

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

# A name as the shell would quote it: control characters never reach the terminal.
shown() { printf '%q' "$1"; }
refuse() {
    echo "$1" >&2
    exit 1
}
has_control() { [[ $1 == *[[:cntrl:]]* ]]; }

# check_source SRC: a regular file, not a symbolic link, and no directory of its path a
# link either: every one for a name relative to the checkout, those below $OUT for an
# absolute name in the build.
check_source() {
    local src=$1 rest dir
    has_control "$src" && refuse "install: $(shown "$src"): a control character in the name: refused"
    case "$src" in
    "$OUT"/*) [[ $OUT == /* ]] && dir=$OUT rest=${src#"$OUT"/} || dir=. rest=$src ;;
    /*) dir=${src%/*} rest=${src##*/} ;;
    *) dir=. rest=$src ;;
    esac
    while [[ $rest == */* ]]; do
        dir=$dir/${rest%%/*}
        rest=${rest#*/}
        [ -L "$dir" ] && refuse "install: $(shown "$dir") is a symbolic link: refused (installing $(shown "$src") would copy what it points at)"
    done
    [ -L "$src" ] && refuse "install: $(shown "$src") is a symbolic link: refused (only regular files are installed, never what a link points at)"
    [ -f "$src" ] || refuse "install: $(shown "$src") is not a regular file: refused"
    return 0
}

# check_dest DST: under the prefix, without a control character or a . or .. component.
check_dest() {
    has_control "$1" && refuse "install: $(shown "$1"): a control character in the name: refused"
    [[ $1 == "$PREFIX"/* && "$1/" != */./* && "$1/" != */../* ]] ||
        refuse "install: $(shown "$1") is not a name under PREFIX=$(shown "$PREFIX"): refused"
    return 0
}

# Is ENTRY of a manifest one of the names install writes, under the prefix?
solabs_own() {
    local f=$1
    has_control "$f" && return 1
    [[ $f == "$PREFIX"/* && "$f/" != */./* && "$f/" != */../* && $f != *//* ]] || return 1
    case "$f" in
    "$BINDIR"/solab | "$BINDIR"/solab-lab | "$BINDIR"/solab-lab-host) return 0 ;;
    "$LIBDIR"/libsolib.so | "$LIBDIR"/libsolib.so.*) [[ ${f#"$LIBDIR"/} != */* ]] ;;
    "$MANDIR"/man1/solab*.1) [[ ${f#"$MANDIR"/man1/} != */* ]] ;;
    "$LIBDIR"/pkgconfig/solib.pc | "$INCLUDEDIR"/solib.h | "$manifest") return 0 ;;
    "$DATADIR"/bash-completion/completions/solab) return 0 ;;
    "$DATADIR"/zsh/vendor-completions/_solab) return 0 ;;
    "$DATADIR"/fish/vendor_completions.d/solab.fish) return 0 ;;
    "$DOCDIR"/?*) return 0 ;;
    *) return 1 ;;
    esac
}

# What install copies, planned and checked first: PUT_MODE, PUT_SRC and PUT_DST per file,
# LINK_TARGET and LINK_DST per symbolic link.
PUT_MODE=() PUT_SRC=() PUT_DST=() LINK_TARGET=() LINK_DST=()
# put MODE SRC DST: a copy of the regular file SRC at DST (its directory created).
put() {
    check_source "$2"
    check_dest "$3"
    PUT_MODE+=("$1") PUT_SRC+=("$2") PUT_DST+=("$3")
}
# link TARGET DST: a symbolic link DST -> TARGET.
link() {
    check_dest "$2"
    LINK_TARGET+=("$1") LINK_DST+=("$2")
}

# The manifest's entries into ENTRIES, each checked to be solab's own: a NUL-separated
# list, or an older install's newline-separated one. Refuses the whole list, removing
# nothing, if one entry is not.
read_manifest() {
    local m=$DESTDIR$manifest f format=NUL-separated
    [ -L "$m" ] && refuse "$1: $(shown "$m") is a symbolic link: not read, nothing removed"
    [ -f "$m" ] || refuse "$1: $(shown "$m") is not a regular file: not read, nothing removed"
    ENTRIES=()
    if [ "$(tr -cd '\0' <"$m" | wc -c)" -gt 0 ]; then
        while IFS= read -r -d '' f; do ENTRIES+=("$f"); done <"$m"
    else
        format="older, newline-separated"
        while IFS= read -r f; do [ -n "$f" ] && ENTRIES+=("$f"); done <"$m"
    fi
    for f in "${ENTRIES[@]}"; do
        solabs_own "$f" || refuse "$1: $(shown "$m") (an $format list) names $(shown "$f"), which is not one of solab's files under PREFIX=$(shown "$PREFIX"): nothing removed; check the list and remove solab's files by hand"
    done
}

remove_listed() {
    local f
    for f in "${ENTRIES[@]}"; do
        rm -f -- "$DESTDIR$f"
    done
    rm -f -- "$DESTDIR$manifest"
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
    # `pkg-config --define-prefix` can relocate them. The file is made in a directory of
    # this run's own, which also holds the copies of the sources.
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    check_source packaging/solib.pc.in
    rel() { case "$1" in "$PREFIX"/*) echo "\${prefix}${1#"$PREFIX"}" ;; *) echo "$1" ;; esac; }
    sed -e "s|@PREFIX@|$PREFIX|" -e "s|@LIBDIR@|$(rel "$LIBDIR")|" \
        -e "s|@INCLUDEDIR@|$(rel "$INCLUDEDIR")|" -e "s|@VERSION@|$SOLIB_VERSION|" \
        packaging/solib.pc.in >"$work/solib.pc"
    put 644 "$work/solib.pc" "$LIBDIR/pkgconfig/solib.pc"

    for page in "$OUT"/man/man1/*.1; do
        put 644 "$page" "$MANDIR/man1/${page##*/}"
    done
    put 644 "$OUT/completions/solab.bash" "$DATADIR/bash-completion/completions/solab"
    put 644 "$OUT/completions/_solab" "$DATADIR/zsh/vendor-completions/_solab"
    put 644 "$OUT/completions/solab.fish" "$DATADIR/fish/vendor_completions.d/solab.fish"

    put 644 README.md "$DOCDIR/README.md"
    # The HTML book only when `make docs` has built it: building it needs mdBook, which
    # `make docs` compiles from crates.io, too much to impose on every install. Everything
    # in it that is not a directory is planned, so that a link or a FIFO is refused by name.
    if [ -f "$BOOK/index.html" ]; then
        while IFS= read -r -d '' f; do
            put 644 "$f" "$DOCDIR/book/${f#"$BOOK"/}"
        done < <(find "$BOOK" ! -type d -print0 | sort -z)
    else
        echo "install: no HTML book ($BOOK/index.html): run make docs first to install it too"
    fi

    # Installing again over an older install: what it had and this one has not goes too.
    ENTRIES=()
    if [ -e "$DESTDIR$manifest" ] || [ -L "$DESTDIR$manifest" ]; then
        read_manifest install
        remove_listed
    fi

    installed=()
    for i in "${!PUT_SRC[@]}"; do
        # Copied without following a link at the name (dd's nofollow), even if the
        # checkout's owner replaced the file after it was checked; nonblock: a FIFO put
        # there meanwhile gives an empty copy rather than a wait.
        copy=$work/copy
        dd if="${PUT_SRC[$i]}" of="$copy" iflag=nofollow,nonblock status=none
        install -D -m "${PUT_MODE[$i]}" "$copy" "$DESTDIR${PUT_DST[$i]}"
        installed+=("${PUT_DST[$i]}")
    done
    for i in "${!LINK_DST[@]}"; do
        ln -sfn "${LINK_TARGET[$i]}" "$DESTDIR${LINK_DST[$i]}"
        installed+=("${LINK_DST[$i]}")
    done

    mkdir -p "$(dirname "$DESTDIR$manifest")"
    printf '%s\0' "${installed[@]}" "$manifest" >"$DESTDIR$manifest"
    echo "installed ${#installed[@]} files under $DESTDIR$PREFIX (list: $DESTDIR$manifest)"
    ;;
uninstall)
    if [ ! -e "$DESTDIR$manifest" ] && [ ! -L "$DESTDIR$manifest" ]; then
        echo "uninstall: nothing to do: no $DESTDIR$manifest (solab is not installed there)" >&2
        exit 0
    fi
    read_manifest uninstall
    n=$((${#ENTRIES[@]} - 1)) # the manifest lists itself last
    remove_listed
    echo "removed $n files under $DESTDIR$PREFIX"
    ;;
*)
    echo "usage: $0 install|uninstall" >&2
    exit 2
    ;;
esac
