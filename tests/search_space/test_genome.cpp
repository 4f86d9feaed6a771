// Genome: strict JSON parsing, canonical form, content hash.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "search_space/error.h"
#include "search_space/genome.h"
#include "search_space/registry.h"

using namespace srnas;
using nlohmann::json;

namespace {

json msrresnet_json() { return to_json(load_arch("msrresnet").genome); }

// Expects genome_from_json to throw an Error whose message contains `needle`.
void expect_error(const json& j, const std::string& needle) {
  try {
    genome_from_json(j);
    FAIL() << "no error for " << j.dump() << " (expected: " << needle << ")";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "error must be one line";
  }
}

}  // namespace

TEST(Genome, ReferenceArchsRoundTripCanonically) {
  for (const auto& name : builtin_names("archs")) {
    Genome g = load_arch(name).genome;
    Genome back = genome_from_string(canonical_json(g));
    EXPECT_EQ(back, g) << name;
    EXPECT_EQ(canonical_json(back), canonical_json(g)) << name;
    EXPECT_EQ(genome_hash(back), genome_hash(g)) << name;
  }
}

TEST(Genome, RepeatSugarExpandsAndHashesLikeTheLongForm) {
  Genome g = load_arch("msrresnet").genome;
  ASSERT_EQ(g.lr.blocks.size(), 16u);
  for (const auto& b : g.lr.blocks) EXPECT_EQ(b.type, BlockType::ResReLU);
  json longform = msrresnet_json();
  EXPECT_EQ(longform["lr"]["blocks"].size(), 16u);
  EXPECT_FALSE(longform["lr"]["blocks"][0].contains("repeat"));
}

TEST(Genome, HashIgnoresKeyOrderAndWhitespaceButSeesEveryField) {
  std::string reordered = R"({"init":{"scale":0.1,"type":"kaiming"},"global_skip":"bilinear",
    "tail":{"last_conv":true,"act":{"slope":0.1,"type":"lrelu"},"hr_conv":true},
    "x4":{"blocks":[],"width":64},"x2":{"width":64,"blocks":[]},
    "upsampler":{"act":{"type":"lrelu","slope":0.1},"type":"progressive"},
    "lr":{"long_skip":false,"width":64,"blocks":[{"type":"res_relu","repeat":16}]},
    "head":{"act":{"type":"lrelu","slope":0.1}}})";
  Genome a = genome_from_string(reordered);
  Genome m = load_arch("msrresnet").genome;
  EXPECT_EQ(genome_hash(a), genome_hash(m));
  // Golden value: the canonical form is a storage format; changing it orphans DBs.
  EXPECT_EQ(genome_hash(m), "7a371d4b7ef269c2");

  Genome b = m;
  b.lr.blocks[7].type = BlockType::ResLReLU;
  b.lr.blocks[7].slope = 0.1;
  EXPECT_NE(genome_hash(b), genome_hash(m));
  Genome c = m;
  c.up_act.slope = 0.2;
  EXPECT_NE(genome_hash(c), genome_hash(m));
  Genome d = m;
  d.global_skip = GlobalSkip::Bicubic;
  EXPECT_NE(genome_hash(d), genome_hash(m));
}

TEST(Genome, DefaultsAreFilledInTheCanonicalForm) {
  json j = msrresnet_json();
  j["lr"]["blocks"] = json::array({{{"type", "res_lrelu"}}, {{"type", "se"}}, {{"type", "dwsep"}}});
  Genome g = genome_from_json(j);
  EXPECT_DOUBLE_EQ(g.lr.blocks[0].slope, 0.1);
  EXPECT_EQ(g.lr.blocks[1].reduction, 4);
  EXPECT_EQ(g.lr.blocks[2].kernel, 3);
  json c = to_json(g);
  EXPECT_EQ(c["lr"]["blocks"][0]["slope"], 0.1);
  EXPECT_EQ(c["lr"]["blocks"][1]["reduction"], 4);
  j["lr"]["blocks"] = json::array({{{"type", "rlfb"}}});
  const Genome r = genome_from_json(j);
  EXPECT_DOUBLE_EQ(r.lr.blocks[0].slope, 0.05);
  EXPECT_EQ(r.lr.blocks[0].esa, 16);
  EXPECT_EQ(r.lr.blocks[0].mid, 0);
  EXPECT_EQ(to_json(r)["lr"]["blocks"][0], json({{"type", "rlfb"}, {"slope", 0.05}, {"esa", 16}, {"mid", 0}}));
  j["lr"]["blocks"][0]["mid"] = 48;
  EXPECT_NE(genome_hash(genome_from_json(j)), genome_hash(r)) << "mid is part of the network";
}

