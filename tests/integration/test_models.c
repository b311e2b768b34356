/* tests/integration/test_models.c — the real daemon with the INT8/INT4/FP8
 * schemes (upload-and-submit and JSON specs, byte-identical to `quantd
 * quantize`), sharded Hugging Face folders uploaded file by file, file-name
 * checks, disk full (507, on a small tmpfs when root) and retention. */
#define _GNU_SOURCE 1
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define NETS QD_TEST_DATA "/nets"
#define MODEL QD_TEST_DATA "/models/tiny-llama-f32.gguf"

static struct daemon D;

static int setup_shared(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_ALL);
    const char *extra[] = {"--threads", "2", "--chunk-bytes", "64K", NULL};
    return daemon_start(&D, NULL, extra);
}

static int teardown_shared(void **state)
{
    (void)state;
    return daemon_teardown(&D);
}

static void file_sha(const char *path, char hex[65])
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    sha256_hex(buf, (size_t)n, hex);
    free(buf);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* GET a job's first artifact; its SHA-256 into hex. */
static void artifact_sha(struct daemon *d, json_t *job, size_t i, char hex[65])
{
    json_t *art = json_array_get(json_object_get(job, "artifacts"), i);
    assert_non_null(art);
    char url[512];
    snprintf(url, sizeof url, "%s%s", d->base, json_string_value(json_object_get(art, "url")));
    struct resp r;
    http(&r, "GET", url, NULL, NULL, 0, NULL);
    assert_int_equal(r.status, 200);
    sha256_hex(r.body, r.len, hex);
    assert_string_equal(hex, json_string_value(json_object_get(art, "sha256")));
    resp_free(&r);
}

/* POST and wait for the end; returns the finished job (caller decrefs). */
static json_t *post_wait(struct daemon *d, const char *query, const char *body_path,
                         const char *json_spec)
{
    char url[512];
    snprintf(url, sizeof url, "%s/v1/jobs?%s%swait=120", d->base, query ? query : "",
             query ? "&" : "");
    struct resp r;
    const char *js[] = {"Content-Type: application/json", NULL};
    if (json_spec)
        http(&r, "POST", url, NULL, json_spec, strlen(json_spec), js);
    else
        http(&r, "POST", url, body_path, NULL, 0, NULL);
    if (r.status != 200)
        fprintf(stderr, "POST %s -> %ld %.*s\n", url, r.status, (int)r.len, r.body);
    assert_int_equal(r.status, 200);
    json_t *o = body_json(&r);
    resp_free(&r);
    return o;
}

static void make_tmpdir(char *buf, size_t len, const char *tag)
{
    snprintf(buf, len, "/tmp/quantd-it-%s-XXXXXX", tag);
    assert_non_null(mkdtemp(buf));
}

/* ---- INT schemes: the API and the CLI write the same bytes ------------- */

struct ct_case {
    const char *query;            /* upload-and-submit query, or NULL */
    const char *spec;             /* JSON spec on model "nets-<net>", or NULL */
    const char *cli[12];          /* the equivalent CLI flags */
};

static const struct ct_case ct_cases[] = {
    {"scheme=int4&group_size=128", NULL, {"--type", "int4", "--group-size", "128"}},
    {"scheme=int4&group_size=32", NULL, {"--type", "int4", "--group-size", "32"}},
    {"scheme=int8", NULL, {"--type", "int8"}},
    {"scheme=W4A16&group_size=channel", NULL, {"--type", "w4a16", "--group-size", "channel"}},
    {"scheme=int4-asym", NULL, {"--type", "int4-asym"}},
    {"scheme=int8-asym&format=safetensors", NULL, {"--type", "int8-asym"}},
    {"scheme=fp8", NULL, {"--type", "fp8"}},
    {NULL, "{\"scheme\": \"int4\", \"group_size\": 64}", {"--type", "int4", "--group-size", "64"}},
    {NULL,
     "{\"scheme\": \"int4\", \"group_size\": 64, \"ignore\": [\"^head\\\\.\", \"lstm\\\\.weight_hh\"], "
     "\"overrides\": [{\"match\": \"conv1|fc\", \"type\": \"int8\"}, {\"match\": \"conv2\", \"type\": "
     "\"F16\"}], \"output\": {\"format\": \"safetensors\"}}",
     {"--type", "int4", "--group-size", "64", "--ignore", "^head\\.", "--ignore",
      "lstm\\.weight_hh", "--tensor-type", "conv1|fc=int8", "--tensor-type", "conv2=F16"}},
    {NULL, "{\"scheme\": \"int8-asym\", \"ignore\": []}", {"--type", "int8-asym", "--ignore", "^$"}},
};

