# needs: root
# ANCHOR: cmd
fresh
text_frame() {  # PID: the frame of the page of solib_add (its address, from nm) in that process
    solab inspect --json --object libsolib.so "$1" | python3 -c 'import json, sys
page = int(sys.argv[1], 16) & ~0xfff
pages = json.load(sys.stdin)["objects"][0]["pages"]
print(next(p["procs"][0]["pfn"] for p in pages if p["offset"] == page))' \
        "$(nm -D target/release/libsolib.so | awk '$3 == "solib_add" {print $1}')"
}
maps_it() { echo "$(grep -c libsolib.so /proc/$1/maps) mappings of libsolib.so"; }
cat target/release/libsolib.so > /dev/null   # every page of the file in the page cache
hosts A B -- touch
echo "A: $(maps_it $A)"
fincore target/release/libsolib.so
before=$(text_frame $A)
tell A open:target/release/libsolib.so   # a second dlopen of the same file
echo "A: $(maps_it $A)"
tell A unload                            # one dlclose: one reference is left
echo "A: $(maps_it $A)"
tell B unload                            # B's only reference
echo "B: $(maps_it $B)"
tell A exit                              # now no process maps the file
fincore target/release/libsolib.so
hosts C -- touch
[ "$(text_frame $C)" = "$before" ] && echo "C's page of solib_add is the frame A used"
# ANCHOR_END: cmd
