// Retrains compared at matched settings. `srnas retrain` trains a search trial's genome at
// another budget (and seed); its PSNR says nothing against the search's baseline, trained at
// the search's budget, only against retrains of the baseline made with the same settings.
// retrain_groups() groups a study's COMPLETE retrains by their settings but the seed
// (TrialRecord::train_json without train.seed), forms one arm per retrained genome (its runs,
// one per seed: mean and sample standard deviation of the PSNR) and ranks the arms by the
// three tracks (tracks.h rules, on the means) against the baseline's arm of the same group.
//
// Contract: pure functions of the study's trial list; FAILED, PRUNED, PENDING and RUNNING
// retrains are not counted; a group without a baseline arm ranks nothing and each of its arms
// says so; retrains recorded before their settings were (train_json "") form one group of
// their own ("settings not recorded"). Search trials are never part of a group.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "analysis/tracks.h"
#include "sampler/trial.h"

namespace srnas {

// What a retrain's settings (TrialRecord::train_json, as distributed/search.h
// retrain_settings() writes them) record. "" or unreadable JSON: everything empty, key "".
struct RetrainSettings {
  std::string key;  // the settings without train.seed: retrains with equal keys compare
  std::optional<uint64_t> seed;
  std::optional<int64_t> iterations;
  std::string device;
  bool from_parent = false;  // "init": "parent": fine-tuned from the search trial's weights
};
RetrainSettings parse_retrain_settings(const std::string& train_json);

struct RetrainArm {
  TrialRecord parent;             // the search trial whose genome was retrained
  std::vector<TrialRecord> runs;  // its COMPLETE retrains in the group, by number
  std::vector<std::optional<uint64_t>> seeds;  // theirs, as recorded (nullopt: not recorded)
  double psnr_rgb_mean = 0, psnr_rgb_sd = 0;   // sd: sample standard deviation (n - 1), 0 for n = 1
  double psnr_y_mean = 0;
  double runtime_ratio_mean = 0;  // untrained runtime ratios measured by each retrain
  int64_t params = 0;
  // Against the group's baseline arm: mean PSNR-RGB difference (dB) and its standard error
  // sqrt(sd^2/n + sd_b^2/n_b); the error needs at least 2 runs in both arms.
  std::optional<double> delta_db, delta_se_db;

  // The run to ship (srnas export --retrained): the best PSNR-RGB of the runs, the first by
  // number on ties. An arm always has at least one run.
  const TrialRecord& best_run() const;
};

struct RetrainGroup {
  int number = 0;             // 1, 2, ... in the order of the groups' first runs (srnas export --group)
  std::string settings_json;  // train_json without train.seed; "" = settings not recorded
  std::optional<int64_t> iterations;  // train.iterations
  std::string device;                 // "" when not recorded
  // "3000 iterations on cpu" (", fine-tuned from the search's weights" for `init: parent`),
  // plus what differs from an earlier group of the same label.
  std::string label;
  std::optional<RetrainArm> baseline;
  std::vector<RetrainArm> arms;       // the candidates, by their search trial's number
  // The tracks over the arms: records whose id and number are the search trial's and whose
  // psnr_rgb, psnr_y and runtime_ratio are the arm's means.
  std::array<TrackResult, 3> tracks;

  // The baseline's arm (when there is one), then the candidates': for tables.
  std::vector<const RetrainArm*> every_arm() const {
    std::vector<const RetrainArm*> out;
    if (baseline) out.push_back(&*baseline);
    for (const RetrainArm& a : arms) out.push_back(&a);
    return out;
  }
  // The candidates' arm ranked first on `track` (1-3); nullptr when that track ranks none.
  const RetrainArm* winner(int track) const;
};

// The study's retrain groups, in the order of their first run.
std::vector<RetrainGroup> retrain_groups(const std::vector<TrialRecord>& trials);

// Mean and sample standard deviation (n - 1; 0 for one value). Throws on an empty list.
std::pair<double, double> mean_sd(const std::vector<double>& v);

}  // namespace srnas
