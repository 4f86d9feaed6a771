// `srnas data prepare`: make the LR images of an HR folder once (MATLAB bicubic).
// `srnas data cache`: decode a run's training images into the decoded-image cache file the ranks
// of a node map (loader.store), e.g. on a login node before the job.
#include <fmt/core.h>

#include "cli/commands.h"
#include "distributed/search_config.h"
#include "search_space/error.h"
#include "trainer/data_split.h"
#include "trainer/dataset.h"
#include "trainer/image_store.h"

namespace srnas::cli {

void add_data_commands(CLI::App& app) {
  static std::string hr, out;
  static int scale = 4;
  auto* data = app.add_subcommand("data", "Data sets");
  data->require_subcommand(1);
  auto* prep = data->add_subcommand("prepare", "Write HR (modcropped) + LR_bicubic/X<scale> for an HR folder");
  prep->add_option("--hr", hr, "folder of HR images")->required();
  prep->add_option("--out", out, "output folder (benchmark layout)")->required();
  prep->add_option("--scale", scale, "downscale factor")->check(int_range(2, 8))->capture_default_str();
  prep->callback([] {
    int made = prepare_dataset(hr, out, scale);
    fmt::print("{}: {} image(s) (re)made\n", out, made);
  });

  static std::string config;
  static std::vector<std::string> roots;
  auto* cache = data->add_subcommand("cache", "Decode the training (and, with --config, validation) images into the "
                                              "decoded-image cache files that runs map (loader.store: mapped/auto), "
                                              "or list and prune those files");
  auto* by_config = cache->add_option("--config", config, "a search config: its data.train and data.val");
  auto* by_roots = cache->add_option("--data", roots, "a training root (repeatable: DIV2K + Flickr2K)")->excludes(by_config);
  static bool list = false, prune = false;
  auto* list_flag = cache->add_flag("--list", list, "list the cache files, each checked against its images")
                        ->excludes(by_config)->excludes(by_roots);
  cache->add_flag("--prune", prune, "delete the cache files whose images changed or are gone")
      ->excludes(by_config)->excludes(by_roots)->excludes(list_flag);
  cache->callback([] {
    auto gib_of = [](size_t b) { return b / (1024.0 * 1024.0 * 1024.0); };
    if (list || prune) {
      const auto files = list ? list_decoded_caches() : prune_decoded_caches();
      size_t total = 0;
      for (const DecodedCacheFile& f : files) {
        fmt::print("{}  {:.2f} GiB  {} images of {}  {}\n", f.path, gib_of(f.bytes), f.images,
                   f.source.empty() ? "?" : f.source, prune ? "removed (" + f.status + ")" : f.status);
        total += f.bytes;
      }
      fmt::print("{} file(s), {:.2f} GiB{}\n", files.size(), gib_of(total), prune ? " freed" : "");
      return;
    }
    DataSpec spec;
    if (!config.empty()) spec = load_search_config(config).data;
    else if (!roots.empty()) spec.train = roots;
    else throw Error("data cache: give --config or --data");
    // A study maps its validation images too (several ranks on a node, or loader.store: mapped).
    std::vector<std::pair<const char*, Dataset>> sets = {{"training", open_train_set(spec)}};
    if (!config.empty()) sets.emplace_back("validation", open_val_set(spec));
    for (const auto& [what, ds] : sets) {
      const auto images = map_decoded(ds);
      fmt::print("{}: {} {} images of {}, {:.2f} GiB decoded\n", images->mapped_path(), images->size(), what,
                 ds.root, images->decoded_bytes() / (1024.0 * 1024.0 * 1024.0));
    }
  });
}

}  // namespace srnas::cli
