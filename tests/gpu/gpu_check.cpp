// srnas_gpu_check: the checks and measurements that need an NVIDIA GPU (issues 5 and 6).
//
//   1. NCCL all-reduce on one rank: bucketed CUDA gradients (several buckets, one undefined)
//      go through ncclAllReduce and come back unchanged (the sum over one rank, divided by 1).
//   2. CUDA training step: a tiny genome from the same seed and batch on CPU and on CUDA
//      (TF32 off) gives the same losses over 3 steps within 1e-3; a bf16 + channels-last
//      step is finite.
//   3. Runtime with CUDA events: imdn_aim19 vs msrresnet at a 339x510 LR input, in fp32,
//      fp32 channels-last, bf16 and fp16 (both networks alike), 5 repeats: ratio and spread.
//   4. Training step rate of msrresnet (batch 16, LR patch 32) in fp32, fp32 channels-last
//      and bf16 channels-last, cuDNN benchmark on.
//   5. The GPU's measured GEMM rate (fp32 without TF32, TF32, bf16) and MSRResNet's runtime
//      against its floor: FLOPs (2 x MACs at 339x510) / that rate.
// Prints a table (stdout) and, with --json FILE, one JSON object per row. Exit 0: all checks
// passed; 1: a check failed; 77: no usable CUDA device (ctest reports "skipped").
// --quick: fewer repeats and steps (the ctest entry).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "distributed/nccl_reducer.h"
#include "search_space/accounting.h"
#include "search_space/builder.h"
#include "search_space/registry.h"
#include "search_space/runtime.h"
#include "trainer/evaluate.h"
#include "trainer/perf.h"
#include "trainer/reparam.h"
#include "trainer/train.h"

using namespace srnas;
using nlohmann::json;

namespace {

int g_failures = 0;
std::vector<json> g_rows;
std::ofstream g_json;  // --json FILE: each row written as it is measured (a run killed midway keeps them)

void check(bool ok, const std::string& what) {
  fmt::print("  [{}] {}\n", ok ? "ok" : "FAIL", what);
  g_failures += !ok;
}

void row(json j) {
  if (g_json.is_open()) g_json << j.dump() << std::endl;
  g_rows.push_back(std::move(j));
}

Genome tiny_genome() {
  return genome_from_string(R"({
    "head": {"act": {"type": "lrelu", "slope": 0.1}},
    "lr": {"width": 16, "blocks": [{"type": "res_relu", "repeat": 2}]},
    "upsampler": {"type": "pixelshuffle4", "act": {"type": "lrelu", "slope": 0.1}},
    "x4": {"width": 16},
    "tail": {"hr_conv": false},
    "global_skip": "bicubic",
    "init": {"type": "kaiming", "scale": 0.1}})");
}

// 1. NCCL all-reduce with one rank.
void check_nccl(const torch::Device& dev) {
  fmt::print("1. NCCL all-reduce, one rank\n");
  if (!nccl_compiled()) {
    check(false, "srnas_gpu_check was built without NCCL (SRNAS_WITH_NCCL=OFF)");
    return;
  }
  auto reducer = make_nccl_reducer(0, 1, dev.index(), {});
  torch::manual_seed(1);
  auto opts = torch::TensorOptions().device(dev);
  // 30M + 1 elements: more than one 25 MiB bucket, a gradient alone in its bucket, an undefined one.
  std::vector<torch::Tensor> g = {torch::randn({1000, 3, 3, 3}, opts), torch::Tensor(), torch::randn({kBucketElems + 7}, opts),
                                  torch::randn({64}, opts), torch::randn({5000000}, opts)};
  std::vector<torch::Tensor> before;
  for (auto& t : g) before.push_back(t.defined() ? t.clone() : t);
  reducer->average(g);
  torch::cuda::synchronize();
  bool same = true;
  for (size_t i = 0; i < g.size(); ++i)
    if (g[i].defined()) same &= torch::equal(g[i], before[i]);
  check(same, fmt::format("average() over {} buckets on one rank returns the gradients unchanged",
                          plan_buckets(g, kBucketElems).size()));
  double v[3] = {1.5, -2.25, 0.0};  // the group's loss and stop agreement (ncclDouble)
  reducer->sum(v, 3);
  const bool sum_same = v[0] == 1.5 && v[1] == -2.25 && v[2] == 0.0;
  check(sum_same, "sum() of 3 host values on one rank returns them unchanged");
  row({{"check", "nccl_allreduce_1rank"}, {"ok", same && sum_same}});
}

