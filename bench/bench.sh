#!/usr/bin/env bash
# make bench: solab libs and solab ps against smem and against the minimal pagemap readers
# (one thread and a pool of nproc threads), time per present page and peak memory as the
# number of processes grows, and solab family on a parent with forked children.
#
# Usage: bench/bench.sh [BIN_DIR]   (BIN_DIR holds solab, solab-lab-host, libsolib.so,
#                                    bench-family and examples/minreader; default
#                                    target/release)
# Environment (bounded defaults; a plain run takes a few minutes):
#   HOSTS=200 PYTHONS=200   lab-hosts and python3 interpreters to start (each <= 1000;
#                           HOSTS=1000 PYTHONS=1000 is the 2,000-process run)
#   SCALE="100 200 400"     process counts of the scaling series (default: those of
#                           100 200 400 1000 2000 that were started, and all of them)
#   ROUNDS=5 RUNS=2         hyperfine rounds (the order of the commands alternates from one
#                           round to the next) and runs per command per round
#   FAMILY_RUNS=1           runs per round of solab family (seconds each at 16 GiB)
#   FAMILY_GIB=1 FAMILY_CHILDREN=16   the family bench: GiB the parent writes before it
#                           forks, and its children (0 GiB skips the family bench)
#   INSPECT="50 200"        solab inspect --json over the first N processes, for its peak
#                           memory (empty skips it)
#   COW_MIB=32 COW_ROUNDS=10 COW_REPEATS=3   the --record overhead: bench/cow-workload.c
#                           forks COW_ROUNDS children that each rewrite COW_MIB MiB inherited,
#                           timed COW_REPEATS times alone and under solab family --record
#                           (COW_REPEATS=0 skips it)
#   TOP_TABLES=10 TOP_PROCS=2000   solab top -n TOP_TABLES -d 1 over the whole machine,
#                           its CPU time per table and peak RSS under /usr/bin/time, on the
#                           machine as the bench left it, then topped up to TOP_PROCS
#                           processes by bench/sleepers.c's children (bench/top.sh; each
#                           <= 4000; TOP_TABLES=0 skips it)
#   SCRAPES=1000            scrapes of solab exporter --min-interval 0, for its CPU per
#                           scrape and resident memory (0 skips it); bench/exporter.sh stops
#                           after MAX_SECONDS (1800) and says so
#   PERF=1                  profile solab libs and ps --all with perf, when perf works
#   RESULTS=docs/src/bench-results.md   where the results page is written, TITLE its title
#                           (docs/src/bench-results-2000.md is the HOSTS=1000 PYTHONS=1000 run,
#                           ROUNDS=5 FAMILY_GIB=0 INSPECT="" TITLE="Benchmark results at 2,000
#                           processes"; fewer rounds are noisy at that size here)
# Everything started here is killed at the end, also on failure or Ctrl-C.
set -euo pipefail

BIN=${1:-target/release}
HOSTS=${HOSTS:-200}
PYTHONS=${PYTHONS:-200}
ROUNDS=${ROUNDS:-5}
RUNS=${RUNS:-2}
FAMILY_RUNS=${FAMILY_RUNS:-1}
FAMILY_GIB=${FAMILY_GIB:-1}
FAMILY_CHILDREN=${FAMILY_CHILDREN:-16}
INSPECT=${INSPECT-50 200}
RESULTS=${RESULTS:-docs/src/bench-results.md}
SOLAB=$BIN/solab
MINREADER=$BIN/examples/minreader
FAMILY=$BIN/bench-family
COW=$BIN/bench-cow-workload
SLEEPERS=$BIN/bench-sleepers
COW_MIB=${COW_MIB:-32}
COW_ROUNDS=${COW_ROUNDS:-10}
COW_REPEATS=${COW_REPEATS:-3}
TOP_TABLES=${TOP_TABLES:-10}
TOP_PROCS=${TOP_PROCS:-2000}
SCRAPES=${SCRAPES:-1000}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
HERE=$(cd "$(dirname "$0")" && pwd)

die() { echo "bench: $*" >&2; exit 2; }
for f in "$SOLAB" "$MINREADER" "$FAMILY" "$COW" "$SLEEPERS" "$BIN/solab-lab-host" "$BIN/libsolib.so"; do
    [ -e "$f" ] || die "$f is missing: run make bench (it builds them)"
