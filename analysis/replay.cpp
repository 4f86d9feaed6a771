#include "analysis/replay.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "analysis/plots.h"
#include "sampler/pareto.h"
#include "sampler/sampler.h"
#include "search_space/error.h"
#include "search_space/genome.h"
#include "search_space/space.h"

namespace srnas {

namespace fs = std::filesystem;

namespace {

bool finite(const std::optional<double>& v) { return v && std::isfinite(*v); }

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

// Keeps `front` non-dominated after adding p; false when p adds nothing (dominated or equal).
bool add_to_front(std::vector<Point>& front, const Point& p) {
  for (const auto& q : front)
    if (q == p || dominates(q, p)) return false;
  front.erase(std::remove_if(front.begin(), front.end(), [&](const Point& q) { return dominates(p, q); }), front.end());
  front.push_back(p);
  return true;
}

}  // namespace

LookupTable lookup_table(const std::vector<TrialRecord>& trials, const std::string& space_name,
                         const std::string& where) {
  LookupTable table;
  table.space = space_name;
  try {
    table.space_def = Space::load(space_name);
  } catch (const std::exception& e) {
    rethrow_with(fmt::format("{}: replay: space '{}'", where, space_name), e);
  }
  const Space* space = table.space_def.get();
  std::vector<TrialRecord> sorted = trials;
  std::stable_sort(sorted.begin(), sorted.end(), [](const TrialRecord& a, const TrialRecord& b) {
    return a.number != b.number ? a.number < b.number : a.id < b.id;
  });
  std::unordered_set<std::string> hashes;
  for (const auto& t : sorted)
    if (t.is_baseline) {
      table.baselines.push_back(t);
      hashes.insert(t.genome_hash);  // never a candidate: the sampler never proposes it
    }
  for (const auto& t : sorted) {
    if (t.is_baseline || t.parent_id) continue;
    LookupEntry e;
    e.trial = t;
    e.complete = t.state == TrialState::Complete && finite(t.psnr_rgb) && t.params && finite(t.runtime_ratio);
    const bool infeasible =
        t.state == TrialState::Pruned && (starts_with(t.reason, "constraint: ") || starts_with(t.reason, "limit: "));
    if (!e.complete && !infeasible) continue;
    if (!hashes.insert(t.genome_hash).second) continue;
    try {
      e.genes = space->encode(genome_from_string(t.genome_json));
    } catch (const std::exception&) {
      e.genes.clear();
    }
    table.entries.push_back(std::move(e));
  }
  if (table.entries.empty())
    throw Error(fmt::format("{}: replay: no COMPLETE or constraint- or limit-PRUNED candidate recorded: nothing to replay", where));

  // Normalisation over the recorded COMPLETE set.
  table.lo.assign(3, std::numeric_limits<double>::infinity());
  table.hi.assign(3, -std::numeric_limits<double>::infinity());
  auto raw = [](const TrialRecord& t) { return Point{-*t.psnr_rgb, double(*t.params), *t.runtime_ratio}; };
  for (const auto& e : table.entries)
    if (e.complete) {
      Point p = raw(e.trial);
      for (size_t k = 0; k < 3; ++k) table.lo[k] = std::min(table.lo[k], p[k]), table.hi[k] = std::max(table.hi[k], p[k]);
    }
  for (auto& e : table.entries)
    if (e.complete) {
      e.objectives = raw(e.trial);
      for (size_t k = 0; k < 3; ++k)
        e.objectives[k] = table.hi[k] > table.lo[k] ? (e.objectives[k] - table.lo[k]) / (table.hi[k] - table.lo[k]) : 0.0;
    }
  table.ref.assign(3, 1.01);
  return table;
}

std::string lookup_table_json(const LookupTable& table) {
  const Space* space = table.space_def.get();
  auto opt = [](const auto& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
  nlohmann::json genes = nlohmann::json::array(), baselines = nlohmann::json::array(),
                 entries = nlohmann::json::array();
  for (const auto& g : space->genes()) genes.push_back({{"name", g.name}, {"labels", g.labels}});
  for (const auto& t : table.baselines)
    baselines.push_back(
        {{"trial", t.id}, {"psnr_rgb", opt(t.psnr_rgb)}, {"params", opt(t.params)}, {"runtime_ratio", opt(t.runtime_ratio)}});
  for (const auto& e : table.entries)
    entries.push_back({{"trial", e.trial.id},
                       {"number", e.trial.number},
                       {"genome_hash", e.trial.genome_hash},
                       {"genes", e.genes},
                       {"complete", e.complete},
                       {"psnr_rgb", opt(e.trial.psnr_rgb)},
                       {"params", opt(e.trial.params)},
                       {"runtime_ratio", opt(e.trial.runtime_ratio)},
                       {"objectives", e.objectives}});
  nlohmann::json j = {{"space", table.space},
                      {"kind", space->kind()},
                      {"genes", genes},
                      {"objectives", {"-psnr_rgb", "params", "runtime_ratio"}},
                      {"lo", table.lo},
                      {"hi", table.hi},
                      {"ref", table.ref},
                      {"baselines", baselines},
                      {"entries", entries}};
  return j.dump(1) + "\n";
}

ReplayCurve replay(const std::vector<TrialRecord>& trials, const std::string& space_name, const ReplayOptions& opt,
                   const std::string& where) {
  const std::vector<std::string>& types = sampler_types();
  if (std::find(types.begin(), types.end(), opt.sampler) == types.end())
    throw Error(fmt::format("{}: replay: sampler expected one of {}; got '{}'", where, fmt::join(types, ", "), opt.sampler));
  if (opt.seeds < 1 || opt.budget < 0 || opt.workers < 1)
    throw Error(fmt::format("{}: replay: expected seeds >= 1, budget >= 0 and workers >= 1, got {}, {} and {}", where,
                            opt.seeds, opt.budget, opt.workers));
  SamplerConfig sc;
  sc.type = opt.sampler;
  sc.population = opt.population;
  sc.tournament = opt.tournament;
  sc.n_startup = opt.population;  // tpe starts like the others: random until `population` COMPLETE
  sc.constant_liar = opt.constant_liar;
  sc.multivariate = opt.multivariate;
  std::unique_ptr<Sampler> sampler;
  try {
    sampler = make_sampler(sc);
  } catch (const std::exception& e) {
    rethrow_with(where + ": replay", e);
  }
  const LookupTable table = lookup_table(trials, space_name, where);
  const Space* space = table.space_def.get();
  const std::vector<LookupEntry>& entries = table.entries;
  const std::vector<TrialRecord>& start = table.baselines;
  Constraints cons;
  std::unordered_map<std::string, size_t> by_hash;
  for (const auto& t : start) {
    by_hash.emplace(t.genome_hash, SIZE_MAX);  // never a candidate: the sampler never proposes it
    if (t.state == TrialState::Complete && t.params && finite(t.runtime_ratio) && finite(t.psnr_rgb)) {
      cons.max_params = t.params;
      cons.max_runtime_ratio = t.runtime_ratio;
      cons.min_psnr = t.psnr_rgb;
    }
  }
  cons = opt.limits.tighten(cons);
  const std::function<bool(const Genome&)> admissible = opt.limits.admissible(opt.macs_h, opt.macs_w);
  for (size_t i = 0; i < entries.size(); ++i) by_hash.emplace(entries[i].trial.genome_hash, i);
  const size_t n = entries.size();
  const size_t budget = opt.budget == 0 ? n : std::min(n, size_t(opt.budget));
  const Point ref = table.ref;

  ReplayCurve c;
  c.sampler = opt.sampler;
  if (opt.sampler == "tpe" && (opt.multivariate || opt.constant_liar))
    c.sampler += opt.multivariate && opt.constant_liar ? " (multivariate, constant liar)"
                 : opt.multivariate                    ? " (multivariate)"
                                                       : " (constant liar)";
  for (int seed = 0; seed < opt.seeds; ++seed) {
    std::vector<TrialRecord> history = start;
    std::vector<bool> used(n, false);
    std::vector<Point> front;
    std::vector<double> curve;
    std::vector<int64_t> order;
    double hv = 0;
    std::vector<TrialRecord> seen;  // what the sampler sees: the last workers-1 picks still running
    for (size_t k = 0; k < budget; ++k) {
      seen = history;
      for (size_t i = seen.size() - std::min(size_t(opt.workers - 1), order.size()); i < seen.size(); ++i) {
        seen[i].state = TrialState::Running;
        seen[i].psnr_rgb.reset();
        seen[i].psnr_y.reset();
        seen[i].reason.clear();
      }
      SamplerContext ctx{*space, seen, cons, uint64_t(seed), int64_t(history.size())};
      ctx.admissible = admissible;
      const auto t0 = std::chrono::steady_clock::now();
      std::optional<Genome> g = sampler->propose(ctx);
      c.propose_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      size_t pick = SIZE_MAX;
      if (g) {
        auto it = by_hash.find(genome_hash(*g));
        if (it != by_hash.end() && it->second != SIZE_MAX && !used[it->second]) pick = it->second;
      }
      if (pick == SIZE_MAX && g) {  // nearest unevaluated recorded genome; entries are by number
        std::vector<int> genes;
        try {
          genes = space->encode(*g);
        } catch (const std::exception&) {
        }
        size_t best_d = SIZE_MAX;
        for (size_t i = 0; i < n; ++i) {
          if (used[i]) continue;
          size_t d = genes.size() + 1;
          if (!genes.empty() && entries[i].genes.size() == genes.size()) {
            d = 0;
            for (size_t j = 0; j < genes.size(); ++j) d += entries[i].genes[j] != genes[j];
          }
          if (d < best_d) best_d = d, pick = i;
        }
      }
      if (pick == SIZE_MAX)
        for (size_t i = 0; i < n && pick == SIZE_MAX; ++i)
          if (!used[i]) pick = i;
      used[pick] = true;
      TrialRecord h = entries[pick].trial;
      h.number = int64_t(history.size());
      history.push_back(std::move(h));
      order.push_back(entries[pick].trial.id);
      if (entries[pick].complete && add_to_front(front, entries[pick].objectives)) hv = hypervolume(front, ref);
      curve.push_back(hv);
    }
    c.runs.push_back(std::move(curve));
    c.orders.push_back(std::move(order));
  }
  for (size_t k = 0; k < budget; ++k) {
    double sum = 0, mn = std::numeric_limits<double>::infinity(), mx = -mn;
    for (const auto& r : c.runs) sum += r[k], mn = std::min(mn, r[k]), mx = std::max(mx, r[k]);
    const double mean = sum / double(c.runs.size());
    double ss = 0;
    for (const auto& r : c.runs) ss += (r[k] - mean) * (r[k] - mean);
    c.mean.push_back(mean);
    c.stdev.push_back(c.runs.size() > 1 ? std::sqrt(ss / double(c.runs.size() - 1)) : 0.0);
    c.min.push_back(mn);
    c.max.push_back(mx);
  }
  return c;
}

ReplayCurve replay(const ResultsDB& db, const StudyRecord& study, const ReplayOptions& opt) {
  return replay(db.trials(study.id), study.space, opt, fmt::format("{} (study {})", db.path(), study.name));
}

std::string replay_table(const std::vector<ReplayCurve>& curves) {
  size_t kmax = 0;
  int seeds = 0;
  for (const auto& c : curves) kmax = std::max(kmax, c.mean.size()), seeds = std::max(seeds, int(c.runs.size()));
  std::vector<size_t> ks;
  for (size_t dec = 1; dec <= kmax; dec *= 10)
    for (size_t m : {1, 2, 5})
      if (m * dec <= kmax) ks.push_back(m * dec);
  for (const auto& c : curves) ks.push_back(c.mean.size());
  ks.push_back(kmax);
  std::sort(ks.begin(), ks.end());
  ks.erase(std::unique(ks.begin(), ks.end()), ks.end());
  ks.erase(std::remove(ks.begin(), ks.end(), size_t(0)), ks.end());

  std::string out = fmt::format("normalised hypervolume (PSNR-RGB, params, runtime ratio) after k evaluations, "
                                "mean +- sd over {} seed{}\n",
                                seeds, seeds == 1 ? "" : "s");
  out += fmt::format("{:>6}", "k");
  for (const auto& c : curves) out += fmt::format("  {:>17}", c.sampler);
  out += "\n";
  for (size_t k : ks) {
    out += fmt::format("{:>6}", k);
    for (const auto& c : curves)
      out += k <= c.mean.size() ? fmt::format("  {:>8.4f} +- {:<6.4f}", c.mean[k - 1], c.stdev[k - 1])
                                : fmt::format("  {:>17}", "-");
    out += "\n";
  }
  out += fmt::format("{:>6}", "ms");  // time inside the sampler per proposal
  for (const auto& c : curves) {
    const size_t proposals = c.runs.size() * c.mean.size();
    out += fmt::format("  {:>17}", proposals ? fmt::format("{:.3f} / proposal", 1e3 * c.propose_s / double(proposals))
                                             : std::string("-"));
  }
  return out + "\n";
}

std::string replay_json(const std::vector<ReplayCurve>& curves) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& c : curves) {
    std::vector<size_t> k;
    for (size_t i = 1; i <= c.mean.size(); ++i) k.push_back(i);
    a.push_back({{"sampler", c.sampler}, {"k", k},           {"mean", c.mean}, {"stdev", c.stdev},
                 {"min", c.min},         {"max", c.max},     {"runs", c.runs}, {"orders", c.orders},
                 {"propose_s", c.propose_s}});
  }
  return a.dump(2) + "\n";
}