// 2. A CUDA training step equals the CPU step.
void check_training_step(const torch::Device& dev) {
  fmt::print("2. CUDA training step vs CPU\n");
  at::globalContext().setAllowTF32CuDNN(false);
  at::globalContext().setAllowTF32CuBLAS(false);
  torch::manual_seed(3);
  torch::Tensor lr = torch::rand({4, 3, 16, 16}), hr = torch::rand({4, 3, 64, 64});
  std::vector<double> losses[2];
  for (int d = 0; d < 2; ++d) {
    const torch::Device on = d == 0 ? torch::Device(torch::kCPU) : dev;
    torch::manual_seed(0);
    SRNet net(tiny_genome());
    net->to(on);
    torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(1e-3).betas({0.9, 0.99}));
    for (int s = 0; s < 3; ++s) losses[d].push_back(train_step(net, adam, lr.to(on), hr.to(on)));
  }
  double worst = 0;
  for (int s = 0; s < 3; ++s) worst = std::max(worst, std::abs(losses[1][s] - losses[0][s]) / losses[0][s]);
  check(worst < 1e-3, fmt::format("3 steps, losses CPU {:.6f} {:.6f} {:.6f} / CUDA {:.6f} {:.6f} {:.6f}, max rel diff {:.2e}",
                                  losses[0][0], losses[0][1], losses[0][2], losses[1][0], losses[1][1], losses[1][2], worst));
  at::globalContext().setAllowTF32CuDNN(true);

  torch::manual_seed(0);
  SRNet net(tiny_genome());
  net->to(dev);
  to_channels_last(*net);
  torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(1e-3));
  const double l = train_step(net, adam, in_format(lr.to(dev), true), in_format(hr.to(dev), true), nullptr, torch::kBFloat16);
  check(std::isfinite(l) && std::abs(l - losses[0][0]) < 0.05 * losses[0][0],
        fmt::format("bf16 autocast + channels-last step: loss {:.6f} (fp32 CPU {:.6f})", l, losses[0][0]));
  row({{"check", "cuda_train_step"}, {"max_rel_diff", worst}, {"bf16_loss", l}, {"fp32_loss", losses[0][0]}});

  // SPAN's block trained re-parameterised (options.reparam): the fused convs on CUDA as on CPU.
  at::globalContext().setAllowTF32CuDNN(false);
  const Genome span = genome_from_string(R"({
    "head": {"act": {"type": "none"}}, "lr": {"width": 16, "blocks": [{"type": "spab", "repeat": 2}]},
    "upsampler": {"type": "pixelshuffle4", "act": {"type": "none"}}, "x4": {"width": 8},
    "tail": {"hr_conv": false}, "global_skip": "bicubic", "init": {"type": "pytorch"}})");
  std::vector<double> rp[2];
  for (int d = 0; d < 2; ++d) {
    const torch::Device on = d == 0 ? torch::Device(torch::kCPU) : dev;
    torch::manual_seed(0);
    SRNet net(span);
    net->to(on);
    Conv3XCReparam rep(net, span, 2);
    torch::optim::Adam adam(rep->trainable(), torch::optim::AdamOptions(1e-3).betas({0.9, 0.99}));
    for (int s = 0; s < 3; ++s) {
      rep->apply();
      rp[d].push_back(train_step(net, adam, lr.to(on), hr.to(on)));
    }
  }
  double rworst = 0;
  for (int s = 0; s < 3; ++s) rworst = std::max(rworst, std::abs(rp[1][s] - rp[0][s]) / rp[0][s]);
  check(rworst < 1e-3, fmt::format("spab + reparam conv3xc, 3 steps: max rel loss diff CUDA vs CPU {:.2e}", rworst));
  at::globalContext().setAllowTF32CuDNN(true);
  row({{"check", "cuda_reparam_step"}, {"max_rel_diff", rworst}});
}

