# ANCHOR: cmd
objdump -d --no-show-raw-insn -j .plt target/release/solib-client | grep -A3 '<solib_add@plt>:'
readelf -rW target/release/solib-client | grep 'JUMP_SLOT.* solib_add'
# ANCHOR_END: cmd
