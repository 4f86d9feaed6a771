#!/usr/bin/env bash
# The demo (README): install what is missing, build Release, fetch the sample photos,
# then show the reference architectures and a few genomes of each search space.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
"$ROOT/scripts/setup.sh"
JOBS="${JOBS:-$(nproc)}"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$JOBS" --target srnas
S=build/srnas
echo; echo "== reference architectures"; $S arch list
echo; echo "== MSRResNet, per layer (MACs at a 339x510 LR input)"; $S arch show msrresnet
for space in krahaon neptuneai unified; do
  echo; echo "== space $space"; $S space show "$space"
  echo "-- 3 genomes (seed 1):"
  $S space sample --space "$space" --n 3 --seed 1 > "build/demo_${space}.jsonl"
  i=0
  while IFS= read -r line; do
    i=$((i + 1)); f="build/demo_${space}_${i}.json"; printf '%s\n' "$line" > "$f"
    printf '   #%d  ' "$i"; $S arch show "$f" | tail -1
  done < "build/demo_${space}.jsonl"
done
echo; echo "== sample photos: data/samples (see docs/data.md)"
ls data/samples/train data/samples/val 2>/dev/null | head -40
