#!/usr/bin/env bash
# GPU check (issues 5 and 6): on a machine with an NVIDIA GPU and python3's CUDA torch,
#   1. prints what is there (GPU, torch, CUDA toolkit, NCCL, cmake, compiler, MPI);
#   2. builds srnas in lean GPU mode (-DSRNAS_LEAN_GPU=ON) against that CUDA LibTorch, with
#      NCCL from the CUDA toolkit or the nvidia wheel, and header-only libraries and yaml-cpp
#      from .gpu_extras/ (made on a Debian machine by scripts/gpu_extras.sh) if not installed;
#      without cmake, or if it fails, scripts/gpu_build_direct.sh builds the same set;
#   3. runs srnas_gpu_check (tests/gpu/gpu_check.cpp: NCCL all-reduce with one rank, a CUDA
#      training step vs CPU, runtime with CUDA events per precision, step rates, GEMM rate
#      and MSRResNet's floor);
#   4. runs the same MSRResNet step in plain PyTorch-Python (scripts/bench_train.py) with
#      srnas's settings, fp32 and bf16, and prints srnas's step rates against it.
# Results: $OUT (default build-gpu/out): gpu_check.txt, gpu_check.jsonl, python.json, env.txt.
# Usage: scripts/gpu_check.sh [--quick]
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1
QUICK=""; [ "${1:-}" = "--quick" ] && QUICK="--quick"
OUT="${OUT:-$ROOT/build-gpu/out}"; mkdir -p "$OUT"
PY="${PYTHON:-python3}"
say() { echo "[gpu_check] $*"; }

# 1. What is there.
{
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | sed 's/^/gpu: /' \
    || echo "gpu: nvidia-smi not found"
  "$PY" - <<'PY' 2>&1
import glob, os, torch
print("torch:", torch.__version__, "cuda:", torch.version.cuda, "available:", torch.cuda.is_available(),
      "cxx11 abi:", torch._C._GLIBCXX_USE_CXX11_ABI)
print("torch cmake prefix:", torch.utils.cmake_prefix_path)
site = os.path.dirname(os.path.dirname(torch.__file__))
for pat in ("nvidia/**/libnccl.so*", "nvidia/**/nccl.h", "nvidia/**/libcudart.so*", "nvidia/**/cuda_runtime_api.h"):
    hits = glob.glob(os.path.join(site, pat), recursive=True)
    print(f"{pat}: {hits[0] if hits else 'none'}")
PY
  for t in cmake ctest g++ c++ nvcc mpirun; do echo "$t: $(command -v $t || echo none)"; done
  echo "libs: $(ldconfig -p 2>/dev/null | grep -oE 'lib(nccl|sqlite3|mpi|tcmalloc_minimal|yaml-cpp|fmt)\.so[.0-9]*' | sort -u | tr '\n' ' ')"
  echo "cores: $(nproc)"
} | tee "$OUT/env.txt"

# 2. Build.
if [ "$("$PY" -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))' 2>/dev/null)" = 0 ]; then
  say "warning: this torch uses the pre-C++11 string ABI (pip wheels before 2.7): srnas's plain-C++ libraries and"
  say "  Debian's yaml-cpp use the new one, so the link will likely fail; use torch >= 2.7"
fi
TORCH_PREFIX="$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)')" || { say "python3 has no torch"; exit 1; }
SITE="$("$PY" -c 'import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))')"
NCCL_H="$(find "$SITE/nvidia" -name nccl.h 2>/dev/null | head -1)"
PREFIX="$TORCH_PREFIX"
[ -d "$ROOT/.gpu_extras/usr" ] && PREFIX="$PREFIX;$ROOT/.gpu_extras/usr;$ROOT/.gpu_extras/usr/lib/x86_64-linux-gnu/cmake"
args=(-DSRNAS_LEAN_GPU=ON -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=$PREFIX")
[ -n "$NCCL_H" ] && args+=("-DSRNAS_NCCL_HINT=$(dirname "$(dirname "$NCCL_H")")")
[ -d /usr/local/cuda ] && args+=(-DCUDAToolkit_ROOT=/usr/local/cuda)
BIN=""
if command -v cmake >/dev/null; then
  say "configure: cmake -S . -B build-gpu ${args[*]}"
  if cmake -S . -B build-gpu "${args[@]}" > "$OUT/configure.log" 2>&1; then
    grep -E "srnas:" "$OUT/configure.log"
    say "build (srnas_gpu_check)"
    if cmake --build build-gpu -j"$(nproc)" --target srnas_gpu_check > "$OUT/build.log" 2>&1; then
      BIN=build-gpu/tests/gpu/srnas_gpu_check
    else
      grep -E "error|Error" "$OUT/build.log" | head -30; say "cmake build failed"
    fi
  else
    tail -30 "$OUT/configure.log"; say "cmake configure failed"
  fi
else
  say "no cmake on this machine"
fi
if [ -z "$BIN" ]; then
  say "falling back to scripts/gpu_build_direct.sh (one compiler call per source)"
  PYTHON="$PY" scripts/gpu_build_direct.sh > "$OUT/build_direct.log" 2>&1 \
    || { tail -30 "$OUT/build_direct.log"; say "direct build failed"; exit 1; }
  BIN=build-gpu-direct/srnas_gpu_check
fi

# 3. The GPU checks (line-buffered, each JSON row written as measured; bounded, so that a hang
# leaves time for the rest and the files come back).
say "running $BIN $QUICK"
# (The device's commands end after 600 s: the build, 300 s here and 2 x 60 s of Python fit.)
limit() {  # SECONDS COMMAND...: COMMAND under timeout (SIGKILL 10 s after SIGTERM) where there is one
  local s="$1"; shift
  if command -v timeout >/dev/null; then timeout -k 10 "$s" "$@"; else "$@"; fi
}
limit "${GPU_CHECK_LIMIT_S:-300}" "$BIN" $QUICK --json "$OUT/gpu_check.jsonl" | tee "$OUT/gpu_check.txt"
rc=${PIPESTATUS[0]}
[ "$rc" = 77 ] && { say "no usable CUDA device: GPU checks skipped"; exit 77; }
[ "$rc" = 124 ] && say "srnas_gpu_check ran past ${GPU_CHECK_LIMIT_S:-300} s and was stopped: rows so far are kept"

# 4. The same MSRResNet step in plain PyTorch-Python, under srnas's settings (cuDNN benchmark
# on, the loss read once after the timed steps), fp32 and bf16 autocast: like with like.
steps=50; [ -n "$QUICK" ] && steps=10
: > "$OUT/python.json"
for p in fp32 bf16; do
  limit 60 "$PY" scripts/bench_train.py --device cuda --steps "$steps" --warmup 5 --cudnn-benchmark \
    --loss-every-step 0 --precision "$p" | tee -a "$OUT/python.json"
done
"$PY" - "$OUT/gpu_check.jsonl" "$OUT/python.json" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
py = {}
for l in open(sys.argv[2]):
    if l.startswith("{"):
        r = json.loads(l)
        py[r["precision"]] = r["steps_per_s"]
print("\nmsrresnet step rate vs plain PyTorch-Python at the same precision (cuDNN benchmark, loss read at the end):")
for r in rows:
    if r.get("measure") == "train_steps":
        p = r["setting"].split()[0]
        ref = py.get(p)
        print(f"  srnas {r['setting']:<20} {r['steps_per_s']:8.1f} steps/s" +
              (f"  python {p} {ref:8.1f}  {r['steps_per_s'] / ref:5.2f}x" if ref else "  (no python row)"))
PY
exit "$rc"
