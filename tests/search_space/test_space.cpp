// Spaces: seeded uniform sampling, validation, mutation of exactly one gene.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "search_space/error.h"
#include "search_space/genome.h"
#include "search_space/registry.h"
#include "search_space/rng.h"
#include "search_space/space.h"
#include "search_space/yaml_json.h"
#include "../support/errors.h"
#include "../support/scratch.h"

using srnas::testing::error_of;

using namespace srnas;

namespace {

std::string write_temp(const std::string& name, const std::string& text) {
  auto p = srnas::testing::scratch() / name;
  std::ofstream(p) << text;
  return p.string();
}

}  // namespace

TEST(Space, BuiltinsLoadWithTheirGenes) {
  auto k = Space::load("krahaon");
  ASSERT_EQ(k->genes().size(), 6u);
  EXPECT_EQ(k->genes()[0].name, "x");
  EXPECT_EQ(k->genes()[0].labels, (std::vector<std::string>{"48", "64", "80", "96"}));
  EXPECT_EQ(k->genes()[3].labels.size(), 21u);  // nx in [10, 30]
  EXPECT_EQ(k->genes()[4].labels.size(), 17u);  // ny in [0, 16]
  auto n = Space::load("neptuneai");
  EXPECT_EQ(n->genes().size(), 16u);
  EXPECT_EQ(n->genes()[0].labels, (std::vector<std::string>{"ir(e3)", "ir(e6)", "res_relu", "res_lrelu(0.1)"}));
  auto u = Space::load("unified");
  EXPECT_GT(u->genes().size(), 20u);
}

TEST(Space, SamplesAreValidAndSeeded) {
  for (const std::string name : {"krahaon", "neptuneai", "unified", "efficient"}) {
    auto s = Space::load(name);
    Rng a(42), b(42), c(43);
    int differ = 0;
    for (int i = 0; i < 200; ++i) {
      Genome ga = s->sample(a), gb = s->sample(b), gc = s->sample(c);
      EXPECT_EQ(canonical_json(ga), canonical_json(gb)) << name;
      differ += ga != gc;
      EXPECT_NO_THROW(s->validate(ga)) << name << " " << canonical_json(ga);
      EXPECT_EQ(s->decode(s->encode(ga)), ga);
    }
    EXPECT_GT(differ, 190) << name;
  }
}

TEST(Space, KrahaonSamplesFollowTheProtocolRanges) {
  auto s = Space::load("krahaon");
  Rng rng(7);
  std::map<int, int> xs;
  for (int i = 0; i < 4000; ++i) {
    Genome g = s->sample(rng);
    int x = g.lr.width, y = g.x2->width, z = g.x4.width;
    xs[x]++;
    EXPECT_TRUE(y * 2 == x || y * 4 == x);
    EXPECT_TRUE(z * 2 == y || z * 4 == y);
    EXPECT_GE(g.lr.blocks.size(), 10u);
    EXPECT_LE(g.lr.blocks.size(), 30u);
    EXPECT_LE(g.x2->blocks.size(), 16u);
    EXPECT_LE(g.x4.blocks.size(), 16u);
  }
  ASSERT_EQ(xs.size(), 4u);
  for (auto [x, n] : xs) EXPECT_NEAR(n, 1000, 150) << "x=" << x << " not uniform";
}

TEST(Space, ReferenceArchsBelongWhereTheyShould) {
  EXPECT_TRUE(Space::load("krahaon")->contains(load_arch("krahaon_best").genome));
  EXPECT_TRUE(Space::load("neptuneai")->contains(load_arch("msrresnet").genome));
  EXPECT_FALSE(Space::load("krahaon")->contains(load_arch("msrresnet").genome));  // y = x, conv_hr
  EXPECT_FALSE(Space::load("unified")->contains(load_arch("imdn_aim19").genome));
}

TEST(Space, ValidationSaysWhy) {
  auto k = Space::load("krahaon");
  Genome g = load_arch("krahaon_best").genome;
  Genome bad = g;
  bad.x2->width = 24;  // 64/24 is neither x/2 nor x/4
  EXPECT_NE(error_of([&] { k->validate(bad); }).find("x2.width (y) 24 is not one of x/{2, 4} for x=64"),
            std::string::npos)
      << error_of([&] { k->validate(bad); });
  bad = g;
  bad.lr.width = 50;
  EXPECT_NE(error_of([&] { k->validate(bad); }).find("lr.width (x) 50"), std::string::npos);
  bad = g;
  bad.lr.blocks.resize(31, bad.lr.blocks[0]);
  EXPECT_NE(error_of([&] { k->validate(bad); }).find("nx 31"), std::string::npos);
  bad = g;
  bad.head_act = Act{};
  EXPECT_NE(error_of([&] { k->validate(bad); }).find("head"), std::string::npos);
  auto n = Space::load("neptuneai");
  Genome m = load_arch("msrresnet").genome;
  m.lr.blocks[3].type = BlockType::IMD;
  m.lr.blocks[3].slope = 0.05;
  EXPECT_NE(error_of([&] { n->validate(m); }).find("lr.blocks[3]: block imd(0.05) is not one of"), std::string::npos);
}

