// Compiled only against a CUDA LibTorch (SRNAS_TORCH_CUDA): times GPU work with CUDA
// events on the device's current stream, so host-side launch jitter is not counted.
#include <functional>

#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAEvent.h>
#include <torch/torch.h>

namespace srnas {

double cuda_event_seconds(const std::function<void()>& work, const torch::Device& device) {
  auto stream = at::cuda::getCurrentCUDAStream(device.index());
  at::cuda::CUDAEvent start(cudaEventDefault), end(cudaEventDefault);
  start.record(stream);
  work();
  end.record(stream);
  end.synchronize();
  return double(start.elapsed_time(end)) / 1000.0;
}

}  // namespace srnas
