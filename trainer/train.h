// Trainer: trains one genome on a data set with L1 loss and Adam, validates, checkpoints.
//
// The loop reads top to bottom in train.cpp. Contract: the run is a pure function of
// (genome, data, options.seed) on a given device and thread count; a checkpoint holds the
// model, the optimizer, the iteration and the loader position, and resuming from it
// continues to bit-identical weights (CPU). A NaN/Inf loss ends the run with status
// "diverged" and the reason instead of crashing (on CPU at that step; on a GPU the losses
// are read back only at log, validation and checkpoint steps, so the reason names the
// window, and nothing non-finite is ever checkpointed). Data-parallel ranks (a reducer of
// several ranks) decide together at each of those read-backs: the loss they check and log is
// the group's (the global batch's), and a stop asked of any rank (should_stop) stops them all
// after the same iteration, so no rank is ever left waiting in a collective for the others
// (on a GPU a stop therefore waits for the next log, validation or checkpoint step). Rank 0
// alone validates and writes (checkpoints, weights, logs): the others' val_psnr stay NaN. options.perf (channels-last, bf16
// autocast, cuDNN benchmark, pinned batches) changes how a step runs, not what it computes.
// With options.ema the validation and weights.safetensors are the weights' moving average
// (checkpointed as checkpoint/ema.safetensors); the optimizer steps the raw weights. The trainer never sees the results DB
// or MPI: data-parallel gradient averaging reaches it through GradientReducer.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "search_space/builder.h"
#include "search_space/genome.h"
#include "trainer/dataset.h"
#include "trainer/image_store.h"
#include "trainer/options.h"

namespace srnas {

// Implemented by distributed/: averages gradients across the ranks of a group, in place, and
// lets the ranks decide together. Both calls are collective over the group.
class GradientReducer {
 public:
  virtual ~GradientReducer() = default;
  virtual void average(std::vector<torch::Tensor>& grads) = 0;
  // Replaces each of the n host values with its sum over the group (one small all-reduce).
  virtual void sum(double* values, int n) = 0;
  virtual int rank() const = 0;   // this rank's index within the group
  virtual int size() const = 0;   // ranks in the group (the global batch is split across them)
};

struct TrainProgress {
  int64_t iteration = 0;  // iterations done
  int64_t total = 0;
  double loss = 0;        // mean L1 over the last log window
  double lr = 0;
  double elapsed_s = 0;
  double val_psnr_rgb = NAN;  // set on validation steps
};

struct TrainHooks {
  std::function<void(const TrainProgress&)> on_log;  // every log_every iterations and at validation
  std::function<bool()> should_stop;                 // polled each iteration; true: checkpoint and stop (see above for a group)
  GradientReducer* reducer = nullptr;
  bool quiet = false;                                 // no progress lines on stderr
  // Fine-tuning: a safetensors of this genome (srnas names) to start from instead of the
  // seed's initialisation; every tensor must match (srnas::Error naming the file otherwise).
  // Ignored when the run resumes from its checkpoint. "" = from the seed.
  std::string init_weights;
};

struct TrainResult {
  std::string status;        // "complete" | "diverged" | "stopped"
  std::string reason;        // why, for diverged/stopped
  int64_t iterations = 0;    // done in total (including before a resume)
  double final_loss = NAN;   // the last step's loss (the [train] lines and log.jsonl: means over the log window)
  double val_psnr_rgb = NAN, val_psnr_y = NAN;
  double train_seconds = 0;
  double loader_wait_s = 0;
  std::string weights_path;  // out_dir/weights.safetensors
};

struct TrainData {
  std::shared_ptr<const DecodedImages> train;  // trainer/image_store.h: in memory or mapped
  std::shared_ptr<const DecodedImages> val;    // the same stores: shared on a node when mapped
};

// One optimisation step (forward, the pixel loss (L1 by default), backward, gradient averaging, Adam) and its loss
// as a 0-d fp32 tensor on the device, without waiting for it (a GPU keeps queueing work).
// `autocast`: forward in that dtype (kBFloat16) with fp32 weights, loss and Adam; kFloat: off.
torch::Tensor train_step_async(SRNet& net, torch::optim::Adam& adam, const torch::Tensor& lr, const torch::Tensor& hr,
                               GradientReducer* reducer = nullptr, torch::ScalarType autocast = torch::kFloat,
                               const LossOptions& loss = {});
// The same step, returning the loss (synchronizes). train() runs exactly this step;
// benchmarks time it.
double train_step(SRNet& net, torch::optim::Adam& adam, const torch::Tensor& lr, const torch::Tensor& hr,
                  GradientReducer* reducer = nullptr, torch::ScalarType autocast = torch::kFloat,
                  const LossOptions& loss = {});

// The options' pixel loss of sr against hr (fp32, mean over every value; LossOptions).
torch::Tensor pixel_loss(const torch::Tensor& sr, const torch::Tensor& hr, const LossOptions& loss);

// Mean seconds of `steps` training steps (after `warmup` untimed ones) of a genome at the
// options' batch size, patch size, device and perf settings, on random tensors (no data read):
// what `srnas plan` prices a study with.
double seconds_per_step(const Genome& genome, const TrainOptions& opt, int warmup, int steps);

// Trains into out_dir (created): checkpoint/, log.jsonl, genome.json, options.json,
// weights.safetensors, result.json. resume: continue from out_dir/checkpoint if present.
TrainResult train(const Genome& genome, const TrainData& data, const TrainOptions& opt, const std::string& out_dir,
                  bool resume, const TrainHooks& hooks = {});

}  // namespace srnas
