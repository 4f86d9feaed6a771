#!/usr/bin/env bash
# Two trainings on one node (`srnas bench train`: the same genome, batch and fixed batch, so
# only the threads differ), in one run:
#   alone         one training on every core (what `srnas train` / `srnas search` use)
#   pair, all     two at once, every core each: their threads add up to 2x the cores
#   pair, split   two at once, cores/2 each (--threads): what the oversubscription warning asks
# Prints steps/s and each pair's combined steps/s over alone's. LibTorch's OpenMP teams fork
# and join at every operator; oversubscribed, each join waits for a descheduled thread, and a
# tiny network (thousands of operators per step) stalls.
# The stall is bimodal (a pair sometimes runs at half speed, sometimes 100x slower), so the
# three runs repeat ROUNDS times and the summary gives each row's median, min and max.
# Usage: [ROUNDS=3] scripts/bench_oversubscribe.sh [STEPS=300] [ARCH=sampled] [BATCH=8] [PATCH=16]
#   ARCH: a registry name or genome JSON; default: unified_small's draw with seed 3 (tiny)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
STEPS="${1:-300}"; ARCH="${2:-}"; BATCH="${3:-8}"; PATCH="${4:-16}"; ROUNDS="${ROUNDS:-3}"
[ -x build/srnas ] || { echo "bench_oversubscribe: build/srnas missing (scripts/test.sh builds it)"; exit 1; }
scripts/fetch_samples.sh >/dev/null
OUT="$(mktemp -d)"; trap 'rm -rf "$OUT"' EXIT
if [ -z "$ARCH" ]; then build/srnas space sample --space unified_small --seed 3 > "$OUT/genome.json"; ARCH="$OUT/genome.json"; fi
CORES="$(nproc)"; HALF=$(( CORES / 2 > 0 ? CORES / 2 : 1 ))
bench() {  # threads out
  build/srnas --threads "$1" bench train --arch "$ARCH" --data data/samples --batch "$BATCH" --patch "$PATCH" \
    --steps "$STEPS" --warmup 5 --loader fixed 2>/dev/null | tail -1 > "$2"
}
sps() { /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["steps_per_s"])' "$1"; }
echo "arch: $ARCH, batch $BATCH x ${PATCH}px, $STEPS steps, $CORES cores, $ROUNDS round(s), $(build/srnas --version | head -1)"
for r in $(seq 1 "$ROUNDS"); do
  bench "$CORES" "$OUT/alone_$r"
  bench "$CORES" "$OUT/a1_$r" & bench "$CORES" "$OUT/a2_$r"; wait
  bench "$HALF" "$OUT/s1_$r" & bench "$HALF" "$OUT/s2_$r"; wait
done
/usr/bin/python3 - "$OUT" "$ROUNDS" "$CORES" "$HALF" <<'PY'
import json, statistics, sys
out, rounds, cores, half = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
sps = lambda name: json.load(open(f"{out}/{name}"))["steps_per_s"]
rows = {f"pair, {cores} threads each": [], f"pair, {half} thread(s) each": []}
print(f"{'round':<6}{'run':<28}{'steps/s':>18}{'combined':>10}{'vs alone':>10}")
for r in range(1, rounds + 1):
    a = sps(f"alone_{r}")
    print(f"{r:<6}{'alone, ' + cores + ' threads':<28}{a:>18.1f}{a:>10.1f}{1.0:>9.2f}x")
    for (name, ratios), (x, y) in zip(rows.items(), ((sps(f"a1_{r}"), sps(f"a2_{r}")), (sps(f"s1_{r}"), sps(f"s2_{r}")))):
        ratios.append((x + y) / a)
        print(f"{'':<6}{name:<28}{f'{x:.1f} + {y:.1f}':>18}{x + y:>10.1f}{(x + y) / a:>9.2f}x")
for name, ratios in rows.items():
    print(f"{name}: combined / alone median {statistics.median(ratios):.2f}x, min {min(ratios):.2f}x, max {max(ratios):.2f}x")
PY
