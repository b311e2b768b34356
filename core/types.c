/* core/types.c — the type table and the scheme (ftype) names. */
#include "core/types.h"

#include <string.h>
#include <strings.h>

#define T(id, nm, st, blk, sz, gg, q) [id] = {nm, st, blk, sz, gg, q}
static const struct qcore_type_traits type_table[QCORE_TYPE_COUNT] = {
    T(QCORE_TYPE_F32, "F32", "F32", 1, 4, true, true),
    T(QCORE_TYPE_F16, "F16", "F16", 1, 2, true, true),
    T(QCORE_TYPE_Q4_0, "Q4_0", NULL, 32, 18, true, true),
    T(QCORE_TYPE_Q4_1, "Q4_1", NULL, 32, 20, true, true),
    T(QCORE_TYPE_Q5_0, "Q5_0", NULL, 32, 22, true, true),
    T(QCORE_TYPE_Q5_1, "Q5_1", NULL, 32, 24, true, true),
    T(QCORE_TYPE_Q8_0, "Q8_0", NULL, 32, 34, true, true),
    T(QCORE_TYPE_Q8_1, "Q8_1", NULL, 32, 36, true, false),
    T(QCORE_TYPE_Q2_K, "Q2_K", NULL, 256, 84, true, true),
    T(QCORE_TYPE_Q3_K, "Q3_K", NULL, 256, 110, true, true),
    T(QCORE_TYPE_Q4_K, "Q4_K", NULL, 256, 144, true, true),
    T(QCORE_TYPE_Q5_K, "Q5_K", NULL, 256, 176, true, true),
    T(QCORE_TYPE_Q6_K, "Q6_K", NULL, 256, 210, true, true),
    T(QCORE_TYPE_Q8_K, "Q8_K", NULL, 256, 292, true, false),
    T(QCORE_TYPE_IQ2_XXS, "IQ2_XXS", NULL, 256, 66, true, false),
    T(QCORE_TYPE_IQ2_XS, "IQ2_XS", NULL, 256, 74, true, false),
    T(QCORE_TYPE_IQ3_XXS, "IQ3_XXS", NULL, 256, 98, true, false),
    T(QCORE_TYPE_IQ1_S, "IQ1_S", NULL, 256, 50, true, false),
    T(QCORE_TYPE_IQ4_NL, "IQ4_NL", NULL, 32, 18, true, true),
    T(QCORE_TYPE_IQ3_S, "IQ3_S", NULL, 256, 110, true, false),
    T(QCORE_TYPE_IQ2_S, "IQ2_S", NULL, 256, 82, true, false),
    T(QCORE_TYPE_IQ4_XS, "IQ4_XS", NULL, 256, 136, true, false),
    T(QCORE_TYPE_I8, "I8", "I8", 1, 1, true, false),
    T(QCORE_TYPE_I16, "I16", "I16", 1, 2, true, false),
    T(QCORE_TYPE_I32, "I32", "I32", 1, 4, true, false),
    T(QCORE_TYPE_I64, "I64", "I64", 1, 8, true, false),
    T(QCORE_TYPE_F64, "F64", "F64", 1, 8, true, false),
    T(QCORE_TYPE_IQ1_M, "IQ1_M", NULL, 256, 56, true, false),
    T(QCORE_TYPE_BF16, "BF16", "BF16", 1, 2, true, true),
    T(QCORE_TYPE_TQ1_0, "TQ1_0", NULL, 256, 54, true, false),
    T(QCORE_TYPE_TQ2_0, "TQ2_0", NULL, 256, 66, true, false),
    T(QCORE_TYPE_MXFP4, "MXFP4", NULL, 32, 17, true, false),
    T(QCORE_TYPE_NVFP4, "NVFP4", NULL, 64, 36, true, false),
    T(QCORE_TYPE_Q1_0, "Q1_0", NULL, 128, 18, true, false),
    T(QCORE_TYPE_Q2_0, "Q2_0", NULL, 64, 18, true, false),
    T(QCORE_TYPE_U8, "U8", "U8", 1, 1, false, false),
    T(QCORE_TYPE_U16, "U16", "U16", 1, 2, false, false),
    T(QCORE_TYPE_U32, "U32", "U32", 1, 4, false, false),
    T(QCORE_TYPE_U64, "U64", "U64", 1, 8, false, false),
    T(QCORE_TYPE_BOOL, "BOOL", "BOOL", 1, 1, false, false),
    T(QCORE_TYPE_F8_E4M3, "F8_E4M3", "F8_E4M3", 1, 1, false, false),
    T(QCORE_TYPE_F8_E5M2, "F8_E5M2", "F8_E5M2", 1, 1, false, false),
};
#undef T

const struct qcore_type_traits *qcore_type_traits(int type)
{
    if (type < 0 || type >= QCORE_TYPE_COUNT || type_table[type].name == NULL)
        return NULL;
    return &type_table[type];
}

bool qcore_type_valid_gguf(int type)
{
    const struct qcore_type_traits *t = qcore_type_traits(type);
    return t != NULL && t->in_gguf;
}

