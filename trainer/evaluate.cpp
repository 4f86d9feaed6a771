#include "trainer/evaluate.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <fmt/format.h>

#include "search_space/error.h"
#include "trainer/matlab_resize.h"
#include "trainer/metrics.h"
#include "trainer/perf.h"

namespace srnas {

torch::Tensor image_to_tensor(const ImageView& img) {
  auto t = torch::from_blob(const_cast<uint8_t*>(img.rgb), {img.h, img.w, 3}, torch::kUInt8);
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

SRFunction self_ensemble(SRFunction f) {
  return [f = std::move(f)](const torch::Tensor& lr) {
    torch::Tensor sum;
    for (int k = 0; k < 8; ++k) {  // bit 0: flip W, bit 1: flip H, bit 2: transpose; undone in reverse
      torch::Tensor x = lr;
      if (k & 1) x = x.flip({3});
      if (k & 2) x = x.flip({2});
      if (k & 4) x = x.transpose(2, 3);
      torch::Tensor y = f(x.contiguous());
      if (k & 4) y = y.transpose(2, 3);
      if (k & 2) y = y.flip({2});
      if (k & 1) y = y.flip({3});
      sum = sum.defined() ? sum + y : y.clone();
    }
    return sum / 8;
  };
}

namespace {
QualityResult evaluate_views(const SRFunction& f, const std::vector<PairView>& pairs, const torch::Device& device,
                             int crop_px, bool with_ssim) {
  if (pairs.empty()) throw Error("evaluate: no validation images");
  QualityResult r;
  for (const PairView& p : pairs) {
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
}  // namespace

QualityResult evaluate_quality(const SRFunction& f, const DecodedImages& pairs, const torch::Device& device,
                               int crop_px, bool with_ssim) {
  return evaluate_views(f, pairs.pairs(), device, crop_px, with_ssim);
}

QualityResult evaluate_quality(const SRFunction& f, const std::vector<LoadedPair>& pairs, const torch::Device& device,
                               int crop_px, bool with_ssim) {
  std::vector<PairView> views;
  views.reserve(pairs.size());
  for (const LoadedPair& p : pairs) views.push_back({p.name, p.hr, p.lr});
  return evaluate_views(f, views, device, crop_px, with_ssim);
}

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

#ifdef SRNAS_TORCH_CUDA
double cuda_event_seconds(const std::function<void()>& work, const torch::Device& device);  // cuda_timing.cpp
#endif

namespace {

// Seconds one call of `pass` takes on `device`.
double time_pass_s(const std::function<void()>& pass, const torch::Device& device) {
#ifdef SRNAS_TORCH_CUDA
  if (device.is_cuda()) return cuda_event_seconds(pass, device);
#endif
  synchronize(device);
  auto t0 = std::chrono::steady_clock::now();
  pass();
  synchronize(device);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void check_inputs(const std::vector<torch::Tensor>& lr) {
  if (lr.empty()) throw Error("runtime: no images");
}

}  // namespace

SRFunction runtime_function(SRNet net, const RuntimeOptions& opt) {
  net->eval();
  net->to(precision_dtype(opt.precision, "runtime.precision"));
  if (opt.channels_last) to_channels_last(*net);
  if (opt.no_grad)
    return [net](const torch::Tensor& lr) mutable {
      torch::NoGradGuard guard;
      return net->forward(lr);
    };
  return model_function(net);
}

std::vector<torch::Tensor> runtime_inputs(const std::vector<torch::Tensor>& lr, const RuntimeOptions& opt) {
  const auto dtype = precision_dtype(opt.precision, "runtime.precision");
  std::vector<torch::Tensor> out;
  for (const auto& x : lr) out.push_back(in_format(x.to(dtype), opt.channels_last));
  return out;
}

double measure_runtime_s(const SRFunction& f, const std::vector<torch::Tensor>& lr, const torch::Device& device,
                         const RuntimeOptions& opt) {
  check_inputs(lr);
  auto pass = [&] {
    for (const auto& x : lr) f(x);
  };
  for (int w = 0; w < opt.warmup; ++w) pass();
  double best = INFINITY;
  for (int run = 0; run < opt.runs; ++run) best = std::min(best, time_pass_s(pass, device));
  return best / double(lr.size());
}

RuntimeRatio measure_runtime_ratio(const SRFunction& candidate, const SRFunction& baseline,
                                   const std::vector<torch::Tensor>& lr, const torch::Device& device,
                                   const RuntimeOptions& opt) {
  check_inputs(lr);
  auto pass_of = [&](const SRFunction& f) {
    return [&] {
      for (const auto& x : lr) f(x);
    };
  };
  auto cand = pass_of(candidate), base = pass_of(baseline);
  for (int w = 0; w < opt.warmup; ++w) {
    base();
    cand();
  }
  RuntimeRatio r;
  r.runtime_s = r.baseline_s = INFINITY;
  std::vector<double> pairs;
  for (int run = 0; run < opt.runs; ++run) {
    const double b = time_pass_s(base, device), c = time_pass_s(cand, device);
    r.baseline_s = std::min(r.baseline_s, b);
    r.runtime_s = std::min(r.runtime_s, c);
    pairs.push_back(c / b);
  }
  std::sort(pairs.begin(), pairs.end());
  const size_t n = pairs.size();
  r.ratio = n % 2 ? pairs[n / 2] : 0.5 * (pairs[n / 2 - 1] + pairs[n / 2]);
  r.runtime_s /= double(lr.size());
  r.baseline_s /= double(lr.size());
  return r;
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
