#include "distributed/plan.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "search_space/accounting.h"
#include "search_space/error.h"
#include "search_space/registry.h"
#include "search_space/rng.h"
#include "search_space/space.h"
#include "trainer/data_split.h"
#include "trainer/image_store.h"
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

// Seconds of one forward pass of `net` on an input of h x w (one untimed pass first).
double forward_s(SRNet& net, const torch::Device& device, int64_t h, int64_t w) {
  RuntimeOptions ro;
  ro.warmup = 1;
  ro.runs = 1;
  return measure_runtime_s(model_function(net), {torch::rand({1, 3, h, w}).to(device)}, device, ro);
}

}  // namespace

SearchPlan plan_search(const SearchConfig& cfg, int workers, int samples, int warmup, int steps) {
  if (workers < 1) throw Error(fmt::format("plan: workers must be >= 1, got {}", workers));
  if (samples < 1) throw Error(fmt::format("plan: samples must be >= 1, got {}", samples));
  SearchPlan p;
  p.workers = workers;
  auto space = Space::load(cfg.space);
  // The search trains, validates and probes on its config's device (not the options'): it
  // fails here as the search would when that device is missing.
  const torch::Device dev = pick_device(cfg.device);
  TrainOptions opt = load_train_options(cfg.train_options, cfg.train_set);
  opt.device = dev.is_cuda() ? "cuda" : "cpu";
  const Genome base = load_arch(cfg.baseline).genome;
  p.device = dev.str();
  p.batch = opt.batch_size;
  p.patch = opt.patch_lr;
  p.baseline_params = count_params(base);

  // The validation images (decoded, as every worker does with both splits): their count and
  // mean LR size price the validation passes and the probes.
  const auto t_load = std::chrono::steady_clock::now();
  const std::vector<LoadedPair> val = load_pairs(open_val_set(cfg.data), size_t(16) << 30);
  const double val_load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_load).count();
  p.val_images = int(val.size());
  const Dataset train_set = open_train_set(cfg.data);
  p.train_images = int(train_set.pairs.size());
  p.train_decoded_bytes = int64_t(decoded_size_estimate(train_set));
  StoreOptions so;
  so.store = opt.store;
  so.max_bytes = size_t(opt.max_memory_mb) << 20;
  so.shared_on_node = workers > 1;  // mpirun ranks, as on one node
  p.train_store = store_maps(so, size_t(p.train_decoded_bytes)) ? "mapped" : "memory";
  if (p.train_store == "mapped") p.train_cache = decoded_cache_status(train_set);
  for (const LoadedPair& v : val) p.val_decoded_bytes += int64_t(v.hr.rgb.size() + v.lr.rgb.size());
  so.max_bytes = size_t(16) << 30;  // the workers' cap for the validation images
  p.val_store = store_maps(so, size_t(p.val_decoded_bytes)) ? "mapped" : "memory";
  if (p.val_store == "mapped") p.val_cache = decoded_cache_status(open_val_set(cfg.data));
  const bool decode_train = p.train_cache != "current", decode_val = p.val_cache != "current";
  p.load_s = val_load_s * ((decode_val ? 1.0 : 0.0) +
                           (decode_train ? double(p.train_images) / double(std::max(1, p.val_images)) : 0.0));
  for (const LoadedPair& v : val) p.val_lr_h += v.lr.h, p.val_lr_w += v.lr.w;
  p.val_lr_h = std::max<int64_t>(1, p.val_lr_h / std::max(1, p.val_images));
  p.val_lr_w = std::max<int64_t>(1, p.val_lr_w / std::max(1, p.val_images));
  const int probe_n = cfg.runtime.max_images > 0 ? std::min(cfg.runtime.max_images, p.val_images) : p.val_images;
  const int64_t probe_h = cfg.runtime.crop_lr > 0 ? std::min<int64_t>(cfg.runtime.crop_lr, p.val_lr_h) : p.val_lr_h;
  const int64_t probe_w = cfg.runtime.crop_lr > 0 ? std::min<int64_t>(cfg.runtime.crop_lr, p.val_lr_w) : p.val_lr_w;
  const int probe_passes = cfg.runtime.warmup + cfg.runtime.runs;
  double reference_probe_s = 0;  // the reference's share of one candidate's probe
  {
    torch::manual_seed(0);
    SRNet ref(base);
    ref->to(dev);
    reference_probe_s = probe_passes * probe_n * forward_s(ref, dev, probe_h, probe_w);
  }

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

  // Timed (training step, validation pass, probe): the baseline, and candidates at the
  // 25th/50th/75th MACs percentiles of the trainable ones.
  std::sort(trainable.begin(), trainable.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  auto time_genome = [&](const std::string& what, const Genome& g, const TrainOptions& o) {
    const Accounting a = account(g, cfg.macs_h, cfg.macs_w);
    TimedGenome t{what, a.params, a.macs, seconds_per_step(g, o, warmup, steps)};
    torch::manual_seed(0);
    SRNet net(g);
    net->to(dev);
    t.val_s = p.val_images * forward_s(net, dev, p.val_lr_h, p.val_lr_w);
    t.probe_s = probe_passes * probe_n * forward_s(net, dev, probe_h, probe_w) +
                (cfg.runtime.reference == "each" ? reference_probe_s : 0.0);
    p.timed.push_back(t);
    return p.timed.back();
  };
  auto time_candidates = [&](const TrainOptions& o, const std::string& suffix) {
    TimedGenome mean;  // of the timed candidates
    if (trainable.empty()) return mean;
    int n = 0;
    size_t last = SIZE_MAX;
    const std::pair<double, const char*> quantiles[] = {{0.25, "p25"}, {0.5, "p50"}, {0.75, "p75"}};
    for (const auto& [q, label] : quantiles) {
      const size_t i = std::min(trainable.size() - 1, size_t(std::lround(q * double(trainable.size() - 1))));
      if (i == last) continue;  // few trainable genomes: each timed once
      last = i;
      const TimedGenome t = time_genome(fmt::format("candidate (MACs {}){}", label, suffix), trainable[i].second, o);
      mean.step_s += t.step_s, mean.val_s += t.val_s, mean.probe_s += t.probe_s;
      ++n;
    }
    mean.step_s /= n, mean.val_s /= n, mean.probe_s /= n;
    return mean;
  };
  const TimedGenome base_t = time_genome("baseline " + cfg.baseline, base, opt);
  // On CPU, W workers share the cores (each rank its node's cores / ranks): candidates are
  // timed on that share; the baseline trains alone, on all of them.
  const int threads = torch::get_num_threads();
  const bool share = p.device == "cpu" && workers > 1;
  p.candidate_threads = share ? std::max(1, threads / workers) : threads;
  torch::set_num_threads(p.candidate_threads);
  const TimedGenome cand = time_candidates(opt, "");
  torch::set_num_threads(threads);

  // The stages. Every worker decodes the data first; the baseline trains alone to the longest
  // budget; candidates share the workers. A run's extra: its probe (before its first rung)
  // and a validation pass at the end of every rung it trains. Candidates the params rule
  // prunes are probed too: their probe is their whole cost.
  p.rows.push_back({"data (decode)", 1, 0, 0, 0, p.load_s, 1});
  const int64_t base_its = cfg.asha ? max_budget(*cfg.asha) : opt.iterations;
  p.rows.push_back({"baseline (" + cfg.baseline + ")", 1, 0, base_its, base_t.step_s, base_t.val_s + base_t.probe_s, 1});
  if (cfg.trials > p.trained)
    p.rows.push_back({"pruned before training", cfg.trials - p.trained, 0, 0, 0, cand.probe_s, workers});
  if (cfg.asha) {
    const std::vector<int64_t> n = rung_trials(p.trained, *cfg.asha);
    for (size_t r = 0; r < n.size(); ++r)
      p.rows.push_back({fmt::format("rung {}", r), n[r], r == 0 ? 0 : rung_budget(*cfg.asha, int(r) - 1),
                        rung_budget(*cfg.asha, int(r)), cand.step_s, cand.val_s + (r == 0 ? cand.probe_s : 0.0),
                        workers});
  } else {
    p.rows.push_back({"candidates", p.trained, 0, opt.iterations, cand.step_s, cand.val_s + cand.probe_s, workers});
  }
  if (cfg.final_stage) {  // the baseline and each track's first `top` (at most 3 x top genomes), per seed
    const FinalStage& f = *cfg.final_stage;
    TrainOptions fo = load_train_options(f.options, f.set);
    fo.device = opt.device;
    const int64_t seeds = std::max<int64_t>(1, int64_t(f.seeds.size()));
    const int64_t genomes = std::min<int64_t>(3 * f.top, p.trained);
    const TimedGenome fb = time_genome("baseline " + cfg.baseline + " (final)", base, fo);
    torch::set_num_threads(p.candidate_threads);
    const TimedGenome fc = genomes > 0 ? time_candidates(fo, " (final)") : TimedGenome{};
    torch::set_num_threads(threads);
    p.rows.push_back({"final: baseline", seeds, 0, fo.iterations, fb.step_s, fb.val_s + fb.probe_s,
                      int(std::min<int64_t>(workers, seeds))});
    if (genomes > 0)
      p.rows.push_back({"final: winners", genomes * seeds, 0, fo.iterations, fc.step_s, fc.val_s + fc.probe_s, workers});
  }
  for (const PlanRow& r : p.rows) p.total_s += r.seconds();
  return p;
}

