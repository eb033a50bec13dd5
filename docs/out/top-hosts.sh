# needs: root
# compare: shape
# ANCHOR: cmd
fresh
hosts A B C -- touch add:1,2
solab top -n 2 -d 1 -s pid $A $B $C
# ANCHOR_END: cmd
