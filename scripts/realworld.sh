#!/usr/bin/env bash
# solab against real pre-fork servers from Debian's packages (and gunicorn from PyPI):
# PostgreSQL, Redis during a BGSAVE, Apache with mpm_prefork, gunicorn --preload. Each is
# started on 127.0.0.1 (a free port) with a configuration and data directory of its own in
# a temporary directory, measured, and stopped. Per server it prints solab's ps figures
# beside the kernel's /proc/PID/smaps_rollup (read just before and just after solab's ps),
# the differences, `solab family` of the server's root process and `solab prove`'s
# verdicts. Needs root (apt-get, initdb as postgres, kpagecount).
#
#   scripts/realworld.sh OUT TARGET      (make realworld: OUT=target/release TARGET=target)
#   SERVERS="redis apache" scripts/realworld.sh ...     only some of them
#
# The raw outputs (ps/family/prove JSON and text, the smaps_rollup readings, the report)
# stay in TARGET/realworld/NAME/; gunicorn's venv stays in TARGET/realworld-venv.
set -euo pipefail

out=${1:-target/release}
target=${2:-target}
servers=${SERVERS:-postgres redis apache gunicorn}
solab=$(realpath "$out/solab")
for s in $servers; do
    case "$s" in
        postgres|redis|apache|gunicorn) ;;
        *) echo "realworld: unknown server $s (postgres, redis, apache, gunicorn)" >&2; exit 2 ;;
    esac
done
[ -x "$solab" ] || { echo "realworld: no $out/solab: run make build first" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "realworld: needs root (apt-get, initdb as postgres, kpagecount)" >&2; exit 2; }
report=$(realpath -m "$target/realworld")
venv=$(realpath -m "$target/realworld-venv")
mkdir -p "$report"

# ---- packages ------------------------------------------------------------------------
need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v pgbench >/dev/null || need+=(postgresql-contrib)
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-cli >/dev/null || need+=(redis-tools)
[ -x /usr/sbin/apache2 ] || need+=(apache2)
command -v curl >/dev/null || need+=(curl)
/usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
    echo "== apt-get install ${need[*]}"
    # Debian starts a package's service after installing it unless policy-rc.d says no;
    # nothing here needs those services (each server below runs with its own config).
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ ! -x "$venv/bin/gunicorn" ]; then
    echo "== python3 -m venv $venv; pip install gunicorn"
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install -q gunicorn
fi

# ---- cleanup: every server stopped, the temporary directory removed, even on failure ----
tmp=$(mktemp -d /tmp/solab-realworld.XXXXXX)
chmod 755 "$tmp"            # the servers' users (postgres, www-data) go through it
pgdata="" pgbin=""          # set once PostgreSQL is initialised
kids=()                     # pids of servers started as children of this shell
fds=()                      # psql sessions held open through a fifo each
cleanup() {
    local rc=$? pid fd
    set +e
    trap - EXIT INT TERM
    for fd in "${fds[@]}"; do exec {fd}>&-; done
    if [ -n "$pgdata" ] && [ -f "$pgdata/postmaster.pid" ]; then
        runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdata" -m immediate -w -t 20 stop >/dev/null 2>&1 \
            || kill -KILL "$(head -1 "$pgdata/postmaster.pid")" 2>/dev/null
    fi
    for pid in "${kids[@]}"; do kill -TERM "$pid" 2>/dev/null; kill -CONT "$pid" 2>/dev/null; done
    for pid in "${kids[@]}"; do
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    # A worker whose master was killed (never expected) is found by its working directory.
    for pid in /proc/[0-9]*; do
        case "$(readlink "$pid/cwd" 2>/dev/null)" in "$tmp"*) kill -KILL "${pid#/proc/}" 2>/dev/null;; esac
    done
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# until COMMAND succeeds, at most SECONDS; else fail naming WHAT
await() {
    local what=$1 seconds=$2 i
    shift 2
    for i in $(seq 1 $((seconds * 10))); do "$@" && return 0; sleep 0.1; done
    echo "realworld: $what did not happen within $seconds s" >&2
    return 1
}

