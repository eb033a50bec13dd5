#!/usr/bin/env python3
"""Writes the benchmark page from what bench/bench.sh measured.

Usage: report.py TMPDIR RESULTS

TMPDIR holds bench.sh's manifest, the hyperfine JSON of every round, the /usr/bin/time -v
logs and minreader's counts; RESULTS is the Markdown page to write. Every time is a median
over all runs of all rounds, with the min and max; every ratio is a ratio of medians.
"""

import datetime
import glob
import json
import statistics
import os
import platform
import re
import subprocess
import sys

tmp, out = sys.argv[1], sys.argv[2]

# ---------------------------------------------------------------- what was measured
times = {}  # (tag, label) -> [seconds]
commands = {}  # (tag, label) -> command line
mems = {}  # (tag, label) -> peak RSS in KiB
mem_cmds = {}
pages = {}  # tag -> dict(processes, vmas, read, present, given)
facts = {}
cow = {}
cowrec = []
families = []  # (mib, kids, report)
order = {}  # tag -> labels in manifest order
profiles = []  # (command, how)
live_view = None  # (tables, command, /usr/bin/time -v of it)
exporter_table = []  # bench/exporter.sh's Markdown

for line in open(os.path.join(tmp, "manifest")):
    kind, *f = line.rstrip("\n").split("\t")
    if kind == "time":
        tag, label, cmd = f
        commands[(tag, label)] = cmd
        order.setdefault(tag, []).append(label)
        ts = []
        for j in sorted(glob.glob(os.path.join(tmp, f"{tag}.*.json"))):
            for r in json.load(open(j))["results"]:
                if r["command"] == cmd:
                    ts.extend(r["times"])
        times[(tag, label)] = ts
    elif kind == "mem":
        tag, label, cmd = f
        log = open(os.path.join(tmp, f"mem.{tag}.{label}")).read()
        mems[(tag, label)] = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", log)[1])
        mem_cmds[(tag, label)] = cmd
    elif kind == "pages":
        tag, given = f
        d = dict(kv.split("=") for kv in open(os.path.join(tmp, f"pages.{tag}")).read().split())
        d = {k: int(v) for k, v in d.items()}
        d["given"] = int(given)
        pages[tag] = d
    elif kind == "family":
        mib, kids, path = f
        families.append((int(mib), int(kids), json.load(open(path))))
    elif kind == "top":
        live_view = (int(f[0]), open(f[1]).read().rstrip("\n").split("\n"))
    elif kind == "perf":
        profiles.append((f[0], f[1]))
    elif kind == "set":
        facts[f[0]] = f[1] if len(f) > 1 else ""
    elif kind == "cow":
        cow.setdefault(f[0], []).append(float(f[1]))
    elif kind == "exporter":
        exporter_table = open(f[0]).read().rstrip("\n").split("\n")
    elif kind == "cowrec":
        try:
            cowrec.append(json.load(open(f[0]))["recording"])
        except (OSError, ValueError, KeyError):
            pass


def med(tag, label):
    ts = times.get((tag, label))
    return statistics.median(ts) if ts else None


def cell(tag, label):
    ts = times.get((tag, label))
    if not ts:
        return "–"
    return f"{statistics.median(ts) * 1e3:.1f} ms ({min(ts) * 1e3:.1f}–{max(ts) * 1e3:.1f})"


def ratio(tag, a, b):
    x, y = med(tag, a), med(tag, b)
    return x / y if x is not None and y else None


def mib(kib):
    return kib / 1024


def per_million(tag, label):
    kib, p = mems.get((tag, label)), pages.get(tag, {}).get("present")
    return mib(kib) / (p / 1e6) if kib and p else None


bin_dir = facts.get("bin", "target/release")


def show(cmd, tag):
    """The command as typed from the repository, pid lists shortened."""
    cmd = cmd.replace(bin_dir + "/examples/", "").replace(bin_dir + "/", "")
    n = pages.get(tag, {}).get("given")
    if n and (tag.startswith("scale") or tag.startswith("inspect")):
        cmd = " ".join(cmd.split()[:-n] + ["PID..."])
    return f"`{cmd}`"


P = int(facts.get("threads", "1"))
threads1 = facts.get("threads1", "").split()

# ---------------------------------------------------------------- targets
rows = []  # (target, where, figure, verdict)


def check(target, where, value, limit, fmt="{:.2f}x", le=True):
    if value is None:
        rows.append((target, where, "not measured", "–"))
        return
    ok = value <= limit if le else value >= limit
    rows.append((target, where, fmt.format(value), "met" if ok else "**not met**"))