TEST(Space, MutationChangesExactlyOneGene) {
  for (const std::string name : {"krahaon", "neptuneai", "unified", "efficient"}) {
    auto s = Space::load(name);
    Rng rng(3);
    for (int i = 0; i < 200; ++i) {
      Genome g = s->sample(rng);
      Genome m = s->mutate(g, rng);
      EXPECT_NE(m, g);
      EXPECT_TRUE(s->contains(m));
      auto a = s->encode(g), b = s->encode(m);
      int changed = 0;
      for (size_t j = 0; j < a.size(); ++j) changed += a[j] != b[j];
      // unified kinds: shrinking a block count drops now-unused slots (encoded as 0)
      if (name != "unified" && name != "efficient") {
        EXPECT_EQ(changed, 1) << name;
      } else {
        EXPECT_GE(changed, 1);
      }
    }
  }
}

// unified has every AIM 2019 block type; efficient adds RFDN's RFDB and RLFN's RLFB, and
// its lr_fuse gene (the last one; unified has none, so its encodings did not change).
TEST(Space, CoversEveryBlockType) {
  std::set<BlockType> seen;
  for (const std::string name : {"unified", "efficient"}) {
    auto s = Space::load(name);
    Rng rng(11);
    int fused = 0;
    for (int i = 0; i < 200; ++i) {
      Genome g = s->sample(rng);
      for (const auto& b : g.lr.blocks) seen.insert(b.type);
      fused += bool(g.lr_fuse);
    }
    EXPECT_EQ(s->genes().back().name == "lr_fuse", name == "efficient") << name;
    if (name == "unified") {
      EXPECT_EQ(fused, 0);
    } else {
      EXPECT_GT(fused, 70);
      EXPECT_LT(fused, 130);
    }
    if (name == "unified") {
      EXPECT_EQ(seen.size(), 8u);
    }
  }
  EXPECT_EQ(seen.size(), kAllBlockTypes.size());
}

TEST(Space, BadSpaceFilesAreClearErrors) {
  EXPECT_NE(error_of([] { Space::load("no_such_space"); }).find("unknown space 'no_such_space'"), std::string::npos);
  std::string f = write_temp("bad1.yaml", "kind: krahaon\nx: [48, 64\n");
  EXPECT_NE(error_of([&] { Space::load(f); }).find("malformed YAML"), std::string::npos) << error_of([&] { Space::load(f); });
  f = write_temp("bad2.yaml", "kind: krahaon\nx: [48]\ny_div: [2]\nz_div: [2]\nnx: {min: 1, max: 2}\nny: [0]\nnz: [0]\nblock: {type: res_relu}\ncolour: red\n");
  EXPECT_NE(error_of([&] { Space::load(f); }).find("unknown key 'colour'"), std::string::npos) << error_of([&] { Space::load(f); });
  f = write_temp("bad3.yaml", "kind: krahaon\nx: [48]\ny_div: [2]\nz_div: [2]\nnx: {min: 1, max: 2}\nny: [0]\nnz: [0]\nblock: {type: wavelet}\n");
  EXPECT_NE(error_of([&] { Space::load(f); }).find("space.block.type: expected one of"), std::string::npos) << error_of([&] { Space::load(f); });
  f = write_temp("bad4.yaml", "kind: krahaon\nx: [\"48\"]\n");
  EXPECT_NE(error_of([&] { Space::load(f); }).find("space.x[0]: expected an integer"), std::string::npos) << error_of([&] { Space::load(f); });
  f = write_temp("bad5.yaml", "kind: darts\n");
  EXPECT_NE(error_of([&] { Space::load(f); }).find("space.kind: expected one of {krahaon, neptuneai, unified}"), std::string::npos);
  EXPECT_EQ(error_of([&] { Space::load(f); }).rfind(f, 0), 0u) << "message starts with the file name";
}

