#!/usr/bin/env bash
# The cross-process demo: a Rust host (dlopen), the C client (-lsolib) and the Python
# client (ctypes) load libsolib.so at once and share one counter and one clipboard, while
# each keeps its own private counter. Cleans up its processes and region on any exit.
set -euo pipefail
out=${1:-target/release}
export SOLIB_NAMESPACE="demo$$"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -f /dev/shm/solib-u"$(id -u)"-v*-"$SOLIB_NAMESPACE"
    [ -z "${XDG_RUNTIME_DIR:-}" ] || rm -f "$XDG_RUNTIME_DIR"/solib-u"$(id -u)"-v*-"$SOLIB_NAMESPACE"
}
trap cleanup EXIT INT TERM

fifo_dir=$(mktemp -d)
trap 'cleanup; rm -rf "$fifo_dir"' EXIT INT TERM
mkfifo "$fifo_dir/go"
exec 3<>"$fifo_dir/go"

echo "== Three processes load libsolib.so: a Rust host (dlopen), a C program (-lsolib), Python (ctypes)"
echo
"$out/solab-lab-host" --lib "$out/libsolib.so" status add:10,20 clip-set:"hello from the Rust host" wait <&3 &
pids+=($!)
sleep 0.3
"$out/solib-client" add:30,40 add:1,1 clip-get status
SOLIB_PATH="$out/libsolib.so" python3 clients/python/solib_client.py add:5,6 clip-get \
    clip-set:"hello back from Python"
"$out/solib-client" clip-get
echo go >&3
wait "${pids[0]}"
echo
echo "The shared counter counted every process's calls; each private counter only its own."
echo "With every process gone, a new one starts from the section's initial values:"
"$out/solab-lab-host" --lib "$out/libsolib.so" clip-get status
