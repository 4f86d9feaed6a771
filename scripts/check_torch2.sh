#!/usr/bin/env bash
# Compile-checks srnas against LibTorch 2.x headers on this Debian 12 machine, whose own
# LibTorch is 1.13: API drift between 1.13 and 2.x (autocast, CUDA events and streams, the
# TorchScript module API, ...) shows up here instead of on a GPU machine's first build.
#
# Fetches Debian trixie's libtorch-dev .deb (headers only; nothing is installed) from
# deb.debian.org into .torch2/ (git-ignored), then runs `g++ -fsyntax-only` on every LibTorch
# translation unit of build/compile_commands.json with those headers first on the include
# path, and once more on the files with CUDA-only code (-DSRNAS_TORCH_CUDA=1, CUDA and NCCL
# headers from /usr/local/cuda). Nothing is linked: it checks the API, not the ABI.
# Needs: a configured build/ (scripts/test.sh or cmake -B build), network access.
# Usage: scripts/check_torch2.sh [SUITE=trixie]        Exit status: 0 when every file compiles.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SUITE="${1:-trixie}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DEST="$ROOT/.torch2"
[ -f build/compile_commands.json ] || { echo "check_torch2: build/compile_commands.json missing (configure build/ first)" >&2; exit 1; }

if [ ! -f "$DEST/$SUITE/ok" ]; then
  rm -rf "${DEST:?}/$SUITE"; mkdir -p "$DEST/$SUITE"
  curl -fsS "$MIRROR/dists/$SUITE/main/binary-amd64/Packages.xz" -o "$DEST/$SUITE/Packages.xz" ||
    { echo "check_torch2: cannot fetch $MIRROR/dists/$SUITE/main/binary-amd64/Packages.xz" >&2; exit 1; }
  file="$(xz -dc "$DEST/$SUITE/Packages.xz" | awk '/^Package: libtorch-dev$/ { p = 1 } p && !done && /^Filename:/ { print $2; done = 1 }')"
  [ -n "$file" ] || { echo "check_torch2: no libtorch-dev in $SUITE" >&2; exit 1; }
  curl -fsS "$MIRROR/$file" -o "$DEST/$SUITE/libtorch-dev.deb"
  dpkg-deb -x "$DEST/$SUITE/libtorch-dev.deb" "$DEST/$SUITE/root"
  # Generated only by CUDA builds of PyTorch; Debian's CPU package lacks it.
  mkdir -p "$DEST/$SUITE/cuda_stub/c10/cuda/impl"
  printf '#pragma once\n#define C10_CUDA_BUILD_SHARED_LIBS\n' > "$DEST/$SUITE/cuda_stub/c10/cuda/impl/cuda_cmake_macros.h"
  rm -f "$DEST/$SUITE/Packages.xz" "$DEST/$SUITE/libtorch-dev.deb"
  touch "$DEST/$SUITE/ok"
fi
INC="$DEST/$SUITE/root/usr/include"
echo "LibTorch headers: $(awk '/define TORCH_VERSION_(MAJOR|MINOR|PATCH)/ { v = v (v == "" ? "" : ".") $3 } END { print v }' \
  "$INC/torch/csrc/api/include/torch/version.h") ($SUITE libtorch-dev)"

/usr/bin/python3 - "$INC" "$DEST/$SUITE/cuda_stub" "$(nproc)" "$ROOT" <<'PY'
import json, shlex, subprocess, sys
from concurrent.futures import ThreadPoolExecutor
inc, stub, cores, root = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
api = inc + "/torch/csrc/api/include"
# Files whose CUDA-only code (#ifdef SRNAS_TORCH_CUDA) is checked a second time.
cuda_files = ("trainer/evaluate.cpp", "trainer/cuda_timing.cpp", "distributed/reducers_nccl.cpp", "tests/gpu/gpu_check.cpp")
entries = json.load(open("build/compile_commands.json"))
def rewrite(command):
    args, out, i = shlex.split(command), [], 0
    while i < len(args):
        a = args[i]
        if a in ("-o", "-c"):
            i += 2 if a == "-o" else 1; continue
        if a == "-include" and args[i + 1].endswith("cmake_pch.hxx"):
            out += ["-include", "torch/torch.h"]; i += 2; continue
        if a.endswith("/torch/csrc/api/include"):
            out += [api, "-isystem", inc]; i += 1; continue
        out.append(a); i += 1
    return out + ["-fsyntax-only"]
jobs, seen, template = [], set(), None
for e in entries:
    f = e["file"]
    if f in seen or "/build" in f or not any(a.endswith("/torch/csrc/api/include") for a in shlex.split(e["command"])):
        continue
    seen.add(f)
    cmd = rewrite(e["command"])
    jobs.append((f, cmd, e["directory"]))
    if f.endswith("distributed/reducers.cpp"): template = (cmd[:-1], e["directory"], f)
if template is None: sys.exit("check_torch2: distributed/reducers.cpp is not in build/compile_commands.json")
for rel in cuda_files:
    base, d, src = template
    cmd = [a for a in base if a != src]
    cmd += ["-DSRNAS_TORCH_CUDA=1", "-DSRNAS_WITH_NCCL=1", "-isystem", stub, "-isystem", "/usr/local/cuda/include",
            "-DSRNAS_BIN=\"\"", "-DSRNAS_SOURCE_DIR=\"\"", "-fsyntax-only", f"{root}/{rel}"]
    jobs.append((rel + " (CUDA)", cmd, d))
def run(job):
    name, cmd, d = job
    p = subprocess.run(cmd, cwd=d, capture_output=True, text=True)
    return name, p.returncode, p.stderr
bad = 0
with ThreadPoolExecutor(cores) as ex:
    for name, rc, err in ex.map(run, jobs):
        print(("ok    " if rc == 0 else "ERROR ") + name, flush=True)
        if rc:
            bad += 1
            print("\n".join([l for l in err.splitlines() if "error" in l][:20]), flush=True)
print(f"{len(jobs) - bad}/{len(jobs)} translation units compile against these headers")
sys.exit(1 if bad else 0)
PY