static void test_int_schemes_match_cli(void **state)
{
    (void)state;
    const char *nets[] = {"cnn", "lstm"};
    char tmp[128];
    make_tmpdir(tmp, sizeof tmp, "cli");
    for (size_t n = 0; n < 2; n++) {
        char in[256], url[256];
        snprintf(in, sizeof in, "%s/%s.safetensors", NETS, nets[n]);
        snprintf(url, sizeof url, "%s/v1/models/nets-%s", D.base, nets[n]);
        struct resp r;
        http(&r, "PUT", url, in, NULL, 0, NULL);
        assert_int_equal(r.status, 201);
        resp_free(&r);
        for (size_t c = 0; c < sizeof ct_cases / sizeof ct_cases[0]; c++) {
            const struct ct_case *k = &ct_cases[c];
            json_t *job;
            if (k->query) {
                job = post_wait(&D, k->query, in, NULL);
            } else {
                json_t *spec = json_loads(k->spec, 0, NULL);
                assert_non_null(spec);
                char model[64];
                snprintf(model, sizeof model, "nets-%s", nets[n]);
                json_object_set_new(spec, "model", json_string(model));
                char *text = json_dumps(spec, JSON_COMPACT);
                job = post_wait(&D, NULL, NULL, text);
                free(text);
                json_decref(spec);
            }
            assert_string_equal(json_string_value(json_object_get(job, "state")), "succeeded");
            assert_int_equal(json_array_size(json_object_get(job, "artifacts")), 1);
            const char *aname = json_string_value(
                json_object_get(json_array_get(json_object_get(job, "artifacts"), 0), "name"));
            assert_non_null(strstr(aname, ".safetensors"));
            char got[65], want[65], out[300];
            artifact_sha(&D, job, 0, got);
            json_decref(job);

            snprintf(out, sizeof out, "%s/%s-%zu.safetensors", tmp, nets[n], c);
            const char *args[20];
            size_t a = 0;
            args[a++] = "quantize";
            args[a++] = "-q";
            for (size_t i = 0; k->cli[i]; i++)
                args[a++] = k->cli[i];
            args[a++] = in;
            args[a++] = out;
            args[a] = NULL;
            assert_int_equal(run_quantd(args), 0);
            file_sha(out, want);
            if (strcmp(got, want) != 0)
                fprintf(stderr, "case %zu on %s: API and CLI differ\n", c, nets[n]);
            assert_string_equal(got, want);
        }
    }
    rm_tree(tmp);
}

static void test_int_scheme_errors(void **state)
{
    (void)state;
    char url[256];
    struct resp r;
    snprintf(url, sizeof url, "%s/v1/jobs?scheme=int4&format=gguf", D.base);
    http(&r, "POST", url, NETS "/cnn.safetensors", NULL, 0, NULL);
    assert_problem(&r, 400, "invalid-spec");
    resp_free(&r);
    snprintf(url, sizeof url, "%s/v1/jobs?scheme=int4&group_size=0", D.base);
    http(&r, "POST", url, NETS "/cnn.safetensors", NULL, 0, NULL);
    assert_problem(&r, 400, "invalid-spec");
    resp_free(&r);
    snprintf(url, sizeof url, "%s/v1/jobs?scheme=Q4_0&group_size=32", D.base);
    http(&r, "POST", url, MODEL, NULL, 0, NULL);
    assert_problem(&r, 400, "invalid-spec");
    resp_free(&r);
    const char *js[] = {"Content-Type: application/json", NULL};
    snprintf(url, sizeof url, "%s/v1/jobs", D.base);
    const char *bad[][2] = {
        {"{\"model\": \"m\", \"scheme\": \"int5\"}", "unknown-scheme"},
        {"{\"model\": \"m\", \"scheme\": \"int4\", \"group_size\": \"big\"}", "invalid-spec"},
        {"{\"model\": \"m\", \"scheme\": \"int4\", \"group_size\": true}", "invalid-spec"},
        {"{\"model\": \"m\", \"scheme\": \"Q8_0\", \"overrides\": [{\"match\": \"x\", \"type\": "
         "\"int8\"}]}",
         "invalid-spec"},
    };
    for (size_t i = 0; i < 4; i++) {
        http(&r, "POST", url, NULL, bad[i][0], strlen(bad[i][0]), js);
        assert_problem(&r, 400, bad[i][1]);
        resp_free(&r);
    }
    /* the capabilities list the schemes */
    snprintf(url, sizeof url, "%s/v1/capabilities", D.base);
    http(&r, "GET", url, NULL, NULL, 0, NULL);
    json_t *o = body_json(&r);
    const char *want[] = {"int8", "int4", "int8-asym", "int4-asym", "fp8"};
    json_t *schemes = json_object_get(o, "schemes");
    for (size_t i = 0; i < 5; i++) {
        bool found = false;
        for (size_t k = 0; k < json_array_size(schemes); k++)
            found = found || strcmp(json_string_value(json_array_get(schemes, k)), want[i]) == 0;
        assert_true(found);
    }
    json_t *ct = json_object_get(o, "compressed_tensors");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(ct, "default_group_size"),
                                                        "int4")),
                     128);
    json_decref(o);
    resp_free(&r);
}

