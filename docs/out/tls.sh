# ANCHOR: cmd
cc -O2 -Wall -pthread docs/examples/tls.c -o target/lab/tls-demo
readelf -SW target/lab/tls-demo | grep -E 'Nr\]|\.tdata|\.tbss|\.data '
readelf -lW target/lab/tls-demo | grep -E '^ +(Type|TLS)'
target/lab/tls-demo | sort
# ANCHOR_END: cmd
