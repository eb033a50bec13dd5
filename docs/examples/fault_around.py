"""Maps a file the way ld.so maps a library (MAP_PRIVATE, read-only), reads one byte of one
page, and counts the pages of the mapping that have a page-table entry before and after.

usage: python3 docs/examples/fault_around.py FILE PAGE
"""
import mmap
import os
import struct
import sys

path, page = os.path.realpath(sys.argv[1]), int(sys.argv[2])
with open(path, "rb") as f:
    m = mmap.mmap(f.fileno(), 0, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ)
start = next(int(line.split("-")[0], 16) for line in open("/proc/self/maps")
             if line.rstrip().endswith(" " + path))
pages = len(m) // 4096


def present():
    """Pages of the mapping whose pagemap entry has bit 63 (present) set."""
    with open("/proc/self/pagemap", "rb") as pagemap:
        pagemap.seek(start // 4096 * 8)
        entries = pagemap.read(pages * 8)
    return [i for i in range(pages) if struct.unpack_from("<Q", entries, i * 8)[0] >> 63]


print(f"{pages} pages mapped; present before any access: {len(present())}")
m[page * 4096]  # one read fault
after = present()
run = after == list(range(after[0], after[0] + len(after)))
print(f"after reading one byte of page {page}: {len(after)} present, "
      f"{'one run of pages around it' if run and page in after else 'scattered'}")
