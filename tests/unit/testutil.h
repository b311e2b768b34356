/* tests/unit/testutil.h — small helpers shared by the unit tests (header-only). */
#ifndef QD_TESTUTIL_H
#define QD_TESTUTIL_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/formats/gguf.h"

/* Read a whole (small) file; NULL on error. */
static inline uint8_t *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf)
        *len = (size_t)n;
    return buf;
}

static inline int tu_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(data, 1, len, f);
    return fclose(f) == 0 && w == len ? 0 : -1;
}

/* A fresh temp path (file not created) under TMPDIR. */
static inline void tu_temp_path(char *buf, size_t len, const char *suffix)
{
    static int seq;
    const char *dir = getenv("TMPDIR");
    snprintf(buf, len, "%s/qdtest-%d-%d%s", dir ? dir : "/tmp", (int)getpid(), seq++, suffix);
}

/* Write a GGUF file with the given KVs and tensors; tensor data are
 * `fill(i, buf, nbytes)` or zeros. Returns 0. */
static inline int tu_write_gguf(const char *path, const struct qcore_kv *kv, size_t n_kv,
                                const struct qcore_gguf_out_tensor *t, size_t n_t,
                                void (*fill)(size_t i, uint8_t *buf, uint64_t n))
{
    struct qcore_gguf_layout lay = {0};
    struct qcore_error err = {0};
    if (qcore_gguf_layout_build(kv, n_kv, t, n_t, 32, &lay, &err) != 0) {
        fprintf(stderr, "layout: %s\n", err.msg);
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    int rc = fd < 0 || ftruncate(fd, (off_t)lay.file_size) != 0 ||
             pwrite(fd, lay.header, lay.header_len, 0) != (ssize_t)lay.header_len;
    for (size_t i = 0; !rc && fill && i < n_t; i++) {
        uint8_t *buf = calloc(1, lay.nbytes[i] ? lay.nbytes[i] : 1);
        fill(i, buf, lay.nbytes[i]);
        rc = pwrite(fd, buf, lay.nbytes[i], (off_t)lay.offsets[i]) != (ssize_t)lay.nbytes[i];
        free(buf);
    }
    if (fd >= 0)
        close(fd);
    qcore_gguf_layout_cleanup(&lay);
    return rc ? -1 : 0;
}

#endif

#ifndef QD_TESTUTIL_ST
#define QD_TESTUTIL_ST
/* Write a one-tensor F32 safetensors file of shape [rows, cols]. */
static inline int tu_write_st_f32(const char *path, const char *name, int rows, int cols,
                                  const float *data)
{
    char hdr[512];
    size_t nbytes = (size_t)rows * (size_t)cols * 4;
    int n = snprintf(hdr, sizeof hdr,
                     "{\"%s\":{\"dtype\":\"F32\",\"shape\":[%d,%d],\"data_offsets\":[0,%zu]}}",
                     name, rows, cols, nbytes);
    while (n % 8)
        hdr[n++] = ' ';
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)((uint64_t)n >> (8 * i));
    int ok = fwrite(le, 1, 8, f) == 8 && fwrite(hdr, 1, (size_t)n, f) == (size_t)n &&
             fwrite(data, 1, nbytes, f) == nbytes;
    return fclose(f) == 0 && ok ? 0 : -1;
}
#ifndef QD_TESTUTIL_SHARD
#define QD_TESTUTIL_SHARD
#include "core/formats/safetensors.h"
#include "core/kernels/kernels.h"

/* One safetensors shard of up to 4 BF16 tensors (names NULL-terminated;
 * ne in ggml order, ne[1] == 1: a vector). */
struct tu_shard {
    const char *file;
    const char *names[4];
    int64_t ne[4][2];
};

/* Write shard `s` to `path` with deterministic small random values
 * (an LCG from `seed`). 0 or -1. */
static inline int tu_write_bf16_shard(const char *path, const struct tu_shard *s, uint32_t seed)
{
    struct qcore_st_out_tensor ot[4];
    size_t n = 0;
    for (; n < 4 && s->names[n]; n++)
        ot[n] = (struct qcore_st_out_tensor){s->names[n], s->ne[n][1] == 1 ? 1u : 2u, s->ne[n],
                                             QCORE_TYPE_BF16};
    struct qcore_st_layout lay;
    if (qcore_st_layout_build("{\"format\":\"pt\"}", ot, n, &lay, NULL) != 0)
        return -1;
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    int rc = fd >= 0 && qcore_pwrite_full(fd, lay.header, lay.header_len, 0, NULL) == 0 ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        uint8_t *b = malloc(lay.nbytes[i]);
        if (!b) {
            rc = -1;
            break;
        }
        for (size_t k = 0; k < lay.nbytes[i] / 2; k++) {
            seed = seed * 1664525u + 1013904223u;
            uint16_t h = qcore_f32_to_bf16(((float)(seed >> 8) / 16777216.0f - 0.5f) * 0.1f);
            b[2 * k] = (uint8_t)h;
            b[2 * k + 1] = (uint8_t)(h >> 8);
        }
        rc = qcore_pwrite_full(fd, b, lay.nbytes[i], lay.offsets[i], NULL) == 0 ? 0 : -1;
        free(b);
    }
    if (fd >= 0)
        close(fd);
    qcore_st_layout_cleanup(&lay);
    return rc;
}
#endif

#endif
