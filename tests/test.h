// test.h — a tiny test harness: CHECK/CHECK_NEAR record results, TEST_MAIN prints
// "N passed, N failed" and exits non-zero when anything failed.
#ifndef LORAC_TEST_H
#define LORAC_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_passed, test_failed;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (cond) test_passed++;                                                     \
        else {                                                                       \
            test_failed++;                                                           \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);          \
        }                                                                            \
    } while (0)

#define CHECK_MSG(cond, ...)                                                         \
    do {                                                                             \
        if (cond) test_passed++;                                                     \
        else {                                                                       \
            test_failed++;                                                           \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);          \
            fprintf(stderr, __VA_ARGS__);                                            \
            fprintf(stderr, "\n");                                                   \
        }                                                                            \
    } while (0)

// Error-path check: `expr` must return non-zero/NULL-ish failure (rc < 0) and the
// stored error message must contain `needle`.
#define CHECK_ERR(expr, needle)                                                      \
    do {                                                                             \
        err_clear();                                                                 \
        int rc_ = (expr);                                                            \
        const char *m_ = err_msg();                                                  \
        if (rc_ < 0 && strstr(m_, needle)) test_passed++;                            \
        else {                                                                       \
            test_failed++;                                                           \
            fprintf(stderr, "FAIL %s:%d: %s: rc=%d, error '%s' lacks '%s'\n",        \
                    __FILE__, __LINE__, #expr, rc_, m_, needle);                     \
        }                                                                            \
    } while (0)

// Max abs diff between two float arrays, printed, checked against tol.
static inline void check_close(const char *what, const float *a, const float *b, long n, double tol,
                               const char *file, int line) {
    double maxd = 0;
    long at = 0;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > maxd || d != d) maxd = d, at = i;
    }
    if (maxd <= tol) test_passed++;
    else {
        test_failed++;
        fprintf(stderr, "FAIL %s:%d: %s: max abs diff %.3g at %ld (%g vs %g) > tol %.3g\n", file,
                line, what, maxd, at, a[at], b[at], tol);
    }
}
#define CHECK_CLOSE(what, a, b, n, tol) check_close(what, a, b, n, tol, __FILE__, __LINE__)

#define TEST_MAIN_END()                                                              \
    do {                                                                             \
        printf("%d passed, %d failed\n", test_passed, test_failed);                  \
        return test_failed ? 1 : 0;                                                  \
    } while (0)

// Directory for scratch files: $TMPDIR-based, unique per test binary run.
static inline const char *test_tmpdir(void) {
    static char dir[256];
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/lorac-test-XXXXXX", t ? t : "/tmp");
        extern char *mkdtemp(char *);
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            exit(2);
        }
    }
    return dir;
}

#endif
