#!/usr/bin/env bash
# make bench, solab exporter: CPU per scrape and resident memory as the scrapes go on.
# Starts `solab exporter --listen 127.0.0.1:0 --min-interval 0` (every scrape a new scan of
# the whole machine, with the default --groups, --libs, --families and --deadline) and
# scrapes it SCRAPES times with curl, one after the other; prints a Markdown table of the
# exporter's RSS (VmRSS) after scrape 1, 10, 100 and each tenth of the scrapes, its peak
# (VmHWM) and its CPU time (utime + stime of /proc/PID/stat) per scrape, then the machine's
# process count, load average and how many readings the deadline cut.
# Usage: bench/exporter.sh SOLAB [SCRAPES]   (SCRAPES=1000 by default)
#   SLEEPERS=N        first start N sleeping C processes (forks of one tiny parent, a few
#                     pages each), for a machine of about N more processes (default 0)
#   MAX_SECONDS=S     stop after the scrape that passes S seconds (default 1800), saying
#                     so: a bound on make bench's time on a large or loaded machine
set -euo pipefail
SOLAB=$1
SCRAPES=${2:-1000}
SLEEPERS=${SLEEPERS:-0}
MAX_SECONDS=${MAX_SECONDS:-1800}
[ "$SCRAPES" -ge 10 ] || { echo "bench/exporter.sh: SCRAPES must be at least 10" >&2; exit 2; }
TMP=$(mktemp -d /tmp/solab-bench-exporter.XXXXXX)
pid=""; sleepers=""
cleanup() {
    [ -n "$pid" ] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
    # The sleepers' parent kills its children when it gets SIGTERM (their process group).
    [ -n "$sleepers" ] && { kill -TERM -- "-$sleepers" 2>/dev/null || true; wait "$sleepers" 2>/dev/null || true; }
    rm -rf "$TMP"
}
trap cleanup EXIT
if [ "$SLEEPERS" -gt 0 ]; then
    cat >"$TMP/sleepers.c" <<'C'
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
/* sleepers N: forks N children that pause, prints "ready", pauses; the children die with
 * their parent's process group. */
int main(int argc, char **argv) {
    int n = atoi(argv[1]);
    for (int i = 0; i < n; i++) {
        pid_t p = fork();
        if (p == 0) { for (;;) pause(); }
        if (p < 0) { perror("fork"); return 1; }
    }
    printf("ready\n");
    fflush(stdout);
    for (;;) pause();
}
C
    cc -O2 -o "$TMP/sleepers" "$TMP/sleepers.c"
    setsid "$TMP/sleepers" "$SLEEPERS" >"$TMP/sleepers.out" &
    sleepers=$!
    for _ in $(seq 600); do grep -q ready "$TMP/sleepers.out" && break; sleep 0.1; done
    grep -q ready "$TMP/sleepers.out" || { echo "bench/exporter.sh: the sleepers did not start" >&2; exit 2; }
fi
"$SOLAB" exporter --listen 127.0.0.1:0 --min-interval 0 >"$TMP/out" &
pid=$!
for _ in $(seq 100); do grep -q serving "$TMP/out" && break; sleep 0.1; done
addr=$(sed -n 's#.*serving http://\(.*\)/metrics#\1#p' "$TMP/out")
[ -n "$addr" ] || { echo "bench/exporter.sh: the exporter did not start" >&2; exit 2; }
hz=$(getconf CLK_TCK)
kib() { awk -v k="$1:" '$1 == k { print $2 }' /proc/"$pid"/status; }
cpu() { awk '{ print $14 + $15 }' /proc/"$pid"/stat; }
procs=$(ls /proc | grep -c '^[0-9]')
load0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "| scrapes | RSS | peak RSS | CPU per scrape (since the row above) | wall per scrape |"
echo "|---:|---:|---:|---:|---:|"
c0=$(cpu); t0=$(date +%s.%N); step=$((SCRAPES / 10)); last_c=$c0; last_t=$t0; last_i=0
done_n=0; cut=0
for i in $(seq "$SCRAPES"); do
    curl -sf -o "$TMP/scrape" --max-time 300 "http://$addr/metrics" || { echo "bench/exporter.sh: scrape $i failed" >&2; exit 2; }
    grep -q '^solab_scan_truncated{scan="ps"} 1' "$TMP/scrape" && cut=$((cut + 1))
    done_n=$i
    now=$(date +%s.%N)
    over=$(echo "$now - $t0 > $MAX_SECONDS" | bc)
    if [ $((i % step)) -eq 0 ] || [ "$i" -eq 1 ] || [ "$i" -eq 10 ] || [ "$i" -eq 100 ] || [ "$over" -eq 1 ]; then
        n=$((i - last_i)); c=$(cpu)
        awk -v i="$i" -v r="$(kib VmRSS)" -v h="$(kib VmHWM)" -v c="$((c - last_c))" -v hz="$hz" \
            -v n="$n" -v w="$(echo "$now - $last_t" | bc)" \
            'BEGIN { printf "| %d | %.1f MiB | %.1f MiB | %.0f ms | %.0f ms |\n", i, r/1024, h/1024, c*1000/hz/n, w*1000/n }'
        last_c=$c; last_t=$now; last_i=$i
    fi
    [ "$over" -eq 1 ] && break
done
c=$(cpu)
[ "$done_n" -lt "$SCRAPES" ] && echo && echo "Stopped after $done_n of $SCRAPES scrapes: MAX_SECONDS ($MAX_SECONDS s) had passed."
awk -v s="$done_n" -v c="$((c - c0))" -v hz="$hz" -v p="$procs" -v l0="$load0" -v l1="$(cut -d' ' -f1-3 /proc/loadavg)" \
    -v cut="$cut" \
    'BEGIN { printf "\n%d scrapes of a machine of %d processes: %.0f ms of CPU per scrape on average (load average %s at the start, %s at the end, on %d CPUs); %d of the readings stopped at --deadline (solab_scan_truncated).\n", s, p, c*1000/hz/s, l0, l1, '"$(nproc)"', cut }'
