// Accounting: analytic params and MACs against the published and hand-computed values.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "search_space/accounting.h"
#include "search_space/genome.h"
#include "search_space/registry.h"

using namespace srnas;

namespace {

int64_t sum_prefix(const Accounting& a, const std::string& prefix) {
  int64_t n = 0;
  for (const auto& l : a.layers)
    if (l.name.rfind(prefix, 0) == 0) n += l.params;
  return n;
}

Genome tiny(int width, std::vector<Block> blocks) {
  Genome g = load_arch("msrresnet").genome;
  g.lr = {width, std::move(blocks)};
  g.x2 = Stage{width, {}};
  g.x4 = {width, {}};
  return g;
}

}  // namespace

TEST(Accounting, MSRResNetMatchesBasicSR) {
  Accounting a = account(load_arch("msrresnet").genome, 339, 510);
  // protocol.md: 1792 + 16*73,856 + 2*147,712 + 36,928 + 1,731
  EXPECT_EQ(a.params, 1517571);
  EXPECT_EQ(sum_prefix(a, "head"), 1792);
  EXPECT_EQ(sum_prefix(a, "lr.blocks.0."), 73856);
  EXPECT_EQ(sum_prefix(a, "lr.blocks."), 16 * 73856);
  EXPECT_EQ(sum_prefix(a, "up.0"), 147712);
  EXPECT_EQ(sum_prefix(a, "up.1"), 147712);
  EXPECT_EQ(sum_prefix(a, "hr_conv"), 36928);
  EXPECT_EQ(sum_prefix(a, "last_conv"), 1731);
  // MACs per LR pixel: head 3*64*9 = 1,728; body 32 * 64*64*9 = 1,179,648; upconv1 64*256*9 =
  // 147,456; upconv2 at x2 = 4 * 147,456 = 589,824; conv_hr at x4 = 16 * 36,864 = 589,824;
  // conv_last at x4 = 16 * 1,728 = 27,648. Sum 2,536,128 per LR pixel; 339*510 = 172,890 pixels.
  EXPECT_EQ(a.macs, int64_t(2536128) * 172890);
  EXPECT_EQ(a.macs, 438471169920);  // 0.877 TFLOP per image (issue 6's 0.876 TFLOP floor)
}

TEST(Accounting, IMDNAim19MatchesKAIR) {
  Accounting a = account(load_arch("imdn_aim19").genome, 339, 510);
  EXPECT_EQ(a.params, 893936);
  // protocol.md: block 36,928 + 27,712 + 27,712 + 6,928 + 4,160 = 103,440
  EXPECT_EQ(sum_prefix(a, "lr.blocks.0."), 103440);
  EXPECT_EQ(sum_prefix(a, "lr.trunk"), 36928);
  EXPECT_EQ(sum_prefix(a, "up.0"), 27696);
  // per LR pixel: 1,728 + 8 * (36,864 + 2*27,648 + 6,912 + 4,096) + 36,864 + 27,648 = 891,584
  EXPECT_EQ(a.macs, int64_t(891584) * 172890);
}

// RLFN (bytedance/RLFN rlfn.py, 52 channels, 6 RLFBs, ESA 16), by hand:
//   conv_1 3->52: 1,404 + 52 = 1,456
//   RLFB: c1_r, c2_r, c3_r 52->52 3x3: 3 x 24,388 = 73,164; c5 52->52 1x1: 2,756;
//         ESA conv1 52->16: 848, conv_f 16->16: 272, conv2 and conv3 16->16 3x3: 2 x 2,320,
//         conv4 16->52: 884 -> 6,644; block 82,564, six of them 495,384
//   conv_2 52->52: 24,388; upsampler 52->48 3x3: 22,512.  Total 543,740.
// The NTIRE 2022 entry (rlfn_ntire.py RLFN_Prune, 46 channels, 48 between the 3x3 convs, 4
// RLFBs) is 317,218 the same way; both are the sizes the RLFN authors give (0.543M, 0.317M).
// SPAN's block in RLFN's frame (52 channels, 6 blocks): each SPAB is three 52->52 3x3 convs
// as deployed, 3 x (24,336 + 52) = 73,164 (RLFB's three 3x3 convs without its 1x1 and ESA), so
// the network has 543,740 - 6 x 82,564 + 6 x 73,164 = 487,340 params; per LR pixel a block
// costs 3 x 24,336 MACs.
TEST(Accounting, SpabByHand) {
  Genome g = load_arch("rlfn").genome;
  for (Block& b : g.lr.blocks) b = Block{BlockType::SPAB};
  const Accounting a = account(g, 339, 510);
  EXPECT_EQ(sum_prefix(a, "lr.blocks.0."), 73164);
  EXPECT_EQ(a.params, 487340);
  for (const auto& l : a.layers)
    if (l.name.rfind("lr.blocks.4.", 0) == 0) {
      EXPECT_EQ(l.kernel, 3) << l.name;
      EXPECT_EQ(l.macs, int64_t(339) * 510 * 24336) << l.name;
    }
  EXPECT_EQ(describe(g.lr.blocks[0]), "spab");
  EXPECT_EQ(to_json(g.lr.blocks[0]), nlohmann::json({{"type", "spab"}}));
}

