// `srnas bench train`: training-step rate of the trainer's own step (train_step), with the
// real background loader or with one pre-made batch (the loader-overhead reference).
// scripts/bench_train.sh interleaves it with the same step in Python PyTorch.
// `srnas bench runtime`: the evaluator's runtime_ratio repeated, and its spread
// (scripts/bench_runtime.sh).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>
#include <optional>
#include <iostream>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "trainer/data_split.h"
#include "search_space/registry.h"
#include "search_space/runtime.h"
#include "trainer/evaluate.h"
#include "trainer/loader.h"
#include "trainer/perf.h"
#include "trainer/train.h"

namespace srnas::cli {

namespace {

// This process's resident and proportional set sizes in MiB (/proc/self/smaps_rollup; NaN
// where the kernel has none): Pss counts a page shared by k processes as 1/k, so summing it
// over the processes of a node gives the memory they use together.
std::pair<double, double> rss_pss_mib() {
  std::ifstream in("/proc/self/smaps_rollup");
  double rss = NAN, pss = NAN;
  std::string line;  // the first line names the range ("... [rollup]"), then "Key:  N kB"
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key;
    double kb = 0;
    if (!(fields >> key >> kb)) continue;
    if (key == "Rss:") rss = kb / 1024.0;
    if (key == "Pss:") pss = kb / 1024.0;
  }
  return {rss, pss};
}

}  // namespace

