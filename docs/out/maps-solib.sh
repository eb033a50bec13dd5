# needs: root
hosts A -- touch
# ANCHOR: cmd
grep -E 'libsolib|solib-u' /proc/$A/maps
# ANCHOR_END: cmd
