"""Maps a file the way ld.so maps a library (MAP_PRIVATE, read-only), reads one byte of one
page, and counts the pages of the mapping that have a page-table entry before and after:
those of the fault-around window (the aligned 64 KiB around the fault, clipped to the
mapping and to one page table), and those outside it. As root it also reads each present
page's frame flags (/proc/kpageflags) to tell which large folio (compound page) a page
outside the window belongs to.

usage: python3 docs/examples/fault_around.py FILE PAGE
"""
import mmap
import os
import struct
import sys

P, WINDOW, TABLE = 4096, 65536, 2 << 20  # page, fault_around_bytes, what one page table maps
path, page = os.path.realpath(sys.argv[1]), int(sys.argv[2])
with open(path, "rb") as f:
    m = mmap.mmap(f.fileno(), 0, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ)
start = next(int(line.split("-")[0], 16) for line in open("/proc/self/maps")
             if line.rstrip().endswith(" " + path))
pages = len(m) // P


def present():
    """(page index, frame number) of the pages of the mapping whose pagemap entry has bit
    63 (present) set; the frame number is 0 without CAP_SYS_ADMIN."""
    with open("/proc/self/pagemap", "rb") as pagemap:
        pagemap.seek(start // P * 8)
        entries = pagemap.read(pages * 8)
    words = struct.unpack(f"<{pages}Q", entries)
    return [(i, w & ((1 << 55) - 1)) for i, w in enumerate(words) if w >> 63]


def folios(frames):
    """The present pages grouped into folios by their kpageflags: a compound head (bit 15)
    and the tails (bit 16) that follow it frame by frame; any other page alone. None when
    the flags cannot be read."""
    try:
        with open("/proc/kpageflags", "rb") as kf:
            flags = []
            for _, pfn in frames:
                kf.seek(pfn * 8)
                flags.append(struct.unpack("<Q", kf.read(8))[0])
    except OSError:
        return None
    if any(pfn == 0 for _, pfn in frames):
        return None
    groups = []
    for (i, pfn), fl in zip(frames, flags):
        tail = fl >> 16 & 1
        if tail and groups and groups[-1][-1][1] == pfn - 1:
            groups[-1].append((i, pfn))
        else:
            groups.append([(i, pfn)])
    return [[i for i, _ in g] for g in groups]


print(f"{pages} pages mapped; present before any access: {len(present())}")
m[page * P]  # one read fault
after = present()
idx = [i for i, _ in after]
run = idx == list(range(idx[0], idx[0] + len(idx)))
# The window as mm/memory.c do_fault_around() computes it, in page indexes of the mapping.
fault = start + page * P
lo = max(fault // WINDOW * WINDOW, start, fault // TABLE * TABLE)
hi = min(fault // WINDOW * WINDOW + WINDOW, start + pages * P, fault // TABLE * TABLE + TABLE)
window = range((lo - start) // P, (hi - start) // P)
inside = [i for i in idx if i in window]
print(f"after reading one byte of page {page}: {len(inside)} of the {len(window)} pages of "
      f"its fault-around window present, "
      f"{'one run of pages around it' if run and page in idx else 'scattered'}")
groups = folios(after)
if groups is None:
    print("pages present outside the window: not told apart without root (/proc/kpageflags)")
else:
    alone = [i for g in groups if not any(j in window for j in g) for i in g]
    print(f"pages present outside the window that no folio crossing its edge explains: "
          f"{len(alone)}")
