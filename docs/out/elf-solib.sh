# ANCHOR: cmd
solab elf target/release/libsolib.so | head -14
# ANCHOR_END: cmd
