// The search loop: propose -> count -> prune -> train (successive halving) -> record.
//
// One process drives a study in a results DB (the single source of truth): it trains and
// measures the baseline first (same budget and device as the candidates; when the pool
// overlaps the baseline, candidates start on the other workers once its probe is recorded
// and the sampler sees its PSNR once it completes), then proposes candidates with the
// sampler inside a DB transaction (so a proposal is recorded exactly once), prunes those
// that cannot satisfy the track constraints before training (params, and runtime measured
// untrained) or the config's absolute limits (which the sampler is also held to), trains the
// rest rung by rung, and records every outcome. With a final stage (`final:`), once every
// candidate is final it retrains the baseline and each track's best once per seed on the same
// workers (retrain trials, analysis/retrains.h). After the config's timeout no candidate (nor
// final retrain) starts; the running ones finish. Contract: after a
// crash (kill -9) `resume` puts RUNNING trials back to PENDING and continues from their
// checkpoints; every proposed trial ends COMPLETE, PRUNED or FAILED exactly once.
// SIGINT/SIGTERM checkpoint the running trial and stop cleanly.
// The loop knows nothing of MPI: it hands WorkItems to a WorkerPool (one process, or
// groups of MPI ranks) and keeps every worker busy.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "distributed/runner.h"
#include "distributed/search_config.h"
#include "results_db/results_db.h"

namespace srnas {

struct SearchOptions {
  std::string db_path;
  bool resume = false;
  bool quiet = false;         // no per-iteration training lines (progress lines stay)
  std::string worker;         // recorded on claimed trials; default host:pid
};

struct SearchSummary {
  int64_t study_id = 0;
  std::map<TrialState, int> counts;
  double seconds = 0;
  bool interrupted = false;
  bool timed_out = false;     // the config's timeout stopped new candidates (not all ran)
  // With a final stage: its retrain group's settings (RetrainGroup::settings_json), else "".
  std::string final_settings;
};

SearchSummary run_search(const SearchConfig& cfg, const SearchOptions& opt, WorkerPool& pool);

// The settings that decide a retrain's numbers (TrialRecord::train_json): the training
// options but the validation, logging and checkpoint intervals, loader, threads, cuDNN
// autotuning and pinned memory, and the device the runner trains on. Retrains with the same
// settings but the seed compare with each other (analysis/retrains.h).
// from_parent (fine-tuning from the search trial's trained weights) adds "init": "parent".
nlohmann::json retrain_settings(const TrainOptions& options, const std::string& device, bool from_parent = false);

struct RetrainOutcome {
  TrialRecord trial;  // the retrain, as recorded
  // New: trained as a new trial; Continued: an interrupted one finished; Reused: found
  // COMPLETE; Busy: another live process is training it (trial is that one, untouched).
  enum class How { New, Continued, Reused, Busy } how = How::New;
};

// Trains the genome of search trial `parent_id` (a retrain's: that of its search trial) with
// `options` as a trial linked to it (parent_id, train_json), measured like any trial (params,
// untrained runtime ratio on this runner, PSNR). One retrain per parent and settings: a
// COMPLETE one is returned as it is (Reused); an interrupted one (PENDING), or a RUNNING one
// whose worker is gone (its process on this host has exited, or no heartbeat for 10 min),
// continues from its checkpoint (Continued); a RUNNING one whose worker lives is left to it
// (Busy), so several processes may work through the same list; FAILED ones stay as they are
// and a new trial trains. SIGINT/SIGTERM checkpoint and leave the retrain PENDING.
// from_parent: start from the search trial's trained weights (fine-tuning; an error when it
// has none) instead of the seed's initialisation.
RetrainOutcome retrain_trial(ResultsDB& db, int64_t parent_id, const TrainOptions& options, CandidateRunner& runner,
                             const std::string& runs_dir, const std::string& worker, bool from_parent = false);

// Default folder for trial runs next to a DB: "<db>.runs".
std::string default_runs_dir(const std::string& db_path);
// A study's trial folders: <the config's runs_dir, else default_runs_dir(db_path)>/<study>, made
// absolute (from the current folder): the DB records the weights paths under it.
std::string study_runs_dir(const SearchConfig& cfg, const std::string& db_path);
// A search trial's folder: study_runs_dir(cfg, db_path)/trial_<number>.
std::string trial_run_dir(const SearchConfig& cfg, const std::string& db_path, const TrialRecord& t);
void install_stop_signals();  // SIGINT/SIGTERM -> stop_requested()
bool stop_requested();
void request_stop();  // what a signal does: the running trials checkpoint and stop

}  // namespace srnas
