# needs: root
# ANCHOR: cmd
fresh
hosts A B -- touch
tell A addrs
tell B addrs
# One little-endian u64 per page at offset (address / 4096) * 8; bit 63 present,
# bits 0-54 the frame number (Documentation/admin-guide/mm/pagemap.rst).
pfn_of() {  # PID ADDRESS
    python3 -c 'import struct,sys
pid, addr = int(sys.argv[1]), int(sys.argv[2], 16)
with open(f"/proc/{pid}/pagemap", "rb") as f:
    f.seek(addr // 4096 * 8); e, = struct.unpack("<Q", f.read(8))
pfn = e & ((1 << 55) - 1)   # 0 when the reader is not root: the kernel hides it
print(f"pid {pid} address {addr:#x}: present={e >> 63} " +
      (f"pfn={pfn:#x}" if pfn or not e >> 63 else "pfn hidden (frame numbers need root)"))' "$1" "$2"
}
pfn_of $A $(tell A addrs | grep -o 'solib_add=0x[0-9a-f]*' | cut -d= -f2)
pfn_of $B $(tell B addrs | grep -o 'solib_add=0x[0-9a-f]*' | cut -d= -f2)
# ANCHOR_END: cmd