// 3. Runtime ratio with CUDA events, per precision.
void measure_runtime(const torch::Device& dev, int repeats, double* msrresnet_fp32_s) {
  fmt::print("3. Runtime (CUDA events), imdn_aim19 vs msrresnet, LR 339x510, {} repeats\n", repeats);
  fmt::print("   {:<22} {:>12} {:>12} {:>9} {:>8}\n", "setting", "imdn s/img", "msrres s/img", "ratio", "spread");
  struct Setting {
    const char* name;
    const char* precision;
    bool channels_last;
  };
  for (Setting st : {Setting{"fp32", "fp32", false}, Setting{"fp32 channels-last", "fp32", true},
                     Setting{"bf16 channels-last", "bf16", true}, Setting{"fp16 channels-last", "fp16", true}}) {
    RuntimeOptions ro;
    ro.precision = st.precision;
    ro.channels_last = st.channels_last;
    ro.warmup = 2;
    torch::manual_seed(0);
    SRNet cand(load_arch("imdn_aim19").genome), base(load_arch("msrresnet").genome);
    cand->to(dev);
    base->to(dev);
    auto fc = runtime_function(cand, ro), fb = runtime_function(base, ro);
    std::vector<torch::Tensor> lr = runtime_inputs({torch::rand({1, 3, 339, 510}, torch::TensorOptions().device(dev))}, ro);
    std::vector<double> ratios;
    double best_c = INFINITY, best_b = INFINITY;
    for (int k = 0; k < repeats; ++k) {
      RuntimeRatio r = measure_runtime_ratio(fc, fb, lr, dev, ro);
      ratios.push_back(r.ratio);
      best_c = std::min(best_c, r.runtime_s);
      best_b = std::min(best_b, r.baseline_s);
    }
    auto [lo, hi] = std::minmax_element(ratios.begin(), ratios.end());
    fmt::print("   {:<22} {:>12.5f} {:>12.5f} {:>9.4f} {:>8.4f}\n", st.name, best_c, best_b, best_c / best_b, *hi / *lo);
    if (std::string(st.name) == "fp32") *msrresnet_fp32_s = best_b;
    row({{"measure", "runtime"}, {"setting", st.name}, {"imdn_s", best_c}, {"msrresnet_s", best_b},
         {"ratio", best_c / best_b}, {"spread", *hi / *lo}});
  }
}

// 4. Training steps per second of msrresnet.
void measure_steps(const torch::Device& dev, int steps) {
  fmt::print("4. msrresnet training steps/s, batch 16, LR patch 32, cuDNN benchmark on\n");
  at::globalContext().setBenchmarkCuDNN(true);
  torch::manual_seed(0);
  torch::Tensor lr = torch::rand({16, 3, 32, 32}), hr = torch::rand({16, 3, 128, 128});
  struct Setting {
    const char* name;
    bool channels_last;
    torch::ScalarType autocast;
  };
  for (Setting st : {Setting{"fp32", false, torch::kFloat}, Setting{"fp32 channels-last", true, torch::kFloat},
                     Setting{"bf16", false, torch::kBFloat16}, Setting{"bf16 channels-last", true, torch::kBFloat16}}) {
    torch::manual_seed(0);
    SRNet net(load_arch("msrresnet").genome);
    net->to(dev);
    if (st.channels_last) to_channels_last(*net);
    torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(2e-4).betas({0.9, 0.99}));
    auto x = in_format(lr.to(dev), st.channels_last), y = in_format(hr.to(dev), st.channels_last);
    for (int i = 0; i < 5; ++i) train_step_async(net, adam, x, y, nullptr, st.autocast);
    torch::cuda::synchronize();
    auto t0 = std::chrono::steady_clock::now();
    torch::Tensor loss;
    for (int i = 0; i < steps; ++i) loss = train_step_async(net, adam, x, y, nullptr, st.autocast);
    torch::cuda::synchronize();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    fmt::print("   {:<22} {:>9.1f} steps/s  (loss {:.4f})\n", st.name, steps / s, loss.item<double>());
    row({{"measure", "train_steps"}, {"setting", st.name}, {"steps_per_s", steps / s}, {"steps", steps}});
  }
}

