/* core/limits.h — every resource ceiling of the core, with its reason.
 * A header field larger than these is rejected before anything is sized by it. */
#ifndef QCORE_LIMITS_H
#define QCORE_LIMITS_H

/* ggml's GGML_MAX_NAME is 64 including the NUL. */
#define QCORE_GGUF_MAX_NAME 63
/* ggml's GGML_MAX_DIMS. */
#define QCORE_GGUF_MAX_DIMS 4
/* safetensors has no limit; real checkpoints stay far below. */
#define QCORE_MAX_DIMS 8
/* Longest key or tensor name we accept in any format (bytes). */
#define QCORE_MAX_KEY_LEN 4096
/* Longest GGUF string value (chat templates run to tens of KiB). */
#define QCORE_MAX_STRING_LEN (16u << 20)
/* Largest GGUF array (ggml accepts 2^30; a 256k vocabulary is 2^18). */
#define QCORE_MAX_ARRAY_LEN (1u << 24)
/* All GGUF metadata values kept in memory together. */
#define QCORE_MAX_META_BYTES (256u << 20)
/* Tensor and KV counts (the largest public models have < 10^5 tensors). */
#define QCORE_MAX_TENSORS 1000000u
#define QCORE_MAX_KV 100000u
/* Largest general.alignment accepted. ggml takes any power of two, but the
 * header and every tensor are padded to it, and quantd's GGUF output keeps
 * the input's alignment: a 100-byte upload claiming 1 GiB would make the
 * writer allocate and write 1 GiB of padding. 64 KiB covers every page size
 * in use; real files use 32. */
#define QCORE_GGUF_MAX_ALIGNMENT (64u << 10)
/* safetensors JSON header (the reference implementation's limit). */
#define QCORE_ST_MAX_HEADER (100u << 20)
/* JSON values in a safetensors header (objects, arrays, numbers, strings).
 * jansson spends ~100 bytes per value: this bounds the parse to a few hundred
 * MiB even for a 100 MiB header. A tensor entry is about 8 values; the
 * largest real shards hold well under 10^5 tensors. */
#define QCORE_ST_MAX_JSON_VALUES 2000000u
/* Default chunk of F32 input per work item. */
#define QCORE_DEFAULT_CHUNK_BYTES (4u << 20)

/* User regexes (overrides, ignore): see qcore_pattern_check. Tensor names
 * are short; real patterns use a handful of operators. */
#define QCORE_MAX_PATTERN_LEN 256
#define QCORE_MAX_PATTERN_REPEATS 8
#define QCORE_MAX_PATTERN_BOUND 16

#endif
