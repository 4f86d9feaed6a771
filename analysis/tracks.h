// Analysis of a study's trials: the Pareto front and the three AIM 2019 tracks.
//
// Contract: only COMPLETE search trials with their metrics are ranked (the baseline is shown
// as a reference row, never ranked; retrains, at other budgets, are compared among themselves
// by retrains.h). Track rules (protocol.md), all relative to the study's
// baseline trial measured under the same budget and device:
//   Track 1 (params):   fewest params,   needs psnr_rgb >= baseline and runtime_ratio <= baseline
//   Track 2 (runtime):  lowest runtime,  needs params <= baseline and psnr_rgb >= baseline
//   Track 3 (fidelity): highest PSNR,    needs params <= baseline and runtime_ratio <= baseline
// Every unranked trial carries the first rule it breaks, as one line. Pure functions, but
// study_tracks, which reads a study from the DB.
//
// The bicubic floor: PSNR of MATLAB bicubic x4 (no network) on the study's validation
// images, which the search measures with the baseline's probe and records as metrics of
// the baseline trial (step 0, names kBicubicPsnrRgb / kBicubicPsnrY). A baseline below it
// trained too briefly for PSNR comparisons against it to say much.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "results_db/results_db.h"
#include "sampler/trial.h"

namespace srnas {

enum class Objective { PSNR, Params, Runtime, Macs };

// "psnr,params,runtime" or with "macs" (any non-empty subset, any order); throws srnas::Error otherwise.
std::vector<Objective> parse_objectives(const std::string& csv);
std::string to_string(Objective o);

// COMPLETE search trials (the baseline included, retrains not) not dominated by another COMPLETE trial on the
// objectives (maximize PSNR-RGB, minimize params, minimize runtime_ratio), by number.
std::vector<TrialRecord> pareto_trials(const std::vector<TrialRecord>& trials, const std::vector<Objective>& objectives);

struct Unranked {
  TrialRecord trial;
  std::string reason;
};

struct TrackResult {
  int track = 0;                     // 1, 2, 3
  std::string name;                  // "params", "runtime", "fidelity"
  std::vector<TrialRecord> ranked;   // best first
  std::vector<Unranked> unranked;
  // When the winner (ranked[0]) is not strictly better than the baseline on the track's own
  // measure (fewer params, lower runtime ratio, higher PSNR): one line saying so, else "". The
  // winner then only meets the baseline's constraints; the baseline still holds the track.
  std::string not_beaten;
};

inline constexpr char kBicubicPsnrRgb[] = "bicubic_psnr_rgb";
inline constexpr char kBicubicPsnrY[] = "bicubic_psnr_y";

struct TracksReport {
  std::optional<TrialRecord> baseline;  // nullopt: no COMPLETE baseline yet (nothing is ranked)
  std::array<TrackResult, 3> tracks;
  std::optional<double> bicubic_psnr_rgb, bicubic_psnr_y;  // the bicubic floor, when recorded
  std::string floor_warning;  // one line when the baseline's PSNR-RGB is below the floor, else ""
};

TracksReport rank_tracks(const std::vector<TrialRecord>& trials);

// Sets r's bicubic floor and its warning (for r.baseline).
void set_bicubic_floor(TracksReport& r, std::optional<double> psnr_rgb, std::optional<double> psnr_y);

// rank_tracks of the study's trials with the bicubic floor its baseline carries.
TracksReport study_tracks(const ResultsDB& db, int64_t study_id);
// The same for a study's trials already read (db.trials(study_id)): reads only the floor.
TracksReport study_tracks(const ResultsDB& db, const std::vector<TrialRecord>& trials);

// The winner of a track (1..3), if any.
std::optional<TrialRecord> track_winner(const std::vector<TrialRecord>& trials, int track);

}  // namespace srnas
