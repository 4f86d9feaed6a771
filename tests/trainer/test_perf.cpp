// Execution settings (options.perf, RuntimeOptions): they change how a step or a timed pass
// runs, never what it computes beyond rounding. Timing itself is benchmarked in
// scripts/bench_*.sh, not asserted here.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include <dlfcn.h>
#include <sys/resource.h>

#include <fmt/format.h>

#include "search_space/builder.h"
#include "search_space/error.h"
#include "search_space/runtime.h"
#include "trainer/evaluate.h"
#include "trainer/matlab_resize.h"
#include "trainer/perf.h"
#include "trainer/train.h"

#include "../support/images.h"
#include "../support/scratch.h"

using namespace srnas;
namespace fs = std::filesystem;

namespace {

Genome small_genome() {
  return genome_from_string(R"({
    "head": {"act": {"type": "lrelu", "slope": 0.1}},
    "lr": {"width": 8, "blocks": [{"type": "res_relu", "repeat": 1}]},
    "upsampler": {"type": "pixelshuffle4", "act": {"type": "lrelu", "slope": 0.1}},
    "x4": {"width": 8},
    "tail": {"hr_conv": false},
    "global_skip": "bicubic",
    "init": {"type": "kaiming", "scale": 0.1}})");
}

TrainData pattern_data() {
  auto pairs = std::make_shared<std::vector<LoadedPair>>();
  for (int k = 0; k < 2; ++k) {
    Image hr = srnas::testing::checker_pattern(64, 64, k);
    pairs->push_back({"p" + std::to_string(k), hr, imresize_bicubic(hr, 0.25)});
  }
  return {std::make_shared<const DecodedImages>(*pairs), std::make_shared<const DecodedImages>(*pairs)};
}

TrainOptions options(int64_t iterations) {
  TrainOptions o;
  o.seed = 3;
  o.iterations = iterations;
  o.batch_size = 4;
  o.patch_lr = 8;
  o.lr = 1e-3;
  o.log_every = 1000;
  o.device = "cpu";
  return o;
}

TrainResult run(const TrainOptions& o, const std::string& name) {
  fs::path dir = srnas::testing::scratch() / name;
  fs::remove_all(dir);
  TrainHooks h;
  h.quiet = true;
  return train(small_genome(), pattern_data(), o, dir.string(), false, h);
}

}  // namespace

TEST(Perf, ChannelsLastRelayoutsWeightsInPlace) {
  SRNet net(small_genome());
  auto before = net->parameters();
  std::vector<torch::Tensor> copies;
  for (auto& p : before) copies.push_back(p.detach().clone());
  to_channels_last(*net);
  auto after = net->parameters();
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_TRUE(torch::equal(after[i], copies[i]));
    if (after[i].dim() == 4) {
      EXPECT_TRUE(after[i].is_contiguous(at::MemoryFormat::ChannelsLast));
    }
  }
}

TEST(Perf, ChannelsLastTrainsTheSameNetworkUpToRounding) {
  init_torch_threads(0);
  TrainOptions a = options(8), b = options(8);
  b.perf.channels_last = true;
  TrainResult ra = run(a, "nchw"), rb = run(b, "nhwc");
  ASSERT_EQ(ra.status, "complete");
  ASSERT_EQ(rb.status, "complete");
  EXPECT_NEAR(rb.final_loss, ra.final_loss, 1e-4 * ra.final_loss);
  EXPECT_NEAR(rb.val_psnr_rgb, ra.val_psnr_rgb, 0.01);
}

TEST(Perf, Bf16AutocastTrainsCloseToFp32) {
  init_torch_threads(0);
  TrainOptions a = options(20), b = options(20);
  b.perf.precision = "bf16";
  TrainResult ra = run(a, "fp32"), rb = run(b, "bf16");
  ASSERT_EQ(rb.status, "complete") << rb.reason;
  ASSERT_TRUE(std::isfinite(rb.final_loss));
  // bf16 keeps 8 mantissa bits: the same run within a few per cent.
  EXPECT_NEAR(rb.final_loss, ra.final_loss, 0.05 * ra.final_loss);
  EXPECT_NEAR(rb.val_psnr_rgb, ra.val_psnr_rgb, 0.5);
}

TEST(Perf, AutocastScopeRestoresThePreviousState) {
  torch::Tensor x = torch::rand({1, 3, 8, 8}), w = torch::rand({4, 3, 3, 3});
  {
    AutocastScope amp(torch::kCPU, torch::kBFloat16);
    EXPECT_EQ(torch::conv2d(x, w).scalar_type(), torch::kBFloat16);
  }
  EXPECT_EQ(torch::conv2d(x, w).scalar_type(), torch::kFloat);
  AutocastScope off(torch::kCPU, torch::kFloat);
  EXPECT_EQ(torch::conv2d(x, w).scalar_type(), torch::kFloat);
}

