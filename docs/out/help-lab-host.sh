# ANCHOR: cmd
lab-host --help
# ANCHOR_END: cmd
