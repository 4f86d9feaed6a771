#!/usr/bin/env bash
# Candidates per hour: one process with all cores vs `mpirun -np 2 --group-size 1` (one
# candidate per rank), the same study config, interleaved in each round. mpirun rows:
#   mpirun            what a user types: OpenMPI binds each rank to one core (np <= cores)
#   mpirun unbound    --bind-to none, cores: fixed (each rank its share of the cores)
#   mpirun adaptive   --bind-to none, cores: adaptive (idle ranks lend their cores)
#   1-thread          one process on one thread (not in the default rows): with 1-process it
#                     gives the packing ceiling, cores x T(all cores) / T(1 thread): what
#                     one-thread ranks could reach if they never waited
# Counts two spans from the DB: the candidates' (first candidate start to last finish) and the
# whole study's (baseline included: what a user waits for). Under cores: adaptive candidates
# start while the baseline trains, so their span includes it: compare rows by the whole study.
# Usage: scripts/bench_search.sh [ROUNDS=1] [CONFIG=configs/search/bench_parallel.yaml]
#        ROWS="1-process mpirun-adaptive" scripts/bench_search.sh ...   (a subset; 1-process first)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ROUNDS="${1:-1}"
CONFIG="${2:-configs/search/bench_parallel.yaml}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
OUT="$(mktemp -d)"; trap 'rm -rf "$OUT"' EXIT
grep -v '^cores:' "$CONFIG" > "$OUT/fixed.yaml"
{ cat "$OUT/fixed.yaml"; echo "cores: adaptive"; } > "$OUT/adaptive.yaml"
span() {  # candidates, candidates' span, whole-study span (seconds)
  /usr/bin/python3 - "$1" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
n, a, b = c.execute("SELECT count(*), min(started_at), max(finished_at) FROM trials WHERE is_baseline = 0 AND state IN ('COMPLETE','PRUNED','FAILED')").fetchone()
a0, = c.execute("SELECT min(started_at) FROM trials").fetchone()
print(n, b - a, b - a0)
PY
}
ROWS="${ROWS:-1-process mpirun mpirun-unbound mpirun-adaptive}"
run() {  # name db command...
  local name="$1" db="$2"; shift 2
  [[ " $ROWS " == *" $name "* ]] || return 0
  if ! "$@" --db "$db" >/dev/null 2>"$OUT/${name}_$r.log"; then
    echo "bench_search: row '$name' (round $r) failed: $*" >&2; tail -5 "$OUT/${name}_$r.log" >&2; exit 1
  fi
  read -r n s w < <(span "$db")
  printf '%s %s %s %s\n' "$name" "$n" "$s" "$w" >> "$OUT/rows_$r"
}
echo "config: $CONFIG, $(nproc) cores"
for r in $(seq 1 "$ROUNDS"); do
  : > "$OUT/rows_$r"
  run "1-process" "$OUT/one_$r.db" build/srnas --threads "$(nproc)" search --config "$OUT/fixed.yaml"
  run "1-thread" "$OUT/thr1_$r.db" build/srnas --threads 1 search --config "$OUT/fixed.yaml"
  run "mpirun" "$OUT/mpi_$r.db" mpirun -np 2 build/srnas search --config "$OUT/fixed.yaml" --group-size 1
  run "mpirun-unbound" "$OUT/unb_$r.db" mpirun --bind-to none -np 2 build/srnas search --config "$OUT/fixed.yaml" --group-size 1
  run "mpirun-adaptive" "$OUT/ada_$r.db" mpirun --bind-to none -np 2 build/srnas search --config "$OUT/adaptive.yaml" --group-size 1
  awk -v r="$r" 'NR == 1 { c1 = $2 / $3 * 3600; w1 = $2 / $4 * 3600 }
    { c = $2 / $3 * 3600; w = $2 / $4 * 3600
      printf "round %d %-16s %2d candidates in %6.1f s = %5.0f/h (%.2fx) | whole study %6.1f s = %5.0f candidates/h (%.2fx)\n", r, $1, $2, $3, c, c / c1, $4, w, w / w1 }
    $1 == "1-process" { all = $4 } $1 == "1-thread" { one = $4 }
    END { if (all && one) printf "round %d packing ceiling (whole study): %d x %.1f s / %.1f s = %.2fx\n", r, cores, all, one, cores * all / one }' \
    cores="$(nproc)" "$OUT/rows_$r"
done
# Medians over the rounds of each row's whole-study ratio (this VM's speed drifts between runs:
# single rounds mean little).
[ "$ROUNDS" -gt 1 ] && /usr/bin/python3 - "$OUT" "$ROUNDS" <<'PY'
import statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
ratios = {}
for r in range(1, rounds + 1):
    rows = [l.split() for l in open(f"{out}/rows_{r}") if l.strip()]
    if not rows: continue
    base = float(rows[0][3])
    for name, n, cand, whole in rows:
        ratios.setdefault(name, []).append(base / float(whole))
for name, v in ratios.items():
    print(f"median over {len(v)} rounds {name:<16} whole study {statistics.median(v):.2f}x  ({', '.join(f'{x:.2f}' for x in v)})")
PY
exit 0
