// Ask and tell (Optuna's ask-and-tell interface): srnas proposes, measures and records the
// candidates of a study, and the training happens outside srnas, in your own script.
//
// `srnas ask` hands out the study's next trial (the baseline first), measured as a search
// measures it (params, MACs, untrained runtime ratio on this machine) and PRUNED before any
// training when it breaks the baseline's constraints or the limits; the trial is then RUNNING
// with worker "external ...". `srnas tell` validates the weights trained for it on the
// study's validation images by the challenge protocol (so every PSNR is srnas's own, not the
// trainer's) and records it COMPLETE; or records it FAILED, or releases it to PENDING for the
// next ask. With successive halving (asha:), ask hands out rung 0's budget and tell promotes
// (train on to the next rung's budget, tell again) or prunes, as the search does. Contract:
// several processes may ask and tell at once (claims, proposals and decisions are DB
// transactions); a study is driven either by `srnas search` or by ask/tell (a search refuses
// a study with trials RUNNING outside). A final stage is a search feature: refused.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "distributed/runner.h"
#include "distributed/search.h"
#include "distributed/search_config.h"
#include "trainer/options.h"

namespace srnas {

// The worker of a trial handed out by ask starts with this.
inline constexpr char kExternalWorker[] = "external";
// A trial handed out by ask to be trained outside srnas: never taken over by a search (it cannot
// know whether the training outside goes on); `srnas tell` ends it.
inline bool is_external(const TrialRecord& t) { return t.worker.rfind(kExternalWorker, 0) == 0; }

struct AskedTrial {
  TrialRecord trial;     // as recorded: RUNNING, params, MACs and runtime ratio measured
  TrainOptions options;  // what to train it with: options.iterations is its budget
  std::string run_dir;   // its folder (srnas tell copies the weights there)
};

// The next trial to train outside srnas, claimed: the lowest-numbered PENDING one (the baseline,
// released or re-queued trials), else a new candidate (enqueued, then the sampler), measured on
// pool's runner first and PRUNED when it breaks a constraint (then the next). Candidates come
// once the baseline's probe is recorded (another ask measuring it is waited for, up to 2 min);
// the sampler's PSNR constraint applies once the baseline is told. nullopt: nothing left to hand
// out (every candidate proposed; some may still be training outside). Throws srnas::Error when
// a stop was requested (a signal) before a trial was handed out, or when another ask's
// baseline probe is still not recorded after 2 minutes.
// requeue_stale_s > 0: first, trials handed out whose last sign of life (the ask, or a
// `tell --alive` heartbeat) is older than that go back to PENDING (a trainer that died), and are
// handed out again from scratch at the budget of the rung they had reached.
std::optional<AskedTrial> ask_trial(const SearchConfig& cfg, const SearchOptions& opt, WorkerPool& pool,
                                    double requeue_stale_s = 0);

struct TellInput {
  std::string weights;        // trained weights (safetensors, srnas names) to validate and record
  std::string failed;         // or: record FAILED with this reason
  bool release = false;       // or: back to PENDING, for the next ask
  bool alive = false;         // or: only a heartbeat (the trainer still works on it)
  int64_t iterations = 0;     // iterations it was trained for in all (0: the budget handed out)
};

struct TellOutcome {
  TrialRecord trial;                 // as recorded
  std::optional<int64_t> continue_to;  // successive halving promoted it: train on to this many
                                       // iterations (from the told weights), then tell again
};

// Records the outcome of trial `trial_id` (of `db_path`), which must be RUNNING as handed out by
// ask. Weights: loaded strictly into the trial's genome (an error names a missing or
// mis-shaped tensor), validated on the study's validation images (its config's data, which
// must hold the images the study was measured on) on its device, copied into the trial's
// folder, and recorded as the search records a training: with successive halving, a candidate
// at a rung below the last is promoted (RUNNING, continue_to) or PRUNED; else COMPLETE.
// Non-finite output records FAILED ("diverged").
TellOutcome tell_trial(const std::string& db_path, int64_t trial_id, const TellInput& told);

// The search's own recording of a finished training (search.cpp), for a trial trained outside:
// o.iterations 0 means the budget ask handed out. Returns the iterations to continue to when
// successive halving promotes it, nullopt when the trial is final. `device`: the study's.
std::optional<int64_t> record_told(const SearchConfig& cfg, const std::string& db_path, ResultsDB& db,
                                   int64_t trial_id, CandidateOutcome o, const std::string& device);

}  // namespace srnas
