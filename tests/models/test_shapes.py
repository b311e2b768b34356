#!/usr/bin/env python3
"""quantd's GGUF output against llama.cpp's quantizer on synthetic model shapes.

    test_shapes.py check QUANTD [MANIFEST]
        The ctest test. Writes the models of make-shapes.py into a temporary
        directory, checks their sha256 against the manifest (a changed
        generator is an error, not a silent new reference), runs
        `QUANTD quantize` for every case of the manifest and compares the
        sha256 of the output with llama.cpp's. Prints a table; exits 1 on any
        mismatch. Known differences (see the manifest) are reported, never
        skipped: their expected bytes are still checked when the manifest has
        them.

    test_shapes.py refresh DRIVER LIBLLAMA [MANIFEST]
        Rewrites the manifest with llama.cpp's outputs, made by
        tests/bench/llama_quantize_driver (DRIVER) calling llama_model_quantize
        from LIBLLAMA. Never runs quantd. Use tests/models/refresh-shapes.sh,
        which builds the driver and checks the library first.

Standard library only.
"""
import concurrent.futures
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = os.path.normpath(os.path.join(HERE, "..", "data", "models", "shapes-manifest.json"))
GENERATOR = os.path.join(HERE, "make-shapes.py")

# quantd --type name -> llama_ftype number
MIXES = [("Q4_0", 2), ("Q4_1", 3), ("Q5_0", 8), ("Q5_1", 9), ("Q8_0", 7), ("Q2_K", 10),
         ("Q3_K_S", 11), ("Q3_K_M", 12), ("Q3_K_L", 13), ("Q4_K_S", 14), ("Q4_K_M", 15),
         ("Q5_K_S", 16), ("Q5_K_M", 17), ("Q6_K", 18), ("IQ4_NL", 25), ("F16", 1), ("BF16", 32)]
FTYPE = dict(MIXES)
# ggml type ids (names as quantd's options take them)
GGML = {"f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q5_0": 6, "q5_1": 7, "q8_0": 8, "q2_k": 10,
        "q3_k": 11, "q4_k": 12, "q5_k": 13, "q6_k": 14, "iq4_nl": 20, "bf16": 30}
TYPE_NAME = {v: k.upper() for k, v in GGML.items()}

# Cases beyond model x mix: llama-quantize's options. (model, mix, options
# in quantd's spelling, known difference or None).
OPTION_CASES = [
    ("llama-gqa4-l12", "Q4_K_M", ["--pure"], None),
    ("llama-gqa4-l12", "Q4_K_M", ["--leave-output-tensor"], None),
    ("qwen2-tied", "Q4_K_M", ["--output-tensor-type", "q8_0"], None),
    ("qwen2-tied", "Q4_K_M", ["--pure", "--output-tensor-type", "q8_0"], None),
    ("llama-gqa8-l8-tied-f16", "Q5_K_M", ["--token-embedding-type", "q8_0"], None),
    # an overridden attn_v does not advance the mix's attn_v counter
    ("llama-gqa4-l12", "Q4_K_M", ["--tensor-type", r"blk\.1\.attn_v=q8_0"], None),
    # the output type option wins over a matching --tensor-type
    ("llama-rows96-bf16", "Q4_K_M",
     ["--output-tensor-type", "q8_0", "--tensor-type", "output|ffn_up=q5_0"], None),
    ("llama-gqa4-l12", "Q3_K_M",
     ["--tensor-type", r"blk\.0\.ffn_down=q6_k", "--tensor-type", "attn_v=q5_k"], None),
    ("llama-gqa4-l12", "F16", ["--tensor-type", "ffn_up=q8_0"],
     "quantd applies --tensor-type to F16 and BF16 targets too (docs/design.md, type "
     "selection); llama.cpp ignores overrides unless the target type is quantized, so its "
     "output keeps every ffn_up in F16"),
]


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---- GGUF reading (header only) --------------------------------------------

