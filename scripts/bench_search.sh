#!/usr/bin/env bash
# Candidates per hour: one process with all cores vs `mpirun -np 2 --group-size 1` (one
# core per rank), the same study config (configs/search/bench_parallel.yaml), interleaved.
# Counts two spans from the DB: the candidates' (first candidate start to last finish) and the
# whole study's (baseline included: what a user waits for).
# Usage: scripts/bench_search.sh [ROUNDS=1]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ROUNDS="${1:-1}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
OUT="$(mktemp -d)"; trap 'rm -rf "$OUT"' EXIT
span() {  # candidates, candidates' span, whole-study span (seconds)
  /usr/bin/python3 - "$1" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
n, a, b = c.execute("SELECT count(*), min(started_at), max(finished_at) FROM trials WHERE is_baseline = 0 AND state IN ('COMPLETE','PRUNED','FAILED')").fetchone()
a0, = c.execute("SELECT min(started_at) FROM trials").fetchone()
print(n, b - a, b - a0)
PY
}
for r in $(seq 1 "$ROUNDS"); do
  build/srnas --threads "$(nproc)" search --config configs/search/bench_parallel.yaml --db "$OUT/one_$r.db" 2>/dev/null
  read -r n1 s1 w1 < <(span "$OUT/one_$r.db")
  mpirun --oversubscribe --bind-to none -np 2 build/srnas search --config configs/search/bench_parallel.yaml \
    --db "$OUT/mpi_$r.db" --group-size 1 2>/dev/null
  read -r n2 s2 w2 < <(span "$OUT/mpi_$r.db")
  awk -v n1="$n1" -v s1="$s1" -v w1="$w1" -v n2="$n2" -v s2="$s2" -v w2="$w2" -v r="$r" 'BEGIN {
    c1 = n1 / s1 * 3600; c2 = n2 / s2 * 3600; d1 = n1 / w1 * 3600; d2 = n2 / w2 * 3600;
    printf "round %d candidates only: 1 process (all cores) %d in %.1f s = %.0f/h | mpirun -np 2 --group-size 1 %d in %.1f s = %.0f/h | ratio %.2f\n", r, n1, s1, c1, n2, s2, c2, c2 / c1
    printf "round %d whole study:     1 process (all cores) %d in %.1f s = %.0f/h | mpirun -np 2 --group-size 1 %d in %.1f s = %.0f/h | ratio %.2f\n", r, n1, w1, d1, n2, w2, d2, d2 / d1 }'
done
