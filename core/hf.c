/* core/hf.c — Hugging Face model folders: the index, the shards, config.json
 * and the files copied along. */
#include "core/hf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define INDEX_SUFFIX ".safetensors.index.json"
#define SINGLE_NAME "model.safetensors"
#define CONFIG_NAME "config.json"
#define COPY_BUF (1u << 20)

bool qcore_hf_is_folder(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* "dir/name" in a fresh buffer, or NULL. */
static char *join(const char *dir, const char *name)
{
    size_t len = strlen(dir) + strlen(name) + 2;
    char *p = malloc(len);
    if (p)
        snprintf(p, len, "%s/%s", dir, name);
    return p;
}

/* A file name an index may name: no directory part, not hidden. */
static bool plain_name(const char *s)
{
    return s[0] && s[0] != '.' && !strchr(s, '/') && strlen(s) < 256;
}

/* Weights in other formats: not copied into a quantized folder. */
static bool other_weights(const char *name)
{
    static const char *const ext[] = {".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5",
                                      ".msgpack", ".onnx", ".gguf", ".tmp"};
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (ends_with(name, ext[i]))
            return true;
    return false;
}

static int add_name(char ***arr, size_t *n, size_t max, const char *name,
                    struct qcore_error *err)
{
    if (*n >= max)
        return qcore_error_set(err, QCORE_ELIMIT, QCORE_NO_OFFSET,
                               "model folder: more than %zu files of one kind", max);
    char **na = realloc(*arr, (*n + 1) * sizeof *na);
    if (!na)
        return qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
    *arr = na;
    if (!(na[*n] = strdup(name)))
        return qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
    (*n)++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Read a small JSON file whole, bounded by QCORE_HF_MAX_JSON. */
static int load_json(const char *path, json_t **out, struct qcore_error *err)
{
    struct stat st;
    json_error_t jerr;
    *out = NULL;
    if (stat(path, &st) != 0)
        return qcore_error_set(err, QCORE_EIO, QCORE_NO_OFFSET, "cannot stat %s: %s", path,
                               strerror(errno));
    if ((uint64_t)st.st_size > QCORE_HF_MAX_JSON)
        return qcore_error_set(err, QCORE_ELIMIT, QCORE_NO_OFFSET,
                               "%s is larger than %u bytes", path, QCORE_HF_MAX_JSON);
    *out = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    /* jansson names every other failure; it fails without a message only
     * when an allocation failed */
    if (!*out && (!jerr.text[0] || json_error_code(&jerr) == json_error_out_of_memory))
        return qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory reading %s",
                               path);
    if (!*out || !json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return qcore_error_set(err, QCORE_EMALFORMED, QCORE_NO_OFFSET, "%s: %s", path,
                               jerr.text[0] ? jerr.text : "not a JSON object");
    }
    return 0;
}

/* One pass over the folder: the index, the shards without one, the rest. */
static int scan(struct qcore_hf_folder *f, char ***st_files, size_t *n_st,
                struct qcore_error *err)
{
    DIR *d = opendir(f->dir);
    struct dirent *e;
    int rc = 0;
    if (!d)
        return qcore_error_set(err, QCORE_EIO, QCORE_NO_OFFSET, "cannot open folder %s: %s",
                               f->dir, strerror(errno));
    while (rc == 0 && (e = readdir(d)) != NULL) {
        char *path = join(f->dir, e->d_name);
        struct stat st;
        if (!path) {
            rc = qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
            break;
        }
        bool reg = stat(path, &st) == 0 && S_ISREG(st.st_mode);
        free(path);
        if (!reg || !plain_name(e->d_name))
            continue;
        if (ends_with(e->d_name, INDEX_SUFFIX)) {
            if (f->index_name)
                rc = qcore_error_set(err, QCORE_EMALFORMED, QCORE_NO_OFFSET,
                                     "model folder: two indexes, %s and %s", f->index_name,
                                     e->d_name);
            else if (!(f->index_name = strdup(e->d_name)))
                rc = qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
        } else if (ends_with(e->d_name, ".safetensors")) {
            rc = add_name(st_files, n_st, QCORE_HF_MAX_SHARDS, e->d_name, err);
        } else if (strcmp(e->d_name, CONFIG_NAME) == 0) {
            f->has_config = true;
        } else if (!other_weights(e->d_name)) {
            rc = add_name(&f->aux, &f->n_aux, QCORE_HF_MAX_AUX, e->d_name, err);
        }
    }
    closedir(d);
    if (rc == 0 && f->n_aux)
        qsort(f->aux, f->n_aux, sizeof *f->aux, cmp_str);
    return rc;
}

static bool has_name(char *const *arr, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(arr[i], s) == 0)
            return true;
    return false;
}

