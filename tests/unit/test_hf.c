/* tests/unit/test_hf.c — Hugging Face folders: a 3-shard model with an index,
 * a config and tokenizer files round-trips with the same shard layout; a bad
 * index is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/formats/safetensors.h"
#include "core/hf.h"
#include "core/job.h"
#include "core/kernels/kernels.h"
#include "core/plan.h"
#include "core/report.h"
#include "ct_reader.h"
#include "testutil.h"

static const struct tu_shard shards[3] = {
    {"model-00001-of-00003.safetensors",
     {"model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
      "model.layers.0.input_layernorm.weight", NULL},
     {{128, 32}, {256, 64}, {128, 1}}},
    {"model-00002-of-00003.safetensors",
     {"model.layers.0.mlp.up_proj.weight", "model.layers.0.mlp.down_proj.weight",
      "model.layers.1.self_attn.q_proj.weight", NULL},
     {{128, 96}, {96, 128}, {256, 64}}},
    {"model-00003-of-00003.safetensors",
     {"model.layers.1.mlp.up_proj.weight", "model.norm.weight", "lm_head.weight", NULL},
     {{256, 40}, {128, 1}, {128, 32}}},
};

static char dir[256], out[256];

static void path_in(char *buf, size_t len, const char *d, const char *name)
{
    snprintf(buf, len, "%s/%s", d, name);
}

static void write_shard(const struct tu_shard *s, uint32_t seed)
{
    char p[512];
    path_in(p, sizeof p, dir, s->file);
    assert_int_equal(tu_write_bf16_shard(p, s, seed), 0);
}

static void write_text(const char *d, const char *name, const char *text)
{
    char p[512];
    path_in(p, sizeof p, d, name);
    assert_int_equal(tu_write_file(p, text, strlen(text)), 0);
}

/* The folder: 3 shards, the index, config.json, two tokenizer files. */
static void make_folder(void)
{
    tu_temp_path(dir, sizeof dir, "-in");
    tu_temp_path(out, sizeof out, "-out");
    assert_int_equal(mkdir(dir, 0755), 0);
    json_t *wm = json_object();
    for (int s = 0; s < 3; s++) {
        write_shard(&shards[s], 100u + (uint32_t)s);
        for (int i = 0; i < 4 && shards[s].names[i]; i++)
            json_object_set_new(wm, shards[s].names[i], json_string(shards[s].file));
    }
    json_t *idx = json_pack("{s:{s:I}, s:o}", "metadata", "total_size", (json_int_t)1, "weight_map", wm);
    char p[512];
    path_in(p, sizeof p, dir, "model.safetensors.index.json");
    assert_int_equal(json_dump_file(idx, p, JSON_INDENT(2)), 0);
    json_decref(idx);
    write_text(dir, "config.json", "{\"model_type\": \"llama\", \"hidden_size\": 128, \"torch_dtype\": \"bfloat16\"}");
    write_text(dir, "tokenizer.json", "{\"version\": \"1.0\", \"model\": {\"type\": \"BPE\"}}");
    write_text(dir, "tokenizer_config.json", "{\"bos_token\": \"<s>\"}");
    write_text(dir, "pytorch_model.bin", "not copied");
}

static void remove_folder(const char *d)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    assert_int_equal(system(cmd), 0);
}

/* Quantize the folder as the CLI and the daemon do: plans, one job per
 * shard into out/<same name>, then the index, config and copies. */
