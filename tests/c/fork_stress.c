/* fork() while other threads allocate (run by tests/fork.rs under LD_PRELOAD
 * of GoAlloc): three threads allocate and free objects of every kind (small
 * classes through the central lists, large runs through the page heap) while
 * the main thread forks FORKS times. Every child allocates, checks and frees
 * objects itself and must exit within a few seconds: a lock that another
 * thread held at the fork and that nobody released in the child would make
 * it spin until the alarm kills it.
 *
 * Usage: fork_stress [forks]. Exit 0 when every child exited cleanly. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int stop;

static void *churn(void *arg) {
    unsigned seed = (unsigned)(size_t)arg * 2654435761u;
    void *keep[64] = {0};
    while (!stop) {
        seed = seed * 1103515245u + 12345u;
        unsigned i = (seed >> 8) % 64;
        free(keep[i]);
        /* Mostly small objects in batches of a central list's size, some
         * large runs (page heap), some aligned ones. */
        size_t n = (seed >> 16) % 8 == 0 ? 33000 + (seed >> 4) % 300000 : 16 + (seed >> 4) % 2000;
        keep[i] = (seed & 3) == 0 ? aligned_alloc(4096, n) : malloc(n);
        if (keep[i]) memset(keep[i], (int)i, n < 256 ? n : 256);
    }
    for (int i = 0; i < 64; i++) free(keep[i]);
    return NULL;
}

static int child_work(void) {
    alarm(10); /* a deadlocked child dies of SIGALRM */
    for (int round = 0; round < 200; round++) {
        size_t n = round % 10 == 0 ? 100000 : 8 + (size_t)round * 13;
        unsigned char *p = malloc(n);
        if (!p) return 2;
        memset(p, round, n);
        for (size_t k = 0; k < n; k += 61)
            if (p[k] != (unsigned char)round) return 3;
        free(p);
    }
    return 0;
}

int main(int argc, char **argv) {
    int forks = argc > 1 ? atoi(argv[1]) : 300;
    pthread_t th[3];
    for (size_t t = 0; t < 3; t++) pthread_create(&th[t], NULL, churn, (void *)(t + 1));
    int bad = 0;
    for (int i = 0; i < forks; i++) {
        pid_t pid = fork();
        if (pid == 0) _exit(child_work());
        if (pid < 0) {
            perror("fork");
            bad++;
            break;
        }
        int status;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "child %d of %d: %s %d\n", i, forks,
                    WIFSIGNALED(status) ? "killed by signal" : "exit status",
                    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
            bad++;
            if (bad > 3) break;
        }
    }
    stop = 1;
    for (int t = 0; t < 3; t++) pthread_join(th[t], NULL);
    printf("fork_stress: %d forks, %d bad children\n", forks, bad);
    return bad ? 1 : 0;
}
