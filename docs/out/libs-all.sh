# needs: root
# compare: shape
# compare: lines 4
# ANCHOR: cmd
solab libs --all --top 8
# ANCHOR_END: cmd
