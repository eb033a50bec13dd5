# needs: root
# ANCHOR: cmd
fresh
HOSTS_NAMED=1 hosts P Q -- open:target/lab/libtextrel-textrel.so touch-all
solab inspect --object libtextrel-textrel.so $P $Q --svg $IMG/textrel.svg
# ANCHOR_END: cmd