TEST(Accounting, RLFNByHand) {
  const Accounting a = account(load_arch("rlfn").genome, 339, 510);
  EXPECT_EQ(a.params, 543740);
  EXPECT_EQ(sum_prefix(a, "head"), 1456);
  EXPECT_EQ(sum_prefix(a, "lr.blocks.5."), 82564);
  EXPECT_EQ(sum_prefix(a, "lr.blocks.0.esa."), 6644);
  EXPECT_EQ(sum_prefix(a, "lr.trunk"), 24388);
  EXPECT_EQ(sum_prefix(a, "up.0"), 22512);
  const Accounting n = account(load_arch("rlfn_ntire22").genome, 339, 510);
  // conv_1 1,288; RLFB 19,920 + 20,784 + 19,918 + 2,162 + ESA (752 + 272 + 2,320 + 2,320 + 782)
  // = 69,230, four: 276,920; conv_2 19,090; upsampler 46->48: 19,920.
  EXPECT_EQ(n.params, 317218);
  EXPECT_EQ(sum_prefix(n, "lr.blocks.3."), 69230);
  // ESA at 339x510: stride-2 conv -> 169x254, 7x7/3 pool -> 55x83; the 3x3 convs there.
  EXPECT_EQ(esa_size(339, 510), (std::array<int, 4>{169, 254, 55, 83}));
  for (const auto& l : a.layers) {
    if (l.name == "lr.blocks.2.esa.conv2") {
      EXPECT_EQ(l.macs, int64_t(169) * 254 * 16 * 16 * 9);
      EXPECT_EQ(l.stride, 2);
      EXPECT_EQ(l.padding, 0);
    }
    if (l.name == "lr.blocks.2.esa.conv3") {
      EXPECT_EQ(l.macs, int64_t(55) * 83 * 16 * 16 * 9);
    }
    if (l.name == "lr.blocks.2.esa.conv4") {
      EXPECT_EQ(l.macs, int64_t(339) * 510 * 16 * 52);
    }
  }
  // Per LR pixel the full-resolution convs: 1,404 + 6 x (3 x 24,336 + 2,704 + 832 + 256 + 832)
  // + 24,336 + 22,464; plus the reduced ESA convs.
  const int64_t full = int64_t(1404 + 6 * (3 * 24336 + 2704 + 832 + 256 + 832) + 24336 + 22464) * 339 * 510;
  EXPECT_EQ(a.macs, full + 6 * int64_t(2304) * (169 * 254 + 55 * 83));
  // Small maps: the pool kernel shrinks to fit (RLFN's 7 needs 15 px), under 3 px nothing.
  EXPECT_EQ(esa_size(15, 15), (std::array<int, 4>{7, 7, 1, 1}));
  EXPECT_EQ(esa_size(8, 12), (std::array<int, 4>{3, 5, 1, 1}));
  EXPECT_EQ(esa_size(2, 40), (std::array<int, 4>{0, 0, 0, 0}));
}

