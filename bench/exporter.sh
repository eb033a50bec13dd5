#!/usr/bin/env bash
# make bench, solab exporter: CPU per scrape and resident memory as the scrapes go on.
# Starts `solab exporter --listen 127.0.0.1:0 --min-interval 0` (every scrape a new scan of
# the whole machine, with the default --groups and --libs) and scrapes it SCRAPES times
# with curl, one after the other; prints a Markdown table of the exporter's RSS (VmRSS)
# after each tenth of the scrapes, its peak (VmHWM) and its CPU time (utime + stime of
# /proc/PID/stat) per scrape.
# Usage: bench/exporter.sh SOLAB [SCRAPES]   (SCRAPES=1000 by default)
set -euo pipefail
SOLAB=$1
SCRAPES=${2:-1000}
[ "$SCRAPES" -ge 10 ] || { echo "bench/exporter.sh: SCRAPES must be at least 10" >&2; exit 2; }
OUT=$(mktemp /tmp/solab-bench-exporter.XXXXXX)
"$SOLAB" exporter --listen 127.0.0.1:0 --min-interval 0 >"$OUT" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$OUT"' EXIT
for _ in $(seq 100); do grep -q serving "$OUT" && break; sleep 0.1; done
addr=$(sed -n 's#.*serving http://\(.*\)/metrics#\1#p' "$OUT")
[ -n "$addr" ] || { echo "bench/exporter.sh: the exporter did not start" >&2; exit 2; }
hz=$(getconf CLK_TCK)
kib() { awk -v k="$1:" '$1 == k { print $2 }' /proc/"$pid"/status; }
cpu() { awk '{ print $14 + $15 }' /proc/"$pid"/stat; }
echo "| scrapes | RSS | peak RSS | CPU per scrape (this tenth) | wall per scrape |"
echo "|---:|---:|---:|---:|---:|"
c0=$(cpu); t0=$(date +%s.%N); step=$((SCRAPES / 10)); last_c=$c0; last_t=$t0
for i in $(seq "$SCRAPES"); do
    curl -sf -o /dev/null --max-time 300 "http://$addr/metrics" || { echo "bench/exporter.sh: scrape $i failed" >&2; exit 2; }
    if [ $((i % step)) -eq 0 ] || [ "$i" -eq 1 ]; then
        n=$(( i == 1 ? 1 : step )); c=$(cpu); t=$(date +%s.%N)
        awk -v i="$i" -v r="$(kib VmRSS)" -v h="$(kib VmHWM)" -v c="$((c - last_c))" -v hz="$hz" \
            -v n="$n" -v w="$(echo "$t - $last_t" | bc)" \
            'BEGIN { printf "| %d | %.1f MiB | %.1f MiB | %.0f ms | %.0f ms |\n", i, r/1024, h/1024, c*1000/hz/n, w*1000/n }'
        last_c=$c; last_t=$t
    fi
done
c=$(cpu)
awk -v s="$SCRAPES" -v c="$((c - c0))" -v hz="$hz" -v p="$(ls /proc | grep -c '^[0-9]')" \
    'BEGIN { printf "\n%d scrapes of a machine of %d processes: %.0f ms of CPU per scrape on average.\n", s, p, c*1000/hz/s }'
