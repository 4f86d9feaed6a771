#!/usr/bin/env bash
# Runtime-measurement benchmark: how stable is runtime_ratio (imdn_aim19 vs msrresnet by
# default) when measured REPEATS times, and what each setting of the timed region does.
# Every row is `srnas bench runtime` (candidate and baseline timed in alternation, best of
# RUNS passes over IMAGES random SIZE x SIZE LR images, after a warm-up pass); the spread
# is max/min of the REPEATS ratios. Rows: the default build (tcmalloc, InferenceMode) with
# RUNS (11) and with the protocol's 3, NoGradGuard instead of InferenceMode, channels-last,
# and glibc malloc (srnas_sysalloc).
# Usage: scripts/bench_runtime.sh [REPEATS=5]   (env: ARCH BASELINE SIZE IMAGES RUNS THREADS)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
REPEATS="${1:-5}"
ARCH="${ARCH:-imdn_aim19}"; BASELINE="${BASELINE:-msrresnet}"; SIZE="${SIZE:-64}"; IMAGES="${IMAGES:-3}"
RUNS="${RUNS:-11}"; THREADS="${THREADS:-$(nproc)}"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target srnas srnas_sysalloc >/dev/null
OUT="$(mktemp)"; trap 'rm -f "$OUT"' EXIT
common=(bench runtime --arch "$ARCH" --baseline "$BASELINE" --size "$SIZE" --images "$IMAGES" --repeats "$REPEATS")
echo "[bench] $ARCH vs $BASELINE, $IMAGES images of ${SIZE}x${SIZE}, best of $RUNS, $REPEATS repeats, $THREADS threads"
build/srnas --threads "$THREADS" "${common[@]}" --runs "$RUNS" | tail -1 | tee -a "$OUT"
build/srnas --threads "$THREADS" "${common[@]}" --runs 3 | tail -1 | tee -a "$OUT"
build/srnas --threads "$THREADS" "${common[@]}" --runs "$RUNS" --no-grad | tail -1 | tee -a "$OUT"
build/srnas --threads "$THREADS" "${common[@]}" --runs "$RUNS" --channels-last | tail -1 | tee -a "$OUT"
build/srnas_sysalloc --threads "$THREADS" "${common[@]}" --runs "$RUNS" | tail -1 | tee -a "$OUT"
/usr/bin/env python3 - "$OUT" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print(f"\n{'setting':<52} {'ratio min':>9} {'ratio max':>9} {'spread':>7}")
for r in rows:
    name = f"{r['allocator']}, {r['grad_mode']}, best of {r['runs']}" + (", channels-last" if r["channels_last"] else "")
    print(f"{name:<52} {r['ratio_min']:9.4f} {r['ratio_max']:9.4f} {r['spread']:7.4f}")
ok = rows[0]["spread"] <= 1.05
print(f"\ndefault setting: spread {rows[0]['spread']:.4f} ({'meets' if ok else 'MISSES'} the 1.05 bound)")
PY