def where(tag):
    p = pages.get(tag)
    if tag == "machine":
        return f"whole machine ({facts.get('processes')} processes, `--all`)"
    return f"{p['given']} given processes"


target_tags = ["machine"] + [t for t in (f"scale{n}" for n in (400, 2000)) if t in pages]
for cmd in ("libs", "ps"):
    for tag in target_tags:
        check(f"`solab {cmd}` ≤ 0.75x the single-threaded minimal reader", where(tag),
              ratio(tag, f"solab {cmd}", "minreader"), 0.75)
    for tag in target_tags:
        check(f"`solab {cmd}` ≤ 1.25x the parallel minimal reader ({P} threads)", where(tag),
              ratio(tag, f"solab {cmd}", "minreader parallel"), 1.25)
check("`solab ps` ≤ 0.33x `smem` (issue 18, issue 14)", where("machine"),
      ratio("machine", "solab ps", "smem"), 0.33)
check("`solab ps` ≤ 1.5x the minimal reader (issue 14)", where("machine"),
      ratio("machine", "solab ps", "minreader"), 1.5)

for cmd in ("libs", "ps"):
    for tag in target_tags:
        check(f"`solab {cmd}` peak memory ≤ 24 MiB per million present pages", where(tag),
              per_million(tag, f"solab {cmd}"), 24, "{:.1f} MiB")

scale_ns = sorted(int(t[5:]) for t in pages if t.startswith("scale"))


def tpp(n, label):
    t, p = med(f"scale{n}", label), pages[f"scale{n}"]["present"]
    return t / p * 1e9 if t is not None and p else None


for cmd in ("libs", "ps"):
    if 400 in scale_ns and scale_ns[-1] > 400:
        top = scale_ns[-1]
        a, b = tpp(400, f"solab {cmd}"), tpp(top, f"solab {cmd}")
        check(f"`solab {cmd}` time per present page flat (at {top} ≤ 1.2x at 400)",
              f"400 → {top} processes" + ("" if top >= 2000 else
                                          " (not 2,000: run with HOSTS=1000 PYTHONS=1000)"),
              b / a if a and b else None, 1.2, "{:.2f}x")
    else:
        rows.append((f"`solab {cmd}` time per present page flat from 400 to 2,000 processes",
                     "needs more than 400 started processes (HOSTS=1000 PYTHONS=1000)",
                     "not measured", "–"))

fam_by = {(m, k): r for m, k, r in families}
if families:
    big = max(m for m, _, _ in families)
    kids = max(k for _, k, _ in families)
    small = min(m for m, _, _ in families)
    t = med("family", f"family {big} MiB x {kids}")
    check(f"`solab family` on {kids} children of {big // 1024 if big >= 1024 else big} "
          f"{'GiB' if big >= 1024 else 'MiB'} each < 1 s", f"{kids + 1} processes",
          t, 1.0, "{:.2f} s")
    peak = mems.get(("family", f"family {big} MiB x {kids}"))
    one = mems.get(("family", f"family {big} MiB x 1"))
    quarter = mems.get(("family", f"family {small} MiB x {kids}"))
    if peak and one:
        check("`solab family` memory bounded by the chunk, not the family: peak RSS with "
              f"{kids} children ≤ 1.25x with 1 child", f"{big} MiB inherited",
              peak / one, 1.25)
    if peak and quarter and small != big:
        check("`solab family` memory bounded by the chunk, not the memory: peak RSS at "
              f"{big} MiB ≤ 1.25x at {small} MiB", f"{kids} children", peak / quarter, 1.25)

ins = sorted(int(t[7:]) for t in pages if t.startswith("inspect"))
if len(ins) >= 2:
    a, b = mems[(f"inspect{ins[0]}", "solab inspect")], mems[(f"inspect{ins[-1]}", "solab inspect")]
    check(f"`solab inspect --json` peak memory bounded (at {ins[-1]} processes ≤ 1.25x at "
          f"{ins[0]})", f"{ins[0]} → {ins[-1]} given processes", b / a, 1.25)

# ---------------------------------------------------------------- the machine
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
memtotal = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))


