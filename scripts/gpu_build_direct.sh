#!/usr/bin/env bash
# Fallback for scripts/gpu_check.sh when cmake is missing or cannot configure against the
# machine's CUDA LibTorch: builds the lean GPU set (what -DSRNAS_LEAN_GPU=ON builds) and
# srnas_gpu_check with one compiler call per source (in parallel) and one link, taking
# every path from python3's torch (torch.utils.cpp_extension) and the nvidia wheels.
# Output: build-gpu-direct/srnas_gpu_check.   Usage: scripts/gpu_build_direct.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"; CXX="${CXX:-g++}"
B="$ROOT/build-gpu-direct"; mkdir -p "$B/obj"
"$PY" -c 'import torch' 2>/dev/null || { echo "gpu_build_direct: $PY has no torch (set PYTHON=...)"; exit 1; }
# shellcheck disable=SC2054  # the commas below belong to linker flags
eval "$("$PY" - <<'PY'
import glob, os, shlex, torch, torch.utils.cpp_extension as ce
site = os.path.dirname(os.path.dirname(torch.__file__))
inc = [p for p in ce.include_paths() if os.path.isdir(p)]
cuda = torch.version.cuda is not None
cuda_inc = [d for d in ["/usr/local/cuda/include"] + glob.glob(os.path.join(site, "nvidia", "**", "include"), recursive=True)
            if os.path.isdir(d)] if cuda else []
def first(pats):
    for p in pats:
        hits = sorted(glob.glob(p, recursive=True))
        if hits: return hits[0]
    return ""
cudart = first(["/usr/local/cuda/lib64/libcudart.so", os.path.join(site, "nvidia", "**", "libcudart.so*")]) if cuda else ""
nccl = first(["/usr/local/cuda/lib64/libnccl.so*", "/usr/lib/x86_64-linux-gnu/libnccl.so*",
              os.path.join(site, "nvidia", "**", "libnccl.so*")]) if cuda else ""
nccl_h = first([os.path.join(d, "nccl.h") for d in cuda_inc] + ["/usr/include/nccl.h"]) if cuda else ""
print("TORCH_INC=" + shlex.quote(" ".join("-isystem " + p for p in inc + cuda_inc)))
print("TORCH_LIB=" + shlex.quote(ce.library_paths()[0]))
print("ABI=%d" % int(torch._C._GLIBCXX_USE_CXX11_ABI))
print("CUDA=%d" % int(cuda))
print("CUDART=" + shlex.quote(cudart)); print("NCCL=" + shlex.quote(nccl)); print("NCCL_H=" + shlex.quote(nccl_h))
PY
)"
X="$ROOT/.gpu_extras/usr"
YAML_A="$(ls "$X"/lib/x86_64-linux-gnu/libyaml-cpp.a /usr/lib/x86_64-linux-gnu/libyaml-cpp.a 2>/dev/null | head -1 || true)"
[ -n "$YAML_A" ] || { echo "gpu_build_direct: no libyaml-cpp.a (run scripts/gpu_extras.sh on Debian and carry .gpu_extras)"; exit 1; }

# configs/archs and configs/spaces embedded as search_space/CMakeLists.txt does.
"$PY" - "$ROOT" "$B/embedded_configs.cpp" <<'PY'
import glob, os, sys
root, out = sys.argv[1], sys.argv[2]
files = sorted(glob.glob(os.path.join(root, "configs/archs/*.json")) + glob.glob(os.path.join(root, "configs/spaces/*.yaml")))
with open(out, "w") as f:
    f.write("#include <map>\n#include <string>\nnamespace srnas::embedded {\nconst std::map<std::string, std::string>& files() {\n  static const std::map<std::string, std::string> m = {\n")
    for p in files:
        f.write('    {"%s", R"srnas_embed(%s)srnas_embed"},\n' % (os.path.relpath(p, os.path.join(root, "configs")), open(p).read()))
    f.write("  };\n  return m;\n}\n}  // namespace srnas::embedded\n")
PY

SRC=(search_space/genome.cpp search_space/accounting.cpp search_space/space.cpp search_space/registry.cpp
     search_space/yaml_json.cpp search_space/text_file.cpp search_space/cpu_load.cpp search_space/blocks.cpp search_space/builder.cpp search_space/weights.cpp
     search_space/runtime.cpp trainer/image.cpp trainer/matlab_resize.cpp trainer/metrics.cpp trainer/dataset.cpp
     trainer/image_store.cpp trainer/loader.cpp trainer/options.cpp trainer/perf.cpp trainer/reparam.cpp trainer/train.cpp
     trainer/evaluate.cpp
     distributed/buckets.cpp tests/gpu/gpu_check.cpp "$B/embedded_configs.cpp")
DEFS="-DSRNAS_NO_OPENCV=1 -DFMT_HEADER_ONLY=1 -D_GLIBCXX_USE_CXX11_ABI=$ABI"
# shellcheck disable=SC2054
LIBS=(-L"$TORCH_LIB" -Wl,-rpath,"$TORCH_LIB")
# shellcheck disable=SC2054
if [ "$CUDA" = 1 ]; then
  SRC+=(trainer/cuda_timing.cpp); DEFS="$DEFS -DSRNAS_TORCH_CUDA=1"
  LIBS+=(-Wl,--no-as-needed -ltorch_cuda -lc10_cuda -Wl,--as-needed)
  [ -n "$CUDART" ] && LIBS+=("$CUDART" -Wl,-rpath,"$(dirname "$CUDART")")
  if [ -n "$NCCL" ] && [ -n "$NCCL_H" ]; then
    SRC+=(distributed/reducers_nccl.cpp); DEFS="$DEFS -DSRNAS_WITH_NCCL=1"
    LIBS+=("$NCCL" -Wl,-rpath,"$(dirname "$NCCL")")
  fi
fi
LIBS+=(-ltorch -ltorch_cpu -lc10 "$YAML_A" -lpthread -ldl)
export CXX DEFS TORCH_INC ROOT B X
echo "gpu_build_direct: ${#SRC[@]} sources, CUDA=$CUDA, NCCL=${NCCL:-none}, $CXX -j$(nproc)"
printf '%s\n' "${SRC[@]}" | xargs -P "$(nproc)" -I{} sh -c \
  'o="$B/obj/$(echo "{}" | tr / _).o"; $CXX -std=c++17 -O2 -fPIC $DEFS -I"$ROOT" -I"$X/include" $TORCH_INC -c "{}" -o "$o" || exit 255'
"$CXX" "$B"/obj/*.o -o "$B/srnas_gpu_check" "${LIBS[@]}"
echo "gpu_build_direct: built $B/srnas_gpu_check"
