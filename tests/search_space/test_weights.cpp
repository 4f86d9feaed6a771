// Weights I/O: safetensors format, bit-exact round trips, published key names, and
// clear errors for every kind of bad file.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "search_space/builder.h"
#include "search_space/error.h"
#include "search_space/registry.h"
#include "search_space/weights.h"
#include "../support/cli_runner.h"
#include "../support/errors.h"
#include "../support/scratch.h"

using srnas::testing::error_of;

using namespace srnas;
namespace fs = std::filesystem;

namespace {

std::string tmp(const std::string& name) { return srnas::testing::scratch_file(name); }

// Writes a safetensors file by hand: header JSON as given, then `data_bytes` bytes.
void write_raw(const std::string& path, const std::string& header, size_t data_bytes) {
  std::ofstream f(path, std::ios::binary);
  uint64_t n = header.size();
  f.write(reinterpret_cast<const char*>(&n), 8);
  f << header;
  std::string zeros(data_bytes, '\0');
  f << zeros;
}

bool same_weights(torch::nn::Module& a, torch::nn::Module& b) {
  auto pb = b.named_parameters();
  for (const auto& p : a.named_parameters())
    if (!torch::equal(p.value(), pb[p.key()])) return false;
  return true;
}

}  // namespace

TEST(Weights, RoundTripIsBitExact) {
  for (const std::string name : {"msrresnet", "imdn_aim19"}) {
    torch::manual_seed(1);
    SRNet a(load_arch(name).genome);
    torch::manual_seed(2);
    SRNet b(load_arch(name).genome);
    ASSERT_FALSE(same_weights(*a, *b));
    save_weights(*a, tmp(name + ".safetensors"), {}, {{"arch", name}});
    load_weights(*b, tmp(name + ".safetensors"));
    EXPECT_TRUE(same_weights(*a, *b)) << name;
    std::map<std::string, std::string> meta;
    read_safetensors(tmp(name + ".safetensors"), &meta);
    EXPECT_EQ(meta["arch"], name);
  }
}

TEST(Weights, FileLayoutFollowsTheSafetensorsSpec) {
  TensorMap m;
  m["b"] = torch::tensor({1.5f, -2.0f});
  m["a"] = torch::arange(6, torch::kFloat32).reshape({2, 3});
  write_safetensors(tmp("layout.safetensors"), m);
  std::ifstream f(tmp("layout.safetensors"), std::ios::binary);
  uint64_t n;
  f.read(reinterpret_cast<char*>(&n), 8);
  EXPECT_EQ((8 + n) % 8, 0u);
  std::string header(n, '\0');
  f.read(header.data(), n);
  auto h = nlohmann::json::parse(header);
  EXPECT_EQ(h["a"]["dtype"], "F32");
  EXPECT_EQ(h["a"]["shape"], nlohmann::json({2, 3}));
  EXPECT_EQ(h["a"]["data_offsets"], nlohmann::json({0, 24}));
  EXPECT_EQ(h["b"]["data_offsets"], nlohmann::json({24, 32}));
  float data[8];
  f.read(reinterpret_cast<char*>(data), 32);
  EXPECT_EQ(data[5], 5.0f);
  EXPECT_EQ(data[6], 1.5f);
  EXPECT_EQ(data[7], -2.0f);
  EXPECT_EQ(fs::file_size(tmp("layout.safetensors")), 8 + n + 32);
}

TEST(Weights, PublishedKeyNames) {
  SRNet msr(load_arch("msrresnet").genome);
  auto keys = module_state(*msr, load_arch("msrresnet").published.at(0).rules);
  std::set<std::string> expect;
  for (std::string n : {"conv_first", "upconv1", "upconv2", "conv_hr", "conv_last"}) {
    expect.insert(n + ".weight");
    expect.insert(n + ".bias");
  }
  for (int i = 0; i < 16; ++i)
    for (std::string c : {"conv1", "conv2"})
      for (std::string s : {"weight", "bias"}) expect.insert("body." + std::to_string(i) + "." + c + "." + s);
  std::set<std::string> got;
  for (const auto& [k, v] : keys) got.insert(k);
  EXPECT_EQ(got, expect);

  SRNet imdn(load_arch("imdn_aim19").genome);
  auto ik = module_state(*imdn, load_arch("imdn_aim19").published.at(0).rules);
  for (std::string k : {"model.0.weight", "model.1.sub.0.conv1.0.weight", "model.1.sub.7.conv3.0.bias",
                        "model.1.sub.3.conv4.weight", "model.1.sub.5.conv1x1.bias", "model.1.sub.8.weight",
                        "model.2.weight", "model.2.bias"})
    EXPECT_TRUE(ik.count(k)) << k;
  EXPECT_EQ(ik.size(), 2u + 8 * 10 + 2 + 2);
  EXPECT_EQ(ik["model.2.weight"].sizes(), (std::vector<int64_t>{48, 64, 3, 3}));
}

