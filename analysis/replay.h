// The replay benchmark: compares samplers on a finished study without training anything, by
// letting each sampler search INSIDE the study's recorded genomes (a lookup table of metrics)
// and following the hypervolume it reaches after k evaluations, over several seeds.
// Contract: a pure function of (recorded trials, options); every run evaluates distinct
// recorded genomes, so with budget = all recorded every sampler ends on the same hypervolume.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "results_db/results_db.h"
#include "sampler/sampler.h"

namespace srnas {

class Space;

struct ReplayOptions {
  std::string sampler = "random";  // random | evolution | nsga2 | tpe
  int budget = 0;                  // evaluations per run; 0 (or more than recorded) = all recorded
  int seeds = 10;                  // runs with seeds 0..seeds-1
  int population = 8;              // SamplerConfig::population (and tpe's n_startup)
  int tournament = 3;              // SamplerConfig::tournament
  // Parallel workers W: each proposal is made while the W-1 previous ones still train (a
  // steady pipeline of equal-length trials), so they are in its history as RUNNING, with
  // their params and runtime ratio (measured before training) but no PSNR. 1: sequential.
  int workers = 1;
  bool constant_liar = false;      // SamplerConfig::constant_liar (tpe)
  bool multivariate = false;       // SamplerConfig::multivariate (tpe)
  // The study's `limits:` and MACs LR size (its search config; `srnas report replay` reads
  // them from the study), applied as the search applies them: they tighten the constraints,
  // and no genome above the params/MACs limits is proposed.
  Limits limits;
  int macs_h = 339, macs_w = 510;
};

struct ReplayCurve {
  std::string sampler;             // the type; tpe's options in brackets: "tpe (multivariate, constant liar)"
  // Over the seeds, hypervolume after k = 1..budget evaluations (index k-1); stdev is the
  // sample standard deviation (0 for one seed).
  std::vector<double> mean, stdev, min, max;
  std::vector<std::vector<double>> runs;     // runs[s][k-1]: seed s's curve
  std::vector<std::vector<int64_t>> orders;  // orders[s]: trial ids seed s evaluated, in order
  double propose_s = 0;                      // wall seconds inside the sampler's propose(), all runs
};

// One recorded genome of the lookup table replay() searches in.
struct LookupEntry {
  TrialRecord trial;                // as recorded
  std::vector<int> genes;           // space.encode of its genome; empty when it is outside the space
  bool complete = false;            // COMPLETE with PSNR-RGB, params and runtime ratio: in the hypervolume
  std::vector<double> objectives;   // complete: (-PSNR-RGB, params, runtime ratio) scaled by lo/hi
};

// The lookup table and what a run starts from (see replay() for which trials it holds).
struct LookupTable {
  std::string space;                // the study's space (name or file)
  std::shared_ptr<const Space> space_def;  // that space, loaded
  std::vector<TrialRecord> baselines;
  std::vector<LookupEntry> entries; // by trial number, one per genome hash
  std::vector<double> lo, hi;       // per raw objective, over the COMPLETE entries
  std::vector<double> ref;          // the reference point of the normalised objectives (1.01 each)
};

// Builds the table replay() uses; `where` prefixes errors (none recorded, space not loadable).
LookupTable lookup_table(const std::vector<TrialRecord>& trials, const std::string& space, const std::string& where);

// JSON text of the table, for replaying other samplers on it (scripts/bench_optuna.py):
// {"space", "kind", "genes": [{"name", "labels"}], "objectives": ["-psnr_rgb", "params", "runtime_ratio"],
//  "lo", "hi", "ref", "baselines": [{"trial", "psnr_rgb", "params", "runtime_ratio"}],
//  "entries": [{"trial" (id, as in replay_json's orders), "number", "genome_hash", "genes",
//  "complete", "psnr_rgb", "params", "runtime_ratio", "objectives"}]}; absent metrics are null.
std::string lookup_table_json(const LookupTable& table);

// The lookup table: the study's COMPLETE candidates with PSNR-RGB, params and runtime ratio,
// and its PRUNED-by-constraint or -by-limit ones (reason "constraint: ..." or "limit: ...";
// infeasible, with their metrics);
// not FAILED, successive-halving-PRUNED, unfinished, baseline or retrain trials (one entry per
// genome hash, the lowest-numbered). A run asks the real sampler (make_sampler with the
// options; Space::load(study.space); constraints from the COMPLETE baseline tightened by
// opt.limits, and opt.limits' admissible genomes, as the search does) with the run's history: the study's baseline trials, then the evaluated entries
// renumbered in evaluation order. A recorded proposal is "evaluated" by looking it up. An
// unrecorded one (the space is larger than the recorded set) is mapped to the NEAREST
// recorded genome not yet evaluated: fewest differing genes (space.encode; a genome outside
// the space differs in all), ties to the lowest trial number. When the sampler finds nothing
// new, the lowest-numbered unevaluated entry is taken. (Until `population` COMPLETE entries
// are in the history, evolution, nsga2 and tpe draw like random from the same seed, so all
// four curves coincide at first.)
// Hypervolume after k evaluations: the COMPLETE evaluated entries on (-PSNR-RGB, params,
// runtime ratio), each scaled to [0,1] by its min/max over the whole recorded COMPLETE set (a
// zero range maps to 0), reference point 1.01 in every objective (the worst recorded value
// plus a 1% margin); sampler/pareto.h hypervolume; 0 before the first COMPLETE one.
// Throws srnas::Error (naming the DB and study) when nothing is recorded, on a bad option or
// an unknown sampler, or when the study's space cannot be loaded.
ReplayCurve replay(const ResultsDB& db, const StudyRecord& study, const ReplayOptions& opt);

// The same over trials already read (e.g. db.trials(study.id)); `where` prefixes errors.
ReplayCurve replay(const std::vector<TrialRecord>& trials, const std::string& space, const ReplayOptions& opt,
                   const std::string& where);

// A text table: k, then mean +- sd per sampler, at k = 1, 2, 5, 10, 20, 50, ... and the final k;
// last, the milliseconds spent in the sampler per proposal.
std::string replay_table(const std::vector<ReplayCurve>& curves);
// JSON text: [{"sampler", "k": [...], "mean", "stdev", "min", "max", "runs", "orders", "propose_s"}, ...].
std::string replay_json(const std::vector<ReplayCurve>& curves);

// Gnuplot plot (replay.png and replay.svg, with replay_<sampler>.dat and replay.gp) of each
// sampler's mean hypervolume with a shaded min..max band; returns the two image paths.
std::vector<std::string> write_replay_plot(const std::vector<ReplayCurve>& curves, const std::string& out_dir);

}  // namespace srnas
