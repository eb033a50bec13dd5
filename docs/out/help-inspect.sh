# ANCHOR: cmd
solab inspect --help
# ANCHOR_END: cmd
