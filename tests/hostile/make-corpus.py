#!/usr/bin/env python3
"""Generate the hostile-input corpus tests/data/hostile/ and its manifest.

Every file is built byte by byte here (python3 standard library only) and the
output is reproducible: running the script again gives identical files. Each
manifest entry names the file, what the core must answer (`core`: "ok" or the
QCORE_E* code qcore_model_open returns), and what the daemon must answer to
`POST /v1/jobs?scheme=Q8_0` with the file as the body (`status`, `type`: the
problem type of DESIGN.md section 4, as api/problem.c maps the core's code).

  tests/hostile/make-corpus.py [OUTDIR]      (default: tests/data/hostile)
  tests/hostile/make-corpus.py --seeds DIR   (the fuzzers' seed corpora)
  tests/hostile/make-corpus.py --good FILE   (a valid 96 KiB model for good jobs)

Cases follow issue 2's "Bad input" list and issue 6's upload cases.
"""
import gzip
import json
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# ---- GGUF ------------------------------------------------------------------

U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
SCALAR_FMT = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i",
              F32: "<f", BOOL: "<B", U64: "<Q", I64: "<q", F64: "<d"}
# ggml type id -> (block size, bytes per block)
T_F32, T_F16, T_Q4_0, T_Q8_0, T_Q4_K, T_BF16 = 0, 1, 2, 8, 12, 30
TYPES = {0: (1, 4), 1: (1, 2), 2: (32, 18), 8: (32, 34), 12: (256, 144), 30: (1, 2),
         24: (1, 1)}


def gstr(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def kv(key, vtype, value):
    """One KV: value is the encoded value (bytes) or a python scalar/str."""
    if not isinstance(value, bytes):
        value = gstr(value) if vtype == STRING else struct.pack(SCALAR_FMT[vtype], value)
    return gstr(key) + struct.pack("<I", vtype) + value


def kv_array(key, etype, elems, count=None):
    n = len(elems) if count is None else count
    body = b"".join(gstr(e) if etype == STRING else
                    (e if isinstance(e, bytes) else struct.pack(SCALAR_FMT[etype], e))
                    for e in elems)
    return gstr(key) + struct.pack("<I", ARRAY) + struct.pack("<IQ", etype, n) + body


def nbytes(ttype, dims):
    bs, ts = TYPES[ttype]
    n = 1
    for d in dims:
        n *= d
    return n // bs * ts


def align(x, a):
    return (x + a - 1) // a * a


def tinfo(name, dims, ttype, offset):
    b = gstr(name) + struct.pack("<I", len(dims))
    b += b"".join(struct.pack("<Q", d & 0xFFFFFFFFFFFFFFFF) for d in dims)
    return b + struct.pack("<IQ", ttype & 0xFFFFFFFF, offset & 0xFFFFFFFFFFFFFFFF)


def payload(n, seed=1):
    """n deterministic bytes: float32 values in [-1, 1) as far as they go."""
    out = bytearray()
    x = seed
    while len(out) < n:
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out += struct.pack("<f", (x / 0x40000000) - 1.0)
    return bytes(out[:n])


DEFAULT_TENSORS = [("token_embd.weight", [64, 4], T_F32), ("blk.0.attn_q.weight", [64, 8], T_F32),
                   ("output_norm.weight", [64], T_F32)]


def default_kvs():
    return [kv("general.architecture", STRING, "llama"), kv("general.name", STRING, "hostile"),
            kv("llama.block_count", U32, 1), kv("llama.context_length", U32, 128),
            kv_array("tokenizer.ggml.tokens", STRING, ["<s>", "</s>", "a", "b"])]


def gguf(kvs=None, tensors=None, version=3, alignment=32, n_t=None, n_kv=None, offsets=None,
         pad_last=True, magic=b"GGUF", data=None):
    """A GGUF file; tensors are (name, dims, type) laid out densely unless
    `offsets` overrides them."""
    kvs = default_kvs() if kvs is None else kvs
    tensors = DEFAULT_TENSORS if tensors is None else tensors
    head = magic + struct.pack("<I", version)
    head += struct.pack("<QQ", len(tensors) if n_t is None else n_t,
                        len(kvs) if n_kv is None else n_kv)
    head += b"".join(kvs)
    rel, offs = 0, []
    for i, (name, dims, tt) in enumerate(tensors):
        offs.append(rel if offsets is None else offsets[i])
        try:
            rel = align(rel + nbytes(tt, dims), alignment)
        except (KeyError, ZeroDivisionError):
            pass
    head += b"".join(tinfo(n, d, t, o) for (n, d, t), o in zip(tensors, offs))
    head += b"\0" * (align(len(head), alignment) - len(head))
    if data is None:
        body = bytearray()
        for (name, dims, tt), o in zip(tensors, offs):
            try:
                nb = nbytes(tt, dims)
            except KeyError:
                nb = 16
            if nb > 1 << 20:
                continue
            body += payload(align(nb, alignment) if pad_last else nb, seed=len(body) + 7)
        data = bytes(body)
    return head + data


def gguf_valid():
    return gguf()


# ---- safetensors -----------------------------------------------------------

ST_SIZE = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I8": 1, "U8": 1, "I16": 2, "I32": 4,
           "I64": 8, "BOOL": 1}


