// Pareto utilities (dominance, non-dominated sorting, crowding, exact hypervolume),
// shared by the NSGA-II sampler, analysis and the replay benchmark.
//
// Contract: a point is a vector of objectives, all MINIMISED (callers negate PSNR), of one
// dimension per call and without NaN. Identical points never dominate each other. Results
// are pure functions of the input; index lists are ascending.
#pragma once

#include <cstddef>
#include <vector>

namespace srnas {

using Point = std::vector<double>;

// a <= b in every objective and a < b in at least one.
bool dominates(const Point& a, const Point& b);

// Indices of the non-dominated points (identical points are all kept).
// O(n log n) for 2 objectives, O(n * front) otherwise.
std::vector<size_t> pareto_front(const std::vector<Point>& points);

// NSGA-II non-dominated sorting: fronts[0] = pareto_front(points), fronts[k+1] = the
// front of what remains. Every index appears in exactly one front. O(n^2) time, O(n) memory.
std::vector<std::vector<size_t>> non_dominated_sort(const std::vector<Point>& points);

// NSGA-II crowding distance of each member of `front` (same order as `front`). Fronts of
// one or two points are all infinite; otherwise, per objective with a non-zero range over
// the front, the two boundary points are infinite and interior points add
// (next - previous) / range. Objectives with zero range contribute 0.
std::vector<double> crowding_distance(const std::vector<Point>& points, const std::vector<size_t>& front);

// Exact hypervolume dominated by `points` and bounded by `ref` (a point is counted only in
// the region where it is strictly better than ref in every objective). 2D: O(n log n).
double hypervolume_2d(const std::vector<Point>& points, const Point& ref);
// Any dimension: 1 and 2 directly, 3 by slicing (O(n^2)), more by recursive slicing
// (exponential in the dimension; fine for a few hundred points). Throws srnas::Error
// on a dimension mismatch.
double hypervolume(const std::vector<Point>& points, const Point& ref);

}  // namespace srnas
