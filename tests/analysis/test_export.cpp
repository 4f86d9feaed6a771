// Export: the TorchScript module built from a genome and its weights, saved and
// reloaded with torch::jit::load, computes what SRNet computes (every block type in
// every stage, both upsamplers, both global skips, non-square input), and bad weight
// maps are rejected with srnas::Error naming the key.
//
// Export.StockPyTorchComputesWhatSRNetComputes runs the exports (model.pt and model.py) in
// stock PyTorch-Python (scripts/check_export.py under SRNAS_PYTHON, default /usr/bin/python3
// with Debian's python3-torch, which scripts/setup.sh installs; skipped when that python
// has no torch).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "analysis/export.h"
#include "search_space/builder.h"
#include "search_space/error.h"
#include "search_space/registry.h"
#include "search_space/space.h"
#include "../support/cli_runner.h"
#include "../support/errors.h"
#include "../support/scratch.h"

using srnas::testing::error_of;

using namespace srnas;
namespace fs = std::filesystem;

namespace {

class TmpDir {
 public:
  TmpDir() : path_(srnas::testing::scratch_dir("export")) {}
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Every block type, with non-default parameters (slope 1e-05 prints as an exponent).
const char* kAllBlocks =
    R"([{"type":"res_relu"},{"type":"res_lrelu","slope":0.00001},{"type":"ir","expand":2},)"
    R"({"type":"imd","slope":0.2},{"type":"awru","expand":3},{"type":"dilated","dilation":3},)"
    R"({"type":"se","reduction":3},{"type":"dwsep","kernel":7},{"type":"rlfb","slope":0.1,"esa":3,"mid":6},{"type":"rfdb","slope":0.2},)"
    R"({"type":"imd","slope":0.1,"cca":true},{"type":"spab"}])";

std::vector<Genome> handmade_genomes() {
  const std::string all = kAllBlocks;
  return {
      // Progressive, every block type in all three stages, long skip, hr_conv, bicubic.
      genome_from_string(R"({"head":{"act":{"type":"relu"}},"lr":{"width":16,"blocks":)" + all +
                         R"(,"long_skip":true},"upsampler":{"type":"progressive","act":{"type":"lrelu","slope":0.2}},)"
                         R"("x2":{"width":8,"blocks":)" + all + R"(},"x4":{"width":4,"blocks":)" + all +
                         R"(},"tail":{"hr_conv":true,"act":{"type":"relu"},"last_conv":true},)"
                         R"("global_skip":"bicubic","init":{"type":"kaiming","scale":0.5}})"),
      // PixelShuffle(4) straight to RGB (no last conv), slopes 1 and 0, bilinear.
      genome_from_string(
          R"({"head":{"act":{"type":"lrelu","slope":1}},"lr":{"width":12,"blocks":[{"type":"imd","slope":0},)"
          R"({"type":"se","reduction":64},{"type":"dwsep","kernel":5}],"long_skip":false},)"
          R"("upsampler":{"type":"pixelshuffle4","act":{"type":"relu"}},"x4":{"width":3,"blocks":[]},)"
          R"("tail":{"hr_conv":false,"last_conv":false},"global_skip":"bilinear","init":{"type":"pytorch"}})"),
      // Fused LR blocks (RFDN's aggregation) with a trunk, every block type at x4.
      genome_from_string(R"({"head":{"act":{"type":"none"}},"lr":{"width":8,"blocks":)" + all +
                         R"(,"long_skip":true,"fuse":{"act":{"type":"lrelu","slope":0.3}}},)"
                         R"("upsampler":{"type":"pixelshuffle4","act":{"type":"none"}},"x4":{"width":4,"blocks":)" +
                         all + R"(},"tail":{"hr_conv":false,"last_conv":true},"global_skip":"bilinear",)"
                         R"("init":{"type":"pytorch"}})"),
      // PixelShuffle(4) with every block type at x4, a trunk over an empty LR stage.
      genome_from_string(R"({"head":{"act":{"type":"none"}},"lr":{"width":8,"blocks":[],"long_skip":true},)"
                         R"("upsampler":{"type":"pixelshuffle4","act":{"type":"none"}},"x4":{"width":8,"blocks":)" +
                         all + R"(},"tail":{"hr_conv":false,"last_conv":true},"global_skip":"none",)"
                         R"("init":{"type":"pytorch"}})"),
  };
}

// A seeded SRNet whose biases and AWRU scales are perturbed too (kaiming init zeroes
// biases and the scales start at 1, which would hide a swapped or dropped one).
SRNet make_net(const Genome& g, uint64_t seed) {
  torch::manual_seed(seed);
  SRNet net(g);
  torch::NoGradGuard no_grad;
  for (auto& p : net->named_parameters()) {
    const std::string& k = p.key();
    if (k.size() > 5 && k.compare(k.size() - 5, 5, ".bias") == 0) p.value().add_(torch::randn_like(p.value()) * 0.02);
    if (k.find("_scale") != std::string::npos) p.value().add_(torch::randn_like(p.value()) * 0.3);
  }
  return net;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

TEST(Export, ReloadedModuleMatchesSRNet) {
  torch::NoGradGuard no_grad;
  TmpDir tmp;
  std::vector<std::pair<std::string, Genome>> genomes = {{"msrresnet", load_arch("msrresnet").genome},
                                                         {"imdn_aim19", load_arch("imdn_aim19").genome},
                                                         {"rlfn_ntire22", load_arch("rlfn_ntire22").genome},
                                                         {"rfdn", load_arch("rfdn").genome},
                                                         {"imdn", load_arch("imdn").genome}};
  for (const auto& [space_name, count] : std::vector<std::pair<std::string, int>>{
           {"unified", 20}, {"krahaon", 5}, {"neptuneai", 5}, {"efficient", 6}}) {
    auto space = Space::load(space_name);
    Rng rng(7);
    for (int i = 0; i < count; ++i) genomes.push_back({space_name + "#" + std::to_string(i), space->sample(rng)});
  }
  int h = 0;
  for (const Genome& g : handmade_genomes()) genomes.push_back({"handmade#" + std::to_string(h++), g});

  std::set<std::pair<std::string, BlockType>> covered;
  std::set<GlobalSkip> skips;
  std::set<Upsampler> upsamplers;
  double max_diff = 0, max_out = 0;
  uint64_t seed = 100;
  for (const auto& [label, g] : genomes) {
    SCOPED_TRACE(label + " " + canonical_json(g));
    for (const auto& b : g.lr.blocks) covered.insert({"lr", b.type});
    if (g.x2)
      for (const auto& b : g.x2->blocks) covered.insert({"x2", b.type});
    for (const auto& b : g.x4.blocks) covered.insert({"x4", b.type});
    skips.insert(g.global_skip);
    upsamplers.insert(g.upsampler);

    SRNet net = make_net(g, seed++);
    const std::string path = tmp / "model.pt";
    export_torchscript(g, module_state(*net), path);
    torch::jit::Module built = build_torchscript(g, module_state(*net));
    torch::jit::Module loaded = torch::jit::load(path);

    // Same parameters, by flattened name, bit for bit.
    ASSERT_EQ(loaded.named_parameters().size(), net->named_parameters().size());
    ASSERT_EQ(built.named_parameters().size(), net->named_parameters().size());
    std::map<std::string, torch::Tensor> jit_params;
    for (const auto& p : loaded.named_parameters()) jit_params[p.name] = p.value;
    for (const auto& p : net->named_parameters()) {
      auto it = jit_params.find(torchscript_name(p.key()));
      ASSERT_NE(it, jit_params.end()) << p.key();
      EXPECT_EQ(it->second.scalar_type(), torch::kFloat32);
      EXPECT_TRUE(it->second.is_contiguous());
      EXPECT_FALSE(it->second.requires_grad()) << p.key();
      EXPECT_TRUE(torch::equal(it->second, p.value())) << p.key();
    }
    EXPECT_FALSE(loaded.attr("training").toBool());

    torch::Tensor x = torch::rand({1, 3, 12, 16});
    torch::Tensor want = net->forward(x);
    ASSERT_EQ(want.sizes(), (std::vector<int64_t>{1, 3, 48, 64}));
    max_out = std::max(max_out, want.abs().max().item<double>());
    // Several runs: the graph executor profiles first and optimises later. Where LibTorch
    // has LLVM (Debian's 2.6) the later runs are fused kernels, which must come at all (a
    // 3x3 depthwise aten::conv2d never finished compiling; grouped convs are
    // torch.convolution for that) and stay within float rounding.
    for (int run = 0; run < 3; ++run) {
      for (torch::jit::Module* m : {&loaded, &built}) {
        torch::Tensor got = m->forward({x}).toTensor();
        ASSERT_EQ(got.sizes(), want.sizes());
        const double diff = (got - want).abs().max().item<double>();
        max_diff = std::max(max_diff, diff);
        EXPECT_LT(diff, 1e-6) << "run " << run;
      }
    }
  }
  for (const BlockType bt : kAllBlockTypes) {
    for (const char* stage : {"lr", "x2", "x4"})
      EXPECT_TRUE(covered.count({stage, bt})) << to_string(bt) << " in " << stage;
  }
  EXPECT_EQ(skips.size(), 3u) << "none, bilinear and bicubic";
  EXPECT_EQ(upsamplers.size(), 2u);
  std::cout << "[ export ] " << genomes.size() << " genomes, max |torchscript - SRNet| = " << max_diff
            << " (max |output| " << max_out << ")\n";
}

TEST(Export, WeightsAreConvertedAndCloned) {
  torch::NoGradGuard no_grad;
  const Genome g = handmade_genomes()[1];
  SRNet net = make_net(g, 3);
  TensorMap w = module_state(*net);
  TensorMap odd;
  for (const auto& [k, t] : w) odd[k] = t.to(torch::kFloat64);
  torch::Tensor& head = odd.at("head.weight");
  head = head.transpose(2, 3).contiguous().transpose(2, 3);  // same values, not contiguous
  ASSERT_FALSE(head.is_contiguous());
  torch::jit::Module m = build_torchscript(g, odd);
  for (const auto& p : m.named_parameters()) {
    EXPECT_EQ(p.value.scalar_type(), torch::kFloat32) << p.name;
    EXPECT_TRUE(p.value.is_contiguous()) << p.name;
  }
  torch::Tensor x = torch::rand({1, 3, 12, 16});
  torch::Tensor want = net->forward(x);
  w.at("head.weight").zero_();  // the module holds clones
  EXPECT_LT((m.forward({x}).toTensor() - want).abs().max().item<double>(), 1e-6);
}

TEST(Export, BadWeightsNameTheKey) {
  const Genome g = load_arch("imdn_aim19").genome;
  SRNet net = make_net(g, 5);
  const TensorMap good = module_state(*net);

  TensorMap missing = good;
  missing.erase("lr.blocks.3.conv2.weight");
  std::string e = error_of([&] { build_torchscript(g, missing); });
  EXPECT_TRUE(contains(e, "missing key 'lr.blocks.3.conv2.weight'")) << e;

  TensorMap wrong = good;
  wrong["lr.blocks.3.conv2.weight"] = torch::zeros({64, 47, 3, 3});
  e = error_of([&] { build_torchscript(g, wrong); });
  EXPECT_TRUE(contains(e, "'lr.blocks.3.conv2.weight' has shape [64, 47, 3, 3], the genome expects [64, 48, 3, 3]"))
      << e;

  TensorMap extra = good;
  extra["lr.blocks.8.conv1.weight"] = torch::zeros({64, 64, 3, 3});
  e = error_of([&] { build_torchscript(g, extra); });
  EXPECT_TRUE(contains(e, "unexpected key 'lr.blocks.8.conv1.weight'")) << e;

  TensorMap nan = good;
  nan["up.0.bias"] = torch::full({48}, NAN);
  e = error_of([&] { build_torchscript(g, nan); });
  EXPECT_TRUE(contains(e, "'up.0.bias' contains NaN")) << e;

  TensorMap ints = good;
  ints["head.bias"] = torch::zeros({64}, torch::kInt64);
  e = error_of([&] { build_torchscript(g, ints); });
  EXPECT_TRUE(contains(e, "'head.bias' has dtype")) << e;

  // The file-level calls name the file and leave nothing behind.
  TmpDir tmp;
  const std::string path = tmp / "model.pt";
  e = error_of([&] { export_torchscript(g, missing, path); });
  EXPECT_EQ(e.rfind(path + ": ", 0), 0u) << e;
  EXPECT_TRUE(contains(e, "lr.blocks.3.conv2.weight")) << e;
  const std::string dir = tmp / "out";
  e = error_of([&] { export_model_dir(g, wrong, dir); });
  EXPECT_EQ(e.rfind(dir + ": ", 0), 0u) << e;
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(dir));
  const std::string nowhere = tmp / "no/such/dir/model.pt";
  e = error_of([&] { export_torchscript(g, good, nowhere); });
  EXPECT_EQ(e.rfind(nowhere + ": ", 0), 0u) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
}

TEST(Export, ModelDirHoldsGenomeWeightsAndModel) {
  torch::NoGradGuard no_grad;
  TmpDir tmp;
  const Genome g = handmade_genomes()[0];
  SRNet net = make_net(g, 9);
  const TensorMap w = module_state(*net);
  const std::string dir = tmp / "export";
  export_model_dir(g, w, dir);

  EXPECT_EQ(genome_from_string(read_file(dir + "/genome.json")), g);
  EXPECT_EQ(read_file(dir + "/genome.json"), to_json(g).dump(2) + "\n");
  std::map<std::string, std::string> meta;
  TensorMap back = read_safetensors(dir + "/weights.safetensors", &meta);
  ASSERT_EQ(back.size(), w.size());
  for (const auto& [k, t] : w) EXPECT_TRUE(torch::equal(back.at(k), t)) << k;
  EXPECT_EQ(meta.at("genome_hash"), genome_hash(g));

  torch::jit::ExtraFilesMap extra{{"genome.json", ""}};
  torch::jit::Module m = torch::jit::load(dir + "/model.pt", c10::nullopt, extra);
  EXPECT_EQ(extra.at("genome.json"), canonical_json(g));
  torch::Tensor x = torch::rand({1, 3, 12, 16});
  EXPECT_LT((m.forward({x}).toTensor() - net->forward(x)).abs().max().item<double>(), 1e-6);
  EXPECT_EQ(read_file(dir + "/model.py"), pytorch_source(g));
  for (const auto& entry : fs::directory_iterator(dir))
    EXPECT_NE(entry.path().extension(), ".tmp") << entry.path();
}

TEST(Export, SourceUsesEveryWeightAndOnlyAtenOps) {
  for (const char* arch : {"msrresnet", "imdn_aim19"}) {
    const Genome g = load_arch(arch).genome;
    const std::string src = torchscript_source(g);
    EXPECT_EQ(src.rfind("def forward(self, x):\n", 0), 0u);
    SRNet net(g);
    for (const auto& p : net->named_parameters())
      EXPECT_TRUE(contains(src, "self." + torchscript_name(p.key()))) << arch << " " << p.key();
    EXPECT_EQ(src, torchscript_source(g)) << "deterministic";
  }
  const std::string imdn = torchscript_source(load_arch("imdn_aim19").genome);
  EXPECT_TRUE(contains(imdn, ".split_with_sizes([16, 48], 1)")) << imdn;
  EXPECT_TRUE(contains(imdn, "torch.pixel_shuffle(")) << imdn;
  EXPECT_FALSE(contains(imdn, "upsample")) << imdn;
  EXPECT_TRUE(contains(torchscript_source(load_arch("msrresnet").genome),
                       "torch.upsample_bilinear2d(x, [x.size(2) * 4, x.size(3) * 4], False, 4.0, 4.0)"));
  // Grouped convs are aten::convolution (the fuser hangs on a 3x3 depthwise aten::conv2d),
  // dense ones aten::conv2d.
  const std::string all = torchscript_source(handmade_genomes()[0]);
  EXPECT_TRUE(contains(all, "torch.convolution(t, self.lr_blocks_2_dw_weight, self.lr_blocks_2_dw_bias, [1, 1], "
                            "[1, 1], [1, 1], False, [0, 0], 32)")) << all;
  EXPECT_FALSE(contains(all, "], 32)\n")) << "no grouped torch.conv2d";
  EXPECT_FALSE(contains(torchscript_source(load_arch("msrresnet").genome), "torch.convolution(")) << "dense: conv2d";

  // model.py: nested modules at the srnas paths, nn.Conv2d with only non-default arguments.
  const std::string py = pytorch_source(handmade_genomes()[0]);
  EXPECT_EQ(py, pytorch_source(handmade_genomes()[0])) << "deterministic";
  EXPECT_TRUE(contains(py, "\nclass SRNet(nn.Module):\n")) << py;
  EXPECT_TRUE(contains(py, "        self.lr.blocks = nn.ModuleList()\n        self.lr.blocks.append(nn.Module())\n"))
      << py;
  EXPECT_TRUE(contains(py, "        self.lr.blocks[2].dw = nn.Conv2d(32, 32, 3, padding=1, groups=32)\n")) << py;
  EXPECT_TRUE(contains(py, "        t = torch.clamp(self.lr.blocks[2].dw(t), 0.0, 6.0)\n")) << py;
  EXPECT_TRUE(contains(py, "self.lr.blocks[4].res_scale = nn.Parameter(torch.ones(1))")) << py;
  EXPECT_TRUE(contains(py, "F.leaky_relu(self.lr.blocks[1].conv1(y), 1e-05)")) << py;
  EXPECT_TRUE(contains(py, "GENOME_JSON = " + nlohmann::json(canonical_json(handmade_genomes()[0])).dump() + "\n"));
  const std::string msr = pytorch_source(load_arch("msrresnet").genome);
  EXPECT_TRUE(contains(msr, "        self.up.append(nn.Conv2d(64, 256, 3, padding=1))\n")) << msr;
  EXPECT_TRUE(contains(msr, "y = y + F.interpolate(x, scale_factor=4.0, mode=\"bilinear\", align_corners=False)"))
      << msr;
  EXPECT_TRUE(contains(msr, "(1517571 parameters)")) << msr;
}

namespace {

// The python that plays "stock PyTorch": SRNAS_PYTHON (a command: scripts/test_torch2.sh
// points it into a LibTorch 2.x chroot), else /usr/bin/python3.
std::string stock_python() {
  const char* py = std::getenv("SRNAS_PYTHON");
  return py && *py ? py : "/usr/bin/python3";
}

void write_f32(const torch::Tensor& t, const std::string& path) {
  const torch::Tensor c = t.to(torch::kFloat32).contiguous();
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(c.data_ptr<float>()), static_cast<std::streamsize>(c.numel() * 4));
  ASSERT_TRUE(f.good()) << path;
}

// Runs cmd, returns (exit status, stdout and stderr).
std::pair<int, std::string> run(const std::string& cmd) {
  const srnas::testing::CliRun r = srnas::testing::run_command(cmd);
  return {r.status, r.out + r.err};
}

// scripts/check_export.py on model, fed x (2x3x13x17 float32), against the expected output.
std::pair<int, std::string> check_export(const std::string& py, const std::string& model, const std::string& x,
                                         const std::string& expected) {
  return run(py + " " SRNAS_SOURCE_DIR "/scripts/check_export.py " + model + " --input " + x +
             " --shape 2,3,13,17 --expect " + expected + " --atol 1e-4");
}

}  // namespace

// What users do with an export: torch.jit.load(model.pt), or import model.py, in their own
// PyTorch, no srnas code. The outputs of the reference networks and of every block type in
// every stage (non-square input, batch 2) equal SRNet's, and both carry the canonical genome.
TEST(Export, StockPyTorchComputesWhatSRNetComputes) {
  const std::string py = stock_python();
  if (run(py + " -c 'import torch'").first != 0)
    GTEST_SKIP() << py << " has no torch (apt-get install python3-torch; scripts/setup.sh does)";
  torch::NoGradGuard no_grad;
  TmpDir tmp;
  std::vector<std::pair<std::string, Genome>> genomes = {{"msrresnet", load_arch("msrresnet").genome},
                                                         {"imdn_aim19", load_arch("imdn_aim19").genome},
                                                         {"rlfn_ntire22", load_arch("rlfn_ntire22").genome},
                                                         {"rfdn", load_arch("rfdn").genome},
                                                         {"imdn", load_arch("imdn").genome}};
  int h = 0;
  for (const Genome& g : handmade_genomes()) genomes.push_back({"handmade" + std::to_string(h++), g});
  torch::manual_seed(5);
  const torch::Tensor x = torch::rand({2, 3, 13, 17});
  write_f32(x, tmp / "x.f32");
  uint64_t seed = 300;
  for (const auto& [label, g] : genomes) {
    SRNet net = make_net(g, seed++);
    net->eval();
    const torch::Tensor y = net->forward(x);
    ASSERT_GT(y.abs().max().item<double>(), 0.05) << "a trivial output would hide a wrong export";
    export_model_dir(g, module_state(*net), tmp / label);
    write_f32(y, tmp / (label + ".f32"));
    for (const char* file : {"model.pt", "model.py"}) {
      SCOPED_TRACE(label + "/" + file);
      const auto [rc, out] = check_export(py, tmp / (label + "/" + file), tmp / "x.f32", tmp / (label + ".f32"));
      EXPECT_EQ(rc, 0) << out;
      EXPECT_TRUE(contains(out, "output shape (2, 3, 52, 68), finite: True, runs: 3")) << out;
      EXPECT_TRUE(contains(out, "genome " + std::to_string(canonical_json(g).size()) + " bytes of JSON")) << out;
      EXPECT_TRUE(contains(out, "max abs diff vs expected:")) << out;
      const size_t diff_at = out.rfind("max abs diff");
      std::cout << "[ python ] " << label << "/" << file << ": " << out.substr(0, out.find('\n')) << " | "
                << (diff_at == std::string::npos ? "no difference printed\n" : out.substr(diff_at));
    }
  }
  // The check can fail: another network's output is not this one's.
  for (const char* file : {"model.pt", "model.py"}) {
    const auto [rc, out] = check_export(py, tmp / (std::string("msrresnet/") + file), tmp / "x.f32",
                                        tmp / "imdn_aim19.f32");
    EXPECT_EQ(rc, 1) << file << "\n" << out;
    EXPECT_TRUE(contains(out, "FAILED: output differs from")) << file << "\n" << out;
  }
  // model.py loads its weights strictly: another genome's weights.safetensors is refused.
  fs::copy_file(tmp / "imdn_aim19/weights.safetensors", tmp / "msrresnet/weights.safetensors",
                fs::copy_options::overwrite_existing);
  const auto [rc, out] = check_export(py, tmp / "msrresnet/model.py", tmp / "x.f32", tmp / "msrresnet.f32");
  EXPECT_EQ(rc, 1) << out;
  EXPECT_TRUE(contains(out, "FAILED: RuntimeError: Error(s) in loading state_dict for SRNet")) << out;
  // Run as a script, model.py loads the weights next to it and runs a random input.
  const auto [main_rc, main_out] = run(py + " " + tmp / "imdn_aim19/model.py");
  EXPECT_EQ(main_rc, 0) << main_out;
  EXPECT_TRUE(contains(main_out, "srnas genome " + genome_hash(load_arch("imdn_aim19").genome) +
                                     ": 893936 parameters; (1, 3, 24, 32) -> (1, 3, 96, 128), finite: True"))
      << main_out;
}
