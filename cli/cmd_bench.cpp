// `srnas bench train`: training-step rate of the trainer's own step (train_step), with the
// real background loader or with one pre-made batch (the loader-overhead reference).
// scripts/bench_train.sh interleaves it with the same step in Python PyTorch.
#include <chrono>
#include <iostream>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "trainer/data_split.h"
#include "search_space/registry.h"
#include "search_space/runtime.h"
#include "trainer/evaluate.h"
#include "trainer/loader.h"
#include "trainer/train.h"

namespace srnas::cli {

void add_bench_commands(CLI::App& app) {
  static std::string arch = "msrresnet", data, loader_kind = "real", device = "auto";
  static int batch = 16, patch = 32, steps = 10, warmup = 2, workers = 2;
  auto* bench = app.add_subcommand("bench", "Benchmarks (see scripts/bench_*.sh)");
  bench->require_subcommand(1);
  auto* t = bench->add_subcommand("train", "Training steps per second of one architecture");
  t->add_option("--arch", arch, "architecture")->capture_default_str();
  t->add_option("--data", data, "data root or folder (training split)")->required();
  t->add_option("--batch", batch, "batch size")->check(CLI::Range(1, 4096))->capture_default_str();
  t->add_option("--patch", patch, "LR patch size")->check(CLI::Range(4, 1024))->capture_default_str();
  t->add_option("--steps", steps, "timed steps")->check(CLI::Range(1, 1000000))->capture_default_str();
  t->add_option("--warmup", warmup, "untimed steps first")->check(CLI::Range(0, 1000))->capture_default_str();
  t->add_option("--workers", workers, "loader threads")->check(CLI::Range(1, 64))->capture_default_str();
  t->add_option("--loader", loader_kind, "real (background loader) or fixed (one pre-made batch)")
      ->check(CLI::IsMember({"real", "fixed"}))->capture_default_str();
  t->add_option("--device", device, "auto, cpu or cuda")->capture_default_str();
  t->callback([] {
    const torch::Device dev = pick_device(device);
    auto pairs = std::make_shared<std::vector<LoadedPair>>(load_pairs(open_split(data, "train"), size_t(8) << 30));
    torch::manual_seed(0);
    SRNet net(load_arch(arch).genome);
    net->to(dev);
    net->train();
    torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(2e-4).betas({0.9, 0.99}));
    LoaderOptions lo;
    lo.batch_size = batch;
    lo.patch_lr = patch;
    lo.workers = workers;
    lo.seed = 0;
    PatchLoader loader(pairs, lo, 0);
    Batch fixed = make_batch(*pairs, lo, 0);
    auto step = [&] {
      Batch b = loader_kind == "real" ? loader.next() : fixed;
      const int64_t P = int64_t(patch) * b.scale;
      auto lr = torch::from_blob(b.lr.data(), {b.n, 3, patch, patch}, torch::kFloat32).to(dev, false, true);
      auto hr = torch::from_blob(b.hr.data(), {b.n, 3, P, P}, torch::kFloat32).to(dev, false, true);
      return train_step(net, adam, lr, hr);
    };
    for (int i = 0; i < warmup; ++i) step();
    synchronize(dev);
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < steps; ++i) step();
    synchronize(dev);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    nlohmann::json j = {{"impl", "srnas"},  {"arch", arch},           {"loader", loader_kind},
                        {"batch", batch},   {"patch", patch},         {"steps", steps},
                        {"seconds", s},     {"steps_per_s", steps / s}, {"threads", torch_threads()},
                        {"device", dev.str()}, {"loader_wait_s", loader.wait_seconds()}};
    std::cout << j.dump() << std::endl;
  });
}

}  // namespace srnas::cli