// lr.fuse (IMDN's and RFDN's aggregation) appears in the canonical form only when set, so
// every genome without it keeps the hash it had before the field existed.
TEST(Genome, FuseIsCanonicalOnlyWhenSet) {
  const Genome msr = load_arch("msrresnet").genome;
  EXPECT_FALSE(msr.lr_fuse);
  EXPECT_EQ(to_json(msr)["lr"].count("fuse"), 0u);
  EXPECT_EQ(genome_hash(msr), "7a371d4b7ef269c2") << "MSRResNet's hash since the first release";
  json j = msrresnet_json();
  j["lr"]["fuse"] = {{"act", {{"type", "lrelu"}, {"slope", 0.05}}}};
  const Genome f = genome_from_json(j);
  ASSERT_TRUE(f.lr_fuse);
  EXPECT_EQ(f.lr_fuse->type, ActType::LeakyReLU);
  EXPECT_EQ(to_json(f)["lr"]["fuse"], j["lr"]["fuse"]);
  EXPECT_NE(genome_hash(f), genome_hash(msr));
  EXPECT_EQ(genome_from_json(to_json(f)), f);
  { json k = j; k["lr"]["fuse"] = {{"act", {{"type", "gelu"}}}}; expect_error(k, "lr.fuse.act.type"); }
  { json k = j; k["lr"]["fuse"] = {{"act", {{"type", "relu"}}}, {"kernel", 3}}; expect_error(k, "lr.fuse: unknown key 'kernel'"); }
  { json k = j; k["lr"]["blocks"] = json::array(); expect_error(k, "lr.fuse: needs at least one LR block"); }
  { json k = j; k["x4"]["fuse"] = j["lr"]["fuse"]; expect_error(k, "x4: unknown key 'fuse'"); }
  // imd's cca, likewise: only when true, so IMDN-AIM19 keeps its canonical form.
  const json aim = to_json(load_arch("imdn_aim19").genome);
  EXPECT_EQ(aim["lr"]["blocks"][0], json({{"type", "imd"}, {"slope", 0.05}}));
  const json journal = to_json(load_arch("imdn").genome);
  EXPECT_EQ(journal["lr"]["blocks"][0], json({{"type", "imd"}, {"slope", 0.05}, {"cca", true}}));
  { json k = journal; k["lr"]["blocks"][0]["cca"] = "yes"; expect_error(k, "lr.blocks[0].cca: expected true or false"); }
  { json k = journal; k["lr"]["blocks"][0]["cca"] = false; EXPECT_EQ(to_json(genome_from_json(k))["lr"]["blocks"][0].count("cca"), 0u); }
}