# PID N: PID has exactly N children (its main thread's: the servers below fork from it)
children_are() {
    local kids_of=()
    read -r -a kids_of <"/proc/$1/task/$1/children" || true
    [ "${#kids_of[@]}" -eq "$2" ]
}

# the array `pids`: ROOT and every descendant, ROOT first, parents before children (read
# with builtins, as rollup below)
tree() {
    local i=0 task kids_of
    pids=("$1")
    while [ "$i" -lt "${#pids[@]}" ]; do
        for task in /proc/"${pids[$i]}"/task/*; do
            # The list ends without a newline, so read returns 1 even when it read a line.
            kids_of=()
            read -r -a kids_of <"$task/children" 2>/dev/null || true
            pids+=("${kids_of[@]}")
        done
        i=$((i + 1))
    done
}

# FILE PID...: each process's smaps_rollup, read with shell builtins only: no process is
# started, so nothing new maps libc while the kernel counts its mappings (a `cat` would add
# one mapping of every frame of libc's text to each mapcount, and so lower every PSS).
rollup() {
    local f=$1 pid line
    shift
    {
        for pid; do
            echo "pid $pid"
            while IFS= read -r line; do echo "$line"; done <"/proc/$pid/smaps_rollup" || echo "unreadable"
        done
    } >"$f"
}

# NAME ROOT OBJECT...: measure the server whose root process is ROOT; prove each OBJECT.
measure() {
    local name=$1 root=$2 d="$report/$1" t0 t1 obj i=0 rc
    shift 2
    rm -rf "$d"
    mkdir -p "$d"
    local pids
    tree "$root"
    echo "${pids[*]}" >"$d/pids"
    : >"$d/timings"
    t0=$EPOCHREALTIME
    rollup "$d/rollup-before" "${pids[@]}"
    "$solab" ps --json "${pids[@]}" >"$d/ps.json" || true
    rollup "$d/rollup-after" "${pids[@]}"
    t1=$EPOCHREALTIME
    echo "ps+rollups $t0 $t1" >>"$d/timings"
    # What each process is (PostgreSQL and gunicorn name their processes in argv).
    local pid arg args
    for pid in "${pids[@]}"; do
        args=()
        while IFS= read -r -d '' arg; do args+=("$arg"); done <"/proc/$pid/cmdline" || true
        echo "$pid ${args[*]}"
    done >"$d/cmdlines"
    "$solab" family --json "$root" >"$d/family.json" || true
    t0=$EPOCHREALTIME
    echo "family $t1 $t0" >>"$d/timings"
    for obj; do
        i=$((i + 1))
        rc=0
        "$solab" prove --no-color -o "$obj" "${pids[@]}" >"$d/prove-$i.txt" 2>&1 || rc=$?
        echo "$obj" >"$d/prove-$i.object"
        echo "$rc" >"$d/prove-$i.rc"
    done
    t1=$EPOCHREALTIME
    echo "prove $t0 $t1" >>"$d/timings"
    /usr/bin/python3 "$tmp/table.py" "$name" "$d" | tee "$d/report.txt"
}

# The report of one server, from the files measure() left in its directory.
cat >"$tmp/table.py" <<'PY'
import json, os, sys

name, d = sys.argv[1], sys.argv[2]
KB = 1024

def rollups(path):
    out, pid = {}, None
    for line in open(path):
        if line.startswith("pid "):
            pid = int(line.split()[1]); out[pid] = {}
        elif line.strip() == "unreadable":
            out[pid] = None
        elif line.endswith("kB\n"):
            key, val = line.split(":", 1)
            out[pid][key] = int(val.split()[0])
    return out

def kernel(r):
    return None if r is None else {"rss": r["Rss"], "pss": r["Pss"],
        "uss": r["Private_Clean"] + r["Private_Dirty"], "swap": r["Swap"],
        "swap_pss": r.get("SwapPss", 0)}

# solab's figures by the kernel's names: SWAP (swap_pss) is SwapPss, SWAP in full swap.
FIGURES = ("rss", "pss", "uss", "swap", "swap_pss")

before = rollups(os.path.join(d, "rollup-before"))
after = rollups(os.path.join(d, "rollup-after"))
def document(file, schema):
    text = open(os.path.join(d, file)).read()
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if not doc or doc.get("schema") != schema:
        print("== %s: solab did not give %s in %s: %s" % (name, schema, file, text[:2000]))
        sys.exit(1)
    return doc

ps = document("ps.json", "solab.ps.v2")
fam = document("family.json", "solab.family.v2")
rows = {p["pid"]: p for p in ps.get("processes", [])}
pids = [int(p) for p in open(os.path.join(d, "pids")).read().split()]
cmdline = {}
for line in open(os.path.join(d, "cmdlines"), errors="replace"):
    pid, _, args = line.rstrip("\n").partition(" ")
    first, _, rest = args.partition(" ")
    cmdline[int(pid)] = (os.path.basename(first) + " " + rest).strip()

print("== %s: %d processes, root %d (solab ps: source %s)" % (
    name, len(pids), pids[0], ps.get("source")))
for e in ps.get("errors", []):
    print("   solab ps error: %s" % json.dumps(e))
print("   kB; k = smaps_rollup (b>a: it moved between the readings before and after solab ps);"
      " d = solab - k (in/out: solab's figure within the two readings or not);"
      " swap: solab's swap (in full) and SWAP (swap_pss, proportional)")
hdr = "%7s %-22s %10s %10s %6s | %10s %10s %6s | %10s %10s %6s | %6s %6s %4s | %8s %8s %6s"
print(hdr % ("PID", "COMMAND", "RSS", "k Rss", "d", "PSS", "k Pss", "d", "USS", "k Private", "d",
             "swap", "k Swap", "d", "SWAP", "k SwapPss", "d"))
tot = {k: [0.0, 0, 0] for k in FIGURES}
moved = []
off = []      # (pid, figure, solab, kernel): a difference that rounding does not explain
def agrees(k, diff):
    # RSS, USS and swap are whole pages on both sides: equal. smaps_rollup's Pss is the sum
    # of PAGE_SIZE << 12 / mapcount per page (each quotient truncated), shifted down to
    # bytes and then to kB, so it is below the exact share by less than 1 kB, or by exactly
    # 1 kB when the exact share is a whole number of kB (the truncation takes it just under).
    # SwapPss is summed and truncated the same way; solab's SWAP adds shared memory in swap
    # (which SwapPss leaves out: reference.md), so it may be above by that.
    return diff == 0 if k not in ("pss", "swap_pss") else -0.05 < diff < 1.05
def cell(k, s, b, a, pid=None, n=1):
    # n: how many processes the figure sums (a total: n truncations of up to 1 kB each)
    if b == a:
        diff = s - b
        if pid is not None and not agrees(k, diff):
            off.append((pid, k, s, b))
        frac = k in ("pss", "swap_pss")
        return ("%.1f" % s if frac else "%d" % s), "%d" % b, ("%+.1f" % diff if frac else "%+d" % diff)
    # It moved: solab read it at some moment between the two readings. "in" when solab's
    # figure lies between them (PSS: up to 1 kB above, as above), "out" when not.
    frac = k in ("pss", "swap_pss")
    inside = min(b, a) - (0.05 if frac else 0) <= s <= max(b, a) + (n + 0.05 if frac else 0)
    return ("%.1f" % s if frac else "%d" % s), "%d>%d" % (b, a), "in" if inside else "out"
for pid in pids:
    p, b, a = rows.get(pid), kernel(before.get(pid)), kernel(after.get(pid))
    if p is None or b is None or a is None:
        print("%7d %-16s (not measured: %s)" % (pid, "", "solab has no row" if p is None else "smaps_rollup unreadable"))
        continue
    cells = []
    for k in FIGURES:
        s = p[k] / KB
        cells += cell(k, s, b[k], a[k], pid)
        tot[k][0] += s; tot[k][1] += b[k]; tot[k][2] += a[k]
        if b[k] != a[k]:
            moved.append((pid, k, b[k], a[k]))
    print(hdr % tuple([pid, (cmdline.get(pid) or p["comm"])[:22]] + cells))
cells = []
for k in FIGURES:
    cells += cell(k, tot[k][0], tot[k][1], tot[k][2], n=len(pids))
print(hdr % tuple(["", "TOTAL"] + cells))
print("   %d of %d processes stable (smaps_rollup the same before and after); among their figures, %s" % (
    sum(1 for pid in pids if kernel(before.get(pid) or None) and kernel(before.get(pid)) == kernel(after.get(pid))),
    len(pids), "all agree (RSS, USS, swap equal; PSS and SWAP within rounding)" if not off else
    "%d do NOT agree: %s" % (len(off), "; ".join("%d %s solab %.1f kernel %d" % o for o in off))))
if moved:
    print("   moved between the two kernel readings (the process changed while solab read it):")
    for pid, k, b, a in moved:
        print("     %d %s %d -> %d kB" % (pid, k, b, a))
extra = []
for pid in pids:
    r = after.get(pid)
    if r and (r.get("AnonHugePages") or r.get("ShmemPmdMapped") or r.get("FilePmdMapped")):
        extra.append("%d AnonHugePages %d ShmemPmdMapped %d FilePmdMapped %d" % (
            pid, r.get("AnonHugePages", 0), r.get("ShmemPmdMapped", 0), r.get("FilePmdMapped", 0)))
shm = sum((after.get(p) or {}).get("Pss_Shmem", 0) for p in pids)
print("   kernel: Pss_Anon %d, Pss_File %d, Pss_Shmem %d kB in all; solab PSS by class: %s" % (
    sum((after.get(p) or {}).get("Pss_Anon", 0) for p in pids),
    sum((after.get(p) or {}).get("Pss_File", 0) for p in pids), shm,
    ", ".join("%s %.0f" % (c, v["pss"] / KB) for c, v in ps["totals"]["classes"].items())))
for e in extra:
    print("   huge pages: " + e)

MiB = 1024 * 1024
def shared_rss(pid):
    # The kernel's figure for family's shared memory: smaps Rss of the MAP_SHARED mappings
    # ('s' in the permissions), read now (after solab family).
    total, shared = 0, False
    try:
        for line in open("/proc/%d/smaps" % pid):
            f = line.split()
            if "-" in f[0] and len(f) > 1 and len(f[1]) == 4:
                shared = f[1].endswith("s")
            elif shared and f[0] == "Rss:":
                total += int(f[1]) * KB
    except OSError:
        return None
    return total
print("-- solab family %d (MiB; weak: %s; SHARED-MEM: resident MAP_SHARED memory, k: smaps Rss of"
      " the MAP_SHARED mappings, read after)" % (pids[0], fam.get("weak")))
print("%7s %7s %-22s %8s %14s %8s %8s %6s %10s %10s" % ("PID", "PPID", "COMMAND", "RSS", "PARENTS-FRAME",
      "COPIED", "NEW", "KSM", "SHARED-MEM", "k"))
for p in fam.get("processes", []):
    t = p["totals"]
    rss = rows.get(p["pid"], {}).get("rss", 0)
    k = shared_rss(p["pid"])
    print("%7d %7d %-22s %8.1f %14.1f %8.1f %8.1f %6.1f %10.1f %10s" % (p["pid"], p["ppid"],
          (cmdline.get(p["pid"]) or p["comm"])[:22], rss / MiB, t["parents_frame"] / MiB, t["copied"] / MiB,
          t["new"] / MiB, t.get("ksm", 0) / MiB, p.get("shared_memory", 0) / MiB,
          "-" if k is None else "%.1f" % (k / MiB)))
t = fam.get("totals", {})
if t:
    print("%7s %7s %-22s %8s %14.1f %8.1f %8.1f %6.1f %10.1f" % ("", "", "descendants (shared: family)", "",
          t["parents_frame"] / MiB, t["copied"] / MiB, t["new"] / MiB, t.get("ksm", 0) / MiB,
          fam.get("shared_memory", 0) / MiB))

i = 1
while os.path.exists(os.path.join(d, "prove-%d.txt" % i)):
    obj = open(os.path.join(d, "prove-%d.object" % i)).read().strip()
    rc = open(os.path.join(d, "prove-%d.rc" % i)).read().strip()
    print("-- solab prove -o %s (exit %s)" % (obj, rc))
    lines = open(os.path.join(d, "prove-%d.txt" % i)).read().splitlines()
    for j, line in enumerate(lines):
        if line.startswith("(") or line.startswith("error") or line.startswith("solab"):
            verdict = line.rsplit(": ", 1)[-1] if line.startswith("(") else line
            print("   %s %s" % (line[:3], verdict) if line.startswith("(") else "   " + line)
            if line.startswith("(") and j + 1 < len(lines):
                print("       " + lines[j + 1].strip())
        elif j == len(lines) - 1:
            print("   " + line)
    i += 1
spans = []
for line in open(os.path.join(d, "timings")):
    what, a, b = line.split()
    spans.append("%s %.2f s" % (what, float(b) - float(a)))
print("-- time: " + ", ".join(spans))
print()
PY

t_start=$EPOCHREALTIME
echo "== solab $("$solab" --version 2>/dev/null | head -1), kernel $(uname -r), $(nproc) CPUs"
echo "   outputs in $report/"
echo

# ---- PostgreSQL -----------------------------------------------------------------------
run_postgres() {
    local port i fifo fd
    pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    port=$(free_port)
    mkdir "$tmp/pg"
    chown postgres: "$tmp/pg"
    echo "-- postgres $("$pgbin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, data $tmp/pg/data"
    runuser -u postgres -- "$pgbin/initdb" -D "$tmp/pg/data" -A trust -U postgres --no-sync >"$tmp/pg/initdb.log" 2>&1
    pgdata=$tmp/pg/data
    runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdata" -l "$tmp/pg/log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $tmp/pg -c shared_buffers=128MB" start >/dev/null
    local psql=("$pgbin/psql" -X -q -h "$tmp/pg" -p "$port" -U postgres -d postgres)
    # pgbench's tables at scale 2: 200,000 accounts, a 26 MB table, below a quarter of
    # shared_buffers, so a sequential scan reads it through shared buffers (a larger table
    # would go through a small ring of buffers).
    runuser -u postgres -- "$pgbin/pgbench" -q -i -s 2 -h "$tmp/pg" -p "$port" -U postgres postgres \
        >"$tmp/pg/pgbench.log" 2>&1
    # Four client sessions, each with its own backend (a child of the postmaster) that read
    # the whole table, then idle: each holds its fifo open, so psql waits for more.
    for i in 1 2 3 4; do
        fifo=$tmp/pg/session$i
        mkfifo "$fifo"
        runuser -u postgres -- "${psql[@]}" -o /dev/null <"$fifo" 2>"$tmp/pg/session$i.log" &
        kids+=($!)
        exec {fd}>"$fifo"
        fds+=("$fd")
        echo "select count(*), sum(abalance) from pgbench_accounts;" >&"$fd"
    done
    local master
    master=$(head -1 "$pgdata/postmaster.pid")
    idle_backends() {
        [ "$(runuser -u postgres -- "${psql[@]}" -A -t -c \
            "select count(*) from pg_stat_activity where state = 'idle' and query like 'select count(*)%'")" = 4 ]
    }
    await "4 idle PostgreSQL sessions" 60 idle_backends
    measure postgres "$master" "$pgbin/postgres" libc.so.6
    # The shared memory every backend maps (MAP_SHARED: the 's' in the permissions).
    /usr/bin/python3 - "$master" <<'END'
import sys
for line in open("/proc/%s/maps" % sys.argv[1]):
    f = line.split()
    if f[1].endswith("s"):
        a, b = (int(x, 16) for x in f[0].split("-"))
        print("   postmaster's MAP_SHARED mapping: %s %.1f MiB %s" % (f[1], (b - a) / 2**20, " ".join(f[5:])))
END
}

# ---- Redis, during a BGSAVE --------------------------------------------------------------
run_redis() {
    local port pid child keys=${REDIS_KEYS:-1000000}
    port=$(free_port)
    mkdir "$tmp/redis"
    cat >"$tmp/redis/redis.conf" <<END
bind 127.0.0.1
port $port
dir $tmp/redis
dbfilename dump.rdb
logfile $tmp/redis/redis.log
daemonize no
save ""
appendonly no
enable-debug-command local
END
    echo "-- redis $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/') on 127.0.0.1:$port, data $tmp/redis"
    setsid redis-server "$tmp/redis/redis.conf" &
    pid=$!
    kids+=("$pid")
    local cli=(redis-cli -h 127.0.0.1 -p "$port")
    pong() { [ "$("${cli[@]}" ping 2>/dev/null)" = PONG ]; }
    await "redis PING" 30 pong
    "${cli[@]}" debug populate "$keys" key 100 >/dev/null
    echo "   $("${cli[@]}" dbsize) keys, used_memory $("${cli[@]}" info memory | sed -n 's/^used_memory_human:\(.*\)\r$/\1/p')"
    "${cli[@]}" bgsave >/dev/null
    await "the BGSAVE child" 30 children_are "$pid" 1
    # The parent goes on serving writes while the child saves: each page it writes is
    # copied (the child keeps the frame as it was at fork).
    "${cli[@]}" debug populate 100000 extra 100 >/dev/null
    child=$(cat /proc/"$pid"/task/*/children)
    echo "   THP for redis-server: $(grep -h THP_enabled /proc/"$pid"/status) (system: $(cat /sys/kernel/mm/transparent_hugepage/enabled))"
    local t0 t1
    t0=$EPOCHREALTIME
    # First with both processes stopped (SIGSTOP): the snapshot half-written, nothing
    # moves but what other processes do to the libraries' mapcounts. Then running.
    kill -STOP "$pid" "$child"
    measure redis-stopped "$pid" /usr/bin/redis-server libc.so.6
    kill -CONT "$child" "$pid"
    measure redis "$pid" /usr/bin/redis-server libc.so.6
    if grep -q unreadable "$report/redis/rollup-after"; then
        echo "   the BGSAVE child $child ENDED while solab ps read it (raise REDIS_KEYS)"
    elif ! kill -0 "$child" 2>/dev/null; then
        echo "   the BGSAVE child $child was alive through the readings and solab ps, then ended"
    else
        echo "   the BGSAVE child $child was alive throughout"
    fi
    saved() { [[ "$("${cli[@]}" info persistence)" != *rdb_bgsave_in_progress:1* ]]; }
    await "BGSAVE to end" 300 saved
    t1=$EPOCHREALTIME
    echo "   BGSAVE ended $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') s after the measurement began"
    echo
}