int qcore_type_from_name(const char *name, enum qcore_type *out)
{
    for (int i = 0; i < QCORE_TYPE_COUNT; i++) {
        if (type_table[i].name && strcasecmp(type_table[i].name, name) == 0) {
            *out = (enum qcore_type)i;
            return 0;
        }
    }
    return -1;
}

int qcore_type_from_st_dtype(const char *dtype, enum qcore_type *out)
{
    for (int i = 0; i < QCORE_TYPE_COUNT; i++) {
        if (type_table[i].st_dtype && strcmp(type_table[i].st_dtype, dtype) == 0) {
            *out = (enum qcore_type)i;
            return 0;
        }
    }
    return -1;
}

bool qcore_type_nbytes(int type, uint64_t n, uint64_t *out)
{
    const struct qcore_type_traits *t = qcore_type_traits(type);
    if (!t || n % t->block_size != 0)
        return false;
    uint64_t blocks = n / t->block_size;
    if (blocks != 0 && t->type_size > UINT64_MAX / blocks)
        return false;
    *out = blocks * t->type_size;
    return true;
}

bool qcore_type_is_float_source(int type)
{
    return type == QCORE_TYPE_F32 || type == QCORE_TYPE_F16 || type == QCORE_TYPE_BF16;
}

struct ftype_name {
    const char *name;
    enum qcore_ftype ftype;
    enum qcore_type def;
    bool canonical;
};

static const struct ftype_name ftypes[] = {
    {"F32", QCORE_FTYPE_ALL_F32, QCORE_TYPE_F32, true},
    {"F16", QCORE_FTYPE_F16, QCORE_TYPE_F16, true},
    {"BF16", QCORE_FTYPE_BF16, QCORE_TYPE_BF16, true},
    {"Q8_0", QCORE_FTYPE_Q8_0, QCORE_TYPE_Q8_0, true},
    {"Q4_0", QCORE_FTYPE_Q4_0, QCORE_TYPE_Q4_0, true},
    {"Q4_1", QCORE_FTYPE_Q4_1, QCORE_TYPE_Q4_1, true},
    {"Q5_0", QCORE_FTYPE_Q5_0, QCORE_TYPE_Q5_0, true},
    {"Q5_1", QCORE_FTYPE_Q5_1, QCORE_TYPE_Q5_1, true},
    {"Q2_K", QCORE_FTYPE_Q2_K, QCORE_TYPE_Q2_K, true},
    {"Q3_K_S", QCORE_FTYPE_Q3_K_S, QCORE_TYPE_Q3_K, true},
    {"Q3_K_M", QCORE_FTYPE_Q3_K_M, QCORE_TYPE_Q3_K, true},
    {"Q3_K_L", QCORE_FTYPE_Q3_K_L, QCORE_TYPE_Q3_K, true},
    {"Q4_K_S", QCORE_FTYPE_Q4_K_S, QCORE_TYPE_Q4_K, true},
    {"Q4_K_M", QCORE_FTYPE_Q4_K_M, QCORE_TYPE_Q4_K, true},
    {"Q5_K_S", QCORE_FTYPE_Q5_K_S, QCORE_TYPE_Q5_K, true},
    {"Q5_K_M", QCORE_FTYPE_Q5_K_M, QCORE_TYPE_Q5_K, true},
    {"Q6_K", QCORE_FTYPE_Q6_K, QCORE_TYPE_Q6_K, true},
    {"IQ4_NL", QCORE_FTYPE_IQ4_NL, QCORE_TYPE_IQ4_NL, true},
    /* llama-quantize's aliases */
    {"Q3_K", QCORE_FTYPE_Q3_K_M, QCORE_TYPE_Q3_K, false},
    {"Q4_K", QCORE_FTYPE_Q4_K_M, QCORE_TYPE_Q4_K, false},
    {"Q5_K", QCORE_FTYPE_Q5_K_M, QCORE_TYPE_Q5_K, false},
};
#define N_FTYPES (sizeof ftypes / sizeof ftypes[0])

int qcore_ftype_from_name(const char *name, enum qcore_ftype *out)
{
    for (size_t i = 0; i < N_FTYPES; i++) {
        if (strcasecmp(ftypes[i].name, name) == 0) {
            *out = ftypes[i].ftype;
            return 0;
        }
    }
    return -1;
}

const char *qcore_ftype_name(enum qcore_ftype ft)
{
    for (size_t i = 0; i < N_FTYPES; i++)
        if (ftypes[i].ftype == ft && ftypes[i].canonical)
            return ftypes[i].name;
    return NULL;
}

enum qcore_type qcore_ftype_default_type(enum qcore_ftype ft)
{
    for (size_t i = 0; i < N_FTYPES; i++)
        if (ftypes[i].ftype == ft)
            return ftypes[i].def;
    return QCORE_TYPE_F32;
}

const char *const *qcore_ftype_names(void)
{
    static const char *const names[] = {
        "Q4_K_M", "Q4_K_S", "Q5_K_M", "Q5_K_S", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q2_K",
        "Q6_K", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "IQ4_NL", "F16", "BF16", "F32", NULL,
    };
    return names;
}