TEST(Weights, LoadsUnderPublishedNames) {
  auto spec = load_arch("imdn_aim19");
  torch::manual_seed(4);
  SRNet a(spec.genome);
  write_safetensors(tmp("kair.safetensors"), module_state(*a, spec.published.at(0).rules));
  SRNet b(spec.genome);
  load_weights(*b, tmp("kair.safetensors"), spec.published.at(0).rules);
  EXPECT_TRUE(same_weights(*a, *b));
  // Loading published names without the rules: a clear missing-key error.
  EXPECT_NE(error_of([&] { load_weights(*b, tmp("kair.safetensors")); }).find("missing key 'head.bias'"),
            std::string::npos);
}

// MSRResNet's checkpoints come from three codebases that name its layers differently; a
// file under any of them, or under srnas's names, loads and says which naming it used.
TEST(Weights, EveryPublishedNamingOfMSRResNetLoads) {
  const ArchSpec spec = load_arch("msrresnet");
  ASSERT_EQ(spec.published.size(), 3u);
  torch::manual_seed(7);
  SRNet a(spec.genome);
  const std::vector<std::pair<std::string, std::vector<std::string>>> expect = {
      {"BasicSR", {"conv_first.weight", "body.15.conv2.bias", "upconv2.weight", "conv_hr.bias", "conv_last.weight"}},
      {"mmsr", {"conv_first.weight", "recon_trunk.15.conv2.bias", "upconv2.weight", "HRconv.bias", "conv_last.weight"}},
      {"MMEditing", {"conv_first.weight", "trunk_net.15.conv2.bias", "upsample2.upsample_conv.weight", "conv_hr.bias",
                     "conv_last.weight"}}};
  for (size_t i = 0; i < spec.published.size(); ++i) {
    SCOPED_TRACE(spec.published[i].source);
    EXPECT_EQ(spec.published[i].source.rfind(expect[i].first, 0), 0u);
    const TensorMap keys = module_state(*a, spec.published[i].rules);
    EXPECT_EQ(keys.size(), 74u);  // 16 blocks x 2 convs + 5 convs, weight and bias each
    for (const std::string& k : expect[i].second) EXPECT_TRUE(keys.count(k)) << k;
    const std::string file = tmp("naming" + std::to_string(i) + ".safetensors");
    write_safetensors(file, keys);
    SRNet b(spec.genome);
    EXPECT_EQ(load_weights_auto(*b, file, spec.published), spec.published[i].source);
    EXPECT_TRUE(same_weights(*a, *b));
  }
  save_weights(*a, tmp("own.safetensors"));
  SRNet c(spec.genome);
  EXPECT_EQ(load_weights_auto(*c, tmp("own.safetensors"), spec.published), "srnas");
  EXPECT_TRUE(same_weights(*a, *c));
}