TEST(Genome, StrictParserRejectsBadInputWithThePath) {
  json j = msrresnet_json();
  { json k = j; k["colour"] = 1; expect_error(k, "unknown key 'colour'"); }
  { json k = j; k["lr"]["blocks"][2]["type"] = "transformer"; expect_error(k, "lr.blocks[2].type: expected one of"); }
  { json k = j; k["lr"]["blocks"][2]["expand"] = 3; expect_error(k, "lr.blocks[2]: unknown key 'expand'"); }
  { json k = j; k["lr"]["width"] = 0; expect_error(k, "lr.width: expected an integer in [1, 4096], got 0"); }
  { json k = j; k["lr"]["width"] = -8; expect_error(k, "lr.width"); }
  { json k = j; k["x2"]["width"] = "64"; expect_error(k, "x2.width: expected an integer, got string '64'"); }
  { json k = j; k["lr"]["width"] = 64.5; expect_error(k, "lr.width: expected an integer"); }
  { json k = j; k.erase("head"); expect_error(k, "missing required key 'head'"); }
  { json k = j; k["global_skip"] = "nearest"; expect_error(k, "global_skip: expected one of {none, bilinear, bicubic}"); }
  { json k = j; k["lr"]["blocks"] = json::array({{{"type", "ir"}, {"expand", 0}}}); expect_error(k, "lr.blocks[0].expand"); }
  { json k = j; k["lr"]["blocks"] = json::array({{{"type", "ir"}}}); expect_error(k, "missing required key 'expand'"); }
  { json k = j; k["lr"]["blocks"] = json::array({{{"type", "dwsep"}, {"kernel", 4}}}); expect_error(k, "kernel"); }
  { json k = j; k["lr"]["blocks"] = json::array({{{"type", "rlfb"}, {"esa", 0}}}); expect_error(k, "lr.blocks[0].esa: expected an integer in [1, 256], got 0"); }
  { json k = j; k["lr"]["blocks"] = json::array({{{"type", "rlfb"}, {"mid", -1}}}); expect_error(k, "lr.blocks[0].mid"); }
  { json k = j; k["lr"]["blocks"] = json::array({{{"type", "rlfb"}, {"kernel", 3}}}); expect_error(k, "unknown key 'kernel'"); }
  { json k = j; k["lr"]["blocks"] = json::array({{{"type", "res_relu"}, {"repeat", 0}}}); expect_error(k, "repeat"); }
  { json k = j; k["lr"]["blocks"] = "res_relu"; expect_error(k, "lr.blocks: expected an array"); }
  { json k = j; k["head"]["act"]["type"] = "gelu"; expect_error(k, "head.act.type"); }
  { json k = j; k.erase("x2"); expect_error(k, "x2: missing; the progressive upsampler needs an x2 stage"); }
  { json k = j; k["upsampler"]["type"] = "pixelshuffle4"; expect_error(k, "x2: not allowed"); }
  { json k = j; k["tail"] = {{"hr_conv", false}, {"last_conv", false}}; expect_error(k, "tail.last_conv"); }
  { json k = j; k["lr"]["width"] = 30; k["lr"]["blocks"] = json::array({{{"type", "imd"}}}); expect_error(k, "divisible by 4"); }
  { json k = j; k["init"] = {{"type", "kaiming"}, {"scale", -1}}; expect_error(k, "init.scale"); }
  { json k = j; k["tail"]["hr_conv"] = "yes"; expect_error(k, "tail.hr_conv: expected true or false"); }
  expect_error(json::array(), "expected an object");
}

TEST(Genome, MalformedJsonIsAnErrorNotACrash) {
  EXPECT_THROW(genome_from_string("{\"head\": "), Error);
  EXPECT_THROW(genome_from_string(""), Error);
  EXPECT_THROW(genome_from_string("null"), Error);
  try {
    genome_from_string("{\"head\": ");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("malformed JSON"), std::string::npos);
  }
}

TEST(Genome, ArchFileErrorsNameTheFile) {
  try {
    parse_arch(R"({"name":"x","genome":{"head":{}}})", "my/arch.json", "x");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("my/arch.json: ", 0), 0u) << e.what();
  }
  EXPECT_THROW(load_arch("no_such_arch"), Error);
  try {
    load_arch("no_such_arch");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("msrresnet"), std::string::npos) << "lists known names: " << e.what();
  }
  EXPECT_THROW(load_arch("/nonexistent/dir/arch.json"), Error);
}

TEST(Genome, DescribeBlocks) {
  Genome g = load_arch("imdn_aim19").genome;
  EXPECT_EQ(describe(g.lr.blocks[0]), "imd(0.05)");
  Block b;
  b.type = BlockType::InvRes;
  b.expand = 6;
  EXPECT_EQ(describe(b), "ir(e6)");
  EXPECT_EQ(describe(load_arch("rlfn").genome.lr.blocks[0]), "rlfb(esa16)");
  EXPECT_EQ(describe(load_arch("rlfn_ntire22").genome.lr.blocks[0]), "rlfb(esa16,m48)");
  Block r = load_arch("rlfn").genome.lr.blocks[0];
  r.slope = 0.1;  // two space choices differing only in the slope get different gene labels
  EXPECT_EQ(describe(r), "rlfb(esa16,0.1)");
  r.mid = 32;
  EXPECT_EQ(describe(r), "rlfb(esa16,m32,0.1)");
  EXPECT_EQ(describe(load_arch("rfdn").genome.lr.blocks[0]), "rfdb(0.05)");
  EXPECT_EQ(describe(load_arch("imdn").genome.lr.blocks[0]), "imd(0.05,cca)");
}
