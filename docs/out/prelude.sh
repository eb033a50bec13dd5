# The book's shell helpers. From the repository's root, after `make build`:
#
#   source docs/out/prelude.sh     in your own shell, to type a chapter's commands by hand
#   docs/run CHAPTER               to run all of a chapter's commands (it sources this file)
#
# The docs test (tests/docs.rs) runs every chapter with docs/run and compares each block's
# output with the book's (docs/src/out/NAME.txt); `make docs-outputs` rewrites them.
#
# ANCHOR: helpers
# solab, solab-lab-host and the other programs of `make build`, by name:
export PATH="$PWD/target/release:$PATH"

# fresh              stop the lab-hosts started so far, and give the next ones a new, empty
#                    shared section (a new SOLIB_NAMESPACE: see the shared-section chapter)
# hosts A B -- ACT   start one lab-host per name, each running the actions ACT..., then
#                    waiting for more on its standard input; $A, $B are their pids
# tell A ACTION      send one more action to lab-host A and print its answer
# as_nobody CMD      run a command as uid 65534 (root only; HOSTS_AS=nobody hosts ...
#                    starts lab-hosts as that user)
# HOSTS_NAMED=1 hosts A B -- ACT
#                    names each lab-host after its letter, host-A, host-B: its command
#                    name, which ps and solab (and its pictures' rows) show
# HOSTS_RUNTIME_DIR=DIR hosts ...
#                    gives the lab-hosts DIR as their runtime directory, XDG_RUNTIME_DIR;
#                    by default they have none, as when the book's outputs were made
# $IMG               where pictures go (target/img)
# ANCHOR_END: helpers

# Inside scripts (docs/run), stop at unset variables and failed pipelines; an interactive
# shell keeps its own settings.
[[ $- == *i* ]] || set -uo pipefail
# The docs test says where the build it checks is (CARGO_TARGET_DIR or PROFILE may move it
# from target/release); it goes first on PATH.
[ -z "${SOLAB_BIN_DIR:-}" ] || export PATH="$SOLAB_BIN_DIR:$PATH"
# In /tmp, not $TMPDIR, which may be private to this user (pam_tmpdir): uid 65534 runs
# programs from here (see _docs_for_nobody).
_docs_dir=$(mktemp -d /tmp/solab-docs-XXXXXX)
chmod 755 "$_docs_dir"
_docs_pids=()
_docs_names=()
_docs_namespaces=()
_docs_round=0

fresh() {
    local p n
    {
        for p in "${_docs_pids[@]}"; do kill -9 "$p"; done
        for p in "${_docs_pids[@]}"; do wait "$p"; done
    } 2>/dev/null # no job-control notices
    for n in "${_docs_names[@]}"; do eval "exec {_docs_fd_$n}>&-"; done
    _docs_pids=()
    _docs_names=()
    _docs_round=$((_docs_round + 1))
    export SOLIB_NAMESPACE="docs$$-$_docs_round"
    _docs_namespaces+=("$SOLIB_NAMESPACE")
}

_docs_cleanup() {
    local ns
    exec 2>/dev/null # no job-control notices in the book
    for p in "${_docs_pids[@]}"; do kill -9 "$p"; done
    wait
    rm -rf "$_docs_dir"
    for ns in "${_docs_namespaces[@]}"; do
        rm -f /dev/shm/solib-u*-v*-"$ns" /dev/shm/solibc-u*-"$ns"
        # libsolib.so puts its region in the runtime directory when the session has one.
        [ -z "${XDG_RUNTIME_DIR:-}" ] || rm -f "$XDG_RUNTIME_DIR"/solib-u*-v*-"$ns"
    done
}
trap _docs_cleanup EXIT
fresh

as_nobody() {
    setpriv --reuid 65534 --regid 65534 --clear-groups -- "$@"
}

# The programs uid 65534 runs, copied where it can reach them: it may not be able to search
# the directories above this checkout (a 0700 home). Below target/release/ as in the
# checkout, so the paths solab prints compare equal to the book's (tests/docs.rs elides
# what comes before target/release/).
_docs_for_nobody() {
    local d="$_docs_dir/target/release"
    if [ ! -d "$d" ]; then
        install -d -m 0755 "$_docs_dir/target" "$d"
        local from=${SOLAB_BIN_DIR:-target/release}
        install -m 0755 "$from/solab-lab-host" "$from/libsolib.so" "$from/solab" "$d/"
    fi
    echo "$d"
}

hosts() {
    local names=()
    while [ "$1" != "--" ]; do names+=("$1"); shift; done
    shift
    local n pid fd named
    for n in "${names[@]}"; do
        named=()
        [ -z "${HOSTS_NAMED:-}" ] || named=(--name "host-$n")
        rm -f "$_docs_dir/$n.in"
        mkfifo "$_docs_dir/$n.in"
        : >"$_docs_dir/$n.out"
        # An empty XDG_RUNTIME_DIR counts as none for libsolib.so: the region goes to
        # /dev/shm, whatever the reader's session has.
        if [ "${HOSTS_AS:-}" = nobody ]; then
            XDG_RUNTIME_DIR="${HOSTS_RUNTIME_DIR:-}" setpriv --reuid 65534 --regid 65534 --clear-groups -- \
                "$(_docs_for_nobody)/solab-lab-host" "${named[@]}" "$@" serve <"$_docs_dir/$n.in" >"$_docs_dir/$n.out" 2>&1 &
        else
            XDG_RUNTIME_DIR="${HOSTS_RUNTIME_DIR:-}" solab-lab-host "${named[@]}" "$@" serve <"$_docs_dir/$n.in" >"$_docs_dir/$n.out" 2>&1 &
        fi
        pid=$!
        _docs_pids+=("$pid")
        _docs_names+=("$n")
        exec {fd}>"$_docs_dir/$n.in"
        eval "_docs_fd_$n=$fd; $n=$pid"
        for _ in $(seq 1 1000); do
            grep -q 'action=serve' "$_docs_dir/$n.out" && break
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.01
        done
    done
}

tell() {
    local n=$1 action=$2 fd pid before
    eval "fd=\$_docs_fd_$n; pid=\$$n"
    before=$(wc -l <"$_docs_dir/$n.out")
    echo "$action" >&"$fd"
    for _ in $(seq 1 1000); do
        [ "$(wc -l <"$_docs_dir/$n.out")" -gt "$before" ] && break
        kill -0 "$pid" 2>/dev/null || break # it died: no answer will come
        sleep 0.01
    done
    tail -n +"$((before + 1))" "$_docs_dir/$n.out"
}

# Pictures go to target/img, or where the docs test says (docs/src/img when it updates the
# book, a scratch directory when it only checks).
IMG=${DOCS_IMG_DIR:-target/img}
mkdir -p "$IMG"
