#!/bin/sh
# Regenerate tests/data/models/shapes-manifest.json with llama.cpp's quantizer.
#
#   tests/models/refresh-shapes.sh [LIBLLAMA.so]
#
# Needs network once, for the reference library; the ctest test
# (tests/models/test_shapes.py check, registered as test_shapes) does not.
# The manifest in the repository was made with the prebuilt libllama of the
# npm package @node-llama-cpp/linux-x64 3.22.1 (node-llama-cpp's build of
# ggml-org/llama.cpp, its _nlcBuildMetadata.json says release "v0.5.0";
# file bins/linux-x64/libllama.v0.5.0.so), installed with
#
#   npm install --prefix /tmp/llamanpm @node-llama-cpp/linux-x64@3.22.1
#
# which is also the default LIBLLAMA below. Steps:
#   1. build tests/bench/llama_quantize_driver.c (dlopen()s the library and
#      calls llama_model_quantize; nothing of llama.cpp is needed to build it)
#   2. check that the library reproduces the sha256 of llama-quantize's
#      outputs of the tiny model in tests/data/models/manifest.json (Q4_0,
#      Q8_0, Q4_K_M): another llama.cpp version is refused, since its rules
#      may differ from the ones quantd follows
#   3. write the models of tests/models/make-shapes.py into a temporary
#      directory and run the library on every (model, type, options) case of
#      tests/models/test_shapes.py (2 threads; the output does not depend on
#      it), recording sha256, size, header sha256 and tensor type counts.
# quantd is never run here: every hash in the manifest is llama.cpp's.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
lib=${1:-/tmp/llamanpm/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libllama.v0.5.0.so}
[ -f "$lib" ] || { echo "no $lib (see the comment at the top of $0)" >&2; exit 2; }
libdir=$(cd "$(dirname "$lib")" && pwd)
lib=$libdir/$(basename "$lib")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -O2 -o "$tmp/driver" "$root/tests/bench/llama_quantize_driver.c" -ldl

# 2. the library must be the reference's
python3 - "$root/tests/data/models/manifest.json" > "$tmp/expect" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
ft = {"q4_0": 2, "q8_0": 7, "q4_k_m": 15}
sha = {f["name"]: f["sha256"] for f in m["files"]}
for c in m["checks"]:
    print(ft[c["type"]], sha[c["reference"]])
EOF
while read -r ftype want; do
    LD_LIBRARY_PATH=$libdir "$tmp/driver" "$lib" "$root/tests/data/models/tiny-llama-f32.gguf" \
        "$tmp/tiny.gguf" "$ftype" 2 >/dev/null
    got=$(sha256sum "$tmp/tiny.gguf" | cut -d' ' -f1)
    if [ "$got" != "$want" ]; then
        echo "$lib does not reproduce llama-quantize's ftype $ftype output of the tiny model" >&2
        echo "(got $got, manifest.json has $want): not the reference llama.cpp" >&2
        exit 1
    fi
done < "$tmp/expect"
echo "$lib reproduces tests/data/models/manifest.json"

# 3. the reference's description, then the cases
pkg=$libdir/../../package.json
meta=$libdir/_nlcBuildMetadata.json
QD_SHAPES_REFERENCE=$(python3 - "$lib" "$pkg" "$meta" <<'EOF'
import hashlib, json, os, sys
lib, pkg, meta = sys.argv[1:]
ref = {"library": os.path.basename(lib),
       "library_sha256": hashlib.sha256(open(lib, "rb").read()).hexdigest(),
       "driver": "tests/bench/llama_quantize_driver.c"}
if os.path.exists(pkg):
    p = json.load(open(pkg))
    ref["npm_package"] = "%s@%s" % (p.get("name"), p.get("version"))
if os.path.exists(meta):
    b = json.load(open(meta)).get("buildOptions", {}).get("llamaCpp", {})
    ref["llama_cpp"] = "%s release %s (node-llama-cpp's build)" % (b.get("repo"), b.get("release"))
print(json.dumps(ref))
EOF
)
export QD_SHAPES_REFERENCE
python3 "$here/test_shapes.py" refresh "$tmp/driver" "$lib"
