/* The C allocation API of GoAlloc, checked from C under LD_PRELOAD
 * (run by tests/c_api.rs): every function's glibc semantics, errno,
 * alignments up to 1 MiB, malloc_usable_size, huge requests, and the early
 * and unusual callers (a constructor before main, pthread key destructors
 * at thread exit, a child made by a raw clone system call), plus threads
 * freeing each other's objects with content checks.
 *
 * Prints one line per failed check and exits 1 if any failed. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <limits.h>
#include <unistd.h>

#ifndef PTHREAD_DESTRUCTOR_ITERATIONS
#define PTHREAD_DESTRUCTOR_ITERATIONS 4
#endif

static int failures, checks;

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        checks++;                                                              \
        if (!(cond)) {                                                         \
            failures++;                                                        \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);    \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
        }                                                                      \
    } while (0)

/* Opaque calls, so the compiler cannot fold malloc's semantics away. */
static void *(*volatile my_malloc)(size_t) = malloc;
static void *(*volatile my_calloc)(size_t, size_t) = calloc;
static void *(*volatile my_realloc)(void *, size_t) = realloc;

static void fill(unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(seed + i * 7);
}
static int filled(const unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(seed + i * 7)) return 0;
    return 1;
}

/* ---- a constructor before main ---- */
static void *ctor_ptr;
static size_t ctor_usable;
__attribute__((constructor)) static void early(void) {
    char *p = malloc(100);
    if (p) {
        memset(p, 'c', 100);
        ctor_usable = malloc_usable_size(p);
    }
    ctor_ptr = p;
    free(malloc(40000));
}

/* ---- pthread key destructors at thread exit, in every round ---- */
static pthread_key_t key;
static volatile int destructor_rounds, destructor_ok;
static void destructor(void *v) {
    free(v);
    int round = ++destructor_rounds;
    char *p = malloc(64 + round);
    char *q = calloc(10, 10);
    if (p && q && q[99] == 0) destructor_ok++;
    free(q);
    /* Ask for another round until glibc stops (PTHREAD_DESTRUCTOR_ITERATIONS). */
    if (p) pthread_setspecific(key, p);
}
static void *thread_with_destructor(void *arg) {
    (void)arg;
    /* The thread's first allocation happens in the destructor itself. */
    pthread_setspecific(key, malloc(8));
    return NULL;
}

/* ---- threads freeing each other's objects ---- */
#define SLOTS 4096
static void *volatile shared[SLOTS];
static size_t shared_size[SLOTS];
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static int thread_errors;
static void *worker(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u;
    for (int i = 0; i < 60000; i++) {
        seed = seed * 1103515245u + 12345u;
        unsigned slot = (seed >> 8) % SLOTS;
        size_t size = (seed >> 20) % 4 == 0 ? (seed >> 4) % 70000 : (seed >> 4) % 600;
        pthread_mutex_lock(&shared_lock);
        void *old = shared[slot];
        size_t old_size = shared_size[slot];
        shared[slot] = NULL;
        pthread_mutex_unlock(&shared_lock);
        if (old) {
            if (!filled(old, old_size, slot)) __atomic_add_fetch(&thread_errors, 1, __ATOMIC_RELAXED);
            if (seed & 1) {
                old = realloc(old, size + 1);
                if (!old || !filled(old, old_size < size + 1 ? old_size : size + 1, slot))
                    __atomic_add_fetch(&thread_errors, 1, __ATOMIC_RELAXED);
                free(old);
            } else {
                free(old);
            }
        }
        unsigned char *p = (seed & 6) == 0 ? calloc(1, size) : malloc(size);
        if (!p) { __atomic_add_fetch(&thread_errors, 1, __ATOMIC_RELAXED); continue; }
        if (malloc_usable_size(p) < size) __atomic_add_fetch(&thread_errors, 1, __ATOMIC_RELAXED);
        fill(p, size, slot);
        pthread_mutex_lock(&shared_lock);
        void *other = shared[slot];
        size_t other_size = shared_size[slot];
        shared[slot] = p;
        shared_size[slot] = size;
        pthread_mutex_unlock(&shared_lock);
        if (other) {
            if (!filled(other, other_size, slot)) __atomic_add_fetch(&thread_errors, 1, __ATOMIC_RELAXED);
            free(other);
        }
    }
    return NULL;
}

