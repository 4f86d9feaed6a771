// TrainOptions: everything that decides a training run, read from a YAML options file
// (configs/train/*.yaml) with `--set key.path=value` overrides from the command line.
//
// Contract: parsing is strict (unknown keys and wrong types are errors naming the file
// and the key path); the learning-rate schedule is a pure function of the iteration;
// to_json() writes back every field so a run's options are recorded in full (`ema` only when
// on, so that the records of runs without it, made before it existed, read the same).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace srnas {

struct Schedule {
  std::string type = "multistep";        // "multistep" (IMDN: halve at milestones) | "cosine_restarts" (SRSTAR)
  std::vector<int64_t> milestones;       // multistep: lr *= gamma from each milestone on
  double gamma = 0.5;
  std::vector<int64_t> periods;          // cosine_restarts: lengths of the cycles (sum >= iterations)
  std::vector<double> restart_weights;   // peak of each cycle relative to lr (default all 1)
  double eta_min = 1e-7;
};

// The pixel loss between the network's output and the HR patch, averaged over every value:
// l1 |d| (EDSR, IMDN, RLFN's first stage), l2 d^2 (the usual PSNR fine-tuning stage of the
// NTIRE efficient-SR teams), charbonnier sqrt(d^2 + eps^2) (LapSRN; a smooth L1).
struct LossOptions {
  std::string type = "l1";  // l1 | l2 | charbonnier
  double eps = 1e-3;        // charbonnier only
};

// Training-time re-parameterisation (trainer/reparam.h): every dense 3x3 conv at LR resolution
// trains as SPAN's Conv3XC (1x1 -> 3x3 -> 1x1 at `gain` x the width, plus a 1x1 shortcut) and is
// fused back into the genome's 3x3 conv, so the deployed network is unchanged.
struct ReparamOptions {
  std::string type;  // "" (off) | "conv3xc"
  int gain = 2;      // 1..4
};

// How a step runs, not what it computes (up to rounding): options.perf.
struct PerfOptions {
  bool channels_last = false;      // NHWC weights and activations (tensor cores on GPU; no gain on this CPU)
  std::string precision = "fp32";  // fp32 | bf16: autocast forward/backward, fp32 weights and Adam state
  bool cudnn_benchmark = true;     // CUDA: cuDNN times its conv algorithms once per shape and keeps the fastest
  bool pin_memory = true;          // CUDA: batches in page-locked memory, copied asynchronously
};

struct TrainOptions {
  uint64_t seed = 0;
  int64_t iterations = 1000;
  int batch_size = 16;
  int patch_lr = 32;          // LR patch side; HR patch = 4x
  bool augment = true;        // 8 flips/rotations
  double lr = 2e-4;
  double beta1 = 0.9, beta2 = 0.99;
  double weight_decay = 0.0;
  Schedule schedule;
  LossOptions loss;           // `loss: l2` or {type: charbonnier, eps: 1.0e-3}; written only when not l1
  ReparamOptions reparam;     // `reparam: {type: conv3xc, gain: 2}`; written only when on
  // Exponential moving average of the weights (BasicSR's ema_decay): after every step
  // ema = decay * ema + (1 - decay) * weights, from the initial weights on; validation and
  // weights.safetensors use the average, the optimizer the raw weights. 0: off.
  double ema_decay = 0.0;
  int64_t val_every = 0;      // 0: validate at the end only
  int64_t checkpoint_every = 0;  // 0: checkpoint at the end only
  int64_t log_every = 100;
  int workers = 2;            // loader threads
  int queue_depth = 8;
  int64_t max_memory_mb = 4096;  // cap on decoded training + validation images held in memory
  // Training images: "memory" (decoded into this process), "mapped" (a decoded-image cache file
  // shared by the processes of a node, trainer/image_store.h), "auto" (mapped when above
  // max_memory_mb or when several processes on a node train on them).
  std::string store = "auto";
  std::string device = "auto";   // auto | cpu | cuda
  int threads = 0;               // LibTorch threads, 0 = all cores
  PerfOptions perf;
};

TrainOptions parse_train_options(const nlohmann::json& j, const std::string& origin);
// Reads a YAML file (or a built-in name under configs/train) and applies overrides
// "a.b=value" (value parsed as YAML: 200, 1e-4, true, [1, 2]).
TrainOptions load_train_options(const std::string& path, const std::vector<std::string>& overrides = {});
void apply_override(nlohmann::json& j, const std::string& assignment);
nlohmann::json to_json(const TrainOptions& o);
// The options that decide a run's numbers: to_json(o) without the validation, logging and
// checkpoint intervals, the loader, threads, the device setting, cuDNN autotuning and pinned
// memory (how a run goes, not what it computes).
nlohmann::json decisive_train_json(const TrainOptions& o);

// Learning rate for iteration t (0-based; the step that is about to run).
double learning_rate(const TrainOptions& o, int64_t t);

}  // namespace srnas