# ---- Apache with mpm_prefork ---------------------------------------------------------------
run_apache() {
    local port pid m=/usr/lib/apache2/modules
    port=$(free_port)
    mkdir -p "$tmp/apache/htdocs"
    head -c 1048576 /dev/urandom | base64 >"$tmp/apache/htdocs/big.txt"
    echo hello >"$tmp/apache/htdocs/index.html"
    cat >"$tmp/apache/apache2.conf" <<END
ServerRoot $tmp/apache
ServerName localhost
Listen 127.0.0.1:$port
PidFile $tmp/apache/apache2.pid
DefaultRuntimeDir $tmp/apache
ErrorLog $tmp/apache/error.log
LogLevel warn
LoadModule mpm_prefork_module $m/mod_mpm_prefork.so
LoadModule authz_core_module $m/mod_authz_core.so
LoadModule mime_module $m/mod_mime.so
LoadModule dir_module $m/mod_dir.so
LoadModule deflate_module $m/mod_deflate.so
LoadModule filter_module $m/mod_filter.so
TypesConfig /etc/mime.types
User www-data
Group www-data
StartServers 4
MinSpareServers 4
MaxSpareServers 4
ServerLimit 4
MaxRequestWorkers 4
MaxConnectionsPerChild 0
DocumentRoot $tmp/apache/htdocs
<Directory $tmp/apache/htdocs>
    Require all granted
</Directory>
DirectoryIndex index.html
AddOutputFilterByType DEFLATE text/plain text/html
END
    echo "-- apache $(apache2 -v | sed -n 's/^Server version: Apache\/\([^ ]*\).*/\1/p') (mpm_prefork, 4 workers) on 127.0.0.1:$port"
    # A session of its own: Apache stops by signalling its whole process group, which
    # would otherwise be this script's (prefork.c, ap_unixd_killpg(getpgrp(), SIGTERM)).
    setsid apache2 -f "$tmp/apache/apache2.conf" -DFOREGROUND &
    pid=$!
    kids+=("$pid")
    await "4 Apache workers" 30 children_are "$pid" 4
    # 200 requests, 8 at a time: pages and a compressed 1.4 MB file.
    curl -s --no-progress-meter --parallel --parallel-max 8 -H 'Accept-Encoding: gzip' \
        "http://127.0.0.1:$port/index.html?[1-150]" "http://127.0.0.1:$port/big.txt?[1-50]" >/dev/null
    await "4 Apache workers" 30 children_are "$pid" 4
    sleep 1
    measure apache "$pid" /usr/sbin/apache2 libc.so.6
    # The workers changed their uid: what their own user can read of them.
    local worker
    read -r worker _ <"/proc/$pid/task/$pid/children" || true
    echo "   as www-data, reading worker $worker's smaps_rollup: $(setpriv --reuid=www-data --regid=www-data \
        --clear-groups cat "/proc/$worker/smaps_rollup" 2>&1 >/dev/null || true)$(: ) (fs.suid_dumpable = $(cat /proc/sys/fs/suid_dumpable))"
}

