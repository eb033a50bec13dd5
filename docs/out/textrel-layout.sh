# ANCHOR: cmd
nm -n target/lab/libtextrel-textrel.so | grep ' textrel_'
readelf -rW target/lab/libtextrel-textrel.so | grep -E '^ +Offset|R_X86_64_64'
# ANCHOR_END: cmd
