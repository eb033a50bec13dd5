# needs: root
# ANCHOR: cmd
fresh
hosts A B C -- touch
solab inspect --pages --object libsolib.so $A $B $C | awk '$1 == "offset" || $2 == "data"'
tell A add:10,20
solab inspect --pages --object libsolib.so $A $B $C | awk '$1 == "offset" || $2 == "data"'
# ANCHOR_END: cmd
