#!/usr/bin/env bash
# srnas's samplers (random, tpe, nsga2) against Optuna's on one real lookup table: the replay
# benchmark's table (configs/search/replay_table.yaml, built once into out/replay_table.db by
# scripts/replay_table.sh), replayed by srnas and by Optuna 3.1 (Debian's python3-optuna,
# which scripts/setup.sh installs) under the same rules; prints mean hypervolume after k
# evaluations, srnas - Optuna with its standard error, and the sampler time per proposal.
# WORKERS > 1 replays a candidate-parallel search (each proposal made while the previous
# WORKERS-1 still train), in both libraries.
# Usage: scripts/bench_optuna.sh [BUDGET=80] [SEEDS=50] [POPULATION=8] [WORKERS=1]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUDGET="${1:-80}" SEEDS="${2:-50}" POP="${3:-8}" WORKERS="${4:-1}"
S=build/srnas DB=out/replay_table.db
scripts/setup.sh  # python3-optuna (the reference samplers) among the packages, and the photos
scripts/replay_table.sh
mkdir -p out/optuna
"$S" replay --db "$DB" --budget 1 --seeds 1 --sampler random --table out/optuna/table.json >/dev/null
echo "== srnas and Optuna: budget $BUDGET, $SEEDS seeds, population (nsga2; tpe's startup) $POP, $WORKERS worker(s)"
/usr/bin/python3 scripts/bench_optuna.py out/optuna/table.json --srnas "$S" --db "$DB" --budget "$BUDGET" \
  --seeds "$SEEDS" --population "$POP" --workers "$WORKERS" --json "out/optuna/curves_w$WORKERS.json" |
  tee "out/optuna/result_w$WORKERS.txt"
