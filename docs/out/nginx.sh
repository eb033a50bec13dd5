# needs: root
# compare: shape
# ANCHOR: cmd
ngx=$(mktemp -d)      # nginx's config, pid file, log and temporary files: all in here
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$ngx/nginx.conf" <<END
daemon off;                 # stay in the foreground, a child of this shell
master_process on;
worker_processes 4;
pid $ngx/nginx.pid;
error_log $ngx/error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $ngx/body; proxy_temp_path $ngx/proxy;
    fastcgi_temp_path $ngx/fastcgi; uwsgi_temp_path $ngx/uwsgi; scgi_temp_path $ngx/scgi;
    gzip on; gzip_min_length 1; default_type text/plain; gzip_types text/plain;
    server { listen 127.0.0.1:$port; location / { return 200 "hello\n"; } }
}
END
/usr/sbin/nginx -p "$ngx" -c "$ngx/nginx.conf" -e "$ngx/error.log" &   # not on a user's PATH
master=$!
for _ in $(seq 1 300); do   # until 4 workers wait for connections in epoll_wait (30 s at most)
    kill -0 $master 2>/dev/null || { echo "nginx did not start:"; cat "$ngx/error.log"; break; }
    workers=$(pgrep -P "$master" | tr '\n' ' ')
    [ "$(cat /proc/{${workers// /,}}/wchan 2>/dev/null | grep -c epoll)" = 4 ] && break
    sleep 0.1
done
solab prove -o nginx $master $workers | grep -v '^    e\.g\. '
copies() {  # OBJECT: per process, its written data pages: its own copy, or still inherited
    solab inspect --json -o "$1" $master $workers | python3 -c '
import json, os, sys
pages = [p for p in json.load(sys.stdin)["objects"][0]["pages"] if p["segment"] in ("data", "bss")]
for pid in map(int, sys.argv[1:]):
    states = [q["state"] for p in pages for q in p["procs"] if q["pid"] == pid]
    # root sees frames (anon-cow); others see only that the page is mapped more than once
    inherited = "anon-cow" if os.geteuid() == 0 else "anon-not-exclusive"
    print("%s %d: %d anon-exclusive (its own copy), %d %s (inherited)" % (
        "master" if pid == int(sys.argv[1]) else "worker", pid,
        states.count("anon-exclusive"), states.count(inherited), inherited))' $master $workers
}
copies nginx
copies libz.so
exec {http}<>/dev/tcp/127.0.0.1/$port   # one request for a compressed answer
printf 'GET / HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n' >&$http
grep -a -m1 '^Content-Encoding' <&$http; exec {http}>&-
copies libz.so
# ANCHOR_END: cmd
