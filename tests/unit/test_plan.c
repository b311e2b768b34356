/* tests/unit/test_plan.c — tensor type selection and order, as llama-quantize. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <string.h>

#include "core/formats/model.h"
#include "core/plan.h"
#include "testutil.h"

#define TINY QD_TEST_DATA "/models/tiny-llama-f32.gguf"

static struct qcore_plan *plan_for(const struct qcore_model *m, struct qcore_plan_opts *o)
{
    struct qcore_plan *p = NULL;
    struct qcore_error err = {0};
    int rc = qcore_plan_build(m, o, &p, &err);
    if (rc != 0)
        fprintf(stderr, "plan: %s\n", err.msg);
    assert_int_equal(rc, 0);
    return p;
}

/* The tiny model's plan must list the reference file's tensors, in its
 * order, with its types. */
static void check_against_reference(const char *ref_name, enum qcore_ftype ft)
{
    json_error_t jerr;
    json_t *man = json_load_file(QD_TEST_DATA "/models/manifest.json", 0, &jerr);
    assert_non_null(man);
    json_t *files = json_object_get(man, "files"), *want = NULL;
    size_t i;
    json_t *f;
    json_array_foreach(files, i, f) {
        if (strcmp(json_string_value(json_object_get(f, "name")), ref_name) == 0)
            want = json_object_get(f, "tensors_in_file_order");
    }
    assert_non_null(want);

    struct qcore_model *m = NULL;
    assert_int_equal(qcore_model_open(TINY, &m, NULL), 0);
    struct qcore_plan_opts o;
    qcore_plan_opts_init(&o);
    o.ftype = ft;
    struct qcore_plan *p = plan_for(m, &o);
    assert_int_equal(p->n, json_object_size(want));
    const char *name;
    json_t *type;
    size_t k = 0;
    json_object_foreach(want, name, type) {
        assert_string_equal(p->t[k].name, name);
        assert_string_equal(qcore_type_traits(p->t[k].dst_type)->name, json_string_value(type));
        k++;
    }
    assert_int_equal(p->n_fallbacks, 0);
    qcore_plan_destroy(p);
    qcore_model_close(m);
    json_decref(man);
}

static void tiny_q4_k_m_mix(void **s) { (void)s; check_against_reference("tiny-llama-Q4_K_M.gguf", QCORE_FTYPE_Q4_K_M); }
static void tiny_q4_0_mix(void **s) { (void)s; check_against_reference("tiny-llama-Q4_0.gguf", QCORE_FTYPE_Q4_0); }
static void tiny_q8_0_mix(void **s) { (void)s; check_against_reference("tiny-llama-Q8_0.gguf", QCORE_FTYPE_Q8_0); }

/* A synthetic llama with n layers; rows of length ne0. */
static struct qcore_model *synth_llama(int n_layer, int64_t ne0, bool tied)
{
    static char names[1024][64];
    static int64_t ne[1024][2];
    struct qcore_gguf_out_tensor t[1024];
    size_t n = 0;
    const char *per_layer[] = {"attn_q.weight", "attn_k.weight", "attn_v.weight",
                               "attn_output.weight", "ffn_down.weight", "ffn_up.weight",
                               "ffn_gate.weight", "attn_norm.weight"};
    for (int l = 0; l < n_layer; l++) {
        for (size_t j = 0; j < 8; j++) {
            snprintf(names[n], 64, "blk.%d.%s", l, per_layer[j]);
            ne[n][0] = ne0;
            ne[n][1] = j == 7 ? 1 : 4;
            t[n] = (struct qcore_gguf_out_tensor){names[n], j == 7 ? 1 : 2, ne[n], QCORE_TYPE_F32};
            n++;
        }
    }
    snprintf(names[n], 64, "token_embd.weight");
    ne[n][0] = ne0; ne[n][1] = 8;
    t[n] = (struct qcore_gguf_out_tensor){names[n], 2, ne[n], QCORE_TYPE_F32};
    n++;
    if (!tied) {
        snprintf(names[n], 64, "output.weight");
        ne[n][0] = ne0; ne[n][1] = 8;
        t[n] = (struct qcore_gguf_out_tensor){names[n], 2, ne[n], QCORE_TYPE_F32};
        n++;
    }
    struct qcore_kv kv[4] = {{0}};
    qcore_kv_make_str(&kv[0], "general.architecture", "llama");
    qcore_kv_make_u32(&kv[1], "llama.block_count", (uint32_t)n_layer);
    qcore_kv_make_u32(&kv[2], "llama.attention.head_count", 8);
    qcore_kv_make_u32(&kv[3], "llama.attention.head_count_kv", 2);
    char path[256];
    tu_temp_path(path, sizeof path, ".gguf");
    assert_int_equal(tu_write_gguf(path, kv, 4, t, n, NULL), 0);
    for (int i = 0; i < 4; i++)
        qcore_kv_cleanup(&kv[i]);
    struct qcore_model *m = NULL;
    struct qcore_error err = {0};
    if (qcore_model_open(path, &m, &err) != 0)
        fprintf(stderr, "open: %s\n", err.msg);
    unlink(path);
    assert_non_null(m);
    return m;
}

