#include "sampler/asha.h"

#include <algorithm>
#include <functional>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "search_space/error.h"
#include "search_space/json_reader.h"

namespace srnas {

int64_t rung_budget(const AshaConfig& c, int rung) {
  if (rung < 0) throw Error(fmt::format("successive halving: rung {} < 0", rung));
  int64_t b = c.min_budget;
  for (int k = 0; k < rung; ++k) {
    if (b > std::numeric_limits<int64_t>::max() / std::max(c.eta, 1))
      throw Error(fmt::format("successive halving: budget of rung {} overflows", rung));
    b *= c.eta;
  }
  return b;
}

int64_t max_budget(const AshaConfig& c) { return rung_budget(c, std::max(c.rungs, 1) - 1); }

std::vector<int64_t> rung_trials(int64_t n, const AshaConfig& c) {
  std::vector<int64_t> out;
  int64_t k = std::max<int64_t>(n, 0);
  for (int r = 0; r < std::max(c.rungs, 1); ++r) {
    out.push_back(k);
    k = (k + c.eta - 1) / c.eta;
  }
  return out;
}

AshaDecision asha_decide(const std::vector<TrialRecord>& history, int64_t trial_id, int rung, double psnr,
                         const AshaConfig& c) {
  AshaDecision d;
  if (rung >= c.rungs - 1) return d;  // the last rung never promotes
  std::vector<double> values{psnr};
  for (const auto& t : history) {
    if (t.id == trial_id || t.is_baseline) continue;
    auto it = t.rung_psnr.find(rung);
    if (it != t.rung_psnr.end()) values.push_back(it->second);
  }
  const size_t n = values.size();
  const size_t top = std::max<size_t>(1, n / size_t(std::max(c.eta, 1)));
  std::sort(values.begin(), values.end(), std::greater<double>());
  const double needed = values[top - 1];
  if (psnr >= needed) {
    d.promote = true;
  } else {
    d.reason = fmt::format("successive halving: rung {} PSNR {:.2f} dB below the top 1/{} (needs >= {:.2f} dB of {})",
                           rung, psnr, c.eta, needed, n);
  }
  return d;
}

AshaConfig parse_asha_config(const nlohmann::json& j, const std::string& path) {
  JsonReader r(j, path);
  AshaConfig c;
  const json& mb = r.need("min_budget");
  if (!mb.is_number_integer() || mb.get<long long>() < 1)
    throw Error(fmt::format("{}: expected an integer >= 1, got {}", r.sub("min_budget"), JsonReader::kind(mb)));
  c.min_budget = mb.get<long long>();
  c.eta = r.integer("eta", 2, 1000000, c.eta);
  c.rungs = r.integer("rungs", 1, 64, c.rungs);
  r.finish();
  try {
    max_budget(c);
  } catch (const Error&) {
    throw Error(fmt::format("{}: min_budget {} * eta {}^(rungs {} - 1) overflows", r.path(), c.min_budget, c.eta,
                            c.rungs));
  }
  return c;
}

}  // namespace srnas
