# needs: root
# ANCHOR: cmd
fresh
HOSTS_NAMED=1 hosts A B C -- touch
tell A add:10,20 >/dev/null
solab inspect --object libsolib.so $A $B $C --svg $IMG/three-hosts-libsolib.svg
# ANCHOR_END: cmd
