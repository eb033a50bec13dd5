# ANCHOR: cmd
fresh
cp target/release/libsolib.so target/lab/libcopy.so
hosts D -- --lib target/lab/libcopy.so touch
# Install a new version by rename: a new file (a new inode) takes the name.
cp target/release/libsolib.so target/lab/libcopy.so.new
mv target/lab/libcopy.so.new target/lab/libcopy.so
tell D add:1,2
grep -m1 -o 'libcopy.so.*' /proc/$D/maps
# Overwrite the file in place: the same inode, truncated and rewritten under E.
hosts E -- --lib target/lab/libcopy.so touch
cp target/lab/libtextrel-pic.so target/lab/libcopy.so
{ tell E add:1,2; wait $E; status=$?; } 2>/dev/null   # no answer: E died
echo "E: exit status $status (SIG$(kill -l $((status - 128))))"
# ANCHOR_END: cmd
