// Builder: built modules agree with accounting for every genome of every space, run,
// and initialise like the reference code.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "search_space/accounting.h"
#include "search_space/builder.h"
#include "search_space/error.h"
#include "search_space/registry.h"
#include "search_space/space.h"

using namespace srnas;

namespace {

// Analytic layer table vs the module's named parameters, layer by layer.
void expect_same_layers(const Genome& g, SRNet& net) {
  Accounting a = account(g, 12, 12);
  std::map<std::string, int64_t> built;
  for (const auto& p : net->named_parameters()) {
    std::string layer = p.key().substr(0, p.key().rfind('.'));
    std::string leaf = p.key().substr(p.key().rfind('.') + 1);
    if (leaf == "res_scale" || leaf == "x_scale") layer = p.key();
    built[layer] += p.value().numel();
  }
  std::map<std::string, int64_t> analytic;
  for (const auto& l : a.layers) analytic[l.name] = l.params;
  EXPECT_EQ(analytic, built) << canonical_json(g);
  EXPECT_EQ(a.params, count_module_params(*net));
}

}  // namespace

TEST(Builder, ReferenceArchsHaveThePublishedParameterCounts) {
  EXPECT_EQ(count_module_params(*SRNet(load_arch("msrresnet").genome)), 1517571);
  EXPECT_EQ(count_module_params(*SRNet(load_arch("imdn_aim19").genome)), 893936);
  EXPECT_EQ(count_module_params(*SRNet(load_arch("krahaon_best").genome)), 1500983);
  for (const auto& name : builtin_names("archs")) {
    Genome g = load_arch(name).genome;
    SRNet net(g);
    expect_same_layers(g, net);
  }
}

// The property test of the foundation issue: 200 seeded genomes of each space.
TEST(Builder, EverySampledGenomeBuildsCountsAndRuns) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(0);
  std::set<BlockType> covered;
  for (const std::string name : {"krahaon", "neptuneai", "unified", "efficient"}) {
    auto space = Space::load(name);
    Rng rng(2024);
    for (int i = 0; i < 200; ++i) {
      Genome g = space->sample(rng);
      for (const auto* st : {&g.lr, g.x2 ? &*g.x2 : &g.lr, &g.x4})
        for (const auto& b : st->blocks) covered.insert(b.type);
      SRNet net(g);
      EXPECT_EQ(count_params(g), count_module_params(*net)) << name << " " << canonical_json(g);
      if (i < 20) expect_same_layers(g, net);
      torch::Tensor y = net->forward(torch::rand({1, 3, 12, 12}));
      ASSERT_EQ(y.sizes(), (std::vector<int64_t>{1, 3, 48, 48})) << canonical_json(g);
      ASSERT_TRUE(torch::isfinite(y).all().item<bool>()) << canonical_json(g);
    }
  }
  EXPECT_EQ(covered.size(), kAllBlockTypes.size()) << "every block type is exercised";
}

// RLFN's and RFDN's attention runs a 3x3 stride-2 conv without padding: under 3x3 LR px it
// cannot, and says so in one line (it was a LibTorch shape error with a backtrace); 3x3 runs.
TEST(Builder, AttentionBlocksNameTheirSmallestInput) {
  torch::NoGradGuard no_grad;
  for (const std::string arch : {"rlfn", "rfdn"}) {
    SRNet net(load_arch(arch).genome);
    try {
      net->forward(torch::rand({1, 3, 2, 5}));
      ADD_FAILURE() << arch << ": expected an Error";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()), "rlfb/rfdb attention (ESA) needs LR inputs of at least 3x3 px, got 2x5") << arch;
    }
    EXPECT_EQ(net->forward(torch::rand({1, 3, 3, 3})).sizes(), (std::vector<int64_t>{1, 3, 12, 12})) << arch;
  }
}

TEST(Builder, BasicSRInitialisation) {
  torch::manual_seed(1);
  SRNet net(load_arch("msrresnet").genome);
  for (const auto& p : net->named_parameters()) {
    if (p.key().find(".bias") != std::string::npos) {
      EXPECT_EQ(p.value().abs().max().item<float>(), 0.f) << p.key();
    } else if (p.key() == "lr.blocks.0.conv1.weight") {
      // kaiming_normal_(fan_in = 64*9, gain sqrt(2)) * 0.1 -> std = 0.1 * sqrt(2/576)
      EXPECT_NEAR(p.value().std().item<float>(), 0.1 * std::sqrt(2.0 / 576), 0.0003);
    }
  }
  // PyTorch default init (IMDN): biases are not zero.
  SRNet imdn(load_arch("imdn_aim19").genome);
  EXPECT_GT(imdn->named_parameters()["head.bias"].abs().max().item<float>(), 0.f);
}

TEST(Builder, SameSeedSameWeights) {
  torch::manual_seed(5);
  SRNet a(load_arch("imdn_aim19").genome);
  torch::manual_seed(5);
  SRNet b(load_arch("imdn_aim19").genome);
  auto pa = a->named_parameters(), pb = b->named_parameters();
  for (const auto& p : pa) EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << p.key();
}

// MSRResNet's forward written out with plain LibTorch ops from BasicSR's code.
TEST(Builder, MSRResNetForwardMatchesTheReferenceGraph) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(3);
  SRNet net(load_arch("msrresnet").genome);
  auto P = net->named_parameters();
  auto conv = [&](const torch::Tensor& x, const std::string& n) {
    return torch::conv2d(x, P[n + ".weight"], P[n + ".bias"], 1, 1);
  };
  torch::Tensor x = torch::rand({1, 3, 10, 14});
  torch::Tensor out = torch::leaky_relu(conv(x, "head"), 0.1);
  for (int i = 0; i < 16; ++i) {
    std::string b = "lr.blocks." + std::to_string(i);
    out = out + conv(torch::relu(conv(out, b + ".conv1")), b + ".conv2");
  }
  out = torch::leaky_relu(torch::pixel_shuffle(conv(out, "up.0"), 2), 0.1);
  out = torch::leaky_relu(torch::pixel_shuffle(conv(out, "up.1"), 2), 0.1);
  out = conv(torch::leaky_relu(conv(out, "hr_conv"), 0.1), "last_conv");
  out = out + torch::upsample_bilinear2d(x, {40, 56}, false);
  EXPECT_LT((net->forward(x) - out).abs().max().item<float>(), 1e-6);
}
