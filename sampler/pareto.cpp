#include "sampler/pareto.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <utility>

#include <fmt/format.h>

#include "search_space/error.h"

namespace srnas {

namespace {

// Indices 0..n-1 sorted lexicographically by point (ties: by index). A point's dominators
// always come before it in this order (they are <= everywhere and differ somewhere).
std::vector<size_t> lex_order(const std::vector<Point>& points) {
  std::vector<size_t> idx(points.size());
  std::iota(idx.begin(), idx.end(), size_t(0));
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return points[a] < points[b]; });
  return idx;
}

void check_dims(const std::vector<Point>& points, size_t d, const char* what) {
  for (size_t i = 0; i < points.size(); ++i)
    if (points[i].size() != d)
      throw Error(fmt::format("{}: point {} has {} objectives, expected {}", what, i, points[i].size(), d));
}

// Points strictly better than ref in every objective.
std::vector<Point> inside(const std::vector<Point>& points, const Point& ref) {
  std::vector<Point> out;
  for (const auto& p : points) {
    bool in = true;
    for (size_t k = 0; k < ref.size() && in; ++k) in = p[k] < ref[k];
    if (in) out.push_back(p);
  }
  return out;
}

// 2D hypervolume of points already inside ref.
double hv2(std::vector<Point> pts, double rx, double ry) {
  std::sort(pts.begin(), pts.end());
  double area = 0, prev_y = ry;
  for (const auto& p : pts)
    if (p[1] < prev_y) {
      area += (rx - p[0]) * (prev_y - p[1]);
      prev_y = p[1];
    }
  return area;
}

// 3D by slicing along z, keeping the 2D staircase of the points seen so far.
double hv3(std::vector<Point> pts, const Point& ref) {
  std::sort(pts.begin(), pts.end(), [](const Point& a, const Point& b) { return a[2] < b[2]; });
  std::vector<std::pair<double, double>> stair;  // x ascending, y strictly descending
  double vol = 0;
  for (size_t i = 0; i < pts.size(); ++i) {
    const double x = pts[i][0], y = pts[i][1];
    auto it = std::lower_bound(stair.begin(), stair.end(), std::make_pair(x, -std::numeric_limits<double>::infinity()));
    // Dominated (or equalled) in 2D by a point with x' <= x: the one just before `it`, or at `it` if x' == x.
    bool covered = false;
    if (it != stair.end() && it->first == x && it->second <= y) covered = true;
    if (it != stair.begin() && std::prev(it)->second <= y) covered = true;
    if (!covered) {
      auto end = it;
      while (end != stair.end() && end->second >= y) ++end;  // x' >= x and y' >= y: now dominated
      it = stair.erase(it, end);
      stair.insert(it, {x, y});
    }
    const double next_z = i + 1 < pts.size() ? pts[i + 1][2] : ref[2];
    if (next_z > pts[i][2]) {
      double area = 0, prev_y = ref[1];
      for (const auto& s : stair) {
        area += (ref[0] - s.first) * (prev_y - s.second);
        prev_y = s.second;
      }
      vol += area * (next_z - pts[i][2]);
    }
  }
  return vol;
}

double hv_any(std::vector<Point> pts, const Point& ref) {
  const size_t d = ref.size();
  if (pts.empty()) return 0;
  if (d == 1) {
    double m = ref[0];
    for (const auto& p : pts) m = std::min(m, p[0]);
    return ref[0] - m;
  }
  if (d == 2) return hv2(std::move(pts), ref[0], ref[1]);
  if (d == 3) return hv3(std::move(pts), ref);
  std::sort(pts.begin(), pts.end(), [d](const Point& a, const Point& b) { return a[d - 1] < b[d - 1]; });
  const Point sub_ref(ref.begin(), ref.end() - 1);
  std::vector<Point> seen;
  double vol = 0;
  for (size_t i = 0; i < pts.size(); ++i) {
    seen.emplace_back(pts[i].begin(), pts[i].end() - 1);
    const double next = i + 1 < pts.size() ? pts[i + 1][d - 1] : ref[d - 1];
    if (next > pts[i][d - 1]) {
      std::vector<Point> front;
      for (size_t k : pareto_front(seen)) front.push_back(seen[k]);
      seen = front;
      vol += hv_any(front, sub_ref) * (next - pts[i][d - 1]);
    }
  }
  return vol;
}

}  // namespace

