# needs: root
# ANCHOR: cmd
fresh
hosts A B -- touch-all
grep -E 'vdso|vvar' /proc/$A/maps
LD_SHOW_AUXV=1 /bin/true | grep SYSINFO_EHDR     # where the kernel told ld.so the vDSO is
solab inspect --pages --object vdso $A $B | awk '$1 == "offset" || $2 == "text"'
# ANCHOR_END: cmd
