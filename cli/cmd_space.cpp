// `srnas space sample|show|check`: draw genomes from a search space, list its genes,
// or check that a genome file belongs to it.
#include <iostream>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/format.h"
#include "search_space/accounting.h"
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

  auto* show = space->add_subcommand("show", "Genes of a space and their values");
  show->add_option("space", name, "built-in space name or YAML file")->required();
  show->callback([] {
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
