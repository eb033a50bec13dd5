/* solibc-hit: loads libsolib-c.so (linked with -lsolib-c), counts N calls in its shared
 * section (default 1) and prints the library's status and the count of every process. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "solibc.h"

int main(int argc, char **argv) {
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1;
    uint64_t calls = 0;
    for (long i = 0; i < n; i++) calls = solibc_hit();
    printf("solibc-hit pid=%d status=%s calls=%" PRIu64 "\n", (int)getpid(), solibc_status(),
           calls);
    return 0;
}
