// Plan: what a search config would cost, before anything trains (`srnas plan`).
//
// Counts come from the config (trials, successive-halving rungs, the final stage) and from
// genomes sampled from its space with the study's seed (params and MACs; the share that the
// params rule and the limits prune before training). Measured here, on the config's device,
// for the baseline and a few sampled candidates (at the 25th, 50th and 75th MACs
// percentiles): seconds per training step at the options' batch and patch size (random
// tensors), one validation pass (forward passes at the validation images' mean LR size) and
// the runtime probe (the config's runs, warm-up, images and crop, with the reference timed
// alongside when `runtime.reference: each`); and the time to decode the validation images,
// scaled to the training set by its file count (nothing for the training set when its
// decoded-image cache file is current and the options map it, trainer/image_store.h).
// Contract: reads the config, its space and options files and the validation images (the
// training images' headers only), never a DB, and writes nothing. An estimate: pruning by
// runtime and the asynchronous rule's extra early promotions (sampler/asha.h rung_trials)
// are not counted; with several workers the candidates' time is divided among them (on CPU
// they are timed on the cores / workers threads each would have).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "distributed/search_config.h"

namespace srnas {

struct PlanRow {
  std::string stage;          // "data", "baseline (msrresnet)", "rung 0", "final: baseline", ...
  int64_t runs = 0;           // trainings of this stage
  int64_t from = 0, to = 0;   // iterations: each run trains from..to (from > 0: continues a rung)
  double step_s = 0;          // measured seconds per step for this stage's networks
  double extra_s = 0;         // per run, besides the steps: validation pass, runtime probe, data loading
  int workers = 1;            // how many run at once
  int64_t iterations() const { return runs * (to - from); }
  double seconds() const { return (double(iterations()) * step_s + double(runs) * extra_s) / workers; }
};

struct TimedGenome {
  std::string what;  // "baseline msrresnet", "candidate (MACs p50)"
  int64_t params = 0, macs = 0;
  double step_s = 0;   // one training step at the options' batch and patch
  double val_s = 0;    // one validation pass (every validation image at its LR size)
  double probe_s = 0;  // its untrained runtime probe, the reference timed with it included
};

struct SearchPlan {
  std::string device;
  int workers = 1;
  int candidate_threads = 0;         // LibTorch threads candidates were timed on (CPU: cores / workers)
  int sampled = 0;                   // genomes drawn from the space
  int over_limits = 0;               // of them above `limits` (never proposed: they cost no trial)
  int pruned_params = 0;             // of the rest, above the baseline's params (PRUNED before training)
  int64_t trained = 0;               // candidates expected to train: trials x the unpruned share
  std::vector<int64_t> params_pct, macs_pct;  // p10, p50, p90 of the proposable genomes
  int64_t baseline_params = 0;
  int batch = 0, patch = 0;          // the search's training options
  int val_images = 0, train_images = 0;
  int64_t val_lr_h = 0, val_lr_w = 0;  // the validation images' mean LR size
  double load_s = 0;                 // decoding what is not in a current cache file (validation measured, training scaled)
  int64_t train_decoded_bytes = 0;   // the training images decoded (from their headers)
  std::string train_store;           // how the workers hold them: "memory" (each its own) or "mapped"
  std::string train_cache;           // mapped: "current" (nothing to decode), else why it is built first
  int64_t val_decoded_bytes = 0;     // the validation images decoded
  std::string val_store, val_cache;  // the same for them (their cap: 16 GiB)
  std::vector<TimedGenome> timed;    // at the search's options, then at the final stage's
  std::vector<PlanRow> rows;
  double total_s = 0;
};

// samples: genomes drawn from the space; warmup/steps: per timed network.
SearchPlan plan_search(const SearchConfig& cfg, int workers, int samples = 64, int warmup = 1, int steps = 3);

nlohmann::json to_json(const SearchPlan& p);

}  // namespace srnas