/* The shards the index names (sorted), checked to be plain file names. */
static int shards_from_index(struct qcore_hf_folder *f, json_t *wm, struct qcore_error *err)
{
    const char *k;
    json_t *v;
    json_object_foreach(wm, k, v) {
        const char *file = json_string_value(v);
        if (!file || !plain_name(file) || !ends_with(file, ".safetensors"))
            return qcore_error_set(err, QCORE_EMALFORMED, QCORE_NO_OFFSET,
                                   "%s: tensor '%s' maps to a bad file name", f->index_name, k);
        if (!has_name(f->shard, f->n_shards, file)) {
            int rc = add_name(&f->shard, &f->n_shards, QCORE_HF_MAX_SHARDS, file, err);
            if (rc)
                return rc;
        }
    }
    if (f->n_shards > 1) /* qsort wants a non-null base even for 0 */
        qsort(f->shard, f->n_shards, sizeof *f->shard, cmp_str);
    return 0;
}

/* Every tensor of every shard is in the weight map under its shard, and the
 * map has no other entry. */
static int check_index(const struct qcore_hf_folder *f, json_t *wm, struct qcore_error *err)
{
    size_t total = 0;
    for (size_t s = 0; s < f->n_shards; s++) {
        const struct qcore_model *m = f->model[s];
        total += m->n_tensors;
        for (size_t i = 0; i < m->n_tensors; i++) {
            const char *where = json_string_value(json_object_get(wm, m->tensors[i].name));
            if (!where || strcmp(where, f->shard[s]) != 0)
                return qcore_error_set(err, QCORE_EMALFORMED, QCORE_NO_OFFSET,
                                       "%s: tensor '%s' of %s is %s", f->index_name,
                                       m->tensors[i].name, f->shard[s],
                                       where ? "mapped to another shard" : "missing");
        }
    }
    if (total != json_object_size(wm))
        return qcore_error_set(err, QCORE_EMALFORMED, QCORE_NO_OFFSET,
                               "%s maps %zu tensors, the shards hold %zu", f->index_name,
                               json_object_size(wm), total);
    return 0;
}

static int open_shards(struct qcore_hf_folder *f, struct qcore_error *err)
{
    f->model = calloc(f->n_shards ? f->n_shards : 1, sizeof *f->model);
    if (!f->model)
        return qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
    for (size_t i = 0; i < f->n_shards; i++) {
        char *path = join(f->dir, f->shard[i]);
        if (!path)
            return qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
        int rc = qcore_model_open(path, &f->model[i], err);
        free(path);
        if (rc == 0 && f->model[i]->format != QCORE_FORMAT_SAFETENSORS)
            rc = qcore_error_set(err, QCORE_EFORMAT, QCORE_NO_OFFSET,
                                 "%s is not a safetensors file", f->shard[i]);
        if (rc)
            return rc;
    }
    return 0;
}

/* The shards: from the index, else model.safetensors, else the folder's
 * only safetensors file. */
static int pick_shards(struct qcore_hf_folder *f, char **st, size_t n_st, json_t **index,
                       struct qcore_error *err)
{
    if (f->index_name) {
        char *path = join(f->dir, f->index_name);
        int rc = path ? load_json(path, index, err)
                      : qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
        free(path);
        if (rc)
            return rc;
        json_t *wm = json_object_get(*index, "weight_map");
        if (!json_is_object(wm))
            return qcore_error_set(err, QCORE_EMALFORMED, QCORE_NO_OFFSET,
                                   "%s has no \"weight_map\" object", f->index_name);
        return shards_from_index(f, wm, err);
    }
    const char *only = has_name(st, n_st, SINGLE_NAME) ? SINGLE_NAME : n_st == 1 ? st[0] : NULL;
    if (!only)
        return qcore_error_set(err, QCORE_EFORMAT, QCORE_NO_OFFSET,
                               "model folder %s: no %s, no index, and %zu safetensors files",
                               f->dir, SINGLE_NAME, n_st);
    return add_name(&f->shard, &f->n_shards, 1, only, err);
}

