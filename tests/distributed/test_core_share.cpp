// share_cores (distributed/core_share.h): how `cores: adaptive` splits a node's cores between
// the ranks that train, hand-computed cases.
#include <gtest/gtest.h>

#include "distributed/core_share.h"
#include "search_space/error.h"

using srnas::RankActivity;
using srnas::RankCores;
using srnas::share_cores;
constexpr auto I = RankActivity::Idle, P = RankActivity::Probe, T = RankActivity::Train;

namespace {
// n ranks on node `id` with `cores` cores, each allowed on every core (mpirun --bind-to none)
// unless cap says otherwise, sharing them evenly when all are busy.
std::vector<RankCores> node(int n, int cores, int id = 0, int cap = 0) {
  return std::vector<RankCores>(size_t(n), RankCores{id, cores, cap > 0 ? cap : cores, std::max(1, cores / n)});
}
std::vector<RankCores> operator+(std::vector<RankCores> a, const std::vector<RankCores>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
}  // namespace

TEST(CoreShare, EveryRankBusyKeepsTheSharedCount) {
  // one node, 16 cores, 8 ranks: 2 each
  EXPECT_EQ(share_cores(node(8, 16), {T, T, T, P, T, T, P, T}), (std::vector<int>{2, 2, 2, 2, 2, 2, 2, 2}));
}

TEST(CoreShare, IdleRanksLendTheirCoresToTrainingRanksOfTheirNode) {
  // 2 cores, 2 ranks, rank 1 idle: rank 0 trains on both (the tail of a study on this VM)
  EXPECT_EQ(share_cores(node(2, 2), {T, I}), (std::vector<int>{2, 0}));
  EXPECT_EQ(share_cores(node(2, 2), {I, T}), (std::vector<int>{0, 2}));
  // 16 cores, 8 ranks, 3 training: 16 / 3 = 5 rest 1, the lowest rank gets the extra core
  EXPECT_EQ(share_cores(node(8, 16), {I, T, I, I, T, I, T, I}), (std::vector<int>{0, 6, 0, 0, 5, 0, 5, 0}));
}

TEST(CoreShare, ProbingRanksKeepTheSharedCountAndTheRestIsSplit) {
  // 16 cores: 2 probes keep 2 each, 12 left for 2 training ranks
  EXPECT_EQ(share_cores(node(8, 16), {P, T, P, T, I, I, I, I}), (std::vector<int>{2, 6, 2, 6, 0, 0, 0, 0}));
  // 2 cores: rank 0 probes on 1, rank 1 trains on the other
  EXPECT_EQ(share_cores(node(2, 2), {P, T}), (std::vector<int>{1, 1}));
}

TEST(CoreShare, CoresAreNeverLentAcrossNodes) {
  // two nodes of 4 cores, 2 ranks each: node 0 has an idle rank, node 2 has none
  EXPECT_EQ(share_cores(node(2, 4, 0) + node(2, 4, 2), {T, I, T, T}), (std::vector<int>{4, 0, 2, 2}));
  // a node whose ranks are all idle lends nothing to the other
  EXPECT_EQ(share_cores(node(2, 4, 0) + node(2, 4, 2), {I, I, T, I}), (std::vector<int>{0, 0, 4, 0}));
}

TEST(CoreShare, ARankBoundToFewerCoresStaysWithinThem) {
  // mpirun's default binding: each rank on one core, nothing to lend
  EXPECT_EQ(share_cores(node(2, 2, 0, 1), {T, I}), (std::vector<int>{1, 0}));
  // bound to a 4-core socket of an 8-core node: at most 4
  EXPECT_EQ(share_cores(node(4, 8, 0, 4), {T, I, I, I}), (std::vector<int>{4, 0, 0, 0}));
}

TEST(CoreShare, NeverBelowTheSharedCount) {
  // oversubscribed node (more ranks than cores): shared = 1, everyone keeps 1
  EXPECT_EQ(share_cores(node(3, 2), {T, T, T}), (std::vector<int>{1, 1, 1}));
  EXPECT_EQ(share_cores(node(3, 2), {P, P, T}), (std::vector<int>{1, 1, 1}));
}

TEST(CoreShare, MismatchedListsAreAnError) {
  EXPECT_THROW(share_cores(node(2, 2), {T}), srnas::Error);
}
