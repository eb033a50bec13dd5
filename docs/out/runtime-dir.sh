# needs: root
# ANCHOR: cmd
as_nobody touch /dev/shm/solib-u0-v1-$SOLIB_NAMESPACE   # another user takes the name first
hosts A --
tell A status
export XDG_RUNTIME_DIR=$(mktemp -d)                     # a directory of root's own, mode 0700
hosts B C --
tell B 'clip-set:shared all the same'
tell C clip-get
tell C status
# ANCHOR_END: cmd
rm -r "$XDG_RUNTIME_DIR"
