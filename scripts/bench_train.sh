#!/usr/bin/env bash
# Training-step benchmark: srnas vs the same MSRResNet step in /usr/bin/python3 PyTorch,
# interleaved in one run (so drifts in machine load hit all), with the before/after of each
# CPU change:
#   allocator   build/srnas_sysalloc (same code, glibc malloc) vs build/srnas (tcmalloc linked);
#               python is run both plain (the reference) and with tcmalloc LD_PRELOADed;
#   channels-last  srnas --channels-last (NHWC weights and activations, oneDNN) vs NCHW;
#   loader      srnas with its real background loader vs one pre-made batch.
# Usage: scripts/bench_train.sh [ROUNDS=3] [STEPS=10]   (env: BATCH=16 PATCH=32 THREADS=nproc)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ROUNDS="${1:-3}"; STEPS="${2:-10}"
BATCH="${BATCH:-16}"; PATCH="${PATCH:-32}"; THREADS="${THREADS:-$(nproc)}"
"$ROOT/scripts/setup.sh"
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "[bench] installing python3-torch (the Python reference)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-torch
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target srnas srnas_sysalloc >/dev/null
TCMALLOC="$(ls /usr/lib/*/libtcmalloc_minimal.so.4 2>/dev/null | head -1)"
OUT="$(mktemp)"; trap 'rm -f "$OUT"' EXIT
common=(--batch "$BATCH" --patch "$PATCH" --steps "$STEPS")
for r in $(seq 1 "$ROUNDS"); do
  echo "[bench] round $r/$ROUNDS"
  build/srnas_sysalloc --threads "$THREADS" bench train --data data/samples "${common[@]}" --loader fixed | tee -a "$OUT"
  /usr/bin/python3 scripts/bench_train.py "${common[@]}" --threads "$THREADS" | tee -a "$OUT"
  build/srnas --threads "$THREADS" bench train --data data/samples "${common[@]}" --loader fixed | tee -a "$OUT"
  LD_PRELOAD="$TCMALLOC" /usr/bin/python3 scripts/bench_train.py "${common[@]}" --threads "$THREADS" --allocator tcmalloc | tee -a "$OUT"
  build/srnas --threads "$THREADS" bench train --data data/samples "${common[@]}" --loader fixed --channels-last | tee -a "$OUT"
  build/srnas --threads "$THREADS" bench train --data data/samples "${common[@]}" --loader real | tee -a "$OUT"
  # Debian's LibTorch starts with one thread: what srnas's set_num_threads(all cores) buys.
  [ "$THREADS" -gt 1 ] && build/srnas --threads 1 bench train --data data/samples "${common[@]}" --loader fixed | tee -a "$OUT"
done
/usr/bin/python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
threads = rows[0]["threads"]
def med(impl, allocator, loader="fixed", cl=False, t=None):
    v = [r["steps_per_s"] for r in rows if r["impl"] == impl and r["allocator"] == allocator
         and r.get("loader", "fixed") == loader and r.get("channels_last", False) == cl
         and r["threads"] == (threads if t is None else t)]
    return (statistics.median(v) if v else float("nan")), len(v)
sys_, n = med("srnas", "glibc"); tc, _ = med("srnas", "tcmalloc"); cl, _ = med("srnas", "tcmalloc", cl=True)
real, _ = med("srnas", "tcmalloc", "real"); py, _ = med("python", "glibc"); pytc, _ = med("python", "tcmalloc")
r0 = rows[0]
print(f"\nmsrresnet, batch {r0['batch']}, LR patch {r0['patch']}, threads {r0['threads']}, medians of {n} interleaved rounds")
for name, v in [("python torch, glibc malloc (reference)", py), ("python torch, tcmalloc LD_PRELOAD", pytc),
                ("srnas, glibc malloc (before)", sys_), ("srnas, tcmalloc (default build)", tc),
                ("srnas, tcmalloc, channels-last", cl), ("srnas, tcmalloc, real loader", real)]:
    print(f"  {name:<40} {v:.3f} steps/s  ({1/v:.3f} s/step)  {v/py:.3f}x python")
print(f"  allocator   srnas tcmalloc / glibc:          {tc/sys_:.3f}x")
print(f"  channels-last / NCHW:                        {cl/tc:.3f}x")
print(f"  srnas / python, same allocator (tcmalloc):   {tc/pytc:.3f}x")
print(f"  srnas default build / python reference:      {real/py:.3f}x (real loader)")
print(f"  loader overhead (real vs pre-made batch):    {100*(1 - real/tc):.1f}%")
one, n1 = med("srnas", "tcmalloc", t=1)
if n1 and threads > 1:
    print(f"  {threads} threads / 1 thread (LibTorch's start): {tc/one:.3f}x")
PY
