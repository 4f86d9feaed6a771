#!/usr/bin/env bash
# Builds srnas with AddressSanitizer + UndefinedBehaviorSanitizer (glibc malloc: tcmalloc and
# ASan do not mix) into the git-ignored build-asan/ and runs test suites there; any
# sanitizer report fails the run. A developer check, not part of ctest or CI: an ASan build
# is ~2x slower to compile and 2-5x slower to run. LibTorch itself is not instrumented; leak
# checking is on for the plain-C++ suites only (LibTorch keeps allocations alive at exit).
# Usage: scripts/sanitize.sh [SUITE...]   (default: every suite below; e.g. test_results_db)
# Exit status: 0 when every suite passes without a sanitizer report.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
B="$ROOT/build-asan"
PLAIN=(test_results_db test_tracks test_report test_sampler test_search_space test_imaging test_search_configs)
TORCH=(test_trainer test_bad_inputs test_search)
SUITES=("$@")
[ ${#SUITES[@]} -gt 0 ] || SUITES=("${PLAIN[@]}" "${TORCH[@]}")

cmake -S "$ROOT" -B "$B" -DCMAKE_BUILD_TYPE=Debug -DSRNAS_ALLOCATOR=system \
      -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" >/dev/null
cmake --build "$B" -j"$(nproc)" --target srnas "${SUITES[@]}"

status=0
for s in "${SUITES[@]}"; do
  exe=$(find "$B/tests" -type f -name "$s" -perm -u+x | head -1)
  [ -n "$exe" ] || { echo "sanitize: no test executable $s" >&2; exit 2; }
  leaks=0
  for p in "${PLAIN[@]}"; do [ "$p" = "$s" ] && leaks=1; done
  log="$B/sanitize_$s.log"
  if ASAN_OPTIONS="detect_leaks=$leaks:abort_on_error=0" UBSAN_OPTIONS=print_stacktrace=1 "$exe" >"$log" 2>&1 &&
     ! grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$log"; then
    echo "sanitize: $s: $(grep -E '^\[  PASSED' "$log" | tail -1)"
  else
    echo "sanitize: $s FAILED (log: $log)"
    grep -E "ERROR: |runtime error:|SUMMARY|\[  FAILED" "$log" | head -5
    status=1
  fi
done
exit $status