def st_raw(header_bytes, data=b"", length=None):
    n = len(header_bytes) if length is None else length
    return struct.pack("<Q", n & 0xFFFFFFFFFFFFFFFF) + header_bytes + data


def st(tensors=None, metadata=None, extra_data=b"", data_len=None, header=None, pad=True):
    """tensors: list of (name, dtype, shape[, [begin, end]]) laid out densely."""
    if tensors is None:
        tensors = [("model.embed.weight", "F32", [4, 64]), ("model.layers.0.q.weight", "F32",
                                                            [8, 64]), ("model.norm.weight", "F32",
                                                                       [64])]
    h, off = {}, 0
    if metadata is not None:
        h["__metadata__"] = metadata
    for t in tensors:
        name, dt, shape = t[0], t[1], t[2]
        n = ST_SIZE.get(dt, 4)
        for d in shape:
            n *= d if isinstance(d, int) and d >= 0 else 1
        offs = t[3] if len(t) > 3 else [off, off + n]
        h[name] = {"dtype": dt, "shape": shape, "data_offsets": offs}
        off += n
    text = json.dumps(h, separators=(",", ":")).encode() if header is None else header
    if pad:
        text += b" " * ((8 - len(text) % 8) % 8)
    size = off if data_len is None else data_len
    return st_raw(text, payload(size, seed=3) + extra_data)


def st_json_text(text):
    """A safetensors file whose header is exactly `text` (bytes), no data."""
    return st_raw(text)


# ---- the cases ----------------------------------------------------------------

CORE = {  # core code -> (HTTP status, problem type), as api/problem.c maps them
    "ok": (202, None),
    "EFORMAT": (415, "unsupported-format"),
    "EMALFORMED": (422, "malformed-model"),
    "ELIMIT": (422, "malformed-model"),
    "EUNSUPPORTED": (422, "unsupported-model"),
}


