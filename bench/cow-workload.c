/* The fork-heavy workload `make bench` runs with and without `solab family --record`: a
 * parent writes every page of MIB MiB of anonymous memory, waits until the file GO exists
 * (so a recorder can attach first), then ROUNDS times forks a child that rewrites every
 * inherited page (each write a copy-on-write fault) and exits, waiting for each child.
 * It writes the seconds the rounds took to OUT, then waits until GO is gone (so a recorder
 * reads it once more) and exits.
 *
 * Usage: bench-cow-workload MIB ROUNDS GO OUT
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: bench-cow-workload MIB ROUNDS GO OUT\n");
        return 2;
    }
    size_t len = strtoull(argv[1], NULL, 10) << 20;
    long rounds = strtol(argv[2], NULL, 10);
    if (len == 0 || rounds < 1 || rounds > 1000) {
        fprintf(stderr, "bench-cow-workload: MIB must be > 0 and ROUNDS 1..1000\n");
        return 2;
    }
    char *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        perror("bench-cow-workload: mmap");
        return 1;
    }
    /* Small pages: a huge page is copied whole, by other paths. */
    madvise(mem, len, MADV_NOHUGEPAGE);
    long page = sysconf(_SC_PAGESIZE);
    for (size_t i = 0; i < len; i += (size_t)page)
        mem[i] = 1;
    while (access(argv[3], F_OK) != 0)
        usleep(10000);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long r = 0; r < rounds; r++) {
        pid_t c = fork();
        if (c < 0) {
            perror("bench-cow-workload: fork");
            return 1;
        }
        if (c == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            for (size_t i = 0; i < len; i += (size_t)page)
                mem[i] = 2;
            _exit(0);
        }
        waitpid(c, NULL, 0);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    FILE *out = fopen(argv[4], "w");
    if (!out)
        return 1;
    fprintf(out, "%.6f\n", (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    fclose(out);
    while (access(argv[3], F_OK) == 0)
        usleep(10000);
    return 0;
}
