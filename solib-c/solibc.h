/* libsolib-c.so: a shared section in C (see shared.c). */
#ifndef SOLIBC_H
#define SOLIBC_H
#include <stdint.h>

/* Counts one call in the shared page; returns the calls of every process so far. */
uint64_t solibc_hit(void);
/* "shared: /dev/shm/..." or "private: why", as decided when the library was loaded. */
const char *solibc_status(void);

#endif
