# needs: root
# ANCHOR: cmd
fresh
hosts A B C -- touch
for h in A B C; do tell $h addrs | grep -o 'pid=[0-9]* .*solib_add=0x[0-9a-f]*'; done
off=$(tell A addrs | grep -o 'solib_add_offset=0x[0-9a-f]*' | cut -d= -f2)
page=$(printf '%#x' $((off & ~4095)))     # the page of solib_add, from the load base
solab inspect --pages --object libsolib.so $A $B $C | grep -E "^ +offset|^ +$page "
# ANCHOR_END: cmd
