# ANCHOR: cmd
LD_DEBUG=bindings solib-client status add:1,2 2>&1 | grep -E "solib_(add|status)'|action=" | cut -f2-
LD_BIND_NOW=1 LD_DEBUG=bindings solib-client status add:1,2 2>&1 \
    | grep -E "solib_(add|status)'|action=" | cut -f2-
# ANCHOR_END: cmd
