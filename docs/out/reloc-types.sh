# ANCHOR: cmd
readelf -lW target/release/libsolib.so | grep -E '^ +(Type|LOAD|GNU_RELRO)'
readelf -rW target/release/libsolib.so | awk '/^[0-9a-f]+ / {print $3}' | sort | uniq -c | sort -rn
# ANCHOR_END: cmd
