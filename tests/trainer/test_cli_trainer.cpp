// `srnas data/train/eval` as a user runs them: real processes on real image files.
#include <gtest/gtest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <sched.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>
#include <chrono>
#include <fstream>

#include "../support/busy_core.h"
#include "../support/cli_runner.h"
#include "../support/scratch.h"
#include "trainer/image.h"
#include "trainer/matlab_resize.h"
#include "trainer/metrics.h"

using namespace srnas;
using srnas::testing::expect_cli_error;
using srnas::testing::run_cli;
namespace fs = std::filesystem;

namespace {

Image pattern(int h, int w, int k) {
  Image img(h, w);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) img.at(y, x, c) = uint8_t((x * (2 + k) + y * (3 + c) + (x * y) % 7 * 9) % 256);
  return img;
}

fs::path dir(const std::string& name) { return srnas::testing::scratch_dir(name); }

// benchmark layout with n images of 64x48 HR
fs::path benchmark(const std::string& name, int n) {
  fs::path d = dir(name);
  fs::create_directories(d / "HR");
  fs::create_directories(d / "LR_bicubic" / "X4");
  for (int i = 0; i < n; ++i) {
    Image hr = pattern(64, 48, i);
    write_png((d / "HR" / ("img" + std::to_string(i) + ".png")).string(), hr);
    write_png((d / "LR_bicubic" / "X4" / ("img" + std::to_string(i) + "x4.png")).string(), imresize_bicubic(hr, 0.25));
  }
  return d;
}

std::string options_file(const std::string& text) {
  fs::path p = dir("opt") / "o.yaml";
  std::ofstream(p) << text;
  return p.string();
}

// Copies a safetensors file of F32 tensors with every value multiplied by factor.
void scale_safetensors(const std::string& from, const std::string& to, float factor) {
  std::ifstream f(from, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), {});
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  for (size_t off = 8 + n; off + 4 <= bytes.size(); off += 4) {
    float v;
    std::memcpy(&v, bytes.data() + off, 4);
    v *= factor;
    std::memcpy(bytes.data() + off, &v, 4);
  }
  std::ofstream(to, std::ios::binary) << bytes;
}

}  // namespace

TEST(CliTrainer, EvalBicubicMatchesTheLibraryMetrics) {
  fs::path d = benchmark("bench", 2);
  auto r = run_cli("eval --arch bicubic --data " + d.string() + " --format json --no-runtime");
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  double rgb = 0, y = 0;
  for (int i = 0; i < 2; ++i) {
    Image hr = read_image((d / "HR" / ("img" + std::to_string(i) + ".png")).string());
    Image lr = read_image((d / "LR_bicubic" / "X4" / ("img" + std::to_string(i) + "x4.png")).string());
    Image sr = imresize_bicubic(lr, 4.0);
    rgb += psnr_rgb(sr, hr, 4) / 2;
    y += psnr_y(sr, hr, 4) / 2;
  }
  EXPECT_NEAR(j["psnr_rgb"].get<double>(), rgb, 1e-9);
  EXPECT_NEAR(j["psnr_y"].get<double>(), y, 1e-9);
  EXPECT_EQ(j["per_image"].size(), 2u);
  EXPECT_EQ(j["params"], 0);
}

TEST(CliTrainer, EvalReportsRuntimeRatio) {
  fs::path d = benchmark("rt", 1);
  // One thread: with two, a ctest neighbour on one core makes each pass wait for its
  // descheduled thread, and the ratio of 2 runs ranged 0.38-2.84 (1 thread: 0.51 every time).
  auto r = run_cli("--threads 1 eval --arch imdn_aim19 --data " + d.string() + " --format json --runs 2");
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["params"], 893936);
  EXPECT_GT(j["runtime_s"].get<double>(), 0);
  EXPECT_GT(j["runtime_ratio"].get<double>(), 0.05);
  EXPECT_LT(j["runtime_ratio"].get<double>(), 1.5);  // IMDN is cheaper than MSRResNet (0.35 of its MACs)
}

