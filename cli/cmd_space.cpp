// `srnas space sample|show|check`: draw genomes from a search space, list its genes,
// or check that a genome file belongs to it.
#include <algorithm>
#include <iostream>
#include <utility>
#include <vector>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/format.h"
#include "distributed/search_config.h"
#include "search_space/accounting.h"
#include "search_space/error.h"
#include "search_space/registry.h"
#include "search_space/space.h"

namespace srnas::cli {

void add_space_commands(CLI::App& app) {
  auto* space = app.add_subcommand("space", "Search spaces (configs/spaces)");
  space->require_subcommand(1);

  static std::string name, arch;
  static int n = 1;
  static uint64_t seed = 0;
  auto* sample = space->add_subcommand("sample", "Draw genomes uniformly; one canonical genome JSON per line");
  sample->add_option("--space", name, "built-in space name or YAML file")->required();
  sample->add_option("--n", n, "number of genomes")->check(int_range(1, 1000000))->capture_default_str();
  sample->add_option("--seed", seed, "RNG seed")->capture_default_str();
  sample->callback([] {
    auto s = Space::load(name);
    Rng rng(seed);
    for (int i = 0; i < n; ++i) std::cout << canonical_json(s->sample(rng)) << "\n";
  });

  static int stats = 0;
  static std::string lr_size = "339x510";
  static int64_t max_params = 0;
  static double max_gmacs = 0;
  auto* show = space->add_subcommand("show", "Genes of a space and their values (--stats: its params and MACs)");
  show->add_option("space", name, "built-in space name or YAML file")->required();
  show->add_option("--stats", stats, "also draw N genomes: params and GMACs percentiles, the share within limits")
      ->check(int_range(0, 10000000))
      ->capture_default_str();
  show->add_option("--seed", seed, "RNG seed of the --stats draws")->capture_default_str();
  show->add_option("--lr-size", lr_size, "LR input size HxW for MACs (a search's macs_lr_size)")->capture_default_str();
  show->add_option("--max-params", max_params, "with --stats: the share of draws within this params limit")
      ->check(int_range(1, 2000000000));
  show->add_option("--max-gmacs", max_gmacs, "with --stats: the share of draws within this GMACs limit")
      ->check(CLI::PositiveNumber);
  show->callback([] {
    const auto [h, w] = parse_hw(lr_size);
    if ((max_params > 0 || max_gmacs > 0) && stats == 0)
      throw Error("--max-params/--max-gmacs: need --stats N (the number of genomes to draw)");
    auto s = Space::load(name);
    double log10_size = 0;
    for (const auto& g : s->genes()) {
      log10_size += std::log10(double(g.labels.size()));
      std::string vals;
      for (size_t i = 0; i < g.labels.size(); ++i) vals += (i ? " " : "") + g.labels[i];
      fmt::print("{:<14} {:>3}  {}\n", g.name, g.labels.size(), vals);
    }
    fmt::print("space {} ({}): {} genes, 10^{:.1f} gene combinations\n", s->name(), s->kind(), s->genes().size(),
               log10_size);
    if (stats == 0) return;
    // Uniform draws (what the random sampler and every sampler's start propose).
    Rng rng(seed);
    std::vector<int64_t> params, macs;
    const Accounting base = account(load_arch("msrresnet").genome, h, w);
    Limits limits;  // as a search's `limits` counts them
    if (max_params > 0) limits.max_params = max_params;
    if (max_gmacs > 0) limits.max_gmacs = max_gmacs;
    int64_t within = 0, below_base = 0;
    for (int i = 0; i < stats; ++i) {
      const Accounting a = account(s->sample(rng), h, w);
      params.push_back(a.params);
      macs.push_back(a.macs);
      within += limits.pure_violation(a.params, a.macs).empty();
      below_base += a.params <= base.params;
    }
    std::sort(params.begin(), params.end());
    std::sort(macs.begin(), macs.end());
    auto at = [](const std::vector<int64_t>& v, double q) { return v[size_t(q * double(v.size() - 1) + 0.5)]; };
    fmt::print("\n{} uniform draws (seed {}), MACs at LR {}x{}:\n{:<8} {:>12} {:>10}\n", stats, seed, h, w, "", "params",
               "GMACs");
    for (const auto& [label, q] : std::vector<std::pair<const char*, double>>{
             {"min", 0}, {"p10", 0.1}, {"p25", 0.25}, {"median", 0.5}, {"p75", 0.75}, {"p90", 0.9}, {"max", 1}})
      fmt::print("{:<8} {:>12} {:>10.3f}\n", label, group_digits(at(params, q)), double(at(macs, q)) / 1e9);
    fmt::print("{:<8} {:>12} {:>10.3f}  ({:.1f}% of draws have at most its params)\n", "msrresnet",
               group_digits(base.params), double(base.macs) / 1e9, 100.0 * double(below_base) / stats);
    if (max_params > 0 || max_gmacs > 0) {
      std::string lim = max_params > 0 ? fmt::format("params <= {}", group_digits(max_params)) : "";
      if (max_gmacs > 0) lim += fmt::format("{}GMACs <= {}", lim.empty() ? "" : ", ", max_gmacs);
      fmt::print("within {}: {:.1f}% of draws ({} of {})\n", lim, 100.0 * double(within) / stats, within, stats);
    }
  });

  auto* check = space->add_subcommand("check", "Check that an architecture belongs to a space");
  check->add_option("--space", name, "built-in space name or YAML file")->required();
  check->add_option("arch", arch, "built-in arch name or genome JSON file")->required();
  check->callback([] {
    auto s = Space::load(name);
    ArchSpec a = load_arch(arch);
    s->validate(a.genome);
    fmt::print("{} is in space {} ({} params)\n", a.name, s->name(), group_digits(count_params(a.genome)));
  });
}

}  // namespace srnas::cli
