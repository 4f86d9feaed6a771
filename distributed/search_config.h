// SearchConfig: everything that decides a search (configs/search/*.yaml), parsed strictly.
//
// Contract: unknown keys and wrong types are errors naming the file and key. Paths (data,
// train options, space and arch files) are taken relative to the current directory.
// The YAML text itself is stored in the study, so a study records what produced it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sampler/asha.h"
#include "sampler/sampler.h"
#include "trainer/data_spec.h"

namespace srnas {

struct RuntimeProbe {
  int runs = 3;          // best of
  int warmup = 1;        // passes before timing
  int max_images = 0;    // 0: every validation image
  int crop_lr = 0;       // 0: full LR images; else centre crops of this size (quick probes)
  std::string reference = "each";  // each: MSRResNet timed in alternation with every candidate; once: per worker
  std::string precision = "fp32";  // fp32 | bf16 | fp16, the same for baseline and candidates
  bool channels_last = false;
};

// After the search, its best are retrained at a final budget, as retrains (analysis/retrains.h)
// with the baseline retrained alike: the baseline and the first `top` trials of each track,
// once per seed. The AIM 2019 numbers are those of fully trained networks; the search's short
// budgets only rank them. The search's workers (MPI groups too) train them.
struct FinalStage {
  std::string options;            // training options file (required)
  std::vector<std::string> set;   // overrides "key=value"
  int top = 1;                    // per track
  std::vector<uint64_t> seeds;    // one retrain per seed; empty: the options' seed
  bool from_parent = false;       // fine-tune from each trial's search weights, not from the seed
};

struct SearchConfig {
  std::string study;                 // study name in the DB
  std::string description;
  std::string space = "unified";     // built-in name or YAML file
  SamplerConfig sampler;
  int trials = 8;                    // candidates to propose (the baseline is extra)
  uint64_t seed = 0;
  // `data: DIR` (a train/ + val/ root, a DIV2K root, ...) or {train, val, val_images}.
  DataSpec data = DataSpec::root("data/samples");
  std::string train_options = "configs/train/tiny.yaml";
  std::vector<std::string> train_set;  // overrides "key=value" applied to the options
  std::optional<AshaConfig> asha;    // successive halving on PSNR; budgets in iterations
  std::string baseline = "msrresnet";
  // Genomes to evaluate first, in order (arch names or genome files; Optuna's enqueue_trial):
  // the first candidates of the study, then the sampler. A genome already in the study is
  // skipped. They count towards `trials`; the samplers see them as any other trial.
  std::vector<std::string> enqueue;
  bool prune_params = true;          // PRUNED before training when params > baseline
  bool prune_runtime = true;         // PRUNED before training when runtime ratio > baseline
  Limits limits;
  // Wall-clock budget of one `srnas search` run, in seconds (0: none): after it no new
  // candidate starts; running ones finish (every rung); --resume continues the study.
  // The baseline always runs: every candidate is measured against it.
  double timeout_s = 0;
  RuntimeProbe runtime;
  int macs_h = 339, macs_w = 510;    // LR size for the recorded MACs
  std::string device = "auto";
  // Under mpirun on CPU nodes: fixed (each rank keeps its node's cores / ranks on the node;
  // a trial's numbers do not depend on timing) or adaptive (ranks with nothing to do lend their
  // cores to the ranks still training; faster tails, but a trial's thread count, and so its
  // last bits, then depend on timing). Probes always run on the fixed count.
  std::string cores = "fixed";
  std::optional<FinalStage> final_stage;  // `final:` (optional)
  std::string runs_dir;              // trial folders; default "<db>.runs"
  bool keep_checkpoints = false;     // keep COMPLETE/PRUNED trials' checkpoint/ (3x the weights each)
  std::string db = "";               // default DB file when --db is not given
  std::string yaml;                  // the config text as read
  std::string origin;                // file path
};

SearchConfig load_search_config(const std::string& path);
// "90s", "30m", "8h", "1.5h", "2d" or plain seconds ("3600") -> seconds > 0; otherwise an
// Error naming `where`.
double parse_duration_s(const std::string& text, const std::string& where);
// 5400 -> "1h30m", 90 -> "1m30s", 12.4 -> "12.4s", 0.001 -> "0.001s".
std::string format_duration(double seconds);
// The same from text (e.g. a study's stored config); `origin` prefixes errors.
SearchConfig load_search_config_text(const std::string& text, const std::string& origin);

}  // namespace srnas
