#!/usr/bin/env python3
"""Write small synthetic GGUF models of several shapes and architectures.

    make-shapes.py OUT_DIR [NAME ...]    write OUT_DIR/NAME.gguf (all models by default)
    make-shapes.py --list                print the model names, one a line

They exist to compare quantd's GGUF output with llama.cpp's quantizer byte for
byte on shapes the tiny test model does not have: GQA 4/8, 8-80 layers, tied
embeddings, rows that are not a multiple of 256 (or of 32), attention biases
(qwen2), fused QKV (phi3, falcon), 8-expert and shared-expert MoE, F16 and
BF16 sources, a non-default alignment. tests/data/models/shapes-manifest.json
holds the sha256 of every file this writes and of llama.cpp's outputs.

Deterministic and standard library only: the values come from SHAKE-256 of
"<model>/<tensor>", turned into floats with bit masks (sign, a random 3-bit
exponent offset, a random mantissa), so every weight is +-[2^-10, 2^-2),
log-uniform; norms are in [1, 2). In every matrix the first 32 values of row
0 are 0 and those of row 1 one constant (blocks with no range). The
tokenizer is the first V tokens of tests/data/models/tiny-llama-f32.gguf's
(llama.cpp's SPM test vocabulary: control, byte and the most common tokens).
Every model is well under 2 MB. Nothing here is random per run: a change of
this file that changes a model changes its sha256 in the manifest.
"""
import hashlib
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TINY = os.path.join(HERE, "..", "data", "models", "tiny-llama-f32.gguf")

# GGUF value types
U8, I8, U16, I16, U32, I32, F32V, BOOL, STR, ARR, U64, I64, F64V = range(13)
SCALAR = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32V: "<f",
          BOOL: "<?", U64: "<Q", I64: "<q", F64V: "<d"}
# ggml tensor types
GF32, GF16, GBF16 = 0, 1, 30
ALIGN = 32


def read_kvs(path):
    """{key: (type, value)} of a GGUF file; arrays are (elem_type, [values])."""
    with open(path, "rb") as f:
        b = f.read(1 << 20)
    assert b[:4] == b"GGUF"
    _, _, n_kv = struct.unpack_from("<IQQ", b, 4)
    p = 24

    def string(p):
        (n,) = struct.unpack_from("<Q", b, p)
        return b[p + 8:p + 8 + n].decode(), p + 8 + n

    def value(p, t):
        if t == STR:
            return string(p)
        if t == ARR:
            et, n = struct.unpack_from("<IQ", b, p)
            p += 12
            out = []
            for _ in range(n):
                v, p = value(p, et)
                out.append(v)
            return (et, out), p
        fmt = SCALAR[t]
        return struct.unpack_from(fmt, b, p)[0], p + struct.calcsize(fmt)

    kvs = {}
    for _ in range(n_kv):
        key, p = string(p)
        (t,) = struct.unpack_from("<I", b, p)
        v, p = value(p + 4, t)
        kvs[key] = (t, v)
    return kvs


def enc_str(s):
    s = s.encode()
    return struct.pack("<Q", len(s)) + s


def enc_value(t, v):
    if t == STR:
        return enc_str(v)
    if t == ARR:
        et, vals = v
        return struct.pack("<IQ", et, len(vals)) + b"".join(enc_value(et, x) for x in vals)
    return struct.pack(SCALAR[t], v)


# ---- values ---------------------------------------------------------------

# (lane bits, bits kept from the random stream, value added to every lane):
# sign + 3 low exponent bits + mantissa kept, exponent base added, so that
# every lane is +-[2^-10, 2^-2) whatever the random bits.
LANES = {
    GF32: (32, (1 << 31) | (7 << 23) | ((1 << 23) - 1), 117 << 23),
    GF16: (16, (1 << 15) | (7 << 10) | ((1 << 10) - 1), 5 << 10),
    GBF16: (16, (1 << 15) | (7 << 7) | ((1 << 7) - 1), 117 << 7),
}
ELEM = {GF32: 4, GF16: 2, GBF16: 2}


