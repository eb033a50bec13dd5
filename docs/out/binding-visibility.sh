# ANCHOR: cmd
for how in "" -fvisibility=hidden -Wl,-Bsymbolic; do
    cc -O2 -fno-toplevel-reorder -fPIC -shared $how lab/textrel/textrel.c -o target/lab/vis.so
    printf '%-20s exported textrel_ symbols: %s, GOT relocations for them: %s\n' "${how:-default}" \
        "$(readelf --dyn-syms -W target/lab/vis.so | grep -c ' textrel_')" \
        "$(readelf -rW target/lab/vis.so | grep -c 'GLOB_DAT.* textrel_')"
    objdump -d --no-show-raw-insn --disassemble=textrel_bump target/lab/vis.so \
        | grep -A1 '<textrel_bump>:' | tail -1
done
# ANCHOR_END: cmd
