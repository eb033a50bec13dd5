# ANCHOR: cmd
objdump -d --no-show-raw-insn --disassemble=solib_add target/release/libsolib.so \
    | grep -A9 '<solib_add>:'
# ANCHOR_END: cmd