/* FORMATS.md §5.3's use_more_bits, written out for the tests. */
static bool use_more_bits_ref(int i, int n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

static int type_of(const struct qcore_plan *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->t[i].name, name) == 0)
            return p->t[i].dst_type;
    fail_msg("no tensor %s", name);
    return -1;
}

/* use_more_bits for 32 layers: 0-3, 6, 9, ..., 27, 28-31. */
static void q4_k_m_use_more_bits_32_layers(void **s)
{
    (void)s;
    struct qcore_model *m = synth_llama(32, 256, false);
    struct qcore_plan_opts o;
    qcore_plan_opts_init(&o);
    struct qcore_plan *p = plan_for(m, &o);
    static const int more[] = {0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31};
    for (int l = 0; l < 32; l++) {
        bool want6 = false;
        for (size_t i = 0; i < sizeof more / sizeof more[0]; i++)
            want6 |= more[i] == l;
        char name[64];
        snprintf(name, sizeof name, "blk.%d.attn_v.weight", l);
        assert_int_equal(type_of(p, name), want6 ? QCORE_TYPE_Q6_K : QCORE_TYPE_Q4_K);
        snprintf(name, sizeof name, "blk.%d.ffn_down.weight", l);
        assert_int_equal(type_of(p, name), want6 ? QCORE_TYPE_Q6_K : QCORE_TYPE_Q4_K);
        snprintf(name, sizeof name, "blk.%d.attn_q.weight", l);
        assert_int_equal(type_of(p, name), QCORE_TYPE_Q4_K);
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", l);
        assert_int_equal(type_of(p, name), QCORE_TYPE_F32);
    }
    assert_int_equal(type_of(p, "output.weight"), QCORE_TYPE_Q6_K);
    assert_int_equal(type_of(p, "token_embd.weight"), QCORE_TYPE_Q4_K);
    /* order: non-blk first, then blk.0 ... blk.31 (numerically, not 0,1,10,...) */
    assert_string_equal(p->t[0].name, "output.weight");
    assert_string_equal(p->t[2].name, "blk.0.attn_k.weight");
    assert_string_equal(p->t[p->n - 1].name, "blk.31.ffn_up.weight");
    qcore_plan_destroy(p);
    qcore_model_close(m);
}

static void q3_k_m_and_q2_k_columns(void **s)
{
    (void)s;
    struct qcore_model *m = synth_llama(16, 256, false);
    struct qcore_plan_opts o;
    qcore_plan_opts_init(&o);
    o.ftype = QCORE_FTYPE_Q3_K_M;
    struct qcore_plan *p = plan_for(m, &o);
    assert_int_equal(type_of(p, "blk.0.attn_v.weight"), QCORE_TYPE_Q5_K);
    assert_int_equal(type_of(p, "blk.1.attn_v.weight"), QCORE_TYPE_Q5_K);
    assert_int_equal(type_of(p, "blk.2.attn_v.weight"), QCORE_TYPE_Q4_K);
    assert_int_equal(type_of(p, "blk.0.ffn_down.weight"), QCORE_TYPE_Q5_K); /* i < 16/16 */
    assert_int_equal(type_of(p, "blk.1.ffn_down.weight"), QCORE_TYPE_Q4_K);
    assert_int_equal(type_of(p, "blk.5.attn_output.weight"), QCORE_TYPE_Q4_K);
    assert_int_equal(type_of(p, "blk.5.attn_q.weight"), QCORE_TYPE_Q3_K);
    qcore_plan_destroy(p);
    o.ftype = QCORE_FTYPE_Q2_K; /* n_gqa = 4 -> attn_v Q4_K */
    p = plan_for(m, &o);
    assert_int_equal(type_of(p, "blk.3.attn_v.weight"), QCORE_TYPE_Q4_K);
    assert_int_equal(type_of(p, "blk.3.ffn_down.weight"), QCORE_TYPE_Q3_K);
    assert_int_equal(type_of(p, "blk.3.attn_output.weight"), QCORE_TYPE_Q3_K);
    assert_int_equal(type_of(p, "blk.3.ffn_up.weight"), QCORE_TYPE_Q2_K);
    qcore_plan_destroy(p);
    qcore_model_close(m);
}

