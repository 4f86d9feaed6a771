// Retrains: kept out of the search's tracks and Pareto front, compared among themselves at
// matched settings (retrain_groups), every number checked by hand.
#include <cmath>

#include <gtest/gtest.h>

#include "analysis/fidelity.h"
#include "analysis/retrains.h"
#include "analysis/tracks.h"
#include "search_space/error.h"
#include "../support/trials.h"

using namespace srnas;
using srnas::testing::ids;

namespace {

TrialRecord search(int64_t id, double psnr, int64_t params, double ratio, bool baseline = false) {
  TrialRecord t;
  t.id = id;
  t.number = id - 1;
  t.state = TrialState::Complete;
  t.psnr_rgb = psnr;
  t.psnr_y = psnr + 1;
  t.params = params;
  t.runtime_ratio = ratio;
  t.is_baseline = baseline;
  return t;
}

// A COMPLETE retrain of `parent` at `iterations` with `seed` (settings as retrain_settings writes them).
TrialRecord retrain(int64_t id, const TrialRecord& parent, double psnr, double ratio, int iterations, int seed,
                    TrialState s = TrialState::Complete, const std::string& lr = "0.0002") {
  TrialRecord t = parent;
  t.id = id;
  t.number = id - 1;
  t.is_baseline = false;
  t.parent_id = parent.id;
  t.state = s;
  t.psnr_rgb = psnr;
  t.psnr_y = psnr + 1;
  t.runtime_ratio = ratio;
  t.train_json = "{\"device\":\"cpu\",\"train\":{\"iterations\":" + std::to_string(iterations) + ",\"lr\":" + lr +
                 ",\"seed\":" + std::to_string(seed) + "}}";
  return t;
}

}  // namespace

TEST(Retrains, NeverRankAgainstTheSearchBaseline) {
  const TrialRecord base = search(1, 25.0, 1000, 1.0, true), a = search(2, 24.5, 500, 0.5);
  // Trained 10x longer, both retrains beat the search baseline's 25.0 dB: the search's tracks
  // must not rank them (nor the baseline's own retrain as a candidate).
  const std::vector<TrialRecord> ts = {base, a, retrain(3, base, 27.0, 1.0, 1000, 0), retrain(4, a, 26.5, 0.5, 1000, 0)};
  TracksReport r = rank_tracks(ts);
  ASSERT_TRUE(r.baseline);
  EXPECT_EQ(r.baseline->id, 1);
  for (const auto& tr : r.tracks) {
    EXPECT_TRUE(tr.ranked.empty() || tr.track == 3) << tr.track;
    for (const auto& u : tr.unranked) EXPECT_EQ(u.trial.id, 2);
  }
  EXPECT_EQ(ids(r.tracks[2].ranked), (std::vector<int64_t>{2}));  // 24.5 dB: params and runtime within
  EXPECT_EQ(ids(pareto_trials(ts, {Objective::PSNR, Objective::Params, Objective::Runtime})),
            (std::vector<int64_t>{1, 2}));
  EXPECT_FALSE(track_winner(ts, 1));
  EXPECT_EQ(search_trials(ts).size(), 2u);
}