// A checkpoint that no naming covers names the closest one and what it lacks; the model is
// left untouched. Keys beyond the model's are refused as load_weights refuses them.
TEST(Weights, AFileNoNamingCoversNamesTheClosestAndItsMissingKeys) {
  const ArchSpec spec = load_arch("msrresnet");
  torch::manual_seed(8);
  SRNet a(spec.genome);
  TensorMap mmsr = module_state(*a, spec.published.at(1).rules);
  mmsr.erase("recon_trunk.15.conv2.bias");
  write_safetensors(tmp("one_short.safetensors"), mmsr);
  torch::manual_seed(9);
  SRNet b(spec.genome);
  std::map<std::string, torch::Tensor> before;
  for (const auto& [k, v] : module_state(*b)) before[k] = v.clone();
  const std::string e1 = error_of([&] { load_weights_auto(*b, tmp("one_short.safetensors"), spec.published); });
  EXPECT_NE(e1.find("one_short.safetensors: no naming of this arch matches its keys; closest: mmsr "), std::string::npos) << e1;
  EXPECT_NE(e1.find("missing key 'recon_trunk.15.conv2.bias' (shape [64])"), std::string::npos) << e1;
  EXPECT_EQ(e1.find("more"), std::string::npos) << e1;
  for (const std::string k : {"recon_trunk.0.conv1.weight", "recon_trunk.0.conv1.bias", "HRconv.weight"}) mmsr.erase(k);
  write_safetensors(tmp("four_short.safetensors"), mmsr);
  const std::string e4 = error_of([&] { load_weights_auto(*b, tmp("four_short.safetensors"), spec.published); });
  EXPECT_NE(e4.find("closest: mmsr"), std::string::npos) << e4;
  EXPECT_NE(e4.find("missing key 'HRconv.weight' (shape [64, 64, 3, 3]) and 3 more"), std::string::npos) << e4;
  // Another arch's checkpoint (IMDN's blocks share some names): the closest naming lacks half the keys.
  SRNet imdn(load_arch("imdn_aim19").genome);
  save_weights(*imdn, tmp("imdn.safetensors"));
  const std::string e5 = error_of([&] { load_weights_auto(*b, tmp("imdn.safetensors"), spec.published); });
  EXPECT_NE(e5.find("closest: srnas's own names, missing key 'hr_conv.bias' (shape [64]) and 37 more"), std::string::npos) << e5;
  // Every key present, plus one the model does not have.
  TensorMap extra = module_state(*a, spec.published.at(0).rules);
  extra["body.16.conv1.weight"] = torch::zeros({64, 64, 3, 3});
  write_safetensors(tmp("extra.safetensors"), extra);
  const std::string e6 = error_of([&] { load_weights_auto(*b, tmp("extra.safetensors"), spec.published); });
  EXPECT_NE(e6.find("unexpected key 'body.16.conv1.weight'"), std::string::npos) << e6;
  for (const auto& [k, v] : module_state(*b)) EXPECT_TRUE(torch::equal(v, before.at(k))) << k;
}

// Published checkpoints are pickled .pth files: scripts/pth_to_safetensors.py converts them
// in stock PyTorch-Python and srnas then computes what that PyTorch computes. The network on
// the Python side is scripts/bench_train.py's MSRResNet, written from BasicSR, not srnas's
// export; its state dict is saved three ways: BasicSR's {'params', 'params_ema'} (zip),
// mmsr's names in the legacy pre-1.6 format (AIM 2019's MSRResNetx4.pth is that old), and a
// DataParallel 'module.' prefix under 'state_dict'. IMDN-AIM19, RLFN's NTIRE 2022 entry and
// RFDN likewise, against KAIR's network_imdn.py, RLFN's and RFDN's block.py graphs written
// out in the script.
TEST(Weights, PthCheckpointsConvertAndComputeWhatPyTorchComputes) {
  const char* env_py = std::getenv("SRNAS_PYTHON");
  const std::string py = env_py && *env_py ? env_py : "/usr/bin/python3";
  if (srnas::testing::run_command(py + " -c 'import torch'").status != 0)
    GTEST_SKIP() << py << " has no torch (apt-get install python3-torch; scripts/setup.sh does)";
  const fs::path d = fs::path(tmp("pth"));
  fs::create_directories(d);
  const std::string make = R"PY(
import collections, sys, torch
d = sys.argv[1]
sys.path.insert(0, sys.argv[2] + "/scripts")
from bench_train import MSRResNet
torch.manual_seed(3)
net = MSRResNet()
with torch.no_grad():
    for p in net.parameters():
        p.copy_(torch.randn_like(p) * 0.03)
net.eval()
x = torch.rand(1, 3, 12, 16)
with torch.no_grad():
    y = net(x)
open(d + "/x.f32", "wb").write(x.numpy().tobytes())
open(d + "/y.f32", "wb").write(y.numpy().tobytes())
sd = net.state_dict()
torch.save({"params": {k: torch.zeros_like(v) for k, v in sd.items()}, "params_ema": sd, "iter": 5}, d + "/basicsr.pth")
mmsr = collections.OrderedDict((k.replace("body.", "recon_trunk.").replace("conv_hr.", "HRconv."), v) for k, v in sd.items())
torch.save(mmsr, d + "/mmsr.pth", _use_new_zipfile_serialization=False)
torch.save({"state_dict": {"module." + k: v for k, v in sd.items()}}, d + "/dp.pth")
torch.save({"epoch": 3}, d + "/no_weights.pth")

# KAIR models/network_imdn.py IMDN (nc=64, nb=8, act 'L' 0.05, pixelshuffle x4), as its
# basicblock.py builds it: conv1..3 are Sequential(conv, LeakyReLU) ('.0.' in their keys),
# conv4 and conv1x1 bare convs; d_nc = 16 distilled, r_nc = 48 refined channels.
import torch.nn as nn
class IMDBlock(nn.Module):
    def __init__(self, nc=64):
        super().__init__()
        self.d, self.r = nc // 4, nc - nc // 4
        cl = lambda i, o: nn.Sequential(nn.Conv2d(i, o, 3, 1, 1), nn.LeakyReLU(0.05, True))
        self.conv1, self.conv2, self.conv3 = cl(nc, nc), cl(self.r, nc), cl(self.r, nc)
        self.conv4 = nn.Conv2d(self.r, self.d, 3, 1, 1)
        self.conv1x1 = nn.Conv2d(self.d * 4, nc, 1, 1, 0)
    def forward(self, x):
        d1, r1 = torch.split(self.conv1(x), (self.d, self.r), dim=1)
        d2, r2 = torch.split(self.conv2(r1), (self.d, self.r), dim=1)
        d3, r3 = torch.split(self.conv3(r2), (self.d, self.r), dim=1)
        return x + self.conv1x1(torch.cat((d1, d2, d3, self.conv4(r3)), dim=1))
class Shortcut(nn.Module):
    def __init__(self, sub):
        super().__init__()
        self.sub = sub
    def forward(self, x):
        return x + self.sub(x)
class IMDN(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1),
                                   Shortcut(nn.Sequential(*[IMDBlock() for _ in range(8)], nn.Conv2d(64, 64, 3, 1, 1))),
                                   nn.Conv2d(64, 48, 3, 1, 1), nn.PixelShuffle(4))
    def forward(self, x):
        return self.model(x)
