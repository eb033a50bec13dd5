/* The actor of the differential test (tests/difftest.rs): one process that applies memory
 * operations read one per line from stdin and answers each with one line on stdout.
 *
 *   map SLOT KIND PAGES FILE HUGE   KIND 0 anon private, 1 anon shared, 2 file private,
 *                                   3 file shared (FILE: pool file DIR/fFILE); HUGE: a
 *                                   2 MiB-aligned region, MADV_HUGEPAGE before any fault
 *   unmap SLOT OFF N NEWSLOT        pages [OFF, OFF+N); a hole in the middle leaves the
 *                                   part above it in NEWSLOT
 *   remap SLOT PAGES                mremap with MREMAP_MAYMOVE
 *   prot SLOT OFF N RW              mprotect read-only (RW 0) or read-write (RW 1)
 *   write SLOT OFF N VAL            one byte VAL at the start of each page (read-only pages
 *                                   are read instead)
 *   read SLOT OFF N                 one byte of each page read
 *   advise SLOT OFF N ADV           madvise: 0 HUGEPAGE, 1 NOHUGEPAGE, 2 DONTNEED,
 *                                   3 MERGEABLE, 4 PAGEOUT
 *   fork ID                         the child reads DIR/in.ID and answers on DIR/out.ID
 *   exec                            execs this program again: a fresh actor, same pid
 *
 * Slots IMAGE and IMAGE + 1 are the driver's own pages: IMG_DATA in .data (the file's
 * pages until written) and IMG_BSS in .bss (nothing, or the zero page, until written), for
 * `solab inspect` and `solab prove` of the driver; write, read and advise apply to them,
 * map, unmap, remap and prot skip them.
 *
 * Every answer starts with "ok" ("ok skip" when the operation names nothing that exists,
 * "ok fail=ERRNO" when the kernel refused it); "fork" answers "ok child=PID". A new actor
 * (started, forked or exec'ed) prints "ready pid=PID" first. Offsets and counts are
 * clamped to the region, so that any subsequence of a valid sequence is valid too.
 *
 * Built static, so that the actors map no library that other processes on the machine map
 * too: every frame they share is shared among them. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

#define PAGE 4096UL
#define HUGE (2UL * 1024 * 1024)
#define SLOTS 16
#define MAXPAGES 4096
#define IMAGE SLOTS
#define IMAGE_PAGES 24

struct region {
    char *addr;
    size_t pages;
    int kind;
    unsigned char rw[MAXPAGES];
};

static struct region *R[SLOTS];
/* Initialized, so in .data and in the file; the other in .bss. */
static unsigned char IMG_DATA[IMAGE_PAGES * PAGE] __attribute__((aligned(4096))) = {1};
static unsigned char IMG_BSS[IMAGE_PAGES * PAGE] __attribute__((aligned(4096)));
static struct region IMG[2];
static const char *dir;
static char *self;