TEST(CliTrainer, PrepareThenTrainThenEvalWithTheWeights) {
  fs::path hr = dir("hr");
  for (int i = 0; i < 3; ++i) write_png((hr / ("h" + std::to_string(i) + ".png")).string(), pattern(70, 61, i));
  fs::path prepared = dir("prep");
  auto p = run_cli("data prepare --hr " + hr.string() + " --out " + prepared.string());
  ASSERT_EQ(p.status, 0) << p.err;
  EXPECT_EQ(read_image((prepared / "HR" / "h0.png").string()).h, 68);  // modcrop 70x61 -> 68x60
  EXPECT_EQ(read_image((prepared / "LR_bicubic" / "X4" / "h0x4.png").string()).w, 15);

  fs::path root = dir("root");
  fs::create_directories(root / "train");
  fs::create_directories(root / "val");
  for (int i = 0; i < 3; ++i) write_png((root / "train" / ("t" + std::to_string(i) + ".png")).string(), pattern(64, 64, i));
  write_png((root / "val" / "v.png").string(), pattern(48, 48, 9));
  fs::path genome = dir("genome") / "g.json";
  std::ofstream(genome) << R"({"head":{"act":{"type":"none"}},"lr":{"width":8,"blocks":[{"type":"res_relu"}]},
    "upsampler":{"type":"pixelshuffle4","act":{"type":"none"}},"x4":{"width":4},"tail":{"hr_conv":false},
    "global_skip":"bicubic","init":{"type":"kaiming","scale":0.1}})";
  fs::path out = dir("out");
  std::string opts = options_file("iterations: 6\nbatch_size: 2\npatch_size: 8\nlog_every: 3\ndevice: cpu\n");
  auto t = run_cli("train --arch " + genome.string() + " --data " + root.string() + " --options " + opts + " --out " +
                   out.string() + " --set iterations=4 --set cache_dir_unused=1");
  EXPECT_EQ(t.status, 2) << "unknown override key is an error";
  t = run_cli("train --arch " + genome.string() + " --data " + root.string() + " --options " + opts + " --out " +
              out.string() + " --set iterations=4");
  ASSERT_EQ(t.status, 0) << t.err;
  EXPECT_NE(t.err.find("[train] 3/4"), std::string::npos) << t.err;
  EXPECT_TRUE(fs::exists(out / "weights.safetensors"));
  EXPECT_EQ(nlohmann::json::parse(std::ifstream(out / "result.json"))["iterations"], 4);
  auto e = run_cli("eval --arch " + genome.string() + " --weights " + (out / "weights.safetensors").string() +
                   " --data " + root.string() + " --format json --no-runtime");
  ASSERT_EQ(e.status, 0) << e.err;
  const auto ej = nlohmann::json::parse(e.out);
  EXPECT_EQ(ej["images"], 1);

  // Several training sets (as DIV2K + Flickr2K) and a validation prefix: the benchmark folder's
  // 2 images join the root's 3 for training, and only its first validates.
  fs::path bench2 = benchmark("SetB", 2);
  t = run_cli("train --arch " + genome.string() + " --data " + root.string() + " --data " + bench2.string() +
              " --val " + bench2.string() + " --val-images 1 --options " + opts + " --out " +
              dir("out2").string() + " --set iterations=2");
  ASSERT_EQ(t.status, 0) << t.err;
  EXPECT_NE(t.err.find(": 5 train / 1 val images (hr_only+benchmark), 2 iterations"), std::string::npos) << t.err;
  expect_cli_error("train --arch " + genome.string() + " --data " + root.string() + " --data " + bench2.string() +
                       " --options " + opts + " --out " + dir("out3").string(),
                   "--data given several times: name the validation images with --val");

  // The folder itself (--model, as upscale takes it) measures the same; several sets give one
  // row each (the papers' table), each as it measures alone, the runtime on the first.
  fs::path bench = benchmark("Set2", 2);
  auto b = run_cli("eval --arch " + genome.string() + " --weights " + (out / "weights.safetensors").string() +
                   " --data " + bench.string() + " --format json --no-runtime --ssim");
  ASSERT_EQ(b.status, 0) << b.err;
  const auto bj = nlohmann::json::parse(b.out);
  auto sets = run_cli("eval --model " + out.string() + " --data " + root.string() + " --data " + bench.string() +
                      " --format json --no-runtime --ssim");
  ASSERT_EQ(sets.status, 0) << sets.err;
  const auto sj = nlohmann::json::parse(sets.out);
  EXPECT_EQ(sj["arch"], out.string());
  ASSERT_EQ(sj["sets"].size(), 2u);
  EXPECT_EQ(sj["sets"][0]["name"], "root");
  EXPECT_EQ(sj["sets"][1]["name"], "Set2");
  EXPECT_EQ(sj["images"], 1) << "the top level is the first set's";
  EXPECT_EQ(sj["psnr_rgb"], ej["psnr_rgb"]);
  EXPECT_EQ(sj["sets"][0]["psnr_rgb"], ej["psnr_rgb"]);
  EXPECT_EQ(sj["sets"][1]["images"], 2);
  for (const char* k : {"psnr_rgb", "psnr_y", "ssim_y", "per_image"}) EXPECT_EQ(sj["sets"][1][k], bj[k]) << k;
  EXPECT_NE(bj["psnr_rgb"], ej["psnr_rgb"]) << "two sets that measure alike would hide a mix-up";
  auto table = run_cli("eval --model " + out.string() + " --data " + root.string() + " --data " + bench.string() +
                       " --protocol benchmark --runs 1");
  ASSERT_EQ(table.status, 0) << table.err;
  EXPECT_NE(table.out.find(fmt::format("Set2                  2 {:>10.4f} {:>10.4f}\n", bj["psnr_rgb"].get<double>(),
                                       bj["psnr_y"].get<double>())),
            std::string::npos)
      << table.out;
  EXPECT_NE(table.out.find("(on " + root.string() + ")"), std::string::npos) << table.out;
  expect_cli_error("eval --data " + root.string(), "pass --model DIR (from srnas export) or --arch NAME");
  expect_cli_error("eval --model " + out.string() + " --arch msrresnet --data " + root.string(), "excludes");
  expect_cli_error("eval --model " + root.string() + " --data " + root.string(), "--model " + root.string() + ": no genome.json");
  expect_cli_error("eval --model " + out.string() + " --data " + root.string() + " --data " + (root / "nope").string(),
                   "nope");

  // upscale with the trained folder (genome.json + weights.safetensors): the val image's LR,
  // upscaled, scores what eval measured; tiles (with the network's context) change nothing.
  const Image val_hr = modcrop(read_image((root / "val" / "v.png").string()), 4);
  fs::path in = dir("up_in");
  write_png((in / "v.png").string(), imresize_bicubic(val_hr, 0.25));
  write_png((in / "w.png").string(), pattern(9, 14, 3));
  fs::path whole = dir("up") / "whole", tiled = dir("up") / "tiled";
  auto u = run_cli("upscale --model " + out.string() + " --in " + in.string() + " --out " + whole.string() + " --tile 0");
  ASSERT_EQ(u.status, 0) << u.err;
  EXPECT_NE(u.err.find("[upscale] 2/2 "), std::string::npos) << u.err;
  EXPECT_NE(u.out.find("upscaled 2 image(s) x4 with " + out.string()), std::string::npos) << u.out;
  const Image sr = read_image((whole / "v.png").string());
  ASSERT_EQ(sr.h, val_hr.h);
  ASSERT_EQ(sr.w, val_hr.w);
  EXPECT_NEAR(psnr_rgb(sr, val_hr, 4), ej["per_image"][0]["psnr_rgb"].get<double>(), 1e-9);
  EXPECT_EQ(read_image((whole / "w.png").string()).w, 56);
  // --self-ensemble: upscale and eval apply the same x8 ensemble (it scores what eval says), and
  // it is another output than one pass.
  auto se = run_cli("eval --model " + out.string() + " --data " + root.string() + " --format json --no-runtime --self-ensemble");
  ASSERT_EQ(se.status, 0) << se.err;
  const auto sej = nlohmann::json::parse(se.out);
  EXPECT_EQ(sej["self_ensemble"], true);
  EXPECT_EQ(ej.value("self_ensemble", true), false);
  EXPECT_NE(sej["psnr_rgb"], ej["psnr_rgb"]);
  fs::path ens = dir("up_ens");
  u = run_cli("upscale --model " + out.string() + " --in " + in.string() + " --out " + ens.string() + " --self-ensemble");
  ASSERT_EQ(u.status, 0) << u.err;
  EXPECT_NE(u.out.find(" params), self-ensemble x8 to "), std::string::npos) << u.out;
  EXPECT_NEAR(psnr_rgb(read_image((ens / "v.png").string()), val_hr, 4), sej["per_image"][0]["psnr_rgb"].get<double>(), 1e-9);
  u = run_cli("upscale --model " + out.string() + " --in " + in.string() + " --out " + tiled.string() + " --tile 5");
  ASSERT_EQ(u.status, 0) << u.err;
  EXPECT_NE(u.out.find("(tile 5, context 5)"), std::string::npos) << u.out;  // LR: head 1, res_relu 2, up 1; x4: last conv 1 -> 1
  for (const char* name : {"v.png", "w.png"}) {
    const Image a = read_image((whole / name).string()), b = read_image((tiled / name).string());
    ASSERT_EQ(a.rgb.size(), b.rgb.size()) << name;
    int worst = 0;
    for (size_t i = 0; i < a.rgb.size(); ++i) worst = std::max(worst, std::abs(int(a.rgb[i]) - int(b.rgb[i])));
    EXPECT_LE(worst, 1) << name << ": tiles with full context equal one pass, up to float rounding";
  }
  // export --from the train folder: the same network as a model folder (upscales the same).
  fs::path exported = dir("exported");
  auto x = run_cli("export --from " + out.string() + " --out " + exported.string());
  ASSERT_EQ(x.status, 0) << x.err;
  for (const char* f : {"genome.json", "weights.safetensors", "model.pt", "model.py"})
    EXPECT_TRUE(fs::exists(exported / f)) << f;
  fs::path again = dir("again");
  u = run_cli("upscale --model " + exported.string() + " --in " + in.string() + " --out " + again.string() + " --tile 0");
  ASSERT_EQ(u.status, 0) << u.err;
  EXPECT_EQ(read_image((again / "v.png").string()).rgb, sr.rgb);
  expect_cli_error("export --from " + root.string() + " --out " + exported.string(), "no genome.json there");
  expect_cli_error("export --out " + exported.string(), "pass --db DB");
  // One file to one .png; bicubic needs no weights and is MATLAB's imresize.
  fs::path one = dir("up") / "sub" / "b.png";
  u = run_cli("upscale --arch bicubic --in " + (in / "w.png").string() + " --out " + one.string());
  ASSERT_EQ(u.status, 0) << u.err;
  EXPECT_EQ(read_image(one.string()).rgb, imresize_bicubic(pattern(9, 14, 3), 4.0).rgb);
  // Bad input: one line each, nothing written.
  expect_cli_error("upscale --in " + in.string() + " --out " + tiled.string(), "pass --model DIR");
  expect_cli_error("upscale --arch " + genome.string() + " --in " + in.string() + " --out " + tiled.string(),
                   "pass --weights");
  expect_cli_error("upscale --model " + root.string() + " --in " + in.string() + " --out " + tiled.string(),
                   "no genome.json there");
  expect_cli_error("upscale --arch bicubic --in " + (in / "v.png").string() + " --out " + (in / "v.jpg").string(),
                   "expected a .png file");
  expect_cli_error("upscale --arch bicubic --in " + (in / "nope.png").string() + " --out " + one.string(),
                   "no such file or folder");
  expect_cli_error("upscale --arch bicubic --in " + in.string() + " --out " + in.string(), "is the input folder");
  expect_cli_error("upscale --arch bicubic --in " + dir("up_empty").string() + " --out " + tiled.string(), "no images");
  expect_cli_error("upscale --model " + out.string() + " --in " + in.string() + " --out " + tiled.string() +
                       " --tile -1",
                   "--tile: expected an integer in [0, 1048576], got -1");
}