done
[ "$HOSTS" -le 1000 ] && [ "$PYTHONS" -le 1000 ] || die "HOSTS and PYTHONS are bounded to 1000 each"
[ "$FAMILY_CHILDREN" -le 64 ] || die "FAMILY_CHILDREN is bounded to 64"
[ "$FAMILY_GIB" -le 4 ] || die "FAMILY_GIB is bounded to 4"
[ "$TOP_TABLES" -le 600 ] && [ "$TOP_PROCS" -le 4000 ] || die "TOP_TABLES is bounded to 600, TOP_PROCS to 4000"
[ "$COW_MIB" -le 1024 ] && [ "$COW_ROUNDS" -le 1000 ] && [ "$COW_REPEATS" -le 20 ] || die "COW_MIB <= 1024, COW_ROUNDS <= 1000, COW_REPEATS <= 20"
[ "$(id -u)" -eq 0 ] || die "run as root: solab compares frames only with CAP_SYS_ADMIN"
"$SOLAB" ps --help >/dev/null 2>&1 || die "$SOLAB has no ps command"

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
FAMS=()
cleanup() {
    local p c
    # A family parent kills and reaps its children on SIGTERM; then it is killed for sure,
    # its children by pid too (they also die with it: PR_SET_PDEATHSIG).
    for p in "${FAMS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${FAMS[@]}"; do
        for _ in 1 2 3 4 5 6 7 8 9 10; do [ -d /proc/"$p"/task ] && [ "$(cut -d' ' -f3 /proc/"$p"/stat 2>/dev/null)" != Z ] || break; sleep 0.1; done
        for c in $(cat /proc/"$p"/task/"$p"/children 2>/dev/null); do kill -9 "$c" 2>/dev/null || true; done
        kill -9 "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    for p in "${FAMS[@]}" "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -f /dev/shm/*-"$NS"
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# solab's pool is available_parallelism; nproc is the same count on this machine (both
# follow the CPU affinity). The parallel reader gets the same pool.
P=$(nproc)
# --threads exists once the parallel scan has landed: then solab also runs with one thread.
THREADS1=()
if "$SOLAB" libs --help 2>/dev/null | grep -q -- '--threads'; then THREADS1+=(libs); fi
if "$SOLAB" ps --help 2>/dev/null | grep -q -- '--threads'; then THREADS1+=(ps); fi
has_threads() { [[ " ${THREADS1[*]} " == *" $1 "* ]]; }

# The manifest tells report.py what each measurement is: TAB-separated lines.
#   time TAG LABEL COMMAND       hyperfine results of COMMAND in $TMP/TAG.*.json
#   mem  TAG LABEL COMMAND       /usr/bin/time -v of COMMAND in $TMP/mem.TAG.LABEL
#   pages TAG N                  minreader's counts over the processes of TAG in $TMP/pages.TAG
#   set KEY VALUE                a fact for the page
MANIFEST=$TMP/manifest
: >"$MANIFEST"
fact() { printf 'set\t%s\t%s\n' "$1" "$2" >>"$MANIFEST"; }

# time TAG LABEL=COMMAND...: ROUNDS hyperfine rounds, the order reversed every other round.
time_group() {
    local tag=$1 r i
    shift
    local labels=() cmds=()
    for a in "$@"; do labels+=("${a%%=*}"); cmds+=("${a#*=}"); done
    for i in "${!cmds[@]}"; do
        printf 'time\t%s\t%s\t%s\n' "$tag" "${labels[$i]}" "${cmds[$i]}" >>"$MANIFEST"
    done
    for r in $(seq "$ROUNDS"); do
        local order=()
        if [ $((r % 2)) -eq 1 ]; then
            order=("${cmds[@]}")
        else
            for ((i = ${#cmds[@]} - 1; i >= 0; i--)); do order+=("${cmds[$i]}"); done
        fi
        # One warm-up run per command before the first round only: the page cache and
        # dentries are warm for the rounds after it.
        hyperfine -N --style basic --warmup $((r == 1 ? 1 : 0)) --runs "$RUNS" --export-json "$TMP/$tag.$r.json" \
            "${order[@]}" >"$TMP/$tag.$r.log" 2>&1 || { cat "$TMP/$tag.$r.log"; die "hyperfine failed ($tag)"; }
    done
}

# mem TAG LABEL COMMAND...: one run under /usr/bin/time -v, stdout discarded.
mem() {
    local tag=$1 label=$2
    shift 2
    printf 'mem\t%s\t%s\t%s\n' "$tag" "$label" "$*" >>"$MANIFEST"
    /usr/bin/time -v "$@" >/dev/null 2>"$TMP/mem.$tag.$label" || {
        cat "$TMP/mem.$tag.$label"
        die "$* failed"
    }
}

fact started_at "$(date -u '+%Y-%m-%d %H:%M UTC')"
fact loadavg_start "$(cut -d' ' -f1-3 /proc/loadavg)"
fact threads "$P"
fact title "${TITLE:-Benchmark results}"
fact rounds "$ROUNDS"
fact runs "$RUNS"
fact family_runs "$FAMILY_RUNS"
fact threads1 "${THREADS1[*]:-}"

# Start the processes, alternating lab-hosts and python3 so that every prefix of PIDS is a
# similar mix. Each signals readiness by writing its file.
echo "bench: starting $HOSTS lab-hosts and $PYTHONS python3 interpreters"
i=0
while [ $i -lt "$HOSTS" ] || [ $i -lt "$PYTHONS" ]; do
    if [ $i -lt "$HOSTS" ]; then
        SOLIB_NAMESPACE=$NS "$BIN/solab-lab-host" --lib "$BIN/libsolib.so" touch sleep:100000000 \
            >"$TMP/host.$i" </dev/null &
        PIDS+=($!)
    fi
    if [ $i -lt "$PYTHONS" ]; then
        "$PY" -c 'import sys, json, re, collections, decimal, time
open(sys.argv[1], "w").close()
time.sleep(1e6)' "$TMP/py.$i" </dev/null >/dev/null &
        PIDS+=($!)
    fi
    i=$((i + 1))
done
deadline=$((SECONDS + 120 + ${#PIDS[@]} / 4))
while :; do
    ready=$( (grep -l action=touch "$TMP"/host.* 2>/dev/null || true) | wc -l)
    ready=$((ready + $(ls "$TMP" | grep -c '^py\.' || true)))
    [ "$ready" -ge ${#PIDS[@]} ] && break
    [ $SECONDS -lt $deadline ] || die "only $ready of ${#PIDS[@]} processes became ready"
    sleep 0.5
done
sleep 1
N=${#PIDS[@]}
if [ -z "${SCALE:-}" ]; then
    SCALE=""
    for n in 100 200 400 1000 2000; do [ "$n" -le "$N" ] && SCALE="$SCALE $n"; done
    [[ " $SCALE " == *" $N "* ]] || SCALE="$SCALE $N"
fi
fact hosts "$HOSTS"
fact pythons "$PYTHONS"
fact processes "$(ls /proc | grep -c '^[0-9]')"

# 1. The whole machine: libs and ps against smem and the minimal readers.
echo "bench: the whole machine ($(ls /proc | grep -c '^[0-9]') processes), $ROUNDS rounds of $RUNS runs"
"$MINREADER" >"$TMP/pages.machine"
printf 'pages\tmachine\t%s\n' "$(ls /proc | grep -c '^[0-9]')" >>"$MANIFEST"
cmds=("solab libs=$SOLAB libs --all --json" "solab ps=$SOLAB ps --all --json")
# Reported, not judged: the table reads neither cgroup nor the mount namespace (JSON does).
cmds+=("solab ps table=$SOLAB ps --all")
has_threads libs && cmds+=("solab libs --threads 1=$SOLAB libs --all --json --threads 1")
has_threads ps && cmds+=("solab ps --threads 1=$SOLAB ps --all --json --threads 1")
cmds+=("smem -m=smem -m" "smem=smem" "minreader=$MINREADER" "minreader parallel=$MINREADER --threads $P")
# Not the floor: the same reads with one pread per run of adjacent mappings, as solab does.
cmds+=("minreader coalesced=$MINREADER --coalesce" "minreader coalesced parallel=$MINREADER --coalesce --threads $P")
time_group machine "${cmds[@]}"
mem machine "solab libs" "$SOLAB" libs --all --json
mem machine "solab ps" "$SOLAB" ps --all --json
has_threads libs && mem machine "solab libs --threads 1" "$SOLAB" libs --all --json --threads 1
has_threads ps && mem machine "solab ps --threads 1" "$SOLAB" ps --all --json --threads 1
"$SOLAB" libs --all --json >"$TMP/libs-all.json"
"$SOLAB" libs --all --top 12 >"$TMP/libs-all.txt"

# The live view: solab top refreshing every second over the whole machine, as an SRE
# leaves it running, on the machine as it is and on 2,000 processes (bench/top.sh).
if [ "$TOP_TABLES" -gt 0 ]; then
    echo "bench: solab top -n $TOP_TABLES -d 1 over the whole machine, then over $TOP_PROCS processes"
    "$HERE/top.sh" "$SOLAB" "$SLEEPERS" "$TOP_PROCS" "$TOP_TABLES" >"$TMP/top.md"
    printf 'top\t%s\t%s\n' "$TOP_TABLES" "$TMP/top.md" >>"$MANIFEST"
fi

# Where the time goes: perf over a few runs of each command on the whole machine.
if [ "${PERF:-1}" != 0 ] && command -v perf >/dev/null; then
    for c in libs ps; do
        if perf record -q -F 2999 -o "$TMP/perf.$c.data" -- \
            bash -c 'for i in 1 2 3 4 5; do "$0" "$1" --all --json >/dev/null; done' "$SOLAB" "$c" \
            >/dev/null 2>"$TMP/perf.$c.log"; then
            perf report -i "$TMP/perf.$c.data" --no-children --sort comm,dso --stdio \
                >"$TMP/perf.$c.dso" 2>/dev/null
            perf report -i "$TMP/perf.$c.data" --no-children --sort comm,dso,sym --stdio \
                >"$TMP/perf.$c.sym" 2>/dev/null
            printf 'perf\t%s\t%s\n' "$c" "perf record -F 2999 -- solab $c --all --json (5 runs)" >>"$MANIFEST"
        else
            echo "bench: perf record failed, no profile of solab $c: $(tail -1 "$TMP/perf.$c.log")"
        fi
    done
fi

# 2. Scaling: the first N of the started processes, given by pid.
for n in $SCALE; do
    [ "$n" -le "$N" ] || { echo "bench: skipping $n processes (only $N started)"; continue; }
    echo "bench: $n processes"
    pids=("${PIDS[@]:0:$n}")
    "$MINREADER" "${pids[@]}" >"$TMP/pages.scale$n"
    printf 'pages\tscale%s\t%s\n' "$n" "$n" >>"$MANIFEST"
    cmds=("solab libs=$SOLAB libs --json ${pids[*]}" "solab ps=$SOLAB ps --json ${pids[*]}")
    has_threads libs && cmds+=("solab libs --threads 1=$SOLAB libs --json --threads 1 ${pids[*]}")
    has_threads ps && cmds+=("solab ps --threads 1=$SOLAB ps --json --threads 1 ${pids[*]}")
    cmds+=("minreader=$MINREADER ${pids[*]}" "minreader parallel=$MINREADER --threads $P ${pids[*]}")
    time_group "scale$n" "${cmds[@]}"
    mem "scale$n" "solab libs" "$SOLAB" libs --json "${pids[@]}"
    mem "scale$n" "solab ps" "$SOLAB" ps --json "${pids[@]}"
done

# 3. solab inspect --json over the first N processes: does its peak memory grow with the
# document it prints?
for n in $INSPECT; do
    [ "$n" -le "$N" ] || continue
    echo "bench: solab inspect --json over $n processes"
    pids=("${PIDS[@]:0:$n}")
    "$MINREADER" "${pids[@]}" >"$TMP/pages.inspect$n"
    printf 'pages\tinspect%s\t%s\n' "$n" "$n" >>"$MANIFEST"
    mem "inspect$n" "solab inspect" "$SOLAB" inspect --json "${pids[@]}"
    "$SOLAB" inspect --json "${pids[@]}" | wc -c >"$TMP/bytes.inspect$n"
done
fact loadavg_end_scans "$(cut -d' ' -f1-3 /proc/loadavg)"

# 4. solab family: a parent that wrote FAMILY_GIB GiB before forking FAMILY_CHILDREN
# children, against one child, and against a quarter of the memory. All three families
# live at once so that the rounds alternate between them.
if [ "$FAMILY_GIB" -gt 0 ]; then
    big=$((FAMILY_GIB * 1024))
    small=$((big / 4))
    echo "bench: families of ${big} MiB x 1 child, ${big} MiB x $FAMILY_CHILDREN, ${small} MiB x $FAMILY_CHILDREN"
    fams=("$big 1" "$big $FAMILY_CHILDREN" "$small $FAMILY_CHILDREN")
    cmds=()
    for f in "${fams[@]}"; do
        read -r mib kids <<<"$f"
        "$FAMILY" "$mib" "$kids" "$TMP/family.$mib.$kids" </dev/null >/dev/null &
        FAMS+=($!)
        deadline=$((SECONDS + 120))
        until [ -e "$TMP/family.$mib.$kids" ]; do
            kill -0 "${FAMS[-1]}" 2>/dev/null || die "bench-family $mib $kids exited"
            [ $SECONDS -lt $deadline ] || die "bench-family $mib $kids did not become ready"
            sleep 0.2
        done
        cmds+=("family ${mib} MiB x ${kids}=$SOLAB family ${FAMS[-1]} --json")
    done
    RUNS=$FAMILY_RUNS time_group family "${cmds[@]}"
    for i in "${!fams[@]}"; do
        read -r mib kids <<<"${fams[$i]}"
        mem family "family ${mib} MiB x ${kids}" "$SOLAB" family "${FAMS[$i]}" --json
        "$SOLAB" family "${FAMS[$i]}" --json >"$TMP/family-$mib-$kids.json"
        printf 'family\t%s\t%s\t%s\n' "$mib" "$kids" "$TMP/family-$mib-$kids.json" >>"$MANIFEST"
    done
fi
# 5. The cost of solab family --record to what it records: the fork-heavy workload timed by
# itself, alone and with the recording attached before it starts (alternating), each run
# with its own GO file. The recording is ended with SIGINT (as Ctrl-C) once the workload has
# written its time, and the workload exits once its GO file is removed after that.
cow_run() {
    local mode=$1 i=$2 go=$TMP/cow.go.$1.$2 out=$TMP/cow.$1.$2 pid rec=
    "$COW" "$COW_MIB" "$COW_ROUNDS" "$go" "$out" </dev/null &
    pid=$!
    PIDS+=("$pid")
    if [ "$mode" = record ]; then
        "$SOLAB" family --record 600 "$pid" --json >"$TMP/cow.record.$i.json" 2>"$TMP/cow.record.$i.err" &
        rec=$!
        PIDS+=("$rec")
        local deadline=$((SECONDS + 60))
        until grep -q "recording the page faults" "$TMP/cow.record.$i.err" 2>/dev/null; do
            kill -0 "$rec" 2>/dev/null || { cat "$TMP/cow.record.$i.err"; die "solab family --record exited"; }
            [ $SECONDS -lt $deadline ] || die "solab family --record did not start"
            sleep 0.05
        done
    fi
    touch "$go"
    until [ -s "$out" ]; do
        kill -0 "$pid" 2>/dev/null || die "bench-cow-workload exited"
        sleep 0.05
    done
    if [ -n "$rec" ]; then
        kill -INT "$rec"
        wait "$rec" || true
    fi
    rm -f "$go"
    wait "$pid" || die "bench-cow-workload failed"
    if [ -n "$rec" ]; then
        printf 'cowrec\t%s\n' "$TMP/cow.record.$i.json" >>"$MANIFEST"
    fi
    printf 'cow\t%s\t%s\n' "$mode" "$(cat "$out")" >>"$MANIFEST"
}
if [ "$COW_REPEATS" -gt 0 ]; then
    echo "bench: --record overhead, $COW_ROUNDS children rewriting $COW_MIB MiB, $COW_REPEATS times each way"
    fact cow_mib "$COW_MIB"
    fact cow_rounds "$COW_ROUNDS"
    for i in $(seq "$COW_REPEATS"); do
        if [ $((i % 2)) -eq 1 ]; then cow_run plain "$i"; cow_run record "$i"
        else cow_run record "$i"; cow_run plain "$i"; fi
    done
fi
# 6. solab exporter: CPU per scrape and resident memory over SCRAPES scrapes, each a new
# scan of the whole machine (with the processes started above).
if [ "$SCRAPES" -gt 0 ]; then
    echo "bench: solab exporter, $SCRAPES scrapes"
    "$HERE/exporter.sh" "$SOLAB" "$SCRAPES" >"$TMP/exporter.md"
    printf 'exporter\t%s\n' "$TMP/exporter.md" >>"$MANIFEST"
fi
fact loadavg_end "$(cut -d' ' -f1-3 /proc/loadavg)"
fact commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src bench 2>/dev/null || echo ' (with local changes)')"
fact bin "$BIN"

mkdir -p "$(dirname "$RESULTS")"
"$PY" "$HERE/report.py" "$TMP" "$RESULTS"
