# runs only as: root
# ANCHOR: cmd
fresh
as_nobody touch /dev/shm/solib-u0-v1-$SOLIB_NAMESPACE   # another user takes the name first
hosts A --                                              # no runtime directory
tell A status
rt=$(mktemp -d)                                         # root's own directory, mode 0700
HOSTS_RUNTIME_DIR=$rt hosts B C --                      # $rt as their XDG_RUNTIME_DIR
tell B 'clip-set:shared all the same'
tell C clip-get
tell C status
fresh; rm -r $rt                                        # stop them, remove the directory
# ANCHOR_END: cmd
