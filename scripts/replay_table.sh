#!/usr/bin/env bash
# The replay benchmarks' lookup table (scripts/bench_replay.sh, scripts/bench_optuna.sh): 160
# random unified_small candidates of configs/search/replay_table.yaml, each trained 120
# iterations on data/samples (10-20 minutes on 2 cores), in out/replay_table.db; a table already
# there is resumed (nothing to do when complete). Needs build/srnas.
set -euo pipefail
cd "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ -x build/srnas ] || { echo "replay_table: build first (scripts/test.sh or scripts/demo.sh)" >&2; exit 1; }
[ -d data/samples/train ] || scripts/fetch_samples.sh
mkdir -p out
echo "== table: configs/search/replay_table.yaml -> out/replay_table.db (resumes when interrupted)"
build/srnas search --config configs/search/replay_table.yaml --db out/replay_table.db --resume
