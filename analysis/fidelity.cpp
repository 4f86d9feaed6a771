#include "analysis/fidelity.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include <fmt/format.h>

#include "analysis/retrains.h"

namespace srnas {

namespace {

// The finite pairs of (x, y).
void finite_pairs(const std::vector<double>& x, const std::vector<double>& y, std::vector<double>& a,
                  std::vector<double>& b) {
  for (size_t i = 0; i < std::min(x.size(), y.size()); ++i)
    if (std::isfinite(x[i]) && std::isfinite(y[i])) a.push_back(x[i]), b.push_back(y[i]);
}

// 1-based ranks, ties sharing their average rank.
std::vector<double> average_ranks(const std::vector<double>& v) {
  std::vector<size_t> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](size_t i, size_t j) { return v[i] < v[j]; });
  std::vector<double> r(v.size());
  for (size_t i = 0; i < idx.size();) {
    size_t j = i;
    while (j + 1 < idx.size() && v[idx[j + 1]] == v[idx[i]]) ++j;
    const double avg = (double(i) + double(j)) / 2.0 + 1.0;
    for (size_t k = i; k <= j; ++k) r[idx[k]] = avg;
    i = j + 1;
  }
  return r;
}

std::optional<double> pearson(const std::vector<double>& a, const std::vector<double>& b) {
  const double n = double(a.size());
  const double ma = std::accumulate(a.begin(), a.end(), 0.0) / n, mb = std::accumulate(b.begin(), b.end(), 0.0) / n;
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  if (saa <= 0 || sbb <= 0) return std::nullopt;
  return sab / std::sqrt(saa * sbb);
}

std::string opt(const std::optional<double>& v) { return v ? fmt::format("{:+.3f}", *v) : "-"; }

}  // namespace

std::optional<double> spearman_rho(const std::vector<double>& x, const std::vector<double>& y) {
  std::vector<double> a, b;
  finite_pairs(x, y, a, b);
  if (a.size() < 3) return std::nullopt;
  return pearson(average_ranks(a), average_ranks(b));
}

std::optional<double> kendall_tau_b(const std::vector<double>& x, const std::vector<double>& y) {
  std::vector<double> a, b;
  finite_pairs(x, y, a, b);
  if (a.size() < 3) return std::nullopt;
  double concordant = 0, discordant = 0, ties_a = 0, ties_b = 0;
  for (size_t i = 0; i < a.size(); ++i)
    for (size_t j = i + 1; j < a.size(); ++j) {
      const double da = a[i] - a[j], db = b[i] - b[j];
      if (da == 0 && db == 0) {
        ++ties_a, ++ties_b;
      } else if (da == 0) {
        ++ties_a;
      } else if (db == 0) {
        ++ties_b;
      } else {
        (da * db > 0 ? concordant : discordant) += 1;
      }
    }
  const double n0 = double(a.size()) * double(a.size() - 1) / 2.0;
  const double denom = std::sqrt((n0 - ties_a) * (n0 - ties_b));
  if (denom <= 0) return std::nullopt;
  return (concordant - discordant) / denom;
}

std::vector<FidelityRow> fidelity(const std::vector<TrialRecord>& trials) {
  std::map<int, int64_t> rung_budget;  // the budget final candidates ended with, per rung
  for (const auto& t : trials)
    if (!t.is_baseline && !t.parent_id && t.budget > 0 &&
        (t.state == TrialState::Complete || t.state == TrialState::Pruned))
      rung_budget[t.rung] = std::max(rung_budget[t.rung], t.budget);
  auto label = [&](int r) {
    auto b = rung_budget.find(r);
    return b != rung_budget.end() ? fmt::format("rung {} ({} it)", r, b->second) : fmt::format("rung {}", r);
  };
  auto row = [](std::string from, std::string to, const std::vector<double>& x, const std::vector<double>& y) {
    FidelityRow f;
    f.from = std::move(from);
    f.to = std::move(to);
    std::vector<double> a, b;
    finite_pairs(x, y, a, b);
    f.pairs = int(a.size());
    for (size_t i = 0; i < a.size(); ++i) f.mean_gain_db += (b[i] - a[i]) / double(a.size());
    f.rho = spearman_rho(a, b);
    f.tau = kendall_tau_b(a, b);
    return f;
  };
  std::vector<FidelityRow> out;
  int max_rung = -1;
  for (const auto& t : trials)
    if (!t.is_baseline && !t.parent_id && !t.rung_psnr.empty()) max_rung = std::max(max_rung, t.rung_psnr.rbegin()->first);
  for (int r = 0; r < max_rung; ++r) {
    std::vector<double> x, y;
    for (const auto& t : trials) {
      if (t.is_baseline || t.parent_id) continue;
      auto a = t.rung_psnr.find(r), b = t.rung_psnr.find(r + 1);
      if (a != t.rung_psnr.end() && b != t.rung_psnr.end()) x.push_back(a->second), y.push_back(b->second);
    }
    FidelityRow f = row(label(r), label(r + 1), x, y);
    if (f.pairs > 0) out.push_back(std::move(f));
  }
  // Search -> retrain: one pair per retrained genome and settings (the mean over its seeds).
  const std::vector<RetrainGroup> groups = retrain_groups(trials);
  for (const RetrainGroup& g : groups) {
    std::vector<double> x, y;
    for (const RetrainArm* a : g.every_arm()) {
      if (!a->parent.psnr_rgb) continue;
      x.push_back(*a->parent.psnr_rgb);
      y.push_back(a->psnr_rgb_mean);
    }
    FidelityRow f = row("search", groups.size() == 1 ? "retrain" : "retrain " + g.label, x, y);
    if (f.pairs > 0) out.push_back(std::move(f));
  }
  return out;
}

std::string fidelity_table(const std::vector<FidelityRow>& rows) {
  if (rows.empty()) return "no trial was measured at two budgets\n";
  size_t wf = 18, wt = 18;  // columns as wide as their longest label
  for (const auto& r : rows) wf = std::max(wf, r.from.size()), wt = std::max(wt, r.to.size());
  std::string s = fmt::format("{:<{}} {:<{}} {:>5} {:>7} {:>7} {:>10}\n", "from", wf, "to", wt, "pairs", "rho", "tau-b",
                              "gain dB");
  for (const auto& r : rows)
    s += fmt::format("{:<{}} {:<{}} {:>5} {:>7} {:>7} {:>+10.3f}\n", r.from, wf, r.to, wt, r.pairs, opt(r.rho),
                     opt(r.tau), r.mean_gain_db);
  return s;
}

}  // namespace srnas
