/* core/formats/io.c — positioned reads and writes that either finish or fail.
 *
 * pread/pwrite may transfer fewer bytes than asked (signals, pipes, large
 * requests: Linux moves at most 0x7ffff000 bytes per call) and may fail with
 * EINTR; both are retried here so callers see all-or-error.
 */
#include "core/formats/internal.h"
#include "core/formats/model.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

/* Largest single transfer we ask the kernel for; keeps the count well inside
 * ssize_t and below Linux's per-call cap. */
#define IO_MAX_STEP ((size_t)1 << 30)

/* off_t is 64-bit (_FILE_OFFSET_BITS=64); an offset must stay below its max. */
#define IO_MAX_OFF ((uint64_t)INT64_MAX)

static int io_errno(struct qcore_error *err, int code, int e, uint64_t off, const char *what)
{
    qcore_error_set(err, code, off, "%s failed at offset %" PRIu64 ": %s", what, off, strerror(e));
    if (err)
        err->sys_errno = e;
    return code;
}

static int check_range(size_t len, uint64_t off, struct qcore_error *err)
{
    if (off > IO_MAX_OFF || (uint64_t)len > IO_MAX_OFF - off)
        return qcore_error_set(err, QCORE_EINVAL, off,
                               "byte range of %zu bytes at offset %" PRIu64 " is out of range", len,
                               off);
    return 0;
}

int qcore_pread_full(int fd, void *buf, size_t len, uint64_t off, struct qcore_error *err)
{
    uint8_t *p = buf;
    int rc = check_range(len, off, err);
    if (rc)
        return rc;
    while (len > 0) {
        size_t step = len < IO_MAX_STEP ? len : IO_MAX_STEP;
        ssize_t n = pread(fd, p, step, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return io_errno(err, QCORE_EIO, errno, off, "read");
        }
        if (n == 0)
            return qcore_error_set(
                err, QCORE_EMALFORMED, off,
                "unexpected end of file at offset %" PRIu64 " (%zu more bytes expected)", off, len);
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

int qcore_pwrite_full(int fd, const void *buf, size_t len, uint64_t off, struct qcore_error *err)
{
    const uint8_t *p = buf;
    int rc = check_range(len, off, err);
    if (rc)
        return rc;
    while (len > 0) {
        size_t step = len < IO_MAX_STEP ? len : IO_MAX_STEP;
        ssize_t n = pwrite(fd, p, step, (off_t)off);
        if (n < 0) {
            int e = errno, code = QCORE_EIO;
            if (e == EINTR)
                continue;
            if (e == ENOSPC)
                code = QCORE_ENOSPC;
#ifdef EDQUOT
            if (e == EDQUOT)
                code = QCORE_ENOSPC;
#endif
            return io_errno(err, code, e, off, "write");
        }
        /* A regular file never accepts 0 bytes without an error; do not spin. */
        if (n == 0)
            return io_errno(err, QCORE_EIO, EIO, off, "write (no progress)");
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

/* Copies a name into `dst` for an error message: control bytes become '?',
 * long names are cut (at a UTF-8 boundary) and end in "...". */
const char *qcore_printable(char *dst, size_t cap, const char *src, size_t len)
{
    size_t n = len, o = 0;
    bool cut = false;
    if (n > cap - 4) {
        n = cap - 4;
        while (n > 0 && ((uint8_t)src[n] & 0xC0) == 0x80)
            n--;
        cut = true;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)src[i];
        dst[o++] = (c < 0x20 || c == 0x7F) ? '?' : (char)c;
    }
    if (cut) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o] = '\0';
    return dst;
}

/* Strict UTF-8 (internal.h); jansson accepts exactly the same strings. */
bool qcore_utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}
