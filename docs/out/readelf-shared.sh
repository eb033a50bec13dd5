# ANCHOR: cmd
readelf -SW target/release/libsolib.so | grep -E 'Nr\]|\.data |\.shared|\.bss'
# ANCHOR_END: cmd
