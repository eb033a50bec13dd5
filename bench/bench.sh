#!/usr/bin/env bash
# make bench: solab libs against smem -m and against the minimal pagemap reader, its peak
# memory, and its time per present page at 50/100/200/400 processes.
#
# Usage: bench/bench.sh [BIN_DIR]   (BIN_DIR holds solab, lab-host, libsolib.so and
#                                    examples/minreader; default target/release)
# Environment (bounded defaults):
#   HOSTS=200 PYTHONS=200   lab-hosts and python3 interpreters to start (each <= 1000)
#   SCALE="50 100 200 400"  process counts of the scaling series (<= HOSTS + PYTHONS)
#   ROUNDS=3 RUNS=3         hyperfine rounds (alternating the commands) and runs per round
#   RESULTS=docs/src/bench-results.md   where the results page is written
# Everything started here is killed at the end, also on failure or Ctrl-C.
set -euo pipefail

BIN=${1:-target/release}
HOSTS=${HOSTS:-200}
PYTHONS=${PYTHONS:-200}
SCALE=${SCALE:-50 100 200 400}
ROUNDS=${ROUNDS:-3}
RUNS=${RUNS:-3}
RESULTS=${RESULTS:-docs/src/bench-results.md}
SOLAB=$BIN/solab
MINREADER=$BIN/examples/minreader
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)

die() { echo "bench: $*" >&2; exit 2; }
for f in "$SOLAB" "$MINREADER" "$BIN/solab-lab-host" "$BIN/libsolib.so"; do
    [ -e "$f" ] || die "$f is missing: run make build and cargo build --release --example minreader"
done
[ "$HOSTS" -le 1000 ] && [ "$PYTHONS" -le 1000 ] || die "HOSTS and PYTHONS are bounded to 1000 each"
[ "$(id -u)" -eq 0 ] || die "run as root: solab libs compares frames only with CAP_SYS_ADMIN"

