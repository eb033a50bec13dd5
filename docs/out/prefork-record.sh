# needs: root
# compare: shape
# compare: lines 5
# ANCHOR: cmd
recorded() {  # SVG ARGS: prefork.py ARGS; solab family --record while the workers act
    svg=$1; shift
    log=$(mktemp)
    N=100000 python3 docs/examples/prefork.py "$@" >"$log" &
    parent=$!
    until grep -q ready "$log"; do sleep 0.1; done
    grep -v ready "$log"
    solab family --record 5 $parent ${svg:+--svg "$svg"} 2>"$log.err" &
    solab=$!
    until grep -qs recording "$log.err"; do sleep 0.1; done
    kill -USR1 $parent   # idle does nothing, gc runs gc.collect(), touch reads every record
    wait $solab
    kill $parent; wait $parent 2>/dev/null; rm -f "$log" "$log.err"
}
recorded "$IMG/prefork-copied.svg"
recorded "" --freeze
# ANCHOR_END: cmd
