#!/usr/bin/env bash
# srnas's samplers (random, tpe, nsga2) against Optuna's on one real lookup table: the replay
# benchmark's table (configs/search/replay_table.yaml, built once into out/replay_table.db as
# scripts/bench_replay.sh does), replayed by srnas and by Optuna 3.1 (Debian's python3-optuna,
# installed here when missing) under the same rules; prints mean hypervolume after k
# evaluations, srnas - Optuna with its standard error, and the sampler time per proposal.
# WORKERS > 1 replays a candidate-parallel search (each proposal made while the previous
# WORKERS-1 still train), in both libraries.
# Usage: scripts/bench_optuna.sh [BUDGET=80] [SEEDS=50] [POPULATION=8] [WORKERS=1]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUDGET="${1:-80}" SEEDS="${2:-50}" POP="${3:-8}" WORKERS="${4:-1}"
S=build/srnas
[ -x "$S" ] || { echo "bench_optuna: build first (scripts/test.sh or scripts/demo.sh)" >&2; exit 1; }
if ! /usr/bin/python3 -c 'import optuna' 2>/dev/null; then
  echo "[bench] installing python3-optuna (the reference samplers)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-optuna ||
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends python3-optuna; }
fi
[ -d data/samples/train ] || scripts/fetch_samples.sh
DB=out/replay_table.db
mkdir -p out/optuna
echo "== table: configs/search/replay_table.yaml -> $DB (resumes when interrupted)"
"$S" search --config configs/search/replay_table.yaml --db "$DB" --resume
"$S" replay --db "$DB" --budget 1 --seeds 1 --sampler random --table out/optuna/table.json >/dev/null
echo "== srnas and Optuna: budget $BUDGET, $SEEDS seeds, population (nsga2; tpe's startup) $POP, $WORKERS worker(s)"
/usr/bin/python3 scripts/bench_optuna.py out/optuna/table.json --srnas "$S" --db "$DB" --budget "$BUDGET" \
  --seeds "$SEEDS" --population "$POP" --workers "$WORKERS" --json "out/optuna/curves_w$WORKERS.json" |
  tee "out/optuna/result_w$WORKERS.txt"