# Tools from the distribution, installed only when missing.
missing=()
command -v smem >/dev/null || missing+=(smem)
command -v hyperfine >/dev/null || missing+=(hyperfine)
[ -x /usr/bin/time ] || missing+=(time)
if [ ${#missing[@]} -gt 0 ]; then
    echo "bench: installing ${missing[*]} from the distribution"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

TMP=$(mktemp -d /tmp/solab-bench.XXXXXX)
NS=bench$$
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -f /dev/shm/*-"$NS"
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Start the processes, alternating lab-hosts and python3 so that every prefix of PIDS is a
# similar mix. Each signals readiness by writing its file.
echo "bench: starting $HOSTS lab-hosts and $PYTHONS python3 interpreters"
i=0
while [ $i -lt $HOSTS ] || [ $i -lt $PYTHONS ]; do
    if [ $i -lt $HOSTS ]; then
        SOLIB_NAMESPACE=$NS "$BIN/solab-lab-host" --lib "$BIN/libsolib.so" touch sleep:100000000 \
            >"$TMP/host.$i" </dev/null &
        PIDS+=($!)
    fi
    if [ $i -lt $PYTHONS ]; then
        "$PY" -c 'import sys, json, re, collections, decimal, time
open(sys.argv[1], "w").close()
time.sleep(1e6)' "$TMP/py.$i" </dev/null >/dev/null &
        PIDS+=($!)
    fi
    i=$((i + 1))
done
deadline=$((SECONDS + 120))
while :; do
    ready=$( (grep -l action=touch "$TMP"/host.* 2>/dev/null || true) | wc -l)
    ready=$((ready + $(ls "$TMP" | grep -c '^py\.' || true)))
    [ "$ready" -ge ${#PIDS[@]} ] && break
    [ $SECONDS -lt $deadline ] || die "only $ready of ${#PIDS[@]} processes became ready"
    sleep 0.2
done
sleep 1

mean_of() { # hyperfine JSON files, command index -> mean seconds over all runs
    "$PY" - "$@" <<'EOF'
import json, sys
idx, files = int(sys.argv[1]), sys.argv[2:]
times = [t for f in files for t in json.load(open(f))["results"][idx]["times"]]
print(sum(times) / len(times))
EOF
}

TOTAL=$(ls /proc | grep -c '^[0-9]')
echo "bench: $TOTAL processes on the machine; comparing (hyperfine, $ROUNDS alternating rounds of $RUNS runs)"
cmp=()
for r in $(seq "$ROUNDS"); do
    # Alternate the order each round so no command always runs first.
    if [ $((r % 2)) -eq 1 ]; then
        order=("$SOLAB libs --all --json" "smem -m" "$MINREADER")
    else
        order=("$MINREADER" "smem -m" "$SOLAB libs --all --json")
    fi
    hyperfine -N --style basic --warmup 1 --runs "$RUNS" --export-json "$TMP/cmp.$r.json" \
        "${order[@]}" >"$TMP/hyperfine.$r.log" 2>&1 || { cat "$TMP/hyperfine.$r.log"; die "hyperfine failed"; }
    cmp+=("$TMP/cmp.$r.json")
done
# Means by command name across rounds.
read -r T_SOLAB T_SMEM T_MIN < <("$PY" - "${cmp[@]}" <<'EOF'
import json, sys
acc = {}
for f in sys.argv[1:]:
    for res in json.load(open(f))["results"]:
        acc.setdefault(res["command"].split()[0].rsplit("/", 1)[-1] + (" libs" if "libs" in res["command"] else ""), []).extend(res["times"])
mean = lambda k: sum(acc[k]) / len(acc[k])
print(mean("solab libs"), mean("smem"), mean("minreader"))
EOF
)

# Peak memory and pages scanned, from one run.
/usr/bin/time -v "$SOLAB" libs --all --json >"$TMP/all.json" 2>"$TMP/time.log"
PEAK_KB=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$TMP/time.log")
read -r PAGES SCANNED < <("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["totals"]["all"]["resident_pages"] + d["totals"]["zero_page_mappings"], d["processes"]["scanned"])' "$TMP/all.json")
"$SOLAB" libs --all --top 12 >"$TMP/all.txt"

# Scaling: the first N of the started processes.
scale_rows=()
for n in $SCALE; do
    [ "$n" -le ${#PIDS[@]} ] || { echo "bench: skipping $n processes (only ${#PIDS[@]} started)"; continue; }
    pids="${PIDS[*]:0:$n}"
    hyperfine -N --style basic --warmup 1 --runs $((RUNS * ROUNDS)) --export-json "$TMP/scale.$n.json" \
        "$SOLAB libs --json $pids" >"$TMP/scale.$n.log" 2>&1 || { cat "$TMP/scale.$n.log"; die "hyperfine failed"; }
    t=$(mean_of 0 "$TMP/scale.$n.json")
    # shellcheck disable=SC2086
    p=$("$SOLAB" libs --json $pids | "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(d["totals"]["all"]["resident_pages"] + d["totals"]["zero_page_mappings"])')
    scale_rows+=("$n $t $p")
done

CPU=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
MEM=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
mkdir -p "$(dirname "$RESULTS")"
"$PY" - "$RESULTS" "$T_SOLAB" "$T_SMEM" "$T_MIN" "$PEAK_KB" "$PAGES" "$SCANNED" "$TOTAL" \
    "$HOSTS" "$PYTHONS" "$ROUNDS" "$RUNS" "$(uname -r)" "$(nproc)" "$CPU" "$MEM" "$COMMIT" \
    "$(hyperfine --version)" "$(dpkg-query -W -f='${Version}' smem 2>/dev/null || echo '?')" \
    "$TMP/all.txt" "${scale_rows[@]}" <<'EOF'
import sys, datetime
(out, t_solab, t_smem, t_min, peak_kb, pages, scanned, total, hosts, pythons, rounds, runs,
 kernel, cores, cpu, mem, commit, hf, smem_v, table) = sys.argv[1:21]
scale = [r.split() for r in sys.argv[21:]]
t_solab, t_smem, t_min = float(t_solab), float(t_smem), float(t_min)
peak_mib, pages = int(peak_kb) / 1024, int(pages)
per_m = peak_mib / (pages / 1e6)
speedup, floor = t_smem / t_solab, t_solab / t_min
lines = [
    "# Benchmark: `solab libs`",
    "",
    "Written by `make bench` (bench/bench.sh); do not edit by hand. It starts lab-hosts and",
    "python3 interpreters, then times `solab libs --all --json` against `smem -m` and against",
    "a minimal reader that only reads every maps file and preads pagemap for every mapping",
    "(bench/minreader.rs), with hyperfine, alternating the commands over rounds.",
    "",
    "## Machine",
    "",
    f"- {cpu}, {cores} cores, {mem} RAM, Linux {kernel}",
    f"- {total} processes on the machine during the run ({hosts} lab-hosts and {pythons} python3 started by the bench), {scanned} with a memory map scanned",
    f"- solab commit {commit}; {hf}; smem {smem_v}",
    f"- {rounds} rounds x {runs} runs per command, {datetime.date.today().isoformat()}",
    "",
    "## Whole machine",
    "",
    "| command | mean time | ratio |",
    "|---|---:|---:|",
    f"| `solab libs --all --json` | {t_solab*1000:.0f} ms | 1 |",
    f"| `smem -m` | {t_smem*1000:.0f} ms | {speedup:.1f}x slower (solab is {speedup:.1f}x faster) |",
    f"| minimal reader (maps + pagemap only) | {t_min*1000:.0f} ms | solab takes {floor:.2f}x its time |",
    "",
    f"- Present pages scanned (summed over processes): {pages:,}",
    f"- Peak memory of `solab libs --all`: {peak_mib:.1f} MiB, that is {per_m:.1f} MiB per million present pages",
    "",
    "## Time per present page",
    "",
    "`solab libs --json PID...` over the first N processes the bench started (half lab-hosts,",
    "half python3):",
    "",
    "| processes | mean time | present pages | time per page |",
    "|---:|---:|---:|---:|",
]
for n, t, p in scale:
    t, p = float(t), int(p)
    lines.append(f"| {n} | {t*1000:.1f} ms | {p:,} | {t/p*1e9:.0f} ns |")
lines += ["", "## The output it timed", "", "```text", "$ solab libs --all --top 12"]
lines += open(table).read().rstrip("\n").split("\n")
lines += ["```", ""]
open(out, "w").write("\n".join(lines))
print(f"solab libs --all: {t_solab*1000:.0f} ms; smem -m: {t_smem*1000:.0f} ms -> {speedup:.1f}x faster than smem")
print(f"minimal reader: {t_min*1000:.0f} ms -> solab takes {floor:.2f}x the floor")
print(f"peak memory: {peak_mib:.1f} MiB for {pages:,} present pages -> {per_m:.1f} MiB per million pages")
for n, t, p in scale:
    print(f"{n:>4} processes: {float(t)*1000:.1f} ms, {int(p):,} pages, {float(t)/int(p)*1e9:.0f} ns per page")
print(f"written to {out}")
EOF
