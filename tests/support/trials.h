// ids(trials): the trial ids of a list, in its order, for comparing rankings in one EXPECT_EQ.
#pragma once

#include <cstdint>
#include <vector>

#include "sampler/trial.h"

namespace srnas::testing {

inline std::vector<int64_t> ids(const std::vector<TrialRecord>& ts) {
  std::vector<int64_t> out;
  for (const auto& t : ts) out.push_back(t.id);
  return out;
}

}  // namespace srnas::testing