nlohmann::json to_json(const SearchPlan& p) {
  nlohmann::json timed = nlohmann::json::array(), rows = nlohmann::json::array();
  for (const TimedGenome& t : p.timed)
    timed.push_back({{"what", t.what},
                     {"params", t.params},
                     {"macs", t.macs},
                     {"step_s", t.step_s},
                     {"val_s", t.val_s},
                     {"probe_s", t.probe_s}});
  for (const PlanRow& r : p.rows)
    rows.push_back({{"stage", r.stage},
                    {"runs", r.runs},
                    {"from", r.from},
                    {"to", r.to},
                    {"iterations", r.iterations()},
                    {"step_s", r.step_s},
                    {"extra_s", r.extra_s},
                    {"workers", r.workers},
                    {"seconds", r.seconds()}});
  return {{"device", p.device},     {"workers", p.workers}, {"candidate_threads", p.candidate_threads},
          {"sampled", p.sampled},   {"over_limits", p.over_limits},
          {"pruned_params", p.pruned_params}, {"trained", p.trained},
          {"params_p10_p50_p90", p.params_pct}, {"macs_p10_p50_p90", p.macs_pct},
          {"baseline_params", p.baseline_params}, {"batch", p.batch},
          {"patch", p.patch},       {"val_images", p.val_images},
          {"train_images", p.train_images}, {"train_decoded_bytes", p.train_decoded_bytes},
          {"train_store", p.train_store}, {"train_cache", p.train_cache},
          {"val_decoded_bytes", p.val_decoded_bytes}, {"val_store", p.val_store}, {"val_cache", p.val_cache}, {"val_lr_size", {p.val_lr_h, p.val_lr_w}},
          {"load_s", p.load_s},     {"timed", timed},
          {"stages", rows},         {"total_s", p.total_s}};
}

}  // namespace srnas