static void answer(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void answer(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static struct region *slot(long s) {
    if (s == IMAGE || s == IMAGE + 1) return &IMG[s - IMAGE];
    return s >= 0 && s < SLOTS ? R[s] : NULL;
}

/* A region the driver made (not one of its own image's). */
static struct region *made(long s) {
    return s >= 0 && s < SLOTS ? R[s] : NULL;
}

/* [*off, *off + *n) clamped to the region; 0 when nothing is left. */
static int clamp(struct region *r, long *off, long *n) {
    if (*off < 0 || *n <= 0 || (size_t)*off >= r->pages) return 0;
    if ((size_t)(*off + *n) > r->pages) *n = (long)r->pages - *off;
    return 1;
}

static void do_map(long s, long kind, long pages, long file, long huge) {
    if (s < 0 || s >= SLOTS || R[s] || pages <= 0 || pages > MAXPAGES || kind < 0 || kind > 3) {
        answer("ok skip");
        return;
    }
    int flags = (kind == 1 || kind == 3) ? MAP_SHARED : MAP_PRIVATE;
    int fd = -1;
    if (kind >= 2) {
        char path[4096];
        snprintf(path, sizeof path, "%s/f%ld", dir, file);
        fd = open(path, O_RDWR);
        if (fd < 0) { answer("ok fail=%d", errno); return; }
    } else {
        flags |= MAP_ANONYMOUS;
    }
    size_t len = (size_t)pages * PAGE;
    char *addr;
    if (huge) {
        /* Reserve more, then keep a 2 MiB-aligned part. */
        char *raw = mmap(NULL, len + HUGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (raw == MAP_FAILED) { if (fd >= 0) close(fd); answer("ok fail=%d", errno); return; }
        char *al = (char *)(((uintptr_t)raw + HUGE - 1) & ~(uintptr_t)(HUGE - 1));
        addr = mmap(al, len, PROT_READ | PROT_WRITE, flags | MAP_FIXED, fd, 0);
        if (al > raw) munmap(raw, (size_t)(al - raw));
        if (raw + len + HUGE > al + len) munmap(al + len, (size_t)(raw + len + HUGE - (al + len)));
        if (addr != MAP_FAILED) madvise(addr, len, MADV_HUGEPAGE);
    } else {
        addr = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, fd, 0);
    }
    if (fd >= 0) close(fd);
    if (addr == MAP_FAILED) { answer("ok fail=%d", errno); return; }
    struct region *r = calloc(1, sizeof *r);
    if (!r) { munmap(addr, len); answer("ok fail=%d", ENOMEM); return; }
    r->addr = addr;
    r->pages = (size_t)pages;
    r->kind = (int)kind;
    memset(r->rw, 1, sizeof r->rw);
    R[s] = r;
    answer("ok addr=%lu", (unsigned long)addr);
}

static void do_unmap(long s, long off, long n, long news) {
    struct region *r = made(s);
    if (!r || !clamp(r, &off, &n)) { answer("ok skip"); return; }
    size_t end = (size_t)(off + n);
    if (off > 0 && end < r->pages && (news < 0 || news >= SLOTS || R[news])) {
        answer("ok skip");
        return;
    }
    if (munmap(r->addr + off * PAGE, (size_t)n * PAGE) != 0) { answer("ok fail=%d", errno); return; }
    if (off == 0 && end == r->pages) {
        free(r);
        R[s] = NULL;
    } else if (off == 0) {
        memmove(r->rw, r->rw + n, r->pages - end);
        r->addr += end * PAGE;
        r->pages -= end;
    } else if (end == r->pages) {
        r->pages = (size_t)off;
    } else {
        struct region *up = calloc(1, sizeof *up);
        if (!up) abort();
        up->addr = r->addr + end * PAGE;
        up->pages = r->pages - end;
        up->kind = r->kind;
        memcpy(up->rw, r->rw + end, up->pages);
        R[news] = up;
        r->pages = (size_t)off;
    }
    answer("ok");
}

static void do_remap(long s, long pages) {
    struct region *r = made(s);
    /* A shared anonymous object keeps its size: pages beyond it would fault (SIGBUS). */
    if (!r || pages <= 0 || pages > MAXPAGES || (r->kind == 1 && (size_t)pages > r->pages)) {
        answer("ok skip");
        return;
    }
    char *to = mremap(r->addr, r->pages * PAGE, (size_t)pages * PAGE, MREMAP_MAYMOVE);
    if (to == MAP_FAILED) { answer("ok fail=%d", errno); return; }
    for (size_t i = r->pages; i < (size_t)pages; i++) r->rw[i] = r->rw[r->pages - 1];
    r->addr = to;
    r->pages = (size_t)pages;
    answer("ok addr=%lu", (unsigned long)to);
}

static void do_prot(long s, long off, long n, long rw) {
    struct region *r = made(s);
    if (!r || !clamp(r, &off, &n)) { answer("ok skip"); return; }
    int prot = rw ? PROT_READ | PROT_WRITE : PROT_READ;
    if (mprotect(r->addr + off * PAGE, (size_t)n * PAGE, prot) != 0) {
        answer("ok fail=%d", errno);
        return;
    }
    memset(r->rw + off, rw ? 1 : 0, (size_t)n);
    answer("ok");
}

static void do_touch(long s, long off, long n, int write, long val) {
    struct region *r = slot(s);
    if (!r || !clamp(r, &off, &n)) { answer("ok skip"); return; }
    volatile unsigned sum = 0;
    for (long i = off; i < off + n; i++) {
        volatile char *p = r->addr + i * PAGE;
        if (write && r->rw[i]) *p = (char)val;
        else sum += (unsigned char)*p;
    }
    (void)sum;
    answer("ok");
}

static void do_advise(long s, long off, long n, long adv) {
    static const int advs[] = {MADV_HUGEPAGE, MADV_NOHUGEPAGE, MADV_DONTNEED, MADV_MERGEABLE,
                               MADV_PAGEOUT};
    struct region *r = slot(s);
    if (!r || adv < 0 || adv > 4 || !clamp(r, &off, &n)) { answer("ok skip"); return; }
    if (madvise(r->addr + off * PAGE, (size_t)n * PAGE, advs[adv]) != 0) {
        answer("ok fail=%d", errno);
        return;
    }
    answer("ok");
}

static void do_fork(long id) {
    char in[4096], out[4096];
    snprintf(in, sizeof in, "%s/in.%ld", dir, id);
    snprintf(out, sizeof out, "%s/out.%ld", dir, id);
    fflush(stdout);
    pid_t kid = fork();
    if (kid < 0) { answer("ok fail=%d", errno); return; }
    if (kid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int i = open(in, O_RDONLY), o = open(out, O_WRONLY);
        if (i < 0 || o < 0 || dup2(i, 0) < 0 || dup2(o, 1) < 0) _exit(1);
        close(i);
        close(o);
        answer("ready pid=%d", (int)getpid());
        return;
    }
    answer("ok child=%d", (int)kid);
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s DIR\n", argv[0]); return 2; }
    dir = argv[1];
    self = argv[0];
    IMG[0] = (struct region){.addr = (char *)IMG_DATA, .pages = IMAGE_PAGES, .kind = 2};
    IMG[1] = (struct region){.addr = (char *)IMG_BSS, .pages = IMAGE_PAGES, .kind = 0};
    memset(IMG[0].rw, 1, MAXPAGES);
    memset(IMG[1].rw, 1, MAXPAGES);
    /* Unbuffered: a forked child or the exec'ed program reads on from the exact line. */
    setvbuf(stdin, NULL, _IONBF, 0);
    answer("ready pid=%d", (int)getpid());
    char line[512];
    while (fgets(line, sizeof line, stdin)) {
        char op[16];
        long a = -1, b = -1, c = -1, d = -1, e = -1;
        if (sscanf(line, "%15s %ld %ld %ld %ld %ld", op, &a, &b, &c, &d, &e) < 1) continue;
        if (!strcmp(op, "map")) do_map(a, b, c, d, e);
        else if (!strcmp(op, "unmap")) do_unmap(a, b, c, d);
        else if (!strcmp(op, "remap")) do_remap(a, b);
        else if (!strcmp(op, "prot")) do_prot(a, b, c, d);
        else if (!strcmp(op, "write")) do_touch(a, b, c, 1, d);
        else if (!strcmp(op, "read")) do_touch(a, b, c, 0, 0);
        else if (!strcmp(op, "advise")) do_advise(a, b, c, d);
        else if (!strcmp(op, "fork")) do_fork(a);
        else if (!strcmp(op, "exec")) {
            fflush(stdout);
            char *args[] = {self, (char *)dir, NULL};
            execv("/proc/self/exe", args);
            answer("ok fail=%d", errno);
        } else answer("ok skip");
    }
    return 0;
}
