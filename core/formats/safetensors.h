/* core/formats/safetensors.h — safetensors reader and writer.
 *
 * File: u64 LE header length N, N bytes of UTF-8 JSON
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *  "__metadata__": {"k": "v"}}, then the data buffer; offsets are relative
 * to the byte after the header. The reader requires: N <= QCORE_ST_MAX_HEADER
 * and within the file, valid UTF-8 JSON object, known dtypes, shape x dtype ==
 * end - begin, offsets in bounds, tensors covering the buffer with no gap,
 * overlap or trailing byte, unique names (duplicate JSON keys rejected).
 * The JSON is parsed with jansson.
 */
#ifndef QCORE_SAFETENSORS_H
#define QCORE_SAFETENSORS_H

#include "core/formats/model.h"

/* Parse the header of m->fd. Called by qcore_model_open. */
int qcore_st_read(struct qcore_model *m, struct qcore_error *err);

struct qcore_st_out_tensor {
    const char *name;
    uint32_t n_dims;          /* 0..QCORE_MAX_DIMS */
    const int64_t *ne;        /* ggml order (ne[0] innermost); written reversed */
    int type;                 /* dtype (must have a safetensors name) */
};

struct qcore_st_layout {
    uint8_t *header;          /* 8-byte length + JSON, space-padded to 8 bytes */
    size_t header_len;
    uint64_t *offsets;        /* absolute file offset of each tensor */
    uint64_t *nbytes;
    uint64_t file_size;
};

/* Build the header: tensors densely in the given order; `metadata_json` is a
 * JSON object text of string values for __metadata__ (or NULL). */
int qcore_st_layout_build(const char *metadata_json, const struct qcore_st_out_tensor *t,
                          size_t n_t, struct qcore_st_layout *out, struct qcore_error *err);
void qcore_st_layout_cleanup(struct qcore_st_layout *l);

#endif
