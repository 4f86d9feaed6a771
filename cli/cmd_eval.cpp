// `srnas eval`: PSNR, params and runtime of an architecture by the challenge protocol.
// `srnas upscale`: a network applied to the user's own images (x4, tile by tile).
#include <chrono>
#include <filesystem>
#include <iostream>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/model_folder.h"
#include "trainer/data_split.h"
#include "cli/format.h"
#include "search_space/accounting.h"
#include "search_space/builder.h"
#include "search_space/registry.h"
#include "search_space/error.h"
#include "search_space/weights.h"
#include "trainer/evaluate.h"
#include "trainer/upscale.h"

namespace srnas::cli {

namespace {

namespace fs = std::filesystem;

bool is_png_path(const fs::path& p) {
  std::string e = p.extension().string();
  for (char& c : e) c = char(std::tolower(static_cast<unsigned char>(c)));
  return e == ".png";
}

bool same_path(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  return fs::exists(a, ec) && fs::exists(b, ec) && fs::equivalent(a, b, ec);
}

void add_upscale_command(CLI::App& app) {
  static std::string model_dir, arch, weights, in, out, device = "auto";
  static int tile = 256, context = -1;
  static bool ensemble = false;
  auto* cmd = app.add_subcommand("upscale", "Super-resolve your own images x4 with a network (export folder or arch)");
  auto* m = cmd->add_option("--model", model_dir, "a folder with genome.json + weights.safetensors (from srnas export or srnas train --out)");
  auto* a = cmd->add_option("--arch", arch, "built-in arch, genome JSON file, or 'bicubic' (MATLAB bicubic)");
  m->excludes(a);
  cmd->add_option("--weights", weights, "safetensors weights for --arch (srnas or the arch's published key names)")
      ->needs(a);
  cmd->add_option("--in", in, "an image file (.png .jpg .bmp .tif) or a folder of them")->required();
  cmd->add_option("--out", out, "the output .png for one image, or a folder (one NAME.png per image)")->required();
  cmd->add_option("--device", device, "auto, cpu or cuda")->check(CLI::IsMember({"auto", "cpu", "cuda"}))->capture_default_str();
  cmd->add_option("--tile", tile, "LR tile size in pixels (0: the whole image in one pass)")
      ->check(int_range(0, 1 << 20))->capture_default_str();
  cmd->add_option("--context", context,
                  "LR pixels of context around each tile (default: the network's receptive radius, "
                  "so tiles equal one pass; 32 for blocks that pool: SE, RLFB/RFDB attention, IMD's CCA)")
      ->check(int_range(0, 1 << 20));
  cmd->add_flag("--self-ensemble", ensemble, "average the 8 flips/transposes (EDSR's '+', 8x the time)");
  cmd->callback([] {
    // The network.
    if (model_dir.empty() && arch.empty()) throw Error("upscale: pass --model DIR (from srnas export) or --arch NAME");
    const bool bicubic = arch == "bicubic";
    if (!bicubic && !arch.empty() && weights.empty())
      throw Error(fmt::format("--arch {}: pass --weights (an untrained network's output means nothing)", arch));
    const torch::Device dev = pick_device(device);
    SRFunction f;
    std::string what = "bicubic";
    int ctx = 0, tiles = bicubic ? 0 : tile;
    if (!bicubic) {
      ArchSpec spec;
      std::string weights_file = weights;
      if (model_dir.empty()) {
        spec = load_arch(arch);
      } else {
        ModelFolder mf = open_model_folder(model_dir, "--model");
        spec = std::move(mf.arch);
        weights_file = mf.weights;
      }
      torch::manual_seed(0);
      SRNet net(spec.genome);
      const std::string naming = load_weights_auto(*net, weights_file, spec.published);
      if (naming != "srnas") fmt::print(stderr, "[upscale] {}: loaded under {}'s names\n", weights_file, naming);
      net->to(dev);
      f = model_function(net);
      ctx = context >= 0 ? context : tile_context(spec.genome, 32);
      what = fmt::format("{} ({} params)", model_dir.empty() ? spec.name : model_dir, group_digits(count_params(spec.genome)));
      if (context < 0 && receptive_radius(spec.genome) < 0 && tiles > 0)
        fmt::print(stderr,
                   "[upscale] note: this network pools (SE, CCA: the whole input; RLFB/RFDB attention: most of it), so {}-px tiles approximate one pass "
                   "(--tile 0 for the exact one)\n",
                   tiles);
    } else {
      f = bicubic_function();
    }

    if (ensemble) {
      f = self_ensemble(std::move(f));
      what += ", self-ensemble x8";
    }

    // The images: a file to a .png, or a folder to a folder.
    const fs::path src(in), dst(out);
    std::error_code ec;
    if (!fs::exists(src, ec)) throw Error(fmt::format("--in {}: no such file or folder", in));
    std::vector<std::pair<std::string, std::string>> jobs;  // input, output
    if (fs::is_directory(src, ec)) {
      if (same_path(src, dst)) throw Error(fmt::format("--out {}: is the input folder (its images would be overwritten)", out));
      for (const std::string& p : list_images(in)) jobs.push_back({p, (dst / (fs::path(p).stem().string() + ".png")).string()});
      if (jobs.empty()) throw Error(fmt::format("--in {}: no images (.png .jpg .jpeg .bmp .tif .tiff) in this folder", in));
      fs::create_directories(dst, ec);
      if (ec) throw Error(fmt::format("--out {}: cannot create folder: {}", out, ec.message()));
    } else {
      if (!is_png_path(dst)) throw Error(fmt::format("--out {}: expected a .png file for one input image", out));
      if (same_path(src, dst)) throw Error(fmt::format("--out {}: is the input image (it would be overwritten)", out));
      if (dst.has_parent_path()) fs::create_directories(dst.parent_path(), ec);
      jobs.push_back({in, out});
    }

    for (size_t i = 0; i < jobs.size(); ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      const Image lr = read_image(jobs[i].first);
      const torch::Tensor sr = upscale(f, image_to_tensor(lr).to(dev), tiles, ctx);
      write_png(jobs[i].second, tensor_to_image(sr.to(torch::kCPU)));
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      fmt::print(stderr, "[upscale] {}/{} {}: {}x{} -> {}x{} in {:.2f} s\n", i + 1, jobs.size(), jobs[i].second, lr.w,
                 lr.h, 4 * lr.w, 4 * lr.h, s);
    }
    fmt::print("upscaled {} image(s) x4 with {} to {} (tile {}, context {})\n", jobs.size(), what, out,
               tiles > 0 ? std::to_string(tiles) : "none", ctx);
  });
}

// A set's name in eval's tables: its folder's name ("Set14" for "bench/Set14/").
std::string set_name(const std::string& dir) {
  const fs::path p = fs::path(dir).lexically_normal();
  const std::string n = p.filename().string();
  return !n.empty() ? n : p.parent_path().filename().string();
}

}  // namespace

void add_eval_commands(CLI::App& app) {
  static std::string model_dir, arch, weights, split = "val", protocol = "challenge", format = "table",
                     device = "auto", baseline = "msrresnet", precision = "fp32";
  static std::vector<std::string> data;
  static int runs = 3;
  static bool ssim = false, no_runtime = false, ensemble = false;
  auto* cmd = app.add_subcommand("eval", "Measure PSNR, params and runtime (challenge or benchmark protocol)");
  auto* m = cmd->add_option("--model", model_dir, "a folder with genome.json + weights.safetensors (from srnas export or srnas train --out)");
  auto* a = cmd->add_option("--arch", arch, "built-in arch, genome JSON file, or 'bicubic' (MATLAB bicubic floor)");
  m->excludes(a);
  cmd->add_option("--weights", weights, "safetensors weights for --arch (srnas or the arch's published key names)")
      ->needs(a);
  cmd->add_option("--data", data,
                  "benchmark folder (HR + LR_bicubic/X4), HR folder, or data root; several (--data Set5 --data Set14): "
                  "one row each, runtime on the first")
      ->required();
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
  cmd->add_flag("--self-ensemble", ensemble,
                "average the 8 flips/transposes (EDSR's '+' results; not the challenge protocol; the runtime "
                "then times all 8 passes against a plain baseline)");
  cmd->callback([] {
    if (model_dir.empty() && arch.empty()) throw Error("eval: pass --model DIR (from srnas export) or --arch NAME");
    const torch::Device dev = pick_device(device);
    // Every set is opened before anything runs: a bad one fails at once, not after the others.
    std::vector<Dataset> sets;
    for (const std::string& d : data) sets.push_back(open_split(d, split));

    SRFunction f;
    int64_t params = 0;
    std::string name = arch;
    std::optional<SRNet> net;
    if (arch == "bicubic") {
      f = bicubic_function();
    } else {
      ArchSpec spec;
      std::string weights_file = weights;
      if (model_dir.empty()) {
        spec = load_arch(arch);
        name = spec.name;
      } else {
        ModelFolder mf = open_model_folder(model_dir, "--model");
        spec = std::move(mf.arch);
        weights_file = mf.weights;
        name = model_dir;
      }
      torch::manual_seed(0);
      net.emplace(spec.genome);
      if (!weights_file.empty()) {
        const std::string naming = load_weights_auto(**net, weights_file, spec.published);
        if (naming != "srnas") fmt::print(stderr, "[eval] {}: loaded under {}'s names\n", weights_file, naming);
      }
      (*net)->to(dev);
      f = model_function(*net);
      params = count_params(spec.genome);
    }
    if (ensemble) f = self_ensemble(std::move(f));
    struct SetResult {
      std::string data, layout;
      size_t images = 0;
      QualityResult q;
    };
    std::vector<SetResult> results;
    std::vector<torch::Tensor> lr;  // the first set's, for the runtime
    for (size_t i = 0; i < sets.size(); ++i) {
      const auto pairs = load_pairs(sets[i], size_t(16) << 30);
      if (sets.size() > 1) fmt::print(stderr, "[eval] {}/{} {}: {} images\n", i + 1, sets.size(), data[i], pairs.size());
      results.push_back({data[i], sets[i].layout, pairs.size(), evaluate_quality(f, pairs, dev, 4, ssim)});
      if (i == 0 && !no_runtime)
        for (const auto& p : pairs) lr.push_back(image_to_tensor(p.lr).to(dev));
    }

    double runtime = NAN, base_runtime = NAN, ratio = NAN;
    if (!no_runtime) {
      if (arch == "bicubic" && precision != "fp32") throw Error("--precision: bicubic runs in fp32 only");
      RuntimeOptions ro;
      ro.runs = runs;
      ro.precision = precision;
      if (net) f = runtime_function(*net, ro);  // after the quality passes: casts the network
      if (net && ensemble) f = self_ensemble(std::move(f));
      torch::manual_seed(0);
      SRNet base(load_arch(baseline).genome);
      base->to(dev);
      // Candidate and baseline alternate, so drifts in machine load hit both alike.
      fmt::print(stderr, "[eval] runtime: {} and {} alternating over {} image(s), {} warm-up + best of {} runs each "
                         "(--no-runtime skips it)\n",
                 arch, baseline, lr.size(), ro.warmup, ro.runs);
      RuntimeRatio rr = measure_runtime_ratio(f, runtime_function(base, ro), runtime_inputs(lr, ro), dev, ro);
      runtime = rr.runtime_s;
      base_runtime = rr.baseline_s;
      ratio = rr.ratio;
    }
    const bool challenge = protocol == "challenge";
    if (format == "json") {
      auto set_json = [](const SetResult& r) {
        nlohmann::json imgs = nlohmann::json::array();
        for (const auto& s : r.q.images) {
          nlohmann::json i = {{"name", s.name}, {"psnr_rgb", s.psnr_rgb}, {"psnr_y", s.psnr_y}};
          if (ssim) i["ssim_y"] = s.ssim_y;
          imgs.push_back(i);
        }
        nlohmann::json j = {{"data", r.data},         {"name", set_name(r.data)}, {"layout", r.layout},
                            {"images", r.images},     {"psnr_rgb", r.q.psnr_rgb}, {"psnr_y", r.q.psnr_y},
                            {"per_image", imgs}};
        if (ssim) j["ssim_y"] = r.q.ssim_y;
        return j;
      };
      auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
      // The first set's figures at the top level (the runtime's set), every set in "sets".
      nlohmann::json j = set_json(results[0]);
      j.erase("name");
      nlohmann::json all = nlohmann::json::array();
      for (const SetResult& r : results) all.push_back(set_json(r));
      j.update({{"arch", name},
                {"protocol", protocol},
                {"params", params},
                {"runtime_s", num(runtime)},
                {"baseline", baseline},
                {"baseline_runtime_s", num(base_runtime)},
                {"runtime_ratio", num(ratio)},
                {"device", dev.str()},
                {"precision", precision},
                {"self_ensemble", ensemble},
                {"sets", all}});
      std::cout << j.dump(2) << "\n";
      return;
    }
    for (const SetResult& r : results) {
      fmt::print("{:<16} {:>10}  {}\n", "image", "PSNR-RGB", "PSNR-Y");
      for (const auto& s : r.q.images) fmt::print("{:<16} {:>10.4f}  {:.4f}\n", s.name, s.psnr_rgb, s.psnr_y);
      fmt::print("\n{}{} on {} ({} images, {} protocol, crop 4)\n", name, ensemble ? " (self-ensemble x8)" : "", r.data,
                 r.images, protocol);
      fmt::print("  PSNR-{}: {:.4f} dB   (PSNR-{}: {:.4f} dB){}\n{}", challenge ? "RGB" : "Y",
                 challenge ? r.q.psnr_rgb : r.q.psnr_y, challenge ? "Y" : "RGB", challenge ? r.q.psnr_y : r.q.psnr_rgb,
                 ssim ? fmt::format("  SSIM-Y {:.4f}", r.q.ssim_y) : "", results.size() > 1 ? "\n" : "");
    }
    if (results.size() > 1) {  // the papers' table: one row per set
      fmt::print("{:<16} {:>6} {:>10} {:>10}{}\n", "set", "images", "PSNR-RGB", "PSNR-Y", ssim ? "     SSIM-Y" : "");
      for (const SetResult& r : results)
        fmt::print("{:<16} {:>6} {:>10.4f} {:>10.4f}{}\n", set_name(r.data), r.images, r.q.psnr_rgb, r.q.psnr_y,
                   ssim ? fmt::format(" {:>10.4f}", r.q.ssim_y) : "");
      fmt::print("\n");
    }
    fmt::print("  params {}\n", group_digits(params));
    if (!no_runtime)
      fmt::print("  runtime {:.4f} s/image on {} ({} {:.4f} s): ratio {:.3f}{}\n", runtime, dev.str(), baseline,
                 base_runtime, ratio, results.size() > 1 ? fmt::format(" (on {})", data[0]) : "");
  });

  add_upscale_command(app);
}

}  // namespace srnas::cli
