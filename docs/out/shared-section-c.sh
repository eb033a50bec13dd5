# needs: root
# ANCHOR: cmd
fresh
readelf -SW target/release/libsolib-c.so | grep -E 'Nr\]|\.data |\.shared|\.bss'
hosts A B -- open:target/release/libsolib-c.so touch-all
grep -E 'libsolib-c|solibc' /proc/$A/maps
solibc-hit
solibc-hit 10
solab inspect --pages --object libsolib-c.so $A $B | awk '$1 == "offset" || $2 == "shared"'
# ANCHOR_END: cmd
