// upscale() (trainer/upscale.h): tiles with receptive_radius of context equal one whole-image
// pass, for seeded networks of every bounded block type, both upsamplers, odd sizes and tiles.
#include <gtest/gtest.h>

#include "search_space/accounting.h"
#include "search_space/builder.h"
#include "search_space/error.h"
#include "search_space/registry.h"
#include "trainer/upscale.h"

using namespace srnas;

namespace {

// A seeded network whose biases are perturbed too, so every layer moves the output.
SRNet seeded(const Genome& g, uint64_t seed) {
  torch::manual_seed(seed);
  SRNet net(g);
  torch::NoGradGuard ng;
  for (auto& p : net->parameters()) p.add_(torch::randn_like(p) * 0.05);
  net->eval();
  return net;
}

}  // namespace

TEST(Upscale, TilesWithTheReceptiveRadiusEqualOnePass) {
  const std::vector<std::string> genomes = {
      // Progressive, blocks at every resolution, dilation, a trunk, bicubic skip.
      R"({"head":{"act":{"type":"relu"}},"lr":{"width":8,"blocks":[{"type":"res_relu"},)"
      R"({"type":"dilated","dilation":2},{"type":"imd","slope":0.1}],"long_skip":true},)"
      R"("upsampler":{"type":"progressive","act":{"type":"lrelu","slope":0.2}},)"
      R"("x2":{"width":4,"blocks":[{"type":"ir","expand":2}]},"x4":{"width":4,"blocks":[{"type":"dwsep","kernel":5}]},)"
      R"("tail":{"hr_conv":true,"act":{"type":"relu"},"last_conv":true},"global_skip":"bicubic","init":{"type":"pytorch"}})",
      // PixelShuffle(4) straight to RGB, bilinear skip, AWRU.
      R"({"head":{"act":{"type":"none"}},"lr":{"width":8,"blocks":[{"type":"awru","expand":2}]},)"
      R"("upsampler":{"type":"pixelshuffle4","act":{"type":"none"}},"x4":{"width":3},)"
      R"("tail":{"hr_conv":false,"last_conv":false},"global_skip":"bilinear","init":{"type":"pytorch"}})",
  };
  torch::manual_seed(3);
  const torch::Tensor lr = torch::rand({1, 3, 23, 31});
  uint64_t seed = 10;
  for (const std::string& text : genomes) {
    const Genome g = genome_from_string(text);
    const int r = receptive_radius(g);
    ASSERT_GT(r, 0);
    const SRFunction f = model_function(seeded(g, seed++));
    const torch::Tensor whole = f(lr);
    for (int tile : {4, 7, 16}) {
      const torch::Tensor tiled = upscale(f, lr, tile, r);
      ASSERT_EQ(tiled.sizes(), whole.sizes());
      EXPECT_LT((tiled - whole).abs().max().item<double>(), 1e-5) << "tile " << tile << " context " << r;
    }
    // The context is needed: without it the tiles' borders differ.
    EXPECT_GT((upscale(f, lr, 7, 0) - whole).abs().max().item<double>(), 1e-3);
    // tile 0, or a tile covering the image: one pass.
    EXPECT_TRUE(torch::equal(upscale(f, lr, 0, r), whole));
    EXPECT_TRUE(torch::equal(upscale(f, lr, 64, r), whole));
  }
  // The context a network needs: its radius, or the fallback where SE makes it unbounded.
  const Genome msr = load_arch("msrresnet").genome;
  EXPECT_EQ(tile_context(msr, 32), 35);
  const Genome se = genome_from_string(
      R"({"head":{"act":{"type":"none"}},"lr":{"width":8,"blocks":[{"type":"se","reduction":4}]},)"
      R"("upsampler":{"type":"pixelshuffle4","act":{"type":"none"}},"x4":{"width":4},"tail":{"hr_conv":false},)"
      R"("global_skip":"none","init":{"type":"pytorch"}})");
  EXPECT_EQ(tile_context(se, 32), 32) << "unbounded: the fallback";
}

TEST(Upscale, BadInput) {
  const SRFunction f = [](const torch::Tensor& x) { return x.repeat_interleave(4, 2).repeat_interleave(4, 3); };
  EXPECT_THROW(upscale(f, torch::rand({3, 8, 8}), 4, 1), Error);
  EXPECT_THROW(upscale(f, torch::rand({2, 3, 8, 8}), 4, 1), Error);
  EXPECT_THROW(upscale(f, torch::rand({1, 3, 8, 8}), 4, -1), Error);
  // Nearest-neighbour x4 has radius 0: tiles without context equal one pass exactly.
  const torch::Tensor x = torch::rand({1, 3, 9, 13});
  EXPECT_TRUE(torch::equal(upscale(f, x, 4, 0), f(x)));
}

// self_ensemble() averages f over the 8 symmetries of the square (the dihedral group),
// enumerated here independently as rot90^r and rot90^r after a flip; a non-square image
// catches a transpose put back the wrong way. A seeded network is not equivariant, so the
// ensemble differs from one pass; MATLAB bicubic is (on a smooth image), so its ensemble is
// bicubic itself.
TEST(Upscale, SelfEnsembleAveragesTheEightSymmetries) {
  const Genome g = genome_from_string(
      R"({"head":{"act":{"type":"relu"}},"lr":{"width":8,"blocks":[{"type":"res_relu"}]},)"
      R"("upsampler":{"type":"pixelshuffle4","act":{"type":"none"}},"x4":{"width":3},)"
      R"("tail":{"hr_conv":false,"last_conv":false},"global_skip":"bilinear","init":{"type":"pytorch"}})");
  const SRFunction f = model_function(seeded(g, 21));
  torch::manual_seed(4);
  const torch::Tensor lr = torch::rand({1, 3, 9, 14});
  torch::Tensor expect = torch::zeros({1, 3, 36, 56});
  for (bool flip : {false, true})
    for (int r = 0; r < 4; ++r) {
      const torch::Tensor x = torch::rot90(flip ? lr.flip({3}) : lr, r, {2, 3}).contiguous();
      const torch::Tensor y = torch::rot90(f(x), -r, {2, 3});
      expect += flip ? y.flip({3}) : y;
    }
  expect /= 8;
  const torch::Tensor got = self_ensemble(f)(lr);
  ASSERT_EQ(got.sizes(), expect.sizes());
  EXPECT_LT((got - expect).abs().max().item<double>(), 1e-5);
  EXPECT_GT((got - f(lr)).abs().max().item<double>(), 1e-3) << "the ensemble did nothing";

  // Bicubic on a smooth uint8 image: equal up to one level. (MATLAB's uint8 path rounds and
  // clamps between its H and W passes, and a transpose swaps them: on noise, whose overshoot
  // the clamp cuts, the transposed pass differs by up to 15 levels; on a smooth image by the
  // rounding only.)
  const torch::Tensor yy = torch::arange(9, torch::kFloat32).view({1, 1, 9, 1});
  const torch::Tensor xx = torch::arange(14, torch::kFloat32).view({1, 1, 1, 14});
  const torch::Tensor smooth = (0.5 + 0.3 * torch::sin(xx / 3 + torch::arange(3).view({1, 3, 1, 1})) * torch::cos(yy / 4));
  const torch::Tensor q = (smooth * 255).round() / 255;
  const SRFunction bic = bicubic_function();
  EXPECT_LE((self_ensemble(bic)(q) - bic(q)).abs().max().item<double>(), 1.0 / 255 + 1e-6);
}
