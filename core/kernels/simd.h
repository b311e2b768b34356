/* core/kernels/simd.h — the ISA tables, private to the kernels.
 *
 * Each ISA file defines its table only when built for its architecture with
 * its flags; dispatch.c lists a table only under the same conditions. */
#ifndef QCORE_KERNELS_SIMD_H
#define QCORE_KERNELS_SIMD_H

#include "core/kernels/kernels.h"

#if defined(__x86_64__)
const struct qcore_kernels *qcore_kernels_avx2(void);
const struct qcore_kernels *qcore_kernels_avx512(void);
#endif
#if defined(__aarch64__)
const struct qcore_kernels *qcore_kernels_neon(void);
#endif

#endif