std::vector<std::string> write_replay_plot(const std::vector<ReplayCurve>& curves, const std::string& out_dir) {
  if (find_gnuplot().empty()) throw Error("gnuplot not found: install gnuplot-nox (scripts/setup.sh does)");
  const fs::path dir(out_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(fmt::format("{}: cannot create the folder: {}", out_dir, ec.message()));
  const char* colours[] = {"#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860"};
  size_t kmax = 1;
  std::string series;
  for (size_t i = 0; i < curves.size(); ++i) {
    const ReplayCurve& c = curves[i];
    std::string name;
    for (char ch : c.sampler) name += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
    std::string file = fmt::format("replay_{}{}.dat", name, i == 0 || curves[i - 1].sampler != c.sampler ? "" : std::to_string(i));
    std::string dat = "# k mean stdev min max\n";
    for (size_t k = 0; k < c.mean.size(); ++k)
      dat += fmt::format("{} {} {} {} {}\n", k + 1, c.mean[k], c.stdev[k], c.min[k], c.max[k]);
    std::ofstream f(dir / file, std::ios::binary);
    f << dat;
    f.close();
    if (!f) throw Error(fmt::format("{}: cannot write", (dir / file).string()));
    if (c.mean.empty()) continue;
    kmax = std::max(kmax, c.mean.size());
    const char* col = colours[i % 6];
    series += fmt::format("{}'{}' using 1:4:5 with filledcurves fs transparent solid 0.18 noborder lc rgb '{}' notitle, "
                          "\\\n     '{}' using 1:2 with lines lw 2.5 lc rgb '{}' title {}",
                          series.empty() ? "" : ", \\\n     ", file, col, file, col,
                          gnuplot_quote(fmt::format("{} (mean, min..max band, {} seeds)", c.sampler, c.runs.size())));
  }
  std::string plot = series.empty() ? "plot NaN notitle" : "plot " + series;
  std::string gp =
      "set grid lc rgb '#DDDDDD'\nset key below\nset title 'Replay benchmark: hypervolume found inside the "
      "recorded study'\nset xlabel 'evaluations k'\nset ylabel 'normalised hypervolume (PSNR, params, runtime)'\n";
  gp += fmt::format("set xrange [1:{}]\nset yrange [0:*]\n", std::max<size_t>(kmax, 2));
  for (const char* term : {"pngcairo size 900,600 noenhanced font 'DejaVu Sans,11'",
                           "svg size 900,600 noenhanced font 'DejaVu Sans,11' background '#FFFFFF'"})
    gp += fmt::format("set terminal {}\nset output 'replay.{}'\n{}\nset output\n", term,
                      std::string(term).rfind("svg", 0) == 0 ? "svg" : "png", plot);
  {
    std::ofstream f(dir / "replay.gp", std::ios::binary);
    f << gp;
    f.close();
    if (!f) throw Error(fmt::format("{}: cannot write", (dir / "replay.gp").string()));
  }
  run_gnuplot(out_dir, "replay.gp");
  return {(dir / "replay.png").string(), (dir / "replay.svg").string()};
}

}  // namespace srnas
