#include "trainer/evaluate.h"

#include <chrono>
#include <cmath>

#include <fmt/format.h>

#include "search_space/error.h"
#include "trainer/matlab_resize.h"
#include "trainer/metrics.h"

namespace srnas {

torch::Tensor image_to_tensor(const Image& img) {
  auto t = torch::from_blob(const_cast<uint8_t*>(img.rgb.data()), {img.h, img.w, 3}, torch::kUInt8);
  return t.permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat32).div_(255.0f).contiguous();
}

Image tensor_to_image(const torch::Tensor& t) {
  torch::Tensor u = t.detach().squeeze(0).clamp(0, 1).mul(255.0f).round().to(torch::kUInt8).permute({1, 2, 0})
                        .contiguous().to(torch::kCPU);
  Image img(int(u.size(0)), int(u.size(1)));
  std::memcpy(img.rgb.data(), u.data_ptr<uint8_t>(), img.rgb.size());
  return img;
}

SRFunction model_function(SRNet net) {
  net->eval();
  return [net](const torch::Tensor& lr) mutable {
    c10::InferenceMode guard;
    return net->forward(lr);
  };
}

SRFunction bicubic_function() {
  return [](const torch::Tensor& lr) {
    Image img = tensor_to_image(lr.to(torch::kCPU));
    return image_to_tensor(imresize_bicubic(img, 4.0));
  };
}

QualityResult evaluate_quality(const SRFunction& f, const std::vector<LoadedPair>& pairs, const torch::Device& device,
                               int crop_px, bool with_ssim) {
  if (pairs.empty()) throw Error("evaluate: no validation images");
  QualityResult r;
  for (const auto& p : pairs) {
    torch::Tensor sr = f(image_to_tensor(p.lr).to(device));
    Image out = tensor_to_image(sr);
    if (out.h != p.hr.h || out.w != p.hr.w)
      throw Error(fmt::format("evaluate: {}: model output {}x{} but HR is {}x{}", p.name, out.h, out.w, p.hr.h, p.hr.w));
    ImageScore s{p.name, psnr_rgb(out, p.hr, crop_px), psnr_y(out, p.hr, crop_px), 0.0};
    if (with_ssim) s.ssim_y = ssim_y(out, p.hr, crop_px);
    r.psnr_rgb += s.psnr_rgb;
    r.psnr_y += s.psnr_y;
    r.ssim_y += s.ssim_y;
    r.images.push_back(s);
  }
  r.psnr_rgb /= double(pairs.size());
  r.psnr_y /= double(pairs.size());
  r.ssim_y /= double(pairs.size());
  return r;
}

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

double measure_runtime_s(const SRFunction& f, const std::vector<torch::Tensor>& lr, const torch::Device& device,
                         const RuntimeOptions& opt) {
  if (lr.empty()) throw Error("runtime: no images");
  using clock = std::chrono::steady_clock;
  for (int w = 0; w < opt.warmup; ++w)
    for (const auto& x : lr) f(x);
  synchronize(device);
  double best = INFINITY;
  for (int run = 0; run < opt.runs; ++run) {
    synchronize(device);
    auto t0 = clock::now();
    for (const auto& x : lr) f(x);
    synchronize(device);
    double avg = std::chrono::duration<double>(clock::now() - t0).count() / double(lr.size());
    best = std::min(best, avg);
  }
  return best;
}

namespace {
int g_cuda_index = 0;
}

void set_cuda_device_index(int local_rank) {
  const int n = torch::cuda::is_available() ? int(torch::cuda::device_count()) : 0;
  g_cuda_index = n > 0 ? local_rank % n : 0;
}

torch::Device pick_device(const std::string& name) {
  if (name == "cpu") return torch::kCPU;
  if (name == "cuda") {
    if (!torch::cuda::is_available()) throw Error("device: cuda requested but no CUDA device is available");
    return torch::Device(torch::kCUDA, c10::DeviceIndex(g_cuda_index));
  }
  if (name == "auto")
    return torch::cuda::is_available() ? torch::Device(torch::kCUDA, c10::DeviceIndex(g_cuda_index)) : torch::Device(torch::kCPU);
  throw Error(fmt::format("device: expected auto, cpu or cuda, got '{}'", name));
}

}  // namespace srnas
