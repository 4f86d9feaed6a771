#!/usr/bin/env bash
# The decoded-image store (loader.store, trainer/image_store.h) against decoding into memory,
# in one run, on the sample photos (or DATA's training split):
#   start   seconds to have the training images: memory (decode), mapped cold (decode and
#           write the cache file), mapped warm (map the existing file)
#   shared  PROCS trainings at once on the node (`srnas bench train`, the real loader, one
#           thread each): their summed proportional set size (Pss: a page shared by k processes
#           counts 1/k) and each one's steps/s, memory vs mapped
# Usage: scripts/bench_store.sh [PROCS=2] [STEPS=30] [DATA=data/samples]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PROCS="${1:-2}"; STEPS="${2:-30}"; DATA="${3:-data/samples}"
[ -x build/srnas ] || { echo "bench_store: build/srnas missing (scripts/test.sh builds it)"; exit 1; }
[ "$DATA" != data/samples ] || scripts/fetch_samples.sh >/dev/null
OUT="$(mktemp -d)"; trap 'rm -rf "$OUT"' EXIT
export SRNAS_CACHE="$OUT/cache"
build/srnas space sample --space unified_small --seed 3 > "$OUT/genome.json"
bench() {  # store steps out
  build/srnas --threads 1 bench train --arch "$OUT/genome.json" --data "$DATA" --batch 8 --patch 16 \
    --steps "$2" --warmup 2 --workers 1 --store "$1" 2>/dev/null | tail -1 > "$3"
}
field() { /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
echo "data: $DATA ($(nproc) cores), $PROCS processes, $STEPS steps each, $(build/srnas --version | head -1)"
bench memory 1 "$OUT/mem"; bench mapped 1 "$OUT/cold"; bench mapped 1 "$OUT/warm"
printf "start: %.0f MiB of images; memory %.2f s, mapped cold %.2f s, mapped warm %.3f s (%.0fx faster than memory)\n" \
  "$(field "$OUT/mem" images_mib)" "$(field "$OUT/mem" load_s)" "$(field "$OUT/cold" load_s)" \
  "$(field "$OUT/warm" load_s)" "$(/usr/bin/python3 -c "print($(field "$OUT/mem" load_s) / $(field "$OUT/warm" load_s))")"
for store in memory mapped; do
  for p in $(seq 1 "$PROCS"); do bench "$store" "$STEPS" "$OUT/${store}_$p" & done
  wait
  /usr/bin/python3 - "$OUT" "$store" "$PROCS" <<'PY'
import json, sys
out, store, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rs = [json.load(open(f"{out}/{store}_{p}")) for p in range(1, n + 1)]
pss = sum(r["pss_mib"] for r in rs)
print(f"shared {store:6s}: {n} processes, Pss {pss:7.1f} MiB together (Rss {sum(r['rss_mib'] for r in rs):7.1f}), "
      f"images {rs[0]['images_mib']:.0f} MiB, steps/s " + " ".join(f"{r['steps_per_s']:.2f}" for r in rs))
open(f"{out}/{store}.pss", "w").write(str(pss))
PY
done
/usr/bin/python3 -c "import sys; m=float(open('$OUT/memory.pss').read()); p=float(open('$OUT/mapped.pss').read()); print(f'mapped uses {m/p:.2f}x less memory than memory ({m-p:.0f} MiB saved)')"