def gguf_header(b):
    """(scalar KVs, [(name, dims, type, offset, position of the offset field)],
    end of the tensor infos, data start, alignment) of a GGUF file's bytes."""
    assert b[:4] == b"GGUF", "not a GGUF file"
    _, n_t, n_kv = struct.unpack_from("<IQQ", b, 4)
    p = 24
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    fmts = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q",
            11: "<q", 12: "<d"}

    def skip(p, t):
        if t == 8:
            return p + 8 + struct.unpack_from("<Q", b, p)[0]
        if t == 9:
            et, n = struct.unpack_from("<IQ", b, p)
            p += 12
            if et in sizes:
                return p + n * sizes[et]
            for _ in range(n):
                p = skip(p, et)
            return p
        return p + sizes[t]

    kv = {}
    for _ in range(n_kv):
        (kl,) = struct.unpack_from("<Q", b, p)
        key = b[p + 8:p + 8 + kl].decode()
        p += 8 + kl
        (t,) = struct.unpack_from("<I", b, p)
        if t in fmts:
            kv[key] = struct.unpack_from(fmts[t], b, p + 4)[0]
        elif t == 8:
            (sl,) = struct.unpack_from("<Q", b, p + 4)
            kv[key] = b[p + 12:p + 12 + sl].decode(errors="replace")
        p = skip(p + 4, t)
    tensors = []
    for _ in range(n_t):
        (nl,) = struct.unpack_from("<Q", b, p)
        name = b[p + 8:p + 8 + nl].decode()
        p += 8 + nl
        (nd,) = struct.unpack_from("<I", b, p)
        dims = struct.unpack_from("<%dQ" % nd, b, p + 4)
        p += 4 + 8 * nd
        t, off = struct.unpack_from("<IQ", b, p)
        tensors.append((name, dims, t, off, p + 4))
        p += 12
    align = kv.get("general.alignment", 32)
    return kv, tensors, p, (p + align - 1) // align * align, align


def summary(path):
    """header sha256 and type histogram of a GGUF file."""
    with open(path, "rb") as f:
        b = f.read()
    _, tensors, _, start, _ = gguf_header(b)
    hist = {}
    for _, _, t, _, _ in tensors:
        n = TYPE_NAME.get(t, str(t))
        hist[n] = hist.get(n, 0) + 1
    return hashlib.sha256(b[:start]).hexdigest(), dict(sorted(hist.items()))


# ---- check ---------------------------------------------------------------

def generate(outdir, names):
    subprocess.run([sys.executable, GENERATOR, outdir] + names, check=True)


def case_label(c):
    return c["type"] + ("" if not c["options"] else " " + " ".join(c["options"]))


