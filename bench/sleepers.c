/* The processes `make bench` adds to the machine for `solab top` at 2,000 processes
 * (bench/top.sh): a parent that forks CHILDREN children, each of which writes KIB KiB of
 * anonymous memory of its own (its private pages, as a worker's heap) and sleeps. When
 * every child is forked and has written its memory the parent creates READY and sleeps.
 * On SIGTERM the parent kills its children, reaps them and exits; on SIGKILL the children
 * die with it (PR_SET_PDEATHSIG) and init reaps them.
 *
 * Usage: bench-sleepers CHILDREN KIB READY
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t kids[4096];
static long forked;

static void on_term(int sig)
{
    (void)sig;
    for (long c = 0; c < forked; c++)
        kill(kids[c], SIGKILL);
    for (long c = 0; c < forked; c++)
        waitpid(kids[c], NULL, 0);
    _exit(0);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench-sleepers CHILDREN KIB READY\n");
        return 2;
    }
    long children = strtol(argv[1], NULL, 10);
    size_t len = strtoull(argv[2], NULL, 10) << 10;
    if (children < 0 || children > 4096 || len > (size_t)64 << 20) {
        fprintf(stderr, "bench-sleepers: CHILDREN 0..4096, KIB at most 65536\n");
        return 2;
    }
    pid_t parent = getpid();
    sigset_t term, old;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigprocmask(SIG_BLOCK, &term, &old);
    signal(SIGTERM, on_term);
    int ready[2];
    if (pipe(ready) != 0) {
        perror("bench-sleepers: pipe");
        return 1;
    }
    long page = sysconf(_SC_PAGESIZE);
    for (long c = 0; c < children; c++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("bench-sleepers: fork");
            on_term(0);
        }
        if (pid == 0) {
            signal(SIGTERM, SIG_DFL);
            sigprocmask(SIG_SETMASK, &old, NULL);
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent)
                _exit(0);
            close(ready[0]);
            if (len > 0) {
                char *mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                if (mem == MAP_FAILED)
                    _exit(1);
                for (size_t i = 0; i < len; i += (size_t)page)
                    mem[i] = (char)(1 + c % 251);
            }
            /* One byte once the memory is written; the parent counts them. */
            if (write(ready[1], "", 1) != 1)
                _exit(1);
            close(ready[1]);
            for (;;)
                pause();
        }
        kids[forked++] = pid;
    }
    close(ready[1]);
    char buf[256];
    long got = 0;
    while (got < children) {
        ssize_t n = read(ready[0], buf, sizeof buf);
        if (n <= 0) {
            fprintf(stderr, "bench-sleepers: a child exited before it was ready\n");
            on_term(0);
        }
        got += n;
    }
    close(ready[0]);
    int fd = open(argv[3], O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) {
        perror("bench-sleepers: READY");
        on_term(0);
    }
    close(fd);
    sigprocmask(SIG_SETMASK, &old, NULL);
    for (;;)
        pause();
}
