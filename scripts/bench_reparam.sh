#!/usr/bin/env bash
# options.reparam (SPAN's Conv3XC re-parameterisation, trainer/reparam.h) against plain training
# of the same genome, in one run: `srnas train` on the sample photos with configs/train/tiny.yaml
# at ITERS iterations, once plain and once with `reparam: {type: conv3xc, gain: 2}`, for each of
# SEEDS seeds. Prints each run's validation PSNR-RGB and training seconds, then the mean PSNR
# difference (with its standard error over the seeds) and the time ratio. The deployed networks
# are identical in size (the genome's); only how their 3x3 weights are trained differs.
# Usage: scripts/bench_reparam.sh [ITERS=600] [SEEDS=3] [GENOME=a SPAN-like genome: width 24, 4 spab]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ITERS="${1:-600}"; SEEDS="${2:-3}"; GENOME="${3:-}"
[ -x build/srnas ] || { echo "bench_reparam: build/srnas missing (scripts/test.sh builds it)"; exit 1; }
scripts/fetch_samples.sh >/dev/null
OUT="$(mktemp -d)"; trap 'rm -rf "$OUT"' EXIT
if [ -z "$GENOME" ]; then
  GENOME="$OUT/genome.json"
  cat > "$GENOME" <<'JSON'
{"head": {"act": {"type": "none"}},
 "lr": {"width": 24, "blocks": [{"type": "spab", "repeat": 4}], "long_skip": true},
 "upsampler": {"type": "pixelshuffle4", "act": {"type": "none"}}, "x4": {"width": 8},
 "tail": {"hr_conv": false}, "global_skip": "bicubic", "init": {"type": "pytorch"}}
JSON
fi
build/srnas arch show "$GENOME" | tail -1
echo "$ITERS iterations (configs/train/tiny.yaml), $SEEDS seed(s), $(nproc) cores, $(build/srnas --version | head -1)"
for s in $(seq 1 "$SEEDS"); do
  for mode in plain reparam; do
    extra=(); [ "$mode" = reparam ] && extra=(--set reparam.type=conv3xc)
    build/srnas train --arch "$GENOME" --data data/samples --options configs/train/tiny.yaml --out "$OUT/${mode}_$s" \
      --set iterations="$ITERS" --set seed="$s" --set checkpoint_every=0 "${extra[@]}" >/dev/null 2>&1
  done
done
/usr/bin/python3 - "$OUT" "$SEEDS" <<'PY'
import json, math, sys
out, n = sys.argv[1], int(sys.argv[2])
r = {m: [json.load(open(f"{out}/{m}_{s}/result.json")) for s in range(1, n + 1)] for m in ("plain", "reparam")}
for s in range(n):
    p, q = r["plain"][s], r["reparam"][s]
    print(f"seed {s + 1}: plain {p['val_psnr_rgb']:.3f} dB {p['train_seconds']:.1f} s | reparam "
          f"{q['val_psnr_rgb']:.3f} dB {q['train_seconds']:.1f} s")
d = [q["val_psnr_rgb"] - p["val_psnr_rgb"] for p, q in zip(r["plain"], r["reparam"])]
mean = sum(d) / n
se = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1) / n) if n > 1 else float("nan")
t = sum(q["train_seconds"] for q in r["reparam"]) / sum(p["train_seconds"] for p in r["plain"])
print(f"reparam - plain: {mean:+.3f} dB (standard error {se:.3f}, {n} seeds); training time {t:.2f}x")
PY
