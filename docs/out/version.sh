# ANCHOR: cmd
solab --version
# ANCHOR_END: cmd
