// Evaluator: measures a model exactly as the AIM 2019 challenge did (protocol.md).
//
// Quality: full-image inference on each LR image, output clamped to [0,1], x255, rounded
// to uint8, then PSNR-RGB (challenge) and PSNR-Y (benchmark), both with a 4-px crop, and
// optionally SSIM-Y; the mean of per-image values. Runtime: the model is warmed up, then
// the average time per image over the LR set is measured 3 times and the best kept; LR
// tensors are on the device before timing (no file I/O or conversion in the timed region)
// and CUDA is synchronized. runtime_ratio = candidate / MSRResNet measured in the same
// process on the same images, in alternation (measure_runtime_ratio). A "model" is anything that maps an LR tensor to an SR tensor.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "search_space/builder.h"
#include "trainer/dataset.h"
#include "trainer/image.h"
#include "trainer/image_store.h"

namespace srnas {

// LR (N=1, 3 x h x w float in [0,1]) -> SR (1 x 3 x 4h x 4w, unclamped).
using SRFunction = std::function<torch::Tensor(const torch::Tensor&)>;

torch::Tensor image_to_tensor(const ImageView& img);          // 1 x 3 x h x w float in [0,1], CPU (a copy)
Image tensor_to_image(const torch::Tensor& t);                // clamp [0,1], x255, round -> uint8
SRFunction model_function(SRNet net);                         // eval mode, InferenceMode
SRFunction bicubic_function();                                // MATLAB bicubic x4 on uint8 (the floor)
// Geometric self-ensemble (EDSR's "+" results, "x8"): f on the 8 flips/transposes of the LR
// image, each output mapped back, the 8 averaged before clamping. 8x the work. Not part of
// the challenge protocol: srnas applies it only when asked (`eval`/`upscale --self-ensemble`).
SRFunction self_ensemble(SRFunction f);

struct ImageScore {
  std::string name;
  double psnr_rgb = 0, psnr_y = 0, ssim_y = 0;
};

struct QualityResult {
  double psnr_rgb = 0, psnr_y = 0, ssim_y = 0;  // means over images
  std::vector<ImageScore> images;
};

// The pairs as the data set's store holds them (in memory or mapped: the same numbers), or
// decoded by load_pairs. Throws for no pairs or an output that is not the HR's size.
QualityResult evaluate_quality(const SRFunction& f, const DecodedImages& pairs, const torch::Device& device,
                               int crop_px = 4, bool with_ssim = false);
QualityResult evaluate_quality(const SRFunction& f, const std::vector<LoadedPair>& pairs, const torch::Device& device,
                               int crop_px = 4, bool with_ssim = false);

struct RuntimeOptions {
  int warmup = 1;                  // passes over the set before timing
  int runs = 3;                    // best of
  std::string precision = "fp32";  // fp32 | bf16 | fp16: model and inputs cast (baseline and candidate alike)
  bool channels_last = false;      // NHWC model and inputs
  bool no_grad = false;            // NoGradGuard instead of InferenceMode (benchmark comparison only)
};

// A network prepared for timing: eval mode, cast to opt's precision and memory format
// (in place: pass a network built for timing), forward under InferenceMode.
SRFunction runtime_function(SRNet net, const RuntimeOptions& opt);
// The LR images in opt's precision and memory format (done before, never in, the timed region).
std::vector<torch::Tensor> runtime_inputs(const std::vector<torch::Tensor>& lr_on_device, const RuntimeOptions& opt);

// Best over `runs` of the average seconds per image; inputs already on `device`. One pass
// is timed with CUDA events on a GPU (steady clock + synchronize on CPU).
double measure_runtime_s(const SRFunction& f, const std::vector<torch::Tensor>& lr_on_device,
                         const torch::Device& device, const RuntimeOptions& opt = {});

struct RuntimeRatio {
  double runtime_s = NAN, baseline_s = NAN;  // best-of-runs seconds per image (the protocol's figures)
  double ratio = NAN;                        // median over runs of candidate pass / baseline pass
};
// Candidate and baseline timed in alternation (warm-up both, then baseline pass, candidate
// pass, `runs` times). The ratio pairs the two passes of each run, adjacent in time, and
// takes the median: a load change on a shared machine moves both passes of a pair, and an
// outlier pair does not move the median (the ratio of the two minimums spread 1.09 over 5
// repeats here, the paired median 1.04; docs/performance.md).
RuntimeRatio measure_runtime_ratio(const SRFunction& candidate, const SRFunction& baseline,
                                   const std::vector<torch::Tensor>& lr_on_device, const torch::Device& device,
                                   const RuntimeOptions& opt = {});

torch::Device pick_device(const std::string& name);  // "auto" | "cpu" | "cuda"
// CUDA device used by pick_device: local_rank % device_count (one GPU per rank of a node).
void set_cuda_device_index(int local_rank);
void synchronize(const torch::Device& device);

}  // namespace srnas
