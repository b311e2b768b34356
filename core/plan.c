/* core/plan.c — tensor type selection (llama-quantize's rules) and the
 * output layout.
 *
 * The selection follows llama.cpp's llama_tensor_get_type for the ftypes
 * quantd offers, without an importance matrix (FORMATS.md §5.2-5.3):
 * eligibility by name and dims, the k-quant mixes keyed on tensor-name
 * substrings and layer counters, the output/token-embedding rules, regex
 * overrides, and the shape fallback. GGUF output lists tensors as
 * llama-quantize writes them: non-"blk." tensors first, then by layer, each
 * group sorted by name.
 */
#include "core/plan.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/formats/gguf.h"
#include "core/formats/safetensors.h"

void qcore_plan_opts_init(struct qcore_plan_opts *o)
{
    memset(o, 0, sizeof *o);
    o->ftype = QCORE_FTYPE_Q4_K_M;
    o->output_tensor_type = QCORE_TYPE_UNSET;
    o->token_embedding_type = QCORE_TYPE_UNSET;
    o->out_format = QCORE_FORMAT_GGUF;
}

/* ---- model facts the mixes need ------------------------------------- */

struct mix_state {
    enum qcore_ftype ftype;
    bool is_gguf_src;
    bool has_output;      /* an "output.weight" tensor exists */
    int n_layer;          /* <arch>.block_count, else counted */
    int n_attention_wv;   /* attn_v / attn_qkv / attn_kv_b tensors */
    int i_attention_wv;   /* running counters in processing order */
    int i_ffn_down;
    int n_gqa;            /* head_count / head_count_kv */
    int n_expert;
    bool is_70b;
};

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

static bool contains(const char *s, const char *needle)
{
    return strstr(s, needle) != NULL;
}

/* ggml_n_dims: trailing dims of 1 do not count; at least 1. */
static uint32_t ggml_n_dims(const struct qcore_tensor *t)
{
    for (int i = (int)t->n_dims - 1; i >= 1; i--)
        if (t->ne[i] != 1)
            return (uint32_t)i + 1;
    return 1;
}

static int64_t arch_int(const struct qcore_model *m, const char *arch, const char *suffix,
                        int64_t dflt)
{
    char key[256];
    int64_t v;
    if (snprintf(key, sizeof key, "%s.%s", arch, suffix) >= (int)sizeof key)
        return dflt;
    const struct qcore_kv *kv = qcore_model_kv(m, key);
    if (kv && qcore_kv_get_int(kv, &v) == 0)
        return v;
    return dflt;
}

static void mix_state_init(struct mix_state *s, const struct qcore_model *m, enum qcore_ftype ft)
{
    memset(s, 0, sizeof *s);
    s->ftype = ft;
    s->is_gguf_src = m->format == QCORE_FORMAT_GGUF;
    s->n_gqa = 1;
    s->n_expert = 1;
    int n_ffn_down = 0;
    for (size_t i = 0; i < m->n_tensors; i++) {
        const char *name = m->tensors[i].name;
        if (strcmp(name, "output.weight") == 0)
            s->has_output = true;
        if (contains(name, "attn_v.weight") || contains(name, "attn_qkv.weight") ||
            contains(name, "attn_kv_b.weight"))
            s->n_attention_wv++;
        if (contains(name, "ffn_down"))
            n_ffn_down++;
    }
    s->n_layer = n_ffn_down;
    const struct qcore_kv *akv = qcore_model_kv(m, "general.architecture");
    const char *arch_s;
    size_t arch_len;
    if (akv && qcore_kv_get_str(akv, &arch_s, &arch_len) == 0 && arch_len < 64) {
        char arch[64];
        memcpy(arch, arch_s, arch_len);
        arch[arch_len] = '\0';
        int64_t n_layer = arch_int(m, arch, "block_count", -1);
        if (n_layer > 0 && n_layer < 100000)
            s->n_layer = (int)n_layer;
        int64_t n_head = arch_int(m, arch, "attention.head_count", 0);
        int64_t n_head_kv = arch_int(m, arch, "attention.head_count_kv", n_head);
        if (n_head > 0 && n_head_kv > 0)
            s->n_gqa = (int)(n_head / n_head_kv);
        int64_t n_expert = arch_int(m, arch, "expert_count", 1);
        if (n_expert > 1 && n_expert < 100000)
            s->n_expert = (int)n_expert;
        s->is_70b = strcmp(arch, "llama") == 0 && s->n_layer == 80 && n_head != n_head_kv;
    }
}

