# needs: root
# ANCHOR: cmd
target/release/solab-lab -e 5 --color never
# ANCHOR_END: cmd
