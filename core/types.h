/* core/types.h — tensor element types and their block layouts.
 *
 * The ids of the ggml types are ggml's own (they are stored in GGUF files).
 * safetensors dtypes that ggml has no id for get ids from QCORE_TYPE_U8 up;
 * they can be read and copied, never written to GGUF.
 * Thread-safe: everything here is constant data.
 */
#ifndef QCORE_TYPES_H
#define QCORE_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum qcore_type {
    QCORE_TYPE_F32 = 0,
    QCORE_TYPE_F16 = 1,
    QCORE_TYPE_Q4_0 = 2,
    QCORE_TYPE_Q4_1 = 3,
    QCORE_TYPE_Q5_0 = 6,
    QCORE_TYPE_Q5_1 = 7,
    QCORE_TYPE_Q8_0 = 8,
    QCORE_TYPE_Q8_1 = 9,
    QCORE_TYPE_Q2_K = 10,
    QCORE_TYPE_Q3_K = 11,
    QCORE_TYPE_Q4_K = 12,
    QCORE_TYPE_Q5_K = 13,
    QCORE_TYPE_Q6_K = 14,
    QCORE_TYPE_Q8_K = 15,
    QCORE_TYPE_IQ2_XXS = 16,
    QCORE_TYPE_IQ2_XS = 17,
    QCORE_TYPE_IQ3_XXS = 18,
    QCORE_TYPE_IQ1_S = 19,
    QCORE_TYPE_IQ4_NL = 20,
    QCORE_TYPE_IQ3_S = 21,
    QCORE_TYPE_IQ2_S = 22,
    QCORE_TYPE_IQ4_XS = 23,
    QCORE_TYPE_I8 = 24,
    QCORE_TYPE_I16 = 25,
    QCORE_TYPE_I32 = 26,
    QCORE_TYPE_I64 = 27,
    QCORE_TYPE_F64 = 28,
    QCORE_TYPE_IQ1_M = 29,
    QCORE_TYPE_BF16 = 30,
    QCORE_TYPE_TQ1_0 = 34,
    QCORE_TYPE_TQ2_0 = 35,
    QCORE_TYPE_MXFP4 = 39,
    QCORE_TYPE_NVFP4 = 40,
    QCORE_TYPE_Q1_0 = 41,
    QCORE_TYPE_Q2_0 = 42,
    QCORE_GGML_TYPE_COUNT = 43, /* GGUF readers reject ids >= this */

    /* safetensors-only dtypes */
    QCORE_TYPE_U8 = 64,
    QCORE_TYPE_U16,
    QCORE_TYPE_U32,
    QCORE_TYPE_U64,
    QCORE_TYPE_BOOL,
    QCORE_TYPE_F8_E4M3,
    QCORE_TYPE_F8_E5M2,
    QCORE_TYPE_COUNT
};

struct qcore_type_traits {
    const char *name;      /* ggml spelling, upper case: "Q4_K", "F32" */
    const char *st_dtype;  /* safetensors dtype string, or NULL if none */
    uint32_t block_size;   /* elements per block (1 for plain types) */
    uint32_t type_size;    /* bytes per block */
    bool in_gguf;          /* may appear in a GGUF file */
    bool quantizer;        /* quantd can produce it from F32 */
};

/* Traits of a type, or NULL for an unknown/removed id. */
const struct qcore_type_traits *qcore_type_traits(int type);

/* True when `type` is a known ggml id that GGUF files may hold. */
bool qcore_type_valid_gguf(int type);

/* Parse a type name, case-insensitive ("q4_k" -> QCORE_TYPE_Q4_K).
 * Returns 0 or -1 when unknown. */
int qcore_type_from_name(const char *name, enum qcore_type *out);

/* Map a safetensors dtype string ("F32", "BF16", "F8_E4M3"...) to a type.
 * Returns 0 or -1 when unknown. */
int qcore_type_from_st_dtype(const char *dtype, enum qcore_type *out);

/* Bytes of `n` elements of `type`; n must be a multiple of the block size.
 * Returns false on overflow or when n does not fit whole blocks. */
bool qcore_type_nbytes(int type, uint64_t n, uint64_t *out);

/* Floating source types the quantizers accept: F32, F16, BF16. */
bool qcore_type_is_float_source(int type);

/* llama.cpp's file types ("ftype", general.file_type) and the quantd
 * schemes that name them. */
enum qcore_ftype {
    QCORE_FTYPE_ALL_F32 = 0,
    QCORE_FTYPE_F16 = 1,
    QCORE_FTYPE_Q4_0 = 2,
    QCORE_FTYPE_Q4_1 = 3,
    QCORE_FTYPE_Q8_0 = 7,
    QCORE_FTYPE_Q5_0 = 8,
    QCORE_FTYPE_Q5_1 = 9,
    QCORE_FTYPE_Q2_K = 10,
    QCORE_FTYPE_Q3_K_S = 11,
    QCORE_FTYPE_Q3_K_M = 12,
    QCORE_FTYPE_Q3_K_L = 13,
    QCORE_FTYPE_Q4_K_S = 14,
    QCORE_FTYPE_Q4_K_M = 15,
    QCORE_FTYPE_Q5_K_S = 16,
    QCORE_FTYPE_Q5_K_M = 17,
    QCORE_FTYPE_Q6_K = 18,
    QCORE_FTYPE_IQ4_NL = 25,
    QCORE_FTYPE_BF16 = 32,
};

/* Parse a scheme name, case-insensitive: the mixes (Q4_K_M...), plain
 * type names (Q8_0, F16, BF16...) and the aliases Q4_K, Q5_K, Q3_K.
 * Returns 0 or -1 when unknown. */
int qcore_ftype_from_name(const char *name, enum qcore_ftype *out);

/* Canonical name of an ftype ("Q4_K_M"), or NULL. */
const char *qcore_ftype_name(enum qcore_ftype ft);

/* The default tensor type of an ftype (Q4_K_M -> Q4_K). */
enum qcore_type qcore_ftype_default_type(enum qcore_ftype ft);

/* All scheme names, NULL-terminated (for capabilities and --help). */
const char *const *qcore_ftype_names(void);

#endif
