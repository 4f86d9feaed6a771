#include "analysis/importance.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "search_space/error.h"
#include "search_space/genome.h"
#include "search_space/yaml_json.h"

namespace srnas {

ImportanceObjective importance_objective_from_string(const std::string& s, const std::string& where) {
  if (s == "psnr") return ImportanceObjective::Psnr;
  if (s == "params") return ImportanceObjective::Params;
  if (s == "macs") return ImportanceObjective::Macs;
  if (s == "runtime") return ImportanceObjective::Runtime;
  throw Error(fmt::format("{}: expected psnr, params, macs or runtime, got '{}'", where, s));
}

namespace {

std::optional<double> objective_of(const TrialRecord& t, ImportanceObjective o) {
  switch (o) {
    case ImportanceObjective::Psnr: {
      auto it = t.rung_psnr.find(0);
      if (it != t.rung_psnr.end() && std::isfinite(it->second)) return it->second;
      if (t.state == TrialState::Complete && t.rung_psnr.empty() && t.psnr_rgb) return *t.psnr_rgb;
      return std::nullopt;
    }
    case ImportanceObjective::Params:
      if (t.params && *t.params > 0) return std::log10(double(*t.params));
      return std::nullopt;
    case ImportanceObjective::Macs:
      if (t.macs && *t.macs > 0) return std::log10(double(*t.macs));
      return std::nullopt;
    case ImportanceObjective::Runtime:
      if (t.runtime_ratio && *t.runtime_ratio > 0 && std::isfinite(*t.runtime_ratio))
        return std::log10(*t.runtime_ratio);
      return std::nullopt;
  }
  return std::nullopt;
}

const char* measure_of(ImportanceObjective o) {
  switch (o) {
    case ImportanceObjective::Psnr: return "PSNR-RGB (dB) at the first budget";
    case ImportanceObjective::Params: return "log10(params)";
    case ImportanceObjective::Macs: return "log10(MACs)";
    case ImportanceObjective::Runtime: return "log10(runtime ratio)";
  }
  return "";
}

// Whether gene i matters for this point: the next value of it gives another network.
bool active(const Space& space, const std::vector<int>& values, size_t i, const std::string& hash) {
  const int n = int(space.genes()[i].labels.size());
  if (n < 2) return false;
  std::vector<int> other = values;
  other[i] = (values[i] + 1) % n;
  try {
    return genome_hash(space.decode(other)) != hash;
  } catch (const Error&) {
    return true;  // another value is not even a valid network: the gene decides something
  }
}

// Sum of squares of the group means about the grand mean, groups keyed by key(row).
template <typename Rows, typename Key>
double ss_between(const Rows& rows, double mean, Key key, int* groups) {
  std::map<decltype(key(rows[0])), std::pair<int, double>> by;
  for (const auto& row : rows) {
    auto& g = by[key(row)];
    g.first += 1;
    g.second += row.y;
  }
  double ss = 0;
  for (const auto& [k, g] : by) {
    const double m = g.second / g.first;
    ss += g.first * (m - mean) * (m - mean);
  }
  if (groups) *groups = int(by.size());
  return ss;
}

template <typename Row>
std::vector<PairInteraction> pair_interactions_impl(const Space& space, const std::vector<Row>& all) {
  std::vector<PairInteraction> out;
  const size_t genes = space.genes().size();
  for (size_t a = 0; a < genes; ++a) {
    for (size_t b = a + 1; b < genes; ++b) {
      std::vector<const Row*> both;
      for (const Row& row : all)
        if (row.active[a] && row.active[b]) both.push_back(&row);
      const int n = int(both.size());
      if (n < 4) continue;
      struct Y {
        int va, vb;
        double y;
      };
      std::vector<Y> ys;
      double sum = 0;
      for (const Row* row : both) {
        ys.push_back({row->values[a], row->values[b], row->y});
        sum += row->y;
      }
      const double mean = sum / n;
      double ss_total = 0;
      for (const Y& y : ys) ss_total += (y.y - mean) * (y.y - mean);
      if (!(ss_total > 1e-12 * std::max(1.0, mean * mean) * n)) continue;
      int ka = 0, kb = 0, cells = 0;
      const double ss_a = ss_between(ys, mean, [](const Y& y) { return y.va; }, &ka);
      const double ss_b = ss_between(ys, mean, [](const Y& y) { return y.vb; }, &kb);
      const double ss_cells = ss_between(ys, mean, [](const Y& y) { return std::make_pair(y.va, y.vb); }, &cells);
      const int df = cells - ka - kb + 1;
      if (ka < 2 || kb < 2 || df < 1 || n <= cells) continue;
      const double ss_ab = ss_cells - ss_a - ss_b;
      const double ms_within = (ss_total - ss_cells) / (n - cells);
      PairInteraction p;
      p.a = space.genes()[a].name;
      p.b = space.genes()[b].name;
      p.n = n;
      p.cells = cells;
      p.df = df;
      p.eta2 = std::clamp(ss_ab / ss_total, 0.0, 1.0);
      p.eps2 = (ss_ab - df * ms_within) / ss_total;
      out.push_back(p);
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const PairInteraction& x, const PairInteraction& y) { return x.eps2 > y.eps2; });
  return out;
}

}  // namespace

ImportanceReport gene_importance(const Space& space, const std::vector<TrialRecord>& trials,
                                 ImportanceObjective objective, const std::string& sampler) {
  ImportanceReport r;
  r.objective = objective;
  r.measure = measure_of(objective);
  const size_t genes = space.genes().size();
  // Per gene: (value index, objective) of the candidates in which it is active.
  std::vector<std::vector<std::pair<int, double>>> points(genes);
  // Per candidate: its values, which genes are active, the objective (for the pairs).
  struct Row {
    std::vector<int> values;
    std::vector<bool> active;
    double y = 0;
  };
  std::vector<Row> rows;
  for (const TrialRecord& t : trials) {
    if (t.is_baseline || is_retrain(t)) continue;
    const std::optional<double> y = objective_of(t, objective);
    if (!y) continue;
    std::vector<int> values;
    std::string hash;
    try {
      const Genome g = genome_from_string(t.genome_json);
      values = space.encode(g);
      const Genome decoded = space.decode(values);
      // An enqueued reference that differs from its encoding in the space's fixed parts
      // (krahaon's encode ignores block types): not a point of the space (as the samplers see it).
      if (decoded != g) throw Error("outside the space");
      hash = genome_hash(decoded);
    } catch (const Error&) {
      ++r.outside_space;
      continue;
    }
    ++r.candidates;
    Row row{values, std::vector<bool>(genes, false), *y};
    for (size_t i = 0; i < genes; ++i) {
      row.active[i] = active(space, values, i, hash);
      if (row.active[i]) points[i].push_back({values[i], *y});
    }
    rows.push_back(std::move(row));
  }
  r.pairs = pair_interactions_impl(space, rows);

  int thin = 0;
  for (size_t i = 0; i < genes; ++i) {
    const Gene& gene = space.genes()[i];
    GeneImportance gi;
    gi.gene = gene.name;
    gi.n = int(points[i].size());
    std::map<int, std::pair<int, double>> by_value;  // value -> (n, sum)
    double sum = 0;
    for (const auto& [v, y] : points[i]) {
      by_value[v].first += 1;
      by_value[v].second += y;
      sum += y;
    }
    for (const auto& [v, ns] : by_value) gi.levels.push_back({gene.labels[size_t(v)], ns.first, ns.second / ns.first});
    const int k = int(by_value.size());
    if (gi.n > 0 && k >= 2) {
      const double mean = sum / gi.n;
      double ss_total = 0, ss_between = 0;
      for (const auto& [v, y] : points[i]) ss_total += (y - mean) * (y - mean);
      for (const auto& [v, ns] : by_value) {
        const double m = ns.second / ns.first;
        ss_between += ns.first * (m - mean) * (m - mean);
      }
      if (ss_total > 1e-12 * std::max(1.0, mean * mean) * gi.n) {
        gi.eta2 = std::clamp(ss_between / ss_total, 0.0, 1.0);
        if (gi.n > k) {
          const double ms_within = (ss_total - ss_between) / (gi.n - k);
          gi.eps2 = (ss_between - (k - 1) * ms_within) / ss_total;
        }
      }
      thin += gi.n < 5 * k;
    }
    r.genes.push_back(std::move(gi));
  }
  // By epsilon^2: eta^2 alone ranks a gene whose every value was seen once at 1.
  auto tier = [](const GeneImportance& g) { return g.eps2 ? 0 : g.eta2 ? 1 : 2; };
  std::stable_sort(r.genes.begin(), r.genes.end(), [&](const GeneImportance& a, const GeneImportance& b) {
    if (tier(a) != tier(b)) return tier(a) < tier(b);
    if (a.eps2) return *a.eps2 > *b.eps2;
    return a.eta2 && *a.eta2 > *b.eta2;
  });

  if (r.candidates == 0) r.notes.push_back("no candidate has this objective measured");
  if (r.outside_space > 0)
    r.notes.push_back(fmt::format("{} candidate(s) outside the space (enqueued references) left out", r.outside_space));
  if (thin > 0)
    r.notes.push_back(fmt::format("{} gene(s) have fewer than 5 candidates per value: eta^2 overstates their share "
                                  "(epsilon^2 corrects for it and can be negative)",
                                  thin));
  if (!sampler.empty() && sampler != "random")
    r.notes.push_back(fmt::format("sampler {} concentrates on good regions, so genes are correlated: each eta^2 also "
                                  "carries the genes that moved with it (a random-search study gives clean main effects)",
                                  sampler));
  return r;
}

std::string importance_table(const ImportanceReport& r, int pairs) {
  std::ostringstream out;
  auto share = [](const std::optional<double>& v) { return v ? fmt::format("{:.3f}", *v) : std::string("-"); };
  const int digits = r.objective == ImportanceObjective::Psnr ? 2 : 3;
  out << fmt::format("{:<16} {:>5} {:>6} {:>7} {:>7}   {}\n", "gene", "n", "values", "eta^2", "eps^2",
                     "mean per value (n)");
  for (const GeneImportance& g : r.genes) {
    std::string levels;
    for (const GeneLevel& l : g.levels)
      levels += fmt::format("{}{}: {:.{}f} ({})", levels.empty() ? "" : ", ", l.label, l.mean, digits, l.n);
    out << fmt::format("{:<16} {:>5} {:>6} {:>7} {:>7}   {}\n", g.gene, g.n, g.levels.size(), share(g.eta2),
                       share(g.eps2), levels.empty() ? "-" : levels);
  }
  if (pairs > 0 && !r.pairs.empty()) {
    out << fmt::format("\n{:<33} {:>5} {:>6} {:>4} {:>7} {:>7}   (two-way: beyond both genes' own effects)\n",
                       "interaction", "n", "cells", "df", "eta^2", "eps^2");
    for (size_t i = 0; i < r.pairs.size() && int(i) < pairs; ++i) {
      const PairInteraction& p = r.pairs[i];
      out << fmt::format("{:<33} {:>5} {:>6} {:>4} {:>7.3f} {:>7.3f}\n", p.a + " x " + p.b, p.n, p.cells, p.df, p.eta2,
                         p.eps2);
    }
  }
  for (const std::string& n : r.notes) out << "note: " << n << "\n";
  return out.str();
}

std::string study_sampler_type(const StudyRecord& study) {
  try {
    const nlohmann::json cfg = yaml_to_json(study.config_yaml, study.name);
    return cfg.contains("sampler") ? cfg["sampler"].value("type", "random") : "random";
  } catch (const std::exception&) {
    return "?";
  }
}

}  // namespace srnas