def run(*a):
    try:
        return subprocess.run(a, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


thp = open("/sys/kernel/mm/transparent_hugepage/enabled").read().strip() \
    if os.path.exists("/sys/kernel/mm/transparent_hugepage/enabled") else "?"
libs_all = json.load(open(os.path.join(tmp, "libs-all.json")))
scanned = libs_all.get("processes", {}).get("scanned", "?")
mp = pages["machine"]

L = [
    "# " + (facts.get("title") or "Benchmark results"),
    "",
    "Written by `make bench` (bench/bench.sh, bench/report.py); do not edit by hand. It starts",
    "lab-hosts and python3 interpreters, then times `solab libs` and `solab ps` against `smem`",
    "and against a minimal reader (bench/minreader.rs) that only reads every maps file and",
    "preads pagemap over every mapping in 64 Ki-page chunks, on one thread and on a pool of",
    f"{P} threads (solab's default pool: `available_parallelism`). Every time is the median",
    f"of all runs of hyperfine over {facts.get('rounds')} rounds (the order of the commands",
    "reverses from one round to the next), with the fastest and slowest run in brackets;",
    "every ratio is a ratio of medians. Peak memory is the maximum resident set size",
    "`/usr/bin/time -v` reports for one run. Present pages are the pagemap entries with bit",
    "63 set that the minimal reader counts over the same processes.",
    "",
    "## Machine",
    "",
    f"- {cpu}, {os.cpu_count()} cores, {memtotal / 1048576:.1f} GiB RAM, Linux {platform.release()},"
    f" transparent huge pages `{thp}`",
    f"- {facts.get('processes')} processes on the machine ({facts.get('hosts')} lab-hosts and "
    f"{facts.get('pythons')} python3 started by the bench); `solab libs --all` scanned {scanned}; "
    f"{mp['processes']} have a readable pagemap, {mp['vmas']:,} mappings, "
    f"{mp['present']:,} present pages of {mp['read']:,} read",
    f"- Load average (1, 5, 15 min) {facts.get('loadavg_start')} at the start, "
    f"{facts.get('loadavg_end')} at the end: other builds and tests may share the two cores",
    f"- solab commit {facts.get('commit')}; {run('hyperfine', '--version')}; smem "
    f"{run('dpkg-query', '-W', '-f=${Version}', 'smem') or '?'}; {run(sys.executable, '--version')}",
    f"- Started {facts.get('started_at')}; {facts.get('rounds')} rounds x "
    f"{facts.get('runs')} runs per command ({facts.get('family_runs')} for `solab family`), "
    "after one warm-up run of each command before the first round",
    "- `solab --threads 1` rows: " + (
        "for " + ", ".join(f"`{c}`" for c in threads1) if threads1 else
        "none, this solab has no `--threads` flag"),
    "- Commands run from the repository as root; `BIN` is "
    f"`{bin_dir}`, where `make bench` builds them",
    "",
    "## Targets",
    "",
    "From issue 18 and issue 14's performance section; ratios are of medians.",
    "",
    "| target | measured at | figure | |",
    "|---|---|---:|---|",
]
L += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]

L += [
    "",
    "## The whole machine",
    "",
    "| command | median (min–max) | runs | vs minreader | vs parallel minreader | vs smem | vs coalesced parallel reader |",
    "|---|---:|---:|---:|---:|---:|---:|",
]
smem_for = {"solab libs": "smem -m", "solab ps": "smem", "solab ps table": "smem",
            "solab libs --threads 1": "smem -m", "solab ps --threads 1": "smem"}
for label in order.get("machine", []):
    cmd = commands[("machine", label)]
    r1 = ratio("machine", label, "minreader") if label.startswith("solab") else None
    rp = ratio("machine", label, "minreader parallel") if label.startswith("solab") else None
    rs = ratio("machine", label, smem_for[label]) if label in smem_for else None
    rc = (ratio("machine", label, "minreader coalesced parallel")
          if label.startswith("solab") else None)
    f = lambda x, s="": f"{x:.2f}x{s}" if x is not None else ""
    L.append(f"| {show(cmd, 'machine')} | {cell('machine', label)} | "
             f"{len(times[('machine', label)])} | {f(r1)} | {f(rp)} | "
             f"{f(rs, ' (`' + smem_for[label] + '`)') if rs else ''} | {f(rc)} |")
if ("machine", "solab ps table") in times:
    L += ["", "`solab ps --all` (the table) is reported beside the judged `solab ps --all --json`:",
          "the table shows neither a process's cgroup nor its mount namespace, so it does not",
          "read them; JSON and `--by cgroup|container` do."]
