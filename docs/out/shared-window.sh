# needs: root
# ANCHOR: cmd
fresh
hosts A B C -- touch
grep -E 'libsolib\.so|/dev/shm/solib' /proc/$A/maps
ls -l /dev/shm/ | grep "solib-u$(id -u)-v1-$SOLIB_NAMESPACE"
solab inspect --pages --object libsolib.so $A $B $C | awk '$1 == "offset" || $2 == "shared"'
# ANCHOR_END: cmd
