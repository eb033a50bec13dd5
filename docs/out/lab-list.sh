# ANCHOR: cmd
target/release/lab --list
# ANCHOR_END: cmd
