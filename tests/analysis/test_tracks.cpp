// Tracks and Pareto over hand-made trials, checked against the challenge's rules by hand.
#include <gtest/gtest.h>

#include "analysis/tracks.h"
#include "search_space/error.h"
#include "../support/trials.h"

using namespace srnas;
using srnas::testing::ids;

namespace {

TrialRecord trial(int64_t id, double psnr, int64_t params, double ratio, bool baseline = false,
                  TrialState s = TrialState::Complete) {
  TrialRecord t;
  t.id = id;
  t.number = id;
  t.psnr_rgb = psnr;
  t.params = params;
  t.runtime_ratio = ratio;
  t.is_baseline = baseline;
  t.state = s;
  return t;
}

}  // namespace

TEST(Tracks, RulesOfTheChallenge) {
  std::vector<TrialRecord> ts = {
      trial(1, 25.0, 1000, 1.0, true),  // baseline
      trial(2, 25.5, 500, 0.5),         // better everywhere: in all three tracks
      trial(3, 24.0, 300, 0.3),         // lower PSNR: only track 3 (params and runtime fine)
      trial(4, 26.0, 2000, 0.8),        // more params: only track 1 (PSNR and runtime fine)
      trial(5, 25.2, 900, 1.2),         // slower: only track 2
      trial(6, 30.0, 10, 0.1, false, TrialState::Pruned),
  };
  TracksReport r = rank_tracks(ts);
  ASSERT_TRUE(r.baseline);
  EXPECT_EQ(r.baseline->id, 1);
  EXPECT_EQ(ids(r.tracks[0].ranked), (std::vector<int64_t>{2, 4}));  // fewest params first
  EXPECT_EQ(ids(r.tracks[1].ranked), (std::vector<int64_t>{2, 5}));  // lowest runtime first
  EXPECT_EQ(ids(r.tracks[2].ranked), (std::vector<int64_t>{2, 3}));  // best PSNR first
  ASSERT_EQ(r.tracks[0].unranked.size(), 2u);
  EXPECT_EQ(r.tracks[0].unranked[0].reason, "PSNR 24.000 dB < baseline 25.000 dB");
  EXPECT_EQ(r.tracks[0].unranked[1].reason, "runtime ratio 1.200 > baseline 1.000");
  EXPECT_EQ(r.tracks[1].unranked[1].reason, "params 2000 > baseline 1000");
  EXPECT_EQ(track_winner(ts, 1)->id, 2);
  EXPECT_THROW(track_winner(ts, 4), Error);
  for (const auto& t : r.tracks) EXPECT_EQ(t.not_beaten, "") << t.track;  // trial 2 beats it everywhere
}

