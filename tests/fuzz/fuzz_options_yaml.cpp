// libFuzzer target: YAML text -> JSON (search_space/yaml_json.cpp) -> training options
// (trainer/options.cpp) and search config (distributed/search_config.cpp) on arbitrary bytes;
// the first line is also tried as a `--set key=value` override.
//
// srnas::Error is the one allowed way to reject input; anything else (a crash, another
// exception, UB under -fsanitize=address,undefined) is a finding. Accepted options must
// round-trip through to_json(). trainer/options.cpp and distributed/search_config.cpp are
// compiled straight into the fuzzer (their libraries link LibTorch; these files do not use it).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "distributed/search_config.h"
#include "search_space/error.h"
#include "search_space/yaml_json.h"
#include "trainer/options.h"

namespace {

[[noreturn]] void finding(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_options_yaml: %s: %s\n", what, detail.c_str());
  std::abort();
}

void options(const std::string& text) {
  nlohmann::json j;
  try {
    j = srnas::yaml_to_json(text, "fuzz.yaml");
  } catch (const srnas::Error&) {
    return;
  }
  // --set with the first line (as `srnas train --set LINE` would) on the parsed document
  const std::string line = text.substr(0, text.find('\n'));
  nlohmann::json with_set = j.is_object() ? j : nlohmann::json::object();
  try {
    srnas::apply_override(with_set, line);
    (void)srnas::parse_train_options(with_set, "fuzz.yaml");
  } catch (const srnas::Error&) {
  }
  if (j.is_null()) j = nlohmann::json::object();  // as load_train_options does for an empty file
  srnas::TrainOptions o;
  try {
    o = srnas::parse_train_options(j, "fuzz.yaml");
  } catch (const srnas::Error&) {
    return;
  }
  // Accepted: written back in full, it parses to the same options; the schedule is finite.
  const nlohmann::json out = srnas::to_json(o);
  srnas::TrainOptions back;
  try {
    back = srnas::parse_train_options(out, "to_json");
  } catch (const srnas::Error& e) {
    finding("to_json() of accepted options is rejected", std::string(e.what()) + "\n" + out.dump());
  }
  if (srnas::to_json(back) != out) finding("options round trip changed", out.dump());
  for (int64_t t : {int64_t(0), int64_t(1), o.iterations / 2, o.iterations - 1, o.iterations})
    if (!std::isfinite(srnas::learning_rate(o, t))) finding("learning rate not finite", out.dump());
}

void search_config(const std::string& text) {
  try {
    (void)srnas::load_search_config_text(text, "fuzz_search.yaml");
  } catch (const srnas::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  options(text);
  search_config(text);
  return 0;
}
