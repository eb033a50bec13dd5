# needs: root
# ANCHOR: cmd
fresh
solab elf target/lab/libtextrel-textrel.so | head -3
hosts P Q -- open:target/lab/libtextrel-textrel.so touch-all
solab prove --object libtextrel-textrel.so $P $Q; echo "exit status $?"
# ANCHOR_END: cmd
