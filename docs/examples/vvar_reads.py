"""Reads the first page of this process's [vvar] mapping twice, 50 ms apart, and says
whether its bytes changed: the kernel writes that page, the process may only read it.

usage: python3 docs/examples/vvar_reads.py
"""
import ctypes
import time

for line in open("/proc/self/maps"):
    fields = line.split()
    if len(fields) == 6 and fields[5] == "[vvar]":
        start = int(fields[0].split("-")[0], 16)
        print(f"[vvar] permissions: {fields[1]}")
        break
first = ctypes.string_at(start, 4096)
time.sleep(0.05)
second = ctypes.string_at(start, 4096)
changed = sum(x != y for x, y in zip(first, second))
print("bytes of the first [vvar] page that changed in 50 ms:", "some" if changed else "none")