def gguf_cases():
    v = gguf_valid()
    kvs = default_kvs()
    hdr_end = 24 + sum(len(k) for k in kvs)  # first tensor info
    c = []

    def add(name, core, why, data):
        c.append((name + ".gguf", "gguf", core, why, data))

    add("ok-tiny", "ok", "control: a valid llama-named GGUF v3", v)
    add("ok-v2", "ok", "control: the same as GGUF v2", gguf(version=2))
    add("ok-trailing-bytes", "ok", "bytes after the padded data are ignored, as ggml does",
        v + b"\0" * 64)
    add("ok-nan-inf-data", "ok", "NaN/Inf in F32 data: the header is fine; the job flags them",
        gguf(data=(struct.pack("<4f", float("nan"), float("inf"), -float("inf"), 1.0) * 64 +
                   payload(4096 - 1024)) + b"\0" * (align(256 * 4, 32) - 256 * 4)))
    add("bad-magic", "EFORMAT", "magic GGUX", gguf(magic=b"GGUX"))
    add("magic-only-3-bytes", "EFORMAT", "3 bytes: GGU", b"GGU")
    add("version-0", "EMALFORMED", "version 0", gguf(version=0))
    add("version-1", "EUNSUPPORTED", "GGUF v1 is not supported", gguf(version=1))
    add("version-4", "EUNSUPPORTED", "a future version", gguf(version=4))
    add("version-byteswapped", "EUNSUPPORTED", "big-endian GGUF (version 0x03000000)",
        gguf(version=0x03000000))
    for cut, what in [(4, "after the magic"), (10, "inside the tensor count"),
                      (24, "after the counts"), (24 + 10, "inside the first key"),
                      (hdr_end - 3, "inside the last KV value"), (hdr_end + 20, "inside a tensor info"),
                      (len(v) - 100, "inside the tensor data")]:
        add("truncated-at-%d" % cut, "EMALFORMED", "truncated " + what, v[:cut])
    add("tensor-count-huge", "EMALFORMED", "tensor count 2^63", gguf(n_t=1 << 63))
    add("tensor-count-plus-one", "EMALFORMED", "one more tensor than the infos hold",
        gguf(n_t=len(DEFAULT_TENSORS) + 1))
    add("kv-count-huge", "EMALFORMED", "KV count 2^62", gguf(n_kv=1 << 62))
    add("kv-count-plus-one", "EMALFORMED", "one more KV than present", gguf(n_kv=len(kvs) + 1))
    add("key-len-past-eof", "EMALFORMED", "key length larger than the file",
        gguf(kvs=[struct.pack("<Q", 1 << 40) + b"general.name"]))
    add("key-over-limit", "ELIMIT", "a 5000-byte key (limit 4096)",
        gguf(kvs=[kv("k" * 5000, U32, 1)]))
    add("string-len-past-eof", "EMALFORMED", "string value length larger than the file",
        gguf(kvs=[gstr("general.name") + struct.pack("<IQ", STRING, 1 << 33) + b"x" * 8]))
    add("string-len-u64-max", "EMALFORMED", "string value length 2^64-1",
        gguf(kvs=[gstr("general.name") + struct.pack("<IQ", STRING, (1 << 64) - 1)]))
    add("array-len-past-eof", "EMALFORMED", "array of 2^40 u32",
        gguf(kvs=[kv_array("a", U32, [1, 2], count=1 << 40)]))
    add("array-of-arrays", "EMALFORMED", "arrays of arrays are not allowed",
        gguf(kvs=[gstr("a") + struct.pack("<IIQ", ARRAY, ARRAY, 1) + struct.pack("<IQ", U8, 1) +
                  b"\1"]))
    add("array-unknown-elem-type", "EMALFORMED", "array element type 13",
        gguf(kvs=[gstr("a") + struct.pack("<IIQ", ARRAY, 13, 1) + b"\0" * 8]))
    add("array-strings-short", "EMALFORMED", "string array claims 10 strings, has 2",
        gguf(kvs=[kv_array("tokenizer.ggml.tokens", STRING, ["a", "b"], count=10)]))
    add("kv-unknown-type", "EMALFORMED", "value type 13", gguf(kvs=[gstr("x") +
                                                                  struct.pack("<I", 13) + b"\0" * 8]))
    add("kv-negative-type", "EMALFORMED", "value type -1",
        gguf(kvs=[gstr("x") + struct.pack("<i", -1) + b"\0" * 8]))
    add("duplicate-key", "EMALFORMED", "general.name twice",
        gguf(kvs=kvs + [kv("general.name", STRING, "again")]))
    add("key-empty", "EMALFORMED", "an empty key", gguf(kvs=[kv("", U32, 1)]))
    add("key-nul-byte", "EMALFORMED", "a key with a NUL byte", gguf(kvs=[kv("gen\0eral", U32, 1)]))
    add("key-bad-utf8", "EMALFORMED", "a key that is not UTF-8",
        gguf(kvs=[kv(b"general.\xff\xfe", U32, 1)]))
    add("bool-2", "EMALFORMED", "a BOOL value of 2", gguf(kvs=[kv("b", BOOL, 2)]))
    add("alignment-not-pow2", "EMALFORMED", "general.alignment 48",
        gguf(kvs=[kv("general.alignment", U32, 48)], alignment=48))
    add("alignment-zero", "EMALFORMED", "general.alignment 0",
        gguf(kvs=[kv("general.alignment", U32, 0)]))
    add("alignment-1gib", "ELIMIT", "general.alignment 2^30 and no tensors: a 1 GiB output "
        "header (found by fuzz_gguf_roundtrip)",
        gguf(kvs=[kv("general.alignment", U32, 1 << 30)], tensors=[], alignment=32))
    add("alignment-wrong-type", "EMALFORMED", "general.alignment as a string",
        gguf(kvs=[kv("general.alignment", STRING, "32")]))
    add("tensor-name-64", "EMALFORMED", "a 64-byte tensor name (GGML_MAX_NAME is 64 with NUL)",
        gguf(tensors=[("n" * 64, [64], T_F32)]))
    add("tensor-name-empty", "EMALFORMED", "an empty tensor name", gguf(tensors=[("", [64], T_F32)]))
    add("duplicate-tensor", "EMALFORMED", "two tensors named w",
        gguf(tensors=[("w", [64], T_F32), ("w", [64], T_F32)]))
    add("dims-5", "EMALFORMED", "5 dimensions (GGUF allows 4)",
        gguf(tensors=[("w", [2, 2, 2, 2, 2], T_F32)]))
    add("dims-0", "EMALFORMED", "0 dimensions", gguf(tensors=[("w", [], T_F32)]))
    add("dims-huge-n", "EMALFORMED", "n_dims 2^31", gguf(
        tensors=[("w", [64], T_F32)]).replace(struct.pack("<I", 1) + struct.pack("<Q", 64),
                                              struct.pack("<I", 1 << 31) + struct.pack("<Q", 64), 1))
    add("dim-negative", "EMALFORMED", "a dimension of -1 (2^64-1)",
        gguf(tensors=[("w", [-1, 4], T_F32)]))
    add("numel-overflow", "EMALFORMED", "2^32 x 2^32 elements overflow int64",
        gguf(tensors=[("w", [1 << 32, 1 << 32], T_F32)]))
    add("nbytes-overflow", "EMALFORMED", "2^62 F32 elements: 2^64 bytes",
        gguf(tensors=[("w", [1 << 31, 1 << 31], T_F32)]))
    add("type-unknown", "EMALFORMED", "ggml type id 99", gguf(tensors=[("w", [64], 99)]))
    add("type-removed", "EMALFORMED", "removed type id 4 (Q4_2)", gguf(tensors=[("w", [64], 4)]))
    add("type-negative", "EMALFORMED", "type id -1", gguf(tensors=[("w", [64], -1)]))
    add("block-misfit", "EMALFORMED", "Q4_0 row of 33 elements",
        gguf(tensors=[("w", [33, 2], T_Q4_0)], data=b"\0" * 96))
    add("offset-misaligned", "EMALFORMED", "data offset 4 with alignment 32",
        gguf(tensors=[("w", [64], T_F32)], offsets=[4]))
    add("offset-overlap", "EMALFORMED", "two tensors at offset 0",
        gguf(tensors=[("a", [64], T_F32), ("b", [64], T_F32)], offsets=[0, 0]))
    add("offset-gap", "EMALFORMED", "a gap before the second tensor (ggml needs dense data)",
        gguf(tensors=[("a", [64], T_F32), ("b", [64], T_F32)], offsets=[0, 512],
             data=payload(1024)))
    add("offset-out-of-range", "EMALFORMED", "data offset 2^40",
        gguf(tensors=[("w", [64], T_F32)], offsets=[1 << 40]))
    add("offset-wraps", "EMALFORMED", "offset 2^64-32: offset + size wraps around",
        gguf(tensors=[("w", [64], T_F32)], offsets=[(1 << 64) - 32]))
    add("data-past-eof", "EMALFORMED", "tensor data claims 1 MiB past the end of the file",
        gguf(tensors=[("w", [1 << 18], T_F32)], data=payload(4096)))
    add("data-unpadded-end", "EMALFORMED", "the file ends before the padded end of the last tensor",
        gguf(tensors=[("w", [9], T_F32)], pad_last=False))
    add("empty-file", "EFORMAT", "0 bytes", b"")
    return c


