#include "sampler/sampler.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "sampler/pareto.h"
#include "search_space/accounting.h"
#include "search_space/error.h"
#include "search_space/json_reader.h"
#include "search_space/rng.h"

namespace srnas {

namespace {

// Every hash of the history (any state, baselines included); a record without a stored
// hash is hashed from its genome JSON when that parses.
std::set<std::string> history_hashes(const std::vector<TrialRecord>& history) {
  std::set<std::string> out;
  for (const auto& t : history) {
    if (!t.genome_hash.empty()) {
      out.insert(t.genome_hash);
    } else if (!t.genome_json.empty()) {
      try {
        out.insert(genome_hash(genome_from_string(t.genome_json)));
      } catch (const std::exception&) {
      }
    }
  }
  return out;
}

// A history trial as a population member: its genome, gene values and ranking data.
struct Member {
  const TrialRecord* t = nullptr;
  Genome genome;
  std::vector<int> genes;
  double violation = 0;
  double psnr = -std::numeric_limits<double>::infinity();
};

// The member for t when its genome parses and belongs to the space (else nullopt).
std::optional<Member> as_member(const TrialRecord& t, const Space& space, const Constraints& c) {
  try {
    Member m;
    m.t = &t;
    m.genome = genome_from_string(t.genome_json);
    m.genes = space.encode(m.genome);
    if (space.decode(m.genes) != m.genome) return std::nullopt;  // differs in the space's fixed parts
    m.violation = constraint_violation(t, c);
    if (t.psnr_rgb) m.psnr = *t.psnr_rgb;
    return m;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// Non-baseline trials of the given states that belong to the space, by ascending number.
std::vector<Member> members(const SamplerContext& ctx, bool with_pruned) {
  std::vector<const TrialRecord*> ts;
  for (const auto& t : ctx.history) {
    if (t.is_baseline) continue;
    const bool pruned_with_metrics =
        t.state == TrialState::Pruned && (t.psnr_rgb || t.params || t.runtime_ratio);
    if (t.state == TrialState::Complete || (with_pruned && pruned_with_metrics)) ts.push_back(&t);
  }
  std::stable_sort(ts.begin(), ts.end(), [](const TrialRecord* a, const TrialRecord* b) {
    return a->number != b->number ? a->number < b->number : a->id < b->id;
  });
  std::vector<Member> out;
  for (const TrialRecord* t : ts)
    if (auto m = as_member(*t, ctx.space, ctx.constraints)) out.push_back(std::move(*m));
  return out;
}

// A genome a sampler may propose: new to the study and within the context's hard limits.
bool fresh(const SamplerContext& ctx, const std::set<std::string>& seen, const Genome& g) {
  return !seen.count(genome_hash(g)) && (!ctx.admissible || ctx.admissible(g));
}

std::optional<Genome> random_proposal(const SamplerContext& ctx, const std::set<std::string>& seen, Rng& rng,
                                      int attempts) {
  for (int i = 0; i < attempts; ++i) {
    Genome g = ctx.space.sample(rng);
    if (fresh(ctx, seen, g)) return g;
  }
  return std::nullopt;
}

// (-psnr, params, runtime_ratio), all minimised; a missing value takes the worst value
// present for that objective (0 if none has it), so it never wins on that objective.
std::vector<Point> objectives(const std::vector<Member>& pool) {
  std::vector<std::vector<std::optional<double>>> raw;
  for (const auto& m : pool) {
    const TrialRecord& t = *m.t;
    raw.push_back({t.psnr_rgb ? std::optional<double>(-*t.psnr_rgb) : std::nullopt,
                   t.params ? std::optional<double>(double(*t.params)) : std::nullopt, t.runtime_ratio});
  }
  std::vector<Point> pts(pool.size(), Point(3, 0.0));
  for (size_t k = 0; k < 3; ++k) {
    std::optional<double> worst;
    for (const auto& r : raw)
      if (r[k] && (!worst || *r[k] > *worst)) worst = r[k];
    for (size_t i = 0; i < raw.size(); ++i) pts[i][k] = raw[i][k] ? *raw[i][k] : worst.value_or(0.0);
  }
  return pts;
}

// A pool ranked as NSGA-II ranks it: Deb's constrained non-dominated sort (feasible fronts by
// Pareto dominance on `objectives`, then the infeasible ones, one front per distinct
// violation in ascending order), crowding distance within each front; order = every index,
// best first by (rank asc, crowding desc), ties keeping the pool's order (older first).
struct PoolRanking {
  std::vector<size_t> rank;
  std::vector<double> crowd;
  std::vector<size_t> order;
};

PoolRanking rank_pool(const std::vector<Member>& pool) {
  const size_t n = pool.size();
  std::vector<Point> pts = objectives(pool);
  std::vector<size_t> rank(n, 0);
  std::vector<double> crowd(n, 0);
  std::vector<size_t> feasible;
  std::map<double, std::vector<size_t>> infeasible;
  for (size_t i = 0; i < n; ++i) {
    if (pool[i].violation > 0) infeasible[pool[i].violation].push_back(i);
    else feasible.push_back(i);
  }
  std::vector<std::vector<size_t>> fronts;
  if (!feasible.empty()) {
    std::vector<Point> fp;
    for (size_t i : feasible) fp.push_back(pts[i]);
    for (const auto& f : non_dominated_sort(fp)) {
      fronts.emplace_back();
      for (size_t k : f) fronts.back().push_back(feasible[k]);
    }
  }
  for (auto& [v, f] : infeasible) fronts.push_back(f);
  for (size_t r = 0; r < fronts.size(); ++r) {
    std::vector<double> cd = crowding_distance(pts, fronts[r]);
    for (size_t k = 0; k < fronts[r].size(); ++k) {
      rank[fronts[r][k]] = r;
      crowd[fronts[r][k]] = cd[k];
    }
  }
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  auto better = [&](size_t a, size_t b) { return rank[a] != rank[b] ? rank[a] < rank[b] : crowd[a] > crowd[b]; };
  std::stable_sort(order.begin(), order.end(), better);  // pool is by number: ties keep the older first
  return {std::move(rank), std::move(crowd), std::move(order)};
}

// A trial that was trained: COMPLETE, or PRUNED by successive halving after a rung (it has a
// PSNR, at that rung's budget). What ends a sampler's random start: under successive halving
// only 1 in eta^(rungs-1) trials completes, and counting those alone kept NSGA-II and TPE
// random for most of a study (400 trials, eta 3, 3 rungs: about 45 COMPLETE).
bool trained(const TrialRecord& t) {
  return t.state == TrialState::Complete || (t.state == TrialState::Pruned && t.psnr_rgb);
}

// The pool NSGA-II and TPE rank: COMPLETE plus PRUNED-with-metrics members, the PRUNED ones
// always infeasible (violation >= 1e-9); *n_trained counts the trained ones (trained()).
std::vector<Member> ranked_pool_members(const SamplerContext& ctx, int* n_trained) {
  std::vector<Member> pool = members(ctx, true);
  *n_trained = 0;
  for (auto& m : pool) {
    *n_trained += trained(*m.t);
    if (m.t->state != TrialState::Complete) m.violation = std::max(m.violation, 1e-9);
  }
  return pool;
}

class RandomSampler : public Sampler {
 public:
  explicit RandomSampler(const SamplerConfig& cfg) : cfg_(cfg) {}
  std::string name() const override { return "random"; }
  std::optional<Genome> propose(const SamplerContext& ctx) override {
    Rng rng(mix_seed(ctx.seed, ctx.number));
    return random_proposal(ctx, history_hashes(ctx.history), rng, cfg_.max_attempts);
  }

 private:
  SamplerConfig cfg_;
};

// Regularized evolution: tournament over the last `population` trained trials (the oldest
// dies; those pruned by successive halving rank below every COMPLETE one), the winner's child
// differs in exactly one gene.
class EvolutionSampler : public Sampler {
 public:
  explicit EvolutionSampler(const SamplerConfig& cfg) : cfg_(cfg) {}
  std::string name() const override { return "evolution"; }
  std::optional<Genome> propose(const SamplerContext& ctx) override {
    Rng rng(mix_seed(ctx.seed, ctx.number));
    const std::set<std::string> seen = history_hashes(ctx.history);
    int n_trained = 0;
    std::vector<Member> pop;
    for (Member& m : ranked_pool_members(ctx, &n_trained))
      if (trained(*m.t)) pop.push_back(std::move(m));
    if (int(pop.size()) < cfg_.population) return random_proposal(ctx, seen, rng, cfg_.max_attempts);
    pop.erase(pop.begin(), pop.end() - cfg_.population);
    auto better = [](const Member& a, const Member& b) {
      return a.violation != b.violation ? a.violation < b.violation : a.psnr > b.psnr;
    };
    for (int attempt = 0; attempt < cfg_.max_attempts; ++attempt) {
      size_t best = rng.below(pop.size());
      for (int k = 1; k < cfg_.tournament; ++k) {
        size_t i = rng.below(pop.size());
        if (better(pop[i], pop[best])) best = i;
      }
      try {
        Genome child = ctx.space.mutate(pop[best].genome, rng);
        if (fresh(ctx, seen, child)) return child;
      } catch (const Error&) {  // no gene can change (single-valued space)
      }
    }
    // Every neighbour drawn was already tried: widen to the whole space before giving up.
    return random_proposal(ctx, seen, rng, cfg_.max_attempts);
  }

 private:
  SamplerConfig cfg_;
};

// Steady-state NSGA-II with Deb's constrained domination.
class Nsga2Sampler : public Sampler {
 public:
  explicit Nsga2Sampler(const SamplerConfig& cfg) : cfg_(cfg) {}
  std::string name() const override { return "nsga2"; }
  std::optional<Genome> propose(const SamplerContext& ctx) override {
    Rng rng(mix_seed(ctx.seed, ctx.number));
    const std::set<std::string> seen = history_hashes(ctx.history);
    int n_trained = 0;
    std::vector<Member> pool = ranked_pool_members(ctx, &n_trained);
    if (n_trained < cfg_.population) return random_proposal(ctx, seen, rng, cfg_.max_attempts);

    const PoolRanking ranked = rank_pool(pool);
    const std::vector<size_t>& rank = ranked.rank;
    const std::vector<double>& crowd = ranked.crowd;
    auto better = [&](size_t a, size_t b) { return rank[a] != rank[b] ? rank[a] < rank[b] : crowd[a] > crowd[b]; };
    std::vector<size_t> order = ranked.order;
    order.resize(std::min(pool.size(), size_t(cfg_.population)));

    auto tournament = [&]() {
      size_t a = order[rng.below(order.size())], b = order[rng.below(order.size())];
      return better(b, a) ? b : a;
    };
    for (int attempt = 0; attempt < cfg_.max_attempts; ++attempt) {
      const Member& p1 = pool[tournament()];
      const Member& p2 = pool[tournament()];
      std::vector<int> genes = p1.genes;
      if (rng.uniform() < cfg_.crossover_prob)
        for (size_t i = 0; i < genes.size(); ++i)
          if (rng.below(2)) genes[i] = p2.genes[i];
      try {
        Genome child = ctx.space.decode(genes);
        if (rng.uniform() < cfg_.mutation_prob) child = ctx.space.mutate(child, rng);
        if (fresh(ctx, seen, child)) return child;
      } catch (const Error&) {  // no gene can change (single-valued space)
      }
    }
    return random_proposal(ctx, seen, rng, cfg_.max_attempts);
  }

 private:
  SamplerConfig cfg_;
};


// Multi-objective TPE over categorical genes (Bergstra et al. 2011; Optuna's TPESampler with
// independent parameters, and its multi-objective split, Ozaki et al. 2020): the ranked pool
// is split into the best n_good = min(ceil(gamma * n), 25) ("good") and the rest ("bad");
// per gene, l(v) and g(v) are the good and bad value frequencies with prior_weight spread
// uniformly over the gene's values; candidates are drawn from l, gene by gene, and the one
// with the largest sum of log l(v) / g(v) that is new to the study is proposed.
class TpeSampler : public Sampler {
 public:
  explicit TpeSampler(const SamplerConfig& cfg) : cfg_(cfg) {}
  std::string name() const override { return "tpe"; }
  std::optional<Genome> propose(const SamplerContext& ctx) override {
    Rng rng(mix_seed(ctx.seed, ctx.number));
    const std::set<std::string> seen = history_hashes(ctx.history);
    int n_trained = 0;
    std::vector<Member> pool = ranked_pool_members(ctx, &n_trained);
    if (n_trained < cfg_.n_startup || pool.size() < 2) return random_proposal(ctx, seen, rng, cfg_.max_attempts);

    const std::vector<size_t> order = rank_pool(pool).order;
    // Constant liar: trials still in flight rank below every finished one.
    std::vector<std::vector<int>> liars;
    if (cfg_.constant_liar)
      for (const auto& t : ctx.history)
        if (!t.is_baseline && (t.state == TrialState::Running || t.state == TrialState::Pending))
          if (auto m = as_member(t, ctx.space, ctx.constraints)) liars.push_back(std::move(m->genes));
    const size_t n = pool.size() + liars.size();
    const size_t n_good = std::clamp<size_t>(size_t(std::ceil(cfg_.gamma * double(n))), 1,
                                             std::min<size_t>(25, pool.size() - 1));
    const std::vector<Gene>& genes = ctx.space.genes();
    if (cfg_.multivariate) {
      std::vector<std::vector<int>> good, bad = liars;
      for (size_t r = 0; r < order.size(); ++r) (r < n_good ? good : bad).push_back(pool[order[r]].genes);
      return multivariate(ctx, seen, rng, good, bad);
    }
    // log l(v) - log g(v) per gene and value, and l as a cumulative table to sample from.
    std::vector<std::vector<double>> score(genes.size()), cum_l(genes.size());
    for (size_t k = 0; k < genes.size(); ++k) {
      const size_t nv = genes[k].labels.size();
      std::vector<double> l(nv, cfg_.prior_weight / double(nv)), g(nv, cfg_.prior_weight / double(nv));
      for (size_t r = 0; r < order.size(); ++r) (r < n_good ? l : g)[size_t(pool[order[r]].genes[k])] += 1.0;
      for (const auto& liar : liars) g[size_t(liar[k])] += 1.0;
      double sl = 0, sg = 0;
      for (size_t v = 0; v < nv; ++v) sl += l[v], sg += g[v];
      double acc = 0;
      for (size_t v = 0; v < nv; ++v) {
        score[k].push_back(std::log(l[v] / sl) - std::log(g[v] / sg));
        cum_l[k].push_back(acc += l[v] / sl);
      }
    }
    auto draw = [&](size_t k) {
      const double u = rng.uniform() * cum_l[k].back();
      const auto it = std::upper_bound(cum_l[k].begin(), cum_l[k].end(), u);
      return int(std::min<size_t>(size_t(it - cum_l[k].begin()), cum_l[k].size() - 1));
    };
    return best_candidate(ctx, seen, rng, [&] {
      std::pair<std::vector<int>, double> c{std::vector<int>(genes.size()), 0.0};
      for (size_t k = 0; k < genes.size(); ++k) c.second += score[k][size_t(c.first[k] = draw(k))];
      return c;
    });
  }

 private:
  // Rounds of n_candidates draws of (gene values, score): the new, admissible draw with the
  // highest score wins its round; after max_attempts draws without one, random draws.
  std::optional<Genome> best_candidate(const SamplerContext& ctx, const std::set<std::string>& seen, Rng& rng,
                                       const std::function<std::pair<std::vector<int>, double>()>& candidate) const {
    const int rounds = std::max(1, cfg_.max_attempts / cfg_.n_candidates);
    for (int round = 0; round < rounds; ++round) {
      std::optional<Genome> best;
      double best_score = -std::numeric_limits<double>::infinity();
      for (int c = 0; c < cfg_.n_candidates; ++c) {
        const auto [values, sc] = candidate();
        if (sc <= best_score) continue;
        try {
          Genome g = ctx.space.decode(values);
          if (!fresh(ctx, seen, g)) continue;
          best = std::move(g);
          best_score = sc;
        } catch (const Error&) {  // a combination the space rejects
        }
      }
      if (best) return best;
    }
    return random_proposal(ctx, seen, rng, cfg_.max_attempts);
  }

  // Multivariate TPE (Falkner et al. 2018; Optuna's multivariate=True) over categorical genes:
  // l and g are mixtures with one component per trial of the group plus a uniform prior
  // component of weight prior_weight; a trial's component puts (prior_weight / |values| + 1) /
  // (prior_weight + 1) on its value of every gene at once (the remaining mass uniformly), so
  // the genes are drawn together, from one trial's neighbourhood, and combinations the good
  // trials share (wide AND shallow, say) are kept. Candidates are drawn from l; the new one
  // with the largest log l(x) - log g(x) is proposed.
  std::optional<Genome> multivariate(const SamplerContext& ctx, const std::set<std::string>& seen, Rng& rng,
                                     const std::vector<std::vector<int>>& good,
                                     const std::vector<std::vector<int>>& bad) const {
    const std::vector<Gene>& genes = ctx.space.genes();
    const double pw = cfg_.prior_weight;
    // log density of x under the mixture of `group`'s kernels and the prior.
    auto log_density = [&](const std::vector<std::vector<int>>& group, const std::vector<int>& x) {
      std::vector<double> terms;
      double log_prior = std::log(pw);
      for (size_t k = 0; k < genes.size(); ++k) log_prior -= std::log(double(genes[k].labels.size()));
      terms.push_back(log_prior);
      for (const auto& o : group) {
        double t = 0;
        for (size_t k = 0; k < genes.size(); ++k) {
          const double nv = double(genes[k].labels.size());
          t += std::log((pw / nv + (o[k] == x[k] ? 1.0 : 0.0)) / (pw + 1.0));
        }
        terms.push_back(t);
      }
      const double m = *std::max_element(terms.begin(), terms.end());
      double sum = 0;
      for (double t : terms) sum += std::exp(t - m);
      return m + std::log(sum) - std::log(pw + double(group.size()));
    };
    auto draw = [&] {
      // The component: the prior with probability pw / (pw + |good|), else one good trial.
      const double u = rng.uniform() * (pw + double(good.size()));
      const std::vector<int>* o = u < pw ? nullptr : &good[std::min(good.size() - 1, size_t(u - pw))];
      std::vector<int> x(genes.size());
      for (size_t k = 0; k < genes.size(); ++k) {
        const size_t nv = genes[k].labels.size();
        // Keep the trial's value with probability (pw / nv + 1) / (pw + 1), else uniform.
        const bool keep = o && rng.uniform() < 1.0 / (pw + 1.0);
        x[k] = keep ? (*o)[k] : int(rng.below(nv));
      }
      return x;
    };
    return best_candidate(ctx, seen, rng, [&] {
      std::vector<int> x = draw();
      const double sc = log_density(good, x) - log_density(bad, x);
      return std::pair<std::vector<int>, double>{std::move(x), sc};
    });
  }

  SamplerConfig cfg_;
};

}  // namespace

const std::vector<std::string>& sampler_types() {
  static const std::vector<std::string> types = {"random", "evolution", "nsga2", "tpe"};
  return types;
}

uint64_t mix_seed(uint64_t seed, int64_t number) { return splitmix64(splitmix64(seed) ^ uint64_t(number)); }

std::string Limits::pure_violation(int64_t params, int64_t macs) const {
  if (max_params && params > *max_params) return fmt::format("limit: params {} > max_params {}", params, *max_params);
  if (max_gmacs && double(macs) > *max_gmacs * 1e9)
    return fmt::format("limit: {:.3f} GMACs > max_gmacs {}", double(macs) / 1e9, *max_gmacs);
  return "";
}

std::string Limits::describe(int lr_h, int lr_w) const {
  std::vector<std::string> l;
  if (max_params) l.push_back(fmt::format("params <= {}", *max_params));
  if (max_gmacs) l.push_back(fmt::format("GMACs <= {} (at {}x{} LR)", *max_gmacs, lr_h, lr_w));
  if (max_runtime_ratio) l.push_back(fmt::format("runtime ratio <= {}", *max_runtime_ratio));
  return fmt::format("{}", fmt::join(l, ", "));
}

Constraints Limits::tighten(Constraints c) const {
  auto lower = [](auto& bound, auto limit) { bound = bound ? std::min(*bound, limit) : limit; };
  if (max_params) lower(c.max_params, *max_params);
  if (max_gmacs) lower(c.max_macs, int64_t(*max_gmacs * 1e9));
  if (max_runtime_ratio) lower(c.max_runtime_ratio, *max_runtime_ratio);
  return c;
}

std::function<bool(const Genome&)> Limits::admissible(int lr_h, int lr_w) const {
  if (!max_params && !max_gmacs) return nullptr;
  return [lim = *this, lr_h, lr_w](const Genome& g) {
    const Accounting a = account(g, lr_h, lr_w);
    return lim.pure_violation(a.params, a.macs).empty();
  };
}

double constraint_violation(const TrialRecord& t, const Constraints& c) {
  double v = 0;
  if (c.max_params && t.params) {
    const double m = double(*c.max_params);
    v += std::max(0.0, (double(*t.params) - m) / (m > 0 ? m : 1.0));
  }
  if (c.max_macs && t.macs) {
    const double m = double(*c.max_macs);
    v += std::max(0.0, (double(*t.macs) - m) / (m > 0 ? m : 1.0));
  }
  if (c.max_runtime_ratio && t.runtime_ratio) {
    const double m = *c.max_runtime_ratio;
    v += std::max(0.0, (*t.runtime_ratio - m) / (m > 0 ? m : 1.0));
  }
  if (c.min_psnr && t.psnr_rgb) v += std::max(0.0, *c.min_psnr - *t.psnr_rgb);
  return v;
}

SamplerConfig parse_sampler_config(const nlohmann::json& j, const std::string& path) {
  JsonReader r(j, path);
  SamplerConfig c;
  c.type = r.choice("type", sampler_types(), c.type);
  c.population = r.integer("population", 1, 1000000, c.population);
  c.tournament = r.integer("tournament", 1, 1000000, c.tournament);
  c.crossover_prob = r.number("crossover_prob", 0.0, 1.0, c.crossover_prob);
  c.mutation_prob = r.number("mutation_prob", 0.0, 1.0, c.mutation_prob);
  c.max_attempts = r.integer("max_attempts", 1, 1000000000, c.max_attempts);
  c.n_startup = r.integer("n_startup", 1, 1000000, c.n_startup);
  c.n_candidates = r.integer("n_candidates", 1, 1000000, c.n_candidates);
  c.gamma = r.number("gamma", 0.0, 1.0, c.gamma);
  c.prior_weight = r.number("prior_weight", 0.0, 1e6, c.prior_weight);
  c.constant_liar = r.boolean("constant_liar", c.constant_liar);
  c.multivariate = r.boolean("multivariate", c.multivariate);
  r.finish();
  return c;
}

std::unique_ptr<Sampler> make_sampler(const SamplerConfig& cfg) {
  if (cfg.population < 1 || cfg.tournament < 1 || cfg.max_attempts < 1)
    throw Error(fmt::format("sampler: population, tournament and max_attempts must be >= 1, got {}, {}, {}",
                            cfg.population, cfg.tournament, cfg.max_attempts));
  if (!(cfg.crossover_prob >= 0 && cfg.crossover_prob <= 1 && cfg.mutation_prob >= 0 && cfg.mutation_prob <= 1))
    throw Error(fmt::format("sampler: crossover_prob and mutation_prob must be in [0, 1], got {}, {}",
                            cfg.crossover_prob, cfg.mutation_prob));
  if (cfg.type == "random") return std::make_unique<RandomSampler>(cfg);
  if (cfg.type == "evolution") return std::make_unique<EvolutionSampler>(cfg);
  if (cfg.type == "nsga2") return std::make_unique<Nsga2Sampler>(cfg);
  if (cfg.type == "tpe") {
    if (cfg.n_startup < 1 || cfg.n_candidates < 1 || !(cfg.gamma > 0 && cfg.gamma <= 1) || !(cfg.prior_weight > 0))
      throw Error(fmt::format("sampler: tpe needs n_startup >= 1, n_candidates >= 1, gamma in (0, 1] and "
                              "prior_weight > 0, got {}, {}, {}, {}",
                              cfg.n_startup, cfg.n_candidates, cfg.gamma, cfg.prior_weight));
    return std::make_unique<TpeSampler>(cfg);
  }
  throw Error(fmt::format("sampler.type: expected one of {{{}}}, got '{}'", fmt::join(sampler_types(), ", "), cfg.type));
}

}  // namespace srnas
