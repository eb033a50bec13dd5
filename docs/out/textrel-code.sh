# ANCHOR: cmd
# The -fno-pic -mcmodel=large build: a 64-bit absolute address in the instruction (movabs),
# to be patched by the loader (-R shows the dynamic relocation under the instruction).
objdump -dR --no-show-raw-insn --disassemble=textrel_bump target/lab/libtextrel-textrel.so \
    | grep -A6 '<textrel_bump>:'
# The -fPIC build: the address is loaded from the GOT, relative to the instruction pointer.
objdump -dR --no-show-raw-insn --disassemble=textrel_bump target/lab/libtextrel-pic.so \
    | grep -A5 '<textrel_bump>:'
readelf -rW target/lab/libtextrel-pic.so | grep -E 'textrel_(counter|table)'
# ANCHOR_END: cmd
