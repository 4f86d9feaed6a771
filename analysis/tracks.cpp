#include "analysis/tracks.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include <fmt/format.h>

#include "sampler/pareto.h"
#include "search_space/error.h"

namespace srnas {

std::vector<Objective> parse_objectives(const std::string& csv) {
  std::vector<Objective> out;
  std::stringstream ss(csv);
  std::string item;
  while (std::getline(ss, item, ',')) {
    Objective o;
    if (item == "psnr") o = Objective::PSNR;
    else if (item == "params") o = Objective::Params;
    else if (item == "runtime") o = Objective::Runtime;
    else if (item == "macs") o = Objective::Macs;
    else throw Error(fmt::format("--objectives: expected a comma list of psnr, params, macs, runtime; got '{}'", item));
    if (std::find(out.begin(), out.end(), o) != out.end())
      throw Error(fmt::format("--objectives: '{}' given twice", item));
    out.push_back(o);
  }
  if (out.empty()) throw Error("--objectives: expected at least one of psnr, params, macs, runtime");
  return out;
}

std::string to_string(Objective o) {
  switch (o) {
    case Objective::PSNR: return "psnr";
    case Objective::Params: return "params";
    case Objective::Macs: return "macs";
    case Objective::Runtime: break;
  }
  return "runtime";
}

namespace {

// "PSNR 28.950 dB < baseline 29.000 dB"; when both round to the same text, the difference is
// added ("PSNR 31.531 dB < baseline 31.531 dB (by 1e-05 dB)"), not a contradiction.
std::string worse(const char* what, double v, const char* op, double base, const char* unit) {
  const std::string a = fmt::format("{:.3f}", v), b = fmt::format("{:.3f}", base);
  return fmt::format("{} {}{} {} baseline {}{}{}", what, a, unit, op, b, unit,
                     a == b ? fmt::format(" (by {:.2g}{})", std::abs(v - base), unit) : "");
}

bool has_metrics(const TrialRecord& t) {
  return t.state == TrialState::Complete && t.psnr_rgb && t.params && t.runtime_ratio;
}

}  // namespace

std::vector<TrialRecord> pareto_trials(const std::vector<TrialRecord>& trials, const std::vector<Objective>& objectives) {
  const bool macs = std::find(objectives.begin(), objectives.end(), Objective::Macs) != objectives.end();
  std::vector<TrialRecord> pool;
  for (const auto& t : trials)
    if (has_metrics(t) && !is_retrain(t) && (!macs || t.macs)) pool.push_back(t);
  std::vector<Point> pts;
  for (const auto& t : pool) {
    Point p;
    for (Objective o : objectives)
      p.push_back(o == Objective::PSNR     ? -*t.psnr_rgb
                  : o == Objective::Params ? double(*t.params)
                  : o == Objective::Macs   ? double(*t.macs)
                                           : *t.runtime_ratio);
    pts.push_back(p);
  }
  std::vector<TrialRecord> out;
  for (size_t i : pareto_front(pts)) out.push_back(pool[i]);
  std::sort(out.begin(), out.end(), [](const TrialRecord& a, const TrialRecord& b) { return a.number < b.number; });
  return out;
}

TracksReport rank_tracks(const std::vector<TrialRecord>& trials) {
  TracksReport r;
  r.tracks[0].track = 1, r.tracks[0].name = "params";
  r.tracks[1].track = 2, r.tracks[1].name = "runtime";
  r.tracks[2].track = 3, r.tracks[2].name = "fidelity";
  for (const auto& t : trials)
    if (t.is_baseline && has_metrics(t) && !is_retrain(t)) r.baseline = t;
  for (const auto& t : trials) {
    if (t.is_baseline || is_retrain(t) || t.state != TrialState::Complete) continue;
    for (auto& tr : r.tracks) {
      if (!r.baseline) {
        tr.unranked.push_back({t, "no COMPLETE baseline in the study"});
        continue;
      }
      if (!has_metrics(t)) {
        tr.unranked.push_back({t, "missing metrics"});
        continue;
      }
      const TrialRecord& b = *r.baseline;
      std::string why;
      const bool psnr_ok = *t.psnr_rgb >= *b.psnr_rgb, params_ok = *t.params <= *b.params,
                 runtime_ok = *t.runtime_ratio <= *b.runtime_ratio;
      auto psnr_why = worse("PSNR", *t.psnr_rgb, "<", *b.psnr_rgb, " dB");
      auto params_why = fmt::format("params {} > baseline {}", *t.params, *b.params);
      auto runtime_why = worse("runtime ratio", *t.runtime_ratio, ">", *b.runtime_ratio, "");
      if (tr.track == 1) why = !psnr_ok ? psnr_why : !runtime_ok ? runtime_why : "";
      if (tr.track == 2) why = !params_ok ? params_why : !psnr_ok ? psnr_why : "";
      if (tr.track == 3) why = !params_ok ? params_why : !runtime_ok ? runtime_why : "";
      if (why.empty())
        tr.ranked.push_back(t);
      else
        tr.unranked.push_back({t, why});
    }
  }
  auto by = [](auto key) {
    return [key](const TrialRecord& a, const TrialRecord& b) {
      auto ka = key(a), kb = key(b);
      return ka != kb ? ka < kb : a.number < b.number;
    };
  };
  std::sort(r.tracks[0].ranked.begin(), r.tracks[0].ranked.end(),
            by([](const TrialRecord& t) { return std::make_pair(double(*t.params), -*t.psnr_rgb); }));
  std::sort(r.tracks[1].ranked.begin(), r.tracks[1].ranked.end(),
            by([](const TrialRecord& t) { return std::make_pair(*t.runtime_ratio, -*t.psnr_rgb); }));
  std::sort(r.tracks[2].ranked.begin(), r.tracks[2].ranked.end(),
            by([](const TrialRecord& t) { return std::make_pair(-*t.psnr_rgb, double(*t.params)); }));
  if (r.baseline) {
    const TrialRecord& b = *r.baseline;
    auto note = [&](TrackResult& tr, bool beats, const std::string& measure) {
      if (!tr.ranked.empty() && !beats)
        tr.not_beaten = fmt::format("no trial beats the baseline's {}: the winner, trial {}, only meets its "
                                    "constraints",
                                    measure, tr.ranked.front().id);
    };
    if (!r.tracks[0].ranked.empty())
      note(r.tracks[0], *r.tracks[0].ranked.front().params < *b.params, fmt::format("params ({})", *b.params));
    if (!r.tracks[1].ranked.empty())
      note(r.tracks[1], *r.tracks[1].ranked.front().runtime_ratio < *b.runtime_ratio,
           fmt::format("runtime ratio ({:.3f})", *b.runtime_ratio));
    if (!r.tracks[2].ranked.empty())
      note(r.tracks[2], *r.tracks[2].ranked.front().psnr_rgb > *b.psnr_rgb,
           fmt::format("PSNR ({:.3f} dB)", *b.psnr_rgb));
  }
  return r;
}

std::optional<TrialRecord> track_winner(const std::vector<TrialRecord>& trials, int track) {
  if (track < 1 || track > 3) throw Error(fmt::format("--track: expected 1, 2 or 3, got {}", track));
  TracksReport r = rank_tracks(trials);
  const auto& ranked = r.tracks[size_t(track - 1)].ranked;
  if (ranked.empty()) return std::nullopt;
  return ranked.front();
}

void set_bicubic_floor(TracksReport& r, std::optional<double> psnr_rgb, std::optional<double> psnr_y) {
  r.bicubic_psnr_rgb = psnr_rgb;
  r.bicubic_psnr_y = psnr_y;
  r.floor_warning.clear();
  if (r.baseline && r.baseline->psnr_rgb && psnr_rgb && *r.baseline->psnr_rgb < *psnr_rgb)
    r.floor_warning = fmt::format(
        "the baseline's PSNR-RGB {:.3f} dB is below bicubic's {:.3f} dB: it trained too briefly for "
        "\"PSNR >= baseline\" to mean more than interpolation (raise the training budget)",
        *r.baseline->psnr_rgb, *psnr_rgb);
}

TracksReport study_tracks(const ResultsDB& db, int64_t study_id) { return study_tracks(db, db.trials(study_id)); }

TracksReport study_tracks(const ResultsDB& db, const std::vector<TrialRecord>& trials) {
  TracksReport r = rank_tracks(trials);
  std::optional<double> rgb, y;
  if (r.baseline)
    for (const MetricRecord& m : db.metrics(r.baseline->id)) {
      if (m.name == kBicubicPsnrRgb) rgb = m.value;
      if (m.name == kBicubicPsnrY) y = m.value;
    }
  set_bicubic_floor(r, rgb, y);
  return r;
}

}  // namespace srnas
