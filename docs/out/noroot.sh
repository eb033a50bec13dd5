# needs: root
# runs only as: root
# ANCHOR: cmd
fresh
HOSTS_AS=nobody hosts A B C -- touch add:1,2
setpriv --reuid 65534 --regid 65534 --clear-groups -- \
    target/release/solab prove --object libsolib.so $A $B $C
# ANCHOR_END: cmd
