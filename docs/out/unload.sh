# needs: root
# ANCHOR: cmd
fresh
text_frame() {  # NAME: the frame of lab-host NAME's page of solib_add, read from its pagemap
    local pid addr
    eval "pid=\$$1"
    addr=$(tell "$1" addrs | grep -o 'solib_add=0x[0-9a-f]*' | cut -d= -f2)
    python3 -c 'import struct, sys
with open(f"/proc/{sys.argv[1]}/pagemap", "rb") as f:   # 8 bytes per page of the process
    f.seek(int(sys.argv[2], 16) // 4096 * 8)
    pfn = struct.unpack("<Q", f.read(8))[0] & ((1 << 55) - 1)
print(pfn or "hidden")   # the kernel shows frame numbers to root only' "$pid" "$addr"
}
maps_it() { echo "$(grep -c libsolib.so /proc/$1/maps) mappings of libsolib.so"; }
cat target/release/libsolib.so > /dev/null   # every page of the file in the page cache
hosts A B -- touch
echo "A: $(maps_it $A)"
fincore target/release/libsolib.so
before=$(text_frame A)
tell A open:target/release/libsolib.so   # a second dlopen of the same file
echo "A: $(maps_it $A)"
tell A unload                            # one dlclose: one reference is left
echo "A: $(maps_it $A)"
tell B unload                            # B's only reference
echo "B: $(maps_it $B)"
tell A exit                              # now no process maps the file
fincore target/release/libsolib.so
hosts C -- touch
after=$(text_frame C)
if [ "$before" = hidden ]; then echo "(frame numbers are shown to root only)"
elif [ "$after" = "$before" ]; then echo "C's page of solib_add is the frame A used"
else echo "C's page of solib_add is another frame: the page cache had dropped A's"; fi
# ANCHOR_END: cmd
