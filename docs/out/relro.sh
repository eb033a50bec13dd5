# needs: root
# ANCHOR: cmd
fresh
hosts A B C -- touch
solab inspect --pages --object libsolib.so $A $B $C | awk '$1 == "offset" || $2 == "relro"'
# ANCHOR_END: cmd
