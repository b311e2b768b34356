/* core/hf.h — Hugging Face model folders in and out.
 *
 * A folder holds `model.safetensors`, or shards `model-0000N-of-0000M.safetensors`
 * listed by `model.safetensors.index.json` ({"metadata": {"total_size": N},
 * "weight_map": {tensor: shard}}), plus `config.json` and tokenizer files.
 * A folder job is a sequence of per-shard plans (one output shard per input
 * shard, same file names), which share one quantization_config computed over
 * all shards; then the index is rewritten (each source tensor replaced by its
 * output tensors), config.json gets the quantization_config, and the other
 * files are copied. A tensor never spans shards in safetensors, and each
 * shard is processed in bounded chunks, so no tensor is ever held whole.
 *
 * Ownership: a folder owns its opened shard models; plans borrow them.
 * Not thread-safe; the shard models may be read from several threads.
 */
#ifndef QCORE_HF_H
#define QCORE_HF_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"
#include "core/formats/model.h"
#include "core/plan.h"

/* Shards in one folder: HF names them with 5 digits (-of-99999 at most). */
#define QCORE_HF_MAX_SHARDS 99999u
/* Other files copied along (tokenizer, generation config, README...). */
#define QCORE_HF_MAX_AUX 1024u
/* index.json and config.json are read whole: a 10^5-tensor index is ~10 MiB. */
#define QCORE_HF_MAX_JSON (64u << 20)

struct qcore_hf_folder {
    char *dir;
    char *index_name;             /* "model.safetensors.index.json", or NULL */
    size_t n_shards;
    char **shard;                 /* shard file names (no directory), sorted */
    struct qcore_model **model;   /* the opened shards, same order */
    bool has_config;              /* config.json present */
    size_t n_aux;
    char **aux;                   /* other regular files, copied as they are */
};

/* True when `path` is a directory. */
bool qcore_hf_is_folder(const char *path);

/* Open a folder: find the index (or the single shard), check that the index
 * and the shards agree tensor for tensor, open every shard. Errors:
 * QCORE_EFORMAT (no safetensors model in the folder), QCORE_EMALFORMED (bad
 * index, index and shards disagree), QCORE_ELIMIT, QCORE_EIO, QCORE_ENOMEM. */
int qcore_hf_open(const char *dir, struct qcore_hf_folder **out, struct qcore_error *err);
void qcore_hf_close(struct qcore_hf_folder *f);

/* One plan per shard (plans[i] for f->shard[i]), all with the
 * quantization_config of the whole folder in their __metadata__. `o` must
 * ask for safetensors output. *out is an array of f->n_shards plans, freed
 * with qcore_hf_plans_destroy. */
int qcore_hf_plan(const struct qcore_hf_folder *f, const struct qcore_plan_opts *o,
                  struct qcore_plan ***out, struct qcore_error *err);
void qcore_hf_plans_destroy(struct qcore_plan **plans, size_t n);

/* After the shards were written into out_dir under their input names:
 * write the rewritten index (when the input had one), config.json with the
 * plans' quantization_config merged in (copied unchanged when there is
 * none), and copy the other files. Each file goes to a temp name first and
 * is renamed into place. */
int qcore_hf_write_meta(const struct qcore_hf_folder *f, struct qcore_plan *const *plans,
                        const char *out_dir, struct qcore_error *err);

#endif
