# needs: root
# compare: shape
# compare: lines 5
# ANCHOR: cmd
fresh
hosts A B C -- touch add:1,2
solab ps -s pid $A $B $C
# ANCHOR_END: cmd
