// `srnas plot | report | replay | fidelity | importance`: plots, the HTML report, the replay
// benchmark, the rank fidelity of short budgets and the genes that explain an objective.
#include <filesystem>
#include <iostream>

#include <fmt/core.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "analysis/fidelity.h"
#include "analysis/importance.h"
#include "analysis/plots.h"
#include "analysis/replay.h"
#include "analysis/report.h"
#include "cli/commands.h"
#include "cli/db_util.h"
#include "distributed/search_config.h"
#include "results_db/results_db.h"
#include "sampler/sampler.h"
#include "search_space/error.h"
#include "search_space/space.h"
#include "search_space/text_file.h"

namespace srnas::cli {

void add_report_commands(CLI::App& app) {
  static std::string db, study, out, table_out, sampler = "all", format = "table";
  static int budget = 0, seeds = 10, population = 8, tournament = 3, workers = 1;
  static bool constant_liar = false, multivariate = false;

  auto add_common = [](CLI::App* c) {
    c->add_option("--db", db, "results DB file")->required();
    c->add_option("--study", study, "study name (needed when the DB holds several)");
  };

  auto* pl = app.add_subcommand("plot", "Plot a study with gnuplot: params/runtime vs PSNR, progress (PNG + SVG)");
  add_common(pl);
  pl->add_option("--out", out, "output folder")->required();
  pl->callback([] {
    auto d = open_db(db);
    StudyRecord st = pick_study(*d, study);
    for (const auto& p : write_plots(*d, st, out)) fmt::print("{}\n", p);
  });

  auto* rp = app.add_subcommand("report", "Write a self-contained HTML report of a study (report.html)");
  add_common(rp);
  rp->add_option("--out", out, "output folder")->required();
  rp->callback([] {
    auto d = open_db(db);
    StudyRecord st = pick_study(*d, study);
    fmt::print("{}\n", write_report(*d, st, out));
  });

  auto* fi = app.add_subcommand("fidelity", "Do short budgets rank like long ones? Rank correlations between rungs, and retrains");
  add_common(fi);
  fi->add_option("--format", format, "table or json")->check(CLI::IsMember({"table", "json"}))->capture_default_str();
  fi->callback([] {
    auto d = open_db(db);
    StudyRecord st = pick_study(*d, study);
    const std::vector<FidelityRow> rows = fidelity(d->trials(st.id));
    if (format == "json") {
      nlohmann::json a = nlohmann::json::array();
      auto num = [](const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
      for (const auto& r : rows)
        a.push_back({{"from", r.from}, {"to", r.to}, {"pairs", r.pairs}, {"rho", num(r.rho)}, {"tau_b", num(r.tau)},
                     {"mean_gain_db", r.mean_gain_db}});
      std::cout << a.dump(2) << "\n";
      return;
    }
    fmt::print("study '{}': PSNR-RGB rank correlation between budgets (Spearman rho, Kendall tau-b)\n", st.name);
    std::cout << fidelity_table(rows);
  });

  static std::string objective = "psnr";
  auto* im = app.add_subcommand("importance", "Which genes explain PSNR (or params, MACs, runtime)? eta^2 per gene");
  add_common(im);
  im->add_option("--objective", objective, "psnr, params, macs or runtime")
      ->check(CLI::IsMember({"psnr", "params", "macs", "runtime"}))
      ->capture_default_str();
  im->add_option("--format", format, "table or json")->check(CLI::IsMember({"table", "json"}))->capture_default_str();
  static int pairs = 5;
  im->add_option("--pairs", pairs, "gene pairs with the largest interactions to list (0: none)")
      ->check(int_range(0, 1000000))->capture_default_str();
  im->callback([] {
    auto d = open_db(db);
    StudyRecord st = pick_study(*d, study);
    const auto space = Space::load(st.space);
    const ImportanceReport r = gene_importance(*space, d->trials(st.id),
                                               importance_objective_from_string(objective, "--objective"), study_sampler_type(st));
    if (format == "json") {
      auto num = [](const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
      nlohmann::json genes = nlohmann::json::array();
      for (const GeneImportance& g : r.genes) {
        nlohmann::json levels = nlohmann::json::array();
        for (const GeneLevel& l : g.levels) levels.push_back({{"value", l.label}, {"n", l.n}, {"mean", l.mean}});
        genes.push_back({{"gene", g.gene}, {"n", g.n}, {"eta2", num(g.eta2)}, {"eps2", num(g.eps2)}, {"values", levels}});
      }
      nlohmann::json pair_rows = nlohmann::json::array();
      for (size_t i = 0; i < r.pairs.size() && int(i) < pairs; ++i) {
        const PairInteraction& p = r.pairs[i];
        pair_rows.push_back({{"genes", {p.a, p.b}}, {"n", p.n}, {"cells", p.cells}, {"df", p.df}, {"eta2", p.eta2},
                             {"eps2", p.eps2}});
      }
      std::cout << nlohmann::json{{"study", st.name}, {"objective", objective}, {"measure", r.measure},
                                  {"candidates", r.candidates}, {"outside_space", r.outside_space}, {"genes", genes},
                                  {"pairs", pair_rows}, {"notes", r.notes}}
                       .dump(2)
                << "\n";
      return;
    }
    fmt::print("study '{}' (space {}, sampler {}): which genes explain {}? {} candidates\n", st.name, st.space,
               study_sampler_type(st), r.measure, r.candidates);
    std::cout << importance_table(r, pairs);
  });

  auto* rb = app.add_subcommand("replay", "Replay benchmark: samplers searching inside a finished study's records");
  add_common(rb);
  std::vector<std::string> choices = sampler_types();
  choices.push_back("all");
  rb->add_option("--sampler", sampler, fmt::format("{} or all", fmt::join(sampler_types(), ", ")))
      ->check(CLI::IsMember(choices))
      ->capture_default_str();
  rb->add_option("--budget", budget, "evaluations per run (0: every recorded genome)")
      ->check(int_range(0, 1000000000))
      ->capture_default_str();
  rb->add_option("--seeds", seeds, "runs per sampler (seeds 0..N-1)")->check(int_range(1, 1000000))->capture_default_str();
  rb->add_option("--population", population, "evolution/nsga2 population, tpe startup trials")->check(int_range(1, 1000000))->capture_default_str();
  rb->add_option("--tournament", tournament, "evolution tournament size")->check(int_range(1, 1000000))->capture_default_str();
  rb->add_option("--workers", workers, "parallel workers: each proposal sees the previous N-1 as still running")
      ->check(int_range(1, 1000000))
      ->capture_default_str();
  rb->add_flag("--constant-liar", constant_liar, "tpe with constant_liar (running trials count as bad)");
  rb->add_flag("--multivariate", multivariate, "tpe with multivariate (joint kernels over the genes)");
  rb->add_option("--format", format, "table or json")->check(CLI::IsMember({"table", "json"}))->capture_default_str();
  rb->add_option("--out", out, "also plot the curves into this folder (replay.png, replay.svg)");
  rb->add_option("--table", table_out, "also write the lookup table (JSON) to this file, to replay other samplers on it");
  rb->callback([] {
    auto d = open_db(db);
    StudyRecord st = pick_study(*d, study);
    if (!table_out.empty()) {
      // A slip of the keyboard must not replace a results DB with JSON.
      std::error_code ec;
      if (is_sqlite_file(table_out))
        throw Error(fmt::format("--table {}: is an SQLite file{} (it would be overwritten): give a new .json path",
                                table_out, std::filesystem::equivalent(table_out, db, ec) ? ", the results DB" : ""));
      write_text_atomic(table_out, lookup_table_json(lookup_table(
                                       d->trials(st.id), st.space, fmt::format("{} (study {})", d->path(), st.name))));
    }
    std::vector<std::string> names = sampler == "all" ? sampler_types()
                                                      : std::vector<std::string>{sampler};
    // The study's limits, as its search applied them (from its stored config).
    ReplayOptions study_opt;
    if (!st.config_yaml.empty()) {
      try {
        const SearchConfig cfg = load_search_config_text(st.config_yaml, fmt::format("{} (study {})", d->path(), st.name));
        study_opt.limits = cfg.limits;
        study_opt.macs_h = cfg.macs_h;
        study_opt.macs_w = cfg.macs_w;
      } catch (const Error& e) {  // e.g. an enqueued genome file not found from this folder
        fmt::print(stderr, "[replay] warning: the study's config does not read here ({}): replaying without its "
                           "limits\n",
                   e.what());
      }
    }
    std::vector<ReplayCurve> curves;
    for (const auto& name : names) {
      ReplayOptions o = study_opt;
      o.sampler = name;
      o.budget = budget;
      o.seeds = seeds;
      o.population = population;
      o.tournament = tournament;
      o.workers = workers;
      o.constant_liar = constant_liar;
      o.multivariate = multivariate;
      curves.push_back(replay(*d, st, o));
    }
    std::vector<std::string> plots;
    if (!out.empty()) plots = write_replay_plot(curves, out);
    if (format == "json") {
      std::cout << replay_json(curves);
      return;
    }
    fmt::print("study '{}': replay, {} evaluations per run{}\n", st.name, curves.front().mean.size(),
               study_opt.limits.any() ? ", within the study's limits: " + study_opt.limits.describe(study_opt.macs_h, study_opt.macs_w) : "");
    std::cout << replay_table(curves);
    for (const auto& p : plots) fmt::print("{}\n", p);
  });
}

}  // namespace srnas::cli
