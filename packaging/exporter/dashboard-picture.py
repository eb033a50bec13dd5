#!/usr/bin/env python3
"""Draws three panels of the Grafana dashboard (grafana-dashboard.json) from a real run.

Usage: packaging/exporter/dashboard-picture.py SOLAB OUT.svg [SECONDS]   (as root)

It starts, on loopback and in a temporary directory, `SOLAB exporter --min-interval 1` for a
pre-fork family it starts too (a Python parent renamed demo-prefork with 64 MiB of its own,
three workers renamed demo-worker that rewrite 8, 16 and 24 MiB of it step by step), and a
real Prometheus server (Debian's `prometheus`) scraping it every 2 s; after SECONDS (60) it
asks Prometheus's HTTP API (query_range) the dashboard's queries and draws their answers as
an SVG of three panels, 700 units wide, with no path of this machine in it. Everything it
started is stopped and removed on the way out.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

FAMILY = r"""
import ctypes, os, sys, time
def name(n):
    ctypes.CDLL(None).prctl(15, n.encode(), 0, 0, 0)
name("demo-prefork")
mem = bytearray(64 << 20)
for i in range(0, len(mem), 4096):
    mem[i] = 1
kids = []
for w, mib in enumerate((8, 16, 24)):
    pid = os.fork()
    if pid == 0:
        name("demo-worker")
        steps = 8
        for s in range(steps):
            lo = (mib << 20) * s // steps
            hi = (mib << 20) * (s + 1) // steps
            for i in range(lo, hi, 4096):
                mem[i] = 2
            time.sleep(float(sys.argv[1]) / steps)
        time.sleep(3600)
        os._exit(0)
    kids.append(pid)
print("ready", flush=True)
sys.stdin.read()
for k in kids:
    os.kill(k, 9)
