# needs: root
# ANCHOR: cmd
fresh
hosts A B -- touch-all
grep -E 'vdso|vvar' /proc/$A/maps
python3 -c 'import struct, sys   # where the kernel told A the vDSO is: its auxiliary vector
aux = open(f"/proc/{sys.argv[1]}/auxv", "rb").read()
for key, value in struct.iter_unpack("<QQ", aux):
    if key == 33: print(f"AT_SYSINFO_EHDR:      {value:#x}")   # 33: AT_SYSINFO_EHDR, elf.h' $A
solab inspect --pages --object vdso $A $B | awk '$1 == "offset" || $2 == "text"'
# ANCHOR_END: cmd
