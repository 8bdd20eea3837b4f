/*
 * fuzz.h - what the libFuzzer harnesses of tests/fuzz/ share: the demo site
 * (ops/sites/demo.json, loaded once per process) and an abort that says
 * which invariant broke.
 *
 * Each harness is one *_fuzz.c file defining LLVMFuzzerTestOneInput (and
 * LLVMFuzzerInitialize when it needs set-up). It is built twice: with clang
 * and -fsanitize=fuzzer,address,undefined (the fuzzer, CONSENTD_FUZZ=ON),
 * and with the normal compiler against replay.c, which runs the seed corpus
 * and the regressions once (ctest fuzz_replay_<name>).
 */
#ifndef CONSENTD_FUZZ_H
#define CONSENTD_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "site.h"

#ifndef CONSENTD_SOURCE_DIR
#error "CONSENTD_SOURCE_DIR must name the repository (CMake defines it)"
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant of the code under test does not hold: a finding. */
#define FUZZ_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The shipped demo site (purposes of every legal basis, variants, GPC),
 * loaded once; aborts when it does not load. */
static inline const site_set_t *fuzz_demo_sites(void)
{
    static site_set_t *set;
    if (set != NULL) return set;
    const char *path = CONSENTD_SOURCE_DIR "/ops/sites/demo.json";
    FILE *f = fopen(path, "rb");
    static char buf[1 << 20];
    size_t n = f != NULL ? fread(buf, 1, sizeof(buf), f) : 0;
    if (f != NULL) fclose(f);
    char err[SITE_ERR_MAX];
    set = n > 0 ? site_set_load_one("demo.json", buf, n, err, sizeof(err)) : NULL;
    if (set == NULL) {
        fprintf(stderr, "fuzz: cannot load %s: %s\n", path, n > 0 ? err : "cannot read");
        abort();
    }
    return set;
}

static inline const site_t *fuzz_demo_site(void)
{
    return site_set_at(fuzz_demo_sites(), 0);
}

#endif