if ("machine", "minreader coalesced") in times:
    L += ["", "`minreader --coalesce` is not the floor: it reads the same pagemap words with one",
          "`pread` per run of adjacent mappings (one ends where the next starts) instead of one per",
          "mapping, as solab does. The last column compares solab with it on the same pool of",
          "threads: what solab costs beyond the kernel's work once both make the same calls."]
L += ["", "Peak memory over the whole machine:", "",
      "| command | peak RSS | per million present pages |", "|---|---:|---:|"]
for (tag, label), kib in mems.items():
    if tag == "machine":
        L.append(f"| {show(mem_cmds[(tag, label)], tag)} | {mib(kib):.1f} MiB | "
                 f"{per_million(tag, label):.1f} MiB |")

def perf_rows(path, n):
    """The first n `  12.34%  solab  dso  [k] symbol` rows of a perf report."""
    rows = []
    for line in open(path):
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+(\S+)(?:\s+\[[.k]\]\s+(.*\S))?", line)
        if m and not line.startswith("#") and m[2] == "solab":
            rows.append((float(m[1]), m[3], m[4] or ""))
    return rows[:n]


if profiles:
    L += ["", "## Where the time goes", "",
          "`perf record -F 2999` over five runs of each command on the whole machine, samples of",
          "the solab process only (user and kernel), by binary and then by function (self time):"]
    for c, how in profiles:
        L += ["", f"`solab {c} --all --json`: " + ", ".join(
            f"{pct:.1f}% in {'the kernel' if dso == '[kernel.kallsyms]' else dso}"
            for pct, dso, _ in perf_rows(os.path.join(tmp, f"perf.{c}.dso"), 4)),
              "", "| share | where | function |", "|---:|---|---|"]
        for pct, dso, sym in perf_rows(os.path.join(tmp, f"perf.{c}.sym"), 12):
            sym = (sym if len(sym) <= 90 else sym[:87] + "...").replace("|", "\\|")
            L.append(f"| {pct:.1f}% | {dso} | `{sym}` |")

if scale_ns:
    labels = [l for l in order.get(f"scale{scale_ns[0]}", [])]
    L += [
        "",
        "## Scaling: time per present page",
        "",
        "The first N processes the bench started (lab-hosts and python3 alternating), given by",
        "pid: " + ", ".join(show(commands[(f'scale{scale_ns[0]}', l)], f'scale{scale_ns[0]}') for l in labels) + ".",
        "",
        "| processes | present pages | " + " | ".join(f"{l}: median (min–max)" for l in labels) + " |",
        "|---:|---:|" + "---:|" * len(labels),
    ]
    for n in scale_ns:
        tag = f"scale{n}"
        L.append(f"| {n} | {pages[tag]['present']:,} | " +
                 " | ".join(cell(tag, l) for l in labels) + " |")
    L += ["", "| processes | " + " | ".join(f"{l}: ns per page" for l in labels) + " |",
          "|---:|" + "---:|" * len(labels)]
    for n in scale_ns:
        L.append(f"| {n} | " + " | ".join(
            f"{tpp(n, l):.0f}" if tpp(n, l) is not None else "–" for l in labels) + " |")
    sl = [l for l in labels if l.startswith("solab")]
    L += ["", "Ratios of medians at each size:", "",
          "| processes | " + " | ".join(f"{l} / minreader | {l} / parallel" for l in sl) + " |",
          "|---:|" + "---:|---:|" * len(sl)]
    for n in scale_ns:
        tag = f"scale{n}"
        L.append(f"| {n} | " + " | ".join(
            f"{ratio(tag, l, 'minreader'):.2f}x | {ratio(tag, l, 'minreader parallel'):.2f}x"
            for l in sl) + " |")
    L += ["", "## Scaling: peak memory", "",
          "| processes | present pages | solab libs | per million pages | solab ps | per million pages |",
          "|---:|---:|---:|---:|---:|---:|"]
    for n in scale_ns:
        tag = f"scale{n}"
        a, b = mems.get((tag, "solab libs")), mems.get((tag, "solab ps"))
        L.append(f"| {n} | {pages[tag]['present']:,} | {mib(a):.1f} MiB | "
                 f"{per_million(tag, 'solab libs'):.1f} MiB | {mib(b):.1f} MiB | "
                 f"{per_million(tag, 'solab ps'):.1f} MiB |")

