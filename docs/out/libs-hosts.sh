# needs: root
# compare: shape
# ANCHOR: cmd
fresh
hosts A B C -- touch add:1,2
solab libs $A $B $C
# ANCHOR_END: cmd
