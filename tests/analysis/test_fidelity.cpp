// Fidelity: Spearman and Kendall by hand, and the rung / retrain pairs fidelity() forms.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "analysis/fidelity.h"

using namespace srnas;

TEST(Fidelity, RankCorrelationsByHand) {
  // y ranks (average ranks for the tied 7s): 1, 2, 3.5, 5, 3.5 against 1..5:
  // rho = sum(dx dy) / sqrt(sum dx^2 sum dy^2) = 8 / sqrt(10 * 9.5).
  // Pairs: 8 concordant, 1 discordant (4,5), 1 tied in y only (3,5): tau-b = 7 / sqrt(10 * 9).
  const std::vector<double> x = {1, 2, 3, 4, 5}, y = {5, 6, 7, 8, 7};
  EXPECT_NEAR(*spearman_rho(x, y), 8.0 / std::sqrt(95.0), 1e-12);
  EXPECT_NEAR(*kendall_tau_b(x, y), 7.0 / std::sqrt(90.0), 1e-12);
  EXPECT_DOUBLE_EQ(*spearman_rho(x, {10, 20, 30, 40, 50}), 1.0);
  EXPECT_DOUBLE_EQ(*kendall_tau_b(x, {10, 20, 30, 40, 50}), 1.0);
  EXPECT_DOUBLE_EQ(*spearman_rho(x, {5, 4, 3, 2, 1}), -1.0);
  EXPECT_DOUBLE_EQ(*kendall_tau_b(x, {5, 4, 3, 2, 1}), -1.0);
  // NaN pairs are skipped: the same as without them.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_NEAR(*spearman_rho({1, 2, nan, 3, 4, 5}, {5, 6, 1, 7, 8, 7}), 8.0 / std::sqrt(95.0), 1e-12);
  EXPECT_FALSE(spearman_rho({1, 2}, {1, 2}));          // fewer than 3 pairs
  EXPECT_FALSE(kendall_tau_b({1, 2, 3}, {4, 4, 4}));  // a constant side
  EXPECT_FALSE(spearman_rho({1, 2, 3}, {4, 4, 4}));
}

TEST(Fidelity, PairsRungsOfPromotedTrialsAndRetrainsWithTheirParents) {
  std::vector<TrialRecord> ts;
  auto add = [&](int64_t id, std::map<int, double> rungs, TrialState state = TrialState::Complete) {
    TrialRecord t;
    t.id = id;
    t.number = id;
    t.state = state;
    t.rung = rungs.empty() ? 0 : rungs.rbegin()->first;
    t.budget = t.rung == 0 ? 60 : 120;  // the rungs' budgets
    t.rung_psnr = std::move(rungs);
    if (!t.rung_psnr.empty()) t.psnr_rgb = t.rung_psnr.rbegin()->second;
    ts.push_back(t);
    return &ts.back();
  };
  add(1, {{0, 28.0}, {1, 28.5}})->is_baseline = true;  // never paired
  add(2, {{0, 25.0}, {1, 26.0}});
  add(3, {{0, 26.0}, {1, 26.5}});
  add(4, {{0, 27.0}, {1, 28.0}});
  add(5, {{0, 24.0}}, TrialState::Pruned);  // pruned at rung 0
  add(6, {{0, 23.0}}, TrialState::Pruned);
  auto rt = [&](int64_t id, int64_t parent, double psnr) {
    TrialRecord* t = add(id, {{0, psnr}});
    t->parent_id = parent;
    t->budget = 1000;  // not a rung's budget
  };
  rt(7, 2, 27.0);
  rt(8, 3, 26.9);
  rt(9, 4, 29.0);
  const auto rows = fidelity(ts);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].from, "rung 0 (60 it)");
  EXPECT_EQ(rows[0].to, "rung 1 (120 it)");
  EXPECT_EQ(rows[0].pairs, 3);
  EXPECT_DOUBLE_EQ(*rows[0].rho, 1.0);  // 25 < 26 < 27 and 26 < 26.5 < 28
  EXPECT_DOUBLE_EQ(*rows[0].tau, 1.0);
  EXPECT_NEAR(rows[0].mean_gain_db, (1.0 + 0.5 + 1.0) / 3, 1e-12);
  EXPECT_EQ(rows[1].from, "search");
  EXPECT_EQ(rows[1].to, "retrain");
  EXPECT_EQ(rows[1].pairs, 3);
  // parents 26.0, 26.5, 28.0 -> retrains 27.0, 26.9, 29.0: ranks 1,2,3 vs 2,1,3: rho = 0.5,
  // tau = (2 concordant - 1 discordant) / 3.
  EXPECT_NEAR(*rows[1].rho, 0.5, 1e-12);
  EXPECT_NEAR(*rows[1].tau, 1.0 / 3.0, 1e-12);
  const std::string table = fidelity_table(rows);
  EXPECT_NE(table.find("rung 0 (60 it)"), std::string::npos) << table;
  EXPECT_NE(table.find("+1.000"), std::string::npos) << table;
  EXPECT_EQ(fidelity_table({}), "no trial was measured at two budgets\n");
  for (auto& t : ts) t.budget = 0;  // no budgets recorded: unlabelled rungs
  EXPECT_EQ(fidelity(ts)[0].from, "rung 0");
}
