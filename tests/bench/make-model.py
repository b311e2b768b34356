#!/usr/bin/env python3
"""Write a llama-shaped F32 GGUF of about 1.5 GB for the file-to-file benchmark.

The metadata (tokenizer included) is copied from tests/data/models/tiny-llama-f32.gguf,
with the shape keys replaced; the tensors are llama's (token_embd, per layer
attn_norm/q/k/v/output, ffn_norm/gate/up/down, output_norm, output) at
n_embd 2048, n_ff 5632, 16 heads / 4 KV heads, 8 layers, vocab 4096.
Weights are N(0, 0.02)-like (a pool of 4M gaussian floats reused at rotating
offsets: throughput does not depend on the values being unique), norms 1.
Usage: make-model.py OUT.gguf [--layers N]   (write it under /tmp, never commit it)
"""
import array, os, random, struct, sys

HERE = os.path.dirname(os.path.abspath(__file__))
TINY = os.path.join(HERE, "..", "data", "models", "tiny-llama-f32.gguf")

def read_kvs(path):
    """[(key, raw value bytes incl. the type)] in file order."""
    with open(path, "rb") as f:
        b = f.read(1 << 20)
    assert b[:4] == b"GGUF"
    _, n_t, n_kv = struct.unpack_from("<IQQ", b, 4)
    p = 24
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    def value(p, t):
        if t == 8:
            (n,) = struct.unpack_from("<Q", b, p)
            return p + 8 + n
        if t == 9:
            et, n = struct.unpack_from("<IQ", b, p)
            p += 12
            for _ in range(n):
                p = value(p, et)
            return p
        return p + sizes[t]
    out = []
    for _ in range(n_kv):
        (kl,) = struct.unpack_from("<Q", b, p)
        key = b[p + 8:p + 8 + kl].decode()
        p += 8 + kl
        start = p
        (t,) = struct.unpack_from("<I", b, p)
        p = value(p + 4, t)
        out.append((key, b[start:p]))
    return out

def gstr(s):
    s = s.encode()
    return struct.pack("<Q", len(s)) + s

def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    layers = int(sys.argv[sys.argv.index("--layers") + 1]) if "--layers" in sys.argv else 8
    n_embd, n_ff, n_head, n_kv, vocab = 2048, 5632, 16, 4, 4096
    kv_dim = n_embd // n_head * n_kv
    over = {
        "general.name": struct.pack("<I", 8) + gstr("bench-llama-f32"),
        "llama.embedding_length": struct.pack("<II", 4, n_embd),
        "llama.block_count": struct.pack("<II", 4, layers),
        "llama.feed_forward_length": struct.pack("<II", 4, n_ff),
        "llama.attention.head_count": struct.pack("<II", 4, n_head),
        "llama.attention.head_count_kv": struct.pack("<II", 4, n_kv),
        "llama.rope.dimension_count": struct.pack("<II", 4, n_embd // n_head),
        "llama.context_length": struct.pack("<II", 4, 4096),
    }
    kvs = [(k, over.get(k, raw)) for k, raw in read_kvs(TINY)]

    tensors = [("token_embd.weight", [n_embd, vocab])]
    for i in range(layers):
        b = "blk.%d." % i
        tensors += [(b + "attn_norm.weight", [n_embd]), (b + "attn_q.weight", [n_embd, n_embd]),
                    (b + "attn_k.weight", [n_embd, kv_dim]), (b + "attn_v.weight", [n_embd, kv_dim]),
                    (b + "attn_output.weight", [n_embd, n_embd]), (b + "ffn_norm.weight", [n_embd]),
                    (b + "ffn_gate.weight", [n_embd, n_ff]), (b + "ffn_up.weight", [n_embd, n_ff]),
                    (b + "ffn_down.weight", [n_ff, n_embd])]
    tensors += [("output_norm.weight", [n_embd]), ("output.weight", [n_embd, vocab])]

    head = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)))
    for k, raw in kvs:
        head += gstr(k) + raw
    off = 0
    for name, dims in tensors:
        head += gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        head += struct.pack("<IQ", 0, off)
        n = 1
        for d in dims:
            n *= d
        off += (n * 4 + 31) // 32 * 32
    head += b"\0" * ((32 - len(head) % 32) % 32)

    rng = random.Random(1234)
    pool = array.array("f", (rng.gauss(0.0, 0.02) for _ in range(1 << 22)))
    pool_b = pool.tobytes() * 2
    pos = 0
    with open(out, "wb") as f:
        f.write(head)
        for name, dims in tensors:
            n = 1
            for d in dims:
                n *= d
            if len(dims) == 1:
                f.write(array.array("f", [1.0]) .tobytes() * n)
            else:
                left = n * 4
                while left:
                    take = min(left, len(pool_b) // 2)
                    f.write(pool_b[pos:pos + take])
                    pos = (pos + 4 * 7919) % (len(pool_b) // 2)
                    left -= take
            pad = (32 - (n * 4) % 32) % 32
            f.write(b"\0" * pad)
    print("%s: %.2f GB, %d tensors" % (out, os.path.getsize(out) / 1e9, len(tensors)))

main()
