# needs: root
# ANCHOR: cmd
fresh
hosts A B -- touch
tell A add:10,20
tell B add:30,40
tell A counters
# ANCHOR_END: cmd
