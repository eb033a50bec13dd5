# Sourced before every snippet in docs/out/, from the repository's root, by the docs test
# (tests/docs.rs): `make docs-outputs` rewrites docs/src/out/NAME.txt from NAME.sh, and
# `make test` fails when the program's output no longer matches the book's.
#
# Snippets may use:
#   hosts A B C -- ACTION...   start lab-hosts named A, B, C that run ACTIONs, then wait
#                              for more on stdin; $A, $B, $C are their pids
#   tell A ACTION              send one more action to A and print its answer
#   HOSTS_AS=nobody hosts ...  the same, as uid 65534 (setpriv)
#   as_nobody CMD...           run a command as uid 65534
set -uo pipefail
# The docs test says where the programs are (CARGO_TARGET_DIR may move them).
SOLAB_BIN_DIR=${SOLAB_BIN_DIR:-$PWD/target/release}
export PATH="$SOLAB_BIN_DIR:$PATH"
export SOLIB_NAMESPACE="docs$$"
_docs_dir=$(mktemp -d)
chmod 755 "$_docs_dir"
_docs_pids=()

_docs_cleanup() {
    exec 2>/dev/null # no job-control notices in the book
    for p in "${_docs_pids[@]}"; do kill -9 "$p"; done
    wait
    rm -rf "$_docs_dir"
    rm -f /dev/shm/solib-u*-v*-"$SOLIB_NAMESPACE"
}
trap _docs_cleanup EXIT

as_nobody() {
    setpriv --reuid 65534 --regid 65534 --clear-groups -- "$@"
}

hosts() {
    local names=()
    while [ "$1" != "--" ]; do names+=("$1"); shift; done
    shift
    local n pid fd
    for n in "${names[@]}"; do
        mkfifo "$_docs_dir/$n.in"
        : >"$_docs_dir/$n.out"
        if [ "${HOSTS_AS:-}" = nobody ]; then
            setpriv --reuid 65534 --regid 65534 --clear-groups -- \
                "$SOLAB_BIN_DIR/solab-lab-host" "$@" serve <"$_docs_dir/$n.in" >"$_docs_dir/$n.out" 2>&1 &
        else
            solab-lab-host "$@" serve <"$_docs_dir/$n.in" >"$_docs_dir/$n.out" 2>&1 &
        fi
        pid=$!
        _docs_pids+=("$pid")
        exec {fd}>"$_docs_dir/$n.in"
        eval "_docs_fd_$n=$fd; $n=$pid"
        for _ in $(seq 1 1000); do
            grep -q 'action=serve' "$_docs_dir/$n.out" && break
            sleep 0.01
        done
    done
}

tell() {
    local n=$1 action=$2 fd before
    eval "fd=\$_docs_fd_$n"
    before=$(wc -l <"$_docs_dir/$n.out")
    echo "$action" >&"$fd"
    for _ in $(seq 1 1000); do
        [ "$(wc -l <"$_docs_dir/$n.out")" -gt "$before" ] && break
        sleep 0.01
    done
    tail -n +"$((before + 1))" "$_docs_dir/$n.out"
}

# Pictures go to docs/src/img, or where the docs test says while it only checks.
IMG=${DOCS_IMG_DIR:-docs/src/img}
