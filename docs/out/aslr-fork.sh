# ANCHOR: cmd
libc_base() { grep -m1 'libc\.so' "$1" | cut -d- -f1; }
shell=$(libc_base /proc/$$/maps)                   # this shell
forked=$(libc_base /proc/$BASHPID/maps)            # $( ) runs in a fork of this shell
execd=$(grep -m1 'libc\.so' /proc/self/maps | cut -d- -f1)   # grep: fork, then exec
echo "this shell:        libc at 0x$shell"
echo "a fork of it:      libc at 0x$forked"
echo "a program it ran:  libc at 0x$execd"
[ "$forked" = "$shell" ] && echo "fork: the child keeps its parent's addresses"
[ "$execd" != "$shell" ] && echo "exec: a new layout, new addresses"
# ANCHOR_END: cmd