static void quantize_folder(enum qcore_ct_scheme scheme, json_t **report)
{
    struct qcore_hf_folder *f = NULL;
    struct qcore_plan **plans = NULL;
    struct qcore_error err = {0};
    int rc = qcore_hf_open(dir, &f, &err);
    if (rc)
        fprintf(stderr, "open: %s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(f->n_shards, 3);
    assert_int_equal(f->n_aux, 2); /* the tokenizer files; not the .bin */
    struct qcore_plan_opts o;
    qcore_plan_opts_init(&o);
    o.out_format = QCORE_FORMAT_SAFETENSORS;
    o.ct_scheme = scheme;
    assert_int_equal(qcore_hf_plan(f, &o, &plans, &err), 0);
    assert_int_equal(mkdir(out, 0755), 0);
    struct qcore_job *jobs[3] = {NULL};
    for (size_t s = 0; s < 3; s++) {
        char p[512];
        path_in(p, sizeof p, out, f->shard[s]);
        int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
        struct qcore_job_opts jo = {.chunk_bytes = 8192, .metrics = true};
        assert_int_equal(qcore_job_create(plans[s], fd, &jo, &jobs[s], &err), 0);
        assert_int_equal(qcore_exec_run(jobs[s], 2, NULL, NULL, &err), 0);
        close(fd);
    }
    assert_int_equal(qcore_hf_write_meta(f, plans, out, &err), 0);
    *report = qcore_report_files_json((const struct qcore_job *const *)jobs,
                                      (const char *const *)f->shard, 3, NULL, NULL);
    for (size_t s = 0; s < 3; s++)
        qcore_job_destroy(jobs[s]);
    qcore_hf_plans_destroy(plans, 3);
    qcore_hf_close(f);
}

static bool files_equal(const char *a_dir, const char *b_dir, const char *name)
{
    char a[512], b[512];
    size_t la = 0, lb = 0;
    path_in(a, sizeof a, a_dir, name);
    path_in(b, sizeof b, b_dir, name);
    uint8_t *x = tu_read_file(a, &la), *y = tu_read_file(b, &lb);
    bool eq = x && y && la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return eq;
}

static void sharded_folder_round_trip(void **st)
{
    (void)st;
    make_folder();
    json_t *rep = NULL;
    quantize_folder(QCORE_CT_INT4, &rep);

    char p[512];
    json_error_t jerr;
    path_in(p, sizeof p, out, "model.safetensors.index.json");
    json_t *idx = json_load_file(p, 0, &jerr);
    assert_non_null(idx);
    json_t *wm = json_object_get(idx, "weight_map");
    path_in(p, sizeof p, out, "config.json");
    json_t *cfg = json_load_file(p, 0, &jerr);
    assert_non_null(cfg);
    assert_string_equal(json_string_value(json_object_get(cfg, "model_type")), "llama");
    json_t *qc = json_object_get(cfg, "quantization_config");
    assert_string_equal(json_string_value(json_object_get(qc, "quant_method")), "compressed-tensors");

    /* same shard names; each shard's tensors are exactly its index entries;
     * every shard carries the same config as config.json */
    uint64_t total = 0;
    size_t mapped = 0;
    for (int s = 0; s < 3; s++) {
        struct ctr_file fo;
        path_in(p, sizeof p, out, shards[s].file);
        assert_int_equal(ctr_load(p, &fo), 0);
        for (size_t i = 0; i < fo.n; i++) {
            assert_string_equal(json_string_value(json_object_get(wm, fo.t[i].name)), shards[s].file);
            total += fo.t[i].nbytes;
            mapped++;
        }
        json_t *sq = json_loads(json_string_value(json_object_get(fo.meta, "quantization_config")), 0, NULL);
        assert_true(json_equal(sq, qc));
        json_decref(sq);
        /* source tensors: kept (1-D, embeddings, lm_head) or replaced */
        for (int i = 0; i < 4 && shards[s].names[i]; i++) {
            char nm[300];
            snprintf(nm, sizeof nm, "%s_packed", shards[s].names[i]);
            bool q = ctr_find(&fo, nm) != NULL;
            bool kept = ctr_find(&fo, shards[s].names[i]) != NULL;
            assert_true(q != kept);
            bool expect_q = shards[s].ne[i][1] > 1 && !strstr(shards[s].names[i], "embed") &&
                            !strstr(shards[s].names[i], "lm_head");
            assert_int_equal(q, expect_q);
            if (q) {
                snprintf(nm, sizeof nm, "%s_scale", shards[s].names[i]);
                assert_string_equal(ctr_find(&fo, nm)->dtype, "BF16");
            }
        }
        ctr_free(&fo);
    }
    assert_int_equal(mapped, json_object_size(wm));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(idx, "metadata"), "total_size")), total);
    /* in = 96 (down_proj) falls back to g32: a second config group */
    assert_int_equal(json_object_size(json_object_get(qc, "config_groups")), 2);
    json_t *ig = json_object_get(qc, "ignore");
    assert_int_equal(json_array_size(ig), 2);
    assert_true(files_equal(dir, out, "tokenizer.json"));
    assert_true(files_equal(dir, out, "tokenizer_config.json"));
    path_in(p, sizeof p, out, "pytorch_model.bin");
    assert_int_equal(access(p, F_OK), -1);

    json_t *to = json_object_get(rep, "totals");
    assert_int_equal(json_integer_value(json_object_get(to, "tensors")), 9);
    assert_int_equal(json_integer_value(json_object_get(to, "tensors_quantized")), 5);
    assert_int_equal(json_array_size(json_object_get(rep, "files")), 3);
    assert_true(json_real_value(json_object_get(to, "sqnr_db")) > 15.0);

    /* the output folder opens as a model folder again */
    struct qcore_hf_folder *f2 = NULL;
    assert_int_equal(qcore_hf_open(out, &f2, NULL), 0);
    assert_int_equal(f2->n_shards, 3);
    qcore_hf_close(f2);

    json_decref(rep);
    json_decref(idx);
    json_decref(cfg);
    remove_folder(dir);
    remove_folder(out);
}

