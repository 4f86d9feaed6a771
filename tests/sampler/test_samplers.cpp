// Samplers: constraints, config parsing, determinism, no duplicates, exhaustion, the
// evolution/NSGA-II/TPE operators, and a synthetic benchmark where evolution must beat random
// on best PSNR, NSGA-II on (PSNR, params) hypervolume, and TPE on both.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "sampler/pareto.h"
#include "sampler/sampler.h"
#include "search_space/accounting.h"
#include "search_space/error.h"
#include "search_space/registry.h"
#include "../support/errors.h"
#include "../support/scratch.h"

using srnas::testing::error_of;

using namespace srnas;

namespace {

TrialRecord record(int64_t number, const Genome& g, TrialState state = TrialState::Complete) {
  TrialRecord t;
  t.id = number + 1;
  t.number = number;
  t.genome_json = canonical_json(g);
  t.genome_hash = genome_hash(g);
  t.state = state;
  return t;
}

int genes_changed(const Space& s, const Genome& a, const Genome& b) {
  auto x = s.encode(a), y = s.encode(b);
  int n = 0;
  for (size_t i = 0; i < x.size(); ++i) n += x[i] != y[i];
  return n;
}

SamplerConfig config(const std::string& type, int population = 20) {
  SamplerConfig c;
  c.type = type;
  c.population = population;
  c.n_startup = population;  // tpe leaves its random start where evolution and nsga2 do
  return c;
}

// The synthetic objective on the krahaon space: PSNR peaks at krahaon's published best
// (30 dB) and falls by 0.5 dB per gene's full range away from it; params and MACs are exact.
struct Synthetic {
  std::unique_ptr<Space> space = Space::load("krahaon");
  std::vector<int> target = space->encode(load_arch("krahaon_best").genome);
  double baseline_macs = double(account(load_arch("msrresnet").genome, 32, 32).macs);

  void evaluate(TrialRecord& t) const {
    Genome g = genome_from_string(t.genome_json);
    std::vector<int> v = space->encode(g);
    double d = 0;
    for (size_t i = 0; i < v.size(); ++i) d += std::abs(v[i] - target[i]) / double(space->genes()[i].labels.size() - 1);
    t.psnr_rgb = 30.0 - 0.5 * d;
    t.params = count_params(g);
    t.macs = account(g, 32, 32).macs;
    t.runtime_ratio = double(*t.macs) / baseline_macs;
  }
  std::vector<TrialRecord> history(int n, uint64_t seed) const {
    std::vector<TrialRecord> h;
    Rng rng(seed);
    std::set<std::string> seen;
    while (int(h.size()) < n) {
      Genome g = space->sample(rng);
      if (!seen.insert(genome_hash(g)).second) continue;
      h.push_back(record(int64_t(h.size()), g));
      evaluate(h.back());
    }
    return h;
  }
};

const Synthetic& synthetic() {
  static const Synthetic s;
  return s;
}

std::string write_temp(const std::string& name, const std::string& text) {
  auto p = srnas::testing::scratch() / name;
  std::ofstream(p) << text;
  return p.string();
}

}  // namespace

TEST(Constraints, ViolationByHand) {
  TrialRecord t;
  Constraints c{1000000, 1.0, 28.7};
  EXPECT_DOUBLE_EQ(constraint_violation(t, c), 0.0);  // nothing measured: feasible
  t.params = 1200000;
  EXPECT_NEAR(constraint_violation(t, c), 0.2, 1e-12);
  t.runtime_ratio = 1.5;
  EXPECT_NEAR(constraint_violation(t, c), 0.7, 1e-12);
  t.psnr_rgb = 28.5;
  EXPECT_NEAR(constraint_violation(t, c), 0.9, 1e-12);
  t.params = 900000;
  t.runtime_ratio = 0.5;
  t.psnr_rgb = 29.0;
  EXPECT_DOUBLE_EQ(constraint_violation(t, c), 0.0);
  t.params = 1000000;  // equal to the bound: feasible
  t.runtime_ratio = 1.0;
  t.psnr_rgb = 28.7;
  EXPECT_DOUBLE_EQ(constraint_violation(t, c), 0.0);
  t.params = 3000000;
  EXPECT_NEAR(constraint_violation(t, Constraints{}), 0.0, 0);  // no constraints
  EXPECT_NEAR(constraint_violation(t, Constraints{1000000, {}, {}}), 2.0, 1e-12);
  // A MACs limit adds its own normalised term; no MACs recorded: feasible for it.
  Constraints m;
  m.max_macs = 4000000000;
  EXPECT_DOUBLE_EQ(constraint_violation(t, m), 0.0);
  t.macs = 5000000000;
  EXPECT_NEAR(constraint_violation(t, m), 0.25, 1e-12);
  m.max_params = 1000000;
  EXPECT_NEAR(constraint_violation(t, m), 2.25, 1e-12);
}

