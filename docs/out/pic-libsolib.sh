# needs: root
hosts A B C -- touch
tell A add:10,20 >/dev/null
# ANCHOR: cmd
solab inspect --object libsolib.so $A $B $C --svg $IMG/three-hosts-libsolib.svg
# ANCHOR_END: cmd
