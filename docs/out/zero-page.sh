# needs: root
# ANCHOR: cmd
fresh
hosts A B C -- touch
solab inspect --pages --object libsolib.so $A $B $C | awk '$1 == "offset" || $2 == "bss"'
tell A add:1,1
solab inspect --pages --object libsolib.so $A $B $C | awk '$1 == "offset" || $2 == "bss"'
# ANCHOR_END: cmd
