/* Two threads and main run the same function on a thread-local and a global variable.
 * build: cc -O2 -pthread docs/examples/tls.c -o target/lab/tls-demo */
#include <pthread.h>
#include <stdio.h>

__thread long per_thread = 100; /* .tdata: its initial value is stored in the file */
__thread long zeroed;           /* .tbss: starts at zero, nothing in the file */
long global = 100;              /* .data: one variable for the whole process */

static pthread_barrier_t all_here;
static void *addr[3];

static void *work(void *arg) {
    long who = (long)arg;
    for (int i = 0; i < 1000; i++) {
        per_thread++;
        zeroed++;
        __atomic_add_fetch(&global, 1, __ATOMIC_RELAXED);
    }
    addr[who] = &per_thread;
    pthread_barrier_wait(&all_here); /* every thread is alive and done counting */
    printf("thread %ld: per_thread=%ld zeroed=%ld at %p; global at %p\n", who, per_thread,
           zeroed, (void *)&per_thread, (void *)&global);
    pthread_barrier_wait(&all_here);
    return NULL;
}

int main(void) {
    pthread_t t[2];
    pthread_barrier_init(&all_here, NULL, 3);
    for (long i = 0; i < 2; i++) pthread_create(&t[i], NULL, work, (void *)(i + 1));
    work((void *)0);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    printf("global=%ld; three different addresses of per_thread: %s\n", global,
           addr[0] != addr[1] && addr[1] != addr[2] && addr[0] != addr[2] ? "yes" : "no");
    return 0;
}
