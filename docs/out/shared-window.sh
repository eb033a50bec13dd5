# needs: root
hosts A B C -- touch
# ANCHOR: cmd
grep -E 'solib' /proc/$A/maps
ls -l /dev/shm/ | grep "solib-u0-v1-$SOLIB_NAMESPACE"
solab inspect --pages --object libsolib.so $A $B $C | awk '$1 == "offset" || $2 == "shared"'
# ANCHOR_END: cmd