// 5. GEMM rate and MSRResNet's floor.
void measure_floor(const torch::Device& dev, double msrresnet_fp32_s) {
  fmt::print("5. GEMM rate (8192^3) and MSRResNet's floor at 339x510\n");
  const double flops = 2.0 * double(account(load_arch("msrresnet").genome, 339, 510).macs);
  struct Setting {
    const char* name;
    torch::ScalarType dtype;
    bool tf32;
  };
  double fp32_rate = NAN;
  for (Setting st : {Setting{"fp32 (no TF32)", torch::kFloat, false}, Setting{"tf32", torch::kFloat, true},
                     Setting{"bf16", torch::kBFloat16, false}}) {
    at::globalContext().setAllowTF32CuBLAS(st.tf32);
    const int64_t n = 8192;
    auto opts = torch::TensorOptions().device(dev).dtype(st.dtype);
    torch::Tensor a = torch::randn({n, n}, opts), b = torch::randn({n, n}, opts);
    for (int i = 0; i < 3; ++i) torch::mm(a, b);
    torch::cuda::synchronize();
    const int reps = 10;
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) torch::mm(a, b);
    torch::cuda::synchronize();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
    const double rate = 2.0 * double(n) * double(n) * double(n) / s;
    if (!st.tf32 && st.dtype == torch::kFloat) fp32_rate = rate;
    fmt::print("   {:<22} {:>8.1f} TFLOP/s\n", st.name, rate / 1e12);
    row({{"measure", "gemm"}, {"setting", st.name}, {"tflops", rate / 1e12}});
  }
  at::globalContext().setAllowTF32CuBLAS(false);
  const double floor_s = flops / fp32_rate;
  fmt::print("   MSRResNet: {:.3f} TFLOP per image; floor at the fp32 GEMM rate {:.5f} s; measured fp32 {:.5f} s ({:.2f}x the floor)\n",
             flops / 1e12, floor_s, msrresnet_fp32_s, msrresnet_fp32_s / floor_s);
  row({{"measure", "msrresnet_floor"}, {"tflop", flops / 1e12}, {"floor_s", floor_s}, {"measured_s", msrresnet_fp32_s}});
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::string json_path;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) quick = true;
    else if (!std::strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
    else {
      std::fprintf(stderr, "usage: srnas_gpu_check [--quick] [--json FILE]\n");
      return 2;
    }
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // under `| tee` and a time limit: every line as it comes
  if (!json_path.empty()) {
    g_json.open(json_path, std::ios::trunc);
    if (!g_json) {
      std::fprintf(stderr, "srnas_gpu_check: %s: cannot write\n", json_path.c_str());
      return 2;
    }
  }
  init_torch_threads(0);
  if (!torch::cuda::is_available()) {
    std::printf("srnas_gpu_check: no CUDA device (LibTorch %s, CUDA build: %s): skipped\n", torch_version().c_str(),
#ifdef SRNAS_TORCH_CUDA
                "yes"
#else
                "no"
#endif
    );
    return 77;
  }
  const torch::Device dev(torch::kCUDA, 0);
  fmt::print("srnas_gpu_check: LibTorch {}, {} CUDA device(s), malloc {}\n", torch_version(), torch::cuda::device_count(),
             allocator_name());
  try {
    check_nccl(dev);
    check_training_step(dev);
    double msr_s = NAN;
    measure_runtime(dev, quick ? 2 : 5, &msr_s);
    measure_steps(dev, quick ? 10 : 50);
    measure_floor(dev, msr_s);
  } catch (const std::exception& e) {
    fmt::print("  [FAIL] error: {}\n", e.what());
    ++g_failures;
  }
  fmt::print("{}\n", g_failures ? fmt::format("{} check(s) FAILED", g_failures) : std::string("all checks passed"));
  return g_failures ? 1 : 0;
}