bool dominates(const Point& a, const Point& b) {
  bool strictly = false;
  for (size_t k = 0; k < a.size(); ++k) {
    if (a[k] > b[k]) return false;
    if (a[k] < b[k]) strictly = true;
  }
  return strictly;
}

std::vector<size_t> pareto_front(const std::vector<Point>& points) {
  if (points.empty()) return {};
  const size_t d = points[0].size();
  check_dims(points, d, "pareto_front");
  const std::vector<size_t> order = lex_order(points);
  std::vector<size_t> front;
  if (d == 2) {
    // Groups of equal x in ascending x, each sorted by y: a group's minimal-y points survive
    // iff that y is below every y of the groups before (which all have smaller x).
    double best_y = std::numeric_limits<double>::infinity();
    for (size_t i = 0; i < order.size();) {
      const double x = points[order[i]][0], y = points[order[i]][1];
      size_t j = i;
      while (j < order.size() && points[order[j]][0] == x) ++j;
      if (y < best_y) {
        for (size_t k = i; k < j && points[order[k]][1] == y; ++k) front.push_back(order[k]);
        best_y = y;
      }
      i = j;
    }
  } else {
    // A dominated point's dominators come before it, and one of them is non-dominated.
    for (size_t i : order) {
      bool dominated = false;
      for (size_t f : front)
        if (dominates(points[f], points[i])) {
          dominated = true;
          break;
        }
      if (!dominated) front.push_back(i);
    }
  }
  std::sort(front.begin(), front.end());
  return front;
}

std::vector<std::vector<size_t>> non_dominated_sort(const std::vector<Point>& points) {
  if (points.empty()) return {};
  check_dims(points, points[0].size(), "non_dominated_sort");
  // Front of p = length of the longest chain of dominators ending at p; equals Deb's
  // peeling, computed in lexicographic order where dominators always come first.
  const std::vector<size_t> order = lex_order(points);
  std::vector<size_t> rank(points.size(), 0);
  size_t max_rank = 0;
  for (size_t a = 0; a < order.size(); ++a) {
    const size_t p = order[a];
    for (size_t b = 0; b < a; ++b) {
      const size_t q = order[b];
      if (rank[q] + 1 > rank[p] && dominates(points[q], points[p])) rank[p] = rank[q] + 1;
    }
    max_rank = std::max(max_rank, rank[p]);
  }
  std::vector<std::vector<size_t>> fronts(max_rank + 1);
  for (size_t i = 0; i < points.size(); ++i) fronts[rank[i]].push_back(i);
  return fronts;
}

std::vector<double> crowding_distance(const std::vector<Point>& points, const std::vector<size_t>& front) {
  const size_t n = front.size();
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> dist(n, 0.0);
  if (n <= 2) return std::vector<double>(n, inf);
  const size_t d = points[front[0]].size();
  std::vector<size_t> pos(n);
  for (size_t k = 0; k < d; ++k) {
    std::iota(pos.begin(), pos.end(), size_t(0));
    std::stable_sort(pos.begin(), pos.end(),
                     [&](size_t a, size_t b) { return points[front[a]][k] < points[front[b]][k]; });
    const double lo = points[front[pos.front()]][k], hi = points[front[pos.back()]][k];
    const double range = hi - lo;
    if (!(range > 0)) continue;
    dist[pos.front()] = inf;
    dist[pos.back()] = inf;
    for (size_t i = 1; i + 1 < n; ++i)
      dist[pos[i]] += (points[front[pos[i + 1]]][k] - points[front[pos[i - 1]]][k]) / range;
  }
  return dist;
}

double hypervolume_2d(const std::vector<Point>& points, const Point& ref) {
  if (ref.size() != 2) throw Error(fmt::format("hypervolume_2d: reference has {} objectives, expected 2", ref.size()));
  check_dims(points, 2, "hypervolume_2d");
  return hv2(inside(points, ref), ref[0], ref[1]);
}

double hypervolume(const std::vector<Point>& points, const Point& ref) {
  check_dims(points, ref.size(), "hypervolume");
  return hv_any(inside(points, ref), ref);
}

}  // namespace srnas
