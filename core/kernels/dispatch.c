/* core/kernels/dispatch.c — choose the kernel table for this CPU, once.
 *
 * Candidates are listed best first. The choice is the first candidate that
 * the running CPU (and OS) supports, starting from the one QUANTD_ISA names
 * (so the variable can only lower the level, never enable an ISA the CPU
 * lacks). The choice is made on the first call under pthread_once and never
 * changes: it is the only mutable global of the kernels.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "core/kernels/kernels.h"
#include "core/kernels/simd.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

struct isa_candidate {
    const char *name;                          /* QUANTD_ISA spelling */
    const struct qcore_kernels *(*table)(void); /* the ISA's const table */
    bool (*usable)(void);                      /* does this CPU run it? */
};

static bool always_usable(void)
{
    return true;
}

#if defined(__x86_64__)
/* The register state the OS saves on a context switch (XCR0). Without
 * OSXSAVE the OS saves none of the AVX state, whatever CPUID says. */
static unsigned long long os_saved_state(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE))
        return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (unsigned long long)hi << 32 | lo;
}

enum {
    XCR0_SSE = 1u << 1,
    XCR0_YMM = 1u << 2,
    XCR0_ZMM = (1u << 5) | (1u << 6) | (1u << 7), /* opmask, ZMM_Hi256, Hi16_ZMM */
};

/* F16C from CPUID leaf 1 (ECX bit 29): clang 14's __builtin_cpu_supports
 * does not know the "f16c" feature string and rejects it at compile time. */
static bool has_f16c(void)
{
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}

static bool avx2_usable(void)
{
    __builtin_cpu_init();
    const unsigned long long need = XCR0_SSE | XCR0_YMM;
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           has_f16c() && (os_saved_state() & need) == need;
}

static bool avx512_usable(void)
{
    __builtin_cpu_init();
    const unsigned long long need = XCR0_SSE | XCR0_YMM | XCR0_ZMM;
    return avx2_usable() && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
           (os_saved_state() & need) == need;
}
#endif

/* Best first; the scalar reference is last and always usable. NEON is
 * baseline on AArch64. */
static const struct isa_candidate candidates[] = {
#if defined(__x86_64__)
    {"avx512", qcore_kernels_avx512, avx512_usable},
    {"avx2", qcore_kernels_avx2, avx2_usable},
#endif
#if defined(__aarch64__)
    {"neon", qcore_kernels_neon, always_usable},
#endif
    {"scalar", qcore_kernels_ref, always_usable},
};

enum { N_CANDIDATES = sizeof candidates / sizeof candidates[0] };

static const char *const known_isas[] = {"avx512", "avx2", "neon", "scalar"};

static pthread_once_t choose_once = PTHREAD_ONCE_INIT;
static const struct qcore_kernels *chosen;

/* Where the search starts: the named candidate; unset, empty or "auto" means
 * the best. An ISA of another architecture (neon on x86) is a lower level
 * that this build lacks: the scalar reference. A name that is no ISA at all
 * is a typo: warn, and take the best, which is what an unset variable gets. */
static size_t first_candidate(const char *want)
{
    if (want == NULL || *want == '\0' || strcasecmp(want, "auto") == 0)
        return 0;
    for (size_t i = 0; i < N_CANDIDATES; i++)
        if (strcasecmp(want, candidates[i].name) == 0)
            return i;
    for (size_t i = 0; i < sizeof known_isas / sizeof known_isas[0]; i++)
        if (strcasecmp(want, known_isas[i]) == 0)
            return N_CANDIDATES - 1;
    fprintf(stderr, "quantd: QUANTD_ISA=%s is not one of scalar, avx2, avx512, neon; "
                    "using the best this CPU supports\n", want);
    return 0;
}

static void choose(void)
{
    for (size_t i = first_candidate(getenv("QUANTD_ISA")); i < N_CANDIDATES; i++) {
        if (candidates[i].usable()) {
            chosen = candidates[i].table();
            return;
        }
    }
    chosen = qcore_kernels_ref();
}

const struct qcore_kernels *qcore_kernels_get(void)
{
    /* pthread_once only fails on invalid arguments; if it ever did, the
     * reference is still a correct answer. */
    if (pthread_once(&choose_once, choose) != 0 || chosen == NULL)
        return qcore_kernels_ref();
    return chosen;
}

const struct qcore_kernels *qcore_kernels_by_isa(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < N_CANDIDATES; i++)
        if (strcasecmp(name, candidates[i].name) == 0)
            return candidates[i].usable() ? candidates[i].table() : NULL;
    return NULL;
}