void add_bench_commands(CLI::App& app) {
  static std::string arch = "msrresnet", data, loader_kind = "real", device = "auto", precision = "fp32",
                     store = "memory";
  static int batch = 16, patch = 32, steps = 10, warmup = 2, workers = 2;
  static bool channels_last = false;
  auto* bench = app.add_subcommand("bench", "Benchmarks (see scripts/bench_*.sh)");
  bench->require_subcommand(1);
  auto* t = bench->add_subcommand("train", "Training steps per second of one architecture");
  t->add_option("--arch", arch, "architecture")->capture_default_str();
  t->add_option("--data", data, "data root or folder (training split)")->required();
  t->add_option("--batch", batch, "batch size")->check(int_range(1, 4096))->capture_default_str();
  t->add_option("--patch", patch, "LR patch size")->check(int_range(4, 1024))->capture_default_str();
  t->add_option("--steps", steps, "timed steps")->check(int_range(1, 1000000))->capture_default_str();
  t->add_option("--warmup", warmup, "untimed steps first")->check(int_range(0, 1000))->capture_default_str();
  t->add_option("--workers", workers, "loader threads")->check(int_range(1, 64))->capture_default_str();
  t->add_option("--loader", loader_kind, "real (background loader) or fixed (one pre-made batch)")
      ->check(CLI::IsMember({"real", "fixed"}))->capture_default_str();
  t->add_option("--device", device, "auto, cpu or cuda")->capture_default_str();
  t->add_option("--store", store, "training images: memory, or mapped from the decoded-image cache file")
      ->check(CLI::IsMember({"memory", "mapped"}))->capture_default_str();
  t->add_option("--precision", precision, "fp32 or bf16 (autocast)")->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();
  t->add_flag("--channels-last", channels_last, "NHWC weights and batches");
  t->callback([] {
    const torch::Device dev = pick_device(device);
    const auto t_load = std::chrono::steady_clock::now();
    StoreOptions so;
    so.store = store;
    so.max_bytes = size_t(8) << 30;
    auto pairs = load_images(open_split(data, "train"), so);
    const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_load).count();
    torch::manual_seed(0);
    SRNet net(load_arch(arch).genome);
    net->to(dev);
    net->train();
    PerfOptions perf;
    perf.channels_last = channels_last;
    perf.precision = precision;
    configure_backend(perf, dev);
    if (channels_last) to_channels_last(*net);
    const auto autocast = precision_dtype(precision, "--precision");
    torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(2e-4).betas({0.9, 0.99}));
    LoaderOptions lo;
    lo.batch_size = batch;
    lo.patch_lr = patch;
    lo.workers = workers;
    lo.seed = 0;
    std::optional<PatchLoader> loader;  // no background threads when timing the pre-made batch
    if (loader_kind == "real") loader.emplace(pairs, lo, 0);
    Batch fixed = make_batch(*pairs, lo, 0);
    auto step = [&] {
      Batch b = loader ? loader->next() : fixed;
      const int64_t P = int64_t(patch) * b.scale;
      auto lr = host_to_device(torch::from_blob(b.lr.data(), {b.n, 3, patch, patch}, torch::kFloat32), dev, perf.pin_memory);
      auto hr = host_to_device(torch::from_blob(b.hr.data(), {b.n, 3, P, P}, torch::kFloat32), dev, perf.pin_memory);
      return train_step(net, adam, in_format(lr, channels_last), in_format(hr, channels_last), nullptr, autocast);
    };
    for (int i = 0; i < warmup; ++i) step();
    synchronize(dev);
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < steps; ++i) step();
    synchronize(dev);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto [rss, pss] = rss_pss_mib();
    nlohmann::json j = {{"impl", "srnas"},  {"arch", arch},           {"loader", loader_kind},
                        {"batch", batch},   {"patch", patch},         {"steps", steps},
                        {"seconds", s},     {"steps_per_s", steps / s}, {"threads", torch_threads()},
                        {"device", dev.str()}, {"loader_wait_s", loader ? loader->wait_seconds() : 0.0},
                        {"allocator", allocator_name()}, {"channels_last", channels_last}, {"precision", precision},
                        {"store", store},   {"load_s", load_s},       {"images_mib", pairs->decoded_bytes() / 1048576.0},
                        {"rss_mib", rss},   {"pss_mib", pss}};
    std::cout << j.dump() << std::endl;
  });

  static std::string r_arch = "imdn_aim19", r_baseline = "msrresnet", r_device = "auto", r_precision = "fp32";
  static int r_size = 64, r_images = 3, r_repeats = 5, r_runs = 3, r_warmup = 1;
  static bool r_no_grad = false, r_channels_last = false;
  auto* r = bench->add_subcommand("runtime", "runtime_ratio of an architecture vs a baseline, repeated (stability)");
  r->add_option("--arch", r_arch, "candidate architecture")->capture_default_str();
  r->add_option("--baseline", r_baseline, "reference architecture")->capture_default_str();
  r->add_option("--size", r_size, "LR side of the random probe images")->check(int_range(4, 4096))->capture_default_str();
  r->add_option("--images", r_images, "probe images")->check(int_range(1, 1000))->capture_default_str();
  r->add_option("--repeats", r_repeats, "independent ratio measurements")->check(int_range(1, 1000))->capture_default_str();
  r->add_option("--runs", r_runs, "best of N passes per measurement")->check(int_range(1, 100))->capture_default_str();
  r->add_option("--warmup", r_warmup, "untimed passes first (at least 1: the protocol times a warmed-up model)")->check(int_range(1, 100))->capture_default_str();
  r->add_option("--device", r_device, "auto, cpu or cuda")->capture_default_str();
  r->add_option("--precision", r_precision, "fp32, bf16 or fp16")->check(CLI::IsMember({"fp32", "bf16", "fp16"}))
      ->capture_default_str();
  r->add_flag("--channels-last", r_channels_last, "NHWC model and inputs");
  r->add_flag("--no-grad", r_no_grad, "NoGradGuard instead of InferenceMode");
  r->callback([] {
    const torch::Device dev = pick_device(r_device);
    RuntimeOptions ro;
    ro.runs = r_runs;
    ro.warmup = r_warmup;
    ro.precision = r_precision;
    ro.channels_last = r_channels_last;
    ro.no_grad = r_no_grad;
    torch::manual_seed(0);
    std::vector<torch::Tensor> lr;
    for (int i = 0; i < r_images; ++i) lr.push_back(torch::rand({1, 3, r_size, r_size}).to(dev));
    lr = runtime_inputs(lr, ro);
    SRNet cand(load_arch(r_arch).genome), base(load_arch(r_baseline).genome);
    cand->to(dev);
    base->to(dev);
    SRFunction fc = runtime_function(cand, ro), fb = runtime_function(base, ro);
    std::vector<double> ratios;
    for (int k = 0; k < r_repeats; ++k) {
      RuntimeRatio m = measure_runtime_ratio(fc, fb, lr, dev, ro);
      ratios.push_back(m.ratio);
      std::cout << nlohmann::json{{"repeat", k}, {"runtime_s", m.runtime_s}, {"baseline_s", m.baseline_s},
                                  {"ratio", m.ratio}}.dump() << std::endl;
    }
    const auto [lo, hi] = std::minmax_element(ratios.begin(), ratios.end());
    nlohmann::json j = {{"impl", "srnas"}, {"arch", r_arch}, {"baseline", r_baseline}, {"size", r_size},
                        {"images", r_images}, {"repeats", r_repeats}, {"runs", r_runs}, {"device", dev.str()},
                        {"precision", r_precision}, {"channels_last", r_channels_last},
                        {"grad_mode", r_no_grad ? "no_grad" : "inference_mode"}, {"threads", torch_threads()},
                        {"allocator", allocator_name()}, {"ratio_min", *lo}, {"ratio_max", *hi},
                        {"spread", *hi / *lo}};
    std::cout << j.dump() << std::endl;
  });
}

}  // namespace srnas::cli