// loader.max_memory_mb caps the training images; the validation images, which every validation
// upscales whole, have their own cap (16 GiB), as in a search. `srnas train` used to apply the
// training cap to them too and stop on a large validation image.
TEST(CliTrainer, MaxMemoryCapsTheTrainingImagesOnly) {
  const fs::path b = benchmark("capped", 2), v = dir("capped_val");
  fs::create_directories(v / "HR");
  fs::create_directories(v / "LR_bicubic" / "X4");
  const Image big = pattern(640, 640, 3);  // 640*640*3 + 160*160*3 bytes = 1.25 MiB decoded
  write_png((v / "HR" / "big.png").string(), big);
  write_png((v / "LR_bicubic" / "X4" / "bigx4.png").string(), imresize_bicubic(big, 0.25));
  fs::path genome = dir("capped_genome") / "g.json";
  std::ofstream(genome) << R"({"head":{"act":{"type":"none"}},"lr":{"width":8,"blocks":[{"type":"res_relu"}]},
    "upsampler":{"type":"pixelshuffle4","act":{"type":"none"}},"x4":{"width":4},"tail":{"hr_conv":false},
    "global_skip":"bicubic","init":{"type":"kaiming","scale":0.1}})";
  const std::string opts = options_file("iterations: 2\nbatch_size: 2\npatch_size: 8\nlog_every: 2\ndevice: cpu\n"
                                        "loader: {store: memory, max_memory_mb: 1}\n");
  auto t = run_cli("train --arch " + genome.string() + " --data " + b.string() + " --val " + v.string() +
                   " --options " + opts + " --out " + dir("capped_out").string());
  ASSERT_EQ(t.status, 0) << t.err;
  EXPECT_NE(t.out.find("complete after 2 iterations"), std::string::npos) << t.out;
  // the same image among the training images is over the cap
  expect_cli_error("train --arch " + genome.string() + " --data " + v.string() + " --val " + b.string() +
                       " --options " + opts + " --out " + dir("capped_out2").string(),
                   "above the cap of 1.0 MiB (loader.max_memory_mb)");
}

