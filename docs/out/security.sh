# needs: root
# runs only as: root
# ANCHOR: cmd
fresh
region=/dev/shm/solib-u$(id -u)-v1-$SOLIB_NAMESPACE
install -m 0644 /dev/null $region        # an object with the wrong mode is already there
hosts A --
tell A status
rm $region
hosts B -- 'clip-set:for my eyes only'
tell B status
as_nobody cat $region                    # another user
# ANCHOR_END: cmd
