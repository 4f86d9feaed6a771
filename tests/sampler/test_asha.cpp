// Successive halving: rung budgets, decisions on hand-made histories, config parsing.
#include <gtest/gtest.h>

#include <functional>

#include <nlohmann/json.hpp>

#include "sampler/asha.h"
#include "search_space/error.h"
#include "../support/errors.h"

using srnas::testing::error_of;

using namespace srnas;

namespace {

TrialRecord reached(int64_t id, std::map<int, double> rung_psnr, bool baseline = false) {
  TrialRecord t;
  t.id = id;
  t.number = id - 1;
  t.state = TrialState::Running;
  t.rung_psnr = std::move(rung_psnr);
  t.rung = int(t.rung_psnr.size()) - 1;
  t.is_baseline = baseline;
  return t;
}

const AshaConfig kCfg{100, 3, 3};

}  // namespace

TEST(Asha, RungBudgets) {
  EXPECT_EQ(rung_budget(kCfg, 0), 100);
  EXPECT_EQ(rung_budget(kCfg, 1), 300);
  EXPECT_EQ(rung_budget(kCfg, 2), 900);
  EXPECT_EQ(max_budget(kCfg), 900);
  EXPECT_EQ(max_budget(AshaConfig{5000, 3, 1}), 5000);  // one rung: no halving
  EXPECT_EQ(max_budget(AshaConfig{10, 2, 4}), 80);
  EXPECT_THROW(rung_budget(kCfg, -1), Error);
}

// srnas plan's count of the trials that train at each rung: n, ceil(n / eta), ...
TEST(Asha, RungTrialsForPlanning) {
  EXPECT_EQ(rung_trials(8, AshaConfig{60, 2, 2}), (std::vector<int64_t>{8, 4}));
  EXPECT_EQ(rung_trials(10, AshaConfig{100, 3, 3}), (std::vector<int64_t>{10, 4, 2}));  // ceil(10/3), ceil(4/3)
  EXPECT_EQ(rung_trials(300, AshaConfig{1000, 3, 4}), (std::vector<int64_t>{300, 100, 34, 12}));
  EXPECT_EQ(rung_trials(1, AshaConfig{10, 3, 3}), (std::vector<int64_t>{1, 1, 1}));
  EXPECT_EQ(rung_trials(0, AshaConfig{10, 3, 2}), (std::vector<int64_t>{0, 0}));
  EXPECT_EQ(rung_trials(5, AshaConfig{10, 3, 1}), (std::vector<int64_t>{5}));
}

TEST(Asha, FirstTrialIsPromoted) {
  AshaDecision d = asha_decide({}, 1, 0, 20.0, kCfg);
  EXPECT_TRUE(d.promote);
  EXPECT_EQ(d.reason, "");
  // Its own record (already holding this rung) does not compete with it.
  d = asha_decide({reached(1, {{0, 20.0}})}, 1, 0, 20.0, kCfg);
  EXPECT_TRUE(d.promote);
}

TEST(Asha, FewerThanEtaPromotesOnlyTheBestSoFar) {
  std::vector<TrialRecord> h{reached(1, {{0, 25.0}})};
  EXPECT_FALSE(asha_decide(h, 2, 0, 24.0, kCfg).promote);
  EXPECT_TRUE(asha_decide(h, 2, 0, 25.0, kCfg).promote);  // ties promote
  EXPECT_TRUE(asha_decide(h, 2, 0, 25.5, kCfg).promote);
}

TEST(Asha, ThirdWorseTrialIsRefusedWithTheReason) {
  std::vector<TrialRecord> h{reached(1, {{0, 25.0}}), reached(2, {{0, 26.0}, {1, 27.0}})};
  AshaDecision d = asha_decide(h, 3, 0, 24.0, kCfg);
  EXPECT_FALSE(d.promote);
  EXPECT_EQ(d.reason, "successive halving: rung 0 PSNR 24.00 dB below the top 1/3 (needs >= 26.00 dB of 3)");
  EXPECT_TRUE(asha_decide(h, 3, 0, 26.5, kCfg).promote);
}

