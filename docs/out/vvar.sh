# needs: root
# ANCHOR: cmd
fresh
hosts A B -- touch-all
awk '/\[(vvar|vvar_vclock|vdso)\]/ {name = $6} name && /^(Rss|VmFlags)/ {print name, $1, $2, $3, $4, $5, $6, $7, $8} /^VmFlags/ {name = ""}' /proc/$A/smaps
python3 docs/examples/special_pages.py $A $B
python3 docs/examples/vvar_reads.py
# ANCHOR_END: cmd