// A study's `limits:` on top of the baseline's constraints. MSRResNet: 1,517,571 params
// (protocol.md) and, per LR pixel, 3*64*9 + 32*64*64*9 + 64*256*9 (LR) + 64*256*9*4 (x2)
// + (64*64*9 + 64*3*9)*16 (x4) = 2,536,128 MACs: 438,471,169,920 at 339x510 LR.
TEST(Limits, TightenAdmissibleAndDescribeByHand) {
  const Constraints base{40000, 1.0, 25.5};
  const Limits none;
  EXPECT_FALSE(none.any());
  EXPECT_EQ(none.admissible(339, 510), nullptr);
  EXPECT_EQ(none.describe(339, 510), "");
  const Constraints same = none.tighten(base);
  EXPECT_EQ(same.max_params, base.max_params);
  EXPECT_EQ(same.max_runtime_ratio, base.max_runtime_ratio);
  EXPECT_FALSE(same.max_macs);

  Limits l;
  l.max_params = 30000;
  l.max_gmacs = 2.5;
  l.max_runtime_ratio = 1.5;
  Constraints c = l.tighten(base);
  EXPECT_EQ(c.max_params, 30000);
  EXPECT_EQ(c.max_macs, 2'500'000'000);
  EXPECT_EQ(c.max_runtime_ratio, 1.0) << "the baseline's is lower";
  EXPECT_EQ(c.min_psnr, 25.5);
  l.max_runtime_ratio = 0.5;
  l.max_params = 50000;
  c = l.tighten(base);
  EXPECT_EQ(c.max_runtime_ratio, 0.5);
  EXPECT_EQ(c.max_params, 40000) << "the baseline's is lower";
  c = l.tighten(Constraints{});
  EXPECT_EQ(c.max_params, 50000);
  EXPECT_EQ(c.max_runtime_ratio, 0.5);
  EXPECT_FALSE(c.min_psnr);
  EXPECT_EQ(l.describe(339, 510), "params <= 50000, GMACs <= 2.5 (at 339x510 LR), runtime ratio <= 0.5");

  const Genome m = load_arch("msrresnet").genome;
  Limits p;
  p.max_params = 1517571;
  EXPECT_TRUE(p.admissible(339, 510)(m));
  p.max_params = 1517570;
  EXPECT_FALSE(p.admissible(339, 510)(m));
  EXPECT_EQ(p.pure_violation(1517571, 0), "limit: params 1517571 > max_params 1517570");
  Limits g;
  g.max_gmacs = 438.47117;
  EXPECT_TRUE(g.admissible(339, 510)(m));
  g.max_gmacs = 438.47116;
  EXPECT_FALSE(g.admissible(339, 510)(m));
  EXPECT_TRUE(g.admissible(170, 255)(m)) << "109,941,148,800 MACs at 170x255";
  g.max_runtime_ratio = 0.1;  // measured, not a property of the genome
  EXPECT_TRUE(g.admissible(170, 255)(m));
  EXPECT_EQ(g.pure_violation(438471169920, 438471169920), "limit: 438.471 GMACs > max_gmacs 438.47116");
}

TEST(SamplerConfig, Parse) {
  SamplerConfig c = parse_sampler_config(nlohmann::json::object(), "sampler");
  EXPECT_EQ(c.type, "random");
  EXPECT_EQ(c.population, 20);
  EXPECT_EQ(c.tournament, 5);
  EXPECT_EQ(c.crossover_prob, 0.9);
  EXPECT_EQ(c.mutation_prob, 1.0);
  EXPECT_EQ(c.max_attempts, 1000);
  c = parse_sampler_config(nlohmann::json{{"type", "nsga2"}, {"population", 8}, {"tournament", 2},
                                          {"crossover_prob", 0.5}, {"mutation_prob", 0}, {"max_attempts", 50}},
                           "sampler");
  EXPECT_EQ(c.type, "nsga2");
  EXPECT_EQ(c.population, 8);
  EXPECT_EQ(c.tournament, 2);
  EXPECT_EQ(c.crossover_prob, 0.5);
  EXPECT_EQ(c.mutation_prob, 0.0);
  EXPECT_EQ(c.max_attempts, 50);
  EXPECT_EQ(error_of([] { parse_sampler_config(nlohmann::json{{"type", "x"}}, "sampler"); }),
            "sampler.type: expected one of {random, evolution, nsga2, tpe}, got 'x'");
  EXPECT_EQ(error_of([] { parse_sampler_config(nlohmann::json{{"popsize", 3}}, "sampler"); }),
            "sampler: unknown key 'popsize'");
  EXPECT_EQ(error_of([] { parse_sampler_config(nlohmann::json{{"population", "20"}}, "study.sampler"); }),
            "study.sampler.population: expected an integer, got string '20'");
  EXPECT_NE(error_of([] { parse_sampler_config(nlohmann::json{{"crossover_prob", 1.5}}, "sampler"); })
                .find("sampler.crossover_prob: expected a number in [0, 1], got 1.5"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_sampler_config(nlohmann::json{{"population", 0}}, "sampler"); })
                .find("sampler.population: expected an integer in [1, "),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_sampler_config(nlohmann::json("random"), "sampler"); }).find("sampler: expected an object"),
            std::string::npos);
  for (const std::string type : {"random", "evolution", "nsga2", "tpe"}) EXPECT_EQ(make_sampler(config(type))->name(), type);
  c = parse_sampler_config(nlohmann::json{{"type", "tpe"}, {"n_startup", 5}, {"n_candidates", 48}, {"gamma", 0.25},
                                          {"prior_weight", 2}, {"constant_liar", true}, {"multivariate", true}},
                           "sampler");
  EXPECT_TRUE(c.constant_liar);
  EXPECT_TRUE(c.multivariate);
  EXPECT_EQ(c.n_startup, 5);
  EXPECT_EQ(c.n_candidates, 48);
  EXPECT_EQ(c.gamma, 0.25);
  EXPECT_EQ(c.prior_weight, 2.0);
  const SamplerConfig defaults = parse_sampler_config(nlohmann::json::object(), "sampler");
  EXPECT_EQ(defaults.n_startup, 10);
  EXPECT_EQ(defaults.n_candidates, 24);
  EXPECT_EQ(defaults.gamma, 0.1);
  EXPECT_EQ(defaults.prior_weight, 1.0);
  EXPECT_FALSE(defaults.constant_liar);
  EXPECT_FALSE(defaults.multivariate);
  EXPECT_NE(error_of([] { parse_sampler_config(nlohmann::json{{"gamma", 1.5}}, "sampler"); })
                .find("sampler.gamma: expected a number in [0, 1], got 1.5"),
            std::string::npos);
  SamplerConfig zero_gamma = config("tpe");
  zero_gamma.gamma = 0;
  EXPECT_NE(error_of([&] { make_sampler(zero_gamma); }).find("gamma in (0, 1]"), std::string::npos);
  SamplerConfig bad;
  bad.population = 0;
  EXPECT_THROW(make_sampler(bad), Error);
  bad = SamplerConfig{};
  bad.type = "grid";
  EXPECT_THROW(make_sampler(bad), Error);
}

