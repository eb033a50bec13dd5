# needs: root
# compare: lines 6
# ANCHOR: cmd
solab ps --by comm $A $B $C $$
# ANCHOR_END: cmd
