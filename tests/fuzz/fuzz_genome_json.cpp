// libFuzzer target: genome JSON (search_space/genome.cpp) on arbitrary bytes.
//
// srnas::Error is the one allowed way to reject input; anything else (a crash, another
// exception, UB under -fsanitize=address,undefined, a failed round trip) is a finding.
// Accepted genomes must round-trip: canonical JSON -> genome -> the same genome and hash.
// Built by scripts/fuzz.sh (clang, -fsanitize=fuzzer,address,undefined); plain C++, no LibTorch.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <string>

#include "search_space/error.h"
#include "search_space/genome.h"

namespace {

[[noreturn]] void finding(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_genome_json: %s: %s\n", what, detail.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  srnas::Genome g;
  try {
    g = srnas::genome_from_string(text);
  } catch (const srnas::Error&) {
    return 0;  // rejected with a message: the expected outcome for bad input
  }
  // Accepted: everything downstream of parsing must work on it.
  srnas::validate(g);
  const std::string canon = srnas::canonical_json(g);
  srnas::Genome back;
  try {
    back = srnas::genome_from_string(canon);
  } catch (const srnas::Error& e) {
    finding("canonical JSON of an accepted genome is rejected", std::string(e.what()) + "\n" + canon);
  }
  if (!(back == g)) finding("round trip changed the genome", canon);
  if (srnas::canonical_json(back) != canon) finding("canonical JSON is not stable", canon);
  if (srnas::genome_hash(back) != srnas::genome_hash(g)) finding("hash changed in the round trip", canon);
  for (const auto* stage : {&g.lr, g.x2 ? &*g.x2 : nullptr, &g.x4})
    if (stage)
      for (const auto& b : stage->blocks) (void)srnas::describe(b);
  return 0;
}
