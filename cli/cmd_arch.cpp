// `srnas arch show|list`: the per-layer table, params and MACs of a genome.
#include <cstdio>
#include <iostream>
#include <regex>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/format.h"
#include "search_space/accounting.h"
#include "search_space/error.h"
#include "search_space/registry.h"

namespace srnas::cli {

namespace {

void show(const std::string& arch, const std::string& lr_size, const std::string& format) {
  ArchSpec spec = load_arch(arch);
  auto [h, w] = parse_hw(lr_size);
  Accounting acc = account(spec.genome, h, w);
  if (format == "json") {
    nlohmann::json layers = nlohmann::json::array();
    for (const auto& l : acc.layers)
      layers.push_back({{"name", l.name},   {"kind", l.kind},       {"in", l.in_ch},       {"out", l.out_ch},
                        {"kernel", l.kernel}, {"groups", l.groups}, {"dilation", l.dilation}, {"res", l.res},
                        {"stride", l.stride}, {"esa_level", l.esa_level}, {"params", l.params}, {"macs", l.macs}});
    nlohmann::json j = {{"name", spec.name},       {"origin", spec.origin},     {"params", acc.params},
                        {"macs", acc.macs},        {"flops", 2 * acc.macs},     {"lr_size", {h, w}},
                        {"hash", genome_hash(spec.genome)}, {"genome", to_json(spec.genome)}, {"layers", layers}};
    j["published_keys"] = nlohmann::json::array();
    for (const PublishedKeys& p : spec.published) {
      nlohmann::json rules = nlohmann::json::array();
      for (const KeyRule& r : p.rules) rules.push_back({r.pattern, r.replacement});
      j["published_keys"].push_back({{"source", p.source}, {"rules", rules}});
    }
    std::cout << j.dump(2) << "\n";
    return;
  }
  fmt::print("{} ({})\n", spec.name, spec.origin);
  if (!spec.description.empty()) fmt::print("{}\n", spec.description);
  fmt::print("genome hash {}\n", genome_hash(spec.genome));
  // The checkpoint namings --weights and --init accept besides srnas's own, with an example name.
  std::string example;  // the first conv of the first LR block (else the first layer): a name this arch has
  for (const auto& l : acc.layers)
    if (l.kind == "conv" && l.name.rfind("lr.blocks.0.", 0) == 0) {
      example = l.name + ".weight";
      break;
    }
  if (example.empty() && !acc.layers.empty()) example = acc.layers.front().name + ".weight";
  for (const PublishedKeys& p : spec.published)
    fmt::print("weights also load under {} ({} -> {})\n", p.source, example, published_key(example, p.rules));
  fmt::print("\n");
  fmt::print("{:<24} {:<6} {:>10} {:>3} {:>4} {:>4} {:>4} {:>11} {:>17}\n", "layer", "kind", "in->out", "k", "grp",
             "dil", "res", "params", "MACs");
  for (const auto& l : acc.layers) {
    std::string io = l.kind == "scale" ? "-" : fmt::format("{}->{}", l.in_ch, l.out_ch);
    std::string res = l.kind == "scale"    ? "-"
                      : l.res == 0         ? "1x1"
                      : l.esa_level == 1   ? fmt::format("x{}/2", l.res)
                      : l.esa_level == 2   ? "pool"
                                           : fmt::format("x{}", l.res);
    fmt::print("{:<24} {:<6} {:>10} {:>3} {:>4} {:>4} {:>4} {:>11} {:>17}\n", l.name, l.kind, io,
               l.kind == "scale" ? 0 : l.kernel, l.groups, l.dilation, res, group_digits(l.params),
               group_digits(l.macs));
  }
  fmt::print("\nparams {}  MACs {} at LR {}x{} ({:.3f} GMAC, {:.3f} TFLOP)\n", group_digits(acc.params),
             group_digits(acc.macs), h, w, acc.macs / 1e9, 2.0 * acc.macs / 1e12);
}

}  // namespace

void add_arch_commands(CLI::App& app) {
  auto* arch = app.add_subcommand("arch", "Reference architectures and genome files");
  arch->require_subcommand(1);

  auto* show_cmd = arch->add_subcommand("show", "Per-layer table, params and MACs of an architecture");
  static std::string name, lr_size = "339x510", format = "table";
  show_cmd->add_option("arch", name, "built-in name (see `srnas arch list`) or a genome/arch JSON file")->required();
  show_cmd->add_option("--lr-size", lr_size, "LR input size HxW for MACs")->capture_default_str();
  show_cmd->add_option("--format", format, "table or json")->check(CLI::IsMember({"table", "json"}))->capture_default_str();
  show_cmd->callback([] { show(name, lr_size, format); });

  auto* list_cmd = arch->add_subcommand("list", "Built-in reference architectures");
  list_cmd->callback([] {
    for (const auto& n : builtin_names("archs")) {
      ArchSpec s = load_arch(n);
      fmt::print("{:<14} {:>11} params  {}\n", n, group_digits(count_params(s.genome)), s.description);
    }
  });
}

}  // namespace srnas::cli
