// CandidateRunner: what the search loop needs from "something that trains": train one
// candidate to a budget and validate it, and time an untrained network.
//
// The search loop (search.h) talks only to this interface, so it does not know whether the
// work happens in this process (LocalRunner, below) or in an MPI group of ranks
// (distributed/mpi_*). Contract: train() resumes from job.run_dir/checkpoint when present
// and is a pure function of (genome, options, data); it trains on this runner's device (the
// search config's `device`), whatever the options' `device` says, and runtime() is measured
// there too, on the runner's probe images, the same for every genome of a study.
#pragma once

#include <cmath>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "distributed/search_config.h"
#include "search_space/genome.h"
#include "trainer/options.h"

namespace srnas {

class GradientReducer;  // trainer/train.h

struct CandidateJob {
  int64_t trial_id = 0;
  Genome genome;
  TrainOptions options;              // iterations = the budget to reach
  std::string run_dir;               // checkpoint, log, weights
  std::string init_weights;          // fine-tuning: start from these weights ("" = from the seed)
  std::function<void()> heartbeat;   // called at least every few seconds while training
  std::function<bool()> should_stop; // true: checkpoint and return status "stopped"
  GradientReducer* reducer = nullptr; // data-parallel group (distributed/), nullptr: one process
};

struct CandidateOutcome {
  std::string status;   // "complete" | "diverged" | "stopped" | "failed"
  std::string reason;
  int64_t iterations = 0;
  double psnr_rgb = NAN, psnr_y = NAN;
  double train_seconds = 0;
  std::string weights_path;
};

// PSNR of MATLAB bicubic x4 (no network) on a runner's validation images: the floor a
// trained network should beat, measured as the trials' PSNR is (protocol.md).
struct BicubicFloor {
  double psnr_rgb = NAN, psnr_y = NAN;
};

struct RuntimePair {
  double runtime_s = NAN;      // the genome, seconds per probe image
  double ref_runtime_s = NAN;  // MSRResNet on the same runner (the protocol's reference)
  double ratio = NAN;          // runtime_ratio (measure_runtime_ratio's paired median, or the quotient)
};

class CandidateRunner {
 public:
  virtual ~CandidateRunner() = default;
  virtual CandidateOutcome train(const CandidateJob& job) = 0;
  // Times an untrained g and MSRResNet on this runner's device and probe images, by the
  // study's runtime settings (in alternation, or against a reference timed once).
  virtual RuntimePair runtime(const Genome& g) = 0;
  // Bicubic on the validation images train() validates on (NaN without validation images).
  virtual BicubicFloor bicubic_floor() = 0;
  virtual std::string device() const = 0;
};

// Trains in this process on cfg.data (loaded once) and probes runtime on its validation images.
// training_data false: only the validation images are read (probes, the bicubic floor; for
// `srnas ask`, which trains nothing), and train() fails.
// ranks_on_node: processes on this node that load the same training images (mpirun; under
// loader.store: auto they then share one mapped copy); announce: say how the images are held
// (one rank of a job does).
struct RunnerPlace {
  int ranks_on_node = 1;
  bool announce = true;
};
std::unique_ptr<CandidateRunner> make_local_runner(const SearchConfig& cfg, bool quiet, bool training_data = true,
                                                   RunnerPlace place = {});

// One unit of work the search loop hands to a worker: time an untrained genome (Probe:
// runtime_s and the worker's own MSRResNet reference, so ratios compare like with like;
// with_bicubic: also the bicubic floor, asked with the baseline's probe) or train it to a
// budget (Train). Values with a JSON form, so they cross MPI as text.
struct WorkItem {
  enum class Kind { Probe, Train, Stop } kind = Kind::Train;
  int64_t trial_id = 0;
  Genome genome;
  TrainOptions options;
  std::string run_dir;
  std::string init_weights;  // Train only: start from these weights ("" = from the seed)
  // Train only: nothing else runs meanwhile (the baseline, when the pool does not overlap it
  // with candidates), so an MPI worker may use every core its node gives to the group, not its share.
  bool solo = false;
  bool with_bicubic = false;  // Probe only
};

struct WorkResult {
  int64_t trial_id = 0;
  WorkItem::Kind kind = WorkItem::Kind::Train;
  CandidateOutcome outcome;   // Train
  double runtime_s = NAN;     // Probe
  double ref_runtime_s = NAN; // Probe: MSRResNet on the same worker
  double runtime_ratio = NAN; // Probe
  BicubicFloor bicubic;       // Probe with with_bicubic (NaN otherwise)
};

nlohmann::json to_json(const WorkItem& w);
WorkItem work_item_from_json(const nlohmann::json& j);
nlohmann::json to_json(const WorkResult& r);
WorkResult work_result_from_json(const nlohmann::json& j);

// Runs one item on a runner.
WorkResult execute(CandidateRunner& runner, const WorkItem& item, GradientReducer* reducer,
                   const std::function<void()>& heartbeat, const std::function<bool()>& should_stop);

// Where the search loop sends work: `size()` workers (groups of ranks) run items
// concurrently; wait_any() returns the next finished one. LocalPool: this process.
class WorkerPool {
 public:
  virtual ~WorkerPool() = default;
  virtual int size() const = 0;
  virtual void submit(int worker, const WorkItem& item) = 0;
  // Blocks until a submitted item finishes; calls tick() every few seconds meanwhile
  // (the loop heartbeats its in-flight trials there).
  virtual WorkResult wait_any(int* worker, const std::function<void()>& tick) = 0;
  virtual std::string device() const = 0;
  virtual std::string worker_name(int worker) const = 0;
  // True: candidates may start on other workers while the baseline trains (they need only its
  // probe: params and runtime ratio). False: the baseline trains first with the node to itself
  // (one worker, or CPU ranks with fixed core shares, which could not lend it their cores).
  virtual bool overlap_baseline() const { return false; }
};

// One worker in this process. on_tick (optional) runs with the search's heartbeat, every few
// seconds while an item runs (`srnas search` watches the node's load with it).
std::unique_ptr<WorkerPool> make_local_pool(std::unique_ptr<CandidateRunner> runner, const std::string& name,
                                            std::function<void()> on_tick = {});

}  // namespace srnas
