# ANCHOR: cmd
tmp=$(mktemp -d)
# Plain -fno-pic: the code reaches the data with 32-bit PC-relative offsets, which the
# linker cannot fix for a symbol that another object may interpose.
cc -O2 -fno-toplevel-reorder -fno-pic -shared lab/textrel/textrel.c -o $tmp/plain.so 2>&1 \
    | grep -o 'relocation R_X86_64_PC32 against symbol .*'
# The same with hidden symbols: nothing can interpose them, the offsets are fixed at link
# time, and there is nothing for the loader to patch.
cc -O2 -fno-toplevel-reorder -fno-pic -fvisibility=hidden -shared lab/textrel/textrel.c -o $tmp/hidden.so
readelf -d $tmp/hidden.so | grep TEXTREL || echo "hidden.so: no TEXTREL"
objdump -d --no-show-raw-insn --disassemble=textrel_bump $tmp/hidden.so | grep -A4 '<textrel_bump>:'
rm -r $tmp
# ANCHOR_END: cmd
