// `srnas train`: train one architecture on a data set from an options file.
#include <fmt/core.h>

#include "cli/commands.h"
#include "trainer/data_split.h"
#include "search_space/error.h"
#include "search_space/registry.h"
#include "search_space/runtime.h"
#include "trainer/train.h"

namespace srnas::cli {

void add_train_commands(CLI::App& app) {
  static std::string arch, data, options, out;
  static std::vector<std::string> sets;
  static bool resume = false;
  auto* cmd = app.add_subcommand("train", "Train an architecture (L1, Adam) and validate it");
  cmd->add_option("--arch", arch, "built-in arch name or genome JSON file")->required();
  cmd->add_option("--data", data, "data root (train/ + val/, DIV2K) or folder")->required();
  cmd->add_option("--options", options, "training options YAML (configs/train/*.yaml)")->required();
  cmd->add_option("--out", out, "output folder (checkpoint, log, weights, result.json)")->required();
  cmd->add_option("--set", sets, "override an option: key.path=value (repeatable)");
  cmd->add_flag("--resume", resume, "continue from OUT/checkpoint");
  cmd->callback([] {
    TrainOptions opt = load_train_options(options, sets);
    if (opt.threads > 0) init_torch_threads(opt.threads);
    ArchSpec spec = load_arch(arch);
    const size_t cap = size_t(opt.max_memory_mb) << 20;
    TrainData td;
    Dataset train_ds = open_split(data, "train");
    Dataset val_ds = open_split(data, "val");
    fmt::print(stderr, "[train] {}: {} train / {} val images ({}), {} iterations, batch {} x {}px\n", spec.name,
               train_ds.pairs.size(), val_ds.pairs.size(), train_ds.layout, opt.iterations, opt.batch_size,
               opt.patch_lr);
    td.train = std::make_shared<std::vector<LoadedPair>>(load_pairs(train_ds, cap));
    td.val = std::make_shared<std::vector<LoadedPair>>(load_pairs(val_ds, cap));
    TrainResult r = train(spec.genome, td, opt, out, resume);
    fmt::print("{} after {} iterations: val PSNR-RGB {:.3f} dB, PSNR-Y {:.3f} dB; {:.1f} s (loader wait {:.2f} s){}\n",
               r.status, r.iterations, r.val_psnr_rgb, r.val_psnr_y, r.train_seconds, r.loader_wait_s,
               r.reason.empty() ? "" : " - " + r.reason);
    if (r.status == "diverged") throw Error(fmt::format("training diverged: {}", r.reason));
  });
}

}  // namespace srnas::cli