/* ---- Hugging Face folders ---------------------------------------------- */

struct shard_def {
    const char *file;
    const char *names[4];
    int64_t ne[4][2]; /* [out, in]; in == 0: 1-D [out] */
};

/* The folder of tests/unit/test_hf.c: 3 BF16 shards of a small llama. */
static const struct shard_def shards[3] = {
    {"model-00001-of-00003.safetensors",
     {"model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
      "model.layers.0.input_layernorm.weight", NULL},
     {{32, 128}, {64, 256}, {128, 0}}},
    {"model-00002-of-00003.safetensors",
     {"model.layers.0.mlp.up_proj.weight", "model.layers.0.mlp.down_proj.weight",
      "model.layers.1.self_attn.q_proj.weight", NULL},
     {{96, 128}, {128, 96}, {64, 256}}},
    {"model-00003-of-00003.safetensors",
     {"model.layers.1.mlp.up_proj.weight", "model.norm.weight", "lm_head.weight", NULL},
     {{40, 256}, {128, 0}, {32, 128}}},
};

static const char *const aux_files[][2] = {
    {"config.json", "{\"model_type\": \"llama\", \"hidden_size\": 128, \"torch_dtype\": \"bfloat16\"}"},
    {"tokenizer.json", "{\"version\": \"1.0\", \"model\": {\"type\": \"BPE\"}}"},
    {"tokenizer_config.json", "{\"bos_token\": \"<s>\"}"},
    {"special_tokens_map.json", "{\"eos_token\": \"</s>\"}"},
    {"generation_config.json", "{\"do_sample\": false}"},
};

/* A safetensors file of BF16 tensors written from the format description. */
static void write_shard(const char *dir, const struct shard_def *s, uint32_t seed)
{
    char header[2048];
    size_t off = 0, hl = 0;
    hl += (size_t)snprintf(header + hl, sizeof header - hl, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (size_t i = 0; i < 4 && s->names[i]; i++) {
        size_t n = (size_t)s->ne[i][0] * (size_t)(s->ne[i][1] ? s->ne[i][1] : 1);
        char shape[64];
        if (s->ne[i][1])
            snprintf(shape, sizeof shape, "[%lld,%lld]", (long long)s->ne[i][0],
                     (long long)s->ne[i][1]);
        else
            snprintf(shape, sizeof shape, "[%lld]", (long long)s->ne[i][0]);
        hl += (size_t)snprintf(header + hl, sizeof header - hl,
                               ",\"%s\":{\"dtype\":\"BF16\",\"shape\":%s,\"data_offsets\":[%zu,%zu]}",
                               s->names[i], shape, off, off + 2 * n);
        off += 2 * n;
    }
    hl += (size_t)snprintf(header + hl, sizeof header - hl, "}");
    while (hl % 8)
        header[hl++] = ' ';
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, s->file);
    size_t total = 8 + hl + off;
    unsigned char *buf = malloc(total);
    for (int b = 0; b < 8; b++)
        buf[b] = (unsigned char)((uint64_t)hl >> (8 * b));
    memcpy(buf + 8, header, hl);
    for (size_t k = 0; k < off / 2; k++) {
        seed = seed * 1664525u + 1013904223u;
        float v = ((float)(seed >> 8) / 16777216.0f - 0.5f) * 0.1f;
        uint32_t bits;
        memcpy(&bits, &v, 4);
        uint16_t h = (uint16_t)(bits >> 16);
        buf[8 + hl + 2 * k] = (unsigned char)h;
        buf[8 + hl + 2 * k + 1] = (unsigned char)(h >> 8);
    }
    write_file(path, buf, total);
    free(buf);
}