TEST(Samplers, SeededDeterminism) {
  const Synthetic& syn = synthetic();
  std::vector<TrialRecord> h = syn.history(30, 1);
  std::vector<TrialRecord> shuffled = h;
  std::mt19937 g(3);
  std::shuffle(shuffled.begin(), shuffled.end(), g);
  for (const std::string type : {"random", "evolution", "nsga2", "tpe"}) {
    auto a = make_sampler(config(type, 10)), b = make_sampler(config(type, 10));
    int differ_number = 0, differ_seed = 0;
    for (int64_t n = 30; n < 40; ++n) {
      auto p = a->propose({*syn.space, h, {}, 42, n});
      auto q = b->propose({*syn.space, h, {}, 42, n});
      auto r = b->propose({*syn.space, shuffled, {}, 42, n});
      ASSERT_TRUE(p && q && r) << type;
      EXPECT_EQ(canonical_json(*p), canonical_json(*q)) << type;
      EXPECT_EQ(canonical_json(*p), canonical_json(*r)) << type << ": history order must not matter";
      differ_number += *p != *a->propose({*syn.space, h, {}, 42, n + 100});
      differ_seed += *p != *a->propose({*syn.space, h, {}, 43, n});
    }
    EXPECT_GE(differ_number, 9) << type;
    EXPECT_GE(differ_seed, 9) << type;
  }
  EXPECT_NE(mix_seed(0, 1), mix_seed(0, 2));
  EXPECT_NE(mix_seed(1, 0), mix_seed(0, 1));
}

