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

#include <inttypes.h>
#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/formats/gguf.h"
#include "core/formats/safetensors.h"

#define QD_STR2(x) #x
#define QD_STR(x) QD_STR2(x)

void qcore_plan_opts_init(struct qcore_plan_opts *o)
{
    memset(o, 0, sizeof *o);
    o->ftype = QCORE_FTYPE_Q4_K_M;
    o->output_tensor_type = QCORE_TYPE_UNSET;
    o->token_embedding_type = QCORE_TYPE_UNSET;
    o->out_format = QCORE_FORMAT_GGUF;
    o->ct_scheme = QCORE_CT_NONE;
    o->group_size = QCORE_GROUP_DEFAULT;
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
    bool is_70b;          /* llama.cpp's LLM_TYPE_70B (arch_is_70b) */
    bool is_falcon;       /* Falcon has rules of its own */
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

/* The model type llama.cpp's loader calls LLM_TYPE_70B (the only type the
 * mixes look at): set per architecture from the layer count, see each arch's
 * load_hparams in llama.cpp (llama: 80 layers with GQA, else it is "65B"). */
static bool arch_is_70b(const char *arch, int n_layer, int64_t n_head, int64_t n_head_kv)
{
    if (strcmp(arch, "llama") == 0 || strcmp(arch, "llama-embed") == 0)
        return n_layer == 80 && n_head != n_head_kv;
    if (strcmp(arch, "deci") == 0 || strcmp(arch, "qwen2") == 0 || strcmp(arch, "olmo") == 0)
        return n_layer == 80;
    if (strcmp(arch, "jais2") == 0)
        return n_layer == 68;
    return false;
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
        s->is_70b = arch_is_70b(arch, s->n_layer, n_head, n_head_kv);
        s->is_falcon = strcmp(arch, "falcon") == 0;
    }
}

static long layer_of(const char *name);

