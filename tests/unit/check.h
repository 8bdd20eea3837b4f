/*
 * check.h - the little the C unit tests share: checks that fail a test with
 * the file, line and what differed, a runner that prints "ok"/"FAIL" per
 * test (ctest shows the output of a failed suite), and the tally.
 *
 * A test is `static int name(void)` returning 0 when it passed; the CHECK
 * macros return -1 from it. Include this once, in the test's .c file.
 */
#ifndef CONSENTD_TEST_CHECK_H
#define CONSENTD_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("    %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                    \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

#define CHECK_STR(got, want)                                                                       \
    do {                                                                                           \
        const char *g_ = (got), *w_ = (want);                                                      \
        if (g_ == NULL || strcmp(g_, w_) != 0) {                                                   \
            printf("    %s:%d: %s is \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #got,         \
                   g_ ? g_ : "(null)", w_);                                                        \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

#define CHECK_HAS(haystack, needle)                                                                \
    do {                                                                                           \
        const char *h_ = (haystack), *n_ = (needle);                                               \
        if (strstr(h_, n_) == NULL) {                                                              \
            printf("    %s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__, h_, n_);     \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

/* snprintf that refuses to truncate (a cut path would test the wrong file). */
#define FMT(buf, ...)                                                                              \
    do {                                                                                           \
        int n_ = snprintf((buf), sizeof(buf), __VA_ARGS__);                                        \
        if (n_ < 0 || (size_t)n_ >= sizeof(buf)) abort();                                          \
    } while (0)

static inline void check_run(const char *name, int (*fn)(void))
{
    int rc = fn();
    printf("%s %s\n", rc == 0 ? "ok  " : "FAIL", name);
    fflush(stdout);
    if (rc == 0)
        passed++;
    else
        failed++;
}

/* RUN(test_function): runs it under its own name. */
#define RUN(fn) check_run(#fn, fn)

/* The repository's root into out: CONSENTD_SOURCE_DIR (ctest sets it),
 * else derived from this file's path, else ".". */
static inline void check_source_dir(char *out, size_t cap)
{
    const char *env = getenv("CONSENTD_SOURCE_DIR");
    if (env != NULL && env[0] != '\0') {
        snprintf(out, cap, "%s", env);
        return;
    }
    snprintf(out, cap, "%s", __FILE__);
    char *p = strstr(out, "/tests/unit/");
    if (p != NULL)
        *p = '\0';
    else
        snprintf(out, cap, ".");
}

/* Prints the tally; the exit status of main. */
static inline int check_summary(void)
{
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout); /* before the leak checker's report, if any */
    return failed == 0 ? 0 : 1;
}

#endif
