# needs: root
# compare: shape (fincore counts what the page cache holds, which depends on the machine)
# ANCHOR: cmd
target/release/solab-lab -e 9 --color never
# ANCHOR_END: cmd
