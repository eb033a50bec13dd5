# needs: root
hosts A B C -- touch add:1,2
# ANCHOR: cmd
solab inspect --object libsolib.so $A $B $C
# ANCHOR_END: cmd
