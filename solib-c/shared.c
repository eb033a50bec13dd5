/* libsolib-c.so: the shared section of libsolib.so, again, in C.
 *
 * `solibc_shared` is one page, page-aligned, alone in an ELF section named .shared. When the
 * library is loaded, its constructor opens a per-user object in /dev/shm and maps it
 * MAP_SHARED | MAP_FIXED exactly over that page: from then on the variable *is* the shared
 * memory, in every process of the user that loads the library. No lifetime management and no
 * clipboard protocol here (libsolib.so has both): the object lives until it is removed, and
 * the only shared datum is a counter updated atomically.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "solibc.h"

#define PAGE 4096

/* ANCHOR: section */
struct solibc_page {
    char magic[8];          /* "SOLIBC1": what the file holds, the initial value */
    uint64_t calls;         /* incremented by every process; never store a pointer here */
    unsigned char rest[PAGE - 16];
};

__attribute__((section(".shared"), aligned(PAGE), used))
struct solibc_page solibc_shared = {.magic = "SOLIBC1"};
/* ANCHOR_END: section */

_Static_assert(sizeof(struct solibc_page) == PAGE, "the section is exactly one page");

static char status[256] = "private: the constructor has not run";

/* ANCHOR: constructor */
__attribute__((constructor)) static void solibc_attach(void) {
    char path[128];
    const char *ns = getenv("SOLIB_NAMESPACE"); /* a region per group of processes */
    snprintf(path, sizeof path, "/dev/shm/solibc-u%u%s%s", (unsigned)geteuid(),
             ns ? "-" : "", ns ? ns : "");
    /* O_NOFOLLOW: a symbolic link planted at the name is refused, not followed. */
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(status, sizeof status, "private: cannot open %s", path);
        if (fd >= 0) close(fd);
        return;
    }
    /* Only a regular file of this user, mode 0600, is ever used. */
    if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 07777) != 0600) {
        snprintf(status, sizeof status, "private: %s is not this user's 0600 file", path);
        close(fd);
        return;
    }
    flock(fd, LOCK_EX); /* one process at a time initializes a new object */
    if (fstat(fd, &st) == 0 && st.st_size == 0 &&
        pwrite(fd, &solibc_shared, PAGE, 0) != PAGE) { /* the initial values, from the .so */
        snprintf(status, sizeof status, "private: cannot initialize %s", path);
        flock(fd, LOCK_UN);
        close(fd);
        return;
    }
    flock(fd, LOCK_UN);
    if (fstat(fd, &st) != 0 || st.st_size != PAGE ||
        mmap(&solibc_shared, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) ==
            MAP_FAILED) {
        snprintf(status, sizeof status, "private: cannot map %s", path);
    } else {
        snprintf(status, sizeof status, "shared: %s", path);
    }
    close(fd); /* the mapping keeps the object open */
}
/* ANCHOR_END: constructor */

/* Counts one call in the shared page and returns the count of every process's calls. */
uint64_t solibc_hit(void) {
    return __atomic_add_fetch(&solibc_shared.calls, 1, __ATOMIC_SEQ_CST);
}

/* "shared: PATH" or "private: why". */
const char *solibc_status(void) {
    return status;
}