TEST(Samplers, NoDuplicates) {
  const Synthetic& syn = synthetic();
  for (const std::string type : {"random", "evolution", "nsga2", "tpe"}) {
    auto s = make_sampler(config(type, 10));
    std::vector<TrialRecord> h;
    // The baseline's hash is never proposed either (any state counts).
    TrialRecord base = record(0, load_arch("krahaon_best").genome);
    base.is_baseline = true;
    h.push_back(base);
    std::set<std::string> hashes{base.genome_hash};
    const int n = type == "random" ? 200 : 100;
    for (int i = 1; i <= n; ++i) {
      auto g = s->propose({*syn.space, h, {}, 7, i});
      ASSERT_TRUE(g) << type;
      EXPECT_TRUE(syn.space->contains(*g)) << type;
      EXPECT_TRUE(hashes.insert(genome_hash(*g)).second) << type << " proposal " << i << " is a duplicate";
      // Mixed states: pending/failed trials also block their genome.
      TrialState st = i % 7 == 0 ? TrialState::Failed : i % 5 == 0 ? TrialState::Pending : TrialState::Complete;
      h.push_back(record(i, *g, st));
      if (st == TrialState::Complete) syn.evaluate(h.back());
    }
  }
}

TEST(Samplers, ExhaustionReturnsNullopt) {
  // A unified space with two free genes (lr_width, hr_conv): exactly 4 genomes.
  std::string f = write_temp("tiny.yaml", R"(kind: unified
base: msrresnet
lr_width: [16, 32]
lr_blocks: [1]
long_skip: [false]
upsampler: [progressive]
x2_width: [8]
x2_blocks: [0]
x4_width: [4]
x4_blocks: [0]
hr_conv: [false, true]
global_skip: [none]
lr_choices: [{type: res_relu}]
hr_choices: [{type: res_relu}]
)");
  auto space = Space::load(f);
  for (const std::string type : {"random", "evolution", "nsga2", "tpe"}) {
    SamplerConfig c = config(type, 2);
    c.max_attempts = 200;
    auto s = make_sampler(c);
    std::vector<TrialRecord> h;
    std::set<std::string> hashes;
    for (int i = 0; i < 4; ++i) {
      auto g = s->propose({*space, h, {}, 1, i});
      ASSERT_TRUE(g) << type << " proposal " << i;
      EXPECT_TRUE(hashes.insert(genome_hash(*g)).second) << type;
      h.push_back(record(i, *g));
      h.back().psnr_rgb = 20.0 + i;
      h.back().params = count_params(*g);
      h.back().runtime_ratio = 0.1;
    }
    EXPECT_FALSE(s->propose({*space, h, {}, 1, 4})) << type;
    EXPECT_FALSE(s->propose({*space, h, {}, 2, 5})) << type;
  }
}

TEST(Samplers, OnlyAdmissibleGenomesAreProposedPastTheRandomStart) {
  // A params budget at the krahaon space's median: every sampler, in its random start and
  // in its model-based phase, proposes only genomes within it; a budget nothing meets
  // exhausts the search (nullopt), it never returns a genome above it.
  const Synthetic& syn = synthetic();
  std::vector<int64_t> sizes;
  {
    Rng rng(11);
    for (int i = 0; i < 400; ++i) sizes.push_back(count_params(syn.space->sample(rng)));
    std::sort(sizes.begin(), sizes.end());
  }
  const int64_t budget = sizes[sizes.size() / 2];
  int rejected = 0;
  auto within = [&](const Genome& g) {
    const bool ok = count_params(g) <= budget;
    rejected += !ok;
    return ok;
  };
  for (const std::string type : {"random", "evolution", "nsga2", "tpe"}) {
    SCOPED_TRACE(type);
    auto s = make_sampler(config(type, 10));
    std::vector<TrialRecord> h;
    for (int i = 0; i < 40; ++i) {
      SamplerContext ctx{*syn.space, h, {}, 3, i};
      ctx.admissible = within;
      auto g = s->propose(ctx);
      ASSERT_TRUE(g) << "proposal " << i;
      EXPECT_LE(count_params(*g), budget) << "proposal " << i;
      h.push_back(record(i, *g));
      syn.evaluate(h.back());
    }
    SamplerContext none{*syn.space, h, {}, 3, 40};
    none.admissible = [](const Genome&) { return false; };
    EXPECT_FALSE(s->propose(none));
  }
  EXPECT_GT(rejected, 40) << "the budget must have turned draws away for the test to mean anything";
}

