# ANCHOR: cmd
LD_DEBUG=files,reloc solab-lab-host status 2>&1 | cut -f2- \
    | sed -n '/libsolib.so.*dynamically loaded/,/libsolib.so.*destroying/p' | grep -v '^$'
# ANCHOR_END: cmd