def st_cases():
    v = st()
    c = []

    def add(name, core, why, data):
        c.append((name + ".safetensors", "safetensors", core, why, data))

    add("ok-tiny", "ok", "control: a valid safetensors file", v)
    add("ok-metadata", "ok", "control: with __metadata__", st(metadata={"format": "pt"}))
    add("header-len-past-eof", "EMALFORMED", "header length larger than the file",
        st_raw(b'{"a":1}', length=1 << 20))
    add("header-len-over-100mib", "EMALFORMED",
        "header length 200 MiB claimed (limit 100 MiB), file small",
        st_raw(b'{"__metadata__":{}}', length=200 << 20))
    add("header-len-u64-max", "EMALFORMED", "header length 2^64-1", st_raw(b"{}", length=(1 << 64) - 1))
    add("header-len-1", "EMALFORMED", "header length 1", st_raw(b"{", length=1))
    add("header-not-object", "EFORMAT", "a JSON array: no '{' after the length",
        st_json_text(b'[1,2,3]'))
    add("json-invalid", "EMALFORMED", "truncated JSON", st_json_text(b'{"a": {"dtype": "F32", '))
    add("json-bad-utf8", "EMALFORMED", "invalid UTF-8 inside a JSON string",
        st(header=b'{"w\xff\xfe":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', data_len=4))
    add("json-lone-surrogate", "EMALFORMED", "\\ud800 escape",
        st(header=b'{"w\\ud800":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', data_len=4))
    add("json-nul-in-key", "EMALFORMED", "\\u0000 in a tensor name",
        st(header=b'{"w\\u0000x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', data_len=4))
    add("json-deep-nesting", "EMALFORMED", "metadata nested 5000 deep",
        st_json_text(b'{"__metadata__":' + b"[" * 5000 + b"]" * 5000 + b"}"))
    add("duplicate-name", "EMALFORMED", "the same tensor name twice (duplicate JSON key)",
        st(header=b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                  b'"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', data_len=8))
    add("name-empty", "EMALFORMED", "an empty tensor name", st(tensors=[("", "F32", [4])]))
    add("name-over-limit", "ELIMIT", "a 5000-byte tensor name (limit 4096)",
        st(tensors=[("n" * 5000, "F32", [4])]))
    add("dtype-unknown", "EUNSUPPORTED", "dtype F128", st(tensors=[("w", "F128", [4])]))
    add("dtype-not-string", "EMALFORMED", "dtype 7",
        st(header=b'{"w":{"dtype":7,"shape":[1],"data_offsets":[0,4]}}', data_len=4))
    add("shape-not-array", "EMALFORMED", "shape 4",
        st(header=b'{"w":{"dtype":"F32","shape":4,"data_offsets":[0,16]}}', data_len=16))
    add("shape-negative", "EMALFORMED", "shape [-4]",
        st(header=b'{"w":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}}', data_len=16))
    add("shape-float", "EMALFORMED", "shape [4.0]",
        st(header=b'{"w":{"dtype":"F32","shape":[4.0],"data_offsets":[0,16]}}', data_len=16))
    add("shape-9-dims", "ELIMIT", "9 dimensions (limit 8)", st(tensors=[("w", "F32", [1] * 9)]))
    add("shape-overflow", "EMALFORMED", "element count overflows int64",
        st(header=b'{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}}',
           data_len=16))
    add("offsets-three", "EMALFORMED", "data_offsets with 3 members",
        st(tensors=[("w", "F32", [4], [0, 16, 16])]))
    add("offsets-missing", "EMALFORMED", "no data_offsets",
        st(header=b'{"w":{"dtype":"F32","shape":[4]}}', data_len=16))
    add("offsets-strings", "EMALFORMED", "data_offsets as strings",
        st(tensors=[("w", "F32", [4], ["0", "16"])]))
    add("offsets-reversed", "EMALFORMED", "begin > end", st(tensors=[("w", "F32", [4], [16, 0])],
                                                           data_len=16))
    add("offsets-past-end", "EMALFORMED", "end beyond the data buffer",
        st(tensors=[("w", "F32", [4], [0, 16])], data_len=8))
    add("offsets-huge", "EMALFORMED", "an offset of 2^70 (too big for JSON integers)",
        st(header=b'{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,1180591620717411303424]}}',
           data_len=16))
    add("dtype-shape-mismatch", "EMALFORMED", "F32 [4] spanning 8 bytes",
        st(tensors=[("w", "F32", [4], [0, 8])], data_len=8))
    add("gap", "EMALFORMED", "a gap between two tensors",
        st(tensors=[("a", "F32", [4], [0, 16]), ("b", "F32", [4], [32, 48])], data_len=48))
    add("overlap", "EMALFORMED", "two tensors sharing bytes",
        st(tensors=[("a", "F32", [4], [0, 16]), ("b", "F32", [4], [8, 24])], data_len=24))
    add("trailing-bytes", "EMALFORMED", "bytes after the last tensor", st(extra_data=b"\0" * 16))
    add("truncated-data", "EMALFORMED", "the data buffer cut short", v[:len(v) - 100])
    add("truncated-header", "EMALFORMED", "the file ends inside the JSON header", v[:40])
    add("metadata-not-object", "EMALFORMED", "__metadata__ is a string",
        st(metadata="pt"))
    add("metadata-non-string", "EMALFORMED", "a __metadata__ value is a number",
        st(metadata={"n": 1}))
    add("entry-not-object", "EMALFORMED", "a tensor entry that is a list",
        st(header=b'{"w":[1,2]}', data_len=0))
    return c