"""

QUERIES = [
    (
        "Copied bytes per worker",
        "solab_family_worker_copied_bytes",
        "MiB",
        lambda m: "worker " + m.get("worker", "?"),
    ),
    (
        "Share of each worker still its parent's memory",
        "solab_family_worker_parents_frame_bytes / (solab_family_worker_parents_frame_bytes"
        " + solab_family_worker_copied_bytes + solab_family_worker_new_bytes)",
        "%",
        lambda m: "worker " + m.get("worker", "?"),
    ),
    (
        "Memory saved by libc on this host",
        'sum(solab_object_saved_bytes{object=~".*/libc\\\\.so\\\\.6"})',
        "MiB",
        lambda m: "libc.so.6",
    ),
]

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read()


def wait_for(url, seconds):
    end = time.time() + seconds
    while time.time() < end:
        try:
            get(url, 2)
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {seconds} s")


def esc(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def panel(out, top, title, unit, series, t0, t1):
    """One panel: 700 wide, 190 high, from y=top."""
    left, right, height = 70, 680, 130
    y0 = top + 40
    out.append(f'<text x="10" y="{top + 22}" font-size="15" font-weight="bold">{esc(title)}</text>')
    values = [v for _, pts in series for _, v in pts]
    if not values:
        out.append(f'<text x="{left}" y="{y0 + 60}" font-size="13">no data</text>')
        return
    scale = 100.0 if unit == "%" else 1 / (1 << 20)
    if unit == "%":
        lo, hi = min(50.0, min(v * scale for v in values)), 100.0
    else:
        # Four steps of a round size above the largest value.
        top_value = max(v * scale for v in values) * 1.05
        step = next(
            (n for n in (1, 2, 4, 5, 8, 10, 16, 20, 25, 32, 50, 64, 100, 128, 256, 512, 1024)
             if 4 * n >= top_value),
            top_value / 4,
        )
        lo, hi = 0.0, 4 * step

    def xy(t, v):
        x = left + (right - left) * (t - t0) / max(t1 - t0, 1)
        y = y0 + height - height * (v * scale - lo) / max(hi - lo, 1e-9)
        return x, y

    out.append(
        f'<rect x="{left}" y="{y0}" width="{right - left}" height="{height}" '
        'fill="#f7f7f7" stroke="#bbb"/>'
    )
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        y = y0 + height - height * k / 4
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#ddd"/>')
        label = f"{v:.0f}%" if unit == "%" else f"{v:.0f} MiB"
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="12" text-anchor="end">{label}</text>')
    for k in range(0, int(t1 - t0) + 1, 10):
        x = left + (right - left) * k / max(t1 - t0, 1)
        out.append(
            f'<text x="{x:.1f}" y="{y0 + height + 16}" font-size="12" text-anchor="middle">{k} s</text>'
        )
    lx = left + 8
    for i, (name, pts) in enumerate(series):
        colour = COLOURS[i % len(COLOURS)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(t, v) for t, v in pts))
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2.5"/>')
        out.append(f'<rect x="{lx}" y="{top + 30}" width="12" height="4" fill="{colour}"/>')
        out.append(f'<text x="{lx + 16}" y="{top + 36}" font-size="12">{esc(name)}</text>')
        lx += 16 + 8 * len(name) + 18


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    solab, out_path = os.path.abspath(sys.argv[1]), sys.argv[2]
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 60.0
    if shutil.which("prometheus") is None:
        raise SystemExit("prometheus is not installed (apt-get install prometheus)")
    work = tempfile.mkdtemp(prefix="solab-dashboard-")
    started = []
    try:
        family = subprocess.Popen(
            [sys.executable, "-c", FAMILY, str(seconds * 0.6)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(family)
        if "ready" not in family.stdout.readline():
            raise SystemExit("the family did not start")
        exporter_port, prom_port = free_port(), free_port()
        exporter = subprocess.Popen(
            [solab, "exporter", "--listen", f"127.0.0.1:{exporter_port}", "--min-interval",
             "1", "--by", "comm", "--libs", "10", "--family", str(family.pid)],
            stdout=subprocess.DEVNULL,
        )
        started.append(exporter)
        wait_for(f"http://127.0.0.1:{exporter_port}/metrics", 30)
        with open(os.path.join(work, "prometheus.yml"), "w") as f:
            f.write(
                "global:\n  scrape_interval: 2s\n  scrape_timeout: 2s\n"
                "scrape_configs:\n  - job_name: solab\n    static_configs:\n"
                f"      - targets: ['127.0.0.1:{exporter_port}']\n"
            )
        prom = subprocess.Popen(
            ["prometheus", f"--config.file={work}/prometheus.yml",
             f"--storage.tsdb.path={work}/data", f"--web.listen-address=127.0.0.1:{prom_port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started.append(prom)
        api = f"http://127.0.0.1:{prom_port}/api/v1"
        wait_for(f"{api}/status/buildinfo", 60)
        t0 = time.time()
        time.sleep(seconds)
        t1 = time.time()
        svg = []
        for i, (title, query, unit, label) in enumerate(QUERIES):
            q = urllib.parse.urlencode({"query": query, "start": t0, "end": t1, "step": 2})
            answer = json.loads(get(f"{api}/query_range?{q}"))
            series = sorted(
                (label(r["metric"]), [(float(t), float(v)) for t, v in r["values"]])
                for r in answer["data"]["result"]
            )
            panel(svg, 10 + i * 200, title, unit, series, t0, t1)
        with open(out_path, "w") as f:
            f.write(
                '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 700 610" '
                'font-family="sans-serif" role="img">\n'
                f"<title>solab exporter in Prometheus: {int(seconds)} s of a pre-fork family"
                "</title>\n" + "\n".join(svg) + "\n</svg>\n"
            )
        print(f"wrote {out_path}: {int(seconds)} s, scraped every 2 s")
    finally:
        for p in reversed(started):
            if p is family:
                try:
                    family.stdin.close()
                except OSError:
                    pass
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                continue
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