def check(quantd, manifest_path):
    with open(manifest_path) as f:
        man = json.load(f)
    t0 = time.monotonic()
    failures, known, rows = [], {}, {}
    with tempfile.TemporaryDirectory(prefix="qd-shapes-") as tmp:
        models = {m["name"]: m for m in man["models"]}
        generate(tmp, list(models))
        for name, m in models.items():
            got = sha256_file(os.path.join(tmp, name + ".gguf"))
            if got != m["sha256"]:
                failures.append("%s: generated input sha256 %s, manifest %s (the generator "
                                "changed: run tests/models/refresh-shapes.sh)"
                                % (name, got, m["sha256"]))
        if failures:
            print("\n".join(failures))
            return 1

        def run(i):
            """Run quantd on case i: (returncode, stderr, sha256, header sha, types)."""
            c = man["cases"][i]
            inp = os.path.join(tmp, c["model"] + ".gguf")
            out = os.path.join(tmp, "out%d.gguf" % i)
            cmd = [quantd, "quantize", "-q", "-j", "2", "--type", c["type"]] + c["options"]
            r = subprocess.run(cmd + [inp, out], capture_output=True, text=True)
            if r.returncode != 0:
                return r.returncode, r.stderr.strip(), None, None, None
            got = sha256_file(out)
            hdr, hist = summary(out)
            os.remove(out)
            return 0, "", got, hdr, hist

        # two at a time: much of a run is process start-up and fsync
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(run, range(len(man["cases"]))))
        for c, (rc, stderr, got, hdr, hist) in zip(man["cases"], results):
            want = c.get("expected_sha256", c["sha256"])
            known_diff = c.get("known_difference")
            status, why = "ok", ""
            if rc != 0:
                status, why = "FAIL", "quantd exit %d: %s" % (rc, stderr)
            else:
                if known_diff:
                    # expected bytes known: they must match; else any other
                    # output is the documented difference, and llama.cpp's
                    # own bytes mean the difference is gone
                    if got == c["sha256"] and "expected_sha256" not in c:
                        status = "ok*"
                    elif got == want or "expected_sha256" not in c:
                        status = "known"
                    else:
                        status = "FAIL"
                elif got != want:
                    status = "FAIL"
                if status == "FAIL":
                    if hist != c["types"]:
                        why = "tensor types: llama.cpp %s, quantd %s" % (c["types"], hist)
                    elif hdr != c.get("expected_header_sha256", c["header_sha256"]):
                        why = "same types, header differs (metadata, order or offsets)"
                    else:
                        why = "same header, tensor data differs"
            if known_diff:
                known.setdefault(known_diff, []).append((c, status))
            if status == "FAIL":
                failures.append("%s %s: %s" % (c["model"], case_label(c), why))
            if not c["options"]:
                rows.setdefault(c["model"], {})[c["type"]] = status
            else:
                rows.setdefault((c["model"], tuple(c["options"])), {})[c["type"]] = status
    # the table
    mixes = [m for m, _ in MIXES]
    w = max(len(r) if isinstance(r, str) else 0 for r in rows) + 2
    print("%-*s %s" % (w, "model", " ".join("%-6s" % m for m in mixes)))
    for r, cells in rows.items():
        if isinstance(r, str):
            print("%-*s %s" % (w, r, " ".join("%-6s" % cells.get(m, "-") for m in mixes)))
    print("\noptions:")
    for r, cells in rows.items():
        if not isinstance(r, str):
            for mix, s in cells.items():
                print("  %-5s %s %s %s" % (s, r[0], mix, " ".join(r[1])))
    n = len(man["cases"])
    n_known = sum(len(v) for v in known.values())
    if known:
        print("\nknown differences from llama.cpp (reported, not failures):")
        for reason, cs in known.items():
            print("  - " + reason)
            for c, st in cs:
                what = {"known": "as expected" + (", matches the expected bytes"
                                                  if "expected_sha256" in c else ""),
                        "ok*": "now identical to llama.cpp: drop the known_difference",
                        "FAIL": "FAILED"}[st]
                print("      %-26s %-40s %s" % (c["model"], case_label(c), what))
    print("\n%d cases, %d failed, %d known differences; %.1f s"
          % (n, len(failures), n_known, time.monotonic() - t0))
    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures))
        return 1
    return 0


# ---- refresh ---------------------------------------------------------------

# (elements, bytes) per block of the ggml types the cases produce
BLOCK = {0: (1, 4), 1: (1, 2), 30: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24),
         8: (32, 34), 10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176),
         14: (256, 210), 20: (32, 18)}


def tensor_nbytes(dims, t):
    n = 1
    for d in dims:
        n *= d
    return n // BLOCK[t][0] * BLOCK[t][1]


def realign(src, dst):
    """llama.cpp's quantizer pads tensor data to 32 bytes whatever the
    input's general.alignment (which it copies). Write the file it means:
    the same header bytes with each tensor's offset moved to a multiple of
    the declared alignment, the same tensor bytes there, zero padding."""
    with open(src, "rb") as f:
        b = f.read()
    _, tensors, infos_end, _, align = gguf_header(b)
    old_start = (infos_end + 31) // 32 * 32
    head, data = bytearray(b[:infos_end]), bytearray()
    for _, dims, t, off, pos in tensors:
        size = tensor_nbytes(dims, t)
        struct.pack_into("<Q", head, pos, len(data))
        data += b[old_start + off:old_start + off + size]
        data += bytes((align - size % align) % align)
    head += bytes((align - len(head) % align) % align)
    with open(dst, "wb") as f:
        f.write(bytes(head) + bytes(data))


def misaligned(path):
    """The declared alignment if some tensor offset breaks it, else 0."""
    with open(path, "rb") as f:
        _, tensors, _, _, align = gguf_header(f.read())
    return align if any(t[3] % align for t in tensors) else 0