TEST(Perf, PrecisionNamesAreCheckedWithTheField) {
  EXPECT_EQ(precision_dtype("bf16", "f"), torch::kBFloat16);
  EXPECT_EQ(precision_dtype("fp16", "f"), torch::kHalf);
  try {
    precision_dtype("fp8", "runtime.precision");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("runtime.precision: expected fp32, bf16 or fp16, got 'fp8'"), std::string::npos);
  }
}

TEST(Perf, RuntimeFunctionCastsModelAndInputsAlike) {
  torch::manual_seed(0);
  SRNet a(small_genome());
  torch::manual_seed(0);
  SRNet b(small_genome());
  RuntimeOptions ro;
  ro.precision = "bf16";
  ro.channels_last = true;
  std::vector<torch::Tensor> lr = {torch::rand({1, 3, 12, 10})};
  auto in = runtime_inputs(lr, ro);
  ASSERT_EQ(in.size(), 1u);
  EXPECT_EQ(in[0].scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(in[0].is_contiguous(at::MemoryFormat::ChannelsLast));
  torch::Tensor ref = model_function(a)(lr[0]);
  torch::Tensor out = runtime_function(b, ro)(in[0]);
  EXPECT_EQ(out.scalar_type(), torch::kBFloat16);
  EXPECT_EQ(out.sizes(), ref.sizes());
  EXPECT_LT((out.to(torch::kFloat) - ref).abs().max().item<double>(), 0.05);
}

TEST(Perf, RuntimeRatioTimesBothModelsOnTheSameInputs) {
  torch::manual_seed(0);
  SRNet a(small_genome());
  int calls_a = 0, calls_b = 0;
  SRFunction fa = model_function(a);
  SRFunction ca = [&](const torch::Tensor& x) { ++calls_a; return fa(x); };
  SRFunction cb = [&](const torch::Tensor& x) { ++calls_b; return fa(x); };
  RuntimeOptions ro;
  ro.warmup = 1;
  ro.runs = 3;
  std::vector<torch::Tensor> lr = {torch::rand({1, 3, 8, 8}), torch::rand({1, 3, 8, 8})};
  RuntimeRatio r = measure_runtime_ratio(ca, cb, lr, torch::kCPU, ro);
  EXPECT_EQ(calls_a, 2 * 4);  // (warm-up + 3 runs) x 2 images
  EXPECT_EQ(calls_b, 2 * 4);
  EXPECT_GT(r.runtime_s, 0);
  EXPECT_GT(r.baseline_s, 0);
  EXPECT_TRUE(std::isfinite(r.ratio));
  EXPECT_GT(r.ratio, 0);
  EXPECT_THROW(measure_runtime_ratio(ca, cb, {}, torch::kCPU, ro), Error);
}

// tcmalloc (the default allocator) keeps the pages LibTorch frees for its next tensors:
// cli/tcmalloc_conf.cpp sets the release rate to 0. At gperftools' default rate (1.0),
// tcmalloc returns freed spans to the kernel now and then, and the next tensors fault those
// pages in again: these 96 passes then left 656 KiB unmapped and took 65536 page faults
// (TCMALLOC_RELEASE_RATE=1 with this test's skip removed), against 0 and 0; a quickstart
// search took 1-1.5 million page faults instead of 0.5 million.
TEST(Perf, TcmallocKeepsFreedPagesForTheNextTensors) {
  if (allocator_name() != "tcmalloc") GTEST_SKIP() << "allocator " << allocator_name();
  if (std::getenv("TCMALLOC_RELEASE_RATE")) GTEST_SKIP() << "TCMALLOC_RELEASE_RATE is set: the environment decides";
  using GetProperty = int (*)(const char*, size_t*);
  auto get = reinterpret_cast<GetProperty>(dlsym(RTLD_DEFAULT, "MallocExtension_GetNumericProperty"));
  ASSERT_NE(get, nullptr);
  auto faults = [] {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return int64_t(u.ru_minflt);
  };
  auto pass = [] {  // 96 MiB + 32 MiB written, then freed
    torch::Tensor a = torch::empty({24 << 20}).fill_(1.0f), b = torch::empty({8 << 20}).fill_(2.0f);
    return (a.sum() + b.sum()).item<double>();
  };
  pass();
  const int64_t before = faults();
  for (int i = 0; i < 96; ++i) pass();  // 12 GiB freed
  const int64_t pages = faults() - before;
  size_t unmapped = 1;
  ASSERT_TRUE(get("tcmalloc.pageheap_unmapped_bytes", &unmapped));
  EXPECT_EQ(unmapped, 0u) << "bytes returned to the kernel";
  EXPECT_LT(pages, 1000) << "page faults in 96 passes that reuse the same 128 MiB";
}