static void pure_overrides_and_options(void **s)
{
    (void)s;
    struct qcore_model *m = synth_llama(4, 256, false);
    struct qcore_plan_opts o;
    qcore_plan_opts_init(&o);
    o.pure = true;
    struct qcore_override ov[] = {{"attn_(q|k)\\.weight$", QCORE_TYPE_Q8_0},
                                  {"attn_q", QCORE_TYPE_Q2_K}};
    o.overrides = ov;
    o.n_overrides = 2;
    o.token_embedding_type = QCORE_TYPE_Q8_0;
    o.leave_output_tensor = true;
    struct qcore_plan *p = plan_for(m, &o);
    assert_int_equal(type_of(p, "blk.2.attn_v.weight"), QCORE_TYPE_Q4_K); /* pure: no Q6_K */
    assert_int_equal(type_of(p, "blk.2.attn_q.weight"), QCORE_TYPE_Q8_0); /* first match wins */
    assert_int_equal(type_of(p, "blk.2.attn_k.weight"), QCORE_TYPE_Q8_0);
    assert_int_equal(type_of(p, "token_embd.weight"), QCORE_TYPE_Q8_0);
    assert_int_equal(type_of(p, "output.weight"), QCORE_TYPE_F32);
    qcore_plan_destroy(p);

    struct qcore_override bad[] = {{"(unclosed", QCORE_TYPE_Q8_0}};
    o.overrides = bad;
    o.n_overrides = 1;
    struct qcore_error err = {0};
    assert_int_equal(qcore_plan_build(m, &o, &p, &err), QCORE_EINVAL);
    assert_non_null(strstr(err.msg, "(unclosed"));
    qcore_model_close(m);
}

/* Rows of 96: Q4_K -> Q5_0 (96 % 32 == 0), reported; Q6_K output -> Q8_0 by
 * the output rule; tied embeddings take the output's rule. */
static void shape_fallback_is_reported(void **s)
{
    (void)s;
    struct qcore_model *m = synth_llama(4, 96, true);
    struct qcore_plan_opts o;
    qcore_plan_opts_init(&o);
    struct qcore_plan *p = plan_for(m, &o);
    assert_int_equal(type_of(p, "blk.0.attn_q.weight"), QCORE_TYPE_Q5_0);
    assert_int_equal(type_of(p, "blk.3.attn_v.weight"), QCORE_TYPE_Q8_0); /* Q6_K -> Q8_0 */
    assert_int_equal(type_of(p, "token_embd.weight"), QCORE_TYPE_Q8_0);   /* tied output */
    assert_true(p->n_fallbacks > 0);
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->t[i].name, "blk.0.attn_q.weight") == 0) {
            assert_true(p->t[i].fallback);
            assert_non_null(strstr(p->t[i].note, "fallback"));
        }
    qcore_plan_destroy(p);
    qcore_model_close(m);

    m = synth_llama(2, 40, false); /* 40 fits no block: F16 */
    qcore_plan_opts_init(&o);
    o.ftype = QCORE_FTYPE_Q4_0;
    p = plan_for(m, &o);
    assert_int_equal(type_of(p, "blk.0.attn_q.weight"), QCORE_TYPE_F16);
    qcore_plan_destroy(p);
    qcore_model_close(m);
}

static void gguf_output_layout_is_dense_and_aligned(void **s)
{
    (void)s;
    struct qcore_model *m = NULL;
    assert_int_equal(qcore_model_open(TINY, &m, NULL), 0);
    struct qcore_plan_opts o;
    qcore_plan_opts_init(&o);
    struct qcore_plan *p = plan_for(m, &o);
    uint64_t off = p->header_len;
    assert_int_equal(p->header_len % 32, 0);
    for (size_t i = 0; i < p->n; i++) {
        assert_int_equal(p->t[i].dst_offset, off);
        off += (p->t[i].dst_bytes + 31) / 32 * 32;
    }
    assert_int_equal(p->out_size, off);
    qcore_plan_destroy(p);
    qcore_model_close(m);
}

/* MoE: two ffn_down tensors per layer (experts and shared expert); the
 * layer index comes from the name, not from a running count. */