static void make_folder(const char *dir)
{
    json_t *wm = json_object();
    for (int s = 0; s < 3; s++) {
        write_shard(dir, &shards[s], 100u + (uint32_t)s);
        for (int i = 0; i < 4 && shards[s].names[i]; i++)
            json_object_set_new(wm, shards[s].names[i], json_string(shards[s].file));
    }
    json_t *idx = json_pack("{s:{s:I}, s:o}", "metadata", "total_size", (json_int_t)1,
                            "weight_map", wm);
    char p[512];
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    assert_int_equal(json_dump_file(idx, p, JSON_INDENT(2)), 0);
    json_decref(idx);
    for (size_t i = 0; i < sizeof aux_files / sizeof aux_files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, aux_files[i][0]);
        write_file(p, aux_files[i][1], strlen(aux_files[i][1]));
    }
}

/* PUT every file of `dir` as /v1/models/NAME/FILE. */
static size_t upload_folder(struct daemon *d, const char *dir, const char *name)
{
    DIR *dd = opendir(dir);
    assert_non_null(dd);
    size_t n = 0;
    for (struct dirent *e; (e = readdir(dd)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char path[512], url[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        snprintf(url, sizeof url, "%s/v1/models/%s/%s", d->base, name, e->d_name);
        struct resp r;
        http(&r, "PUT", url, path, NULL, 0, NULL);
        assert_int_equal(r.status, 201);
        resp_free(&r);
        n++;
    }
    closedir(dd);
    return n;
}

/* The job's artifacts are exactly the files of the CLI's output folder,
 * byte for byte. */
static void compare_folder(struct daemon *d, json_t *job, const char *cli_out)
{
    json_t *arts = json_object_get(job, "artifacts");
    size_t n_cli = 0;
    DIR *dd = opendir(cli_out);
    assert_non_null(dd);
    for (struct dirent *e; (e = readdir(dd)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        n_cli++;
        bool found = false;
        for (size_t i = 0; i < json_array_size(arts); i++) {
            json_t *a = json_array_get(arts, i);
            if (strcmp(json_string_value(json_object_get(a, "name")), e->d_name) != 0)
                continue;
            found = true;
            char got[65], want[65], path[512];
            artifact_sha(d, job, i, got);
            snprintf(path, sizeof path, "%s/%s", cli_out, e->d_name);
            file_sha(path, want);
            if (strcmp(got, want) != 0)
                fprintf(stderr, "%s: API and CLI differ\n", e->d_name);
            assert_string_equal(got, want);
        }
        if (!found)
            fprintf(stderr, "%s: not an artifact of the job\n", e->d_name);
        assert_true(found);
    }
    closedir(dd);
    assert_int_equal(json_array_size(arts), n_cli);
}

static void test_folder_round_trip(void **state)
{
    (void)state;
    char in[128], out[128], url[512];
    make_tmpdir(in, sizeof in, "hf-in");
    make_tmpdir(out, sizeof out, "hf-out");
    make_folder(in);
    assert_int_equal(upload_folder(&D, in, "llama-hf"), 9);

    struct resp r;
    snprintf(url, sizeof url, "%s/v1/models/llama-hf", D.base);
    http(&r, "GET", url, NULL, NULL, 0, NULL);
    assert_int_equal(r.status, 200);
    json_t *m = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(m, "kind")), "folder");
    assert_int_equal(json_array_size(json_object_get(m, "files")), 9);
    json_decref(m);
    resp_free(&r);

    /* int4, the defaults: the CLI's folder, file for file */
    json_t *job = post_wait(&D, NULL, NULL, "{\"model\": \"llama-hf\", \"scheme\": \"int4\"}");
    assert_string_equal(json_string_value(json_object_get(job, "state")), "succeeded");
    json_t *prog = json_object_get(job, "progress");
    assert_int_equal(json_integer_value(json_object_get(prog, "tensors_total")), 9);
    assert_int_equal(json_integer_value(json_object_get(prog, "tensors_done")), 9);
    assert_int_equal(json_integer_value(json_object_get(prog, "bytes_done")),
                     json_integer_value(json_object_get(prog, "bytes_total")));
    /* 3 shards + index + config + 4 tokenizer/generation files */
    assert_int_equal(json_array_size(json_object_get(job, "artifacts")), 9);
    const char *args[] = {"quantize", "-q", "--type", "int4", in, out, NULL};
    assert_int_equal(run_quantd(args), 0);
    compare_folder(&D, job, out);

    /* config.json got the quantization_config */
    snprintf(url, sizeof url, "%s/v1/jobs/%s/artifacts/config.json", D.base,
             json_string_value(json_object_get(job, "id")));
    http(&r, "GET", url, NULL, NULL, 0, NULL);
    assert_int_equal(r.status, 200);
    json_t *cfg = body_json(&r);
    json_t *qc = json_object_get(cfg, "quantization_config");
    assert_string_equal(json_string_value(json_object_get(qc, "quant_method")), "compressed-tensors");
    assert_string_equal(json_string_value(json_object_get(cfg, "model_type")), "llama");
    json_decref(cfg);
    resp_free(&r);

    /* the report covers every file */
    snprintf(url, sizeof url, "%s/v1/jobs/%s/report", D.base,
             json_string_value(json_object_get(job, "id")));
    http(&r, "GET", url, NULL, NULL, 0, NULL);
    assert_int_equal(r.status, 200);
    json_t *rep = body_json(&r);
    assert_int_equal(json_array_size(json_object_get(rep, "files")), 3);
    assert_int_equal(json_array_size(json_object_get(rep, "tensors")), 9);
    json_decref(rep);
    resp_free(&r);
    /* an artifact that is not one: 404 */
    snprintf(url, sizeof url, "%s/v1/jobs/%s/artifacts/job.json", D.base,
             json_string_value(json_object_get(job, "id")));
    http(&r, "GET", url, NULL, NULL, 0, NULL);
    assert_problem(&r, 404, "not-found");
    resp_free(&r);
    json_decref(job);

    /* the same folder, int8 with a group size, an override and ignore */
    rm_tree(out);
    assert_int_equal(mkdir(out, 0755), 0);
    job = post_wait(&D, NULL, NULL,
                    "{\"model\": \"llama-hf\", \"scheme\": \"int8\", \"group_size\": 32, "
                    "\"ignore\": [\"lm_head\"], \"overrides\": [{\"match\": \"mlp\", \"type\": "
                    "\"int4-asym\"}], \"output\": {\"format\": \"safetensors\"}}");
    assert_string_equal(json_string_value(json_object_get(job, "state")), "succeeded");
    const char *args2[] = {"quantize", "-q", "--type", "int8", "--group-size", "32", "--ignore",
                           "lm_head", "--tensor-type", "mlp=int4-asym", in, out, NULL};
    assert_int_equal(run_quantd(args2), 0);
    compare_folder(&D, job, out);
    json_decref(job);

    /* a dry run plans every shard */
    job = post_wait(&D, NULL, NULL,
                    "{\"model\": \"llama-hf\", \"scheme\": \"int4\", \"dry_run\": true}");
    assert_string_equal(json_string_value(json_object_get(job, "state")), "succeeded");
    assert_int_equal(json_array_size(json_object_get(job, "artifacts")), 0);
    json_decref(job);

    /* a folder is written as safetensors */
    const char *js[] = {"Content-Type: application/json", NULL};
    const char *gg = "{\"model\": \"llama-hf\", \"scheme\": \"Q8_0\", \"output\": {\"format\": \"gguf\"}}";
    snprintf(url, sizeof url, "%s/v1/jobs", D.base);
    http(&r, "POST", url, NULL, gg, strlen(gg), js);
    assert_problem(&r, 400, "invalid-spec");
    resp_free(&r);
    rm_tree(in);
    rm_tree(out);
}

/* A folder whose index names a shard that was never uploaded fails with
 * the core's message. */
static void test_folder_incomplete(void **state)
{
    (void)state;
    char in[128];
    make_tmpdir(in, sizeof in, "hf-bad");
    make_folder(in);
    char p[512];
    snprintf(p, sizeof p, "%s/%s", in, shards[1].file);
    unlink(p);
    upload_folder(&D, in, "llama-incomplete");
    json_t *job = post_wait(&D, NULL, NULL, "{\"model\": \"llama-incomplete\", \"scheme\": \"int4\"}");
    assert_string_equal(json_string_value(json_object_get(job, "state")), "failed");
    json_t *err = json_object_get(job, "error");
    assert_non_null(json_string_value(json_object_get(err, "type")));
    json_decref(job);
    rm_tree(in);
}

static void test_file_names(void **state)
{
    (void)state;
    const char *bad[] = {
        "/v1/models/m/a..b", "/v1/models/m/.hidden", "/v1/models/m/x%20y",
        "/v1/models/.m/config.json", "/v1/models/m/tok*en.json", "/v1/models/m/t%C3%A9.json",
    };
    char url[512];
    struct resp r;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(url, sizeof url, "%s%s", D.base, bad[i]);
        http(&r, "PUT", url, NULL, "{}", 2, NULL);
        if (r.status != 400)
            fprintf(stderr, "%s -> %ld\n", bad[i], r.status);
        assert_problem(&r, 400, "invalid-spec");
        resp_free(&r);
    }
    char longname[200];
    memset(longname, 'a', 129);
    longname[129] = '\0';
    snprintf(url, sizeof url, "%s/v1/models/m/%s", D.base, longname);
    http(&r, "PUT", url, NULL, "{}", 2, NULL);
    assert_problem(&r, 400, "invalid-spec");
    resp_free(&r);
    /* an encoded slash or NUL is refused by the transport itself */
    const char *enc[] = {"/v1/models/m/a%2Fb", "/v1/models/m/con%00fig"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(url, sizeof url, "%s%s", D.base, enc[i]);
        http(&r, "PUT", url, NULL, "{}", 2, NULL);
        assert_problem(&r, 400, "bad-request");
        resp_free(&r);
    }
    /* dot segments never reach the spool (curl would squash them: raw) */
    char buf[4096];
    const char *req = "PUT /v1/models/m/../../etc HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
    int st = raw_request(D.port, req, strlen(req), buf, sizeof buf);
    assert_true(st == 400 || st == 404);
    /* a good name: 128 characters, dots, dashes, underscores */
    memset(longname, 'b', 128);
    longname[128] = '\0';
    memcpy(longname + 118, "_x-y.json", 9);
    snprintf(url, sizeof url, "%s/v1/models/m/%s", D.base, longname);
    http(&r, "PUT", url, NULL, "{}", 2, NULL);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    assert_true(daemon_alive(&D));
}

