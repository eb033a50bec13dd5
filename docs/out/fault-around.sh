# ANCHOR: cmd
cat target/release/libsolib.so > /dev/null    # the whole file is now in the page cache
python3 docs/examples/fault_around.py target/release/libsolib.so 20
# ANCHOR_END: cmd
