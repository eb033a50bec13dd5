# needs: root
hosts A B C -- touch add:1,2
# ANCHOR: cmd
solab prove --object libsolib.so $A $B $C
# ANCHOR_END: cmd