// RFDN (njulj/RFDN RFDN.py: 50 channels, 4 RFDBs, outputs fused), by hand:
//   fea_conv 3->50: 1,350 + 50 = 1,400
//   RFDB: c1_d, c2_d, c3_d 50->25 1x1: 3 x 1,275; c1_r, c2_r, c3_r 50->50 3x3: 3 x 22,550;
//         c4 50->25 3x3: 11,275; c5 100->50 1x1: 5,050; ESA at f = 12: conv1 612, conv_f 156,
//         conv_max, conv2, conv3, conv3_ 4 x 1,308, conv4 650 -> 6,650; block 94,450, x4 377,800
//   c (fuse) 200->50 1x1: 10,050; LR_conv 22,550; upsampler 50->48 3x3: 21,648.
//   Total 433,448 (RFDN's paper: 0.433M).
TEST(Accounting, RFDNByHand) {
  const Accounting a = account(load_arch("rfdn").genome, 339, 510);
  EXPECT_EQ(a.params, 433448);
  EXPECT_EQ(sum_prefix(a, "head"), 1400);
  EXPECT_EQ(sum_prefix(a, "lr.blocks.3."), 94450);
  EXPECT_EQ(sum_prefix(a, "lr.blocks.0.esa."), 6650);
  EXPECT_EQ(sum_prefix(a, "lr.fuse"), 10050);
  EXPECT_EQ(sum_prefix(a, "lr.trunk"), 22550);
  EXPECT_EQ(sum_prefix(a, "up.0"), 21648);
  for (const auto& l : a.layers) {
    if (l.name == "lr.blocks.1.esa.conv_max") {
      EXPECT_EQ(l.macs, int64_t(55) * 83 * 12 * 12 * 9);  // at the pooled 55x83
    }
    if (l.name == "lr.fuse") {
      EXPECT_EQ(l.macs, int64_t(339) * 510 * 200 * 50);
    }
  }
  EXPECT_EQ(receptive_radius(load_arch("rfdn").genome), -1);
}

// IMDN, the 715K journal version (Zheng-Hui/IMDN architecture.py), by hand: fea_conv 1,792;
// IMDModule = IMDN-AIM19's block 103,440 + CCA (64->4 1x1: 260, 4->64 1x1: 320) = 104,020,
// six of them 624,120; c (fuse) 384->64 1x1: 24,640; LR_conv 36,928; upsampler 64->48: 27,696.
// Total 715,176, the paper's.
TEST(Accounting, IMDNJournalByHand) {
  const Accounting a = account(load_arch("imdn").genome, 339, 510);
  EXPECT_EQ(a.params, 715176);
  EXPECT_EQ(sum_prefix(a, "lr.blocks.5."), 104020);
  EXPECT_EQ(sum_prefix(a, "lr.blocks.0.cca."), 580);
  EXPECT_EQ(sum_prefix(a, "lr.fuse"), 24640);
  // CCA works on one value per channel: 64 x 4 + 4 x 64 MACs per block, whatever the size.
  for (const auto& l : a.layers) {
    if (l.name == "lr.blocks.2.cca.expand") {
      EXPECT_EQ(l.macs, 4 * 64);
    }
  }
  EXPECT_EQ(receptive_radius(load_arch("imdn").genome), -1);
}

TEST(Accounting, KrahaonBest) {
  Accounting a = account(load_arch("krahaon_best").genome, 1, 1);
  // 1,792 + 19*73,856 + 36,928 (64->64) + 12*4,640 + 2,320 (16->16) + 3*296 + 111
  EXPECT_EQ(sum_prefix(a, "x2.blocks."), 12 * 4640);
  EXPECT_EQ(sum_prefix(a, "x4.blocks."), 3 * 296);
  EXPECT_EQ(sum_prefix(a, "up.1"), 2320);
  EXPECT_EQ(sum_prefix(a, "last_conv"), 111);
  EXPECT_EQ(a.params, 1500983);
}

TEST(Accounting, EveryBlockTypeByHand) {
  const int w = 8;
  auto block_params = [&](Block b) { return sum_prefix(account(tiny(w, {b}), 2, 2), "lr.blocks.0."); };
  Block b;
  b.type = BlockType::ResReLU;
  EXPECT_EQ(block_params(b), 2 * (8 * 8 * 9 + 8));  // 1168
  b = {};
  b.type = BlockType::Dilated;
  b.dilation = 2;
  EXPECT_EQ(block_params(b), 1168);
  b = {};
  b.type = BlockType::InvRes;
  b.expand = 3;  // 1x1 8->24: 216; dw 3x3 24: 240; 1x1 24->8: 200
  EXPECT_EQ(block_params(b), 656);
  b.expand = 6;  // 8*48+48 + 48*9+48 + 48*8+8 = 432 + 480 + 392
  EXPECT_EQ(block_params(b), 1304);
  b = {};
  b.type = BlockType::IMD;
  b.slope = 0.05;  // d=2, r=6: 8*8*9+8 + 2*(6*8*9+8) + 6*2*9+2 + 8*8+8 = 584 + 880 + 110 + 72
  EXPECT_EQ(block_params(b), 1646);
  b = {};
  b.type = BlockType::AWRU;
  b.expand = 2;  // conv1 8->16: 8*16*9+16 = 1,168; conv2 16->8: 16*8*9+8 = 1,160; 2 scales
  EXPECT_EQ(block_params(b), 1168 + 1160 + 2);
  b = {};
  b.type = BlockType::SERes;
  b.reduction = 4;  // 1168 + 8*2+2 + 2*8+8
  EXPECT_EQ(block_params(b), 1168 + 18 + 24);
  b = {};
  b.type = BlockType::DWSepRes;
  b.kernel = 5;  // 2 * (8*25+8 + 8*8+8)
  EXPECT_EQ(block_params(b), 2 * (208 + 72));
}

