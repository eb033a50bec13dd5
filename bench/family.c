/* The family `make bench` times `solab family` on: a parent that writes MIB MiB of
 * anonymous memory (every page, so every page is present and none is the zero page), then
 * forks CHILDREN children that inherit it and only sleep, so each child's MIB MiB are still
 * the parent's frames. When every child is forked the parent creates READY and sleeps.
 * On SIGTERM the parent kills its children, reaps them and exits; on SIGKILL the children
 * die with it (PR_SET_PDEATHSIG) and init reaps them.
 *
 * Usage: bench-family MIB CHILDREN READY
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
        fprintf(stderr, "usage: bench-family MIB CHILDREN READY\n");
        return 2;
    }
    size_t len = strtoull(argv[1], NULL, 10) << 20;
    long children = strtol(argv[2], NULL, 10);
    if (len == 0 || children < 0 || children > 4096) {
        fprintf(stderr, "bench-family: MIB must be > 0 and CHILDREN 0..4096\n");
        return 2;
    }
    char *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        perror("bench-family: mmap");
        return 1;
    }
    long page = sysconf(_SC_PAGESIZE);
    for (size_t i = 0; i < len; i += (size_t)page)
        mem[i] = (char)(1 + i / (size_t)page % 251);
    pid_t parent = getpid();
    sigset_t term, old;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigprocmask(SIG_BLOCK, &term, &old);
    signal(SIGTERM, on_term);
    for (long c = 0; c < children; c++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("bench-family: fork");
            return 1;
        }
        if (pid == 0) {
            signal(SIGTERM, SIG_DFL);
            sigprocmask(SIG_SETMASK, &old, NULL);
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent)
                _exit(0);
            for (;;)
                pause();
        }
        kids[forked++] = pid;
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    int fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror("bench-family: ready file");
        return 1;
    }
    close(fd);
    for (;;)
        pause();
}
