# ANCHOR: cmd
readelf -lW target/release/libsolib.so | grep -E '^ +(Type|TLS)'
readelf -rW target/release/libsolib.so | grep -c R_X86_64_DTPMOD64
readelf -d /lib/x86_64-linux-gnu/libc.so.6 | grep FLAGS
readelf -rW /lib/x86_64-linux-gnu/libc.so.6 | grep -c R_X86_64_TPOFF64
# ANCHOR_END: cmd
