// `srnas train`: train one architecture on a data set from an options file.
#include <filesystem>

#include <fmt/core.h>

#include "cli/commands.h"
#include "search_space/builder.h"
#include "search_space/weights.h"
#include "trainer/checkpoint.h"
#include "trainer/data_split.h"
#include "search_space/error.h"
#include "search_space/registry.h"
#include "search_space/runtime.h"
#include "trainer/train.h"

namespace srnas::cli {

void add_train_commands(CLI::App& app) {
  static std::string arch, options, out, init;
  static std::vector<std::string> data, val, sets;
  static int val_images = 0;
  static bool resume = false;
  auto* cmd = app.add_subcommand("train", "Train an architecture (L1, Adam) and validate it");
  cmd->add_option("--arch", arch, "built-in arch name or genome JSON file")->required();
  cmd->add_option("--data", data, "data root (train/ + val/, DIV2K) or folder; repeat for several training sets "
                                  "(DIV2K + Flickr2K), with --val")
      ->required();
  cmd->add_option("--val", val, "validation root or folder (repeatable); default: --data's val split");
  cmd->add_option("--val-images", val_images, "validate on the first N validation images (0: all)")
      ->check(int_range(0, 1000000));
  cmd->add_option("--options", options, "training options YAML (configs/train/*.yaml)")->required();
  cmd->add_option("--out", out, "output folder (checkpoint, log, weights, result.json)")->required();
  cmd->add_option("--set", sets, "override an option: key.path=value (repeatable)");
  cmd->add_flag("--resume", resume, "continue from OUT/checkpoint");
  cmd->add_option("--init", init, "start from these weights (safetensors; srnas's or the arch's published names, "
                                  "e.g. a converted .pth) instead of the seed's initialisation: fine-tuning");
  cmd->callback([] {
    TrainOptions opt = load_train_options(options, sets);
    if (opt.threads > 0) init_torch_threads(opt.threads);
    warn_if_oversubscribed("train", opt.device);
    ArchSpec spec = load_arch(arch);
    TrainHooks hooks;
    if (!init.empty()) {
      namespace fs = std::filesystem;
      if (resume && has_checkpoint(out)) {
        fmt::print(stderr, "[train] --init {}: ignored, resuming from {}/{}\n", init, out, kCheckpointDir);
      } else {
        // Checked and renamed to srnas's names before the data loads; the copy in OUT records
        // what the run started from.
        SRNet net(spec.genome);
        const std::string naming = load_weights_auto(*net, init, spec.published);
        fs::create_directories(out);
        hooks.init_weights = (fs::path(out) / "init.safetensors").string();
        save_weights(*net, hooks.init_weights, {}, {{"source", init}, {"naming", naming}});
        fmt::print(stderr, "[train] starting from {} ({} names)\n", init, naming);
      }
    }
    const size_t cap = size_t(opt.max_memory_mb) << 20;
    TrainData td;
    if (data.size() > 1 && val.empty())
      throw Error("--data given several times: name the validation images with --val (a folder without a split "
                  "would otherwise validate on training images)");
    DataSpec ds_spec = DataSpec::root(data[0]);
    ds_spec.train = data;
    if (!val.empty()) ds_spec.val = val;
    ds_spec.val_images = val_images;
    Dataset train_ds = open_train_set(ds_spec);
    Dataset val_ds = open_val_set(ds_spec);
    fmt::print(stderr, "[train] {}: {} train / {} val images ({}), {} iterations, batch {} x {}px\n", spec.name,
               train_ds.pairs.size(), val_ds.pairs.size(), train_ds.layout, opt.iterations, opt.batch_size,
               opt.patch_lr);
    StoreOptions so;
    so.store = opt.store;
    so.max_bytes = cap;
    td.train = load_images(train_ds, so);
    so.max_bytes = kValImagesMaxBytes;  // loader.max_memory_mb caps the training images (docs/data.md)
    td.val = load_images(val_ds, so);
    TrainResult r = train(spec.genome, td, opt, out, resume, hooks);
    fmt::print("{} after {} iterations: val PSNR-RGB {:.3f} dB, PSNR-Y {:.3f} dB; {:.1f} s (loader wait {:.2f} s){}\n",
               r.status, r.iterations, r.val_psnr_rgb, r.val_psnr_y, r.train_seconds, r.loader_wait_s,
               r.reason.empty() ? "" : " - " + r.reason);
    if (r.status == "diverged") throw Error(fmt::format("training diverged: {}", r.reason));
  });
}

}  // namespace srnas::cli