int main(void) {
    /* It is GoAlloc: glibc would say 24 for a 1-byte object. */
    void *one = my_malloc(1);
    CHECK(malloc_usable_size(one) == 8, "usable size of malloc(1) is %zu (not GoAlloc?)",
          malloc_usable_size(one));
    free(one);

    /* The constructor's allocation before main. */
    CHECK(ctor_ptr != NULL && ctor_usable >= 100, "constructor: %p %zu", ctor_ptr, ctor_usable);
    if (ctor_ptr) {
        CHECK(((char *)ctor_ptr)[99] == 'c', "constructor's object kept its contents");
        free(ctor_ptr);
    }

    /* malloc(0): unique pointers free accepts. */
    void *z1 = my_malloc(0), *z2 = my_malloc(0);
    CHECK(z1 && z2 && z1 != z2, "malloc(0) gave %p %p", z1, z2);
    free(z1);
    free(z2);
    free(NULL);

    /* Pointers GoAlloc never handed out are ignored (the preloaded library
       is a release build): the stack, static data, and a live object's
       address plus 2^48 or with bit 63 set, which the page map must not take
       for the object (a free taken for a small object would write the
       address, and crash there, or hand the object out twice). */
    {
        char local[64];
        static char in_data[64];
        unsigned char *live = my_malloc(64);
        fill(live, 64, 77);
        void *volatile foreign[] = {local, in_data,
                                    (void *)((uintptr_t)live + ((uintptr_t)1 << 48)),
                                    (void *)((uintptr_t)live | ((uintptr_t)1 << 63))};
        for (unsigned i = 0; i < sizeof foreign / sizeof *foreign; i++)
            free(foreign[i]);
        void *a = my_malloc(64), *b = my_malloc(64);
        CHECK(a != (void *)live && b != (void *)live && filled(live, 64, 77),
              "a foreign free aliased the live object %p (next: %p %p)", (void *)live, a, b);
        free(a);
        free(b);
        free(live);
    }

    /* Sizes: usable size, alignment, contents. */
    static const size_t sizes[] = {1, 7, 8, 9, 15, 16, 17, 24, 25, 32, 33, 100, 1000, 4096,
                                   8192, 32767, 32768, 32769, 65536, 100000, 1 << 20, 5 << 20};
    void *ptrs[sizeof sizes / sizeof *sizes];
    for (unsigned i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        size_t n = sizes[i];
        unsigned char *p = my_malloc(n);
        ptrs[i] = p;
        CHECK(p != NULL, "malloc(%zu)", n);
        if (!p) continue;
        size_t u = malloc_usable_size(p);
        CHECK(u >= n, "usable %zu < %zu", u, n);
        CHECK((uintptr_t)p % (n > 8 ? 16 : 8) == 0, "malloc(%zu) = %p misaligned", n, (void *)p);
        fill(p, u, i);
    }
    for (unsigned i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        if (!ptrs[i]) continue;
        CHECK(filled(ptrs[i], malloc_usable_size(ptrs[i]), i), "contents of malloc(%zu)", sizes[i]);
        free(ptrs[i]);
    }
    CHECK(malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL)");

    /* Huge requests: null and ENOMEM, never a crash. */
    static const size_t huge[] = {SIZE_MAX, SIZE_MAX / 2, SIZE_MAX / 2 + 1, (size_t)PTRDIFF_MAX,
                                  SIZE_MAX - 4095, (size_t)1 << 62};
    for (unsigned i = 0; i < sizeof huge / sizeof *huge; i++) {
        errno = 0;
        void *p = my_malloc(huge[i]);
        CHECK(p == NULL && errno == ENOMEM, "malloc(%zu) = %p errno %d", huge[i], p, errno);
        errno = 0;
        p = my_calloc(1, huge[i]);
        CHECK(p == NULL && errno == ENOMEM, "calloc(1, %zu) = %p errno %d", huge[i], p, errno);
        void *q = NULL;
        int r = posix_memalign(&q, 64, huge[i]);
        CHECK(r == ENOMEM && q == NULL, "posix_memalign(64, %zu) = %d", huge[i], r);
        errno = 0;
        p = aligned_alloc(4096, huge[i]);
        CHECK(p == NULL && errno == ENOMEM, "aligned_alloc(4096, %zu) errno %d", huge[i], errno);
    }

    /* calloc: overflow, zeroing (also of reused memory). */
    errno = 0;
    CHECK(my_calloc(SIZE_MAX / 2, 3) == NULL && errno == ENOMEM, "calloc overflow errno %d", errno);
    errno = 0;
    CHECK(my_calloc((size_t)1 << 33, (size_t)1 << 33) == NULL && errno == ENOMEM, "calloc overflow 2");
    static const size_t csizes[] = {1, 8, 16, 48, 1000, 32768, 40000, 300000, 3 << 20};
    for (unsigned i = 0; i < sizeof csizes / sizeof *csizes; i++) {
        size_t n = csizes[i];
        for (int round = 0; round < 3; round++) {
            unsigned char *d = my_malloc(n);
            if (d) memset(d, 0xEE, n);
            free(d);
            unsigned char *c = my_calloc(n, 1);
            CHECK(c != NULL, "calloc(%zu, 1)", n);
            if (!c) continue;
            size_t bad = 0;
            for (size_t k = 0; k < n; k++) bad += c[k] != 0;
            CHECK(bad == 0, "calloc(%zu) has %zu non-zero bytes", n, bad);
            free(c);
        }
    }
    void *c0 = my_calloc(0, 0);
    CHECK(c0 != NULL, "calloc(0, 0) is a unique pointer");
    free(c0);

    /* realloc. */
    unsigned char *r = my_realloc(NULL, 10);
    CHECK(r != NULL, "realloc(NULL, 10)");
    fill(r, 10, 3);
    size_t have = 10;
    static const size_t rsizes[] = {12, 16, 17, 1000, 40000, 40000, 70000, 2 << 20, 100, 5, 1};
    for (unsigned i = 0; i < sizeof rsizes / sizeof *rsizes; i++) {
        size_t n = rsizes[i];
        unsigned char *q = my_realloc(r, n);
        CHECK(q != NULL, "realloc to %zu", n);
        if (!q) break;
        CHECK(filled(q, have < n ? have : n, 3), "realloc %zu -> %zu kept the contents", have, n);
        CHECK(malloc_usable_size(q) >= n, "usable after realloc");
        fill(q, n, 3);
        r = q;
        have = n;
    }
    errno = 0;
    unsigned char *keep = my_realloc(r, SIZE_MAX / 2);
    CHECK(keep == NULL && errno == ENOMEM, "realloc to SIZE_MAX/2: %p errno %d", (void *)keep, errno);
    CHECK(filled(r, have, 3), "a failed realloc leaves the object alive");
    /* glibc: realloc(p, 0) frees p and returns NULL. */
    CHECK(my_realloc(r, 0) == NULL, "realloc(p, 0) returns NULL");
    void *rz = my_realloc(NULL, 0);
    CHECK(rz != NULL, "realloc(NULL, 0) is malloc(0)");
    free(rz);

    /* reallocarray. */
    unsigned char *ra = reallocarray(NULL, 10, 10);
    CHECK(ra != NULL, "reallocarray(NULL, 10, 10)");
    fill(ra, 100, 9);
    errno = 0;
    static volatile size_t big = SIZE_MAX / 2;
    CHECK(reallocarray(ra, big, 3) == NULL && errno == ENOMEM, "reallocarray overflow");
    CHECK(filled(ra, 100, 9), "reallocarray overflow left the object alone");
    ra = reallocarray(ra, 100, 100);
    CHECK(ra && filled(ra, 100, 9), "reallocarray grow");
    free(ra);

    /* posix_memalign: EINVAL, errno untouched; every power of two to 1 MiB. */
    static const size_t bad_align[] = {0, 1, 2, 4, 3, 12, 24, 48, 100, 4097, SIZE_MAX};
    for (unsigned i = 0; i < sizeof bad_align / sizeof *bad_align; i++) {
        void *q = (void *)0x1;
        errno = 777;
        int rc = posix_memalign(&q, bad_align[i], 16);
        CHECK(rc == EINVAL && errno == 777 && q == (void *)0x1, "posix_memalign(align %zu) = %d",
              bad_align[i], rc);
    }
    {
        void *q = (void *)0x1;
        errno = 777;
        int rc = posix_memalign(&q, 64, SIZE_MAX);
        CHECK(rc == ENOMEM && errno == 777 && q == (void *)0x1, "posix_memalign ENOMEM = %d errno %d", rc,
              errno);
    }
    static const size_t asizes[] = {0, 1, 24, 100, 4096, 5000, 32768, 40000, 200000};
    for (size_t align = sizeof(void *); align <= (1 << 20); align <<= 1) {
        for (unsigned i = 0; i < sizeof asizes / sizeof *asizes; i++) {
            size_t n = asizes[i];
            void *q = NULL;
            int rc = posix_memalign(&q, align, n);
            CHECK(rc == 0 && q != NULL, "posix_memalign(%zu, %zu) = %d", align, n, rc);
            if (!q) continue;
            CHECK((uintptr_t)q % align == 0, "posix_memalign(%zu, %zu) = %p", align, n, q);
            CHECK(malloc_usable_size(q) >= n, "usable of aligned %zu", n);
            memset(q, 0xA1, n);
            void *a = aligned_alloc(align, n);
            CHECK(a && (uintptr_t)a % align == 0, "aligned_alloc(%zu, %zu) = %p", align, n, a);
            void *m = memalign(align, n);
            CHECK(m && (uintptr_t)m % align == 0, "memalign(%zu, %zu) = %p", align, n, m);
            free(q);
            free(a);
            free(m);
        }
    }
    /* aligned_alloc and memalign with small or odd alignments. */
    for (size_t align = 1; align < sizeof(void *); align <<= 1) {
        void *a = aligned_alloc(align, 10);
        CHECK(a != NULL, "aligned_alloc(%zu, 10)", align);
        free(a);
    }
    errno = 0;
    CHECK(aligned_alloc(3, 10) == NULL && errno == EINVAL, "aligned_alloc(3) errno %d", errno);
    void *m24 = memalign(24, 10);
    CHECK(m24 && (uintptr_t)m24 % 32 == 0, "memalign(24) rounds the alignment up: %p", m24);
    free(m24);
    errno = 0;
    CHECK(memalign(SIZE_MAX / 2 + 2, 1) == NULL && errno == EINVAL, "memalign of a huge alignment");

    /* valloc, pvalloc. */
    long page = sysconf(_SC_PAGESIZE);
    void *v = valloc(1);
    CHECK(v && (uintptr_t)v % page == 0, "valloc(1) = %p", v);
    free(v);
    void *pv = pvalloc(1);
    CHECK(pv && (uintptr_t)pv % page == 0 && malloc_usable_size(pv) >= (size_t)page, "pvalloc(1) = %p",
          pv);
    if (pv) memset(pv, 1, page);
    free(pv);
    errno = 0;
    CHECK(pvalloc(SIZE_MAX - 10) == NULL && errno == ENOMEM, "pvalloc overflow");

    /* C23's free_sized and free_aligned_sized (looked up: older headers lack them). */
    void (*fs)(void *, size_t) = (void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "free_sized");
    void (*fas)(void *, size_t, size_t) =
        (void (*)(void *, size_t, size_t))dlsym(RTLD_DEFAULT, "free_aligned_sized");
    CHECK(fs && fas, "free_sized %p free_aligned_sized %p exported", (void *)fs, (void *)fas);
    if (fs && fas) {
        fs(my_malloc(100), 100);
        fs(NULL, 0);
        void *q = aligned_alloc(256, 1000);
        fas(q, 256, 1000);
        fas(NULL, 64, 0);
    }

    /* free leaves errno alone (POSIX.1-2024), even when it gives memory back. */
    {
        void *big[64];
        for (int i = 0; i < 64; i++) big[i] = my_malloc((size_t)(i + 1) << 20);
        void *small[2000];
        for (int i = 0; i < 2000; i++) small[i] = my_malloc(48);
        errno = 4321;
        for (int i = 0; i < 64; i++) free(big[i]);
        for (int i = 0; i < 2000; i++) free(small[i]);
        CHECK(errno == 4321, "free changed errno to %d", errno);
    }

    /* The dynamic loader allocates through the preloaded malloc once it is
     * relocated: dlopen builds link maps, a failed dlopen makes an error
     * string that dlerror's caller frees, dlclose frees it all. */
    for (int round = 0; round < 3; round++) {
        void *lib = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
        CHECK(lib != NULL, "dlopen libm: %s", dlerror());
        if (lib) {
            double (*cosine)(double) = (double (*)(double))dlsym(lib, "cos");
            CHECK(cosine && cosine(0.0) == 1.0, "cos from the dlopened libm");
            CHECK(dlclose(lib) == 0, "dlclose");
        }
        CHECK(dlopen("libdoes-not-exist.so.9", RTLD_NOW) == NULL, "dlopen of a missing library");
        const char *err = dlerror();
        CHECK(err && strstr(err, "libdoes-not-exist"), "dlerror: %s", err ? err : "(null)");
    }

    /* pthread key destructors allocating at thread exit, in every round. */
    pthread_key_create(&key, destructor);
    for (int t = 0; t < 8; t++) {
        pthread_t th;
        destructor_rounds = 0;
        destructor_ok = 0;
        pthread_create(&th, NULL, thread_with_destructor, NULL);
        pthread_join(th, NULL);
        CHECK(destructor_rounds == PTHREAD_DESTRUCTOR_ITERATIONS && destructor_ok == destructor_rounds,
              "destructor rounds %d ok %d", destructor_rounds, destructor_ok);
    }

    /* A child made by a raw clone system call (no fork() wrapper, no atfork handlers). */
    long pid = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) {
        int ok = 1;
        for (int i = 0; i < 1000; i++) {
            unsigned char *p = malloc(i * 37 % 5000 + 1);
            if (!p) ok = 0;
            else {
                fill(p, i * 37 % 5000 + 1, i);
                ok &= filled(p, i * 37 % 5000 + 1, i);
                free(p);
            }
        }
        _exit(ok ? 0 : 3);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid((pid_t)pid, &status, 0) == pid && WIFEXITED(status) &&
              WEXITSTATUS(status) == 0,
          "raw clone child status %#x", status);

    /* Threads freeing and reallocating each other's objects. */
    pthread_t th[4];
    for (uintptr_t t = 0; t < 4; t++) pthread_create(&th[t], NULL, worker, (void *)(t + 1));
    for (int t = 0; t < 4; t++) pthread_join(th[t], NULL);
    CHECK(thread_errors == 0, "%d content or usable-size errors across threads", thread_errors);
    for (unsigned i = 0; i < SLOTS; i++) {
        if (shared[i]) {
            CHECK(filled(shared[i], shared_size[i], i), "slot %u after the threads", i);
            free(shared[i]);
        }
    }

    printf("c_api: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
