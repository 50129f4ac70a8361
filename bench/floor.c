/*
 * floor: the cost of spawning processes, with no scheduler around it.
 *
 *   floor BATCHES PER_BATCH PARALLEL PROGRAM [ARGS...]
 *
 * Runs BATCHES batches one after another. Each batch spawns PROGRAM
 * PER_BATCH times with posix_spawn, keeping at most PARALLEL children in
 * flight, and reaps them with waitpid; a batch ends only when all of its
 * children have exited. PROGRAM is exec'd directly (no shell, no PATH
 * search), with stdin/stdout/stderr inherited.
 *
 * Used by bench/dispatch.py as the lower bound of each workload:
 *   indep   1 10000 2 /bin/true
 *   chain   1 2000  1 /bin/true       (strictly sequential)
 *   layers  20 100  2 /bin/true       (layer by layer)
 *   sched   1 50    2 /bin/sleep 0.1  (an optimal 2-slot schedule)
 *
 * Exits 1 if any child fails or cannot be spawned.
 */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static long parse_count(const char *s, const char *what, long min) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min) {
        fprintf(stderr, "floor: bad %s: %s\n", what, s);
        exit(2);
    }
    return v;
}

static int reap_one(void) {
    int status;
    pid_t pid;
    do {
        pid = waitpid(-1, &status, 0);
    } while (pid < 0 && errno == EINTR);
    if (pid < 0) {
        perror("floor: waitpid");
        exit(1);
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: floor BATCHES PER_BATCH PARALLEL PROGRAM [ARGS...]\n");
        return 2;
    }
    long batches = parse_count(argv[1], "BATCHES", 1);
    long per_batch = parse_count(argv[2], "PER_BATCH", 0);
    long parallel = parse_count(argv[3], "PARALLEL", 1);
    char **child_argv = argv + 4;

    int failed = 0;
    for (long b = 0; b < batches; b++) {
        long in_flight = 0;
        for (long i = 0; i < per_batch; i++) {
            if (in_flight == parallel) {
                failed |= reap_one();
                in_flight--;
            }
            pid_t pid;
            int rc = posix_spawn(&pid, child_argv[0], NULL, NULL, child_argv, environ);
            if (rc != 0) {
                fprintf(stderr, "floor: posix_spawn %s: %s\n", child_argv[0], strerror(rc));
                return 1;
            }
            in_flight++;
        }
        while (in_flight > 0) {
            failed |= reap_one();
            in_flight--;
        }
    }
    return failed;
}