int qcore_hf_open(const char *dir, struct qcore_hf_folder **out, struct qcore_error *err)
{
    struct qcore_hf_folder *f = calloc(1, sizeof *f);
    char **st = NULL;
    size_t n_st = 0;
    json_t *index = NULL;
    int rc;
    *out = NULL;
    if (!f || !(f->dir = strdup(dir))) {
        free(f);
        return qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
    }
    rc = scan(f, &st, &n_st, err);
    if (rc == 0)
        rc = pick_shards(f, st, n_st, &index, err);
    if (rc == 0)
        rc = open_shards(f, err);
    if (rc == 0 && index)
        rc = check_index(f, json_object_get(index, "weight_map"), err);
    json_decref(index);
    for (size_t i = 0; i < n_st; i++)
        free(st[i]);
    free(st);
    if (rc) {
        qcore_hf_close(f);
        return rc;
    }
    *out = f;
    return 0;
}

void qcore_hf_close(struct qcore_hf_folder *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n_shards; i++) {
        if (f->model)
            qcore_model_close(f->model[i]);
        free(f->shard[i]);
    }
    for (size_t i = 0; i < f->n_aux; i++)
        free(f->aux[i]);
    free(f->model);
    free(f->shard);
    free(f->aux);
    free(f->index_name);
    free(f->dir);
    free(f);
}

/* ---- plans ------------------------------------------------------------ */

void qcore_hf_plans_destroy(struct qcore_plan **plans, size_t n)
{
    for (size_t i = 0; plans && i < n; i++)
        qcore_plan_destroy(plans[i]);
    free(plans);
}

/* Two passes: plan every shard to learn which tensors get which scheme,
 * derive the folder's config, then plan again with it in __metadata__ (only
 * the headers change; nothing is read). */
int qcore_hf_plan(const struct qcore_hf_folder *f, const struct qcore_plan_opts *o,
                  struct qcore_plan ***out, struct qcore_error *err)
{
    struct qcore_plan **plans = calloc(f->n_shards ? f->n_shards : 1, sizeof *plans);
    struct qcore_plan_opts o2 = *o;
    char *cfg = NULL;
    int rc = 0;
    *out = NULL;
    if (!plans)
        return qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
    for (size_t i = 0; rc == 0 && i < f->n_shards; i++)
        rc = qcore_plan_build(f->model[i], o, &plans[i], err);
    if (rc == 0 && o->ct_scheme != QCORE_CT_NONE && f->n_shards > 1) {
        cfg = qcore_plan_ct_config((const struct qcore_plan *const *)plans, f->n_shards);
        if (!cfg)
            rc = qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
        o2.quant_config = cfg;
        for (size_t i = 0; rc == 0 && i < f->n_shards; i++) {
            qcore_plan_destroy(plans[i]);
            plans[i] = NULL;
            rc = qcore_plan_build(f->model[i], &o2, &plans[i], err);
        }
    }
    free(cfg);
    if (rc) {
        qcore_hf_plans_destroy(plans, f->n_shards);
        return rc;
    }
    *out = plans;
    return 0;
}

/* ---- writing the folder's other files -------------------------------- */