TEST(Retrains, GroupsMeansSpreadsAndTheTracksByHand) {
  const TrialRecord base = search(1, 25.0, 1000, 1.0, true), a = search(2, 24.5, 500, 0.5),
                    b = search(3, 24.9, 2000, 0.4), c = search(4, 24.0, 300, 0.3);
  const std::vector<TrialRecord> ts = {
      base, a, b, c,
      // 1000 iterations, lr 0.0002: the baseline (2 seeds), a (3 seeds), b (1 seed), c (a FAILED run only)
      retrain(5, base, 28.0, 1.0, 1000, 1), retrain(6, base, 28.2, 1.0, 1000, 2),
      retrain(7, a, 28.3, 0.5, 1000, 1), retrain(8, a, 28.1, 0.7, 1000, 2), retrain(9, a, 28.5, 0.6, 1000, 3),
      retrain(10, b, 27.9, 0.4, 1000, 1), retrain(11, c, 30.0, 0.3, 1000, 1, TrialState::Failed),
      // another lr at the same budget: its own group, no baseline
      retrain(12, a, 29.0, 0.5, 1000, 1, TrialState::Complete, "0.001"),
      // settings not recorded (a DB written before schema 3)
      [&] { TrialRecord t = retrain(13, a, 27.0, 0.5, 1000, 1); t.train_json = ""; return t; }(),
  };
  const std::vector<RetrainGroup> g = retrain_groups(ts);
  ASSERT_EQ(g.size(), 3u);

  const RetrainGroup& g0 = g[0];
  EXPECT_EQ(g0.label, "1000 iterations on cpu");
  EXPECT_EQ(g0.iterations, 1000);
  EXPECT_EQ(g0.device, "cpu");
  EXPECT_EQ(g0.settings_json, R"({"device":"cpu","train":{"iterations":1000,"lr":0.0002}})");
  ASSERT_TRUE(g0.baseline);
  EXPECT_EQ(g0.baseline->parent.id, 1);
  EXPECT_EQ(ids(g0.baseline->runs), (std::vector<int64_t>{5, 6}));
  EXPECT_NEAR(g0.baseline->psnr_rgb_mean, 28.1, 1e-12);
  EXPECT_NEAR(g0.baseline->psnr_rgb_sd, std::sqrt(0.02), 1e-12);  // (0.01 + 0.01) / (2 - 1)
  ASSERT_EQ(g0.arms.size(), 2u);  // c has no COMPLETE run
  const RetrainArm& arm_a = g0.arms[0];
  EXPECT_EQ(arm_a.parent.id, 2);
  EXPECT_EQ(arm_a.seeds.size(), 3u);
  EXPECT_EQ(arm_a.seeds[2], 3u);
  EXPECT_NEAR(arm_a.psnr_rgb_mean, 28.3, 1e-12);
  EXPECT_NEAR(arm_a.psnr_rgb_sd, 0.2, 1e-12);  // (0 + 0.04 + 0.04) / 2
  EXPECT_NEAR(arm_a.psnr_y_mean, 29.3, 1e-12);
  EXPECT_NEAR(arm_a.runtime_ratio_mean, 0.6, 1e-12);
  EXPECT_EQ(arm_a.params, 500);
  ASSERT_TRUE(arm_a.delta_db && arm_a.delta_se_db);
  EXPECT_NEAR(*arm_a.delta_db, 0.2, 1e-12);
  EXPECT_NEAR(*arm_a.delta_se_db, std::sqrt(0.04 / 3 + 0.02 / 2), 1e-12);
  const RetrainArm& arm_b = g0.arms[1];
  EXPECT_EQ(arm_b.parent.id, 3);
  EXPECT_NEAR(*arm_b.delta_db, -0.2, 1e-12);
  EXPECT_FALSE(arm_b.delta_se_db) << "one run: no standard error";
  EXPECT_EQ(arm_b.psnr_rgb_sd, 0.0);
  // Tracks on the means against the baseline's retrains (28.1 dB, 1000 params, ratio 1.0):
  // a (28.3 dB, 500, 0.6) is eligible everywhere; b (27.9 dB, 2000 params, 0.4) nowhere but
  // Track 3 needs params <= 1000 too.
  EXPECT_EQ(ids(g0.tracks[0].ranked), (std::vector<int64_t>{2}));
  EXPECT_EQ(ids(g0.tracks[1].ranked), (std::vector<int64_t>{2}));
  EXPECT_EQ(ids(g0.tracks[2].ranked), (std::vector<int64_t>{2}));
  ASSERT_EQ(g0.tracks[0].unranked.size(), 1u);
  EXPECT_EQ(g0.tracks[0].unranked[0].trial.id, 3);
  EXPECT_EQ(g0.tracks[0].unranked[0].reason, "PSNR 27.900 dB < baseline 28.100 dB");
  EXPECT_EQ(g0.tracks[2].unranked[0].reason, "params 2000 > baseline 1000");
  EXPECT_NEAR(*g0.tracks[0].ranked[0].psnr_rgb, 28.3, 1e-12) << "ranked on the arm's mean";
  // What srnas export --retrained ships: the track's arm, its best run (28.5 dB, seed 3).
  EXPECT_EQ(g0.number, 1);
  for (int track : {1, 2, 3}) {
    ASSERT_TRUE(g0.winner(track)) << track;
    EXPECT_EQ(g0.winner(track), &g0.arms[0]);
  }
  EXPECT_EQ(arm_a.best_run().id, 9);
  EXPECT_EQ(arm_b.best_run().id, 10);
  EXPECT_EQ(g0.baseline->best_run().id, 6);
  EXPECT_THROW(g0.winner(4), Error);
  for (const auto& t : g0.tracks) EXPECT_EQ(t.not_beaten, "") << "arm a beats the baseline's retrains everywhere";
  {  // a group's winner that only meets the baseline arm's constraints on its own track is said so
    const std::vector<TrialRecord> weak = {base, a, retrain(3, base, 28.0, 1.0, 10, 1), retrain(4, a, 27.5, 0.5, 10, 1)};
    const RetrainGroup w = retrain_groups(weak)[0];
    EXPECT_EQ(ids(w.tracks[2].ranked), (std::vector<int64_t>{2}));
    EXPECT_EQ(w.tracks[2].not_beaten, "no trial beats the baseline's PSNR (28.000 dB): the winner, trial 2, only meets "
                                      "its constraints");
  }
  {  // equal PSNR: the first run by number
    const std::vector<TrialRecord> tie = {base, a, retrain(3, a, 28.0, 0.5, 10, 1), retrain(4, a, 28.0, 0.5, 10, 2)};
    EXPECT_EQ(retrain_groups(tie)[0].arms[0].best_run().id, 3);
  }

  const RetrainGroup& g1 = g[1];
  EXPECT_EQ(g1.label, "1000 iterations on cpu (lr 0.001)");
  EXPECT_FALSE(g1.baseline);
  EXPECT_EQ(g1.number, 2);
  EXPECT_EQ(g1.winner(1), nullptr) << "no baseline: nothing ranked, nothing to export";
  ASSERT_EQ(g1.arms.size(), 1u);
  EXPECT_FALSE(g1.arms[0].delta_db);
  for (const auto& tr : g1.tracks) {
    EXPECT_TRUE(tr.ranked.empty());
    ASSERT_EQ(tr.unranked.size(), 1u);
    EXPECT_EQ(tr.unranked[0].reason, "no retrain of the baseline with these settings to compare with");
  }

  EXPECT_EQ(g[2].number, 3);
  EXPECT_EQ(g[2].label, "settings not recorded");
  EXPECT_EQ(g[2].settings_json, "");
  EXPECT_FALSE(g[2].iterations);
  ASSERT_EQ(g[2].arms.size(), 1u);
  EXPECT_EQ(g[2].arms[0].seeds[0], std::nullopt);

  EXPECT_TRUE(retrain_groups({base, a, b}).empty());

  // Fidelity pairs each retrained genome once per group: its search PSNR with its mean.
  const std::vector<FidelityRow> f = fidelity(ts);
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(f[0].from, "search");
  EXPECT_EQ(f[0].to, "retrain 1000 iterations on cpu");
  EXPECT_EQ(f[0].pairs, 3);  // baseline 25.0 -> 28.1, a 24.5 -> 28.3, b 24.9 -> 27.9
  EXPECT_NEAR(*f[0].rho, -0.5, 1e-12);  // ranks 3,1,2 vs 2,3,1: 1 - 6 * 6 / 24
  EXPECT_NEAR(f[0].mean_gain_db, (3.1 + 3.8 + 3.0) / 3, 1e-12);
  EXPECT_EQ(f[1].to, "retrain 1000 iterations on cpu (lr 0.001)");
  EXPECT_EQ(f[2].to, "retrain settings not recorded");
}

TEST(Retrains, MeanAndSampleStandardDeviation) {
  auto [m, sd] = mean_sd({2, 4, 4, 4, 5, 5, 7, 9});
  EXPECT_DOUBLE_EQ(m, 5.0);
  EXPECT_NEAR(sd, std::sqrt(32.0 / 7.0), 1e-12);
  EXPECT_EQ(mean_sd({3.5}), std::make_pair(3.5, 0.0));
  EXPECT_THROW(mean_sd({}), Error);
}
