# ANCHOR: cmd
solab libs --help
# ANCHOR_END: cmd
