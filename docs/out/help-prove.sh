# ANCHOR: cmd
solab prove --help
# ANCHOR_END: cmd