/* ---- disk full: 507 and a consistent spool ------------------------------ */

/* Files whose name says they are temporary, anywhere under dir. */
static int count_temp_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) != 0)
            continue;
        if (strstr(e->d_name, ".tmp") || strcmp(e->d_name, "tmp") == 0) {
            if (S_ISDIR(st.st_mode) && strcmp(e->d_name, "tmp") == 0) {
                DIR *t = opendir(p);
                for (struct dirent *f; t && (f = readdir(t)) != NULL;)
                    if (f->d_name[0] != '.' || strlen(f->d_name) > 2) {
                        if (strcmp(f->d_name, ".") && strcmp(f->d_name, "..")) {
                            fprintf(stderr, "left over: %s/%s\n", p, f->d_name);
                            n++;
                        }
                    }
                if (t)
                    closedir(t);
                continue;
            }
            fprintf(stderr, "left over: %s\n", p);
            n++;
            continue;
        }
        if (S_ISDIR(st.st_mode))
            n += count_temp_files(p);
    }
    closedir(d);
    return n;
}

/* A safetensors file of one F32 tensor [rows, cols]. */
static void write_f32_model(const char *path, int rows, int cols)
{
    char header[256];
    size_t n = (size_t)rows * (size_t)cols * 4;
    int hl = snprintf(header, sizeof header,
                      "{\"w.weight\":{\"dtype\":\"F32\",\"shape\":[%d,%d],\"data_offsets\":[0,%zu]}}",
                      rows, cols, n);
    while (hl % 8)
        header[hl++] = ' ';
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    unsigned char len8[8];
    for (int b = 0; b < 8; b++)
        len8[b] = (unsigned char)((uint64_t)hl >> (8 * b));
    fwrite(len8, 1, 8, f);
    fwrite(header, 1, (size_t)hl, f);
    float row[4096];
    for (int c = 0; c < cols && c < 4096; c++)
        row[c] = (float)((c * 7919) % 1000) / 1000.0f - 0.5f;
    for (int r = 0; r < rows; r++)
        fwrite(row, 4, (size_t)cols, f);
    assert_int_equal(fclose(f), 0);
}

