# ANCHOR: cmd
solab --help
# ANCHOR_END: cmd