/* Bad indexes: a tensor mapped to a missing file, a path outside the
 * folder, an index that omits a tensor; no model at all. */
static void bad_folders_are_refused(void **st)
{
    (void)st;
    make_folder();
    char p[512];
    path_in(p, sizeof p, dir, "model.safetensors.index.json");
    json_t *idx = json_load_file(p, 0, NULL);
    json_t *wm = json_object_get(idx, "weight_map");
    struct qcore_hf_folder *f = NULL;
    struct qcore_error err = {0};

    json_object_set_new(wm, "lm_head.weight", json_string("../evil.safetensors"));
    json_dump_file(idx, p, 0);
    assert_int_equal(qcore_hf_open(dir, &f, &err), QCORE_EMALFORMED);
    assert_null(f);

    json_object_set_new(wm, "lm_head.weight", json_string("model-00004-of-00003.safetensors"));
    json_dump_file(idx, p, 0);
    assert_int_equal(qcore_hf_open(dir, &f, &err), QCORE_EIO);

    json_object_set_new(wm, "lm_head.weight", json_string(shards[2].file));
    json_object_del(wm, "model.norm.weight");
    json_dump_file(idx, p, 0);
    assert_int_equal(qcore_hf_open(dir, &f, &err), QCORE_EMALFORMED);
    assert_non_null(strstr(err.msg, "model.norm.weight"));

    unlink(p);
    assert_int_equal(qcore_hf_open(dir, &f, &err), QCORE_EFORMAT); /* 3 files, no index */
    json_decref(idx);
    remove_folder(dir);
}

/* A folder with one model.safetensors and no index: one shard, no index
 * written; f16 (no quantization_config) copies config.json unchanged. */
static void single_file_folder(void **st)
{
    (void)st;
    make_folder();
    char a[512], b[512];
    path_in(a, sizeof a, dir, shards[1].file);
    path_in(b, sizeof b, dir, "model.safetensors");
    assert_int_equal(rename(a, b), 0);
    path_in(a, sizeof a, dir, shards[0].file);
    unlink(a);
    path_in(a, sizeof a, dir, shards[2].file);
    unlink(a);
    path_in(a, sizeof a, dir, "model.safetensors.index.json");
    unlink(a);

    struct qcore_hf_folder *f = NULL;
    struct qcore_plan **plans = NULL;
    assert_int_equal(qcore_hf_open(dir, &f, NULL), 0);
    assert_int_equal(f->n_shards, 1);
    assert_null(f->index_name);
    struct qcore_plan_opts o;
    qcore_plan_opts_init(&o);
    o.out_format = QCORE_FORMAT_SAFETENSORS;
    o.ftype = QCORE_FTYPE_F16;
    assert_int_equal(qcore_hf_plan(f, &o, &plans, NULL), 0);
    assert_null(plans[0]->quant_config);
    assert_int_equal(mkdir(out, 0755), 0);
    assert_int_equal(qcore_hf_write_meta(f, plans, out, NULL), 0);
    assert_true(files_equal(dir, out, "config.json"));
    path_in(a, sizeof a, out, "model.safetensors.index.json");
    assert_int_equal(access(a, F_OK), -1);
    qcore_hf_plans_destroy(plans, 1);
    qcore_hf_close(f);
    remove_folder(dir);
    remove_folder(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sharded_folder_round_trip),
        cmocka_unit_test(bad_folders_are_refused),
        cmocka_unit_test(single_file_folder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
