#!/usr/bin/env bash
# The demo (README): install what is missing, build Release, fetch the sample photos, run the
# quickstart search, print its Pareto front and tracks, export the Track 1 winner.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
"$ROOT/scripts/setup.sh"
JOBS="${JOBS:-$(nproc)}"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$JOBS" --target srnas
S=build/srnas
echo; echo "== reference architectures"; $S arch list
echo; echo "== MSRResNet, per layer (MACs at a 339x510 LR input)"; $S arch show msrresnet | tail -4

# The quickstart search: MSRResNet baseline + 8 candidates on the sample photos (a few
# minutes on 2 cores). Re-running continues the same study (--resume) instead of redoing it.
mkdir -p out
DB=out/quickstart.db
echo; echo "== search (configs/search/quickstart.yaml -> $DB)"
$S search --config configs/search/quickstart.yaml --db "$DB" --resume
echo; echo "== Pareto front (PSNR, params, runtime)"; $S pareto --db "$DB"
echo; echo "== tracks"; $S tracks --db "$DB"
echo; echo "== export the Track 1 winner"
if $S export --db "$DB" --track 1 --out out/track1; then
  if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    /usr/bin/python3 scripts/check_export.py out/track1/model.pt
    /usr/bin/python3 out/track1/model.py   # the same network as plain PyTorch source
  fi
  echo; echo "== upscale a validation photo with it (out/track1_x4/)"
  mkdir -p out/track1_in && cp data/samples/val/chelsea.png out/track1_in/
  $S upscale --model out/track1 --in out/track1_in --out out/track1_x4
else
  echo "(no trial beat the baseline in Track 1 this time; exporting the best of Track 3 instead)"
  $S export --db "$DB" --track 3 --out out/track3 || true
fi
echo; echo "== report: plots + one HTML page"
$S report --db "$DB" --out out/report
