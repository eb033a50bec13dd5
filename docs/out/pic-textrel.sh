# needs: root
hosts P Q -- open:target/lab/libtextrel-textrel.so touch-all
# ANCHOR: cmd
solab inspect --object libtextrel-textrel.so $P $Q --svg $IMG/textrel.svg
# ANCHOR_END: cmd
