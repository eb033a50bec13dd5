"""For the kernel's special mappings ([vvar], [vvar_vclock], [vdso]) of two processes,
compares the frame of every page, from /proc/PID/pagemap (root: frame numbers; otherwise
they read as 0 and only presence can be compared).

usage: python3 docs/examples/special_pages.py PID1 PID2
"""
import struct
import sys

NAMES = ("[vvar]", "[vvar_vclock]", "[vdso]")


def special(pid):
    """{name: (start, pages)} of the special mappings of one process."""
    found = {}
    for line in open(f"/proc/{pid}/maps"):
        fields = line.split()
        if len(fields) == 6 and fields[5] in NAMES:
            start, end = (int(x, 16) for x in fields[0].split("-"))
            found[fields[5]] = (start, (end - start) // 4096)
    return found


def frames(pid, start, pages):
    """(present, pfn) of each page: bit 63 and bits 0-54 of its pagemap entry."""
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        f.seek(start // 4096 * 8)
        data = f.read(pages * 8)
    entries = struct.unpack(f"<{pages}Q", data)
    return [(e >> 63 & 1, e & ((1 << 55) - 1)) for e in entries]


a, b = sys.argv[1], sys.argv[2]
ma, mb = special(a), special(b)
for name in NAMES:
    if name not in ma or name not in mb:
        print(f"{name:14} not mapped in both")
        continue
    fa, fb = frames(a, *ma[name]), frames(b, *mb[name])
    for i, ((pa, na), (pb, nb)) in enumerate(zip(fa, fb)):
        if pa and pb:
            how = "one frame in both" if na == nb and na else (
                "present in both (frame numbers hidden)" if na == nb else "two frames")
        else:
            how = "present in " + ("one of them" if pa or pb else "neither")
        print(f"{name:14} page {i}: {how}")
