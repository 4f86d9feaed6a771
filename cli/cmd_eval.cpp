// `srnas eval`: PSNR, params and runtime of an architecture by the challenge protocol.
#include <iostream>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "trainer/data_split.h"
#include "cli/format.h"
#include "search_space/accounting.h"
#include "search_space/builder.h"
#include "search_space/registry.h"
#include "search_space/error.h"
#include "search_space/weights.h"
#include "trainer/evaluate.h"

namespace srnas::cli {

void add_eval_commands(CLI::App& app) {
  static std::string arch, weights, data, split = "val", protocol = "challenge", format = "table", device = "auto",
                     baseline = "msrresnet", precision = "fp32";
  static int runs = 3;
  static bool ssim = false, no_runtime = false;
  auto* cmd = app.add_subcommand("eval", "Measure PSNR, params and runtime (challenge or benchmark protocol)");
  cmd->add_option("--arch", arch, "built-in arch, genome JSON file, or 'bicubic' (MATLAB bicubic floor)")->required();
  cmd->add_option("--weights", weights, "safetensors weights (srnas or the arch's published key names)");
  cmd->add_option("--data", data, "benchmark folder (HR + LR_bicubic/X4), HR folder, or data root")->required();
  cmd->add_option("--split", split, "split of a data root with train/ and val/")->capture_default_str();
  cmd->add_option("--protocol", protocol, "challenge (PSNR-RGB) or benchmark (PSNR-Y) headline")
      ->check(CLI::IsMember({"challenge", "benchmark"}))->capture_default_str();
  cmd->add_option("--format", format, "table or json")->check(CLI::IsMember({"table", "json"}))->capture_default_str();
  cmd->add_option("--device", device, "auto, cpu or cuda")->check(CLI::IsMember({"auto", "cpu", "cuda"}))->capture_default_str();
  cmd->add_option("--runs", runs, "runtime: best of N runs")->check(int_range(1, 100))->capture_default_str();
  cmd->add_option("--baseline", baseline, "runtime_ratio reference architecture")->capture_default_str();
  cmd->add_option("--precision", precision, "runtime: fp32, bf16 or fp16 (model and inputs, baseline alike)")
      ->check(CLI::IsMember({"fp32", "bf16", "fp16"}))->capture_default_str();
  cmd->add_flag("--ssim", ssim, "also compute SSIM-Y");
  cmd->add_flag("--no-runtime", no_runtime, "skip the runtime measurement");
  cmd->callback([] {
    const torch::Device dev = pick_device(device);
    Dataset ds = open_split(data, split);
    auto pairs = load_pairs(ds, size_t(16) << 30);

    SRFunction f;
    int64_t params = 0;
    std::string name = arch;
    std::optional<SRNet> net;
    if (arch == "bicubic") {
      f = bicubic_function();
    } else {
      ArchSpec spec = load_arch(arch);
      name = spec.name;
      torch::manual_seed(0);
      net.emplace(spec.genome);
      if (!weights.empty()) load_weights_auto(**net, weights, spec.key_rules);
      (*net)->to(dev);
      f = model_function(*net);
      params = count_params(spec.genome);
    }
    QualityResult q = evaluate_quality(f, pairs, dev, 4, ssim);

    double runtime = NAN, base_runtime = NAN, ratio = NAN;
    if (!no_runtime) {
      if (arch == "bicubic" && precision != "fp32") throw Error("--precision: bicubic runs in fp32 only");
      std::vector<torch::Tensor> lr;
      for (const auto& p : pairs) lr.push_back(image_to_tensor(p.lr).to(dev));
      RuntimeOptions ro;
      ro.runs = runs;
      ro.precision = precision;
      if (net) f = runtime_function(*net, ro);  // after the quality pass: casts the network
      torch::manual_seed(0);
      SRNet base(load_arch(baseline).genome);
      base->to(dev);
      // Candidate and baseline alternate, so drifts in machine load hit both alike.
      RuntimeRatio rr = measure_runtime_ratio(f, runtime_function(base, ro), runtime_inputs(lr, ro), dev, ro);
      runtime = rr.runtime_s;
      base_runtime = rr.baseline_s;
      ratio = rr.ratio;
    }
    if (format == "json") {
      nlohmann::json imgs = nlohmann::json::array();
      for (const auto& s : q.images) {
        nlohmann::json i = {{"name", s.name}, {"psnr_rgb", s.psnr_rgb}, {"psnr_y", s.psnr_y}};
        if (ssim) i["ssim_y"] = s.ssim_y;
        imgs.push_back(i);
      }
      auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
      nlohmann::json j = {{"arch", name},         {"data", data},           {"layout", ds.layout},
                          {"protocol", protocol}, {"images", pairs.size()}, {"psnr_rgb", q.psnr_rgb},
                          {"psnr_y", q.psnr_y},   {"params", params},       {"runtime_s", num(runtime)},
                          {"baseline", baseline}, {"baseline_runtime_s", num(base_runtime)},
                          {"runtime_ratio", num(ratio)}, {"device", dev.str()}, {"precision", precision}, {"per_image", imgs}};
      if (ssim) j["ssim_y"] = q.ssim_y;
      std::cout << j.dump(2) << "\n";
      return;
    }
    fmt::print("{:<16} {:>10}  {}\n", "image", "PSNR-RGB", "PSNR-Y");
    for (const auto& s : q.images) fmt::print("{:<16} {:>10.4f}  {:.4f}\n", s.name, s.psnr_rgb, s.psnr_y);
    const bool challenge = protocol == "challenge";
    fmt::print("\n{} on {} ({} images, {} protocol, crop 4)\n", name, data, pairs.size(), protocol);
    fmt::print("  PSNR-{}: {:.4f} dB   (PSNR-{}: {:.4f} dB){}\n", challenge ? "RGB" : "Y",
               challenge ? q.psnr_rgb : q.psnr_y, challenge ? "Y" : "RGB", challenge ? q.psnr_y : q.psnr_rgb,
               ssim ? fmt::format("  SSIM-Y {:.4f}", q.ssim_y) : "");
    fmt::print("  params {}\n", group_digits(params));
    if (!no_runtime)
      fmt::print("  runtime {:.4f} s/image on {} ({} {:.4f} s): ratio {:.3f}\n", runtime, dev.str(), baseline,
                 base_runtime, ratio);
  });
}

}  // namespace srnas::cli