/* llama.cpp's token-embedding category (also Gemma 3n's per-layer one). */
static bool is_token_embd(const char *name)
{
    return strcmp(name, "token_embd.weight") == 0 ||
           strcmp(name, "per_layer_token_embd.weight") == 0;
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
        "indexer.q_proj.weight", "attn_rel_b.weight", ".position_embd", "sam.pos_embd",
        "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd", ".patch_merger", "a.rvq.codebook",
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
    /* the arch's position and token-type embeddings, by their exact names */
    return strcmp(name, "position_embd.weight") == 0 || strcmp(name, "token_types.weight") == 0;
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

    if (strcmp(name, "output.weight") == 0 || (!s->has_output && is_token_embd(name))) {
        if (o->output_tensor_type != QCORE_TYPE_UNSET)
            return o->output_tensor_type;
        if (s->is_falcon || t->ne[0] % tr->block_size != 0)
            return QCORE_TYPE_Q8_0;
        return type != QCORE_TYPE_Q8_0 ? QCORE_TYPE_Q6_K : type;
    }
    if (is_token_embd(name)) {
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
        if (s->n_expert > 1) {
            /* MoE: several ffn_down tensors per layer (experts, shared
             * experts); llama-quantize takes the layer from the name. */
            long l = layer_of(name);
            if (l >= 0 && l < 100000)
                i = (int)l;
        }
        if (ft == QCORE_FTYPE_Q2_K)
            type = QCORE_TYPE_Q3_K;
        else if (ft == QCORE_FTYPE_Q3_K_M)
            type = i < n / 16 ? QCORE_TYPE_Q5_K
                 : !s->is_falcon || use_more_bits(i, n) ? QCORE_TYPE_Q4_K : QCORE_TYPE_Q3_K;
        else if (ft == QCORE_FTYPE_Q3_K_L)
            type = s->is_falcon ? QCORE_TYPE_Q4_K : QCORE_TYPE_Q5_K;
        else if (ft == QCORE_FTYPE_Q4_K_M) {
            if (s->is_falcon)
                type = i < n / 16 ? QCORE_TYPE_Q6_K
                     : use_more_bits(i, n) ? QCORE_TYPE_Q5_K : QCORE_TYPE_Q4_K;
            else if (use_more_bits(i, n))
                type = QCORE_TYPE_Q6_K;
        } else if (i < n / 8 && ft == QCORE_FTYPE_IQ4_NL)
            type = QCORE_TYPE_Q5_K;
        else if (ft == QCORE_FTYPE_Q5_K_M && use_more_bits(i, n))
            type = QCORE_TYPE_Q6_K;
        else if (ft == QCORE_FTYPE_Q4_K_S && !s->is_falcon && i < n / 8)
            type = QCORE_TYPE_Q5_K;
        return type;
    }
    if (contains(name, "attn_output.weight")) {
        if (s->is_falcon) {
            if (ft == QCORE_FTYPE_Q3_K_L)
                type = QCORE_TYPE_Q4_K;
        } else if (s->n_expert == 8) {
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

/* Read a bounded repeat "{m}", "{m,}" or "{m,n}" starting at pat[*i] == '{';
 * leaves *i on the '}'. Returns the largest count, or -1 if unterminated. */
static long repeat_bound(const char *pat, size_t len, size_t *i)
{
    long v = 0, max = 0;
    for ((*i)++; *i < len && pat[*i] != '}'; (*i)++) {
        if (pat[*i] >= '0' && pat[*i] <= '9') {
            if (v <= 100000)
                v = v * 10 + (pat[*i] - '0');
        } else {
            v = 0;
        }
        if (v > max)
            max = v;
    }
    return *i < len ? max : -1;
}

int qcore_pattern_check(const char *pat, struct qcore_error *err)
{
    enum { MAX_DEPTH = 16 };
    bool group_rep[MAX_DEPTH + 1] = {false}; /* a group holds a repetition */
    int depth = 0, repeats = 0;
    enum { T_ATOM, T_REPEAT, T_CLOSE_REP, T_OTHER } prev = T_OTHER;
    size_t len = strlen(pat);
    const char *why = NULL;

    if (len > QCORE_MAX_PATTERN_LEN)
        return qcore_error_set(err, QCORE_EINVAL, QCORE_NO_OFFSET,
                               "pattern longer than %d bytes", QCORE_MAX_PATTERN_LEN);
    for (size_t i = 0; i < len && !why; i++) {
        char c = pat[i];
        if (c == '\\') {
            if (pat[i + 1] >= '1' && pat[i + 1] <= '9')
                why = "back-references are not allowed";
            i++;
            prev = T_ATOM;
        } else if (c == '[') {
            /* a bracket expression is one atom; its members are literals */
            i++;
            if (pat[i] == '^')
                i++;
            if (pat[i] == ']')
                i++;
            while (i < len && pat[i] != ']')
                i++;
            prev = T_ATOM;
        } else if (c == '(') {
            if (++depth > MAX_DEPTH)
                why = "groups nested too deeply";
            else
                group_rep[depth] = false;
            prev = T_OTHER;
        } else if (c == ')' && depth > 0) {
            prev = group_rep[depth] ? T_CLOSE_REP : T_ATOM;
            depth--;
        } else if (c == '*' || c == '+' || c == '?' || c == '{') {
            if (c == '{' && repeat_bound(pat, len, &i) > QCORE_MAX_PATTERN_BOUND)
                why = "repeat counts above " QD_STR(QCORE_MAX_PATTERN_BOUND) " are not allowed";
            else if (prev == T_REPEAT)
                why = "stacked repetition operators are not allowed";
            else if (prev == T_CLOSE_REP)
                why = "a repeated group may not itself contain a repetition";
            else if (++repeats > QCORE_MAX_PATTERN_REPEATS)
                why = "more than " QD_STR(QCORE_MAX_PATTERN_REPEATS) " repetition operators";
            group_rep[depth] = true;
            prev = T_REPEAT;
        } else {
            prev = c == '|' || c == '^' ? T_OTHER : T_ATOM;
        }
    }
    if (why)
        return qcore_error_set(err, QCORE_EINVAL, QCORE_NO_OFFSET, "pattern '%.64s': %s", pat, why);
    return 0;
}

struct compiled_override {
    regex_t re;
    int type;
    enum qcore_ct_scheme ct;
};

/* The scheme an override names, or NONE for a plain type. */
static enum qcore_ct_scheme override_ct(int type)
{
    int s = type - QCORE_OVERRIDE_CT_BASE;
    return s > QCORE_CT_NONE && s < QCORE_CT_SCHEME_COUNT ? (enum qcore_ct_scheme)s : QCORE_CT_NONE;
}

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
        if (override_ct(o->overrides[i].type) == QCORE_CT_NONE && (!tr || !tr->quantizer)) {
            for (size_t j = 0; j < i; j++)
                regfree(&co[j].re);
            free(co);
            return qcore_error_set(err, QCORE_EINVAL, QCORE_NO_OFFSET,
                                   "override '%s': type %s cannot be produced",
                                   o->overrides[i].pattern, tr ? tr->name : "?");
        }
        int rc = qcore_pattern_check(o->overrides[i].pattern, err);
        if (rc != 0) {
            for (size_t j = 0; j < i; j++)
                regfree(&co[j].re);
            free(co);
            return rc;
        }
        rc = regcomp(&co[i].re, o->overrides[i].pattern, REG_EXTENDED | REG_NOSUB);
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
        co[i].ct = override_ct(o->overrides[i].type);
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

    /* llama.cpp's order: the token-embedding and output type options, else
     * the first matching override, else the mix. An overridden tensor does
     * not go through the mix, so it does not advance the mix's layer
     * counters (attn_v, ffn_down). */
    int type = def;
    const struct qcore_type_traits *dtr = qcore_type_traits(def);
    bool quantized_ftype = dtr->block_size > 1;
    bool chosen = false;
    if (gguf_src && is_token_embd(t->name) && o->token_embedding_type != QCORE_TYPE_UNSET) {
        type = o->token_embedding_type;
        chosen = true;
    } else if (gguf_src && strcmp(t->name, "output.weight") == 0 &&
               o->output_tensor_type != QCORE_TYPE_UNSET) {
        type = o->output_tensor_type;
        chosen = true;
    }
    for (size_t i = 0; !chosen && i < o->n_overrides; i++) {
        if (regexec(&co[i].re, t->name, 0, NULL, 0) == 0) {
            int mixed = type; /* noted when the mix would have chosen otherwise */
            if (gguf_src && !o->pure && quantized_ftype) {
                struct mix_state probe = *ms;
                mixed = mix_type(&probe, t, type, o);
            }
            if (co[i].type != mixed)
                snprintf(pt->note, sizeof pt->note, "override '%s'", o->overrides[i].pattern);
            type = co[i].type;
            chosen = true;
        }
    }
    if (!chosen && gguf_src && !o->pure && quantized_ftype)
        type = mix_type(ms, t, type, o);

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

/* ---- compressed-tensors schemes (docs/int-schemes.md) ------------------ */

static const char *const default_ignore[] = {
    "lm_head", "embed", "(^|\\.)(wte|wpe)\\.", "^token_embd\\.", "^output\\.weight$", NULL,
};

const char *const *qcore_plan_default_ignore(void)
{
    return default_ignore;
}

struct ignore_set {
    regex_t *re;
    const char *const *pat;
    size_t n;
};

static void free_ignore(struct ignore_set *ig)
{
    for (size_t i = 0; ig->re && i < ig->n; i++)
        regfree(&ig->re[i]);
    free(ig->re);
    ig->re = NULL;
}

static int compile_ignore(const struct qcore_plan_opts *o, struct ignore_set *ig,
                          struct qcore_error *err)
{
    ig->pat = o->ignore ? o->ignore : default_ignore;
    ig->n = 0;
    if (o->ignore)
        ig->n = o->n_ignore;
    else
        while (default_ignore[ig->n])
            ig->n++;
    ig->re = calloc(ig->n ? ig->n : 1, sizeof *ig->re);
    if (!ig->re)
        return qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
    for (size_t i = 0; i < ig->n; i++) {
        int rc = qcore_pattern_check(ig->pat[i], err);
        if (rc != 0) {
            ig->n = i;
            return rc;
        }
        rc = regcomp(&ig->re[i], ig->pat[i], REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char why[128];
            regerror(rc, &ig->re[i], why, sizeof why);
            ig->n = i;
            return qcore_error_set(err, QCORE_EINVAL, QCORE_NO_OFFSET, "ignore pattern '%s': %s",
                                   ig->pat[i], why);
        }
    }
    return 0;
}

static const char *const role_suffix[QCORE_CT_ROLES] = {"_packed", "_scale", "_zero_point",
                                                        "_shape"};

/* The group size a scheme is asked for: 0 for per channel. */
static int64_t asked_group(const struct qcore_plan_opts *o, enum qcore_ct_scheme s)
{
    if (qcore_ct_scheme_is_fp8(s) || o->group_size == QCORE_GROUP_CHANNEL)
        return 0;
    return o->group_size > 0 ? o->group_size : qcore_ct_scheme_default_group(s);
}

/* Group size for a row of `cols`: the asked one if it divides cols, else the
 * largest halving of it (>= 32) that does, else per channel (FORMATS §6:
 * compressed-tensors and vLLM need cols % group == 0). */
static int64_t fit_group(struct qcore_plan *p, struct qcore_plan_tensor *pt, int64_t asked,
                         int64_t cols)
{
    if (asked <= 0 || cols % asked == 0)
        return asked;
    int64_t g = asked / 2;
    while (g >= 32 && cols % g != 0)
        g /= 2;
    if (g < 32)
        g = 0;
    char to[40];
    if (g)
        snprintf(to, sizeof to, "group size %" PRId64, g);
    else
        snprintf(to, sizeof to, "one scale per channel");
    snprintf(pt->note, sizeof pt->note,
             "fallback: input dim %" PRId64 " is not a multiple of the group size %" PRId64
             "; using %s", cols, asked, to);
    pt->fallback = true;
    p->n_fallbacks++;
    return g;
}

static int set_role(struct qcore_plan_ct *ct, enum qcore_ct_role r, const char *name,
                    bool own_suffix, int type, uint32_t n_dims, const int64_t *ne)
{
    size_t len = strlen(name) + (own_suffix ? strlen(role_suffix[r]) : 0) + 1;
    ct->name[r] = malloc(len);
    if (!ct->name[r])
        return QCORE_ENOMEM;
    snprintf(ct->name[r], len, "%s%s", name, own_suffix ? role_suffix[r] : "");
    ct->present[r] = true;
    ct->type[r] = type;
    ct->n_dims[r] = n_dims;
    for (uint32_t d = 0; d < QCORE_MAX_DIMS; d++)
        ct->ne[r][d] = d < n_dims ? ne[d] : 1;
    int64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (ne[d] != 0 && numel > INT64_MAX / ne[d])
            return QCORE_ELIMIT;
        numel *= ne[d];
    }
    return qcore_type_nbytes(type, (uint64_t)numel, &ct->nbytes[r]) ? 0 : QCORE_ELIMIT;
}

/* Fill pt->ct for scheme s: parameters, fallback, companion names and shapes. */
static int setup_ct(struct qcore_plan *p, const struct qcore_tensor *t,
                    struct qcore_plan_tensor *pt, enum qcore_ct_scheme s, struct qcore_error *err)
{
    struct qcore_plan_ct *ct = calloc(1, sizeof *ct);
    if (!ct)
        return qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
    pt->ct = ct;
    const int64_t rows = t->ne[t->n_dims - 1], cols = t->numel / rows;
    const bool fp8 = qcore_ct_scheme_is_fp8(s);
    int64_t g = fit_group(p, pt, asked_group(&p->opts, s), cols);
    ct->prm = (struct qcore_ct_params){s, rows, cols, g ? g : cols,
                                       fp8 ? QCORE_TYPE_F32 : t->type};
    ct->strategy_group = g;
    const int64_t G = qcore_ct_groups(&ct->prm);
    if (g)
        snprintf(ct->label, sizeof ct->label, "%s-g%" PRId64, qcore_ct_scheme_name(s), g);
    else
        snprintf(ct->label, sizeof ct->label, "%s-channel", qcore_ct_scheme_name(s));

    int rc;
    const int64_t scale_ne[2] = {G, rows};
    if (fp8) {
        rc = set_role(ct, QCORE_CT_WEIGHT, t->name, false, QCORE_TYPE_F8_E4M3, t->n_dims, t->ne);
    } else {
        const int64_t packed_ne[2] = {(int64_t)(qcore_ct_row_bytes(&ct->prm) / 4), rows};
        rc = set_role(ct, QCORE_CT_WEIGHT, t->name, true, QCORE_TYPE_I32, 2, packed_ne);
    }
    if (rc == 0)
        rc = set_role(ct, QCORE_CT_SCALE, t->name, true, ct->prm.scale_type, 2, scale_ne);
    if (rc == 0 && !qcore_ct_scheme_symmetric(s)) {
        const int64_t pw = qcore_ct_per_word(&ct->prm);
        const int64_t zero_ne[2] = {G, (rows + pw - 1) / pw};
        rc = set_role(ct, QCORE_CT_ZERO, t->name, true, QCORE_TYPE_I32, 2, zero_ne);
    }
    if (rc == 0 && !fp8) {
        const int64_t shape_ne[1] = {2};
        rc = set_role(ct, QCORE_CT_SHAPE, t->name, true, QCORE_TYPE_I64, 1, shape_ne);
    }
    if (rc != 0)
        return qcore_error_set(err, rc, QCORE_NO_OFFSET, "tensor '%s': %s", t->name,
                               rc == QCORE_ENOMEM ? "out of memory" : "size overflows");
    pt->op = QCORE_OP_QUANTIZE_CT;
    pt->dst_type = ct->type[QCORE_CT_WEIGHT];
    return 0;
}

/* A type chosen by an override in a compressed-tensors plan: a plain
 * safetensors dtype (F16, BF16, F32) or the source's own. */
static int choose_ct_type(const struct qcore_tensor *t, struct qcore_plan_tensor *pt, int type,
                          struct qcore_error *err)
{
    const struct qcore_type_traits *tr = qcore_type_traits(type);
    if (!tr || !tr->st_dtype)
        return qcore_error_set(err, QCORE_EUNSUPPORTED, QCORE_NO_OFFSET,
                               "tensor '%s': type %s cannot be stored in safetensors", t->name,
                               tr ? tr->name : "?");
    if (type == t->type)
        return 0;
    if (!qcore_type_is_float_source(t->type))
        return qcore_error_set(err, QCORE_EUNSUPPORTED, QCORE_NO_OFFSET,
                               "tensor '%s' is %s: only F32, F16 and BF16 can be converted",
                               t->name, qcore_type_traits(t->type)->name);
    pt->op = QCORE_OP_QUANTIZE;
    pt->dst_type = type;
    return 0;
}

/* One tensor of a compressed-tensors plan: override (first match), else
 * eligibility (a floating tensor of 2+ dims, not empty) and the ignore list. */
static int choose_ct(struct qcore_plan *p, const struct compiled_override *co,
                     const struct ignore_set *ig, const struct qcore_tensor *t,
                     struct qcore_plan_tensor *pt, struct qcore_error *err)
{
    const struct qcore_plan_opts *o = &p->opts;
    enum qcore_ct_scheme s = o->ct_scheme;
    pt->op = QCORE_OP_COPY;
    pt->dst_type = t->type;
    for (size_t i = 0; i < o->n_overrides; i++) {
        if (regexec(&co[i].re, t->name, 0, NULL, 0) != 0)
            continue;
        snprintf(pt->note, sizeof pt->note, "override '%s'", o->overrides[i].pattern);
        if (co[i].ct == QCORE_CT_NONE)
            return choose_ct_type(t, pt, co[i].type, err);
        s = co[i].ct;
        /* a pattern that also catches biases or integer tensors: those stay */
        if (!qcore_type_is_float_source(t->type) || t->n_dims < 2 || t->numel == 0) {
            snprintf(pt->note, sizeof pt->note, "override '%s' does not apply: %s needs a "
                     "floating tensor of 2+ dims", o->overrides[i].pattern,
                     qcore_ct_scheme_name(s));
            return 0;
        }
        if (qcore_ct_scheme_is_fp8(s) != qcore_ct_scheme_is_fp8(o->ct_scheme))
            return qcore_error_set(err, QCORE_EINVAL, QCORE_NO_OFFSET,
                                   "override '%s': fp8 and int schemes cannot share one file",
                                   o->overrides[i].pattern);
        return setup_ct(p, t, pt, s, err);
    }
    if (!qcore_type_is_float_source(t->type) || t->n_dims < 2 || t->numel == 0)
        return 0;
    for (size_t i = 0; i < ig->n; i++) {
        if (regexec(&ig->re[i], t->name, 0, NULL, 0) == 0) {
            snprintf(pt->note, sizeof pt->note, "ignored ('%s')", ig->pat[i]);
            return 0;
        }
    }
    return setup_ct(p, t, pt, s, err);
}

/* ---- the quantization_config block ------------------------------------ */

static bool ends_with_weight(const char *name)
{
    size_t n = strlen(name);
    return n > 7 && strcmp(name + n - 7, ".weight") == 0;
}

/* A 2-D "<module>.weight": what the "Linear" target stands for. */
static bool is_linear_like(const struct qcore_plan_tensor *pt)
{
    return pt->n_dims == 2 && ends_with_weight(pt->name);
}

/* The module name (without ".weight"), or the tensor name. */
static json_t *module_name(const char *name)
{
    size_t n = strlen(name);
    return ends_with_weight(name) ? json_stringn(name, n - 7) : json_string(name);
}

/* "re:^<escaped module name>$" (Python re syntax). */
static json_t *exact_target(const char *name)
{
    size_t n = strlen(name);
    if (ends_with_weight(name))
        n -= 7;
    char *buf = malloc(2 * n + 6);
    if (!buf)
        return NULL;
    size_t o = 0;
    memcpy(buf, "re:^", 4);
    o = 4;
    for (size_t i = 0; i < n; i++) {
        if (strchr("\\.^$*+?{}[]|()", name[i]))
            buf[o++] = '\\';
        buf[o++] = name[i];
    }
    buf[o++] = '$';
    buf[o] = '\0';
    json_t *s = json_string(buf);
    free(buf);
    return s;
}

static json_t *weights_args(enum qcore_ct_scheme s, int64_t group)
{
    if (qcore_ct_scheme_is_fp8(s))
        return json_pack("{s:i, s:s, s:b, s:s, s:n, s:b}", "num_bits", 8, "type", "float",
                         "symmetric", 1, "strategy", "channel", "group_size", "dynamic", 0);
    return json_pack("{s:i, s:s, s:b, s:s, s:o, s:b}", "num_bits", (int)qcore_ct_scheme_bits(s),
                     "type", "int", "symmetric", (int)qcore_ct_scheme_symmetric(s), "strategy",
                     group ? "group" : "channel", "group_size",
                     group ? json_integer(group) : json_null(), "dynamic", 0);
}

struct cfg_group {
    enum qcore_ct_scheme s;
    int64_t g;
    json_t *targets;
};

/* Index of the group of (s, g), added when new; -1 on allocation failure. */
static long cfg_group_of(struct cfg_group **gr, size_t *n, enum qcore_ct_scheme s, int64_t g)
{
    for (size_t i = 0; i < *n; i++)
        if ((*gr)[i].s == s && (*gr)[i].g == g)
            return (long)i;
    struct cfg_group *ng = realloc(*gr, (*n + 1) * sizeof *ng);
    if (!ng)
        return -1;
    *gr = ng;
    ng[*n] = (struct cfg_group){s, g, json_array()};
    return ng[*n].targets ? (long)(*n)++ : -1;
}

static json_t *build_ct_config(const struct qcore_plan *const *plans, size_t n_plans,
                               struct cfg_group **gr, size_t *n_gr)
{
    const struct qcore_plan_opts *o = &plans[0]->opts;
    json_t *ignore = json_array();
    if (!ignore || cfg_group_of(gr, n_gr, o->ct_scheme, asked_group(o, o->ct_scheme)) != 0 ||
        json_array_append_new((*gr)[0].targets, json_string("Linear")) != 0)
        goto fail;
    for (size_t k = 0; k < n_plans; k++) {
        for (size_t i = 0; i < plans[k]->n; i++) {
            const struct qcore_plan_tensor *pt = &plans[k]->t[i];
            if (pt->op != QCORE_OP_QUANTIZE_CT) {
                if (is_linear_like(pt) && json_array_append_new(ignore, module_name(pt->name)))
                    goto fail;
                continue;
            }
            long gi = cfg_group_of(gr, n_gr, pt->ct->prm.scheme, pt->ct->strategy_group);
            if (gi < 0)
                goto fail;
            if ((gi != 0 || !is_linear_like(pt)) &&
                json_array_append_new((*gr)[gi].targets, exact_target(pt->name)) != 0)
                goto fail;
        }
    }
    json_t *groups = json_object();
    for (size_t i = 0; groups && i < *n_gr; i++) {
        char key[32];
        snprintf(key, sizeof key, "group_%zu", i);
        json_t *g = json_pack("{s:O, s:o, s:n, s:n}", "targets", (*gr)[i].targets, "weights",
                              weights_args((*gr)[i].s, (*gr)[i].g), "input_activations",
                              "output_activations");
        if (!g || json_object_set_new(groups, key, g) != 0) {
            json_decref(groups);
            groups = NULL;
        }
    }
    if (!groups)
        goto fail;
    return json_pack("{s:s, s:s, s:s, s:o, s:o, s:n}", "quant_method", "compressed-tensors",
                     "format",
                     qcore_ct_scheme_is_fp8(o->ct_scheme) ? "float-quantized" : "pack-quantized",
                     "quantization_status", "compressed", "config_groups", groups, "ignore",
                     ignore, "kv_cache_scheme");
fail:
    json_decref(ignore);
    return NULL;
}

char *qcore_plan_ct_config(const struct qcore_plan *const *plans, size_t n)
{
    if (n == 0 || plans[0]->opts.ct_scheme == QCORE_CT_NONE)
        return NULL;
    struct cfg_group *gr = NULL;
    size_t n_gr = 0;
    json_t *cfg = build_ct_config(plans, n, &gr, &n_gr);
    char *text = cfg ? json_dumps(cfg, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(cfg);
    for (size_t i = 0; i < n_gr; i++)
        json_decref(gr[i].targets);
    free(gr);
    return text;
}

/* __metadata__ of a compressed-tensors file: the source's entries, then
 * "format": "pt" (transformers refuses files without it) and the config. */
static char *ct_metadata(const struct qcore_plan *p)
{
    json_t *md = p->model->st_metadata ? json_loads(p->model->st_metadata, 0, NULL)
                                       : json_object();
    char *text = NULL;
    if (md && json_object_set_new(md, "format", json_string("pt")) == 0 &&
        json_object_set_new(md, "quantization_config", json_string(p->quant_config)) == 0)
        text = json_dumps(md, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(md);
    return text;
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

/* The output tensors of plan tensor pt: one, or its companions. */
static size_t st_out_of(const struct qcore_plan_tensor *pt, struct qcore_st_out_tensor *ot)
{
    if (pt->op != QCORE_OP_QUANTIZE_CT) {
        *ot = (struct qcore_st_out_tensor){pt->name, pt->n_dims, pt->ne, pt->dst_type};
        return 1;
    }
    size_t k = 0;
    for (int r = 0; r < QCORE_CT_ROLES; r++)
        if (pt->ct->present[r])
            ot[k++] = (struct qcore_st_out_tensor){pt->ct->name[r], pt->ct->n_dims[r],
                                                   pt->ct->ne[r], pt->ct->type[r]};
    return k;
}

static int build_st_layout(struct qcore_plan *p, struct qcore_error *err)
{
    struct qcore_st_out_tensor *ot = calloc(p->n * QCORE_CT_ROLES + 1, sizeof *ot);
    struct qcore_st_layout lay = {0};
    char *md = NULL;
    int rc;
    if (!ot)
        return qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
    p->n_out = 0;
    for (size_t i = 0; i < p->n; i++) {
        const struct qcore_plan_tensor *pt = &p->t[i];
        if (!qcore_type_traits(pt->dst_type)->st_dtype) {
            rc = qcore_error_set(err, QCORE_EUNSUPPORTED, QCORE_NO_OFFSET,
                                 "tensor '%s' is %s, which safetensors cannot hold", pt->name,
                                 qcore_type_traits(pt->dst_type)->name);
            goto out;
        }
        p->n_out += st_out_of(pt, ot + p->n_out);
    }
    if (p->quant_config && !(md = ct_metadata(p))) {
        rc = qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
        goto out;
    }
    rc = qcore_st_layout_build(md ? md : p->model->st_metadata, ot, p->n_out, &lay, err);
    if (rc != 0)
        goto out;
    for (size_t i = 0, k = 0; i < p->n; i++) {
        struct qcore_plan_tensor *pt = &p->t[i];
        pt->dst_offset = lay.offsets[k];
        for (int r = 0; pt->op == QCORE_OP_QUANTIZE_CT && r < QCORE_CT_ROLES; r++)
            if (pt->ct->present[r])
                pt->ct->offset[r] = lay.offsets[k++];
        if (pt->op != QCORE_OP_QUANTIZE_CT)
            k++;
    }
    p->header = lay.header;
    p->header_len = lay.header_len;
    p->out_size = lay.file_size;
    lay.header = NULL;
out:
    free(md);
    qcore_st_layout_cleanup(&lay);
    free(ot);
    return rc;
}

/* Options that cannot work together, rejected before anything is built. */
static int check_opts(const struct qcore_plan_opts *o, struct qcore_error *err)
{
    bool ct = o->ct_scheme != QCORE_CT_NONE;
    if (ct && (o->ct_scheme < 0 || o->ct_scheme >= QCORE_CT_SCHEME_COUNT))
        return qcore_error_set(err, QCORE_EINVAL, QCORE_NO_OFFSET, "unknown scheme");
    if (ct && o->out_format != QCORE_FORMAT_SAFETENSORS)
        return qcore_error_set(err, QCORE_EINVAL, QCORE_NO_OFFSET,
                               "%s is a safetensors scheme (compressed-tensors); use safetensors "
                               "output", qcore_ct_scheme_name(o->ct_scheme));
    if (!ct && o->out_format == QCORE_FORMAT_SAFETENSORS && o->ftype != QCORE_FTYPE_F16 &&
        o->ftype != QCORE_FTYPE_BF16 && o->ftype != QCORE_FTYPE_ALL_F32)
        return qcore_error_set(err, QCORE_EINVAL, QCORE_NO_OFFSET,
                               "safetensors output holds F16, BF16, F32 or the int8, int4, "
                               "int8-asym, int4-asym and fp8 schemes; %s needs GGUF output",
                               qcore_ftype_name(o->ftype));
    if (o->group_size != QCORE_GROUP_DEFAULT && o->group_size != QCORE_GROUP_CHANNEL &&
        (o->group_size < 1 || o->group_size > QCORE_CT_MAX_GROUP))
        return qcore_error_set(err, QCORE_EINVAL, QCORE_NO_OFFSET,
                               "group size %" PRId64 " is out of range (1..%d, or per channel)",
                               o->group_size, QCORE_CT_MAX_GROUP);
    for (size_t i = 0; !ct && i < o->n_overrides; i++)
        if (override_ct(o->overrides[i].type) != QCORE_CT_NONE)
            return qcore_error_set(err, QCORE_EINVAL, QCORE_NO_OFFSET,
                                   "override '%s': %s needs a compressed-tensors scheme "
                                   "(safetensors output)", o->overrides[i].pattern,
                                   qcore_ct_scheme_name(override_ct(o->overrides[i].type)));
    return 0;
}

/* dst_bytes of a planned tensor. */
static int dst_bytes_of(struct qcore_plan_tensor *pt, struct qcore_error *err)
{
    if (pt->op != QCORE_OP_QUANTIZE_CT) {
        if (qcore_type_nbytes(pt->dst_type, (uint64_t)pt->numel, &pt->dst_bytes))
            return 0;
        return qcore_error_set(err, QCORE_EMALFORMED, QCORE_NO_OFFSET,
                               "tensor '%s': size overflows", pt->name);
    }
    pt->dst_bytes = 0;
    for (int r = 0; r < QCORE_CT_ROLES; r++)
        pt->dst_bytes += pt->ct->nbytes[r];
    return 0;
}

/* Decide every tensor (in output order) and sum the sizes. */
static int choose_all(struct qcore_plan *p, const struct compiled_override *co,
                      const struct ignore_set *ig, struct qcore_error *err)
{
    const struct qcore_model *m = p->model;
    struct mix_state ms;
    mix_state_init(&ms, m, p->opts.ftype);
    for (size_t i = 0; i < p->n; i++) {
        struct qcore_plan_tensor *pt = &p->t[i];
        const struct qcore_tensor *t = &m->tensors[pt->src];
        pt->src_type = t->type;
        pt->n_dims = t->n_dims;
        memcpy(pt->ne, t->ne, sizeof pt->ne);
        pt->numel = t->numel;
        pt->row_len = t->n_dims ? t->ne[0] : 1;
        pt->n_rows = pt->row_len ? t->numel / pt->row_len : 0;
        pt->src_bytes = t->nbytes;
        int rc = p->opts.ct_scheme != QCORE_CT_NONE ? choose_ct(p, co, ig, t, pt, err)
                                                    : choose(p, &ms, co, t, pt, err);
        if (rc == 0)
            rc = dst_bytes_of(pt, err);
        if (rc != 0)
            return rc;
        p->src_bytes += pt->src_bytes;
        p->dst_bytes += pt->dst_bytes;
        if (pt->op != QCORE_OP_COPY)
            p->n_quantized++;
    }
    return 0;
}

/* The config for __metadata__: given (a folder's), or this plan's own. */
static int set_quant_config(struct qcore_plan *p, struct qcore_error *err)
{
    if (p->opts.ct_scheme == QCORE_CT_NONE)
        return 0;
    if (p->opts.quant_config) {
        json_error_t jerr;
        json_t *j = json_loads(p->opts.quant_config, 0, &jerr);
        bool ok = json_is_object(j);
        json_decref(j);
        /* jansson fails without a message only when an allocation failed */
        if (!j && (!jerr.text[0] || json_error_code(&jerr) == json_error_out_of_memory))
            return qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
        if (!ok)
            return qcore_error_set(err, QCORE_EINVAL, QCORE_NO_OFFSET,
                                   "quant_config is not a JSON object");
        p->quant_config = strdup(p->opts.quant_config);
    } else {
        const struct qcore_plan *self = p;
        p->quant_config = qcore_plan_ct_config(&self, 1);
    }
    return p->quant_config ? 0 : qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
}

int qcore_plan_build(const struct qcore_model *m, const struct qcore_plan_opts *o,
                     struct qcore_plan **out, struct qcore_error *err)
{
    struct compiled_override *co = NULL;
    struct ignore_set ig = {0};
    struct qcore_plan *p = calloc(1, sizeof *p);
    int rc;

    *out = NULL;
    if (!p)
        return qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
    p->model = m;
    p->opts = *o;
    p->out_format = o->out_format;
    rc = check_opts(o, err);
    if (rc == 0)
        rc = compile_overrides(o, &co, err);
    if (rc == 0 && o->ct_scheme != QCORE_CT_NONE)
        rc = compile_ignore(o, &ig, err);
    if (rc != 0)
        goto out;
    p->n = m->n_tensors;
    p->n_out = p->n;
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

    rc = choose_all(p, co, &ig, err);
    if (rc == 0)
        rc = set_quant_config(p, err);
    if (rc == 0)
        rc = o->out_format == QCORE_FORMAT_GGUF ? build_gguf_layout(p, err)
                                                : build_st_layout(p, err);
out:
    free_overrides(co, o->n_overrides);
    free_ignore(&ig);
    p->opts.overrides = NULL;
    p->opts.n_overrides = 0;
    p->opts.ignore = NULL;
    p->opts.n_ignore = 0;
    p->opts.quant_config = NULL;
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
    for (size_t i = 0; p->t && i < p->n; i++) {
        if (!p->t[i].ct)
            continue;
        for (int r = 0; r < QCORE_CT_ROLES; r++)
            free(p->t[i].ct->name[r]);
        free(p->t[i].ct);
    }
    free(p->quant_config);
    free(p->header);
    free(p->t);
    free(p);
}