def lanes(n, bits, value):
    """An int holding `value` in each of n lanes of `bits` bits."""
    return int.from_bytes(value.to_bytes(bits // 8, "little") * n, "little")


def weights(seed, n, gtype):
    bits, keep, base = LANES[gtype]
    nbytes = n * bits // 8
    x = int.from_bytes(hashlib.shake_256(seed.encode()).digest(nbytes), "little")
    x = (x & lanes(n, bits, keep)) + lanes(n, bits, base)
    return bytearray(x.to_bytes(nbytes, "little"))


def norm_values(seed, n):
    """F32 in [1, 2): exponent 127, random mantissa."""
    x = int.from_bytes(hashlib.shake_256(seed.encode()).digest(4 * n), "little")
    x = (x & lanes(n, 32, (1 << 23) - 1)) + lanes(n, 32, 127 << 23)
    return x.to_bytes(4 * n, "little")


CONST = {GF32: struct.pack("<f", 0.0625), GF16: struct.pack("<e", 0.0625),
         GBF16: struct.pack("<f", 0.0625)[2:]}


def tensor_data(model, name, dims, gtype):
    n = 1
    for d in dims:
        n *= d
    seed = "%s/%s" % (model, name)
    if len(dims) == 1:
        if name.endswith("norm.weight"):
            return norm_values(seed, n)
        return bytes(weights(seed, n, GF32))  # biases: F32 like the converters write
    data = weights(seed, n, gtype)
    e, k = ELEM[gtype], min(32, dims[0])
    data[0:k * e] = bytes(k * e)  # row 0 starts with a zero block
    if dims[1] > 1:  # row 1 with a constant block
        data[dims[0] * e:(dims[0] + k) * e] = CONST[gtype] * k
    return bytes(data)


# ---- architectures --------------------------------------------------------

def attn_tensors(b, m):
    E, H, KV, D = m["n_embd"], m["n_head"], m["n_head_kv"], m["head_dim"]
    if m.get("fused_qkv"):
        t = [(b + "attn_qkv.weight", [E, H * D + 2 * KV * D])]
    else:
        t = [(b + "attn_q.weight", [E, H * D]), (b + "attn_k.weight", [E, KV * D]),
             (b + "attn_v.weight", [E, KV * D])]
        if m.get("qkv_bias"):
            t += [(b + "attn_q.bias", [H * D]), (b + "attn_k.bias", [KV * D]),
                  (b + "attn_v.bias", [KV * D])]
    return t + [(b + "attn_output.weight", [H * D, E])]


def ffn_tensors(b, m):
    E, F = m["n_embd"], m["n_ff"]
    X = m.get("n_expert", 0)
    if m.get("ffn") == "up_down":  # falcon
        return [(b + "ffn_up.weight", [E, F]), (b + "ffn_down.weight", [F, E])]
    if m.get("ffn") == "fused_up":  # phi3: gate and up in one tensor
        return [(b + "ffn_up.weight", [E, 2 * F]), (b + "ffn_down.weight", [F, E])]
    if X:
        t = [(b + "ffn_gate_inp.weight", [E, X]), (b + "ffn_gate_exps.weight", [E, F, X]),
             (b + "ffn_down_exps.weight", [F, E, X]), (b + "ffn_up_exps.weight", [E, F, X])]
        S = m.get("n_ff_shexp")
        if S:
            t += [(b + "ffn_gate_inp_shexp.weight", [E]), (b + "ffn_gate_shexp.weight", [E, S]),
                  (b + "ffn_down_shexp.weight", [S, E]), (b + "ffn_up_shexp.weight", [E, S])]
        return t
    return [(b + "ffn_gate.weight", [E, F]), (b + "ffn_up.weight", [E, F]),
            (b + "ffn_down.weight", [F, E])]


def model_tensors(m):
    E, V = m["n_embd"], m["n_vocab"]
    ln_bias = m["arch"] == "falcon"
    t = [("token_embd.weight", [E, V])]
    for i in range(m["n_layer"]):
        b = "blk.%d." % i
        t.append((b + "attn_norm.weight", [E]))
        if ln_bias:
            t.append((b + "attn_norm.bias", [E]))
        t += attn_tensors(b, m)
        if m["arch"] != "falcon":  # falcon: parallel attention and ffn, one norm
            t.append((b + "ffn_norm.weight", [E]))
        t += ffn_tensors(b, m)
    t.append(("output_norm.weight", [E]))
    if ln_bias:
        t.append(("output_norm.bias", [E]))
    if not m.get("tied"):
        t.append(("output.weight", [E, V]))
    return t


def model_kvs(name, m, tiny):
    a = m["arch"]
    u32 = lambda v: (U32, v)
    kv = [("general.architecture", (STR, a)), ("general.name", (STR, name)),
          ("general.file_type", u32({GF32: 0, GF16: 1, GBF16: 32}[m["dtype"]]))]
    if "alignment" in m:
        kv.append(("general.alignment", u32(m["alignment"])))
    E, H, D = m["n_embd"], m["n_head"], m["head_dim"]
    kv += [(a + ".context_length", u32(512)), (a + ".embedding_length", u32(E)),
           (a + ".block_count", u32(m["n_layer"])),
           (a + ".feed_forward_length", u32(m["n_ff"])),
           (a + ".attention.head_count", u32(H)),
           (a + ".attention.head_count_kv", u32(m["n_head_kv"]))]
    if a == "falcon":
        kv.append((a + ".attention.layer_norm_epsilon", (F32V, 1e-5)))
    else:
        kv.append((a + ".attention.layer_norm_rms_epsilon", (F32V, 1e-5)))
    if D != E // H:
        kv += [(a + ".attention.key_length", u32(D)), (a + ".attention.value_length", u32(D))]
    kv += [(a + ".rope.dimension_count", u32(D)), (a + ".rope.freq_base", (F32V, 10000.0))]
    if m.get("n_expert"):
        kv += [(a + ".expert_count", u32(m["n_expert"])),
               (a + ".expert_used_count", u32(m["n_expert_used"]))]
        if a == "qwen2moe":
            kv += [(a + ".expert_feed_forward_length", u32(m["n_ff"])),
                   (a + ".expert_shared_feed_forward_length", u32(m["n_ff_shexp"]))]
    V = m["n_vocab"]
    kv.append((a + ".vocab_size", u32(V)))
    for k in ("tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens",
              "tokenizer.ggml.scores", "tokenizer.ggml.token_type",
              "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
              "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.add_bos_token",
              "tokenizer.ggml.add_eos_token"):
        t, v = tiny[k]
        if t == ARR:
            v = (v[0], v[1][:V])
        kv.append((k, (t, v)))
    return kv


# name -> shape. n_embd E, n_head H, n_head_kv KV, head_dim D, n_ff F, layers L,
# vocab V. Row lengths (ne[0]) are E for q/k/v/gate/up/embeddings, H*D for
# attn_output and F for ffn_down: a model with E = 32 and F = 256 has real
# k-quant ffn_down and falls back everywhere else, and E = 256, H*D = 32 the
# other way round.
MODELS = {
    # GQA 4, 12 layers (use_more_bits at n = 12, layers 10 and 11 sort after 9)
    "llama-gqa4-l12": dict(arch="llama", dtype=GF32, n_embd=32, n_head=4, n_head_kv=1,
                           head_dim=8, n_ff=256, n_layer=12, n_vocab=384),
    # GQA 8, 8 layers, tied embeddings (token_embd is the output), F16 source
    "llama-gqa8-l8-tied-f16": dict(arch="llama", dtype=GF16, n_embd=256, n_head=8,
                                   n_head_kv=1, head_dim=4, n_ff=32, n_layer=8, n_vocab=384,
                                   tied=True),
    # rows of 96 and 352 (multiples of 32, not of 256), GQA 3, BF16 source
    "llama-rows96-bf16": dict(arch="llama", dtype=GBF16, n_embd=96, n_head=3, n_head_kv=1,
                              head_dim=32, n_ff=352, n_layer=3, n_vocab=384),
    # ffn_down rows of 40 (not a multiple of 32)
    "llama-row40": dict(arch="llama", dtype=GF32, n_embd=64, n_head=2, n_head_kv=2,
                        head_dim=32, n_ff=40, n_layer=2, n_vocab=384),
    # 80 layers with GQA: llama.cpp's LLM_TYPE_70B (attn_v rule), F16 source
    "llama-l80-f16": dict(arch="llama", dtype=GF16, n_embd=32, n_head=4, n_head_kv=1,
                          head_dim=8, n_ff=32, n_layer=80, n_vocab=384),
    # general.alignment 64
    "llama-align64": dict(arch="llama", dtype=GF32, n_embd=256, n_head=4, n_head_kv=2,
                          head_dim=8, n_ff=32, n_layer=2, n_vocab=320, alignment=64),
    # 8 experts (ffn_*_exps 3-D, ffn_gate_inp router), tensors in a shuffled order
    "llama-moe8": dict(arch="llama", dtype=GF32, n_embd=32, n_head=8, n_head_kv=2,
                       head_dim=32, n_ff=64, n_layer=4, n_vocab=384, n_expert=8,
                       n_expert_used=2, shuffle=True),
    # qwen2: attention biases, tied embeddings
    "qwen2-tied": dict(arch="qwen2", dtype=GF32, n_embd=256, n_head=4, n_head_kv=2,
                       head_dim=8, n_ff=32, n_layer=4, n_vocab=320, tied=True,
                       qkv_bias=True),
    # qwen2moe: 4 experts and a shared expert
    "qwen2moe-x4": dict(arch="qwen2moe", dtype=GF32, n_embd=32, n_head=4, n_head_kv=2,
                        head_dim=8, n_ff=64, n_layer=4, n_vocab=384, n_expert=4,
                        n_expert_used=2, n_ff_shexp=64, qkv_bias=True),
    # phi3: fused attn_qkv (the attn_v column), gate+up fused in ffn_up
    "phi3": dict(arch="phi3", dtype=GF32, n_embd=64, n_head=2, n_head_kv=2, head_dim=32,
                 n_ff=256, n_layer=4, n_vocab=384, fused_qkv=True, ffn="fused_up"),
    # falcon: its own rules in llama.cpp (output always Q8_0, ffn_down by n/16),
    # fused attn_qkv, layer-norm biases, tied embeddings, F16 source
    "falcon-l16-tied-f16": dict(arch="falcon", dtype=GF16, n_embd=256, n_head=4, n_head_kv=1,
                                head_dim=8, n_ff=32, n_layer=16, n_vocab=320, tied=True,
                                fused_qkv=True, ffn="up_down"),
    # qwen2 with 80 layers is LLM_TYPE_70B too (without GQA condition), BF16 source
    "qwen2-l80-bf16": dict(arch="qwen2", dtype=GBF16, n_embd=32, n_head=4, n_head_kv=1,
                           head_dim=8, n_ff=32, n_layer=80, n_vocab=384, qkv_bias=True),
    # gemma: tied embeddings, key_length != n_embd / n_head
    "gemma-tied": dict(arch="gemma", dtype=GF32, n_embd=256, n_head=2, n_head_kv=1,
                       head_dim=16, n_ff=32, n_layer=2, n_vocab=320, tied=True),
}


def shuffled(seq, seed):
    """A deterministic permutation (sort by a hash of each name)."""
    return sorted(seq, key=lambda t: hashlib.sha256((seed + t[0]).encode()).digest())


def write_model(name, m, tiny, out):
    kvs = model_kvs(name, m, tiny)
    tensors = model_tensors(m)
    if m.get("shuffle"):
        tensors = shuffled(tensors, name)
    align = m.get("alignment", ALIGN)
    head = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)))
    for k, (t, v) in kvs:
        head += enc_str(k) + struct.pack("<I", t) + enc_value(t, v)
    blobs, off = [], 0
    for tname, dims in tensors:
        gtype = m["dtype"] if len(dims) >= 2 else GF32
        data = tensor_data(name, tname, dims, gtype)
        head += enc_str(tname) + struct.pack("<I", len(dims))
        head += b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", gtype, off)
        pad = (align - len(data) % align) % align
        blobs.append(data + bytes(pad))
        off += len(data) + pad
    head += bytes((align - len(head) % align) % align)
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(head)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, out)
    return os.path.getsize(out)


def main(argv):
    if len(argv) == 2 and argv[1] == "--list":
        print("\n".join(MODELS))
        return 0
    if len(argv) < 2 or argv[1].startswith("-"):
        sys.stderr.write(__doc__)
        return 2
    names = argv[2:] or list(MODELS)
    for n in names:
        if n not in MODELS:
            sys.stderr.write("unknown model %s (see --list)\n" % n)
            return 2
    os.makedirs(argv[1], exist_ok=True)
    tiny = read_kvs(TINY)
    for n in names:
        size = write_model(n, MODELS[n], tiny, os.path.join(argv[1], n + ".gguf"))
        assert size < 2 << 20, "%s is %d bytes" % (n, size)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