# ---- gunicorn --preload, 8 workers -----------------------------------------------------------
run_gunicorn() {
    local port pid py
    port=$(free_port)
    mkdir "$tmp/gunicorn"
    # The app allocates at import (in the master, before the fork, as --preload does):
    # 200,000 small records; a request reads every one of them (which writes each one's
    # reference count) and allocates a little of its own.
    cat >"$tmp/gunicorn/app.py" <<'END'
import os

RECORDS = [{"id": i, "name": "user%d" % i, "tags": [i % 7, i % 11]} for i in range(200_000)]
SCRATCH = []

def app(environ, start_response):
    total = sum(r["id"] + len(r["name"]) + len(r["tags"]) for r in RECORDS)
    SCRATCH.append(bytearray(256 * 1024))       # what the worker keeps: its own memory
    body = b"%d %d %d\n" % (os.getpid(), total, len(SCRATCH))
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
END
    py=$(readlink -f "$venv/bin/python3")
    echo "-- gunicorn $("$venv/bin/gunicorn" --version | sed 's/.*version \([^)]*\).*/\1/') (--preload, 8 sync workers, $py) on 127.0.0.1:$port"
    setsid "$venv/bin/gunicorn" --preload -w 8 -b "127.0.0.1:$port" --chdir "$tmp/gunicorn" \
        --worker-tmp-dir "$tmp/gunicorn" --log-level warning app:app &
    pid=$!
    kids+=("$pid")
    await "8 gunicorn workers" 60 children_are "$pid" 8
    # 6 requests, 2 at a time: whichever workers accept them (the others stay idle).
    curl -s --no-progress-meter --parallel --parallel-max 2 "http://127.0.0.1:$port/?[1-6]" \
        >"$tmp/gunicorn/answers"
    echo "   requests per worker (pid: count): $(awk '{n[$1]++} END {for (p in n) printf "%s: %d  ", p, n[p]}' "$tmp/gunicorn/answers")"
    sleep 1
    measure gunicorn "$pid" "$py" libc.so.6
}

for s in $servers; do
    t0=$EPOCHREALTIME
    "run_$s"
    t1=$EPOCHREALTIME
    echo "   $s: $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') s from start to measured"
    echo
done
echo "== realworld: $(awk -v a="$t_start" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}') s in all (before stopping the servers)"
