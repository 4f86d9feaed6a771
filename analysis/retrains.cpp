#include "analysis/retrains.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "search_space/error.h"
#include "search_space/yaml_json.h"

namespace srnas {

std::pair<double, double> mean_sd(const std::vector<double>& v) {
  if (v.empty()) throw Error("mean_sd: no values");
  double m = 0;
  for (double x : v) m += x;
  m /= double(v.size());
  if (v.size() < 2) return {m, 0.0};
  double ss = 0;
  for (double x : v) ss += (x - m) * (x - m);
  return {m, std::sqrt(ss / double(v.size() - 1))};
}

RetrainSettings parse_retrain_settings(const std::string& train_json) {
  RetrainSettings s;
  if (train_json.empty()) return s;
  nlohmann::json j = nlohmann::json::parse(train_json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return s;  // unreadable: as unrecorded
  if (j.contains("train") && j["train"].is_object()) {
    nlohmann::json& tr = j["train"];
    if (tr.contains("seed") && tr["seed"].is_number_unsigned()) s.seed = tr["seed"].get<uint64_t>();
    if (tr.contains("iterations") && tr["iterations"].is_number_integer()) s.iterations = tr["iterations"].get<int64_t>();
    tr.erase("seed");
  }
  if (j.contains("device") && j["device"].is_string()) s.device = j["device"].get<std::string>();
  s.from_parent = j.contains("init") && j["init"] == "parent";
  s.key = j.dump();
  return s;
}

const TrialRecord& RetrainArm::best_run() const {
  if (runs.empty()) throw Error(fmt::format("retrain arm of trial {} has no run", parent.id));
  const TrialRecord* best = &runs.front();
  for (const TrialRecord& r : runs)  // by number already: strict > keeps the first of equals
    if (*r.psnr_rgb > *best->psnr_rgb) best = &r;
  return *best;
}

const RetrainArm* RetrainGroup::winner(int track) const {
  if (track < 1 || track > 3) throw Error(fmt::format("track must be 1, 2 or 3, got {}", track));
  const TrackResult& t = tracks[size_t(track - 1)];
  if (t.ranked.empty()) return nullptr;
  for (const RetrainArm& a : arms)
    if (a.parent.id == t.ranked.front().id) return &a;
  return nullptr;
}

namespace {

RetrainArm make_arm(const TrialRecord& parent, std::vector<TrialRecord> runs) {
  std::sort(runs.begin(), runs.end(), [](const TrialRecord& a, const TrialRecord& b) { return a.number < b.number; });
  RetrainArm a;
  a.parent = parent;
  std::vector<double> rgb, y, ratio;
  for (const TrialRecord& r : runs) {
    a.seeds.push_back(parse_retrain_settings(r.train_json).seed);
    rgb.push_back(*r.psnr_rgb);
    if (r.psnr_y) y.push_back(*r.psnr_y);
    if (r.runtime_ratio) ratio.push_back(*r.runtime_ratio);
  }
  std::tie(a.psnr_rgb_mean, a.psnr_rgb_sd) = mean_sd(rgb);
  a.psnr_y_mean = y.empty() ? NAN : mean_sd(y).first;
  a.runtime_ratio_mean = ratio.empty() ? NAN : mean_sd(ratio).first;
  a.params = runs.front().params.value_or(parent.params.value_or(0));
  a.runs = std::move(runs);
  return a;
}

// The arm as a COMPLETE record the track rules read (search trial's id, the arm's means).
TrialRecord arm_record(const RetrainArm& a) {
  TrialRecord r = a.parent;
  r.state = TrialState::Complete;
  r.parent_id.reset();
  r.psnr_rgb = a.psnr_rgb_mean;
  r.psnr_y = a.psnr_y_mean;
  r.runtime_ratio = a.runtime_ratio_mean;
  r.params = a.params;
  return r;
}

}  // namespace

std::vector<RetrainGroup> retrain_groups(const std::vector<TrialRecord>& trials) {
  std::map<int64_t, const TrialRecord*> by_id;
  for (const TrialRecord& t : trials) by_id[t.id] = &t;
  std::vector<std::string> order;                                      // group keys, by first run
  std::map<std::string, std::map<int64_t, std::vector<TrialRecord>>> runs;  // key -> parent id -> runs
  std::map<std::string, RetrainSettings> settings;
  for (const TrialRecord& t : trials) {
    if (!is_retrain(t) || t.state != TrialState::Complete || !t.psnr_rgb || !std::isfinite(*t.psnr_rgb)) continue;
    if (!by_id.count(*t.parent_id)) continue;  // its search trial is in another study's list
    RetrainSettings s = parse_retrain_settings(t.train_json);
    if (!runs.count(s.key)) order.push_back(s.key), settings[s.key] = s;
    runs[s.key][*t.parent_id].push_back(t);
  }
  std::vector<RetrainGroup> out;
  std::map<std::string, nlohmann::json> first_of_label;  // label -> the first group's settings
  for (const std::string& key : order) {
    const RetrainSettings& s = settings[key];
    RetrainGroup g;
    g.number = int(out.size()) + 1;
    g.settings_json = key;
    g.iterations = s.iterations;
    g.device = s.device;
    g.label = key.empty() ? "settings not recorded"
                          : fmt::format("{} iterations on {}{}", s.iterations ? std::to_string(*s.iterations) : "?",
                                        s.device.empty() ? "?" : s.device,
                                        s.from_parent ? ", fine-tuned from the search's weights" : "");
    if (!key.empty()) {
      const nlohmann::json these = nlohmann::json::parse(key);
      const auto [it, first] = first_of_label.emplace(g.label, these);
      if (!first) {  // another group of this label: say how it differs from the first
        std::vector<std::string> diff;
        for (const JsonDifference& d : json_differences(it->second, these))
          diff.push_back(fmt::format("{} {}", d.path.substr(d.path.rfind('/') + 1), d.now));
        g.label += fmt::format(" ({})", fmt::join(diff, ", "));
      }
    }
    std::vector<TrialRecord> records;
    for (auto& [parent_id, rs] : runs[key]) {
      RetrainArm a = make_arm(*by_id[parent_id], rs);
      records.push_back(arm_record(a));
      if (a.parent.is_baseline) g.baseline = std::move(a);
      else g.arms.push_back(std::move(a));
    }
    std::sort(g.arms.begin(), g.arms.end(),
              [](const RetrainArm& a, const RetrainArm& b) { return a.parent.number < b.parent.number; });
    if (g.baseline)
      for (RetrainArm& a : g.arms) {
        a.delta_db = a.psnr_rgb_mean - g.baseline->psnr_rgb_mean;
        if (a.runs.size() >= 2 && g.baseline->runs.size() >= 2)
          a.delta_se_db = std::sqrt(a.psnr_rgb_sd * a.psnr_rgb_sd / double(a.runs.size()) +
                                    g.baseline->psnr_rgb_sd * g.baseline->psnr_rgb_sd / double(g.baseline->runs.size()));
      }
    TracksReport r = rank_tracks(records);
    g.tracks = r.tracks;
    if (!g.baseline)
      for (TrackResult& tr : g.tracks)
        for (Unranked& u : tr.unranked) u.reason = "no retrain of the baseline with these settings to compare with";
    out.push_back(std::move(g));
  }
  return out;
}

}  // namespace srnas