TEST(Samplers, BelowPopulationEvolutionNsga2AndTpeDrawAtRandom) {
  const Synthetic& syn = synthetic();
  std::vector<TrialRecord> h = syn.history(9, 4);
  auto r = make_sampler(config("random"));
  for (const std::string type : {"evolution", "nsga2", "tpe"}) {
    auto s = make_sampler(config(type, 10));
    for (int64_t n = 9; n < 15; ++n)
      EXPECT_EQ(*s->propose({*syn.space, h, {}, 5, n}), *r->propose({*syn.space, h, {}, 5, n})) << type;
  }
}

// Under successive halving most trials are PRUNED after a rung (they have a PSNR at its budget):
// they end the random start as COMPLETE ones do. Trials pruned before training (params or
// runtime over the baseline's: no PSNR) do not. Before, 2 COMPLETE + 8 rung-pruned trials
// kept every model-based sampler random (the shipped nsga2 study: ~355 of 400 trials).
TEST(Samplers, TrialsPrunedAfterARungEndTheRandomStart) {
  const Synthetic& syn = synthetic();
  auto r = make_sampler(config("random"));
  for (const bool after_training : {true, false}) {
    std::vector<TrialRecord> h = syn.history(10, 4);
    for (int i = 2; i < 10; ++i) {
      h[i].state = TrialState::Pruned;
      if (after_training) h[i].reason = "successive halving: ...";
      else h[i].psnr_rgb.reset();  // pruned before training: measured, never trained
    }
    for (const std::string type : {"evolution", "nsga2", "tpe"}) {
      auto s = make_sampler(config(type, 5));
      int same = 0;
      for (int64_t n = 10; n < 20; ++n)
        same += *s->propose({*syn.space, h, {}, 5, n}) == *r->propose({*syn.space, h, {}, 5, n});
      if (after_training) EXPECT_LT(same, 3) << type << ": 10 trained trials, population 5: past the random start";
      else EXPECT_EQ(same, 10) << type << ": 2 trained trials: still random";
    }
  }
}

TEST(Evolution, MutatesOneGeneOfTheTournamentWinner) {
  const Synthetic& syn = synthetic();
  std::vector<TrialRecord> h = syn.history(12, 9);
  // Old trials (numbers 0..6) have died: give them the best PSNR, they must not be parents.
  for (int i = 0; i < 7; ++i) h[i].psnr_rgb = 40.0 + i;
  // The living population (numbers 7..11); 9 is the best feasible, 10 is better but too big.
  for (int i = 7; i < 12; ++i) h[i].psnr_rgb = 20.0 + i;
  h[9].psnr_rgb = 35.0;
  h[10].psnr_rgb = 36.0;
  h[10].params = 5000000;
  h[9].params = 1000000;
  TrialRecord base = record(99, load_arch("krahaon_best").genome);
  base.is_baseline = true;
  base.psnr_rgb = 50.0;
  h.push_back(base);
  Constraints c{2000000, {}, {}};
  for (auto& t : h)
    if (&t != &h[9] && &t != &h[10]) t.params = 1500000;  // every other member feasible
  SamplerConfig cfg = config("evolution", 5);
  cfg.tournament = 64;  // the tournament sees the whole population
  auto s = make_sampler(cfg);
  const Genome winner = genome_from_string(h[9].genome_json);
  for (int64_t n = 12; n < 32; ++n) {
    auto g = s->propose({*syn.space, h, c, 3, n});
    ASSERT_TRUE(g);
    EXPECT_EQ(genes_changed(*syn.space, winner, *g), 1) << "proposal " << n;
  }
  // Without constraints the bigger, better one wins.
  const Genome big = genome_from_string(h[10].genome_json);
  for (int64_t n = 12; n < 22; ++n) EXPECT_EQ(genes_changed(*syn.space, big, *s->propose({*syn.space, h, {}, 3, n})), 1);
  // A size-1 tournament: always one gene away from some living member.
  cfg.tournament = 1;
  s = make_sampler(cfg);
  for (int64_t n = 12; n < 32; ++n) {
    Genome g = *s->propose({*syn.space, h, c, 3, n});
    int best = 99;
    for (int i = 7; i < 12; ++i) best = std::min(best, genes_changed(*syn.space, genome_from_string(h[i].genome_json), g));
    EXPECT_EQ(best, 1);
  }
}

