# ANCHOR: cmd
solab-lab-host --help
# ANCHOR_END: cmd
