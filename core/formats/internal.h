/* core/formats/internal.h — helpers shared by the format readers and
 * writers; not part of the core's public interface. */
#ifndef QCORE_FORMATS_INTERNAL_H
#define QCORE_FORMATS_INTERNAL_H

#include <stddef.h>

/* Copy `len` bytes of `src` (a name or text from a file, not trusted) into
 * `dst` (capacity `cap` >= 8) for a one-line message: control bytes become
 * '?', long text is cut at a UTF-8 boundary and ends in "...". Returns dst. */
const char *qcore_printable(char *dst, size_t cap, const char *src, size_t len);

#endif