static void moe_ffn_down_uses_layer_from_name(void **s)
{
    (void)s;
    static char names[64][64];
    static int64_t ne[64][3];
    struct qcore_gguf_out_tensor t[64];
    size_t n = 0;
    for (int l = 0; l < 16; l++) {
        snprintf(names[n], 64, "blk.%d.ffn_down_exps.weight", l);
        ne[n][0] = 256; ne[n][1] = 4; ne[n][2] = 4;
        t[n] = (struct qcore_gguf_out_tensor){names[n], 3, ne[n], QCORE_TYPE_F32};
        n++;
        snprintf(names[n], 64, "blk.%d.ffn_down_shexp.weight", l);
        ne[n][0] = 256; ne[n][1] = 4;
        t[n] = (struct qcore_gguf_out_tensor){names[n], 2, ne[n], QCORE_TYPE_F32};
        n++;
    }
    struct qcore_kv kv[3] = {{0}};
    qcore_kv_make_str(&kv[0], "general.architecture", "qwen2moe");
    qcore_kv_make_u32(&kv[1], "qwen2moe.block_count", 16);
    qcore_kv_make_u32(&kv[2], "qwen2moe.expert_count", 4);
    char path[256];
    tu_temp_path(path, sizeof path, ".gguf");
    assert_int_equal(tu_write_gguf(path, kv, 3, t, n, NULL), 0);
    for (int i = 0; i < 3; i++)
        qcore_kv_cleanup(&kv[i]);
    struct qcore_model *m = NULL;
    assert_int_equal(qcore_model_open(path, &m, NULL), 0);
    unlink(path);
    struct qcore_plan_opts o;
    qcore_plan_opts_init(&o);
    struct qcore_plan *p = plan_for(m, &o);
    for (int l = 0; l < 16; l++) {
        int want = use_more_bits_ref(l, 16) ? QCORE_TYPE_Q6_K : QCORE_TYPE_Q4_K;
        char name[64];
        snprintf(name, sizeof name, "blk.%d.ffn_down_exps.weight", l);
        assert_int_equal(type_of(p, name), want);
        snprintf(name, sizeof name, "blk.%d.ffn_down_shexp.weight", l);
        assert_int_equal(type_of(p, name), want);
    }
    qcore_plan_destroy(p);
    qcore_model_close(m);
}

/* Patterns that would make glibc's regcomp explode are refused up front. */
static void costly_patterns_are_refused(void **s)
{
    (void)s;
    struct qcore_error err = {0};
    assert_int_equal(qcore_pattern_check("blk\\.[0-9]+\\.attn_(q|k)\\.weight$", &err), 0);
    assert_int_equal(qcore_pattern_check("[*+?{]x*", &err), 0); /* bracket members are literals */
    assert_int_equal(qcore_pattern_check(".*++++++++++++", &err), QCORE_EINVAL);
    assert_non_null(strstr(err.msg, "stacked"));
    assert_int_equal(qcore_pattern_check("((a+)+)", &err), QCORE_EINVAL);
    assert_int_equal(qcore_pattern_check("(a{16}){16}", &err), QCORE_EINVAL);
    assert_int_equal(qcore_pattern_check("(a)\\1", &err), QCORE_EINVAL);
    assert_int_equal(qcore_pattern_check("(ab)+c?d*(e|f)", &err), 0);
    assert_int_equal(qcore_pattern_check("a?b?c?d?e?f?g?h?i?", &err), QCORE_EINVAL);
    assert_non_null(strstr(err.msg, "more than 8"));
    assert_int_equal(qcore_pattern_check("a{1000}", &err), QCORE_EINVAL);
    assert_int_equal(qcore_pattern_check("a{2,9999}", &err), QCORE_EINVAL);
    assert_int_equal(qcore_pattern_check("a{2,16}", &err), 0);
    char longp[400];
    memset(longp, 'a', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    assert_int_equal(qcore_pattern_check(longp, &err), QCORE_EINVAL);
    /* and the plan applies it */
    struct qcore_model *m = NULL;
    assert_int_equal(qcore_model_open(TINY, &m, NULL), 0);
    struct qcore_plan_opts o;
    qcore_plan_opts_init(&o);
    struct qcore_override ov[] = {{".*+++++++++++", QCORE_TYPE_Q8_0}};
    o.overrides = ov;
    o.n_overrides = 1;
    struct qcore_plan *p = NULL;
    assert_int_equal(qcore_plan_build(m, &o, &p, &err), QCORE_EINVAL);
    assert_null(p);
    qcore_model_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tiny_q4_k_m_mix),
        cmocka_unit_test(tiny_q4_0_mix),
        cmocka_unit_test(tiny_q8_0_mix),
        cmocka_unit_test(q4_k_m_use_more_bits_32_layers),
        cmocka_unit_test(q3_k_m_and_q2_k_columns),
        cmocka_unit_test(pure_overrides_and_options),
        cmocka_unit_test(shape_fallback_is_reported),
        cmocka_unit_test(gguf_output_layout_is_dense_and_aligned),
        cmocka_unit_test(costly_patterns_are_refused),
        cmocka_unit_test(moe_ffn_down_uses_layer_from_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
