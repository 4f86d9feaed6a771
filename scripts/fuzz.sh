#!/usr/bin/env bash
# Fuzz the text parsers with libFuzzer: genome JSON (tests/fuzz/fuzz_genome_json.cpp) and
# options / search-config YAML (tests/fuzz/fuzz_options_yaml.cpp), each for SECONDS
# (default 60) under AddressSanitizer + UndefinedBehaviorSanitizer.
#
# Usage: scripts/fuzz.sh [SECONDS]
# Needs clang++ and its fuzzer runtime (Debian 12: apt-get install clang libclang-rt-14-dev);
# the main build (g++, LibTorch) is not used: the plain-C++ sources are compiled here with
# clang into $FUZZ_BUILD_DIR (default build-fuzz/). Seeds: tests/fuzz/corpus_*; new inputs go
# to $FUZZ_BUILD_DIR/corpus_*; crash reproducers to $FUZZ_BUILD_DIR/artifacts/.
# Exit status 1 when a fuzzer finds a crash, an uncaught exception, a leak, UB or a timeout
# (-timeout=5 s per input); 2 when it cannot build.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DURATION="${1:-60}"
OUT="${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}"
CXX_FUZZ="${CXX_FUZZ:-clang++}"
JOBS="${JOBS:-$(nproc)}"

if ! [[ "$DURATION" =~ ^[0-9]+$ ]] || [ "$DURATION" -lt 1 ]; then
  echo "fuzz.sh: SECONDS must be a positive integer, got '$DURATION'" >&2
  exit 2
fi
if ! command -v "$CXX_FUZZ" >/dev/null; then
  echo "fuzz.sh: $CXX_FUZZ not found (Debian: apt-get install clang libclang-rt-14-dev)" >&2
  exit 2
fi
RT_DIR="$("$CXX_FUZZ" -print-runtime-dir 2>/dev/null || true)"
if ! ls "$RT_DIR"/libclang_rt.fuzzer*.a >/dev/null 2>&1; then
  echo "fuzz.sh: no libFuzzer runtime (libclang_rt.fuzzer*.a) in '$RT_DIR' (Debian: apt-get install libclang-rt-14-dev)" >&2
  exit 2
fi

mkdir -p "$OUT/obj" "$OUT/artifacts"
cd "$ROOT"

# Plain-C++ sources only (no LibTorch): the genome/space code, the samplers' config parsing and
# the two parser files whose libraries link LibTorch (trainer/options.cpp,
# distributed/search_config.cpp). The embedded configs/ files are not needed to parse text.
COMMON=(search_space/genome.cpp search_space/accounting.cpp search_space/space.cpp search_space/registry.cpp
        search_space/yaml_json.cpp sampler/sampler.cpp sampler/asha.cpp sampler/pareto.cpp sampler/trial.cpp
        trainer/options.cpp trainer/data_spec.cpp distributed/search_config.cpp)
cat > "$OUT/embedded_stub.cpp" <<'EOF'
// fuzz.sh: no embedded configs/ files (the fuzzers parse text, they never load a built-in).
#include <map>
#include <string>
namespace srnas::embedded {
const std::map<std::string, std::string>& files() {
  static const std::map<std::string, std::string> m;
  return m;
}
}  // namespace srnas::embedded
EOF

FLAGS=(-std=c++17 -g -O1 -fno-omit-frame-pointer -I"$ROOT"
       -fsanitize=address,undefined -fno-sanitize-recover=all)

# Rebuild everything when a source, a header or this script is newer than the last build.
STAMP="$OUT/obj/.stamp"
if [ ! -f "$STAMP" ] || [ -n "$(find search_space sampler trainer/options.* trainer/data_spec.* distributed/search_config.* tests/fuzz \
                                   scripts/fuzz.sh -newer "$STAMP" \( -name '*.cpp' -o -name '*.h' -o -name '*.sh' \) \
                                   -print -quit)" ]; then
  echo "[fuzz] compiling with $("$CXX_FUZZ" --version | head -1) ($JOBS jobs)"
  rm -f "$OUT"/obj/*.o "$OUT/obj/failed"
  for src in "${COMMON[@]}" "$OUT/embedded_stub.cpp"; do
    obj="$OUT/obj/$(basename "$(dirname "$src")")_$(basename "$src" .cpp).o"
    ("$CXX_FUZZ" "${FLAGS[@]}" -fsanitize=fuzzer-no-link -c "$src" -o "$obj" || echo "$src" >>"$OUT/obj/failed") &
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do sleep 0.2; done
  done
  wait
  if [ -f "$OUT/obj/failed" ]; then
    echo "fuzz.sh: compile failed: $(tr '\n' ' ' <"$OUT/obj/failed")" >&2
    exit 2
  fi
  for f in fuzz_genome_json fuzz_options_yaml; do
    "$CXX_FUZZ" "${FLAGS[@]}" -fsanitize=fuzzer "tests/fuzz/$f.cpp" "$OUT"/obj/*.o -lyaml-cpp -lfmt -o "$OUT/$f" ||
      { echo "fuzz.sh: link of $f failed" >&2; exit 2; }
  done
  touch "$STAMP"
fi

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
status=0
for pair in fuzz_genome_json:corpus_genome fuzz_options_yaml:corpus_options; do
  f="${pair%%:*}"
  corpus="${pair##*:}"
  mkdir -p "$OUT/$corpus"
  log="$OUT/$f.log"
  echo "[fuzz] $f: ${DURATION} s, seeds tests/fuzz/$corpus ($(ls "tests/fuzz/$corpus" | wc -l) files)"
  set +e
  "$OUT/$f" "$OUT/$corpus" "tests/fuzz/$corpus" -max_total_time="$DURATION" -timeout=5 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$OUT/artifacts/$f-" >"$log" 2>&1
  rc=$?
  set -e
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  cov="$(grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -1)"
  if [ "$rc" -eq 0 ]; then
    echo "[fuzz] $f: ok, ${execs:-?} executions ($cov; corpus $OUT/$corpus: $(ls "$OUT/$corpus" | wc -l) files)"
  else
    status=1
    echo "[fuzz] $f: FINDING (exit $rc) after ${execs:-?} executions; log $log" >&2
    grep -E 'ERROR: |SUMMARY: |runtime error|fuzz_[a-z_]+: |terminate called|what\(\)|Test unit written to' "$log" | head -20 >&2 || true
  fi
done
exit "$status"