static bool use_more_bits(int i, int n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* Tensors llama-quantize never quantizes, whatever the type (FORMATS §5.2). */
static bool name_excluded(const char *name)
{
    static const char *const subs[] = {
        "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel",
        "per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight",
        "indexer.q_proj.weight", "attn_rel_b.weight", ".position_embd", "position_embd.weight",
        "token_types.weight", ".rel_pos", ".patch_embd", ".patch_merger", "a.rvq.codebook",
        "mm.a.code_embd",
    };
    static const char *const rwkv[] = {
        "time_mix_first", "time_mix_w0", "time_mix_w1", "time_mix_w2", "time_mix_v0",
        "time_mix_v1", "time_mix_v2", "time_mix_a0", "time_mix_a1", "time_mix_a2",
        "time_mix_g1", "time_mix_g2", "time_mix_decay_w1", "time_mix_decay_w2",
        "time_mix_lerp_fused",
    };
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        if (contains(name, subs[i]))
            return true;
    for (size_t i = 0; i < sizeof rwkv / sizeof rwkv[0]; i++) {
        char full[64];
        snprintf(full, sizeof full, "%s.weight", rwkv[i]);
        if (contains(name, full))
            return true;
    }
    return strncmp(name, "sam.", 4) == 0;
}

static bool is_kquant_ftype(enum qcore_ftype ft)
{
    switch (ft) {
    case QCORE_FTYPE_Q2_K: case QCORE_FTYPE_Q3_K_S: case QCORE_FTYPE_Q3_K_M:
    case QCORE_FTYPE_Q3_K_L: case QCORE_FTYPE_Q4_K_S: case QCORE_FTYPE_Q4_K_M:
    case QCORE_FTYPE_IQ4_NL:
        return true;
    default:
        return false;
    }
}

/* The mix: llama_tensor_get_type without the fallback. */
static int mix_type(struct mix_state *s, const struct qcore_tensor *t, int type,
                    const struct qcore_plan_opts *o)
{
    const char *name = t->name;
    const enum qcore_ftype ft = s->ftype;
    const struct qcore_type_traits *tr = qcore_type_traits(type);

    if (strcmp(name, "output.weight") == 0 ||
        (!s->has_output && strcmp(name, "token_embd.weight") == 0)) {
        if (o->output_tensor_type != QCORE_TYPE_UNSET)
            return o->output_tensor_type;
        if (t->ne[0] % tr->block_size != 0)
            return QCORE_TYPE_Q8_0;
        return type != QCORE_TYPE_Q8_0 ? QCORE_TYPE_Q6_K : type;
    }
    if (strcmp(name, "token_embd.weight") == 0) {
        if (o->token_embedding_type != QCORE_TYPE_UNSET)
            return o->token_embedding_type;
        return type;
    }
    if (contains(name, "attn_v.weight") || contains(name, "attn_qkv.weight") ||
        contains(name, "attn_kv_b.weight")) {
        int i = s->i_attention_wv++;
        if (ft == QCORE_FTYPE_Q2_K)
            type = s->n_gqa >= 4 ? QCORE_TYPE_Q4_K : QCORE_TYPE_Q3_K;
        else if (ft == QCORE_FTYPE_Q3_K_M)
            type = i < 2 ? QCORE_TYPE_Q5_K : QCORE_TYPE_Q4_K;
        else if (ft == QCORE_FTYPE_Q3_K_L)
            type = QCORE_TYPE_Q5_K;
        else if (ft == QCORE_FTYPE_IQ4_NL && s->n_gqa >= 4)
            type = QCORE_TYPE_Q5_K;
        else if ((ft == QCORE_FTYPE_Q4_K_M || ft == QCORE_FTYPE_Q5_K_M) &&
                 use_more_bits(i, s->n_attention_wv))
            type = QCORE_TYPE_Q6_K;
        else if (ft == QCORE_FTYPE_Q4_K_S && i < 4)
            type = QCORE_TYPE_Q5_K;
        if (s->is_70b && (type == QCORE_TYPE_Q3_K || type == QCORE_TYPE_Q4_K))
            type = QCORE_TYPE_Q5_K;
        if (s->n_expert == 8)
            type = QCORE_TYPE_Q8_0;
        return type;
    }
    if (contains(name, "attn_k.weight")) {
        return s->n_expert == 8 ? QCORE_TYPE_Q8_0 : type;
    }
    if (contains(name, "ffn_down")) {
        int i = s->i_ffn_down++, n = s->n_layer;
        if (ft == QCORE_FTYPE_Q2_K)
            type = QCORE_TYPE_Q3_K;
        else if (ft == QCORE_FTYPE_Q3_K_M)
            type = i < n / 16 ? QCORE_TYPE_Q5_K : QCORE_TYPE_Q4_K;
        else if (ft == QCORE_FTYPE_Q3_K_L)
            type = QCORE_TYPE_Q5_K;
        else if (ft == QCORE_FTYPE_Q4_K_M) {
            if (use_more_bits(i, n))
                type = QCORE_TYPE_Q6_K;
        } else if (i < n / 8 && ft == QCORE_FTYPE_IQ4_NL)
            type = QCORE_TYPE_Q5_K;
        else if (ft == QCORE_FTYPE_Q5_K_M && use_more_bits(i, n))
            type = QCORE_TYPE_Q6_K;
        else if (ft == QCORE_FTYPE_Q4_K_S && i < n / 8)
            type = QCORE_TYPE_Q5_K;
        return type;
    }
    if (contains(name, "attn_output.weight")) {
        if (s->n_expert == 8) {
            if (is_kquant_ftype(ft) && ft != QCORE_FTYPE_Q3_K_L)
                type = QCORE_TYPE_Q5_K;
        } else if (ft == QCORE_FTYPE_Q2_K)
            type = QCORE_TYPE_Q3_K;
        else if (ft == QCORE_FTYPE_Q3_K_M)
            type = QCORE_TYPE_Q4_K;
        else if (ft == QCORE_FTYPE_Q3_K_L)
            type = QCORE_TYPE_Q5_K;
        return type;
    }
    return type;
}

/* The shape fallback: a type whose block does not divide the row length is
 * replaced by the nearest type that fits (FORMATS §5.3), else F16. */
static int fallback_type(int type, int64_t ne0)
{
    int nt;
    switch (type) {
    case QCORE_TYPE_Q2_K: case QCORE_TYPE_Q3_K: case QCORE_TYPE_TQ1_0: case QCORE_TYPE_TQ2_0:
    case QCORE_TYPE_Q2_0:
        nt = QCORE_TYPE_Q4_0; break;
    case QCORE_TYPE_Q4_K: nt = QCORE_TYPE_Q5_0; break;
    case QCORE_TYPE_Q5_K: nt = QCORE_TYPE_Q5_1; break;
    case QCORE_TYPE_Q6_K: nt = QCORE_TYPE_Q8_0; break;
    case QCORE_TYPE_IQ2_XXS: case QCORE_TYPE_IQ2_XS: case QCORE_TYPE_IQ2_S:
    case QCORE_TYPE_IQ3_XXS: case QCORE_TYPE_IQ3_S: case QCORE_TYPE_IQ1_S:
    case QCORE_TYPE_IQ1_M: case QCORE_TYPE_IQ4_XS:
        nt = QCORE_TYPE_IQ4_NL; break;
    default: nt = QCORE_TYPE_F16; break;
    }
    if (ne0 % (int64_t)qcore_type_traits(nt)->block_size != 0)
        nt = QCORE_TYPE_F16;
    return nt;
}

/* ---- tensor order ----------------------------------------------------- */

/* Layer number as sscanf("blk.%d.") would read it, or -1. */
static long layer_of(const char *name)
{
    if (strncmp(name, "blk.", 4) != 0)
        return -1;
    const char *p = name + 4;
    int sign = 1;
    if (*p == '+' || *p == '-')
        sign = *p++ == '-' ? -1 : 1;
    if (*p < '0' || *p > '9')
        return -1;
    long v = 0;
    while (*p >= '0' && *p <= '9' && v < 100000000L)
        v = v * 10 + (*p++ - '0');
    return sign * v;
}

static int cmp_llama_order(const void *a, const void *b)
{
    const struct qcore_plan_tensor *x = a, *y = b;
    long lx = layer_of(x->name), ly = layer_of(y->name);
    if (lx != ly)
        return lx < ly ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* ---- building --------------------------------------------------------- */

struct compiled_override {
    regex_t re;
    int type;
};

static int compile_overrides(const struct qcore_plan_opts *o, struct compiled_override **out,
                             struct qcore_error *err)
{
    *out = NULL;
    if (o->n_overrides == 0)
        return 0;
    struct compiled_override *co = calloc(o->n_overrides, sizeof *co);
    if (!co)
        return qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
    for (size_t i = 0; i < o->n_overrides; i++) {
        const struct qcore_type_traits *tr = qcore_type_traits(o->overrides[i].type);
        if (!tr || !tr->quantizer) {
            for (size_t j = 0; j < i; j++)
                regfree(&co[j].re);
            free(co);
            return qcore_error_set(err, QCORE_EINVAL, QCORE_NO_OFFSET,
                                   "override '%s': type %s cannot be produced",
                                   o->overrides[i].pattern, tr ? tr->name : "?");
        }
        int rc = regcomp(&co[i].re, o->overrides[i].pattern, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char why[128];
            regerror(rc, &co[i].re, why, sizeof why);
            for (size_t j = 0; j < i; j++)
                regfree(&co[j].re);
            free(co);
            return qcore_error_set(err, QCORE_EINVAL, QCORE_NO_OFFSET,
                                   "override pattern '%s': %s", o->overrides[i].pattern, why);
        }
        co[i].type = o->overrides[i].type;
    }
    *out = co;
    return 0;
}

static void free_overrides(struct compiled_override *co, size_t n)
{
    if (!co)
        return;
    for (size_t i = 0; i < n; i++)
        regfree(&co[i].re);
    free(co);
}

/* Decide one tensor's op and type. */
static int choose(struct qcore_plan *p, struct mix_state *ms, const struct compiled_override *co,
                  const struct qcore_tensor *t, struct qcore_plan_tensor *pt,
                  struct qcore_error *err)
{
    const struct qcore_plan_opts *o = &p->opts;
    const bool gguf_src = p->model->format == QCORE_FORMAT_GGUF;
    int def = (int)qcore_ftype_default_type(o->ftype);
    bool eligible;

    if (gguf_src) {
        eligible = ends_with(t->name, "weight") && ggml_n_dims(t) >= 2 &&
                   !name_excluded(t->name) &&
                   !(o->leave_output_tensor && strcmp(t->name, "output.weight") == 0);
    } else {
        /* safetensors names carry no llama convention: every floating
         * tensor of two or more dims is a weight matrix to quantize. */
        eligible = t->n_dims >= 2 && qcore_type_is_float_source(t->type);
    }

    pt->op = QCORE_OP_COPY;
    pt->dst_type = t->type;
    if (!eligible || o->ftype == QCORE_FTYPE_ALL_F32)
        return 0;

    int type = def;
    const struct qcore_type_traits *dtr = qcore_type_traits(def);
    bool quantized_ftype = dtr->block_size > 1;
    if (gguf_src && !o->pure && quantized_ftype)
        type = mix_type(ms, t, type, o);
    else if (gguf_src && strcmp(t->name, "output.weight") == 0 &&
             o->output_tensor_type != QCORE_TYPE_UNSET)
        type = o->output_tensor_type;
    if (gguf_src && strcmp(t->name, "token_embd.weight") == 0 &&
        o->token_embedding_type != QCORE_TYPE_UNSET)
        type = o->token_embedding_type;

    for (size_t i = 0; i < o->n_overrides; i++) {
        if (regexec(&co[i].re, t->name, 0, NULL, 0) == 0) {
            if (co[i].type != type)
                snprintf(pt->note, sizeof pt->note, "override '%s'", o->overrides[i].pattern);
            type = co[i].type;
            break;
        }
    }

    const struct qcore_type_traits *tr = qcore_type_traits(type);
    if (t->ne[0] % (int64_t)tr->block_size != 0) {
        int nt = fallback_type(type, t->ne[0]);
        snprintf(pt->note, sizeof pt->note, "fallback: row length %lld does not fit %s blocks of %u; using %s",
                 (long long)t->ne[0], tr->name, tr->block_size, qcore_type_traits(nt)->name);
        pt->fallback = true;
        p->n_fallbacks++;
        type = nt;
    }

    if (type == t->type)
        return 0; /* already of the target type: copied */
    if (!qcore_type_is_float_source(t->type))
        return qcore_error_set(err, QCORE_EUNSUPPORTED, QCORE_NO_OFFSET,
                               "tensor '%s' is %s: requantizing a quantized tensor is not supported",
                               t->name, qcore_type_traits(t->type)->name);
    pt->op = QCORE_OP_QUANTIZE;
    pt->dst_type = type;
    return 0;
}

static int build_gguf_layout(struct qcore_plan *p, struct qcore_error *err)
{
    const struct qcore_model *m = p->model;
    int rc = QCORE_ENOMEM;
    size_t n_kv = 0;
    struct qcore_kv *kv = calloc(m->n_kv + 2, sizeof *kv);
    struct qcore_gguf_out_tensor *ot = calloc(p->n ? p->n : 1, sizeof *ot);
    struct qcore_gguf_layout lay = {0};
    uint32_t alignment = 32;
    if (!kv || !ot)
        goto out;

    for (size_t i = 0; i < m->n_kv; i++) {
        const char *k = m->kv[i].key;
        if (strcmp(k, "general.file_type") == 0 || strcmp(k, "general.quantization_version") == 0 ||
            strcmp(k, "split.no") == 0 || strcmp(k, "split.count") == 0 ||
            strcmp(k, "split.tensors.count") == 0)
            continue;
        kv[n_kv++] = m->kv[i]; /* shallow: raw bytes borrowed from the model */
        if (strcmp(k, "general.alignment") == 0)
            alignment = m->alignment;
    }
    struct qcore_kv extra[2] = {{0}};
    if (qcore_kv_make_u32(&extra[0], "general.quantization_version", 2) != 0 ||
        qcore_kv_make_u32(&extra[1], "general.file_type", (uint32_t)p->opts.ftype) != 0) {
        qcore_kv_cleanup(&extra[0]);
        goto out;
    }
    kv[n_kv++] = extra[0];
    kv[n_kv++] = extra[1];

    for (size_t i = 0; i < p->n; i++) {
        const struct qcore_plan_tensor *pt = &p->t[i];
        if (pt->n_dims > QCORE_GGUF_MAX_DIMS) {
            rc = qcore_error_set(err, QCORE_EUNSUPPORTED, QCORE_NO_OFFSET,
                                 "tensor '%s' has %u dims; GGUF holds at most %d", pt->name,
                                 pt->n_dims, QCORE_GGUF_MAX_DIMS);
            goto out_extra;
        }
        if (strlen(pt->name) > QCORE_GGUF_MAX_NAME) {
            rc = qcore_error_set(err, QCORE_EUNSUPPORTED, QCORE_NO_OFFSET,
                                 "tensor name '%s' is %zu bytes; GGUF names must be under 64",
                                 pt->name, strlen(pt->name));
            goto out_extra;
        }
        if (!qcore_type_valid_gguf(pt->dst_type)) {
            rc = qcore_error_set(err, QCORE_EUNSUPPORTED, QCORE_NO_OFFSET,
                                 "tensor '%s' has dtype %s, which GGUF cannot hold", pt->name,
                                 qcore_type_traits(pt->dst_type)->name);
            goto out_extra;
        }
        ot[i].name = pt->name;
        ot[i].n_dims = pt->n_dims ? pt->n_dims : 1; /* a scalar is a 1-element vector */
        ot[i].ne = pt->ne;
        ot[i].type = pt->dst_type;
    }
    rc = qcore_gguf_layout_build(kv, n_kv, ot, p->n, alignment, &lay, err);
    if (rc != 0)
        goto out_extra;
    for (size_t i = 0; i < p->n; i++)
        p->t[i].dst_offset = lay.offsets[i];
    p->header = lay.header;
    p->header_len = lay.header_len;
    p->out_size = lay.file_size;
    lay.header = NULL;
    rc = 0;
out_extra:
    qcore_kv_cleanup(&extra[0]);
    qcore_kv_cleanup(&extra[1]);
out:
    if (rc == QCORE_ENOMEM && err && err->msg[0] == '\0')
        qcore_error_set(err, rc, QCORE_NO_OFFSET, "out of memory");
    qcore_gguf_layout_cleanup(&lay);
    free(ot);
    free(kv);
    return rc;
}

static int build_st_layout(struct qcore_plan *p, struct qcore_error *err)
{
    struct qcore_st_out_tensor *ot = calloc(p->n ? p->n : 1, sizeof *ot);
    struct qcore_st_layout lay = {0};
    int rc;
    if (!ot)
        return qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
    for (size_t i = 0; i < p->n; i++) {
        const struct qcore_plan_tensor *pt = &p->t[i];
        if (!qcore_type_traits(pt->dst_type)->st_dtype) {
            rc = qcore_error_set(err, QCORE_EUNSUPPORTED, QCORE_NO_OFFSET,
                                 "tensor '%s' is %s, which safetensors cannot hold", pt->name,
                                 qcore_type_traits(pt->dst_type)->name);
            goto out;
        }
        ot[i].name = pt->name;
        ot[i].n_dims = pt->n_dims;
        ot[i].ne = pt->ne;
        ot[i].type = pt->dst_type;
    }
    rc = qcore_st_layout_build(p->model->st_metadata, ot, p->n, &lay, err);
    if (rc != 0)
        goto out;
    for (size_t i = 0; i < p->n; i++)
        p->t[i].dst_offset = lay.offsets[i];
    p->header = lay.header;
    p->header_len = lay.header_len;
    p->out_size = lay.file_size;
    lay.header = NULL;
out:
    qcore_st_layout_cleanup(&lay);
    free(ot);
    return rc;
}

int qcore_plan_build(const struct qcore_model *m, const struct qcore_plan_opts *o,
                     struct qcore_plan **out, struct qcore_error *err)
{
    struct compiled_override *co = NULL;
    struct qcore_plan *p = calloc(1, sizeof *p);
    struct mix_state ms;
    int rc;

    *out = NULL;
    if (!p)
        return qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
    p->model = m;
    p->opts = *o;
    p->out_format = o->out_format;
    if (o->out_format == QCORE_FORMAT_SAFETENSORS && o->ftype != QCORE_FTYPE_F16 &&
        o->ftype != QCORE_FTYPE_BF16 && o->ftype != QCORE_FTYPE_ALL_F32) {
        rc = qcore_error_set(err, QCORE_EINVAL, QCORE_NO_OFFSET,
                             "safetensors output holds F16, BF16 or F32; %s needs GGUF output",
                             qcore_ftype_name(o->ftype));
        goto out;
    }
    rc = compile_overrides(o, &co, err);
    if (rc != 0)
        goto out;
    p->n = m->n_tensors;
    p->t = calloc(p->n ? p->n : 1, sizeof *p->t);
    if (!p->t) {
        rc = qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < p->n; i++) {
        p->t[i].src = i;
        p->t[i].name = m->tensors[i].name;
    }
    /* GGUF output: llama-quantize's order, which is also the order in which
     * its counters (attn_v, ffn_down) advance. */
    if (o->out_format == QCORE_FORMAT_GGUF)
        qsort(p->t, p->n, sizeof *p->t, cmp_llama_order);

    mix_state_init(&ms, m, o->ftype);
    for (size_t i = 0; i < p->n; i++) {
        struct qcore_plan_tensor *pt = &p->t[i];
        const struct qcore_tensor *t = &m->tensors[pt->src];
        rc = choose(p, &ms, co, t, pt, err);
        if (rc != 0)
            goto out;
        pt->src_type = t->type;
        pt->n_dims = t->n_dims;
        memcpy(pt->ne, t->ne, sizeof pt->ne);
        pt->numel = t->numel;
        pt->row_len = t->n_dims ? t->ne[0] : 1;
        pt->n_rows = pt->row_len ? t->numel / pt->row_len : 0;
        pt->src_bytes = t->nbytes;
        if (!qcore_type_nbytes(pt->dst_type, (uint64_t)t->numel, &pt->dst_bytes)) {
            rc = qcore_error_set(err, QCORE_EMALFORMED, QCORE_NO_OFFSET,
                                 "tensor '%s': size overflows", t->name);
            goto out;
        }
        p->src_bytes += pt->src_bytes;
        p->dst_bytes += pt->dst_bytes;
        if (pt->op == QCORE_OP_QUANTIZE)
            p->n_quantized++;
    }
    rc = o->out_format == QCORE_FORMAT_GGUF ? build_gguf_layout(p, err) : build_st_layout(p, err);
out:
    free_overrides(co, o->n_overrides);
    p->opts.overrides = NULL;
    p->opts.n_overrides = 0;
    if (rc != 0) {
        qcore_plan_destroy(p);
        return rc;
    }
    *out = p;
    return 0;
}

void qcore_plan_destroy(struct qcore_plan *p)
{
    if (!p)
        return;
    free(p->header);
    free(p->t);
    free(p);
}
