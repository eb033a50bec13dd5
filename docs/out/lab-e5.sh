# needs: root
# ANCHOR: cmd
target/release/lab -e 5 --color never
# ANCHOR_END: cmd
