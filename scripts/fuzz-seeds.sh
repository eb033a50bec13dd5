#!/usr/bin/env bash
# Collects seed corpora for the fuzz targets from this machine into fuzz/corpus/TARGET/
# (not committed: real libraries and /proc files vary by machine). The small committed
# seeds in fuzz/seeds/TARGET/ are used beside them by `make fuzz`. The targets are the
# [[bin]] names of fuzz/Cargo.toml (scripts/fuzz-targets.sh); what each is seeded with here:
#   maps_parse      /proc/PID/maps of up to 40 live processes (each cut to 64 KiB)
#   elf_plan        the smallest ELF objects under /usr/lib (up to 24, each <= 128 KiB),
#                   target/release/libsolib.so and the lab's text-relocation objects
#   pagemap_decode  this script's own pagemap words (PFNs visible as root) and, as root,
#                   a window of /proc/kpagecount and /proc/kpageflags
#   clipboard_read  the .shared section of libsolib.so (a valid, empty region image)
#   inspect_path    the same ELF objects as elf_plan (the target reads its pagemap words
#                   from the object's own bytes)
set -euo pipefail
cd "$(dirname "$0")/.."
out=fuzz/corpus
mapfile -t targets < <(scripts/fuzz-targets.sh)
for t in "${targets[@]}"; do mkdir -p "$out/$t"; done

n=0
for m in /proc/[0-9]*/maps; do
    pid=${m#/proc/}; pid=${pid%/maps}
    head -c 65536 "$m" > "$out/maps_parse/pid-$n" 2>/dev/null || continue
    [ -s "$out/maps_parse/pid-$n" ] || { rm -f "$out/maps_parse/pid-$n"; continue; }
    n=$((n + 1)); [ $n -lt 40 ] || break
done

n=0
while read -r size path; do
    cp "$path" "$out/elf_plan/lib-$n" 2>/dev/null || continue
    n=$((n + 1)); [ $n -lt 24 ] || break
done < <(find /usr/lib /lib -xdev -type f -name '*.so*' -size -128k -size +1k \
             -printf '%s %p\n' 2>/dev/null | sort -n | awk 'NR % 7 == 1' )
# make fuzz says where the build is (CARGO_TARGET_DIR, PROFILE); these are the defaults.
OUT=${OUT:-target/release}
LABDIR=${LABDIR:-target/lab}
for f in "$OUT/libsolib.so" "$LABDIR/libtextrel-pic.so" "$LABDIR/libtextrel-textrel.so"; do
    [ -f "$f" ] && cp "$f" "$out/elf_plan/$(basename "$f")"
done

# 512 pagemap words around this shell's stack and its first mapping.
python3 - "$out/pagemap_decode" <<'PY'
import os, sys
out = sys.argv[1]
maps = open("/proc/self/maps").read().splitlines()
def words(start, n, name):
    try:
        with open("/proc/self/pagemap", "rb") as f:
            f.seek(start // 4096 * 8)
            data = f.read(n * 8)
        open(os.path.join(out, name), "wb").write(data)
    except OSError:
        pass
for i, line in enumerate(maps[:8]):
    lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
    words(lo, min((hi - lo) // 4096, 512), f"pagemap-{i}")
for name in ("kpagecount", "kpageflags"):
    try:
        with open(f"/proc/{name}", "rb") as f:
            f.seek(0x100000 * 8)
            open(os.path.join(out, name), "wb").write(f.read(4096))
    except OSError:
        pass
PY

if [ -f "$OUT/libsolib.so" ] && command -v objcopy >/dev/null; then
    # The target reads its first byte as the reader's buffer size (times 9).
    tmp=$(mktemp)
    if objcopy -O binary --only-section=.shared "$OUT/libsolib.so" "$tmp"; then
        { printf '\377'; cat "$tmp"; } > "$out/clipboard_read/initial-region"
    fi
    rm -f "$tmp"
fi
cp "$out"/elf_plan/* "$out/inspect_path/"
for t in "${targets[@]}"; do
    printf '%-16s %4d files %8d bytes\n' "$t" "$(ls "$out/$t" | wc -l)" \
        "$(cat "$out/$t"/* 2>/dev/null | wc -c)"
done
