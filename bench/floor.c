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
 * With FLOOR_LOGS=DIR in the environment it is the floor of a tool that keeps
 * each task's output and prints it in one piece when the task ends (what
 * `wf run` does by default): each child's stdout and stderr go to a file of
 * its own in DIR (kept afterwards), and when the child has been reaped its
 * file is copied to stdout, by the kernel where it can (copy_file_range,
 * then sendfile, then read/write). Used by the flood workloads.
 *
 * Exits 1 if any child fails or cannot be spawned.
 */
#define _GNU_SOURCE /* copy_file_range */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
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

/* FLOOR_LOGS mode: the log directory, and the log number of each child in flight. */
static const char *log_dir;
static pid_t log_pids[64];
static long log_ids[64];

static void log_path(char *buf, size_t size, long id) {
    snprintf(buf, size, "%s/%ld.log", log_dir, id);
}

/* Copies a finished child's log to stdout. */
static void print_log(long id) {
    char path[4096];
    log_path(path, sizeof path, id);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        perror("floor: open log");
        exit(1);
    }
    ssize_t n;
    while ((n = copy_file_range(fd, NULL, 1, NULL, 1 << 30, 0)) > 0) {}
    if (n < 0) {
        while ((n = sendfile(1, fd, NULL, 1 << 30)) > 0) {}
    }
    if (n < 0) {
        static char buf[1 << 20];
        while ((n = read(fd, buf, sizeof buf)) > 0) {
            for (ssize_t done = 0; done < n;) {
                ssize_t w = write(1, buf + done, n - done);
                if (w < 0) {
                    perror("floor: write");
                    exit(1);
                }
                done += w;
            }
        }
    }
    close(fd);
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
    if (log_dir) {
        for (int k = 0; k < 64; k++) {
            if (log_pids[k] == pid) {
                log_pids[k] = 0;
                print_log(log_ids[k]);
                break;
            }
        }
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

/* Spawns the next child; in FLOOR_LOGS mode its output goes to log number `id`. */
static int spawn_one(pid_t *pid, char **child_argv, long id) {
    if (!log_dir) {
        return posix_spawn(pid, child_argv[0], NULL, NULL, child_argv, environ);
    }
    char path[4096];
    log_path(path, sizeof path, id);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    int rc = posix_spawn(pid, child_argv[0], &actions, NULL, child_argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc == 0) {
        for (int k = 0; k < 64; k++) {
            if (log_pids[k] == 0) {
                log_pids[k] = *pid;
                log_ids[k] = id;
                break;
            }
        }
    }
    return rc;
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
    log_dir = getenv("FLOOR_LOGS");
    if (log_dir && parallel > 64) {
        fprintf(stderr, "floor: FLOOR_LOGS takes at most 64 in flight\n");
        return 2;
    }
    long spawned = 0;

    int failed = 0;
    for (long b = 0; b < batches; b++) {
        long in_flight = 0;
        for (long i = 0; i < per_batch; i++) {
            if (in_flight == parallel) {
                failed |= reap_one();
                in_flight--;
            }
            pid_t pid;
            int rc = spawn_one(&pid, child_argv, spawned++);
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
