// Successive halving decided when a trial reports a rung (Optuna's SuccessiveHalvingPruner):
// a trial that finished rung k goes on to rung k+1 only if its PSNR is in the top 1/eta of
// every non-baseline trial that reached rung k so far.
// Contract: rung k trains to rung_budget(k) = min_budget * eta^k iterations (cumulative);
// decisions are pure functions of (history, trial, rung, psnr, config); the last rung never
// promotes; a refusal's reason is one line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "sampler/trial.h"

namespace srnas {

struct AshaConfig {
  int64_t min_budget = 0;  // budget of rung 0
  int eta = 3;             // reduction factor
  int rungs = 1;           // number of rungs; 1 means no halving
};

int64_t rung_budget(const AshaConfig& c, int rung);  // min_budget * eta^rung; throws on rung < 0
int64_t max_budget(const AshaConfig& c);             // budget of the last rung
// Trials expected to train at each rung when n start rung 0, as synchronous successive
// halving promotes them: n, ceil(n / eta), ceil(n / eta^2), ... (the asynchronous rule above
// promotes a little more early on, when few trials have reported). For planning only.
std::vector<int64_t> rung_trials(int64_t n, const AshaConfig& c);

struct AshaDecision {
  bool promote = false;
  std::string reason;  // why not promoted; empty when promoted or at the last rung
};

// Trial `trial_id` finished rung `rung` with PSNR `psnr` (maximised). Competitors: the
// rung_psnr[rung] of every other non-baseline trial of history that reached that rung (any
// state) plus this one, n values. Promote when psnr >= the floor(n/eta)-th best (when
// floor(n/eta) == 0: when it is the best so far, ties promote). E.g. a refusal:
// "successive halving: rung 0 PSNR 24.10 dB below the top 1/3 (needs >= 24.55 dB of 7)".
AshaDecision asha_decide(const std::vector<TrialRecord>& history, int64_t trial_id, int rung, double psnr,
                         const AshaConfig& c);

// Strict: {min_budget: int >= 1 (required), eta: int >= 2 (default 3), rungs: int >= 1
// (default 1)}; unknown keys and bad types throw srnas::Error naming path.key.
AshaConfig parse_asha_config(const nlohmann::json& j, const std::string& path);

}  // namespace srnas