// A child keeps one core busy: `srnas train` on every core (no --threads, no $SRNAS_THREADS)
// warns that it oversubscribes the node; with a chosen count it says nothing.
// Fine-tuning: --init starts from given weights (checked, renamed to srnas's names and kept in
// OUT/init.safetensors) instead of the seed's; a run with a near-zero learning rate then
// validates as `srnas eval` measures those weights, where the same run from the seed does not.
// The init is a trained run's weights scaled by 10, far from anything the seed gives.
// `srnas data cache` decodes the training images once; `train` with loader.store: mapped maps
// that file and the validation images' own (built on first use), and trains and validates to
// exactly the numbers the in-memory store gives.
TEST(CliTrainer, DataCacheThenTrainMapsTheSameImages) {
  const fs::path b = benchmark("cached", 3), v = benchmark("cached_val", 2);
  ::setenv("SRNAS_CACHE", (srnas::testing::scratch() / "cache").c_str(), 1);
  auto c = run_cli("data cache --data " + b.string());
  ASSERT_EQ(c.status, 0) << c.err;
  EXPECT_NE(c.out.find(".srimg: 3 training images of " + b.string()), std::string::npos) << c.out;
  EXPECT_NE(c.err.find("[data] decoding 3 images"), std::string::npos) << c.err;
  c = run_cli("data cache --data " + b.string());
  ASSERT_EQ(c.status, 0) << c.err;
  EXPECT_EQ(c.err.find("decoding"), std::string::npos) << "the file is current: " << c.err;

  fs::path genome = dir("genome") / "g.json";
  std::ofstream(genome) << R"({"head":{"act":{"type":"none"}},"lr":{"width":8,"blocks":[{"type":"res_relu"}]},
    "upsampler":{"type":"pixelshuffle4","act":{"type":"none"}},"x4":{"width":4},"tail":{"hr_conv":false},
    "global_skip":"bicubic","init":{"type":"kaiming","scale":0.1}})";
  const std::string opts = options_file("iterations: 5\nbatch_size: 2\npatch_size: 8\nlog_every: 5\ndevice: cpu\n");
  nlohmann::json result[2];
  int k = 0;
  for (const std::string store : {"memory", "mapped"}) {
    const fs::path out = dir("out_" + store);
    auto t = run_cli("train --arch " + genome.string() + " --data " + b.string() + " --val " + v.string() +
                     " --options " + opts + " --out " + out.string() + " --set loader.store=" + store);
    ASSERT_EQ(t.status, 0) << t.err;
    if (store == "memory") EXPECT_EQ(t.err.find("decoding"), std::string::npos) << t.err;
    else EXPECT_NE(t.err.find("[data] decoding 2 images"), std::string::npos) << "only the validation file is new: " << t.err;
    EXPECT_EQ(t.err.find("decoding 3 images"), std::string::npos) << store << ": " << t.err;
    result[k++] = nlohmann::json::parse(std::ifstream(out / "result.json"));
  }
  ASSERT_TRUE(result[0]["final_loss"].is_number() && result[0]["val_psnr_rgb"].is_number()) << result[0];
  EXPECT_EQ(result[0]["final_loss"], result[1]["final_loss"]);
  EXPECT_EQ(result[0]["val_psnr_rgb"], result[1]["val_psnr_rgb"]);
  expect_cli_error("train --arch " + genome.string() + " --data " + b.string() + " --val " + b.string() +
                   " --options " + opts + " --out " + dir("bad").string() + " --set loader.store=disk",
                   "loader.store");
  expect_cli_error("data cache", "give --config or --data");

  // Housekeeping: the file is listed as current; once an image changes it is stale and pruned.
  c = run_cli("data cache --list");
  ASSERT_EQ(c.status, 0) << c.err;
  EXPECT_NE(c.out.find("3 images of"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("2 images of"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("current\n2 file(s)"), std::string::npos) << c.out;
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  write_png((b / "HR" / "img1.png").string(), pattern(64, 48, 7));
  c = run_cli("data cache --list");
  EXPECT_NE(c.out.find("stale: "), std::string::npos) << c.out;
  c = run_cli("data cache --prune");
  ASSERT_EQ(c.status, 0) << c.err;
  EXPECT_NE(c.out.find("removed (stale: "), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("1 file(s)"), std::string::npos) << "the validation file is current: " << c.out;
  c = run_cli("data cache --list");
  EXPECT_NE(c.out.find("2 images of"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("current\n1 file(s)"), std::string::npos) << c.out;
  expect_cli_error("data cache --list --data " + b.string(), "excludes");
  ::unsetenv("SRNAS_CACHE");
}

TEST(CliTrainer, TrainInitStartsFromTheGivenWeights) {
  fs::path root = dir("init_root");
  fs::create_directories(root / "train");
  fs::create_directories(root / "val");
  for (int i = 0; i < 3; ++i) write_png((root / "train" / ("t" + std::to_string(i) + ".png")).string(), pattern(64, 64, i));
  write_png((root / "val" / "v.png").string(), pattern(48, 48, 9));
  const fs::path genomes = dir("init_genome"), runs = dir("init_runs");
  auto genome = [&](const std::string& name, int width) {
    fs::path g = genomes / name;
    std::ofstream(g) << fmt::format(R"({{"head":{{"act":{{"type":"none"}}}},"lr":{{"width":{},"blocks":[{{"type":"res_relu"}}]}},
      "upsampler":{{"type":"pixelshuffle4","act":{{"type":"none"}}}},"x4":{{"width":4}},"tail":{{"hr_conv":false}},
      "global_skip":"bicubic","init":{{"type":"kaiming","scale":0.1}}}})", width);
    return g.string();
  };
  const std::string g8 = genome("g8.json", 8), g12 = genome("g12.json", 12);
  const std::string opts = options_file("iterations: 10\nbatch_size: 2\npatch_size: 8\nlog_every: 5\ndevice: cpu\n");
  auto train = [&](const std::string& g, const std::string& out, const std::string& extra) {
    return run_cli("train --arch " + g + " --data " + root.string() + " --options " + opts + " --out " + (runs / out).string() +
                   " " + extra);
  };
  auto psnr = [&](const std::string& out) {
    return nlohmann::json::parse(std::ifstream(runs / out / "result.json"))["val_psnr_rgb"].get<double>();
  };
  auto a = train(g8, "init_a", "");
  ASSERT_EQ(a.status, 0) << a.err;
  const std::string weights = (runs / "init_a" / "weights.safetensors").string();
  const std::string init = (genomes / "scaled.safetensors").string();
  scale_safetensors(weights, init, 10.0f);
  auto e = run_cli("eval --arch " + g8 + " --weights " + init + " --data " + root.string() + " --format json --no-runtime");
  ASSERT_EQ(e.status, 0) << e.err;
  const double init_psnr = nlohmann::json::parse(e.out)["psnr_rgb"].get<double>();
  auto b = train(g8, "init_b", "--init " + init + " --set iterations=1 --set lr=1e-12");
  ASSERT_EQ(b.status, 0) << b.err;
  EXPECT_NE(b.err.find("[train] starting from " + init + " (srnas names)"), std::string::npos) << b.err;
  EXPECT_TRUE(fs::exists(runs / "init_b" / "init.safetensors"));
  auto c = train(g8, "init_c", "--set iterations=1 --set lr=1e-12");
  ASSERT_EQ(c.status, 0) << c.err;
  EXPECT_NEAR(psnr("init_b"), init_psnr, 1e-3);
  EXPECT_GT(std::abs(psnr("init_c") - init_psnr), 0.5) << "the check could not tell the init from the seed";
  // Another genome's weights: a one-line error naming the file and the tensor, nothing written.
  auto bad = train(g12, "init_d", "--init " + weights);
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find(weights + ": key 'head.bias' has shape [8], the model expects [12]"),
            std::string::npos) << bad.err;
  EXPECT_FALSE(fs::exists(runs / "init_d" / "init.safetensors"));
  EXPECT_EQ(bad.err.find("[train] g12:"), std::string::npos) << "checked before the data loads\n" << bad.err;
  // Resuming from a checkpoint keeps the run's own weights.
  auto r = train(g8, "init_a", "--resume --init " + weights + " --set iterations=12");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("--init " + weights + ": ignored, resuming from"), std::string::npos) << r.err;
}

