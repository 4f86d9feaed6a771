#include "distributed/plan.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "search_space/accounting.h"
#include "search_space/error.h"
#include "search_space/registry.h"
#include "search_space/rng.h"
#include "search_space/space.h"
#include "trainer/evaluate.h"
#include "trainer/options.h"
#include "trainer/train.h"

namespace srnas {

namespace {

// The value at percentile q (0..1) of sorted values, nearest rank.
template <class T>
T percentile(const std::vector<T>& sorted, double q) {
  if (sorted.empty()) return T{};
  const size_t i = size_t(std::lround(q * double(sorted.size() - 1)));
  return sorted[std::min(i, sorted.size() - 1)];
}

}  // namespace

SearchPlan plan_search(const SearchConfig& cfg, int workers, int samples, int warmup, int steps) {
  if (workers < 1) throw Error(fmt::format("plan: workers must be >= 1, got {}", workers));
  if (samples < 1) throw Error(fmt::format("plan: samples must be >= 1, got {}", samples));
  SearchPlan p;
  p.workers = workers;
  auto space = Space::load(cfg.space);
  const TrainOptions opt = load_train_options(cfg.train_options, cfg.train_set);
  const Genome base = load_arch(cfg.baseline).genome;
  pick_device(cfg.device);  // where the search probes runtimes: fails here as the search would
  p.device = pick_device(opt.device).str();  // where it trains (the options' device)
  p.batch = opt.batch_size;
  p.patch = opt.patch_lr;
  p.baseline_params = count_params(base);

  // What the sampler would propose: the space's genomes within the limits; of them, those
  // the params rule prunes before training.
  Rng rng(cfg.seed);
  std::vector<std::pair<int64_t, Genome>> trainable;  // (MACs, genome)
  std::vector<int64_t> params, macs;
  for (int i = 0; i < samples; ++i) {
    Genome g = space->sample(rng);
    const Accounting a = account(g, cfg.macs_h, cfg.macs_w);
    ++p.sampled;
    if (!cfg.limits.pure_violation(a.params, a.macs).empty()) {
      ++p.over_limits;
      continue;
    }
    params.push_back(a.params);
    macs.push_back(a.macs);
    if (cfg.prune_params && a.params > p.baseline_params) {
      ++p.pruned_params;
      continue;
    }
    trainable.push_back({a.macs, std::move(g)});
  }
  std::sort(params.begin(), params.end());
  std::sort(macs.begin(), macs.end());
  for (double q : {0.1, 0.5, 0.9}) {
    p.params_pct.push_back(percentile(params, q));
    p.macs_pct.push_back(percentile(macs, q));
  }
  const int proposable = p.sampled - p.over_limits;
  p.trained = proposable == 0 ? 0
                              : int64_t(std::lround(double(cfg.trials) * double(trainable.size()) / double(proposable)));

  // Seconds per step: the baseline, and candidates at the 25th/50th/75th MACs percentiles.
  std::sort(trainable.begin(), trainable.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  auto time_genome = [&](const std::string& what, const Genome& g, const TrainOptions& o) {
    const Accounting a = account(g, cfg.macs_h, cfg.macs_w);
    p.timed.push_back({what, a.params, a.macs, seconds_per_step(g, o, warmup, steps)});
    return p.timed.back().step_s;
  };
  auto time_candidates = [&](const TrainOptions& o, const std::string& suffix) {
    if (trainable.empty()) return 0.0;
    double sum = 0;
    int n = 0;
    size_t last = SIZE_MAX;
    const std::pair<double, const char*> quantiles[] = {{0.25, "p25"}, {0.5, "p50"}, {0.75, "p75"}};
    for (const auto& [q, label] : quantiles) {
      const size_t i = std::min(trainable.size() - 1, size_t(std::lround(q * double(trainable.size() - 1))));
      if (i == last) continue;  // few trainable genomes: each timed once
      last = i;
      sum += time_genome(fmt::format("candidate (MACs {}){}", label, suffix), trainable[i].second, o);
      ++n;
    }
    return sum / n;
  };
  const double base_s = time_genome("baseline " + cfg.baseline, base, opt);
  // On CPU, W workers share the cores (each rank its node's cores / ranks): candidates are
  // timed on that share; the baseline trains alone, on all of them.
  const int threads = torch::get_num_threads();
  const bool share = p.device == "cpu" && workers > 1;
  p.candidate_threads = share ? std::max(1, threads / workers) : threads;
  torch::set_num_threads(p.candidate_threads);
  const double cand_s = time_candidates(opt, "");
  torch::set_num_threads(threads);

  // The stages. The baseline trains alone to the longest budget; candidates share the workers.
  const int64_t base_its = cfg.asha ? max_budget(*cfg.asha) : opt.iterations;
  p.rows.push_back({"baseline (" + cfg.baseline + ")", 1, 0, base_its, base_s, 1});
  if (cfg.asha) {
    const std::vector<int64_t> n = rung_trials(p.trained, *cfg.asha);
    for (size_t r = 0; r < n.size(); ++r)
      p.rows.push_back({fmt::format("rung {}", r), n[r], r == 0 ? 0 : rung_budget(*cfg.asha, int(r) - 1),
                        rung_budget(*cfg.asha, int(r)), cand_s, workers});
  } else {
    p.rows.push_back({"candidates", p.trained, 0, opt.iterations, cand_s, workers});
  }
  if (cfg.final_stage) {  // the baseline and each track's first `top` (at most 3 x top genomes), per seed
    const FinalStage& f = *cfg.final_stage;
    const TrainOptions fo = load_train_options(f.options, f.set);
    const int64_t seeds = std::max<int64_t>(1, int64_t(f.seeds.size()));
    const int64_t genomes = std::min<int64_t>(3 * f.top, p.trained);
    const double fb = time_genome("baseline " + cfg.baseline + " (final)", base, fo);
    torch::set_num_threads(p.candidate_threads);
    const double fc = genomes > 0 ? time_candidates(fo, " (final)") : 0.0;
    torch::set_num_threads(threads);
    p.rows.push_back({"final: baseline", seeds, 0, fo.iterations, fb, int(std::min<int64_t>(workers, seeds))});
    if (genomes > 0) p.rows.push_back({"final: winners", genomes * seeds, 0, fo.iterations, fc, workers});
  }
  for (const PlanRow& r : p.rows) p.total_s += r.seconds();
  return p;
}

nlohmann::json to_json(const SearchPlan& p) {
  nlohmann::json timed = nlohmann::json::array(), rows = nlohmann::json::array();
  for (const TimedGenome& t : p.timed)
    timed.push_back({{"what", t.what}, {"params", t.params}, {"macs", t.macs}, {"step_s", t.step_s}});
  for (const PlanRow& r : p.rows)
    rows.push_back({{"stage", r.stage},
                    {"runs", r.runs},
                    {"from", r.from},
                    {"to", r.to},
                    {"iterations", r.iterations()},
                    {"step_s", r.step_s},
                    {"workers", r.workers},
                    {"seconds", r.seconds()}});
  return {{"device", p.device},     {"workers", p.workers}, {"candidate_threads", p.candidate_threads},
          {"sampled", p.sampled},   {"over_limits", p.over_limits},
          {"pruned_params", p.pruned_params}, {"trained", p.trained},
          {"params_p10_p50_p90", p.params_pct}, {"macs_p10_p50_p90", p.macs_pct},
          {"baseline_params", p.baseline_params}, {"batch", p.batch},
          {"patch", p.patch},       {"timed", timed},
          {"stages", rows},         {"total_s", p.total_s}};
}

}  // namespace srnas