imdn = IMDN()
assert sum(p.numel() for p in imdn.parameters()) == 893936
with torch.no_grad():
    for p in imdn.parameters():
        p.copy_(torch.randn_like(p) * 0.03)
    yi = imdn(x)
open(d + "/y_imdn.f32", "wb").write(yi.numpy().tobytes())
torch.save(imdn.state_dict(), d + "/imdn_x4.pth")

# bytedance/RLFN model/block.py (ESA, RLFB) and rlfn_ntire.py (RLFN_Prune: 46 channels, 48
# between the 3x3 convs, 4 blocks), its official max pool of kernel 7 (so an input of 17x20).
import torch.nn.functional as F
conv = lambda i, o, k, **kw: nn.Conv2d(i, o, k, padding=kw.pop("padding", (k - 1) // 2), **kw)
class ESA(nn.Module):
    def __init__(self, f, n):
        super().__init__()
        self.conv1, self.conv_f = conv(n, f, 1), conv(f, f, 1)
        self.conv2, self.conv3 = conv(f, f, 3, stride=2, padding=0), conv(f, f, 3)
        self.conv4 = conv(f, n, 1)
    def forward(self, x):
        c1_ = self.conv1(x)
        c1 = self.conv2(c1_)
        c3 = self.conv3(F.max_pool2d(c1, kernel_size=7, stride=3))
        c3 = F.interpolate(c3, (x.size(2), x.size(3)), mode="bilinear", align_corners=False)
        return x * torch.sigmoid(self.conv4(c3 + self.conv_f(c1_)))
class RLFB(nn.Module):
    def __init__(self, c, m):
        super().__init__()
        self.c1_r, self.c2_r, self.c3_r, self.c5 = conv(c, m, 3), conv(m, m, 3), conv(m, c, 3), conv(c, c, 1)
        self.esa = ESA(16, c)
    def forward(self, x):
        out = F.leaky_relu(self.c1_r(x), 0.05)
        out = F.leaky_relu(self.c2_r(out), 0.05)
        out = F.leaky_relu(self.c3_r(out), 0.05)
        return self.esa(self.c5(out + x))
class RLFN_Prune(nn.Module):
    def __init__(self, c=46, m=48):
        super().__init__()
        self.conv_1 = conv(3, c, 3)
        self.block_1, self.block_2, self.block_3, self.block_4 = (RLFB(c, m) for _ in range(4))
        self.conv_2 = conv(c, c, 3)
        self.upsampler = nn.Sequential(conv(c, 48, 3), nn.PixelShuffle(4))
    def forward(self, x):
        f = self.conv_1(x)
        out = self.block_4(self.block_3(self.block_2(self.block_1(f))))
        return self.upsampler(self.conv_2(out) + f)
rlfn = RLFN_Prune()
assert sum(p.numel() for p in rlfn.parameters()) == 317218
x2 = torch.rand(1, 3, 17, 20)
with torch.no_grad():
    for p in rlfn.parameters():
        p.copy_(torch.randn_like(p) * 0.05)
    yr = rlfn(x2)
open(d + "/x_rlfn.f32", "wb").write(x2.numpy().tobytes())
open(d + "/y_rlfn.f32", "wb").write(yr.numpy().tobytes())
torch.save(rlfn.state_dict(), d + "/rlfn_ntire.pth")

# njulj/RFDN block.py (ESA with conv_max and conv3_, RFDB) and RFDN.py (nf=50, 4 modules,
# c = conv_block 1x1 + LeakyReLU(0.05) over the concatenated block outputs, LR_conv).
class ESA_RFDN(nn.Module):
    def __init__(self, n, f):
        super().__init__()
        self.conv1, self.conv_f, self.conv_max = conv(n, f, 1), conv(f, f, 1), conv(f, f, 3)
        self.conv2, self.conv3, self.conv3_ = conv(f, f, 3, stride=2, padding=0), conv(f, f, 3), conv(f, f, 3)
        self.conv4 = conv(f, n, 1)
    def forward(self, x):
        c1_ = self.conv1(x)
        c1 = self.conv2(c1_)
        v_range = F.relu(self.conv_max(F.max_pool2d(c1, kernel_size=7, stride=3)))
        c3 = self.conv3_(F.relu(self.conv3(v_range)))
        c3 = F.interpolate(c3, (x.size(2), x.size(3)), mode="bilinear", align_corners=False)
        return x * torch.sigmoid(self.conv4(c3 + self.conv_f(c1_)))
class RFDB(nn.Module):
    def __init__(self, c):
        super().__init__()
        dc = c // 2
        self.c1_d, self.c1_r = conv(c, dc, 1), conv(c, c, 3)
        self.c2_d, self.c2_r = conv(c, dc, 1), conv(c, c, 3)
        self.c3_d, self.c3_r = conv(c, dc, 1), conv(c, c, 3)
        self.c4, self.c5 = conv(c, dc, 3), conv(dc * 4, c, 1)
        self.esa = ESA_RFDN(c, c // 4)
    def forward(self, x):
        act = lambda t: F.leaky_relu(t, 0.05)
        d1, r1 = act(self.c1_d(x)), act(self.c1_r(x) + x)
        d2, r2 = act(self.c2_d(r1)), act(self.c2_r(r1) + r1)
        d3, r3 = act(self.c3_d(r2)), act(self.c3_r(r2) + r2)
        r4 = act(self.c4(r3))
        return self.esa(self.c5(torch.cat([d1, d2, d3, r4], dim=1)))
class RFDN(nn.Module):
    def __init__(self, nf=50):
        super().__init__()
        self.fea_conv = conv(3, nf, 3)
        self.B1, self.B2, self.B3, self.B4 = (RFDB(nf) for _ in range(4))
        self.c = nn.Sequential(conv(nf * 4, nf, 1), nn.LeakyReLU(0.05))
        self.LR_conv = conv(nf, nf, 3)
        self.upsampler = nn.Sequential(conv(nf, 48, 3), nn.PixelShuffle(4))
    def forward(self, x):
        f = self.fea_conv(x)
        b1 = self.B1(f); b2 = self.B2(b1); b3 = self.B3(b2); b4 = self.B4(b3)
        return self.upsampler(self.LR_conv(self.c(torch.cat([b1, b2, b3, b4], dim=1))) + f)
rfdn = RFDN()
assert sum(p.numel() for p in rfdn.parameters()) == 433448
with torch.no_grad():
    for p in rfdn.parameters():
        p.copy_(torch.randn_like(p) * 0.05)
    open(d + "/y_rfdn.f32", "wb").write(rfdn(x2).numpy().tobytes())
torch.save(rfdn.state_dict(), d + "/rfdn.pth")

# Zheng-Hui/IMDN model/block.py (IMDModule with CCALayer) and architecture.py (IMDN: 6
# modules, c = conv_block 1x1 + LeakyReLU(0.05), LR_conv, pixelshuffle_block).
def mean_channels(t):
    return t.sum(3, keepdim=True).sum(2, keepdim=True) / (t.size(2) * t.size(3))
def stdv_channels(t):
    return ((t - mean_channels(t)).pow(2).sum(3, keepdim=True).sum(2, keepdim=True) / (t.size(2) * t.size(3))).pow(0.5)
class CCALayer(nn.Module):
    def __init__(self, c, reduction=16):
        super().__init__()
        self.conv_du = nn.Sequential(nn.Conv2d(c, c // reduction, 1), nn.ReLU(inplace=True),
                                     nn.Conv2d(c // reduction, c, 1), nn.Sigmoid())
    def forward(self, x):
        return x * self.conv_du(stdv_channels(x) + F.adaptive_avg_pool2d(x, 1))
class IMDModule(nn.Module):
    def __init__(self, c=64):
        super().__init__()
        self.d, self.r = c // 4, c - c // 4
        self.c1, self.c2, self.c3 = conv(c, c, 3), conv(self.r, c, 3), conv(self.r, c, 3)
        self.c4, self.c5 = conv(self.r, self.d, 3), conv(self.d * 4, c, 1)
        self.cca = CCALayer(self.d * 4)
    def forward(self, x):
        act = lambda t: F.leaky_relu(t, 0.05)
        d1, r1 = torch.split(act(self.c1(x)), (self.d, self.r), dim=1)
        d2, r2 = torch.split(act(self.c2(r1)), (self.d, self.r), dim=1)
        d3, r3 = torch.split(act(self.c3(r2)), (self.d, self.r), dim=1)
        return self.c5(self.cca(torch.cat([d1, d2, d3, self.c4(r3)], dim=1))) + x
class IMDNJournal(nn.Module):
    def __init__(self, nf=64):
        super().__init__()
        self.fea_conv = conv(3, nf, 3)
        for i in range(1, 7):
            setattr(self, f"IMDB{i}", IMDModule(nf))
        self.c = nn.Sequential(conv(nf * 6, nf, 1), nn.LeakyReLU(0.05))
        self.LR_conv = conv(nf, nf, 3)
        self.upsampler = nn.Sequential(conv(nf, 48, 3), nn.PixelShuffle(4))
    def forward(self, x):
        f = self.fea_conv(x)
        outs, o = [], f
        for i in range(1, 7):
            o = getattr(self, f"IMDB{i}")(o)
            outs.append(o)
        return self.upsampler(self.LR_conv(self.c(torch.cat(outs, dim=1))) + f)
imdn_j = IMDNJournal()
assert sum(p.numel() for p in imdn_j.parameters()) == 715176
with torch.no_grad():
    for p in imdn_j.parameters():
        p.copy_(torch.randn_like(p) * 0.03)
    open(d + "/y_imdn_journal.f32", "wb").write(imdn_j(x).numpy().tobytes())
torch.save(imdn_j.state_dict(), d + "/imdn_journal.pth")
)PY";
  {
    std::ofstream f(d / "make.py");
    f << make;
  }
  const auto made = srnas::testing::run_command(py + " " + (d / "make.py").string() + " " + d.string() + " " SRNAS_SOURCE_DIR);
  ASSERT_EQ(made.status, 0) << made.out << made.err;
  auto read_f32 = [](const fs::path& p, std::vector<int64_t> shape) {
    std::ifstream f(p, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(f)), {});
    torch::Tensor t = torch::empty(shape);
    EXPECT_EQ(bytes.size(), size_t(t.numel()) * 4) << p;
    std::memcpy(t.data_ptr<float>(), bytes.data(), std::min(bytes.size(), size_t(t.numel()) * 4));
    return t;
  };
  const torch::Tensor x = read_f32(d / "x.f32", {1, 3, 12, 16}), y = read_f32(d / "y.f32", {1, 3, 48, 64});
  const ArchSpec spec = load_arch("msrresnet");
  auto convert = [&](const std::string& name, const std::string& out, const std::string& extra = "") {
    return srnas::testing::run_command(py + " " SRNAS_SOURCE_DIR "/scripts/pth_to_safetensors.py " + (d / name).string() +
                                       " " + (d / out).string() + extra);
  };
  auto output_of = [&](const std::string& file, std::string* naming) {
    SRNet net(spec.genome);
    *naming = load_weights_auto(*net, file, spec.published);
    net->eval();
    torch::NoGradGuard no_grad;
    return net->forward(x);
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"basicsr.pth", "BasicSR"}, {"mmsr.pth", "mmsr"}, {"dp.pth", "BasicSR"}};
  for (const auto& [pth, naming_prefix] : cases) {
    SCOPED_TRACE(pth);
    const auto r = convert(pth, pth + ".safetensors");
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("74 tensors, 1,517,571 values"), std::string::npos) << r.out;
    std::string naming;
    const torch::Tensor got = output_of((d / (pth + ".safetensors")).string(), &naming);
    EXPECT_EQ(naming.rfind(naming_prefix, 0), 0u) << naming;
    const double diff = (got - y).abs().max().item<double>();
    std::cout << "[ python ] " << pth << " -> " << naming << ": max abs diff " << diff << "\n";
    EXPECT_LT(diff, 1e-4);
  }
  // The other reference archs under their authors' names, against the graphs in the script:
  // convert, load (the naming found must be theirs), forward, compare.
  auto expect_matches = [&](const std::string& pth, const std::string& arch, const std::string& naming_prefix,
                            const torch::Tensor& in, const std::string& expected) {
    SCOPED_TRACE(pth);
    const auto r = convert(pth, pth + ".safetensors");
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    const ArchSpec spec_of = load_arch(arch);
    SRNet net(spec_of.genome);
    const std::string naming = load_weights_auto(*net, (d / (pth + ".safetensors")).string(), spec_of.published);
    EXPECT_EQ(naming.rfind(naming_prefix, 0), 0u) << naming;
    net->eval();
    torch::NoGradGuard no_grad;
    const torch::Tensor want = read_f32(d / expected, {1, 3, 4 * in.size(2), 4 * in.size(3)});
    ASSERT_GT(want.abs().max().item<double>(), 0.05) << "a trivial output would hide a wrong graph";
    const double diff = (net->forward(in) - want).abs().max().item<double>();
    std::cout << "[ python ] " << pth << " -> " << naming_prefix << " names: max abs diff " << diff << "\n";
    EXPECT_LT(diff, 1e-4);
  };
  const torch::Tensor x17 = read_f32(d / "x_rlfn.f32", {1, 3, 17, 20});  // ESA's 7x7 pool needs >= 15 px
  expect_matches("imdn_x4.pth", "imdn_aim19", "KAIR", x, "y_imdn.f32");
  expect_matches("rlfn_ntire.pth", "rlfn_ntire22", "RLFN", x17, "y_rlfn.f32");
  expect_matches("rfdn.pth", "rfdn", "RFDN", x17, "y_rfdn.f32");  // lr.fuse is RFDN's 'c'
  expect_matches("imdn_journal.pth", "imdn", "IMDN", x, "y_imdn_journal.f32");
  EXPECT_NE(convert("basicsr.pth", "ema.safetensors").out.find("[params_ema]"), std::string::npos);
  // The check can fail: BasicSR's 'params' entry (zeros here) is another network.
  const auto zeros = convert("basicsr.pth", "params.safetensors", " --key params");
  ASSERT_EQ(zeros.status, 0) << zeros.err;
  std::string naming;
  EXPECT_GT((output_of((d / "params.safetensors").string(), &naming) - y).abs().max().item<double>(), 1e-2);
  const auto bad = convert("no_weights.pth", "none.safetensors");
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("no_weights.pth: no state dict at the top level"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("(it has: epoch)"), std::string::npos) << bad.err;
}

// Arch files: published_keys is one naming or an array of them; mistakes name their place.
TEST(Weights, PublishedKeysInArchFiles) {
  const std::string genome = "\"genome\": " + to_json(load_arch("msrresnet").genome).dump();
  auto parse = [&](const std::string& pk) { return parse_arch("{" + pk + genome + "}", "a.json", "a"); };
  const ArchSpec one = parse(R"("published_keys": {"source": "X", "rules": [["^head\\.", "first."]]},)");
  ASSERT_EQ(one.published.size(), 1u);
  EXPECT_EQ(one.published[0].source, "X");
  EXPECT_EQ(published_key("head.weight", one.published[0].rules), "first.weight");
  const ArchSpec two = parse(R"("published_keys": [{"source": "X", "rules": []}, {"source": "Y", "rules": []}],)");
  ASSERT_EQ(two.published.size(), 2u);
  EXPECT_EQ(two.published[1].source, "Y");
  EXPECT_TRUE(parse("").published.empty());
  auto err = [&](const std::string& pk) { return error_of([&] { parse(pk); }); };
  EXPECT_NE(err(R"("published_keys": [],)").find("a.json: published_keys: expected a naming or a non-empty array"),
            std::string::npos);
  EXPECT_NE(err(R"("published_keys": [{"source": "X", "rules": []}, 3],)").find("published_keys[1]: expected an object"),
            std::string::npos);
  EXPECT_NE(err(R"("published_keys": [{"source": "X", "rules": [["(", "y"]]}],)").find("published_keys[0].rules[0]: bad regex"),
            std::string::npos);
  EXPECT_NE(err(R"("published_keys": {"source": "", "rules": []},)").find("published_keys.source: expected a non-empty string"),
            std::string::npos);
  EXPECT_NE(err(R"("published_keys": {"source": "X", "rules": [], "rule": 1},)").find("rule"), std::string::npos);
}

TEST(Weights, BadFilesAreClearErrorsAndLeaveTheModelUntouched) {
  torch::manual_seed(1);
  Genome g = load_arch("imdn_aim19").genome;
  SRNet net(g);
  auto before = module_state(*net);
  std::map<std::string, torch::Tensor> snapshot;
  for (auto& [k, v] : before) snapshot[k] = v.clone();

  std::string p = tmp("bad.safetensors");
  // wrong dtype
  write_raw(p, R"({"x":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", 4);
  EXPECT_NE(error_of([&] { read_safetensors(p); }).find("tensor 'x': dtype F16 is not supported (expected F32)"),
            std::string::npos);
  // header says more bytes than the shape needs
  write_raw(p, R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,12]}})", 12);
  EXPECT_NE(error_of([&] { read_safetensors(p); }).find("shape [2] needs 8 bytes but data_offsets span 12"),
            std::string::npos);
  // truncated data
  write_raw(p, R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 10);
  EXPECT_NE(error_of([&] { read_safetensors(p); }).find("truncated"), std::string::npos);
  // header length beyond the file
  {
    std::ofstream f(p, std::ios::binary);
    uint64_t n = 1000;
    f.write(reinterpret_cast<const char*>(&n), 8);
    f << "{}";
  }
  EXPECT_NE(error_of([&] { read_safetensors(p); }).find("header length 1000 exceeds the file"), std::string::npos);
  // shorter than 8 bytes
  { std::ofstream(p, std::ios::binary) << "abc"; }
  EXPECT_NE(error_of([&] { read_safetensors(p); }).find("truncated safetensors file"), std::string::npos);
  // overlapping tensors
  write_raw(p, R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12);
  EXPECT_NE(error_of([&] { read_safetensors(p); }).find("overlap"), std::string::npos);
  // not JSON
  write_raw(p, "{nope", 0);
  EXPECT_NE(error_of([&] { read_safetensors(p); }).find("malformed safetensors header"), std::string::npos);
  // missing file
  EXPECT_NE(error_of([&] { read_safetensors(tmp("nonexistent")); }).find("cannot open"), std::string::npos);

  // wrong shape / missing key / extra key for this model
  auto wrong = module_state(*net);
  wrong["up.0.weight"] = torch::zeros({48, 64, 1, 1});
  write_safetensors(p, wrong);
  EXPECT_NE(error_of([&] { load_weights(*net, p); })
                .find("key 'up.0.weight' has shape [48, 64, 1, 1], the model expects [48, 64, 3, 3]"),
            std::string::npos);
  auto missing = module_state(*net);
  missing.erase("lr.trunk.bias");
  write_safetensors(p, missing);
  EXPECT_NE(error_of([&] { load_weights(*net, p); }).find("missing key 'lr.trunk.bias'"), std::string::npos);
  auto extra = module_state(*net);
  extra["zzz.weight"] = torch::zeros({1});
  write_safetensors(p, extra);
  EXPECT_NE(error_of([&] { load_weights(*net, p); }).find("unexpected key 'zzz.weight'"), std::string::npos);

  for (auto& [k, v] : module_state(*net)) EXPECT_TRUE(torch::equal(v, snapshot[k])) << k;
}