// A checkpoint under a published naming (here mmsr's, as AIM 2019's MSRResNetx4.pth uses,
// made by renaming the keys of srnas's own file) evaluates as srnas's own file does, and
// `eval` says which naming it read; --init takes it too.
TEST(CliTrainer, EvalAndTrainReadPublishedCheckpointNames) {
  fs::path root = dir("pub_root");
  fs::create_directories(root / "train");
  fs::create_directories(root / "val");
  write_png((root / "train" / "t.png").string(), pattern(40, 40, 1));
  write_png((root / "val" / "v.png").string(), pattern(32, 32, 2));
  const fs::path runs = dir("pub_runs");
  const std::string opts = options_file("iterations: 1\nbatch_size: 1\npatch_size: 8\nlog_every: 1\ndevice: cpu\n");
  auto t = run_cli("train --arch msrresnet --data " + root.string() + " --options " + opts + " --out " + (runs / "own").string());
  ASSERT_EQ(t.status, 0) << t.err;
  const std::string own = (runs / "own" / "weights.safetensors").string(), mmsr = (runs / "mmsr.safetensors").string();
  {
    std::ifstream f(own, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(f)), {});
    uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);
    nlohmann::json h = nlohmann::json::parse(bytes.substr(8, n)), renamed = nlohmann::json::object();
    for (auto& [k, v] : h.items()) {
      std::string name = k;
      for (auto [from, to] : {std::pair<std::string, std::string>{"head.", "conv_first."}, {"lr.blocks.", "recon_trunk."},
                              {"up.0.", "upconv1."}, {"up.1.", "upconv2."}, {"hr_conv.", "HRconv."},
                              {"last_conv.", "conv_last."}})
        if (name.rfind(from, 0) == 0) name = to + name.substr(from.size());
      renamed[name] = v;
    }
    std::string header = renamed.dump();
    while ((8 + header.size()) % 8) header += ' ';
    const uint64_t m = header.size();
    std::ofstream o(mmsr, std::ios::binary);
    o.write(reinterpret_cast<const char*>(&m), 8);
    o << header << bytes.substr(8 + n);
  }
  auto eval = [&](const std::string& w) {
    return run_cli("eval --arch msrresnet --weights " + w + " --data " + root.string() + " --format json --no-runtime");
  };
  auto a = eval(own), b = eval(mmsr);
  ASSERT_EQ(a.status, 0) << a.err;
  ASSERT_EQ(b.status, 0) << b.err;
  EXPECT_EQ(a.err.find("loaded under"), std::string::npos) << a.err;
  EXPECT_NE(b.err.find("[eval] " + mmsr + ": loaded under mmsr codes/models/archs/SRResNet_arch.py MSRResNet"),
            std::string::npos) << b.err;
  EXPECT_EQ(nlohmann::json::parse(a.out)["psnr_rgb"], nlohmann::json::parse(b.out)["psnr_rgb"]);
  auto f = run_cli("train --arch msrresnet --data " + root.string() + " --options " + opts + " --out " +
                   (runs / "tuned").string() + " --init " + mmsr);
  ASSERT_EQ(f.status, 0) << f.err;
  EXPECT_NE(f.err.find("(mmsr codes/models/archs/SRResNet_arch.py MSRResNet"), std::string::npos) << f.err;
  // `arch show` lists the namings it accepts.
  auto show = run_cli("arch show msrresnet");
  EXPECT_NE(show.out.find("weights also load under mmsr codes/models/archs/SRResNet_arch.py MSRResNet (AIM 2019's "
                          "MSRResNetx4.pth, KAIR MSRResNet1) (lr.blocks.0.conv1.weight -> recon_trunk.0.conv1.weight)"),
            std::string::npos) << show.out;
  // Its example is a layer the arch has (RLFN's blocks have no conv1).
  show = run_cli("arch show rlfn");
  EXPECT_NE(show.out.find("(lr.blocks.0.c1_r.weight -> block_1.c1_r.weight)"), std::string::npos) << show.out;
  auto shown = nlohmann::json::parse(run_cli("arch show imdn_aim19 --format json").out)["published_keys"];
  ASSERT_EQ(shown.size(), 1u);
  EXPECT_EQ(shown[0]["source"], "KAIR models/network_imdn.py IMDN");
}

