# ANCHOR: cmd
readelf -d target/release/libsolib.so /lib/x86_64-linux-gnu/libc.so.6 | grep -E '^File|FLAGS'
solab elf /lib/x86_64-linux-gnu/libc.so.6 | grep -E 'PT_GNU_RELRO|^ +offset|\.got'
solab elf target/release/libsolib.so | grep -E 'PT_GNU_RELRO|^ +offset|\.got'
# ANCHOR_END: cmd