/* The disk-full test's daemon and mount, undone by its teardown even when
 * an assertion failed half-way. */
static struct daemon full_d;
static char full_mnt[128];

static int teardown_disk_full(void **state)
{
    (void)state;
    if (daemon_alive(&full_d))
        daemon_kill(&full_d);
    if (full_mnt[0]) {
        umount(full_mnt);
        rmdir(full_mnt);
        full_mnt[0] = '\0';
    }
    return 0;
}

static uint64_t free_bytes(const char *dir)
{
    struct statvfs v;
    return statvfs(dir, &v) == 0 ? (uint64_t)v.f_bavail * v.f_frsize : 0;
}

/* The blocks of a removed upload come back when its writer thread has
 * closed the file, a moment after the answer: wait (bounded) until at
 * least `want` bytes are free again. */
static bool free_again(const char *dir, uint64_t want)
{
    for (int i = 0; i < 200; i++) {
        if (free_bytes(dir) >= want)
            return true;
        struct timespec ts = {0, 25 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return free_bytes(dir) >= want;
}

static void test_disk_full(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        fprintf(stderr, "test_disk_full: SKIPPED: not root, cannot mount a small tmpfs "
                        "(run the integration tests as root to cover 507)\n");
        skip();
    }
    char *mnt = full_mnt;
    make_tmpdir(mnt, sizeof full_mnt, "full");
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=8m") != 0) {
        fprintf(stderr, "test_disk_full: SKIPPED: mount tmpfs: %s\n", strerror(errno));
        rmdir(mnt);
        mnt[0] = '\0';
        skip();
    }
    struct daemon *dp = &full_d;
#define d (*dp)
    const char *extra[] = {"--threads", "2", NULL};
    assert_int_equal(daemon_start(&d, mnt, extra), 0);

    /* an earlier job, intact at the end */
    json_t *first = post_wait(&d, "scheme=int8", NETS "/cnn.safetensors", NULL);
    assert_string_equal(json_string_value(json_object_get(first, "state")), "succeeded");
    char first_sha[65];
    artifact_sha(&d, first, 0, first_sha);

    /* Content-Length beyond the free space: 507 before the body */
    char url[512];
    struct resp r;
    snprintf(url, sizeof url, "%s/v1/jobs?scheme=Q8_0", d.base);
    http(&r, "POST", url, MODEL, NULL, 0, NULL);
    assert_problem(&r, 507, "insufficient-storage");
    resp_free(&r);

    /* chunked, no length: the disk fills mid-body; 507 (or a closed
     * connection when the client is still sending), the temp file goes,
     * and so do its blocks */
    const uint64_t free_before = free_bytes(mnt);
    const char *chunked[] = {"Transfer-Encoding: chunked", NULL};
    http(&r, "POST", url, MODEL, NULL, 0, chunked);
    if (r.status == 507)
        assert_problem(&r, 507, "insufficient-storage");
    else
        assert_true(r.curl_rc != 0);
    resp_free(&r);
    snprintf(url, sizeof url, "%s/v1/models/too-big", d.base);
    http(&r, "PUT", url, MODEL, NULL, 0, chunked);
    if (r.status == 507)
        assert_problem(&r, 507, "insufficient-storage");
    else
        assert_true(r.curl_rc != 0);
    resp_free(&r);
    assert_int_equal(count_temp_files(mnt), 0);
    assert_true(free_again(mnt, free_before - (64u << 10))); /* 64 KiB: metadata slack */

    /* a job whose output does not fit: fails with insufficient-storage */
    char big[128];
    make_tmpdir(big, sizeof big, "big");
    char bigf[256];
    snprintf(bigf, sizeof bigf, "%s/big.safetensors", big);
    write_f32_model(bigf, 1024, 1280); /* 5 MiB: fits once, not twice */
    snprintf(url, sizeof url, "%s/v1/models/big", d.base);
    http(&r, "PUT", url, bigf, NULL, 0, NULL);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    json_t *job = post_wait(&d, NULL, NULL,
                            "{\"model\": \"big\", \"scheme\": \"F32\", \"output\": {\"format\": "
                            "\"safetensors\"}}");
    assert_string_equal(json_string_value(json_object_get(job, "state")), "failed");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(job, "error"), "type")),
        "insufficient-storage");
    assert_int_equal(json_array_size(json_object_get(job, "artifacts")), 0);
    json_decref(job);

    /* consistent: no temp file anywhere, the daemon answers, the first job
     * is downloadable as it was */
    assert_int_equal(count_temp_files(mnt), 0);
    snprintf(url, sizeof url, "%s/livez", d.base);
    http(&r, "GET", url, NULL, NULL, 0, NULL);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    char again[65];
    artifact_sha(&d, first, 0, again);
    assert_string_equal(again, first_sha);

    /* space freed: work goes on */
    snprintf(url, sizeof url, "%s/v1/models/big", d.base);
    http(&r, "DELETE", url, NULL, NULL, 0, NULL);
    assert_int_equal(r.status, 204);
    resp_free(&r);
    job = post_wait(&d, "scheme=int4", NETS "/lstm.safetensors", NULL);
    assert_string_equal(json_string_value(json_object_get(job, "state")), "succeeded");
    json_decref(job);

    /* and a restart finds the same spool */
    assert_int_equal(daemon_stop(&d), 0);
    assert_int_equal(daemon_start(&d, mnt, extra), 0);
    artifact_sha(&d, first, 0, again);
    assert_string_equal(again, first_sha);
    assert_int_equal(count_temp_files(mnt), 0);
    json_decref(first);
    assert_int_equal(daemon_stop(&d), 0);
    assert_int_equal(umount(mnt), 0);
    daemon_cleanup(&d);
    mnt[0] = '\0';
    rm_tree(big);
