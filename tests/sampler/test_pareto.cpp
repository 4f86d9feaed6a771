// Pareto utilities against brute force, hand-computed examples and exact grid counts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "sampler/pareto.h"
#include "search_space/error.h"
#include "search_space/rng.h"

using namespace srnas;

namespace {

std::vector<size_t> brute_front(const std::vector<Point>& pts) {
  std::vector<size_t> out;
  for (size_t i = 0; i < pts.size(); ++i) {
    bool dominated = false;
    for (size_t j = 0; j < pts.size() && !dominated; ++j) dominated = dominates(pts[j], pts[i]);
    if (!dominated) out.push_back(i);
  }
  return out;
}

// Random points on a small integer grid (many ties) plus exact duplicates of earlier points.
std::vector<Point> random_points(Rng& rng, size_t n, size_t d, int grid) {
  std::vector<Point> pts;
  for (size_t i = 0; i < n; ++i) {
    if (!pts.empty() && rng.below(5) == 0) {
      pts.push_back(pts[rng.below(pts.size())]);
      continue;
    }
    Point p;
    for (size_t k = 0; k < d; ++k) p.push_back(double(rng.below(grid)));
    pts.push_back(p);
  }
  return pts;
}

const double kInf = std::numeric_limits<double>::infinity();

}  // namespace

TEST(Pareto, Dominates) {
  EXPECT_TRUE(dominates({1, 2}, {1, 3}));
  EXPECT_TRUE(dominates({0, 0, 0}, {1, 1, 1}));
  EXPECT_FALSE(dominates({1, 2}, {1, 2}));  // identical: neither dominates
  EXPECT_FALSE(dominates({1, 3}, {2, 2}));
  EXPECT_FALSE(dominates({2, 2}, {1, 3}));
}

TEST(Pareto, FrontEqualsBruteForceOnRandomSets) {
  Rng rng(2024);
  for (int set = 0; set < 200; ++set) {
    const size_t d = set % 2 ? 3 : 2;
    const int grid = set % 3 == 0 ? 4 : 20;  // coarse grids give many ties
    std::vector<Point> pts = random_points(rng, 1 + rng.below(80), d, grid);
    EXPECT_EQ(pareto_front(pts), brute_front(pts)) << "set " << set << " d " << d;
  }
  EXPECT_TRUE(pareto_front({}).empty());
  EXPECT_EQ(pareto_front({{1, 1}, {1, 1}, {2, 0}, {2, 2}}), (std::vector<size_t>{0, 1, 2}));
  EXPECT_EQ(pareto_front({{1, 1, 1}, {1, 1, 1}, {0, 2, 2}, {2, 2, 2}}), (std::vector<size_t>{0, 1, 2}));
  EXPECT_THROW(pareto_front({{1, 1}, {1, 1, 1}}), Error);
}

TEST(Pareto, NonDominatedSortFrontsAreLayers) {
  Rng rng(7);
  for (int set = 0; set < 100; ++set) {
    const size_t d = 2 + set % 3;
    std::vector<Point> pts = random_points(rng, 1 + rng.below(60), d, set % 2 ? 5 : 30);
    auto fronts = non_dominated_sort(pts);
    std::vector<int> seen(pts.size(), 0);
    for (const auto& f : fronts)
      for (size_t i : f) seen[i]++;
    EXPECT_TRUE(std::all_of(seen.begin(), seen.end(), [](int c) { return c == 1; })) << "every point in one front";
    ASSERT_FALSE(fronts.empty());
    EXPECT_EQ(fronts[0], pareto_front(pts));
    for (size_t k = 0; k < fronts.size(); ++k) {
      ASSERT_FALSE(fronts[k].empty());
      for (size_t a : fronts[k])
        for (size_t b : fronts[k]) EXPECT_FALSE(dominates(pts[a], pts[b])) << "front " << k;
      if (k + 1 < fronts.size())
        for (size_t b : fronts[k + 1]) {
          bool by_previous = false;
          for (size_t a : fronts[k]) by_previous |= dominates(pts[a], pts[b]);
          EXPECT_TRUE(by_previous) << "front " << k + 1;
        }
    }
  }
}

TEST(Pareto, CrowdingDistanceByHand) {
  // x range 4, y range 5. (1,3): (3-0)/4 + (5-1)/5 = 1.55; (3,1): (4-1)/4 + (3-0)/5 = 1.35.
  std::vector<Point> pts{{9, 9}, {0, 5}, {1, 3}, {3, 1}, {4, 0}};
  auto cd = crowding_distance(pts, {1, 2, 3, 4});
  ASSERT_EQ(cd.size(), 4u);
  EXPECT_EQ(cd[0], kInf);
  EXPECT_NEAR(cd[1], 1.55, 1e-12);
  EXPECT_NEAR(cd[2], 1.35, 1e-12);
  EXPECT_EQ(cd[3], kInf);
  // A zero-range objective contributes nothing.
  std::vector<Point> flat{{0, 1}, {1, 1}, {3, 1}};
  cd = crowding_distance(flat, {2, 1, 0});
  EXPECT_EQ(cd[0], kInf);
  EXPECT_NEAR(cd[1], 1.0, 1e-12);
  EXPECT_EQ(cd[2], kInf);
  // One or two points: infinite.
  EXPECT_EQ(crowding_distance(pts, {2}), (std::vector<double>{kInf}));
  EXPECT_EQ(crowding_distance(pts, {2, 3}), (std::vector<double>{kInf, kInf}));
  EXPECT_TRUE(crowding_distance(pts, {}).empty());
}

