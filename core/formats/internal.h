/* core/formats/internal.h — helpers shared by the format readers and
 * writers; not part of the core's public interface. */
#ifndef QCORE_FORMATS_INTERNAL_H
#define QCORE_FORMATS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Copy `len` bytes of `src` (a name or text from a file, not trusted) into
 * `dst` (capacity `cap` >= 8) for a one-line message: control bytes become
 * '?', long text is cut at a UTF-8 boundary and ends in "...". Returns dst. */
const char *qcore_printable(char *dst, size_t cap, const char *src, size_t len);

/* Whether s[0..n) is strict UTF-8: no overlong forms, no surrogates, nothing
 * above U+10FFFF. Allocates nothing (unlike asking jansson). */
bool qcore_utf8_valid(const uint8_t *s, size_t n);

#endif
