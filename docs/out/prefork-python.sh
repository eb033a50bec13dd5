# needs: root
# compare: shape
# ANCHOR: cmd
shares() {  # PARENT LOG: per worker, what solab family says of its inherited memory
    solab family --json "$1" | python3 -c '
import json, sys
roles = dict(l.split()[1:3] for l in open(sys.argv[1]) if l.startswith("worker "))
for p in json.load(sys.stdin)["processes"][1:]:
    t = p["totals"]
    print("  worker %-5s parents-frame %4d MiB, copied %4d MiB, new %2d MiB" % (
        roles[str(p["pid"])], t["parents_frame"] >> 20, t["copied"] >> 20, t["new"] >> 20))
' "$2"
}
prefork() {  # ARGS: run prefork.py, measure, let each worker do its job, measure again
    log=$(mktemp)
    python3 docs/examples/prefork.py "$@" >"$log" &
    parent=$!
    until grep -q ready "$log"; do sleep 0.1; done
    head -1 "$log"
    echo "after fork:"; shares $parent "$log"
    kill -USR1 $parent; until grep -q acted "$log"; do sleep 0.1; done
    echo "after idle did nothing, gc ran gc.collect(), touch read every record:"
    shares $parent "$log"
    kill $parent; wait $parent 2>/dev/null; rm -f "$log"
}
prefork
prefork --freeze
# ANCHOR_END: cmd