TEST(Pareto, HypervolumeByHand) {
  EXPECT_DOUBLE_EQ(hypervolume_2d({{1, 1}}, {2, 2}), 1.0);
  EXPECT_DOUBLE_EQ(hypervolume_2d({{0, 1}, {1, 0}}, {2, 2}), 3.0);
  EXPECT_DOUBLE_EQ(hypervolume_2d({{0, 1}, {1, 0}, {1, 1}, {0, 1}}, {2, 2}), 3.0);  // dominated, duplicate
  EXPECT_DOUBLE_EQ(hypervolume_2d({{3, 0}, {0, 2}, {2, 2}}, {2, 2}), 0.0);  // not strictly inside ref
  EXPECT_DOUBLE_EQ(hypervolume_2d({}, {2, 2}), 0.0);
  EXPECT_DOUBLE_EQ(hypervolume({{0, 1}, {1, 0}}, {2, 2}), 3.0);
  // Unit cube, and three 2x2x1 slabs: 3*4 - 3*2 + 1 = 7.
  EXPECT_DOUBLE_EQ(hypervolume({{0, 0, 0}}, {1, 1, 1}), 1.0);
  EXPECT_DOUBLE_EQ(hypervolume({{0, 0, 1}, {0, 1, 0}, {1, 0, 0}}, {2, 2, 2}), 7.0);
  EXPECT_DOUBLE_EQ(hypervolume({{0, 0, 1}, {0, 1, 0}, {1, 0, 0}, {1, 1, 1}, {0, 0, 1}}, {2, 2, 2}), 7.0);
  EXPECT_DOUBLE_EQ(hypervolume({{0.5, 0.5, 0.5}}, {1, 1, 1}), 0.125);
  EXPECT_DOUBLE_EQ(hypervolume({{0, 0, 0, 0}}, {1, 1, 1, 1}), 1.0);
  EXPECT_DOUBLE_EQ(hypervolume({{0}, {0.25}}, {1}), 1.0);
  EXPECT_THROW(hypervolume({{0, 0}}, {1, 1, 1}), Error);
  EXPECT_THROW(hypervolume_2d({{0, 0, 0}}, {1, 1, 1}), Error);
}

// Integer points in [0, g)^d with ref g: the exact volume is the number of unit cells whose
// lower corner is weakly dominated by some point.
TEST(Pareto, HypervolumeEqualsExactGridCount) {
  Rng rng(99);
  for (int set = 0; set < 100; ++set) {
    const size_t d = 2 + set % 3;
    const int g = 6;
    std::vector<Point> pts = random_points(rng, 1 + rng.below(25), d, g);
    size_t cells = 1;
    for (size_t k = 0; k < d; ++k) cells *= g;
    double count = 0;
    for (size_t c = 0; c < cells; ++c) {
      Point corner;
      for (size_t k = 0, r = c; k < d; ++k, r /= g) corner.push_back(double(r % g));
      for (const auto& p : pts) {
        bool weak = true;
        for (size_t k = 0; k < d && weak; ++k) weak = p[k] <= corner[k];
        if (weak) {
          count += 1;
          break;
        }
      }
    }
    EXPECT_DOUBLE_EQ(hypervolume(pts, Point(d, double(g))), count) << "set " << set << " d " << d;
    if (d == 2) {
      EXPECT_DOUBLE_EQ(hypervolume_2d(pts, Point(d, double(g))), count);
    }
  }
}

TEST(Pareto, HypervolumeMatchesMonteCarlo) {
  Rng rng(5);
  for (int set = 0; set < 8; ++set) {
    const size_t d = set % 2 ? 3 : 2;
    std::vector<Point> pts;
    const size_t n = 5 + rng.below(40);
    for (size_t i = 0; i < n; ++i) {
      Point p;
      for (size_t k = 0; k < d; ++k) p.push_back(rng.uniform());
      pts.push_back(p);
    }
    const Point ref(d, 1.1);
    const int samples = 100000;
    int hit = 0;
    for (int s = 0; s < samples; ++s) {
      Point x;
      for (size_t k = 0; k < d; ++k) x.push_back(1.1 * rng.uniform());
      for (const auto& p : pts) {
        bool in = true;
        for (size_t k = 0; k < d && in; ++k) in = p[k] <= x[k];
        if (in) {
          ++hit;
          break;
        }
      }
    }
    const double box = std::pow(1.1, double(d)), p = double(hit) / samples;
    const double estimate = box * p, sigma = box * std::sqrt(p * (1 - p) / samples);
    EXPECT_NEAR(hypervolume(pts, ref), estimate, 5 * sigma + 1e-9) << "set " << set << " d " << d;
  }
}

TEST(Pareto, LargeSetsAreFast) {
  Rng rng(1);
  std::vector<Point> pts;
  for (int i = 0; i < 3000; ++i) {
    double a = rng.uniform(), b = rng.uniform();
    pts.push_back({a, b, 2.0 - a - b + 0.1 * rng.uniform()});  // a large front
  }
  auto front = pareto_front(pts);
  EXPECT_GT(front.size(), 100u);
  const double hv = hypervolume(pts, {1.5, 1.5, 2.5});
  EXPECT_GT(hv, 0.0);
  std::vector<Point> f;
  for (size_t i : front) f.push_back(pts[i]);
  EXPECT_NEAR(hypervolume(f, {1.5, 1.5, 2.5}), hv, 1e-9) << "dominated points add nothing";
  EXPECT_EQ(non_dominated_sort(pts)[0], front);
}
