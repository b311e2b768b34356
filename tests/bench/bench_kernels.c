/* tests/bench/bench_kernels.c — kernel throughput per type and ISA.
 *
 * Prints, for every ISA table this CPU runs and every quantized type, the
 * quantize / dequantize / err_sums throughput in GB/s of F32 (4 bytes per
 * element in or out) and ns per element, plus the single-core memcpy
 * bandwidth of the same buffer size as the ceiling. One thread, a buffer far
 * larger than the caches (as the chunk executor's runs of ~1M floats are
 * streamed from the page cache). Not a test: nothing asserts a time.
 *
 *   bench_kernels [--mib N] [--min-ms M] [--types q8_0,q4_k,...] [--isa avx2,...]
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/ctq.h"
#include "core/kernels/kernels.h"
#include "core/types.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

/* Weight-like data: roughly normal with a few outliers. */
static void fill(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float g = (frand() + frand() + frand() + frand()) * 0.02f;
        if ((i % 997) == 0)
            g *= 20.0f;
        x[i] = g;
    }
}

static int listed(const char *list, const char *name)
{
    if (list == NULL)
        return 1;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncasecmp(p, name, n) == 0)
            return 1;
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    size_t mib = 64;
    double min_s = 0.3;
    const char *types_arg = NULL, *isa_arg = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--mib") == 0 && i + 1 < argc)
            mib = (size_t)atol(argv[++i]);
        else if (strcmp(argv[i], "--min-ms") == 0 && i + 1 < argc)
            min_s = atof(argv[++i]) / 1000.0;
        else if (strcmp(argv[i], "--types") == 0 && i + 1 < argc)
            types_arg = argv[++i];
        else if (strcmp(argv[i], "--isa") == 0 && i + 1 < argc)
            isa_arg = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--mib N] [--min-ms M] [--types a,b] [--isa a,b]\n", argv[0]);
            return 2;
        }
    }
    const size_t n = (mib << 20) / sizeof(float) / 256 * 256;
    float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
    uint8_t *q = malloc(n * sizeof(float) + 64);
    if (!x || !y || !q)
        return 1;
    fill(x, n);
    memset(y, 0, n * sizeof(float));
    memset(q, 0, n * sizeof(float));

    /* memcpy ceiling: read 4n bytes, write 4n bytes, counted as 4n (GB/s of F32 in). */
    double best = 1e9;
    for (int r = 0; r < 5; r++) {
        double t0 = now_s();
        memcpy(y, x, n * sizeof(float));
        double t = now_s() - t0;
        if (t < best)
            best = t;
    }
    const double memcpy_gbs = (double)n * 4 / best / 1e9;
    printf("# buffer %zu MiB of F32, one thread\n", mib);
    printf("memcpy\t-\t%.2f GB/s\t%.3f ns/elem\n", memcpy_gbs, best / (double)n * 1e9);
    printf("%-7s %-7s %10s %10s %9s %10s %9s %10s %9s\n", "isa", "type", "quant GB/s", "ns/elem",
           "%memcpy", "deq GB/s", "ns/elem", "err GB/s", "ns/elem");

    static const int types[] = {QCORE_TYPE_F16,  QCORE_TYPE_BF16, QCORE_TYPE_Q8_0, QCORE_TYPE_Q4_0,
                                QCORE_TYPE_Q4_1, QCORE_TYPE_Q5_0, QCORE_TYPE_Q5_1, QCORE_TYPE_IQ4_NL,
                                QCORE_TYPE_Q2_K, QCORE_TYPE_Q3_K, QCORE_TYPE_Q4_K, QCORE_TYPE_Q5_K,
                                QCORE_TYPE_Q6_K};
    static const char *isas[] = {"scalar", "avx2", "avx512", "neon"};
    for (size_t ii = 0; ii < sizeof isas / sizeof isas[0]; ii++) {
        const struct qcore_kernels *k = qcore_kernels_by_isa(isas[ii]);
        if (k == NULL || !listed(isa_arg, isas[ii]))
            continue;
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
            const int t = types[ti];
            const char *tname = qcore_type_traits(t)->name;
            if (!listed(types_arg, tname))
                continue;
            /* Slow kernels (the scalar K-quants) run on a prefix only. */
            double tq = 1e9, td = 1e9, te = 1e9;
            size_t nq = n;
            for (;;) {
                double t0 = now_s();
                k->quantize[t](x, q, (int64_t)nq);
                double dt = now_s() - t0;
                if (dt > 2.0 && nq > 65536) {
                    nq = nq / 8 / 256 * 256;
                    continue;
                }
                tq = dt;
                break;
            }
            int reps = 1;
            double total = tq;
            while (total < min_s) {
                double t0 = now_s();
                k->quantize[t](x, q, (int64_t)nq);
                double dt = now_s() - t0;
                if (dt < tq)
                    tq = dt;
                total += dt;
                reps++;
            }
            total = 0;
            while (total < min_s) {
                double t0 = now_s();
                k->dequantize[t](q, y, (int64_t)nq);
                double dt = now_s() - t0;
                if (dt < td)
                    td = dt;
                total += dt;
            }
            total = 0;
            while (total < min_s) {
                struct qcore_err_sums s = {0};
                double t0 = now_s();
                k->err_sums(x, y, (int64_t)nq, &s);
                double dt = now_s() - t0;
                if (dt < te)
                    te = dt;
                total += dt;
            }
            const double gq = (double)nq * 4 / tq / 1e9;
            printf("%-7s %-7s %10.3f %10.3f %8.1f%% %10.2f %9.3f %10.2f %9.3f\n", isas[ii], tname,
                   gq, tq / (double)nq * 1e9, 100.0 * gq / memcpy_gbs,
                   (double)nq * 4 / td / 1e9, td / (double)nq * 1e9, (double)nq * 4 / te / 1e9,
                   te / (double)nq * 1e9);
            fflush(stdout);
        }
    }

    /* Compressed-tensors rows (ct_quantize_rows): rows of 4096, dequantized
     * values written too (as with metrics on). GB/s of F32 in. */
    if (listed(types_arg, "ct")) {
        static const struct {
            const char *name;
            enum qcore_ct_scheme s;
            int64_t group; /* 0: per channel */
            int scale_type;
        } cts[] = {
            {"int8", QCORE_CT_INT8, 0, QCORE_TYPE_BF16},
            {"int8-asym", QCORE_CT_INT8_ASYM, 0, QCORE_TYPE_BF16},
            {"int4-g128", QCORE_CT_INT4, 128, QCORE_TYPE_BF16},
            {"int4a-g128", QCORE_CT_INT4_ASYM, 128, QCORE_TYPE_BF16},
            {"int4-g32", QCORE_CT_INT4, 32, QCORE_TYPE_F16},
            {"fp8", QCORE_CT_FP8, 0, QCORE_TYPE_F32},
        };
        enum { COLS = 4096 };
        const int64_t rows = (int64_t)(n / COLS);
        int32_t *scratch = malloc(COLS * sizeof *scratch);
        uint8_t *sc = malloc((size_t)rows * COLS / 32 * 4 + 64), *zp = malloc((size_t)rows * COLS / 32 * 4 + 64);
        if (!scratch || !sc || !zp)
            return 1;
        printf("\n# compressed-tensors rows (%lld x %d, dequantized values written)\n", (long long)rows,
               COLS);
        printf("%-7s %-10s %10s %10s %9s\n", "isa", "scheme", "GB/s", "ns/elem", "%memcpy");
        for (size_t ii = 0; ii < sizeof isas / sizeof isas[0]; ii++) {
            const struct qcore_kernels *k = qcore_kernels_by_isa(isas[ii]);
            if (k == NULL || !listed(isa_arg, isas[ii]))
                continue;
            for (size_t ci = 0; ci < sizeof cts / sizeof cts[0]; ci++) {
                const struct qcore_ct_params p = {cts[ci].s, rows, COLS,
                                                  cts[ci].group ? cts[ci].group : COLS,
                                                  cts[ci].scale_type};
                const struct qcore_ct_out o = {q, sc, qcore_ct_scheme_symmetric(p.scheme) ? NULL : zp,
                                               y, scratch};
                double tb = 1e9, total = 0;
                while (total < min_s) {
                    double t0 = now_s();
                    k->ct_quantize_rows(&p, x, rows, &o);
                    double dt = now_s() - t0;
                    if (dt < tb)
                        tb = dt;
                    total += dt;
                }
                const double el = (double)rows * COLS, g = el * 4 / tb / 1e9;
                printf("%-7s %-10s %10.3f %10.3f %8.1f%%\n", isas[ii], cts[ci].name, g, tb / el * 1e9,
                       100.0 * g / memcpy_gbs);
                fflush(stdout);
            }
        }
        free(scratch);
        free(sc);
        free(zp);
    }
    free(x);
    free(y);
    free(q);
    return 0;
}