#undef d
}

/* ---- retention ----------------------------------------------------------- */

static long get_status(struct daemon *d, const char *path)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", d->base, path);
    struct resp r;
    http(&r, "GET", url, NULL, NULL, 0, NULL);
    long st = r.status;
    resp_free(&r);
    return st;
}

static void test_retention(void **state)
{
    (void)state;
    struct daemon d;
    const char *extra[] = {"--retention", "2s", NULL};
    assert_int_equal(daemon_start(&d, NULL, extra), 0);
    json_t *job = post_wait(&d, "scheme=int8", NETS "/cnn.safetensors", NULL);
    char jpath[64], jdir[512];
    snprintf(jpath, sizeof jpath, "/v1/jobs/%s", json_string_value(json_object_get(job, "id")));
    snprintf(jdir, sizeof jdir, "%s/jobs/%s", d.dir, json_string_value(json_object_get(job, "id")));
    json_decref(job);
    char url[512];
    struct resp r;
    snprintf(url, sizeof url, "%s/v1/models/old", d.base);
    http(&r, "PUT", url, NETS "/lstm.safetensors", NULL, 0, NULL);
    assert_int_equal(r.status, 201);
    resp_free(&r);
    assert_int_equal(get_status(&d, jpath), 200);
    assert_int_equal(get_status(&d, "/v1/models/old"), 200);
    /* the chores run every second with a 2 s retention: both go within 10 s */
    time_t t0 = time(NULL);
    while ((get_status(&d, jpath) != 404 || get_status(&d, "/v1/models/old") != 404) &&
           time(NULL) - t0 < 10) {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(get_status(&d, jpath), 404);
    assert_int_equal(get_status(&d, "/v1/models/old"), 404);
    struct stat st;
    assert_int_not_equal(stat(jdir, &st), 0); /* gone from the disk too */
    char mdir[512];
    snprintf(mdir, sizeof mdir, "%s/models/old", d.dir);
    assert_int_not_equal(stat(mdir, &st), 0);
    assert_int_equal(daemon_stop(&d), 0);
    daemon_cleanup(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int_schemes_match_cli),
        cmocka_unit_test(test_int_scheme_errors),
        cmocka_unit_test(test_folder_round_trip),
        cmocka_unit_test(test_folder_incomplete),
        cmocka_unit_test(test_file_names),
        cmocka_unit_test_teardown(test_disk_full, teardown_disk_full),
        cmocka_unit_test(test_retention),
    };
    return cmocka_run_group_tests(tests, setup_shared, teardown_shared);
}
