# ANCHOR: cmd
solab elf target/release/libsolib.so | grep -E '^ +offset| (relro|data|shared|bss) '
# ANCHOR_END: cmd
