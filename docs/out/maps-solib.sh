# needs: root
# ANCHOR: cmd
fresh
hosts A -- touch
grep -A1 -E 'libsolib|solib-u' /proc/$A/maps
# ANCHOR_END: cmd