/* Write `json` to out_dir/name through a temp file and a rename. */
static int write_json(const char *out_dir, const char *name, json_t *json,
                      struct qcore_error *err)
{
    char *path = join(out_dir, name), *tmp = path ? join(out_dir, ".quantd.json.tmp") : NULL;
    int rc = 0;
    errno = 0; /* json_dump_file fails with malloc's ENOMEM or the I/O's errno */
    if (!tmp)
        rc = qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
    else if (json_dump_file(json, tmp, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0 ||
             rename(tmp, path) != 0)
        rc = qcore_error_set(err, errno == ENOSPC   ? QCORE_ENOSPC
                                  : errno == ENOMEM ? QCORE_ENOMEM
                                                    : QCORE_EIO,
                             QCORE_NO_OFFSET, "cannot write %s: %s", path, strerror(errno));
    if (rc && tmp)
        unlink(tmp);
    free(tmp);
    free(path);
    return rc;
}

/* The index of the output: each source tensor replaced by its outputs,
 * in the same shard; metadata kept, total_size = the output tensor bytes. */
static int write_index(const struct qcore_hf_folder *f, struct qcore_plan *const *plans,
                       const char *out_dir, struct qcore_error *err)
{
    char *path = join(f->dir, f->index_name);
    json_t *in = NULL, *wm = json_object();
    int rc = path && wm ? load_json(path, &in, err)
                        : qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
    free(path);
    uint64_t total = 0;
    for (size_t s = 0; rc == 0 && s < f->n_shards; s++) {
        const struct qcore_plan *p = plans[s];
        total += p->out_size - p->header_len;
        for (size_t i = 0; i < p->n; i++) {
            const struct qcore_plan_tensor *pt = &p->t[i];
            for (int r = 0; r < QCORE_CT_ROLES; r++) {
                const char *name = pt->ct ? (pt->ct->present[r] ? pt->ct->name[r] : NULL)
                                          : (r == 0 ? pt->name : NULL);
                if (name && json_object_set_new(wm, name, json_string(f->shard[s])) != 0)
                    rc = qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
            }
        }
    }
    json_t *md = rc == 0 ? json_object_get(in, "metadata") : NULL;
    md = json_is_object(md) ? json_deep_copy(md) : json_object();
    json_t *out = NULL;
    if (rc == 0 && md && json_object_set_new(md, "total_size", json_integer((json_int_t)total)) == 0)
        out = json_pack("{s:o, s:O}", "metadata", md, "weight_map", wm);
    else
        json_decref(md);
    if (rc == 0)
        rc = out ? write_json(out_dir, f->index_name, out, err)
                 : qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
    json_decref(out);
    json_decref(wm);
    json_decref(in);
    return rc;
}

/* config.json with "quantization_config" set (replacing any). */
static int write_config(const struct qcore_hf_folder *f, const char *qc, const char *out_dir,
                        struct qcore_error *err)
{
    char *path = join(f->dir, CONFIG_NAME);
    json_t *cfg = NULL, *q = json_loads(qc, 0, NULL);
    int rc = path && q ? load_json(path, &cfg, err)
                       : qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
    free(path);
    if (rc == 0 && json_object_set(cfg, "quantization_config", q) != 0)
        rc = qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
    if (rc == 0)
        rc = write_json(out_dir, CONFIG_NAME, cfg, err);
    json_decref(q);
    json_decref(cfg);
    return rc;
}

/* Stream dir/name to out_dir/name (temp file, then rename). */
static int copy_file(const char *dir, const char *name, const char *out_dir,
                     struct qcore_error *err)
{
    char *src = join(dir, name), *dst = join(out_dir, name);
    char *tmp = dst ? join(out_dir, ".quantd.copy.tmp") : NULL;
    char *buf = malloc(COPY_BUF);
    int in = -1, outfd = -1, rc = 0;
    if (!src || !tmp || !buf) {
        rc = qcore_error_set(err, QCORE_ENOMEM, QCORE_NO_OFFSET, "out of memory");
        goto out;
    }
    in = open(src, O_RDONLY | O_CLOEXEC);
    outfd = in < 0 ? -1 : open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (outfd < 0) {
        rc = qcore_error_set(err, QCORE_EIO, QCORE_NO_OFFSET, "cannot copy %s: %s", src,
                             strerror(errno));
        goto out;
    }
    uint64_t off = 0;
    for (;;) {
        ssize_t n = read(in, buf, COPY_BUF);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = qcore_error_set(err, QCORE_EIO, QCORE_NO_OFFSET, "cannot read %s: %s", src,
                                 strerror(errno));
            break;
        }
        if (n == 0)
            break;
        rc = qcore_pwrite_full(outfd, buf, (size_t)n, off, err);
        if (rc)
            break;
        off += (uint64_t)n;
    }
    if (rc == 0 && (fsync(outfd) != 0 || rename(tmp, dst) != 0))
        rc = qcore_error_set(err, QCORE_EIO, QCORE_NO_OFFSET, "cannot write %s: %s", dst,
                             strerror(errno));
out:
    if (outfd >= 0)
        close(outfd);
    if (in >= 0)
        close(in);
    if (rc && tmp)
        unlink(tmp);
    free(buf);
    free(tmp);
    free(dst);
    free(src);
    return rc;
}

int qcore_hf_write_meta(const struct qcore_hf_folder *f, struct qcore_plan *const *plans,
                        const char *out_dir, struct qcore_error *err)
{
    int rc = 0;
    if (f->index_name)
        rc = write_index(f, plans, out_dir, err);
    if (rc == 0 && f->has_config)
        rc = f->n_shards && plans[0]->quant_config
                 ? write_config(f, plans[0]->quant_config, out_dir, err)
                 : copy_file(f->dir, CONFIG_NAME, out_dir, err);
    for (size_t i = 0; rc == 0 && i < f->n_aux; i++)
        rc = copy_file(f->dir, f->aux[i], out_dir, err);
    return rc;
}
