// Gene importance (analysis/importance.h): eta^2 and epsilon^2 against hand-computed values,
// inactive genes, what is left out, and `srnas importance` on a real DB file.
#include <gtest/gtest.h>

#include <cmath>
#include <tuple>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "../support/cli_runner.h"
#include "../support/scratch.h"
#include "analysis/importance.h"
#include "results_db/results_db.h"
#include "search_space/error.h"
#include "search_space/genome.h"
#include "search_space/registry.h"
#include "search_space/space.h"

namespace srnas {
namespace {

int gene_index(const Space& s, const std::string& name) {
  for (size_t i = 0; i < s.genes().size(); ++i)
    if (s.genes()[i].name == name) return int(i);
  ADD_FAILURE() << "no gene " << name;
  return 0;
}

TrialRecord candidate(const Space& s, std::vector<int> values, int64_t number, double psnr) {
  TrialRecord t;
  t.id = number + 1;
  t.number = number;
  t.genome_json = canonical_json(s.decode(values));
  t.state = TrialState::Complete;
  t.psnr_rgb = psnr;
  t.rung_psnr[0] = psnr;
  return t;
}

const GeneImportance& gene(const ImportanceReport& r, const std::string& name) {
  for (const GeneImportance& g : r.genes)
    if (g.gene == name) return g;
  throw Error("no gene " + name);
}

TEST(Importance, EtaSquaredIsTheShareOfVarianceAGeneExplains) {
  // krahaon, only x varies: x=48 gives 30 and 32 dB, x=64 gives 34 and 36. Mean 33;
  // SS_total = 9 + 1 + 1 + 9 = 20; group means 31 and 35: SS_between = 2*4 + 2*4 = 16;
  // eta^2 = 16/20 = 0.8; MS_within = (20 - 16) / (4 - 2) = 2; eps^2 = (16 - 1*2) / 20 = 0.7.
  const auto s = Space::load("krahaon");
  const std::vector<int> base(s->genes().size(), 0);
  const int x = gene_index(*s, "x");
  std::vector<int> x64 = base;
  x64[size_t(x)] = 1;
  std::vector<TrialRecord> ts = {candidate(*s, base, 1, 30), candidate(*s, base, 2, 32), candidate(*s, x64, 3, 34),
                                 candidate(*s, x64, 4, 36)};
  // Left out: the baseline, a retrain, a candidate without a PSNR yet.
  TrialRecord b = candidate(*s, x64, 0, 99);
  b.is_baseline = true;
  TrialRecord re = candidate(*s, base, 5, 99);
  re.parent_id = 1;
  TrialRecord running = candidate(*s, base, 6, 0);
  running.state = TrialState::Running;
  running.psnr_rgb.reset();
  running.rung_psnr.clear();
  ts.push_back(b);
  ts.push_back(re);
  ts.push_back(running);

  const ImportanceReport r = gene_importance(*s, ts, ImportanceObjective::Psnr, "random");
  EXPECT_EQ(r.candidates, 4);
  ASSERT_FALSE(r.genes.empty());
  EXPECT_EQ(r.genes.front().gene, "x") << "the only gene that varies comes first";
  const GeneImportance& g = gene(r, "x");
  EXPECT_EQ(g.n, 4);
  ASSERT_TRUE(g.eta2 && g.eps2);
  EXPECT_NEAR(*g.eta2, 0.8, 1e-12);
  EXPECT_NEAR(*g.eps2, 0.7, 1e-12);
  ASSERT_EQ(g.levels.size(), 2u);
  EXPECT_EQ(g.levels[0].label, s->genes()[size_t(x)].labels[0]);
  EXPECT_EQ(g.levels[0].n, 2);
  EXPECT_DOUBLE_EQ(g.levels[0].mean, 31);
  EXPECT_DOUBLE_EQ(g.levels[1].mean, 35);
  for (const GeneImportance& o : r.genes) {
    if (o.gene != "x") {
      EXPECT_FALSE(o.eta2) << o.gene << ": one value only";
    }
  }
  // Notes: 2 per value is thin; a random sampler needs no correlation warning, evolution does.
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_NE(r.notes[0].find("fewer than 5 candidates per value"), std::string::npos) << r.notes[0];
  const ImportanceReport ev = gene_importance(*s, ts, ImportanceObjective::Psnr, "evolution");
  EXPECT_NE(ev.notes.back().find("sampler evolution concentrates"), std::string::npos) << ev.notes.back();

  // A gene that explains everything: eta^2 = 1 (epsilon^2 too, no variance within).
  ts[1].psnr_rgb = 30;
  ts[1].rung_psnr[0] = 30;
  ts[3].psnr_rgb = 34;
  ts[3].rung_psnr[0] = 34;
  const ImportanceReport explained = gene_importance(*s, ts, ImportanceObjective::Psnr, "random");
  const GeneImportance& all = gene(explained, "x");
  EXPECT_NEAR(*all.eta2, 1.0, 1e-12);
  EXPECT_NEAR(*all.eps2, 1.0, 1e-12);
  EXPECT_NE(importance_table(gene_importance(*s, ts, ImportanceObjective::Psnr, "random")).find("x "),
            std::string::npos);
}

TEST(Importance, PsnrComparesAtTheFirstBudgetAndCostsInLog10) {
  // With successive halving a promoted trial's PSNR is at a longer budget: rung 0's is used.
  const auto s = Space::load("krahaon");
  const std::vector<int> base(s->genes().size(), 0);
  std::vector<int> x64 = base;
  x64[size_t(gene_index(*s, "x"))] = 1;
  std::vector<TrialRecord> ts = {candidate(*s, base, 1, 30), candidate(*s, x64, 2, 32)};
  ts[1].psnr_rgb = 40;  // rung 1
  ts[1].rung_psnr[1] = 40;
  TrialRecord pruned = candidate(*s, x64, 3, 32);  // stopped by successive halving after rung 0
  pruned.state = TrialState::Pruned;
  pruned.psnr_rgb.reset();
  ts.push_back(pruned);
  GeneImportance g = gene(gene_importance(*s, ts, ImportanceObjective::Psnr, "random"), "x");
  ASSERT_EQ(g.levels.size(), 2u);
  EXPECT_DOUBLE_EQ(g.levels[1].mean, 32);
  EXPECT_EQ(g.levels[1].n, 2);

  // Params: log10, pruned candidates included (counted before training).
  ts[0].params = 1000;
  ts[1].params = 100000;
  ts[2].params = 10000;
  g = gene(gene_importance(*s, ts, ImportanceObjective::Params, "random"), "x");
  EXPECT_DOUBLE_EQ(g.levels[0].mean, 3);
  EXPECT_DOUBLE_EQ(g.levels[1].mean, 4.5);
  EXPECT_EQ(gene_importance(*s, ts, ImportanceObjective::Params, "random").measure, "log10(params)");
  EXPECT_EQ(gene_importance(*s, ts, ImportanceObjective::Runtime, "random").candidates, 0);
  EXPECT_THROW(importance_objective_from_string("flops", "--objective"), Error);
}

TEST(Importance, InactiveGenesAndGenomesOutsideTheSpaceAreLeftOut) {
  // unified_small: lr_block_3 only matters with 4 LR blocks. Three candidates with 4 blocks and
  // one with 1: lr_block_3 is measured on 3, lr_blocks on all 4. MSRResNet (width 64) is outside.
  const auto s = Space::load("unified_small");
  const std::vector<int> base(s->genes().size(), 0);
  const int blocks = gene_index(*s, "lr_blocks"), b3 = gene_index(*s, "lr_block_3");
  std::vector<TrialRecord> ts;
  for (int i = 0; i < 3; ++i) {
    std::vector<int> v = base;
    v[size_t(blocks)] = 3;  // 4 blocks
    v[size_t(b3)] = i;
    ts.push_back(candidate(*s, v, i + 1, 30 + i));
  }
  ts.push_back(candidate(*s, base, 4, 29));  // 1 block
  TrialRecord outside = ts[0];
  outside.number = 5;
  outside.genome_json = canonical_json(load_arch("msrresnet").genome);
  ts.push_back(outside);
  // Encodable, but not a point of the space: it differs from every genome the space decodes
  // in a part the space fixes (the init scale). The samplers never take it as a member either.
  TrialRecord near = ts[3];
  near.number = 6;
  nlohmann::json j = nlohmann::json::parse(near.genome_json);
  j["init"]["scale"] = 0.123;
  near.genome_json = j.dump();
  ASSERT_EQ(s->encode(genome_from_string(near.genome_json)), base);
  ts.push_back(near);
  const ImportanceReport r = gene_importance(*s, ts, ImportanceObjective::Psnr, "random");
  EXPECT_EQ(r.candidates, 4);
  EXPECT_EQ(r.outside_space, 2);
  EXPECT_EQ(gene(r, "lr_block_3").n, 3);
  EXPECT_EQ(gene(r, "lr_block_3").levels.size(), 3u);
  EXPECT_EQ(gene(r, "lr_blocks").n, 4);
  EXPECT_NE(r.notes[0].find("outside the space"), std::string::npos) << r.notes[0];
  // lr_block_3's 3 values were each seen once: eta^2 = 1 means nothing, no epsilon^2, and it
  // ranks after lr_blocks, whose epsilon^2 is defined.
  EXPECT_NEAR(*gene(r, "lr_block_3").eta2, 1.0, 1e-12);
  EXPECT_FALSE(gene(r, "lr_block_3").eps2);
  EXPECT_TRUE(gene(r, "lr_blocks").eps2);
  EXPECT_EQ(r.genes.front().gene, "lr_blocks");
}

const PairInteraction* pair(const ImportanceReport& r, const std::string& a, const std::string& b) {
  for (const PairInteraction& p : r.pairs)
    if (p.a == a && p.b == b) return &p;
  return nullptr;
}

TEST(Importance, PairsShowWhatTheMainEffectsMiss) {
  // krahaon, x and nx at 2 values each, 2 candidates per cell; the objective depends only on
  // whether x and nx agree (an XOR):
  //   (0,0): 30, 32   (0,1): 34, 36   (1,0): 34, 36   (1,1): 30, 32
  // Mean 33, SS_total = 2 * (9 + 1 + 1 + 9) = 40. Every row and column mean is 33: SS_x =
  // SS_nx = 0, so eta^2 = 0 for both genes. Cell means 31, 35, 35, 31: SS_cells = 8 * 4 = 32 =
  // SS_ab; eta^2_ab = 32/40 = 0.8; df = 4 - 2 - 2 + 1 = 1; MS_within = (40 - 32) / (8 - 4) = 2;
  // eps^2_ab = (32 - 1 * 2) / 40 = 0.75.
  const auto s = Space::load("krahaon");
  const int x = gene_index(*s, "x"), nx = gene_index(*s, "nx");
  auto at = [&](int vx, int vnx) {
    std::vector<int> v(s->genes().size(), 0);
    v[size_t(x)] = vx;
    v[size_t(nx)] = vnx;
    return v;
  };
  std::vector<TrialRecord> ts;
  int64_t n = 1;
  for (auto [vx, vnx, y0] : std::vector<std::tuple<int, int, double>>{{0, 0, 30}, {0, 1, 34}, {1, 0, 34}, {1, 1, 30}}) {
    ts.push_back(candidate(*s, at(vx, vnx), n++, y0));
    ts.push_back(candidate(*s, at(vx, vnx), n++, y0 + 2));
  }
  const ImportanceReport r = gene_importance(*s, ts, ImportanceObjective::Psnr, "random");
  EXPECT_NEAR(*gene(r, "x").eta2, 0.0, 1e-12);
  EXPECT_NEAR(*gene(r, "nx").eta2, 0.0, 1e-12);
  ASSERT_EQ(r.pairs.size(), 1u) << "only x and nx vary";
  const PairInteraction& p = r.pairs[0];
  EXPECT_EQ(p.a, "x");
  EXPECT_EQ(p.b, "nx");
  EXPECT_EQ(p.n, 8);
  EXPECT_EQ(p.cells, 4);
  EXPECT_EQ(p.df, 1);
  EXPECT_NEAR(p.eta2, 0.8, 1e-12);
  EXPECT_NEAR(p.eps2, 0.75, 1e-12);
  const std::string table = importance_table(r);
  EXPECT_NE(table.find("x x nx"), std::string::npos) << table;
  EXPECT_EQ(importance_table(r, 0).find("interaction"), std::string::npos);

  // Additive instead (30 + 2 nx + 4 x, +2 in the second of each cell): the cell means are
  // the sums of the main effects, SS_ab = 0.
  ts.clear();
  n = 1;
  for (auto [vx, vnx] : std::vector<std::pair<int, int>>{{0, 0}, {0, 1}, {1, 0}, {1, 1}}) {
    ts.push_back(candidate(*s, at(vx, vnx), n++, 30 + 2 * vnx + 4 * vx));
    ts.push_back(candidate(*s, at(vx, vnx), n++, 32 + 2 * vnx + 4 * vx));
  }
  const ImportanceReport add = gene_importance(*s, ts, ImportanceObjective::Psnr, "random");
  ASSERT_NE(pair(add, "x", "nx"), nullptr);
  EXPECT_NEAR(pair(add, "x", "nx")->eta2, 0.0, 1e-12);
  EXPECT_LT(pair(add, "x", "nx")->eps2, 0.0);
  EXPECT_GT(*gene(add, "x").eta2, *gene(add, "nx").eta2);

  // One candidate per cell: no variance within the cells, nothing to estimate; not listed.
  ts.resize(0);
  n = 1;
  for (auto [vx, vnx] : std::vector<std::pair<int, int>>{{0, 0}, {0, 1}, {1, 0}, {1, 1}})
    ts.push_back(candidate(*s, at(vx, vnx), n++, 30 + vx + 3 * vnx * vx));
  EXPECT_TRUE(gene_importance(*s, ts, ImportanceObjective::Psnr, "random").pairs.empty());
}

TEST(Importance, CliReadsARealDb) {
  const auto s = Space::load("krahaon");
  const std::filesystem::path dir = srnas::testing::scratch_dir("importance");
  const std::string path = (dir / "s.db").string();
  {
    auto db = ResultsDB::open(path, ResultsDB::Mode::ReadWrite);
    StudyRecord st;
    st.name = "imp";
    st.space = "krahaon";
    st.config_yaml = "study: imp\nspace: krahaon\nsampler: {type: random}\n";
    st.id = db->create_study(st);
    const std::vector<int> base(s->genes().size(), 0);
    std::vector<int> x64 = base;
    x64[size_t(gene_index(*s, "x"))] = 1;
    int n = 0;
    for (auto [v, psnr] : std::vector<std::pair<std::vector<int>, double>>{{base, 30}, {base, 32}, {x64, 34}, {x64, 36}}) {
      TrialRecord t = candidate(*s, v, n++, psnr);
      t.study_id = st.id;
      t.genome_hash = genome_hash(genome_from_string(t.genome_json));
      db->add_trial(t);
    }
  }
  auto r = srnas::testing::run_cli("importance --db " + path + " --format json");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["candidates"], 4);
  EXPECT_EQ(j["genes"][0]["gene"], "x");
  EXPECT_NEAR(j["genes"][0]["eta2"].get<double>(), 0.8, 1e-12);
  EXPECT_NEAR(j["genes"][0]["eps2"].get<double>(), 0.7, 1e-12);
  EXPECT_TRUE(j["pairs"].is_array() && j["pairs"].empty()) << "one gene varies: no pair" << j["pairs"];
  r = srnas::testing::run_cli("importance --db " + path);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("study 'imp' (space krahaon, sampler random): which genes explain PSNR-RGB (dB) at the first "
                       "budget? 4 candidates"),
            std::string::npos)
      << r.out;
  srnas::testing::expect_cli_error("importance --db " + path + " --objective flops", "--objective");
}

}  // namespace
}  // namespace srnas