TEST(Accounting, MacsScaleWithResolutionAndGroups) {
  Block dw;
  dw.type = BlockType::DWSepRes;
  dw.kernel = 3;
  Accounting a = account(tiny(8, {dw}), 10, 20);
  for (const auto& l : a.layers) {
    if (l.name == "lr.blocks.0.dw1") {
      EXPECT_EQ(l.groups, 8);
      EXPECT_EQ(l.macs, 200 * 8 * 1 * 9);
    }
    if (l.name == "last_conv") {
      EXPECT_EQ(l.macs, int64_t(40 * 80) * 3 * 8 * 9);
    }
  }
  EXPECT_EQ(account(tiny(8, {dw}), 0, 0).macs, 0);
}

// receptive_radius by hand: per resolution, the convs' (k - 1) / 2 * dilation summed, each
// PixelShuffle(2) carrying a radius r down as ceil(r / 2), at least the skip's reach.
TEST(Accounting, ReceptiveRadiusByHand) {
  // MSRResNet: LR head 1 + 16 blocks x 2 + up.0 1 = 34; x2: up.1 1; x4: hr_conv + last_conv 2.
  // x4 2 -> x2 1 + 1 = 2 -> LR 1 + 34 = 35 (bilinear skip 1).
  EXPECT_EQ(receptive_radius(load_arch("msrresnet").genome), 35);
  // IMDN-AIM19: head 1 + 8 IMD blocks x four 3x3 convs + trunk 1 + up.0 1 = 35; nothing at x4.
  EXPECT_EQ(receptive_radius(load_arch("imdn_aim19").genome), 35);
  const auto g = [](const std::string& lr_blocks, const std::string& tail, const std::string& skip, int x4 = 4) {
    return genome_from_string(R"({"head":{"act":{"type":"none"}},"lr":{"width":8,"blocks":)" + lr_blocks +
                              R"(},"upsampler":{"type":"pixelshuffle4","act":{"type":"none"}},"x4":{"width":)" +
                              std::to_string(x4) + R"(},"tail":)" + tail + R"(,"global_skip":")" + skip + R"(","init":{"type":"pytorch"}})");
  };
  // head 1 + dilated(3): 2 x 3 + up.0 1 = 8; x4 last conv 1 -> ceil(ceil(1/2)/2) = 1: 9.
  EXPECT_EQ(receptive_radius(g(R"([{"type":"dilated","dilation":3}])", R"({"hr_conv":false})", "none")), 9);
  // dwsep 7x7: dw1 3 + pw1 0 + dw2 3 + pw2 0; x4 hr_conv + last_conv 2 -> 1 -> 1: 1 + 6 + 1 + 1.
  EXPECT_EQ(receptive_radius(g(R"([{"type":"dwsep","kernel":7}])", R"({"hr_conv":true,"act":{"type":"relu"}})", "bicubic")), 9);
  // No LR blocks, no convs at x4: head 1 + up.0 1 = 2 (the bicubic skip reaches 2 as well).
  EXPECT_EQ(receptive_radius(g("[]", R"({"hr_conv":false,"last_conv":false})", "bicubic", 3)), 2);
  // SE pools the whole image, RLFB's attention nearly so: unbounded.
  EXPECT_EQ(receptive_radius(g(R"([{"type":"se","reduction":4}])", R"({"hr_conv":false})", "none")), -1);
  EXPECT_EQ(receptive_radius(load_arch("rlfn").genome), -1);
}