if families:
    L += [
        "",
        "## solab family",
        "",
        "bench/family.c: a parent writes every page of an anonymous mapping, then forks",
        "children that only sleep, so every child's copy is still the parent's frames. All",
        "three families are alive during the timing.",
        "",
        "| family | processes | median (min–max) | peak RSS | still the parent's frames per child |",
        "|---|---:|---:|---:|---:|",
    ]
    for m, k, rep in families:
        label = f"family {m} MiB x {k}"
        kids_rows = [p for p in rep["processes"] if p["depth"] > 0]
        per = (sum(p["totals"]["parents_frame"] for p in kids_rows) / len(kids_rows) / 2**20
               if kids_rows else 0)
        L.append(f"| {m} MiB x {k} {'child' if k == 1 else 'children'}: {show(commands[('family', label)], 'family')} | "
                 f"{len(rep['processes'])} | {cell('family', label)} | "
                 f"{mib(mems[('family', label)]):.1f} MiB | {per:.1f} MiB |")

if ins:
    L += ["", "## solab inspect --json", "",
          "`solab inspect --json PID...` over the first N processes, its output counted and "
          "thrown away:", "",
          "| processes | present pages | document | peak RSS |", "|---:|---:|---:|---:|"]
    for n in ins:
        tag = f"inspect{n}"
        size = int(open(os.path.join(tmp, f"bytes.{tag}")).read())
        L.append(f"| {n} | {pages[tag]['present']:,} | {size / 2**20:.1f} MiB | "
                 f"{mib(mems[(tag, 'solab inspect')]):.1f} MiB |")

if live_view:
    tables, rows = live_view
    L += ["", "## The live view: solab top", "",
          f"`solab top -n {tables} -d 1` piped, as `top -b`: the table printed {tables} times, "
          "a second apart, the first included, over the whole machine as the bench left it, "
          "then over the machine topped up with sleeping forked children (bench/top.sh, "
          "bench/sleepers.c); its CPU time (user + system) and peak RSS from "
          "`/usr/bin/time -v`. The cost of a table follows the present pages more than the "
          "processes: a large process costs more than many small ones.", ""] + rows + [""]

if cow.get("plain") and cow.get("record"):
    plain, rec = statistics.median(cow["plain"]), statistics.median(cow["record"])
    pages = int(facts.get("cow_mib", "0")) * 2**20 // 4096 * int(facts.get("cow_rounds", "0"))
    faults = [r["faults"] for r in cowrec]
    lost = [r["lost"] for r in cowrec]
    ring = [r["ring_bytes"] for r in cowrec]
    L += ["", "## The cost of solab family --record", "",
          f"bench/cow-workload.c: a parent writes {facts.get('cow_mib')} MiB, then forks "
          f"{facts.get('cow_rounds')} children one after the other, each rewriting every "
          f"inherited page ({pages:,} copy-on-write faults in all), timed by itself, alone "
          "and with `solab family --record` attached before it starts (one sample per "
          "fault), the two alternating:", "",
          "| run | median (min–max) | per fault | faults recorded | lost | ring buffer |",
          "|---|---:|---:|---:|---:|---:|",
          f"| alone | {plain:.3f} s ({min(cow['plain']):.3f}–{max(cow['plain']):.3f}) | "
          f"{plain / max(pages, 1) * 1e6:.2f} µs | | | |",
          f"| recorded | {rec:.3f} s ({min(cow['record']):.3f}–{max(cow['record']):.3f}) | "
          f"{rec / max(pages, 1) * 1e6:.2f} µs | {statistics.median(faults) if faults else 0:,.0f} | "
          f"{max(lost) if lost else 0:,} | {mib((max(ring) if ring else 0) / 1024):.1f} MiB |",
          "", f"Slowdown under --record: **{rec / plain:.2f}x** (medians).", ""]

if exporter_table:
    L += ["", "## solab exporter over many scrapes", "",
          "`solab exporter --listen 127.0.0.1:0 --min-interval 0` scraped by curl one scrape "
          "after the other, each a new scan of the whole machine (bench/exporter.sh): its "
          "resident memory must not grow with the scrapes.", ""] + exporter_table + [""]

L += ["", "## The output it timed", "", "```text", "$ solab libs --all --top 12"]
L += open(os.path.join(tmp, "libs-all.txt")).read().rstrip("\n").split("\n")
L += ["```", ""]
open(out, "w").write("\n".join(L))

# ---------------------------------------------------------------- a summary on the terminal
for a, b, c, d in rows:
    print(f"{d.replace('*', ''):>8}  {c:>14}  {a.replace('`', '')} [{b}]")
print(f"written to {out}")
