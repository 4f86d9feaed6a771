#!/usr/bin/env bash
# Replay benchmark of the samplers (random, evolution, nsga2, tpe) on a real lookup table:
# builds the table once (configs/search/replay_table.yaml: 160 random unified_small candidates,
# each trained 120 iterations on data/samples; 10-20 minutes on 2 cores) into
# out/replay_table.db, then runs `srnas replay --sampler all` with BUDGET evaluations per run
# over SEEDS seeds: mean hypervolume (PSNR-RGB, params, runtime ratio) +- sd after k
# evaluations, every sampler searching inside the same recorded metrics; then tpe's variants
# (multivariate, constant liar). WORKERS > 1 replays a candidate-parallel search: each
# proposal is made while the previous WORKERS-1 still train (RUNNING, no PSNR).
# Usage: scripts/bench_replay.sh [BUDGET=40] [SEEDS=20] [POPULATION=8] [WORKERS=1]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUDGET="${1:-40}" SEEDS="${2:-20}" POP="${3:-8}" WORKERS="${4:-1}"
S=build/srnas DB=out/replay_table.db
scripts/replay_table.sh
echo "== replay: budget $BUDGET, $SEEDS seeds, population (evolution, nsga2; tpe's startup) $POP, $WORKERS worker(s)"
R=("$S" replay --db "$DB" --budget "$BUDGET" --seeds "$SEEDS" --population "$POP" --workers "$WORKERS")
"${R[@]}" --sampler all --out "out/replay_w$WORKERS"
echo "== tpe variants"
"${R[@]}" --sampler tpe --multivariate
if [ "$WORKERS" -gt 1 ]; then
  "${R[@]}" --sampler tpe --constant-liar
  "${R[@]}" --sampler tpe --multivariate --constant-liar
fi
