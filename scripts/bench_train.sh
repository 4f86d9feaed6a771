#!/usr/bin/env bash
# Training-step benchmark: srnas vs the same MSRResNet step in /usr/bin/python3 PyTorch,
# interleaved in one run (so drifts in machine load hit both), plus the loader overhead
# (srnas with its real background loader vs one pre-made batch).
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
cmake --build build -j"$(nproc)" --target srnas >/dev/null
OUT="$(mktemp)"; trap 'rm -f "$OUT"' EXIT
common=(--batch "$BATCH" --patch "$PATCH" --steps "$STEPS")
for r in $(seq 1 "$ROUNDS"); do
  echo "[bench] round $r/$ROUNDS"
  build/srnas --threads "$THREADS" bench train --data data/samples "${common[@]}" --loader fixed | tee -a "$OUT"
  /usr/bin/python3 scripts/bench_train.py "${common[@]}" --threads "$THREADS" | tee -a "$OUT"
  build/srnas --threads "$THREADS" bench train --data data/samples "${common[@]}" --loader real | tee -a "$OUT"
done
/usr/bin/python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
def med(impl, loader=None):
    v = [r["steps_per_s"] for r in rows if r["impl"] == impl and (loader is None or r.get("loader") == loader)]
    return statistics.median(v), len(v)
fixed, n = med("srnas", "fixed"); real, _ = med("srnas", "real"); py, _ = med("python")
print(f"\nmsrresnet, batch {rows[0]['batch']}, LR patch {rows[0]['patch']}, threads {rows[0]['threads']}, medians of {n} interleaved rounds")
print(f"  srnas (pre-made batch) {fixed:.3f} steps/s   ({1/fixed:.3f} s/step)")
print(f"  srnas (real loader)    {real:.3f} steps/s   ({1/real:.3f} s/step)")
print(f"  python torch           {py:.3f} steps/s   ({1/py:.3f} s/step)")
print(f"  ratio srnas/python (pre-made batch): {fixed/py:.3f}")
print(f"  ratio srnas/python (real loader):    {real/py:.3f}")
print(f"  loader overhead: {100*(1 - real/fixed):.1f}%")
PY