// A winner no better than the baseline on the track's own measure is said not to beat it.
TEST(Tracks, AWinnerThatDoesNotBeatTheBaselineIsNamed) {
  std::vector<TrialRecord> ts = {
      trial(1, 25.0, 1000, 1.0, true),  // baseline
      trial(2, 24.0, 1000, 0.5),        // faster, but PSNR below the baseline's: track 3 only
      trial(3, 25.5, 1000, 1.0),        // the baseline's params and runtime, higher PSNR: all three
  };
  TracksReport r = rank_tracks(ts);
  EXPECT_EQ(ids(r.tracks[0].ranked), (std::vector<int64_t>{3}));
  EXPECT_EQ(r.tracks[0].not_beaten, "no trial beats the baseline's params (1000): the winner, trial 3, only meets "
                                    "its constraints");
  EXPECT_EQ(r.tracks[1].not_beaten, "no trial beats the baseline's runtime ratio (1.000): the winner, trial 3, "
                                    "only meets its constraints");
  EXPECT_EQ(ids(r.tracks[2].ranked), (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(r.tracks[2].not_beaten, "");  // trial 3: 25.5 dB
  ts[2].psnr_rgb = 24.5;
  r = rank_tracks(ts);
  EXPECT_EQ(r.tracks[2].not_beaten, "no trial beats the baseline's PSNR (25.000 dB): the winner, trial 3, only "
                                    "meets its constraints");
}

// A miss smaller than the printed digits is still said, with its size, not as "25.000 < 25.000".
TEST(Tracks, AMissBelowThePrintedDigitsShowsItsSize) {
  const TracksReport r = rank_tracks({trial(1, 25.0, 1000, 1.0, true), trial(2, 25.0 - 1e-5, 500, 1.000002)});
  ASSERT_EQ(r.tracks[0].unranked.size(), 1u);
  EXPECT_EQ(r.tracks[0].unranked[0].reason, "PSNR 25.000 dB < baseline 25.000 dB (by 1e-05 dB)");
  EXPECT_EQ(r.tracks[2].unranked[0].reason, "runtime ratio 1.000 > baseline 1.000 (by 2e-06)");
}

TEST(Tracks, NoBaselineNothingRanked) {
  TracksReport r = rank_tracks({trial(2, 25.5, 500, 0.5)});
  EXPECT_FALSE(r.baseline);
  EXPECT_TRUE(r.tracks[0].ranked.empty());
  EXPECT_EQ(r.tracks[0].unranked.at(0).reason, "no COMPLETE baseline in the study");
}

TEST(Tracks, BicubicFloorWarnsOnlyWhenTheBaselineIsBelowIt) {
  TracksReport r = rank_tracks({trial(1, 25.0, 1000, 1.0, true), trial(2, 25.5, 500, 0.5)});
  set_bicubic_floor(r, 24.9, 26.1);
  EXPECT_EQ(*r.bicubic_psnr_rgb, 24.9);
  EXPECT_EQ(*r.bicubic_psnr_y, 26.1);
  EXPECT_EQ(r.floor_warning, "");
  set_bicubic_floor(r, 25.0, 26.1);
  EXPECT_EQ(r.floor_warning, "") << "equal is not below";
  set_bicubic_floor(r, 25.25, 26.4);
  EXPECT_EQ(r.floor_warning,
            "the baseline's PSNR-RGB 25.000 dB is below bicubic's 25.250 dB: it trained too briefly for "
            "\"PSNR >= baseline\" to mean more than interpolation (raise the training budget)");
  EXPECT_EQ(ids(r.tracks[0].ranked), (std::vector<int64_t>{2})) << "the floor ranks nothing";
  set_bicubic_floor(r, std::nullopt, std::nullopt);
  EXPECT_FALSE(r.bicubic_psnr_rgb);
  EXPECT_EQ(r.floor_warning, "");
  TracksReport none = rank_tracks({trial(2, 25.5, 500, 0.5)});
  set_bicubic_floor(none, 30.0, 31.0);
  EXPECT_EQ(none.floor_warning, "") << "no baseline, nothing to warn about";
}

TEST(Pareto, TrialsOnChosenObjectives) {
  std::vector<TrialRecord> ts = {trial(1, 25.0, 1000, 1.0, true), trial(2, 25.5, 500, 0.5), trial(3, 24.0, 300, 0.3),
                                 trial(4, 26.0, 2000, 0.8), trial(5, 25.2, 900, 1.2),
                                 trial(6, 30.0, 10, 0.1, false, TrialState::Failed)};
  EXPECT_EQ(ids(pareto_trials(ts, parse_objectives("psnr,params,runtime"))), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(ids(pareto_trials(ts, parse_objectives("psnr,params"))), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(ids(pareto_trials(ts, parse_objectives("params"))), (std::vector<int64_t>{3}));
  EXPECT_EQ(ids(pareto_trials(ts, parse_objectives("psnr"))), (std::vector<int64_t>{4}));
  // MACs order the trials otherwise than params: trial 3 has the fewest params but the most
  // MACs (wide, shallow in HR space), trial 5 the fewest MACs; trial 4 beats 1, 2 and 3 on both.
  const int64_t macs[] = {8'000'000, 5'000'000, 9'000'000, 4'000'000, 1'000'000, 1};
  for (size_t i = 0; i < ts.size(); ++i) ts[i].macs = macs[i];
  EXPECT_EQ(ids(pareto_trials(ts, parse_objectives("psnr,macs"))), (std::vector<int64_t>{4, 5}));
  EXPECT_EQ(ids(pareto_trials(ts, parse_objectives("macs"))), (std::vector<int64_t>{5}));
  EXPECT_EQ(ids(pareto_trials(ts, parse_objectives("macs,psnr,params,runtime"))), (std::vector<int64_t>{2, 3, 4, 5}));
  ts[4].macs.reset();  // a trial recorded without MACs: not on a front that needs them
  EXPECT_EQ(ids(pareto_trials(ts, parse_objectives("psnr,macs"))), (std::vector<int64_t>{4}));
  EXPECT_EQ(ids(pareto_trials(ts, parse_objectives("psnr,params"))), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(to_string(Objective::Macs), "macs");
  EXPECT_THROW(parse_objectives("psnr,speed"), Error);
  EXPECT_THROW(parse_objectives("psnr,psnr"), Error);
  EXPECT_THROW(parse_objectives(""), Error);
}
