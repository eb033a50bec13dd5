/* solib.h: the C ABI of libsolib.so.
 *
 * libsolib.so is the Linux port of a Windows DLL shared section: its `.shared` ELF section
 * is one physical page in every process of the same user that loads the library, mapped
 * MAP_SHARED by the library's load-time constructor. Everything else in the library is
 * ordinary: its code is shared read-only, its data is private (copy-on-write).
 *
 * The region is solib-u<UID>-v<LAYOUT>[-<SOLIB_NAMESPACE>], mode 0600, one link, in
 * $XDG_RUNTIME_DIR or /dev/shm (see solib_status).
 *
 * Link with -lsolib (`pkg-config --cflags --libs solib`; DT_SONAME libsolib.so.0), or
 * dlopen("libsolib.so.0") and dlsym.
 * All functions are thread-safe and may be called from any number of processes.
 */
#ifndef SOLIB_H
#define SOLIB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Returns a + b (wrapping); counts the call in the private (.data and .bss) counters and
 * in the shared (.shared) counter. */
int64_t solib_add(int64_t a, int64_t b);

/* This process's calls to solib_add (the .data counter: private, copy-on-write). */
uint64_t solib_private_calls(void);

/* This process's calls to solib_add (the .bss counter: private, zero-filled). */
uint64_t solib_bss_calls(void);

/* Calls to solib_add in every process sharing the region (the .shared counter). */
uint64_t solib_shared_calls(void);

/* Puts a copy of msg[0..len) on the shared clipboard. Writers take turns with a lock that
 * the kernel releases when its holder dies; a holder that is stopped (SIGSTOP, a debugger)
 * keeps it, so this waits for the lock at most one second. It never writes without the
 * lock. Returns 0, or -1 with errno set:
 *   EMSGSIZE   len is larger than solib_clipboard_capacity();
 *   EINVAL     msg is NULL and len is not 0;
 *   ETIMEDOUT  another process held the writer lock for the whole second;
 *   other      the lock could not be taken, e.g. EBADF: the program closed the library's
 *              descriptor of the region.
 * After ETIMEDOUT or another lock error, solib_status() says why until a write succeeds.
 * Readers (solib_clipboard_get) never wait for writers. */
int solib_clipboard_set(const uint8_t *msg, size_t len);

/* Copies the last complete clipboard message into buf (at most cap bytes) and returns the
 * message's full length, which may exceed cap. Never returns a torn or half-written
 * message, even if a writer was killed mid-write. Returns 0 when the clipboard is empty,
 * or if no consistent message could be read within one second (only a region damaged by
 * another process of the same user can cause that). */
size_t solib_clipboard_get(uint8_t *buf, size_t cap);

/* The clipboard's capacity in bytes (at least 1024). */
size_t solib_clipboard_capacity(void);

/* 1 if the .shared section is shared with other processes, 0 if it is private to this
 * process (the library still works). Writes the reason, NUL-terminated and truncated to
 * cap bytes, to reason unless it is NULL: the backing object's path, what was done with
 * it, and where it is: in the runtime directory $XDG_RUNTIME_DIR when that is set and is
 * this user's own directory of mode 0700 (not a symbolic link), else in /dev/shm, where
 * another user can create the name first and so keep this user's processes private.
 * Processes share a region only if they agree on the location. After a refused
 * solib_clipboard_set it also says why that write was refused. */
int solib_status(char *reason, size_t cap);

/* The start of the .shared section in this process: the shared page itself. */
const void *solib_shared_addr(void);

/* The start of the page holding the .data counter, and of the page holding the .bss one. */
const void *solib_private_addr(void);
const void *solib_bss_addr(void);

#ifdef __cplusplus
}
#endif

#endif /* SOLIB_H */