TEST(Nsga2, ConstrainedDominationPicksFeasibleParents) {
  const Synthetic& syn = synthetic();
  auto space = syn.space.get();
  // Four genomes that differ in every gene, so a one-gene child has exactly one parent.
  std::vector<Genome> gs;
  for (int k = 0; k < 4; ++k) gs.push_back(space->decode({k % 4, k % 2, (k + 1) % 2, 2 * k, 3 * k + 1, 4 * k + 2}));
  std::vector<TrialRecord> h;
  for (int k = 0; k < 4; ++k) {
    h.push_back(record(k, gs[k]));
    h.back().params = k < 2 ? 900000 : 3000000;  // 2 and 3 violate max_params
    h.back().psnr_rgb = k < 2 ? 25.0 + k : 30.0 + k;
    h.back().runtime_ratio = 0.5;
  }
  // A pruned trial with the best metrics counts as infeasible.
  h.push_back(record(4, space->decode({3, 1, 1, 20, 16, 16}), TrialState::Pruned));
  h.back().psnr_rgb = 40.0;
  h.back().params = 100;
  h.back().reason = "successive halving: ...";
  SamplerConfig cfg = config("nsga2", 2);
  cfg.crossover_prob = 0.0;
  auto s = make_sampler(cfg);
  Constraints c{1000000, {}, {}};
  for (int64_t n = 5; n < 25; ++n) {
    Genome g = *s->propose({*space, h, c, 11, n});
    const int d0 = genes_changed(*space, gs[0], g), d1 = genes_changed(*space, gs[1], g);
    EXPECT_TRUE(d0 == 1 || d1 == 1) << "child of a feasible survivor";
  }
  // Crossover without mutation: every gene comes from one of the two feasible survivors.
  cfg.crossover_prob = 1.0;
  cfg.mutation_prob = 0.0;
  s = make_sampler(cfg);
  auto v0 = space->encode(gs[0]), v1 = space->encode(gs[1]);
  for (int64_t n = 5; n < 25; ++n) {
    auto g = s->propose({*space, h, c, 11, n});
    ASSERT_TRUE(g);
    auto v = space->encode(*g);
    for (size_t i = 0; i < v.size(); ++i) EXPECT_TRUE(v[i] == v0[i] || v[i] == v1[i]);
  }
}

// THE KEY TEST: 150 instant evaluations per run, 5 seeds per sampler.
// TPE's l/g: when every good trial has x = 64 (gene 0, value 1) and the bad ones mostly not,
// proposals take x = 64 far more often than random's 1 in 4.
TEST(Tpe, ProposesTheValuesOfTheGoodTrials) {
  const Synthetic& syn = synthetic();
  std::vector<TrialRecord> h = syn.history(60, 9);
  for (auto& t : h) {
    const bool good = syn.space->encode(genome_from_string(t.genome_json))[0] == 1;
    t.psnr_rgb = good ? 30.0 : 25.0;
    t.params = 1000;  // one objective decides: PSNR
    t.runtime_ratio = 0.5;
  }
  auto tpe = make_sampler(config("tpe", 10)), rnd = make_sampler(config("random"));
  int tpe_hits = 0, random_hits = 0;
  for (int64_t n = 60; n < 100; ++n) {
    tpe_hits += syn.space->encode(*tpe->propose({*syn.space, h, {}, 3, n}))[0] == 1;
    random_hits += syn.space->encode(*rnd->propose({*syn.space, h, {}, 3, n}))[0] == 1;
  }
  std::printf("[ tpe ] x = 64 in %d of 40 proposals (random: %d)\n", tpe_hits, random_hits);
  EXPECT_GE(tpe_hits, 30);
  EXPECT_LE(random_hits, 20);
}