def refresh(driver, libllama, manifest_path):
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.dirname(os.path.abspath(libllama)))
    with tempfile.TemporaryDirectory(prefix="qd-shapes-ref-") as tmp:
        names = subprocess.run([sys.executable, GENERATOR, "--list"], check=True,
                               capture_output=True, text=True).stdout.split()
        generate(tmp, names)
        models = []
        for n in names:
            p = os.path.join(tmp, n + ".gguf")
            with open(p, "rb") as f:
                kv, tensors, _, _, _ = gguf_header(f.read())
            models.append({"name": n, "bytes": os.path.getsize(p), "sha256": sha256_file(p),
                           "architecture": kv["general.architecture"],
                           "source_type": TYPE_NAME[max(t[2] for t in tensors)],
                           "tensors": len(tensors)})
        cases = [(n, mix, [], None) for n in names for mix, _ in MIXES] + OPTION_CASES
        out_cases = []
        for n, mix, opts, known in cases:
            out = os.path.join(tmp, "ref.gguf")
            lopts, i = [], 0
            while i < len(opts):  # quantd's spelling -> the driver's (ggml type numbers)
                o = opts[i]
                if o in ("--pure", "--leave-output-tensor"):
                    lopts.append(o)
                elif o in ("--output-tensor-type", "--token-embedding-type"):
                    lopts += [o, str(GGML[opts[i + 1]])]
                    i += 1
                elif o == "--tensor-type":
                    pat, ty = opts[i + 1].rsplit("=", 1)
                    lopts += [o, "%s=%d" % (pat, GGML[ty])]
                    i += 1
                else:
                    raise SystemExit("no driver spelling for option " + o)
                i += 1
            cmd = [driver, libllama, os.path.join(tmp, n + ".gguf"), out, str(FTYPE[mix]), "2"]
            r = subprocess.run(cmd + lopts, env=env, capture_output=True, text=True)
            if r.returncode != 0:
                raise SystemExit("llama.cpp failed on %s %s %s: %s"
                                 % (n, mix, " ".join(opts), r.stderr.strip()))
            hdr, hist = summary(out)
            c = {"model": n, "type": mix, "options": opts, "bytes": os.path.getsize(out),
                 "sha256": sha256_file(out), "header_sha256": hdr, "types": hist}
            if known:
                c["known_difference"] = known
            align = misaligned(out)
            if align:
                fixed = os.path.join(tmp, "fixed.gguf")
                realign(out, fixed)
                c["known_difference"] = (
                    "llama.cpp pads tensor data to 32 bytes although the input declares "
                    "general.alignment %d, so its offsets break the alignment its header "
                    "declares and llama.cpp cannot load its own output ('tensor ... has "
                    "offset X, expected Y'); quantd lays the data out at %d. Expected: "
                    "llama.cpp's output with the same header and bytes, the tensor data "
                    "moved to %d-byte offsets" % (align, align, align))
                c["expected_sha256"] = sha256_file(fixed)
                c["expected_header_sha256"] = summary(fixed)[0]
                c["expected_bytes"] = os.path.getsize(fixed)
            out_cases.append(c)
            print("%-24s %-7s %-40s %s" % (n, mix, " ".join(opts)[:40], c["sha256"][:16]),
                  flush=True)
    man = {
        "description": "Synthetic models written by tests/models/make-shapes.py and the sha256 "
                       "of llama.cpp's quantizer output for each (model, type, options) case; "
                       "tests/models/test_shapes.py checks quantd against them. Every hash here "
                       "comes from llama.cpp (llama_model_quantize through "
                       "tests/bench/llama_quantize_driver), never from quantd.",
        "reference": REFERENCE,
        "threads": 2,
        "models": models,
        "cases": out_cases,
    }
    with open(manifest_path, "w") as f:
        json.dump(man, f, indent=1)
        f.write("\n")
    print("wrote %s: %d models, %d cases" % (manifest_path, len(models), len(out_cases)))
    return 0


REFERENCE = json.loads(os.environ.get("QD_SHAPES_REFERENCE", "{}") or "{}")


def main(argv):
    if len(argv) >= 3 and argv[1] == "check":
        return check(argv[2], argv[3] if len(argv) > 3 else MANIFEST)
    if len(argv) >= 4 and argv[1] == "refresh":
        return refresh(argv[2], argv[3], argv[4] if len(argv) > 4 else MANIFEST)
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
