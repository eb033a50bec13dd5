/* solib-client: a C program linked with -lsolib (no dlopen: ld.so loads the library at
 * start-up, from DT_NEEDED). Runs its arguments as actions, one output line each:
 *   add:A,B   clip-set:TEXT   clip-get   status   wait   exit
 * Lines look like lab-host's: "solib-client pid=N action=VERB key=value ...".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "solib.h"

static void say(const char *verb, const char *rest) {
    printf("solib-client pid=%d action=%s %s\n", (int)getpid(), verb, rest);
    fflush(stdout);
}

static int run(const char *action) {
    char line[4096];
    if (strncmp(action, "add:", 4) == 0) {
        long long a, b;
        if (sscanf(action + 4, "%lld,%lld", &a, &b) != 2) {
            fprintf(stderr, "solib-client: bad action %s (expected add:A,B)\n", action);
            return -1;
        }
        int64_t r = solib_add(a, b);
        snprintf(line, sizeof line, "a=%lld b=%lld result=%lld private_calls=%llu shared_calls=%llu",
                 a, b, (long long)r, (unsigned long long)solib_private_calls(),
                 (unsigned long long)solib_shared_calls());
        say("add", line);
    } else if (strncmp(action, "clip-set:", 9) == 0) {
        const char *text = action + 9;
        int rc = solib_clipboard_set((const uint8_t *)text, strlen(text));
        snprintf(line, sizeof line, "rc=%d len=%zu", rc, strlen(text));
        say("clip-set", line);
    } else if (strcmp(action, "clip-get") == 0) {
        uint8_t buf[2048];
        size_t n = solib_clipboard_get(buf, sizeof buf - 1);
        size_t shown = n < sizeof buf - 1 ? n : sizeof buf - 1;
        buf[shown] = 0;
        snprintf(line, sizeof line, "len=%zu text=%s", n, (const char *)buf);
        say("clip-get", line);
    } else if (strcmp(action, "status") == 0) {
        char reason[512];
        int shared = solib_status(reason, sizeof reason);
        snprintf(line, sizeof line, "shared=%d reason=%s", shared, reason);
        say("status", line);
    } else if (strcmp(action, "wait") == 0) {
        say("wait", "waiting for a line on stdin");
        if (!fgets(line, sizeof line, stdin)) return 0;
    } else if (strcmp(action, "exit") == 0) {
        say("exit", "");
        return 1;
    } else {
        fprintf(stderr, "solib-client: unknown action %s\n", action);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        int r = run(argv[i]);
        if (r < 0) return 2;
        if (r > 0) break;
    }
    return 0;
}
