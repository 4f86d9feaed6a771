// TrialRecord: one candidate of a study as the search sees it: its genome, its state and
// the numbers measured for it. results_db stores it (the single source of truth), the
// samplers read histories of it, analysis ranks it.
//
// Contract: a plain value type. Metric fields are std::nullopt until measured.
// States: PENDING (proposed, not started) -> RUNNING (claimed by a worker, heartbeats)
// -> COMPLETE | PRUNED (stopped by a constraint or by successive halving, with reason)
// | FAILED (error or divergence, with reason). A RUNNING trial whose worker died is put
// back to PENDING on --resume.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace srnas {

enum class TrialState { Pending, Running, Complete, Pruned, Failed };

const char* to_string(TrialState s);                 // "PENDING", "RUNNING", ...
TrialState trial_state_from_string(const std::string& s);  // throws srnas::Error on unknown

struct TrialRecord {
  int64_t id = 0;          // unique in the DB
  int64_t study_id = 0;
  int64_t number = 0;      // 0, 1, 2, ... within the study, in proposal order
  std::string genome_json; // canonical JSON (search_space canonical_json)
  std::string genome_hash; // search_space genome_hash
  TrialState state = TrialState::Pending;
  std::string reason;      // why PRUNED / FAILED (one line)
  std::string worker;      // who claimed it (host:pid[:rank])
  double created_at = 0, started_at = 0, finished_at = 0, heartbeat_at = 0;  // unix seconds
  std::optional<int64_t> params, macs;
  std::optional<double> psnr_rgb, psnr_y, runtime_s, runtime_ratio;
  int64_t budget = 0;      // training iterations done / granted
  int rung = 0;            // successive-halving rung reached (0 = first)
  std::map<int, double> rung_psnr;  // PSNR-RGB measured at the end of each rung reached
  std::optional<int64_t> parent_id; // retrain: the trial it was retrained from
  bool is_baseline = false;
  std::string weights_path;         // artifact: trained weights (safetensors)
  // retrain: JSON of the training settings that decide its numbers (retrain_settings(): the
  // options minus logging, loader and threads, plus the device); "" for search trials, whose
  // settings are the study's, and for retrains recorded before schema version 3.
  std::string train_json;
};

// A retrain (srnas retrain) is a separate experiment at its own budget, linked to the trial
// it retrains: the search (its sampler, its trial count, its tracks and Pareto front) never
// counts it, since its PSNR does not compare with the search's budget.
inline bool is_retrain(const TrialRecord& t) { return t.parent_id.has_value(); }

// The study's search: every trial but the retrains, in the same order.
std::vector<TrialRecord> search_trials(std::vector<TrialRecord> trials);

// Trials per state: every state, 0 if none (as ResultsDB::state_counts, over a list read).
std::map<TrialState, int> state_counts(const std::vector<TrialRecord>& trials);

// A final trial's wall time from its last claim to its end (finished_at - started_at), for
// the time it took; nullopt for a trial not finished or without both stamps. A trial that
// was re-queued counts from the claim that finished it.
std::optional<double> trial_seconds(const TrialRecord& t);
// What a list of trials cost: the sum of their trial_seconds (worker time) and the span from
// the first start to the last end of those (wall time); 0 and 0 for none.
struct TrialTime {
  double worker_s = 0, wall_s = 0;
};
TrialTime trial_time(const std::vector<TrialRecord>& trials);

}  // namespace srnas