def upload_cases():
    c = []
    g, s = gguf_valid(), st()

    def add(name, core, why, data, status=None, ptype=None):
        c.append((name, "upload", core, why, data, status, ptype))

    add("gzip.gguf.gz", "EFORMAT", "a gzip-compressed GGUF", gzip.compress(g, mtime=0))
    add("gzip.safetensors.gz", "EFORMAT", "a gzip-compressed safetensors file",
        gzip.compress(s, mtime=0))
    add("zstd-magic.bin", "EFORMAT", "zstd magic", b"\x28\xb5\x2f\xfd" + b"\0" * 60)
    add("zip-magic.bin", "EFORMAT", "a zip archive header", b"PK\x03\x04" + b"\0" * 60)
    add("text.txt", "EFORMAT", "plain text", b"this is not a model\n" * 4)
    add("truncated-half.gguf", "EMALFORMED", "a valid GGUF cut in half", g[:len(g) // 2])
    add("truncated-half.safetensors", "EMALFORMED", "a valid safetensors cut in half",
        s[:len(s) // 2])
    # larger than the integration test's max_upload_bytes (128 KiB), valid
    big = gguf(tensors=[("w", [64, 768], T_F32)])
    add("oversized.gguf", "ok", "a valid 192 KiB GGUF, above max_upload_bytes=128K", big,
        413, "upload-too-large")
    return c


def write_corpus(out):
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        os.unlink(os.path.join(out, f))
    entries = []
    for case in gguf_cases() + st_cases() + upload_cases():
        name, kind, core, why, data = case[:5]
        status, ptype = CORE[core]
        if len(case) > 5 and case[5] is not None:
            status, ptype = case[5], case[6]
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        entries.append({"file": name, "kind": kind, "core": core, "status": status,
                        "type": ptype, "why": why})
    manifest = {
        "about": "hostile uploads for POST /v1/jobs?scheme=Q8_0; generated by "
                 "tests/hostile/make-corpus.py, do not edit. core: what qcore_model_open "
                 "returns; status/type: the daemon's answer (type null = accepted).",
        "max_upload_bytes": 128 << 10,
        "cases": entries,
    }
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(out, e["file"])) for e in entries)
    print("%d files, %d bytes in %s" % (len(entries), total, out))


def write_seeds(out):
    """Small seeds for tests/fuzz/corpus/<target>/."""
    g, s = gguf_valid(), st()
    q4 = gguf(tensors=[("blk.0.ffn_down.weight", [256, 2], T_F32), ("output.weight", [32, 4], T_F32)],
              kvs=[kv("general.architecture", STRING, "llama"),
                   kv("general.alignment", U32, 64)], alignment=64)
    seeds = {
        "fuzz_gguf": {"tiny.gguf": g, "v2.gguf": gguf(version=2), "q4k.gguf": q4,
                      "header-only.gguf": g[:200], "truncated.gguf": g[:60],
                      "quantized.gguf": gguf(tensors=[("w", [32, 2], T_Q8_0), ("v", [256], T_Q4_K)],
                                             data=b"\0" * 256)},
        "fuzz_gguf_roundtrip": {"tiny.gguf": g, "q4k.gguf": q4,
                                # found by this target: a 1 GiB alignment (now ELIMIT)
                                "regress-alignment-1gib.gguf":
                                    gguf(kvs=[kv("general.alignment", U32, 1 << 30)], tensors=[]),
                                "arrays.gguf": gguf(kvs=[kv_array("a", U8, [1, 2, 3]),
                                                         kv_array("b", BOOL, [0, 1]),
                                                         kv("c", F64, 1.5), kv("d", I64, -3)],
                                                    tensors=[("t", [8], T_F16)])},
        "fuzz_safetensors": {"tiny.safetensors": s, "meta.safetensors": st(metadata={"a": "b"}),
                             "bf16.safetensors": st(tensors=[("w", "BF16", [4, 32]),
                                                             ("i", "I32", [3])]),
                             "truncated.safetensors": s[:50]},
        # first byte: 12 = every quantizer and the half conversions
        "fuzz_quant": {"ramp.bin": b"\x0c" + b"".join(struct.pack("<f", (i - 128) / 7.0)
                                                     for i in range(256)),
                       "specials.bin": b"\x0c" + struct.pack("<8f", float("nan"), float("inf"),
                                                             -float("inf"), 0.0, -0.0, 1e-45,
                                                             3.4e38, 65504.0) * 32,
                       "payload.bin": b"\x0c" + payload(1024),
                       "tiny-scale-q8_0.bin": b"\x00" + struct.pack("<32f", *([1.5e-4] * 32)),
                       "huge-q4_1.bin": b"\x03" + struct.pack("<32f", *([3e38, -3e38] * 16))},
        "fuzz_request": {"route-job": b"\x00/v1/jobs/j0123456789abcdef/artifacts/model.gguf",
                         "route-model": b"\x00/v1/models/tiny/shard-00001.safetensors",
                         "query": b"\x01scheme=Q4_K_M&format=gguf&wait=30&dry_run=true",
                         "json": b'\x02{"model":"tiny","scheme":"Q4_K_M","overrides":'
                                 b'[{"match":"attn_.*","type":"Q8_0"}],"ignore":["output"],'
                                 b'"output":{"format":"safetensors"},"dry_run":false}',
                         "json-need-model": b'\x03{"model":"m","type":"q8_0"}',
                         "digest": b"\x04sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:",
                         "range": b"\x05\x00\x10\x00\x00\x00\x00\x00\x00bytes=0-99",
                         "names": b"\x06j0123456789abcdef"},
        "fuzz_config": {"basic": b"listen = 127.0.0.1:8080\nstate_dir = /tmp/q\n[quantd]\n"
                                 b"max_upload_bytes = 64G\nthreads = 2\n\0QUANTD_LOG_LEVEL=debug\0"
                                 b"--max-wait=5m\n--check-config",
                        "bad": b"[other]\nx=1\n\0QUANTD_THREADS=-1\0--nope"},
    }
    for target, files in seeds.items():
        d = os.path.join(out, target)
        os.makedirs(d, exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
    print("seeds in %s" % out)


def write_good(path):
    """A valid ~96 KiB llama-named F32 GGUF for the concurrent good jobs."""
    g = gguf(tensors=[("token_embd.weight", [256, 32], T_F32),
                      ("blk.0.attn_q.weight", [256, 48], T_F32),
                      ("output_norm.weight", [256], T_F32)])
    with open(path, "wb") as f:
        f.write(g)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--good":
        write_good(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "--seeds":
        write_seeds(sys.argv[2])
    else:
        write_corpus(sys.argv[1] if len(sys.argv) > 1 else
                     os.path.join(ROOT, "tests", "data", "hostile"))


if __name__ == "__main__":
    main()