// A space must not sample genomes validate() refuses: a block choice that cannot run at a
// width a stage reaches is an error at load, naming the stage; widths of stages that never
// hold a block are free.
TEST(Space, BlockWidthsAreCheckedAtLoad) {
  const std::string k = "kind: krahaon\nx: [48]\ny_div: [4]\nz_div: [4]\nnx: {min: 1, max: 2}\nny: [0]\n";
  std::string f = write_temp("imd_z.yaml", k + "nz: [0, 1]\nblock: {type: imd, slope: 0.05}\n");
  EXPECT_NE(error_of([&] { Space::load(f); })
                .find("space.block: block imd(0.05) in the x4 stage (width z = y / z_div): imd needs a width divisible "
                      "by 4, got 3"),
            std::string::npos)
      << error_of([&] { Space::load(f); });
  f = write_temp("imd_z_unused.yaml", k + "nz: [0]\nblock: {type: imd, slope: 0.05}\n");
  EXPECT_NO_THROW(Space::load(f)) << "z = 3 holds no block";
  f = write_temp("rfdb2.yaml",
                 "kind: unified\nlr_width: [2]\nlr_blocks: {min: 1, max: 1}\nlong_skip: [false]\nupsampler: "
                 "[pixelshuffle4]\nx2_width: [1]\nx2_blocks: [0]\nx4_width: [4]\nx4_blocks: [0]\nhr_conv: [false]\n"
                 "global_skip: [none]\nlr_choices: [{type: rfdb}]\nhr_choices: [{type: res_relu}]\n");
  EXPECT_NE(error_of([&] { Space::load(f); })
                .find("space.lr_choices: block rfdb(0.05) in lr_width: rfdb needs a width of at least 4"),
            std::string::npos)
      << error_of([&] { Space::load(f); });
}

// A krahaon space on a base arch that fuses its LR blocks (IMDN) builds krahaon's trunk: no
// fuse, so nx = 0 is valid. A unified space whose lr_fuse is always true still samples
// genomes without LR blocks (nothing to fuse), and they are in their own space.
TEST(Space, TheFuseNeverOutlivesTheLrBlocks) {
  std::string f = write_temp("k_fuse.yaml",
                             "kind: krahaon\nbase: imdn\nx: [48]\ny_div: [2]\nz_div: [2]\nnx: [0, 2]\nny: [0]\nnz: [0]\n"
                             "block: {type: res_relu}\n");
  auto k = Space::load(f);
  for (int nx : {0, 1}) {
    const Genome g = k->decode({0, 0, 0, nx, 0, 0});
    EXPECT_FALSE(g.lr_fuse) << nx;
    EXPECT_NO_THROW(validate(g)) << nx;
    EXPECT_TRUE(k->contains(g)) << nx;
  }
  f = write_temp("fuse0.yaml",
                 "kind: unified\nlr_width: [16]\nlr_blocks: {min: 0, max: 1}\nlong_skip: [false]\nupsampler: "
                 "[pixelshuffle4]\nx2_width: [8]\nx2_blocks: [0]\nx4_width: [4]\nx4_blocks: [0]\nhr_conv: [false]\n"
                 "global_skip: [none]\nlr_choices: [{type: res_relu}]\nhr_choices: [{type: res_relu}]\nlr_fuse: [true]\n");
  auto u = Space::load(f);
  Rng rng(1);
  std::set<size_t> counts;
  for (int i = 0; i < 40; ++i) {
    const Genome g = u->sample(rng);
    counts.insert(g.lr.blocks.size());
    EXPECT_EQ(bool(g.lr_fuse), !g.lr.blocks.empty());
    EXPECT_TRUE(u->contains(g)) << to_json(g).dump();
    EXPECT_EQ(u->decode(u->encode(g)), g);
  }
  EXPECT_EQ(counts, (std::set<size_t>{0, 1}));
}

TEST(JsonDifferences, LeafPathsThatDifferOrAreOnOneSide) {
  const nlohmann::json was = nlohmann::json::parse(R"({"train": {"lr": 0.001, "seed": 1}, "device": "cpu", "a": [1, 2]})");
  const nlohmann::json now = nlohmann::json::parse(R"({"train": {"lr": 0.002, "seed": 1}, "init": "parent", "a": [1, 3]})");
  const std::vector<JsonDifference> d = json_differences(was, now);
  ASSERT_EQ(d.size(), 4u);
  EXPECT_EQ(d[0].path, "/a/1");
  EXPECT_EQ(d[0].was, "2");
  EXPECT_EQ(d[0].now, "3");
  EXPECT_EQ(d[1].path, "/device");
  EXPECT_EQ(d[1].now, "unset");
  EXPECT_EQ(d[2].path, "/init");
  EXPECT_EQ(d[2].was, "unset");
  EXPECT_EQ(d[2].now, "\"parent\"");
  EXPECT_EQ(d[3].path, "/train/lr");
  EXPECT_EQ(d[3].was, "0.001");
  EXPECT_TRUE(json_differences(was, was).empty());
}