TEST(CliTrainer, TrainWarnsWhenOtherProcessesLeaveTooFewCores) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0 || CPU_COUNT(&set) < 2) GTEST_SKIP() << "one core: one thread";
  fs::path root = dir("busy_root");
  fs::create_directories(root / "train");
  fs::create_directories(root / "val");
  write_png((root / "train" / "t.png").string(), pattern(64, 64, 1));
  write_png((root / "val" / "v.png").string(), pattern(48, 48, 2));
  std::string opts = options_file("iterations: 1\nbatch_size: 1\npatch_size: 8\nlog_every: 1\ndevice: cpu\n");
  srnas::testing::BusyCore spinner(60);
  const char* was = std::getenv("SRNAS_THREADS");
  const std::string saved = was ? was : "";
  unsetenv("SRNAS_THREADS");
  fs::path genome = dir("busy_genome") / "g.json";
  std::ofstream(genome) << R"({"head":{"act":{"type":"none"}},"lr":{"width":4,"blocks":[]},)"
                           R"("upsampler":{"type":"pixelshuffle4","act":{"type":"none"}},"x4":{"width":4},)"
                           R"("tail":{"hr_conv":false},"global_skip":"bicubic","init":{"type":"kaiming","scale":0.1}})";
  const std::string train = "train --arch " + genome.string() + " --data " + root.string() + " --options " + opts;
  auto busy = run_cli(train + " --out " + dir("busy_out").string());
  auto chosen = run_cli("--threads 1 " + train + " --out " + dir("busy_out1").string());
  if (was) setenv("SRNAS_THREADS", saved.c_str(), 1);
  spinner.stop();
  ASSERT_EQ(busy.status, 0) << busy.err;
  EXPECT_NE(busy.err.find("[train] warning: other processes keep"), std::string::npos) << busy.err;
  EXPECT_NE(busy.err.find("--threads"), std::string::npos) << busy.err;
  ASSERT_EQ(chosen.status, 0) << chosen.err;
  EXPECT_EQ(chosen.err.find("warning"), std::string::npos) << chosen.err;
}

