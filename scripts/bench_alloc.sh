#!/usr/bin/env bash
# tcmalloc's release rate: srnas as built (cli/tcmalloc_conf.cpp: rate 0, freed pages kept)
# against gperftools' default (TCMALLOC_RELEASE_RATE=1: freed spans returned to the kernel
# now and then), the same search, interleaved in each round. Prints wall and system seconds
# minor page faults and peak resident memory (/usr/bin/time), and the wall-time ratio.
# Usage: scripts/bench_alloc.sh [ROUNDS=2] [CONFIG=configs/search/quickstart.yaml]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ROUNDS="${1:-2}"
CONFIG="${2:-configs/search/quickstart.yaml}"
OUT="$(mktemp -d)"; trap 'rm -rf "$OUT"' EXIT
build/srnas --version
echo "config: $CONFIG, $(nproc) cores"
[ -x /usr/bin/time ] || { echo "bench_alloc: needs GNU time (apt-get install time)" >&2; exit 1; }
one() {  # env assignment -> "wall sys faults max_rss_kb"; a failed search ends the benchmark, with its log
  rm -rf "$OUT/s.db" "$OUT/s.db.runs"
  if ! env "$1" /usr/bin/time -q -f "%e %S %R %M" -o "$OUT/time" build/srnas search --config "$CONFIG" \
      --db "$OUT/s.db" >/dev/null 2>"$OUT/search.log"; then
    echo "bench_alloc: the search ($1) failed:" >&2; tail -5 "$OUT/search.log" >&2; exit 1
  fi
  cat "$OUT/time"
}
for r in $(seq 1 "$ROUNDS"); do
  read -r w0 s0 f0 m0 < <(one "SRNAS_BENCH=1")  # no release-rate setting: srnas sets 0
  read -r w1 s1 f1 m1 < <(one "TCMALLOC_RELEASE_RATE=1")
  awk -v r="$r" -v w0="$w0" -v s0="$s0" -v f0="$f0" -v m0="$m0" -v w1="$w1" -v s1="$s1" -v f1="$f1" -v m1="$m1" 'BEGIN {
    printf "round %d  release rate 0 (srnas): %6.1f s wall %5.1f s sys %8d faults %5.0f MiB peak\n", r, w0, s0, f0, m0 / 1024
    printf "round %d  release rate 1 (default): %5.1f s wall %5.1f s sys %8d faults %5.0f MiB peak | rate 0 is %.2fx faster\n", r, w1, s1, f1, m1 / 1024, w1 / w0 }'
done
