# ANCHOR: cmd
target/release/solab-lab --list
# ANCHOR_END: cmd
