# needs: root
# compare: shape
# ANCHOR: cmd
target/release/solab-lab -e 11 --color never
# ANCHOR_END: cmd
