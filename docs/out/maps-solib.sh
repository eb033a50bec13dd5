# needs: root
hosts A -- touch
# ANCHOR: cmd
grep -A1 -E 'libsolib|solib-u' /proc/$A/maps
# ANCHOR_END: cmd
