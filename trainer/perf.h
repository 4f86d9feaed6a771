// Execution settings of a training step or a timed inference: memory format, autocast
// precision and backend switches (options.perf and the runtime options).
//
// Contract: none of these change what is computed beyond rounding. channels-last re-lays
// out 4-D parameters in place (the Module and an optimizer that holds them keep working);
// AutocastScope enables autocast for one device type for its lifetime and restores the
// previous state; the functions are no-ops where they do not apply (e.g. cuDNN on CPU).
// Both LibTorch 1.13 and 2.x autocast APIs are handled here and nowhere else.
#pragma once

#include <string>

#include <torch/torch.h>

#include "trainer/options.h"

namespace srnas {

// 4-D parameters and buffers to ChannelsLast (NHWC) storage.
void to_channels_last(torch::nn::Module& m);
// x in the layout the model expects (ChannelsLast when `channels_last`).
torch::Tensor in_format(const torch::Tensor& x, bool channels_last);

// "fp32" | "bf16" | "fp16" -> dtype; anything else throws naming `field`.
torch::ScalarType precision_dtype(const std::string& precision, const std::string& field);

// Autocast to `dtype` on `device`'s type while alive; dtype kFloat = off (does nothing).
class AutocastScope {
 public:
  AutocastScope(const torch::Device& device, torch::ScalarType dtype);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false;
  bool cuda_ = false;
  bool prev_enabled_ = false;
  torch::ScalarType prev_dtype_ = torch::kFloat;
};

// Process-wide backend switches for a run on `device` (cuDNN benchmark mode).
void configure_backend(const PerfOptions& perf, const torch::Device& device);

// A batch from host memory onto `device`: pinned + asynchronous on CUDA when `pin`.
torch::Tensor host_to_device(const torch::Tensor& host, const torch::Device& device, bool pin);

}  // namespace srnas
