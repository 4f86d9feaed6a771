// `srnas data prepare`: make the LR images of an HR folder once (MATLAB bicubic).
#include <fmt/core.h>

#include "cli/commands.h"
#include "trainer/dataset.h"

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
}

}  // namespace srnas::cli
