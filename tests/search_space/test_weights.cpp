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
  auto keys = module_state(*msr, load_arch("msrresnet").key_rules);
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
  auto ik = module_state(*imdn, load_arch("imdn_aim19").key_rules);
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
  write_safetensors(tmp("kair.safetensors"), module_state(*a, spec.key_rules));
  SRNet b(spec.genome);
  load_weights(*b, tmp("kair.safetensors"), spec.key_rules);
  EXPECT_TRUE(same_weights(*a, *b));
  // Loading published names without the rules: a clear missing-key error.
  EXPECT_NE(error_of([&] { load_weights(*b, tmp("kair.safetensors")); }).find("missing key 'head.bias'"),
            std::string::npos);
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
