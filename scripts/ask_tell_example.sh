#!/usr/bin/env bash
# Ask and tell, end to end: a study whose candidates are trained by "your own trainer" (here a
# stand-in: `srnas train` in a separate process, which knows nothing of the study). srnas asks,
# measures and prunes; the trainer trains; srnas tells: validates the weights by the protocol,
# promotes by successive halving (continue_to) or prunes. Replace train_to() with your script
# (model.py's load("init.safetensors") ... save(net, path)).
#
# Usage: scripts/ask_tell_example.sh [CONFIG] [DB]   (default: the quickstart config, out/ask_tell.db)
# Needs a built srnas (build/srnas) and the sample photos (scripts/fetch_samples.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CONFIG="${1:-configs/search/quickstart.yaml}"
DB="${2:-out/ask_tell.db}"
S=build/srnas
[ -x "$S" ] || { echo "ask_tell_example: build srnas first (cmake --build build --target srnas)" >&2; exit 2; }
mkdir -p "$(dirname "$DB")"
field() { python3 -c 'import json,sys; v=json.load(sys.stdin)[sys.argv[1]]; print("" if v is None else v)' "$1"; }

# The stand-in trainer: trains the job's genome with the job's options (job.json "options",
# "data") to N iterations in its own folder, resuming its own checkpoint; prints the weights.
train_to() {  # job.json, iterations
  local dir out resume="" args
  dir="$(dirname "$1")"
  out="$dir/outside"
  python3 -c 'import json,sys; json.dump(json.load(open(sys.argv[1]))["options"], open(sys.argv[2], "w"))' \
    "$1" "$dir/options.json"
  args=$(python3 -c 'import json,sys; d = json.load(open(sys.argv[1]))["data"]
print(" ".join(["--data " + x for x in d["train"]] + ["--val " + x for x in d["val"]] + ["--val-images %d" % d["val_images"]]))' "$1")
  [ -d "$out/checkpoint" ] && resume="--resume"
  # shellcheck disable=SC2086
  "$S" train --arch "$dir/genome.json" $args --options "$dir/options.json" --out "$out" --set iterations="$2" \
       $resume >"$out.log" 2>&1 || { echo "[example] training failed, see $out.log" >&2; return 1; }
  echo "$out/weights.safetensors"
}

while job=$("$S" ask --config "$CONFIG" --db "$DB" 2>/dev/null); do
  trial=$(echo "$job" | field trial)
  jobfile="$(echo "$job" | field dir)/job.json"
  its=$(echo "$job" | field iterations)
  echo "[example] trial $trial: $(echo "$job" | field params) params, runtime ratio $(echo "$job" | field runtime_ratio); training to $its iterations outside"
  while true; do
    if ! weights=$(train_to "$jobfile" "$its"); then
      "$S" tell --db "$DB" --trial "$trial" --failed "the stand-in trainer failed"
      break
    fi
    told=$("$S" tell --db "$DB" --trial "$trial" --weights "$weights" --iterations "$its" --format json)
    next=$(echo "$told" | field continue_to)
    echo "[example] trial $trial told: $(echo "$told" | field state) $(echo "$told" | field psnr_rgb) dB $(echo "$told" | field reason)"
    [ -n "$next" ] || break
    its=$next
    echo "[example] trial $trial promoted: training on to $its iterations"
  done
done
echo
"$S" tracks --db "$DB"
