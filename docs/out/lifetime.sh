# needs: root
# ANCHOR: cmd
fresh
hosts A B -- 'clip-set:still here' add:1,1
tell B status
kill -9 $A $B; wait $A $B 2>/dev/null
hosts C --
tell C status
tell C clip-get
tell C counters
# ANCHOR_END: cmd