TEST(CliTrainer, BadInputIsAOneLineError) {
  // corrupt PNG
  fs::path d = benchmark("corrupt", 1);
  { std::ofstream((d / "HR" / "img0.png").string(), std::ios::binary) << "\x89PNG\r\n\x1a\n garbage"; }
  expect_cli_error("eval --arch bicubic --no-runtime --data " + d.string(), "img0.png");
  // truncated JPEG
  fs::path j = dir("jpeg");
  {
    fs::path src = benchmark("jpegsrc", 1) / "HR" / "img0.png";
    (void)src;
    std::string jpeg = "\xFF\xD8\xFF\xE0";
    jpeg += std::string(40, '\x11');
    std::ofstream((j / "a.jpg").string(), std::ios::binary) << jpeg;
  }
  expect_cli_error("eval --arch bicubic --no-runtime --data " + j.string(), "a.jpg");
  // empty folder
  expect_cli_error("eval --arch bicubic --no-runtime --data " + dir("empty").string(), "empty");
  // HR/LR size mismatch
  d = benchmark("mismatch", 1);
  write_png((d / "LR_bicubic" / "X4" / "img0x4.png").string(), pattern(10, 10, 0));
  expect_cli_error("eval --arch bicubic --no-runtime --data " + d.string(), "img0x4.png");
  // LR missing for an HR
  d = benchmark("missing", 2);
  fs::remove(d / "LR_bicubic" / "X4" / "img1x4.png");
  expect_cli_error("eval --arch bicubic --no-runtime --data " + d.string(), "img1");
  // NaN in weights: a complete file for a 4-tensor genome, one value NaN
  d = benchmark("nan", 1);
  {
    fs::path g = d / "g.json";
    std::ofstream(g) << R"({"head":{"act":{"type":"none"}},"lr":{"width":1},"upsampler":{"type":"pixelshuffle4",
      "act":{"type":"none"}},"x4":{"width":3},"tail":{"hr_conv":false,"last_conv":false},"global_skip":"none",
      "init":{"type":"pytorch"}})";
    std::vector<std::pair<std::string, std::vector<int>>> tensors = {
        {"head.bias", {1}}, {"head.weight", {1, 3, 3, 3}}, {"up.0.bias", {48}}, {"up.0.weight", {48, 1, 3, 3}}};
    nlohmann::json h = nlohmann::json::object();
    std::vector<float> data;
    for (const auto& [name, shape] : tensors) {
      size_t n = 1;
      for (int s : shape) n *= s;
      h[name] = {{"dtype", "F32"}, {"shape", shape}, {"data_offsets", {data.size() * 4, (data.size() + n) * 4}}};
      data.resize(data.size() + n, 0.01f);
    }
    data[7] = NAN;
    std::string header = h.dump();
    uint64_t n = header.size();
    std::ofstream f((d / "w.safetensors").string(), std::ios::binary);
    f.write(reinterpret_cast<const char*>(&n), 8);
    f << header;
    f.write(reinterpret_cast<const char*>(data.data()), data.size() * 4);
    f.close();
    expect_cli_error("eval --arch " + g.string() + " --no-runtime --weights " + (d / "w.safetensors").string() +
                         " --data " + d.string(), "contains NaN or Inf");
  }
  // options: unknown key, wrong type
  fs::path root = benchmark("opts", 1);
  expect_cli_error("train --arch msrresnet --data " + root.string() + " --out " + dir("o1").string() +
                       " --options " + options_file("iterations: 5\nlearning_rate: 1\n"),
                   "unknown key 'learning_rate'");
  expect_cli_error("train --arch msrresnet --data " + root.string() + " --out " + dir("o2").string() +
                       " --options " + options_file("iterations: 5\nbatch_size: many\n"),
                   "options.batch_size: expected an integer");
  expect_cli_error("data prepare --hr /nonexistent/hr --out " + dir("o3").string(), "/nonexistent/hr");
}
