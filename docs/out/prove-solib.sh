# needs: root
# ANCHOR: cmd
fresh
hosts A B C -- touch add:1,2
solab prove --object libsolib.so $A $B $C
# ANCHOR_END: cmd
