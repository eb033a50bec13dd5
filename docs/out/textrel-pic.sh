# needs: root
# ANCHOR: cmd
fresh
hosts P Q -- open:target/lab/libtextrel-pic.so touch-all
solab inspect --object libtextrel-pic.so $P $Q | tail -5
# ANCHOR_END: cmd