TEST(Asha, TopThirdOfSeven) {
  // floor(7/3) = 2: needs the second best of the seven values.
  std::vector<TrialRecord> h;
  int64_t id = 1;
  for (double v : {25.0, 24.55, 24.3, 23.9, 23.0, 22.0}) h.push_back(reached(id++, {{0, v}}));
  h.push_back(reached(id++, {{0, 40.0}}, /*baseline=*/true));  // baselines never compete
  h.push_back(reached(id++, {}));                               // did not reach rung 0 yet
  AshaDecision d = asha_decide(h, 100, 0, 24.10, kCfg);
  EXPECT_FALSE(d.promote);
  EXPECT_EQ(d.reason, "successive halving: rung 0 PSNR 24.10 dB below the top 1/3 (needs >= 24.55 dB of 7)");
  EXPECT_TRUE(asha_decide(h, 100, 0, 24.55, kCfg).promote);
  // Rung 1 has its own competitors: none here, so the first is promoted.
  EXPECT_TRUE(asha_decide(h, 100, 1, 10.0, kCfg).promote);
}

TEST(Asha, LastRungNeverPromotes) {
  AshaDecision d = asha_decide({}, 1, 2, 35.0, kCfg);
  EXPECT_FALSE(d.promote);
  EXPECT_EQ(d.reason, "");
  d = asha_decide({}, 1, 0, 35.0, AshaConfig{100, 3, 1});
  EXPECT_FALSE(d.promote);
  EXPECT_EQ(d.reason, "");
}

TEST(Asha, ParseConfig) {
  AshaConfig c = parse_asha_config(nlohmann::json{{"min_budget", 100}, {"eta", 3}, {"rungs", 3}}, "asha");
  EXPECT_EQ(c.min_budget, 100);
  EXPECT_EQ(c.eta, 3);
  EXPECT_EQ(c.rungs, 3);
  c = parse_asha_config(nlohmann::json{{"min_budget", 5000000000LL}}, "asha");
  EXPECT_EQ(c.min_budget, 5000000000LL);
  EXPECT_EQ(c.eta, 3);
  EXPECT_EQ(c.rungs, 1);
  EXPECT_EQ(error_of([] { parse_asha_config(nlohmann::json{{"eta", 3}}, "asha"); }),
            "asha: missing required key 'min_budget'");
  EXPECT_EQ(error_of([] { parse_asha_config(nlohmann::json{{"min_budget", 0}}, "asha"); }),
            "asha.min_budget: expected an integer >= 1, got number 0");
  EXPECT_EQ(error_of([] { parse_asha_config(nlohmann::json{{"min_budget", "100"}}, "asha"); }),
            "asha.min_budget: expected an integer >= 1, got string '100'");
  EXPECT_NE(error_of([] { parse_asha_config(nlohmann::json{{"min_budget", 1}, {"eta", 1}}, "asha"); })
                .find("asha.eta: expected an integer in [2, "),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_asha_config(nlohmann::json{{"min_budget", 1}, {"rungs", 0}}, "asha"); })
                .find("asha.rungs: expected an integer in [1, "),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_asha_config(nlohmann::json{{"min_budget", 1}, {"eta", 2.5}}, "asha"); })
                .find("asha.eta: expected an integer"),
            std::string::npos);
  EXPECT_EQ(error_of([] { parse_asha_config(nlohmann::json{{"min_budget", 1}, {"etta", 2}}, "asha"); }),
            "asha: unknown key 'etta'");
  EXPECT_NE(error_of([] { parse_asha_config(nlohmann::json{{"min_budget", 1000}, {"eta", 1000}, {"rungs", 64}}, "asha"); })
                .find("overflows"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_asha_config(nlohmann::json::array(), "asha"); }).find("asha: expected an object"),
            std::string::npos);
}
