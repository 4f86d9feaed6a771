#include "trainer/perf.h"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <fmt/format.h>

#include "search_space/error.h"

// LibTorch 2.4 replaced the per-backend autocast setters with ones taking a device type.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define SRNAS_AUTOCAST_BY_DEVICE 1
#else
#define SRNAS_AUTOCAST_BY_DEVICE 0
#endif

namespace srnas {

void to_channels_last(torch::nn::Module& m) {
  torch::NoGradGuard no_grad;
  for (auto& p : m.parameters())
    if (p.dim() == 4) p.set_data(p.data().contiguous(at::MemoryFormat::ChannelsLast));
  for (auto& b : m.buffers())
    if (b.dim() == 4) b.set_data(b.data().contiguous(at::MemoryFormat::ChannelsLast));
}

torch::Tensor in_format(const torch::Tensor& x, bool channels_last) {
  return channels_last && x.dim() == 4 ? x.contiguous(at::MemoryFormat::ChannelsLast) : x;
}

torch::ScalarType precision_dtype(const std::string& precision, const std::string& field) {
  if (precision == "fp32") return torch::kFloat;
  if (precision == "bf16") return torch::kBFloat16;
  if (precision == "fp16") return torch::kHalf;
  throw Error(fmt::format("{}: expected fp32, bf16 or fp16, got '{}'", field, precision));
}

AutocastScope::AutocastScope(const torch::Device& device, torch::ScalarType dtype) {
  if (dtype == torch::kFloat) return;
  active_ = true;
  cuda_ = device.is_cuda();
#if SRNAS_AUTOCAST_BY_DEVICE
  const auto type = cuda_ ? at::kCUDA : at::kCPU;
  prev_enabled_ = at::autocast::is_autocast_enabled(type);
  prev_dtype_ = at::autocast::get_autocast_dtype(type);
  at::autocast::set_autocast_dtype(type, dtype);
  at::autocast::set_autocast_enabled(type, true);
#else
  if (cuda_) {
    prev_enabled_ = at::autocast::is_enabled();
    prev_dtype_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_autocast_gpu_dtype(dtype);
    at::autocast::set_enabled(true);
  } else {
    prev_enabled_ = at::autocast::is_cpu_enabled();
    prev_dtype_ = at::autocast::get_autocast_cpu_dtype();
    at::autocast::set_autocast_cpu_dtype(dtype);
    at::autocast::set_cpu_enabled(true);
  }
#endif
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
#if SRNAS_AUTOCAST_BY_DEVICE
  const auto type = cuda_ ? at::kCUDA : at::kCPU;
  at::autocast::set_autocast_enabled(type, prev_enabled_);
  at::autocast::set_autocast_dtype(type, prev_dtype_);
#else
  if (cuda_) {
    at::autocast::set_enabled(prev_enabled_);
    at::autocast::set_autocast_gpu_dtype(prev_dtype_);
  } else {
    at::autocast::set_cpu_enabled(prev_enabled_);
    at::autocast::set_autocast_cpu_dtype(prev_dtype_);
  }
#endif
  if (!prev_enabled_) at::autocast::clear_cache();
}

void configure_backend(const PerfOptions& perf, const torch::Device& device) {
  if (device.is_cuda()) at::globalContext().setBenchmarkCuDNN(perf.cudnn_benchmark);
}

torch::Tensor host_to_device(const torch::Tensor& host, const torch::Device& device, bool pin) {
  if (!device.is_cuda()) return host.to(device, /*non_blocking=*/false, /*copy=*/true);
  if (pin) return host.pin_memory().to(device, /*non_blocking=*/true);
  return host.to(device, false, true);
}

}  // namespace srnas
