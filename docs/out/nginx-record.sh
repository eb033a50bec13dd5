# needs: root
# compare: shape
# compare: lines 1
# ANCHOR: cmd
get() {  # one request for a compressed answer, read to the end
    exec {http}<>/dev/tcp/127.0.0.1/$port
    printf 'GET / HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n' >&$http
    cat <&$http >/dev/null; exec {http}>&-
}
solab family --record 2 $master 2>"$ngx/record.err" &
solab=$!
until grep -qs recording "$ngx/record.err"; do sleep 0.1; done
for _ in $(seq 1 20); do get; done   # twenty requests, spread over the workers
wait $solab
kill -QUIT $master; wait $master; rm -rf "$ngx"
# ANCHOR_END: cmd
