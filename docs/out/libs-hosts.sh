# needs: root
# compare: shape
hosts A B C -- touch add:1,2
# ANCHOR: cmd
solab libs $A $B $C
# ANCHOR_END: cmd
