# ANCHOR: cmd
cat > target/lab/interpose.c <<'C'
#include <stdint.h>
/* The same name as libsolib.so's function. */
int64_t solib_add(int64_t a, int64_t b) { return 1000 + a + b; }
C
cc -O2 -fPIC -shared target/lab/interpose.c -o target/lab/libinterpose.so
solib-client add:1,2
LD_PRELOAD=target/lab/libinterpose.so solib-client add:1,2
LD_DEBUG=bindings LD_PRELOAD=target/lab/libinterpose.so solib-client add:1,2 2>&1 \
    | grep "symbol \`solib_add'" | cut -f2-
LD_PRELOAD=target/lab/libinterpose.so solab-lab-host add:1,2
# ANCHOR_END: cmd
