// Samplers propose a study's next genome from the space and its history (Optuna-like):
// random (uniform), evolution (regularized evolution, Real et al. 2019), nsga2 (steady-state
// NSGA-II, Deb et al. 2002, over PSNR-RGB, params, runtime ratio; constrained domination),
// tpe (multi-objective tree-structured Parzen estimator over the categorical genes).
// Contract: propose() is a pure function of (config, space, history as a set, seed, number)
// via Rng(mix_seed(seed, number)); it never returns a genome_hash of the history (any state,
// baselines included) nor one ctx.admissible rejects; nullopt means max_attempts draws found
// none (space exhausted, or nothing left within the limits).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "sampler/trial.h"
#include "search_space/genome.h"
#include "search_space/space.h"

namespace srnas {

// Track constraints relative to the baseline (protocol.md "The three tracks"), tightened by
// a study's absolute limits: a candidate is feasible when params <= max_params, macs <=
// max_macs, runtime_ratio <= max_runtime_ratio and psnr_rgb >= min_psnr (each optional).
struct Constraints {
  std::optional<int64_t> max_params;
  std::optional<double> max_runtime_ratio;
  std::optional<double> min_psnr;
  std::optional<int64_t> max_macs = std::nullopt;
};

// Absolute budgets on top of the baseline's constraints (e.g. a phone's params or MACs
// budget): a search config's `limits:`. params and MACs are pure functions of the genome: the
// sampler never proposes a genome above them (an enqueued one is PRUNED before training). The
// runtime ratio is measured: a candidate above it is PRUNED after its untrained probe. Each
// optional. MACs are counted at an LR size (the config's macs_lr_size).
struct Limits {
  std::optional<int64_t> max_params;
  std::optional<double> max_gmacs;          // 1e9 MACs at macs_lr_size
  std::optional<double> max_runtime_ratio;  // candidate / MSRResNet, as recorded
  bool any() const { return max_params || max_gmacs || max_runtime_ratio; }
  // Why params/MACs break the params or MACs limit ("" when within them).
  std::string pure_violation(int64_t params, int64_t macs) const;
  // "params <= 15000, GMACs <= 5 (at 339x510 LR), runtime ratio <= 0.5"; "" when none is set.
  std::string describe(int lr_h, int lr_w) const;
  // `c` tightened by the limits (the lower maximum of each).
  Constraints tighten(Constraints c) const;
  // SamplerContext::admissible for the params/MACs limits (MACs at lr_h x lr_w); nullptr
  // when neither is set.
  std::function<bool(const Genome&)> admissible(int lr_h, int lr_w) const;
};

// Sum of normalised violations (0 = feasible): max(0, params/max_params - 1)
// + max(0, macs/max_macs - 1) + max(0, ratio/max_ratio - 1) + max(0, (min_psnr - psnr) / 1 dB);
// a missing metric counts as feasible for its term.
double constraint_violation(const TrialRecord& t, const Constraints& c);

struct SamplerConfig {
  std::string type = "random";  // random | evolution | nsga2 | tpe
  int population = 20;          // evolution: the last `population` trained trials; nsga2: survivors
  int tournament = 5;           // evolution: tournament size (sampled with replacement)
  double crossover_prob = 0.9;  // nsga2: uniform crossover probability
  double mutation_prob = 1.0;   // nsga2: probability of mutating one gene of the child
  int max_attempts = 1000;      // draws before giving up (space exhausted)
  int n_startup = 10;           // tpe: random until this many trained trials
  int n_candidates = 24;        // tpe: draws from l(x) per proposal, the best l/g wins
  double gamma = 0.1;           // tpe: the good fraction of the ranked pool (at most 25 trials)
  double prior_weight = 1.0;    // tpe: uniform prior mass per gene, for l and g alike
  bool constant_liar = false;   // tpe: RUNNING/PENDING trials count as bad ones (parallel workers)
  bool multivariate = false;    // tpe: one joint kernel per trial instead of independent genes
};

// Strict: unknown keys and bad types or ranges throw srnas::Error naming path.key, e.g.
// "sampler.type: expected one of {random, evolution, nsga2, tpe}, got 'x'". Every key is optional.
SamplerConfig parse_sampler_config(const nlohmann::json& j, const std::string& path);

struct SamplerContext {
  const Space& space;
  const std::vector<TrialRecord>& history;
  Constraints constraints;
  uint64_t seed = 0;
  int64_t number = 0;  // the number the proposed trial will get
  // Hard limits that are pure functions of the genome (a params or MACs budget): when set,
  // only genomes it accepts are proposed, by every sampler; draws it rejects count towards
  // max_attempts. Unset: every genome of the space is admissible.
  std::function<bool(const Genome&)> admissible = nullptr;
};

class Sampler {
 public:
  virtual ~Sampler() = default;
  virtual std::string name() const = 0;
  // A genome of ctx.space whose genome_hash is not in ctx.history and that ctx.admissible
  // accepts, or nullopt when max_attempts draws found none.
  virtual std::optional<Genome> propose(const SamplerContext& ctx) = 0;
};

// random: space.sample until the hash is new.
// A trial is trained when COMPLETE, or PRUNED by successive halving after a rung (it has a PSNR,
// at a smaller budget): the random start of evolution, nsga2 and tpe ends after that many
// trained trials, so successive halving (1 in eta^(rungs-1) trials COMPLETE) does not stretch it.
// evolution: population = the last `population` trained non-baseline trials of the space by
//   number (the oldest dies; the PRUNED ones count as infeasible, violation >= 1e-9); fewer
//   than that: random. Else each attempt draws `tournament`
//   members with replacement, takes the best by (violation asc, psnr_rgb desc) and mutates
//   one gene (space.mutate).
// nsga2: pool = COMPLETE plus PRUNED-with-metrics non-baseline trials of the space (PRUNED ones
//   are infeasible: violation >= 1e-9); objectives (-psnr_rgb, params, runtime_ratio), a missing
//   value taking the worst present. Fewer than `population` trained: random. Else survivors =
//   best `population` by (constrained rank, crowding desc, older first); each attempt picks two
//   parents by binary tournament, uniform crossover (crossover_prob) then one-gene mutation
//   (mutation_prob). Trials whose genome is not in the space never act as parents.
// tpe: the same pool ranked the same way (constrained rank, crowding desc, older first); fewer
//   than n_startup trained: random. Else good = the best min(ceil(gamma * n), 25) (at least 1,
//   at most n - 1), bad = the rest; per gene l(v) = (prior_weight / |values| + good count of v)
//   / (prior_weight + |good|), g(v) likewise over bad; n_candidates gene vectors drawn from l
//   (genes independent) and the new one with the largest sum of log(l / g) is proposed
//   (rounds of n_candidates until max_attempts draws). constant_liar (Optuna's): RUNNING and
//   PENDING non-baseline trials of the space join the bad group as if they had the worst
//   result (n counts them), so workers proposing while others train spread out instead of
//   converging on the same good values. multivariate: l and g are mixtures of one kernel per
//   trial over all genes jointly (plus a uniform prior component of weight prior_weight), so
//   gene combinations the good trials share are drawn together (Optuna's multivariate=True).
// evolution, nsga2 and tpe: after max_attempts duplicate children, max_attempts random draws
// before giving up. Throws srnas::Error on an unknown type or out-of-range numbers.
std::unique_ptr<Sampler> make_sampler(const SamplerConfig& cfg);

// The sampler types make_sampler builds, in the order docs and `replay --sampler all` list them.
const std::vector<std::string>& sampler_types();

// The per-proposal seed: splitmix64 of seed and number, so nearby numbers give unrelated streams.
uint64_t mix_seed(uint64_t seed, int64_t number);

}  // namespace srnas
