#!/usr/bin/env bash
# make bench, solab top: its CPU time per table on the machine as it is, then on the
# machine topped up to PROCS processes with bench-sleepers (bench/sleepers.c: forked
# children that each write KIB KiB of their own and sleep), each time `solab top -n TABLES
# -d 1` piped, as `top -b`, under /usr/bin/time -v (user + system time over the TABLES
# tables, the first included; wall time is mostly the sleeps). Prints a Markdown table.
# Everything it starts is killed at the end, also on failure or Ctrl-C.
# Usage: bench/top.sh SOLAB SLEEPERS [PROCS] [TABLES] [KIB]   (2000, 10, 256 by default)
set -euo pipefail
SOLAB=$1
SLEEPERS=$2
PROCS=${3:-2000}
TABLES=${4:-10}
KIB=${5:-256}
die() { echo "bench/top.sh: $*" >&2; exit 2; }
[ "$PROCS" -le 4000 ] || die "PROCS is bounded to 4000"
[ "$TABLES" -ge 1 ] && [ "$TABLES" -le 600 ] || die "TABLES is 1..600"
[ "$KIB" -le 65536 ] || die "KIB is bounded to 65536"
TMP=$(mktemp -d /tmp/solab-bench-top.XXXXXX)
pid=
cleanup() {
    if [ -n "$pid" ]; then
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
count() { ls /proc | grep -c '^[0-9]'; }
# One run: TABLES tables, the figures of /usr/bin/time -v as a table row.
run() {
    local n
    n=$(count)
    /usr/bin/time -v "$SOLAB" top -n "$TABLES" -d 1 >"$TMP/top.txt" 2>"$TMP/time" || {
        cat "$TMP/time" >&2
        die "solab top failed"
    }
    local scanned
    scanned=$(sed -n 's/^solab top: table 1, every [^;]*; \([0-9]*\) processes.*/\1/p' "$TMP/top.txt")
    awk -v n="$n" -v s="$scanned" -v t="$TABLES" -F': ' '
        /User time/ { u = $2 } /System time/ { y = $2 }
        /Maximum resident set size/ { m = $2 } /Elapsed \(wall clock\)/ { w = $2 }
        END { printf "| %d | %d | %d | %.2f s (%.2f + %.2f) | %.0f ms | %.0f%% | %s | %.1f MiB |\n",
                     n, s, t, u + y, u, y, (u + y) * 1000 / t, (u + y) * 100 / t, w, m / 1024 }' "$TMP/time"
}
echo "| processes on the machine | scanned (with a memory map) | tables | CPU time (user + system) | per table | of one CPU, a table a second | wall | peak RSS |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
run
add=$((PROCS - $(count)))
if [ "$add" -gt 0 ]; then
    "$SLEEPERS" "$add" "$KIB" "$TMP/ready" </dev/null >/dev/null &
    pid=$!
    deadline=$((SECONDS + 120))
    until [ -e "$TMP/ready" ]; do
        kill -0 "$pid" 2>/dev/null || die "bench-sleepers exited"
        [ $SECONDS -lt $deadline ] || die "bench-sleepers did not become ready"
        sleep 0.2
    done
    sleep 1
    run
    echo
    echo "The second row: the machine topped up to $PROCS processes by $add children of bench/sleepers.c, each with $KIB KiB of its own."
fi
