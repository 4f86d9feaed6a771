// CandidateRunner: what the search loop needs from "something that trains": train one
// candidate to a budget and validate it, and time an untrained network.
//
// The search loop (search.h) talks only to this interface, so it does not know whether the
// work happens in this process (LocalRunner, below) or in an MPI group of ranks
// (distributed/mpi_*). Contract: train() resumes from job.run_dir/checkpoint when present
// and is a pure function of (genome, options, data); runtime_s() is measured on this
// runner's device and probe images, the same for every genome of a study.
#pragma once

#include <cmath>
#include <functional>
#include <memory>
#include <string>

#include "distributed/search_config.h"
#include "search_space/genome.h"
#include "trainer/options.h"

namespace srnas {

struct CandidateJob {
  int64_t trial_id = 0;
  Genome genome;
  TrainOptions options;              // iterations = the budget to reach
  std::string run_dir;               // checkpoint, log, weights
  std::function<void()> heartbeat;   // called at least every few seconds while training
  std::function<bool()> should_stop; // true: checkpoint and return status "stopped"
};

struct CandidateOutcome {
  std::string status;   // "complete" | "diverged" | "stopped" | "failed"
  std::string reason;
  int64_t iterations = 0;
  double psnr_rgb = NAN, psnr_y = NAN;
  double train_seconds = 0;
  std::string weights_path;
};

class CandidateRunner {
 public:
  virtual ~CandidateRunner() = default;
  virtual CandidateOutcome train(const CandidateJob& job) = 0;
  virtual double runtime_s(const Genome& g) = 0;
  virtual std::string device() const = 0;
};

// Trains in this process on cfg.data (loaded once) and probes runtime on its validation images.
std::unique_ptr<CandidateRunner> make_local_runner(const SearchConfig& cfg, bool quiet);

}  // namespace srnas
