/* core/kernels/dispatch.c — choose the kernel table for this CPU, once.
 *
 * Candidates are listed best first. The choice is the first candidate that
 * the running CPU supports, starting from the one QUANTD_ISA names (so the
 * variable can only lower the level, never enable an ISA the CPU lacks).
 * The choice is made on the first call under pthread_once and never changes:
 * it is the only mutable global of the kernels.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <strings.h>

#include "core/kernels/kernels.h"

struct isa_candidate {
    const char *name;                          /* QUANTD_ISA spelling */
    const struct qcore_kernels *(*table)(void); /* the ISA's const table */
    bool (*usable)(void);                      /* does this CPU run it? */
};

static bool always_usable(void)
{
    return true;
}

/* Best first; the scalar reference is last and always usable. An ISA table
 * joins this list when its file exists, under the architecture it is built
 * for, with a usable() based on __builtin_cpu_supports (x86) or the ABI
 * (NEON is baseline on AArch64). */
static const struct isa_candidate candidates[] = {
    {"scalar", qcore_kernels_ref, always_usable},
};

enum { N_CANDIDATES = sizeof candidates / sizeof candidates[0] };

static pthread_once_t choose_once = PTHREAD_ONCE_INIT;
static const struct qcore_kernels *chosen;

/* Where the search starts: the named candidate; unset, empty or "auto" means
 * the best. An unknown name (a typo, or an ISA of another architecture) means
 * the scalar reference: whoever sets the variable wants a lower level, and
 * the reference is the one choice that is always right. */
static size_t first_candidate(const char *want)
{
    if (want == NULL || *want == '\0' || strcasecmp(want, "auto") == 0)
        return 0;
    for (size_t i = 0; i < N_CANDIDATES; i++)
        if (strcasecmp(want, candidates[i].name) == 0)
            return i;
    return N_CANDIDATES - 1;
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
