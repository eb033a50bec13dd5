# needs: root
hosts A B C -- touch
# ANCHOR: cmd
solab inspect --pages --object libsolib.so $A $B $C | awk '$1 == "offset" || $2 == "relro"'
# ANCHOR_END: cmd
