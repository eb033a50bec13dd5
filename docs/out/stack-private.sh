# needs: root
hosts A B -- touch
# ANCHOR: cmd
tell A add:10,20
tell B add:30,40
tell A counters
# ANCHOR_END: cmd