TEST(Tpe, ConstantLiarSpreadsProposalsAwayFromRunningTrials) {
  // The good trials share gene 0 = 1. Twenty trials near the best of them (the best with one
  // other gene changed) are still RUNNING. Without the liar TPE's proposals land next to
  // them; with it the running trials count as bad ones and the proposals move away (a larger
  // Hamming distance to the nearest running trial), still on gene 0 = 1.
  const Synthetic& syn = synthetic();
  std::vector<TrialRecord> h = syn.history(60, 9);
  const TrialRecord* best = nullptr;
  for (auto& t : h) {
    const bool good = syn.space->encode(genome_from_string(t.genome_json))[0] == 1;
    t.psnr_rgb = good ? 30.0 : 25.0;
    t.params = 1000;
    t.runtime_ratio = 0.5;
  }
  for (auto& t : h)
    if (*t.psnr_rgb == 30.0 && (!best || t.number < best->number)) best = &t;
  ASSERT_TRUE(best);
  const Genome top = genome_from_string(best->genome_json);
  std::vector<std::vector<int>> running;
  Rng rng(17);
  std::set<std::string> hashes;
  for (const auto& t : h) hashes.insert(t.genome_hash);
  while (running.size() < 20) {
    Genome g = syn.space->mutate(top, rng);
    if (syn.space->encode(g)[0] != 1 || !hashes.insert(genome_hash(g)).second) continue;
    running.push_back(syn.space->encode(g));
    h.push_back(record(int64_t(h.size()), g, running.size() % 3 ? TrialState::Running : TrialState::Pending));
  }
  SamplerConfig liar_cfg = config("tpe", 10);
  liar_cfg.constant_liar = true;
  auto plain = make_sampler(config("tpe", 10)), liar = make_sampler(liar_cfg);
  auto nearest = [&](const Genome& g) {
    const std::vector<int> x = syn.space->encode(g);
    int d = int(x.size());
    for (const auto& r : running) {
      int k = 0;
      for (size_t i = 0; i < x.size(); ++i) k += x[i] != r[i];
      d = std::min(d, k);
    }
    return d;
  };
  double plain_d = 0, liar_d = 0;
  int liar_hits = 0;
  for (int64_t n = 80; n < 120; ++n) {
    const Genome a = *plain->propose({*syn.space, h, {}, 3, n}), b = *liar->propose({*syn.space, h, {}, 3, n});
    plain_d += nearest(a) / 40.0;
    liar_d += nearest(b) / 40.0;
    liar_hits += syn.space->encode(b)[0] == 1;
  }
  std::printf("[ tpe ] mean genes from the nearest running trial: %.2f, %.2f with the constant liar (gene 0 = 1 in %d of 40)\n",
              plain_d, liar_d, liar_hits);
  EXPECT_GE(liar_d, plain_d + 0.5);
  EXPECT_GE(liar_hits, 30);
  // Nothing in flight: the liar changes nothing.
  h.resize(60);
  for (int64_t n = 60; n < 70; ++n)
    EXPECT_EQ(*plain->propose({*syn.space, h, {}, 3, n}), *liar->propose({*syn.space, h, {}, 3, n}));
}

TEST(Tpe, MultivariateKeepsTheGeneCombinationsOfTheGoodTrials) {
  // Good = ny and nz (genes 4 and 5, 17 values each) both 0, or both 16: over the good trials
  // each gene's marginal is half and half, so independent TPE pairs them at random (about
  // half its proposals mismatched); multivariate draws them together from one good trial.
  const Synthetic& syn = synthetic();
  const int top = int(syn.space->genes()[4].labels.size()) - 1;
  ASSERT_EQ(top + 1, int(syn.space->genes()[5].labels.size()));
  auto corner = [&](const std::vector<int>& x) { return (x[4] == 0 && x[5] == 0) || (x[4] == top && x[5] == top); };
  std::vector<TrialRecord> h;
  std::set<std::string> hashes;
  Rng rng(23);
  while (h.size() < 80) {
    std::vector<int> x = syn.space->encode(syn.space->sample(rng));
    if (h.size() < 10) x[4] = x[5] = 0;  // 10 + 10 good ones, then random ones
    else if (h.size() < 20) x[4] = x[5] = top;
    Genome g = syn.space->decode(x);
    if (!hashes.insert(genome_hash(g)).second) continue;
    h.push_back(record(int64_t(h.size()), g));
    h.back().psnr_rgb = corner(x) ? 30.0 : 25.0;
    h.back().params = 1000;
    h.back().runtime_ratio = 0.5;
  }
  SamplerConfig mv_cfg = config("tpe", 10);
  mv_cfg.gamma = 0.25;  // the 20 good trials: both corners
  SamplerConfig ind_cfg = mv_cfg;
  mv_cfg.multivariate = true;
  auto ind = make_sampler(ind_cfg), mv = make_sampler(mv_cfg);
  int ind_hits = 0, mv_hits = 0;
  for (int64_t n = 80; n < 140; ++n) {
    ind_hits += corner(syn.space->encode(*ind->propose({*syn.space, h, {}, 5, n})));
    mv_hits += corner(syn.space->encode(*mv->propose({*syn.space, h, {}, 5, n})));
  }
  std::printf("[ tpe ] both genes in a good corner: %d of 60 proposals, %d multivariate\n", ind_hits, mv_hits);
  EXPECT_GE(mv_hits, 54);
  EXPECT_LE(60 - mv_hits, (60 - ind_hits) / 2) << "multivariate mismatches at most half as often";
}

TEST(Samplers, SyntheticBenchmarkBeatsRandom) {
  const Synthetic& syn = synthetic();
  // (30 - PSNR, params / 1e6), both minimised; ref just beyond the worst of the space.
  Genome biggest = syn.space->decode({3, 0, 0, 20, 16, 16});
  const Point ref{3.0 + 1e-6, double(count_params(biggest)) / 1e6 * 1.001};
  std::map<std::string, double> best_mean, hv_mean;
  for (const std::string type : {"random", "evolution", "nsga2", "tpe"}) {
    for (uint64_t seed = 1; seed <= 5; ++seed) {
      auto s = make_sampler(config(type));
      std::vector<TrialRecord> h;
      double best = 0;
      for (int i = 0; i < 150; ++i) {
        auto g = s->propose({*syn.space, h, {}, seed, i});
        ASSERT_TRUE(g);
        h.push_back(record(i, *g));
        syn.evaluate(h.back());
        best = std::max(best, *h.back().psnr_rgb);
      }
      std::vector<Point> pts;
      for (const auto& t : h) pts.push_back({30.0 - *t.psnr_rgb, double(*t.params) / 1e6});
      best_mean[type] += best / 5;
      hv_mean[type] += hypervolume_2d(pts, ref) / 5;
    }
    std::printf("[ synthetic ] %-9s mean best PSNR %.4f dB, mean HV(PSNR, params) %.4f\n", type.c_str(),
                best_mean[type], hv_mean[type]);
  }
  EXPECT_GT(best_mean["evolution"], best_mean["random"]);
  EXPECT_GT(hv_mean["nsga2"], hv_mean["random"]);
  EXPECT_GT(hv_mean["tpe"], hv_mean["random"]);
  EXPECT_GT(best_mean["tpe"], best_mean["random"]);
}

// What trials took: finished_at - started_at of final trials (the claim that finished them),
// summed for the worker time; the wall time spans the first start to the last end.
TEST(Trial, SecondsAndTime) {
  auto at = [](TrialState st, double start, double end) {
    TrialRecord t;
    t.state = st;
    t.started_at = start;
    t.finished_at = end;
    return t;
  };
  EXPECT_EQ(trial_seconds(at(TrialState::Complete, 100, 130)), 30.0);
  EXPECT_EQ(trial_seconds(at(TrialState::Pruned, 100, 100.5)), 0.5);
  EXPECT_EQ(trial_seconds(at(TrialState::Failed, 100, 101)), 1.0);
  EXPECT_FALSE(trial_seconds(at(TrialState::Running, 100, 0))) << "not finished";
  EXPECT_FALSE(trial_seconds(at(TrialState::Pending, 0, 0)));
  EXPECT_FALSE(trial_seconds(at(TrialState::Complete, 0, 130))) << "no start recorded";
  const TrialTime t = trial_time({at(TrialState::Complete, 100, 130), at(TrialState::Complete, 110, 150),
                                  at(TrialState::Running, 90, 0), at(TrialState::Pruned, 160, 161)});
  EXPECT_DOUBLE_EQ(t.worker_s, 30 + 40 + 1);
  EXPECT_DOUBLE_EQ(t.wall_s, 161 - 100) << "the running trial's start does not count";
  EXPECT_EQ(trial_time({}).worker_s, 0.0);
  EXPECT_EQ(trial_time({}).wall_s, 0.0);
}
