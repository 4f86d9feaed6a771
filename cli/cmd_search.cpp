// `srnas search | studies | trials | pareto | tracks | export | retrain`: run a study and read it back.
#include <algorithm>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <limits>

#include <fmt/core.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "analysis/export.h"
#include "analysis/retrains.h"
#include "analysis/tracks.h"
#include "analysis/importance.h"
#include "cli/commands.h"
#include "trainer/image_store.h"
#include "cli/db_util.h"
#include "cli/format.h"
#include "cli/model_folder.h"
#include "distributed/mpi_env.h"
#include "distributed/mpi_search.h"
#include "distributed/plan.h"
#include "distributed/search.h"
#include "results_db/results_db.h"
#include "search_space/error.h"
#include "search_space/accounting.h"
#include "search_space/registry.h"
#include "search_space/weights.h"
#include "search_space/yaml_json.h"

#ifndef SRNAS_VERSION
#define SRNAS_VERSION "0.0.0"
#endif

namespace srnas::cli {

namespace {


nlohmann::json num(const std::optional<double>& v) { return v && std::isfinite(*v) ? nlohmann::json(*v) : nlohmann::json(nullptr); }
nlohmann::json num(const std::optional<int64_t>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); }

// The study's bicubic floor as JSON (null values when not recorded).
nlohmann::json bicubic_json(const TracksReport& r) {
  return {{"psnr_rgb", num(r.bicubic_psnr_rgb)}, {"psnr_y", num(r.bicubic_psnr_y)}};
}

// A retrain's recorded settings (TrialRecord::train_json) as JSON; null for search trials.
nlohmann::json settings_json(const TrialRecord& t) {
  if (t.train_json.empty()) return nullptr;
  nlohmann::json j = nlohmann::json::parse(t.train_json, nullptr, false);
  return j.is_discarded() ? nlohmann::json(t.train_json) : j;
}

nlohmann::json trial_json(const TrialRecord& t) {
  return {{"trial", t.id},           {"number", t.number},         {"state", to_string(t.state)},
          {"reason", t.reason},      {"baseline", t.is_baseline},  {"params", num(t.params)},
          {"macs", num(t.macs)},     {"psnr_rgb", num(t.psnr_rgb)}, {"psnr_y", num(t.psnr_y)},
          {"runtime_s", num(t.runtime_s)}, {"runtime_ratio", num(t.runtime_ratio)}, {"budget", t.budget},
          {"rung", t.rung},          {"parent", t.parent_id ? nlohmann::json(*t.parent_id) : nlohmann::json(nullptr)},
          {"genome_hash", t.genome_hash}, {"weights", t.weights_path}, {"train_settings", settings_json(t)},
          {"started_at", t.started_at > 0 ? nlohmann::json(t.started_at) : nlohmann::json(nullptr)},
          {"finished_at", t.finished_at > 0 ? nlohmann::json(t.finished_at) : nlohmann::json(nullptr)},
          {"seconds", num(trial_seconds(t))}};
}

// A note's JSON: null when there is none.
nlohmann::json text_or_null(const std::string& s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s); }

nlohmann::json arm_json(const RetrainArm& a) {
  nlohmann::json runs = nlohmann::json::array(), seeds = nlohmann::json::array();
  for (const auto& r : a.runs) runs.push_back(r.id);
  for (const auto& x : a.seeds) seeds.push_back(x ? nlohmann::json(*x) : nlohmann::json(nullptr));
  return {{"trial", a.parent.id},
          {"number", a.parent.number},
          {"baseline", a.parent.is_baseline},
          {"retrains", runs},
          {"seeds", seeds},
          {"params", a.params},
          {"runtime_ratio", num(std::optional<double>(a.runtime_ratio_mean))},
          {"psnr_rgb_mean", a.psnr_rgb_mean},
          {"psnr_rgb_sd", a.psnr_rgb_sd},
          {"psnr_y_mean", num(std::optional<double>(a.psnr_y_mean))},
          {"delta_db", num(a.delta_db)},
          {"delta_se_db", num(a.delta_se_db)}};
}

nlohmann::json groups_json(const std::vector<RetrainGroup>& groups) {
  nlohmann::json out = nlohmann::json::array();
  for (const RetrainGroup& g : groups) {
    nlohmann::json arms = nlohmann::json::array(), tracks = nlohmann::json::array();
    for (const auto& a : g.arms) arms.push_back(arm_json(a));
    for (const auto& t : g.tracks) {
      nlohmann::json ranked = nlohmann::json::array(), unranked = nlohmann::json::array();
      for (const auto& x : t.ranked) ranked.push_back(x.id);
      for (const auto& u : t.unranked) unranked.push_back({{"trial", u.trial.id}, {"reason", u.reason}});
      tracks.push_back({{"track", t.track}, {"name", t.name}, {"ranked", ranked}, {"unranked", unranked},
                        {"not_beaten", text_or_null(t.not_beaten)}});
    }
    nlohmann::json settings = g.settings_json.empty() ? nlohmann::json(nullptr) : nlohmann::json::parse(g.settings_json);
    out.push_back({{"group", g.number},
                   {"label", g.label},
                   {"iterations", num(g.iterations)},
                   {"device", g.device},
                   {"settings", settings},
                   {"baseline", g.baseline ? arm_json(*g.baseline) : nlohmann::json(nullptr)},
                   {"arms", arms},
                   {"tracks", tracks}});
  }
  return out;
}

// "28.950 ± 0.030" (sd over the seeds), "+0.038 ± 0.021" (difference and its standard error).
std::string pm(double v, double sd, bool sign = false) {
  return fmt::format(fmt::runtime(sign ? "{:+.3f} ± {:.3f}" : "{:.3f} ± {:.3f}"), v, sd);
}

// floor: the study's bicubic PSNR-RGB, when recorded (a baseline arm below it trained too briefly).
void print_groups(const std::vector<RetrainGroup>& groups, std::optional<double> floor) {
  const char* what[] = {"fewest params", "lowest runtime", "best PSNR"};
  for (const RetrainGroup& g : groups) {
    fmt::print("\nRetrains (group {}): {}\n", g.number, g.label);
    fmt::print("  {:>5} {:>4} {:>5} {:>11} {:>7}  {:<17} {}\n", "trial", "#", "seeds", "params", "ratio",
               "PSNR-RGB mean ± sd", "vs baseline (± s.e.)");
    for (const RetrainArm* a : g.every_arm())
      fmt::print("  {:>5} {:>4} {:>5} {:>11} {:>7.3f}  {:<17} {}\n", a->parent.id, a->parent.number, a->runs.size(),
                 group_digits(a->params), a->runtime_ratio_mean, pm(a->psnr_rgb_mean, a->psnr_rgb_sd),
                 a->parent.is_baseline ? "(baseline)"
                 : !a->delta_db        ? "-"
                 : a->delta_se_db      ? pm(*a->delta_db, *a->delta_se_db, true)
                                       : fmt::format("{:+.3f}", *a->delta_db));
    if (!g.baseline) {
      fmt::print("  no retrain of the baseline with these settings: nothing is ranked (retrain the baseline, trial "
                 "number 0, with the same options)\n");
      continue;
    }
    if (floor && g.baseline->psnr_rgb_mean < *floor)
      fmt::print("  warning: the baseline's retrains ({:.3f} dB) are below bicubic's {:.3f} dB: too short a budget for "
                 "\"PSNR >= baseline\" to mean more than interpolation\n",
                 g.baseline->psnr_rgb_mean, *floor);
    for (const auto& t : g.tracks) {
      std::vector<std::string> ranked;
      for (const auto& x : t.ranked) ranked.push_back(fmt::format("trial {}", x.id));
      fmt::print("  Track {} ({}): {}\n", t.track, what[t.track - 1],
                 ranked.empty() ? "no eligible retrain" : fmt::format("{}", fmt::join(ranked, ", ")));
      if (!t.not_beaten.empty()) fmt::print("     note: {}\n", t.not_beaten);
      for (const auto& u : t.unranked) fmt::print("     - trial {} unranked: {}\n", u.trial.id, u.reason);
    }
  }
}

std::string seed_str(const std::optional<uint64_t>& seed) { return seed ? std::to_string(*seed) : "not recorded"; }

// export --track K --retrained [--group N]: the run to ship of the group's track-K arm.
TrialRecord retrained_winner(ResultsDB& d, const StudyRecord& st, int track, int group) {
  const std::vector<RetrainGroup> groups = retrain_groups(d.trials(st.id));
  if (groups.empty())
    throw Error(fmt::format("{}: study '{}' has no COMPLETE retrain to export (srnas retrain, or a search "
                            "config's final: stage)", d.path(), st.name));
  std::vector<std::string> listed;
  for (const RetrainGroup& g : groups) listed.push_back(fmt::format("{}: {}", g.number, g.label));
  if (group == 0 && groups.size() > 1)
    throw Error(fmt::format("{}: study '{}' has {} retrain groups: pass --group N ({})", d.path(), st.name,
                            groups.size(), fmt::join(listed, "; ")));
  if (group > int(groups.size()))
    throw Error(fmt::format("{}: --group {}: study '{}' has {} retrain group{} ({})", d.path(), group, st.name,
                            groups.size(), groups.size() == 1 ? "" : "s", fmt::join(listed, "; ")));
  const RetrainGroup& g = groups[size_t(std::max(group, 1) - 1)];
  const RetrainArm* arm = g.winner(track);
  if (!arm) {
    const auto& un = g.tracks[size_t(track - 1)].unranked;
    throw Error(fmt::format("{}: track {} ranks no retrain in group {} ({}){} (see srnas tracks)", d.path(), track,
                            g.number, g.label,
                            un.empty() ? std::string() : fmt::format(": trial {}: {}", un[0].trial.id, un[0].reason)));
  }
  if (const std::string& nb = g.tracks[size_t(track - 1)].not_beaten; !nb.empty())
    fmt::print(stderr, "note: track {} of retrain group {}: {}\n", track, g.number, nb);
  return arm->best_run();
}

std::string opt_str(const std::optional<double>& v, const char* f) {
  return v && std::isfinite(*v) ? fmt::format(fmt::runtime(f), *v) : "-";
}

std::string csv_escape(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string o = "\"";
  for (char c : s) o += c == '"' ? std::string("\"\"") : std::string(1, c);
  return o + "\"";
}

void print_trials(const std::vector<TrialRecord>& ts, const std::string& format, const std::string& extra_col = "",
                  const std::function<std::string(const TrialRecord&)>& extra = nullptr) {
  if (format == "json") {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& t : ts) a.push_back(trial_json(t));
    std::cout << a.dump(2) << "\n";
    return;
  }
  if (format == "csv") {
    std::cout << "trial,number,state,baseline,params,macs,psnr_rgb,psnr_y,runtime_s,runtime_ratio,budget,rung,parent,"
                 "genome_hash,reason,seconds\n";
    for (const auto& t : ts)
      std::cout << fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n", t.id, t.number, to_string(t.state),
                               t.is_baseline ? 1 : 0, t.params ? std::to_string(*t.params) : "",
                               t.macs ? std::to_string(*t.macs) : "", opt_str(t.psnr_rgb, "{:.6f}"),
                               opt_str(t.psnr_y, "{:.6f}"), opt_str(t.runtime_s, "{:.6g}"),
                               opt_str(t.runtime_ratio, "{:.6f}"), t.budget, t.rung,
                               t.parent_id ? std::to_string(*t.parent_id) : "", t.genome_hash, csv_escape(t.reason),
                               opt_str(trial_seconds(t), "{:.3f}"));
    return;
  }
  fmt::print("{:>5} {:<9} {:>11} {:>8} {:>9} {:>8} {:>8} {:>7} {:>8}  {}\n", "trial", "state", "params", "GMACs",
             "PSNR-RGB", "PSNR-Y", "runtime", "budget", "time", extra_col.empty() ? "note" : extra_col);
  for (const auto& t : ts) {
    std::string note = extra ? extra(t) : t.is_baseline ? "baseline" : t.reason;
    if (!extra && t.parent_id) {
      const auto seed = parse_retrain_settings(t.train_json).seed;
      note = fmt::format("retrain of {}{}{}", *t.parent_id, seed ? fmt::format(" (seed {})", *seed) : "",
                         t.reason.empty() ? "" : ": " + t.reason);
    }
    const std::optional<double> secs = trial_seconds(t);
    fmt::print("{:>5} {:<9} {:>11} {:>8} {:>9} {:>8} {:>8} {:>7} {:>8}  {}\n", t.id, to_string(t.state),
               t.params ? group_digits(*t.params) : "-",
               t.macs ? opt_str(double(*t.macs) / 1e9, "{:.2f}") : std::string("-"), opt_str(t.psnr_rgb, "{:.3f}"),
               opt_str(t.psnr_y, "{:.3f}"), opt_str(t.runtime_ratio, "{:.3f}"), t.budget,
               secs ? format_duration(*secs) : "-", note);
  }
}

}  // namespace

void add_search_commands(CLI::App& app) {
  static std::string config, db, study, timeout, objectives = "psnr,params,runtime", format = "table", state, out, options;
  static bool resume = false, verbose = false;
  static int group_size = 1;
  static int64_t trial = 0;
  static int track = 0;
  static std::vector<std::string> sets;

  auto* s = app.add_subcommand("search", "Run (or --resume) a search study from a config");
  s->add_option("--config", config, "search config YAML (configs/search/*.yaml)")->required();
  s->add_option("--db", db, "results DB file (default: the config's db, else <study>.db)")->check(non_empty_path());
  s->add_flag("--resume", resume, "continue the study: re-queue interrupted trials, keep everything recorded");
  s->add_flag("--verbose", verbose, "print training progress lines");
  s->add_option("--timeout", timeout,
                "wall-clock budget of this run (90s, 30m, 8h, 1h30m, 2d; overrides the config's timeout): no new "
                "candidate starts after it, running ones finish; --resume continues");
  s->add_option("--group-size", group_size, "MPI ranks per candidate (data-parallel); N/g candidates at once")
      ->check(int_range(1, 1 << 20))->capture_default_str();
  s->callback([] {
    SearchConfig cfg = load_search_config(config);
    if (!timeout.empty()) cfg.timeout_s = parse_duration_s(timeout, "--timeout");
    SearchOptions so;
    so.db_path = !db.empty() ? db : !cfg.db.empty() ? cfg.db : cfg.study + ".db";
    so.resume = resume;
    so.quiet = !verbose;
    install_stop_signals();
    SearchSummary sum;
    if (launched_by_mpi()) {
      MpiEnv env(nullptr, nullptr);
      sum = mpi_search(cfg, so, group_size, env);
      if (env.world_rank() != 0) return;
    } else {
      if (group_size != 1)
        throw Error(fmt::format("--group-size {} needs {} MPI ranks per group: run under mpirun -np N (N a multiple of {})",
                                group_size, group_size, group_size));
      warn_if_oversubscribed("search", cfg.device);
      auto pool = make_local_pool(make_local_runner(cfg, so.quiet), "local", load_watch("search", cfg.device));
      sum = run_search(cfg, so, *pool);
    }
    fmt::print("study '{}' in {}: {} complete, {} pruned, {} failed, {} pending, {} running ({:.0f} s){}\n", cfg.study,
               so.db_path, sum.counts[TrialState::Complete], sum.counts[TrialState::Pruned],
               sum.counts[TrialState::Failed], sum.counts[TrialState::Pending], sum.counts[TrialState::Running],
               sum.seconds,
               sum.interrupted ? " - interrupted; continue with --resume"
               : sum.timed_out ? fmt::format(" - stopped at the timeout ({}); continue with --resume",
                                             format_duration(cfg.timeout_s))
                               : "");
    if (!sum.final_settings.empty()) {  // the final stage's comparison, at its settings
      auto d = open_db(so.db_path);
      if (auto st = d->find_study(cfg.study))
        for (const RetrainGroup& g : retrain_groups(d->trials(st->id)))
          if (g.settings_json == sum.final_settings) {
            print_groups({g}, study_tracks(*d, st->id).bicubic_psnr_rgb);
            if (g.winner(1))
              fmt::print("  export Track 1's winner: srnas export --db {} --track 1 --retrained --group {} --out DIR\n",
                         so.db_path, g.number);
          }
    }
    if (sum.interrupted) throw Error("interrupted by a signal; run again with --resume");
  });

  auto* pl = app.add_subcommand("plan", "What a search config would cost: trainings per stage, measured s/step, time");
  static int plan_workers = 1, plan_samples = 64, plan_steps = 3;
  pl->add_option("--config", config, "search config YAML (configs/search/*.yaml)")->required();
  pl->add_option("--workers", plan_workers, "candidates trained at once (mpirun -np N --group-size g: N/g)")
      ->check(int_range(1, 1 << 20))->capture_default_str();
  pl->add_option("--samples", plan_samples, "genomes drawn from the space for the params/MACs shares")
      ->check(int_range(1, 1000000))->capture_default_str();
  pl->add_option("--steps", plan_steps, "timed training steps per network (after one untimed)")
      ->check(int_range(1, 1000))->capture_default_str();
  pl->add_option("--format", format, "table or json")->check(CLI::IsMember({"table", "json"}))->capture_default_str();
  pl->callback([] {
    const SearchConfig cfg = load_search_config(config);
    warn_if_oversubscribed("plan", cfg.device);  // its s/step are measured here and now
    const SearchPlan p = plan_search(cfg, plan_workers, plan_samples, 1, plan_steps);
    if (format == "json") {
      std::cout << to_json(p).dump(2) << "\n";
      return;
    }
    fmt::print("Plan of study '{}' ({}): {} candidates on {}, {} at once\n", cfg.study, config, cfg.trials, p.device,
               p.workers);
    fmt::print("space {}: of {} sampled genomes, {} above the limits (never proposed), {} above the baseline's {} "
               "params ({}); params p10/p50/p90 {} / {} / {}, GMACs {:.2f} / {:.2f} / {:.2f} at {}x{} LR\n",
               cfg.space, p.sampled, p.over_limits, p.pruned_params, group_digits(p.baseline_params),
               cfg.prune_params ? "PRUNED before training" : "trained: prune.params is off",
               group_digits(p.params_pct[0]), group_digits(p.params_pct[1]), group_digits(p.params_pct[2]),
               double(p.macs_pct[0]) / 1e9, double(p.macs_pct[1]) / 1e9, double(p.macs_pct[2]) / 1e9, cfg.macs_h,
               cfg.macs_w);
    fmt::print("data {}: {} validation images (mean LR {}x{}), {} training images: {} to decode\n", cfg.data.describe(),
               p.val_images, p.val_lr_w, p.val_lr_h, p.train_images, format_duration(p.load_s));
    auto held = [&](const char* what, int64_t bytes, const std::string& store, const std::string& cache) {
      fmt::print("  {} images decode to {}, {}\n", what, size_text(double(bytes)),
                 store == "memory" ? fmt::format("held in memory by each of the {} worker(s)", p.workers)
                 : cache == "current"
                     ? std::string("mapped from a current cache file (srnas data cache --list)")
                     : fmt::format("mapped from a cache file that one process builds first ({}; disk: that size "
                                   "under $SRNAS_CACHE; srnas data cache builds it ahead)", cache));
    };
    held("training", p.train_decoded_bytes, p.train_store, p.train_cache);
    held("validation", p.val_decoded_bytes, p.val_store, p.val_cache);
    fmt::print("measured here ({} training steps each; candidates on {} thread(s)):\n", plan_steps,
               p.candidate_threads);
    fmt::print("  {:<32} {:>11} {:>8} {:>9} {:>10} {:>9}\n", "network", "params", "GMACs", "s/step", "val pass",
               "probe");
    for (const TimedGenome& t : p.timed)
      fmt::print("  {:<32} {:>11} {:>8.2f} {:>9.4f} {:>9.3f}s {:>8.3f}s\n", t.what, group_digits(t.params),
                 double(t.macs) / 1e9, t.step_s, t.val_s, t.probe_s);
    fmt::print("\n{:<24} {:>6} {:>15} {:>12} {:>9} {:>10} {:>7} {:>10}\n", "stage", "runs", "iterations",
               "total its", "s/step", "extra/run", "at once", "time");
    for (const PlanRow& r : p.rows)
      fmt::print("{:<24} {:>6} {:>15} {:>12} {:>9} {:>10} {:>7} {:>10}\n", r.stage, r.runs,
                 r.to == 0 ? "-" : r.from > 0 ? fmt::format("{} -> {}", r.from, r.to) : std::to_string(r.to),
                 r.iterations(), r.to == 0 ? "-" : fmt::format("{:.4f}", r.step_s), format_duration(r.extra_s),
                 r.workers, format_duration(r.seconds()));
    fmt::print("{:<24} {:>6} {:>15} {:>12} {:>9} {:>10} {:>7} {:>10}\n", "total", "", "", "", "", "", "",
               format_duration(p.total_s));
    fmt::print("extra/run: the runtime probe (the reference timed with it), a validation pass per rung, decoding; "
               "not counted: pruning by runtime, asynchronous halving's extra early promotions\n");
  });

  auto add_common = [](CLI::App* c, bool with_format = true) {
    c->add_option("--db", db, "results DB file")->required();
    c->add_option("--study", study, "study name (needed when the DB holds several)");
    if (with_format)
      c->add_option("--format", format, "table, json or csv")->check(CLI::IsMember({"table", "json", "csv"}))->capture_default_str();
  };

  auto* sts = app.add_subcommand("studies", "List the studies of a DB: space, sampler, trial counts, best PSNR, time taken");
  sts->add_option("--db", db, "results DB file")->required();
  sts->add_option("--format", format, "table or json")->check(CLI::IsMember({"table", "json"}))->capture_default_str();
  sts->callback([] {
    auto d = open_db(db);
    nlohmann::json rows = nlohmann::json::array();
    for (const StudyRecord& st : d->studies()) {
      const std::string sampler = study_sampler_type(st);
      // The search's trials; retrains (other budgets) are counted apart.
      const std::vector<TrialRecord> all = d->trials(st.id), search = search_trials(all);
      const std::map<TrialState, int> counts = state_counts(search);
      int retrains = 0;
      for (const auto& t : all) retrains += is_retrain(t) && t.state == TrialState::Complete;
      std::optional<double> best, base;
      for (const auto& t : search) {
        if (t.state != TrialState::Complete || !t.psnr_rgb || !std::isfinite(*t.psnr_rgb)) continue;
        if (t.is_baseline) base = t.psnr_rgb;
        else if (!best || *t.psnr_rgb > *best) best = t.psnr_rgb;
      }
      const TrialTime time = trial_time(all);  // the search and its retrains
      nlohmann::json row = {{"study", st.name}, {"id", st.id}, {"space", st.space}, {"sampler", sampler},
                            {"device", st.device}, {"created_at", st.created_at}, {"best_psnr_rgb", num(best)},
                            {"baseline_psnr_rgb", num(base)}, {"retrains", retrains},
                            {"worker_s", time.worker_s}, {"wall_s", time.wall_s}};
      for (const auto& [state, n] : counts) row[to_string(state)] = n;
      rows.push_back(row);
    }
    if (format == "json") {
      std::cout << rows.dump(2) << "\n";
      return;
    }
    fmt::print("{:<24} {:<16} {:<10} {:>8} {:>6} {:>6} {:>7} {:>7} {:>10} {:>9} {:>8} {:>10} {:>10}\n", "study",
               "space", "sampler", "COMPLETE", "PRUNED", "FAILED", "RUNNING", "PENDING", "best PSNR", "baseline",
               "retrains", "trial time", "wall");
    for (const auto& r : rows)
      fmt::print("{:<24} {:<16} {:<10} {:>8} {:>6} {:>6} {:>7} {:>7} {:>10} {:>9} {:>8} {:>10} {:>10}\n",
                 r["study"].get<std::string>(),
                 r["space"].get<std::string>(), r["sampler"].get<std::string>(), r["COMPLETE"].get<int>(),
                 r["PRUNED"].get<int>(), r["FAILED"].get<int>(), r["RUNNING"].get<int>(), r["PENDING"].get<int>(),
                 r["best_psnr_rgb"].is_number() ? fmt::format("{:.3f}", r["best_psnr_rgb"].get<double>()) : "-",
                 r["baseline_psnr_rgb"].is_number() ? fmt::format("{:.3f}", r["baseline_psnr_rgb"].get<double>()) : "-",
                 r["retrains"].get<int>(), format_duration(r["worker_s"].get<double>()),
                 format_duration(r["wall_s"].get<double>()));
  });

  auto* tr = app.add_subcommand("trials", "List the trials of a study");
  add_common(tr);
  tr->add_option("--state", state, "only this state (PENDING, RUNNING, COMPLETE, PRUNED, FAILED)");
  static std::string sort_by = "number";
  static int limit = 0;
  tr->add_option("--sort", sort_by, "number, psnr (best first), params or runtime (smallest first)")
      ->check(CLI::IsMember({"number", "psnr", "params", "runtime"}))
      ->capture_default_str();
  tr->add_option("--limit", limit, "only the first N rows (0: all)")->check(int_range(0, 1 << 30))->capture_default_str();
  tr->callback([] {
    auto d = open_db(db);
    StudyRecord st = pick_study(*d, study);
    std::optional<TrialState> filter;
    if (!state.empty()) filter = trial_state_from_string(state);
    std::vector<TrialRecord> ts = d->trials(st.id, filter);
    // Trials without the sorted metric (pending, pruned before training, ...) go last, by number.
    auto key = [](const TrialRecord& t) -> std::optional<double> {
      if (sort_by == "psnr" && t.psnr_rgb && std::isfinite(*t.psnr_rgb)) return -*t.psnr_rgb;
      if (sort_by == "params" && t.params) return double(*t.params);
      if (sort_by == "runtime" && t.runtime_ratio && std::isfinite(*t.runtime_ratio)) return *t.runtime_ratio;
      return std::nullopt;
    };
    if (sort_by != "number")
      std::stable_sort(ts.begin(), ts.end(), [&](const TrialRecord& a, const TrialRecord& b) {
        const auto ka = key(a), kb = key(b);
        if (ka && kb) return *ka < *kb;
        return ka.has_value() && !kb.has_value();
      });
    if (limit > 0 && ts.size() > size_t(limit)) ts.resize(size_t(limit));
    print_trials(ts, format);
  });

  auto* pa = app.add_subcommand("pareto", "Non-dominated COMPLETE search trials (retrains: srnas tracks)");
  add_common(pa);
  pa->add_option("--objectives", objectives, "comma list of psnr, params, macs, runtime")->capture_default_str();
  pa->callback([] {
    auto objs = parse_objectives(objectives);
    auto d = open_db(db);
    StudyRecord st = pick_study(*d, study);
    auto front = pareto_trials(d->trials(st.id), objs);
    if (format == "table") {
      std::string names;
      for (auto o : objs) names += (names.empty() ? "" : ", ") + to_string(o);
      fmt::print("Pareto front of study '{}' ({}): {} trial(s)\n", st.name, names, front.size());
    }
    print_trials(front, format);
  });

  auto* tk = app.add_subcommand("tracks", "The three AIM 2019 tracks: rankings, the baseline, unranked trials; then the "
                                         "retrains, by settings (csv: the search's tracks only)");
  add_common(tk);
  tk->callback([] {
    auto d = open_db(db);
    StudyRecord st = pick_study(*d, study);
    TracksReport r = study_tracks(*d, st.id);
    if (format == "json") {
      nlohmann::json j = {{"study", st.name},
                          {"baseline", r.baseline ? trial_json(*r.baseline) : nlohmann::json(nullptr)},
                          {"bicubic", bicubic_json(r)},
                          {"warning", r.floor_warning.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.floor_warning)}};
      for (const auto& t : r.tracks) {
        nlohmann::json ranked = nlohmann::json::array(), unranked = nlohmann::json::array();
        for (const auto& x : t.ranked) ranked.push_back(trial_json(x));
        for (const auto& u : t.unranked) unranked.push_back({{"trial", u.trial.id}, {"reason", u.reason}});
        j["tracks"].push_back({{"track", t.track}, {"name", t.name}, {"ranked", ranked}, {"unranked", unranked},
                               {"not_beaten", text_or_null(t.not_beaten)}});
      }
      j["retrains"] = groups_json(retrain_groups(d->trials(st.id)));
      std::cout << j.dump(2) << "\n";
      return;
    }
    if (format == "csv") {
      std::cout << "track,rank,trial,params,psnr_rgb,runtime_ratio,reason\n";
      for (const auto& t : r.tracks) {
        int rank = 0;
        for (const auto& x : t.ranked)
          std::cout << fmt::format("{},{},{},{},{:.6f},{:.6f},\n", t.track, ++rank, x.id, *x.params, *x.psnr_rgb,
                                   *x.runtime_ratio);
        for (const auto& u : t.unranked) std::cout << fmt::format("{},,{},,,,{}\n", t.track, u.trial.id, csv_escape(u.reason));
      }
      return;
    }
    fmt::print("study '{}'\n", st.name);
    if (r.baseline) {
      fmt::print("baseline (trial {}): PSNR-RGB {:.3f} dB, {} params, runtime ratio {:.3f}\n", r.baseline->id,
                 *r.baseline->psnr_rgb, group_digits(*r.baseline->params), *r.baseline->runtime_ratio);
      if (r.bicubic_psnr_rgb)
        fmt::print("bicubic (no network, same validation images): PSNR-RGB {:.3f} dB, PSNR-Y {:.3f} dB\n",
                   *r.bicubic_psnr_rgb, r.bicubic_psnr_y.value_or(NAN));
      if (!r.floor_warning.empty()) fmt::print("warning: {}\n", r.floor_warning);
    } else {
      fmt::print("no COMPLETE baseline: nothing can be ranked\n");
    }
    const char* titles[] = {"Track 1 - fewest params (PSNR >= baseline, runtime <= baseline)",
                            "Track 2 - lowest runtime (params <= baseline, PSNR >= baseline)",
                            "Track 3 - best PSNR (params <= baseline, runtime <= baseline)"};
    for (const auto& t : r.tracks) {
      fmt::print("\n{}\n", titles[t.track - 1]);
      int rank = 0;
      for (const auto& x : t.ranked)
        fmt::print("  {:>2}. trial {:>4}  {:>11} params  {:.3f} dB  ratio {:.3f}\n", ++rank, x.id,
                   group_digits(*x.params), *x.psnr_rgb, *x.runtime_ratio);
      if (t.ranked.empty()) fmt::print("  (no eligible trial)\n");
      if (!t.not_beaten.empty()) fmt::print("  note: {}\n", t.not_beaten);
      for (const auto& u : t.unranked) fmt::print("   -  trial {:>4}  unranked: {}\n", u.trial.id, u.reason);
    }
    print_groups(retrain_groups(d->trials(st.id)), r.bicubic_psnr_rgb);
  });

  auto* ex = app.add_subcommand("export", "Write a trial's genome.json, weights.safetensors, trial.json, TorchScript model.pt, PyTorch model.py");
  static std::string from;
  auto* db_opt = ex->add_option("--db", db, "results DB file");
  ex->add_option("--study", study, "study name (needed when the DB holds several)");
  auto* tr_opt = ex->add_option("--trial", trial, "trial id");
  auto* tk_opt = ex->add_option("--track", track, "the winner of track 1, 2 or 3")->check(int_range(1, 3));
  static bool retrained = false;
  static int group = 0;
  auto* rt_flag = ex->add_flag("--retrained", retrained,
                               "the track's winner among the retrains (its best seed), not the search's trial")
                      ->needs(tk_opt);
  ex->add_option("--group", group, "with --retrained: the retrain group, as srnas tracks numbers them (needed when "
                                   "there are several)")
      ->check(int_range(1, 1000000))
      ->needs(rt_flag);
  auto* from_opt = ex->add_option("--from", from, "instead of a trial: a srnas train --out folder (genome.json + weights.safetensors)");
  tr_opt->excludes(tk_opt);
  from_opt->excludes(db_opt)->excludes(tr_opt)->excludes(tk_opt);
  ex->add_option("--out", out, "output folder")->required();
  ex->callback([] {
    if (!from.empty()) {
      const ModelFolder mf = open_model_folder(from, "--from");
      const Genome& g = mf.arch.genome;
      // Exported again in place: its trial.json describes this very network and stays.
      std::string keep;
      std::error_code ec;
      if (std::filesystem::equivalent(from, out, ec) && std::filesystem::exists(std::filesystem::path(out) / "trial.json"))
        keep = read_text_file((std::filesystem::path(out) / "trial.json").string());
      export_model_dir(g, read_safetensors(mf.weights), out, keep);
      fmt::print("exported {} ({} params) to {}/ (genome.json, weights.safetensors, model.pt, model.py)\n", from,
                 group_digits(count_params(g)), out);
      return;
    }
    if (db.empty()) throw Error("export: pass --db DB (with --trial N or --track 1|2|3) or --from DIR");
    auto d = open_db(db);
    TrialRecord t;
    if (track > 0 && retrained) {
      t = retrained_winner(*d, pick_study(*d, study), track, group);
    } else if (track > 0) {
      StudyRecord st = pick_study(*d, study);
      const std::vector<TrialRecord> ts = d->trials(st.id);
      auto w = track_winner(ts, track);
      if (!w) throw Error(fmt::format("{}: track {} has no eligible trial in study '{}' (see srnas tracks)", d->path(), track, st.name));
      t = *w;
      if (const std::string nb = rank_tracks(ts).tracks[size_t(track - 1)].not_beaten; !nb.empty())
        fmt::print(stderr, "note: track {}: {}\n", track, nb);
      if (const size_t n = retrain_groups(ts).size())
        fmt::print(stderr, "note: study '{}' has {} retrain group{} (srnas tracks): --retrained exports track {}'s "
                           "winner among them instead of this search trial\n",
                   st.name, n, n == 1 ? "" : "s", track);
    } else if (trial > 0) {
      auto x = d->trial(trial);
      if (!x) throw Error(fmt::format("{}: trial {} does not exist", d->path(), trial));
      t = *x;
    } else {
      throw Error("export: pass --trial N or --track 1|2|3");
    }
    if (t.state != TrialState::Complete || t.weights_path.empty())
      throw Error(fmt::format("{}: trial {} is {}{}: only COMPLETE trials with weights can be exported", d->path(), t.id,
                              to_string(t.state), t.reason.empty() ? "" : " (" + t.reason + ")"));
    Genome g = genome_from_string(t.genome_json);
    // What the trial measured, next to the network: its record, the study's baseline and
    // bicubic floor (what its numbers are relative to), the track it won, the config as run.
    const std::vector<StudyRecord> studies = d->studies();
    const auto st = std::find_if(studies.begin(), studies.end(), [&](const StudyRecord& s) { return s.id == t.study_id; });
    if (st == studies.end()) throw Error(fmt::format("{}: trial {} has no study", d->path(), t.id));
    const TracksReport tr = study_tracks(*d, st->id);
    nlohmann::json meta = {
        {"srnas", SRNAS_VERSION},
        {"db", d->path()},
        {"study", st->name},
        {"track", track > 0 ? nlohmann::json(track) : nlohmann::json(nullptr)},
        {"trial", trial_json(t)},
        {"baseline", tr.baseline ? trial_json(*tr.baseline) : nlohmann::json(nullptr)},
        {"bicubic", bicubic_json(tr)},
        {"config", st->config_yaml}};
    // A retrain compares with the baseline's retrains of its group, not with the search's
    // baseline: its group goes into trial.json, and whose retrain it is into the message.
    std::string what;
    if (is_retrain(t))
      for (const RetrainGroup& rg : retrain_groups(d->trials(st->id)))
        for (const RetrainArm* a : rg.every_arm())
          for (const TrialRecord& r : a->runs)
            if (r.id == t.id) {
              meta["retrain_group"] = groups_json({rg})[0];
              // What its numbers compare with: the baseline's retrains of its group (the search's
              // baseline, trained at the search's budget, is kept as search_baseline).
              meta["search_baseline"] = meta["baseline"];
              meta["baseline"] = meta["retrain_group"]["baseline"];
              what = fmt::format("  retrain of trial {}, seed {}: {} {} run{} in group {} ({}), mean {} dB\n",
                                 a->parent.id, seed_str(parse_retrain_settings(t.train_json).seed),
                                 retrained ? "the best of its" : "one of its", a->runs.size(),
                                 a->runs.size() == 1 ? "" : "s", rg.number, rg.label,
                                 pm(a->psnr_rgb_mean, a->psnr_rgb_sd));
            }
    if (retrained) meta["picked"] = "the best PSNR-RGB run of the track winner's retrains in its group";
    export_model_dir(g, read_safetensors(t.weights_path), out, meta.dump(2) + "\n");
    fmt::print("exported trial {} ({} params, {:.3f} dB) to {}/ (genome.json, weights.safetensors, model.pt, "
               "model.py, trial.json)\n{}",
               t.id, group_digits(t.params.value_or(0)), t.psnr_rgb.value_or(NAN), out, what);
  });

  auto* rt = app.add_subcommand(
      "retrain", "Train trials' genomes again with other options (budget, seeds) as linked trials, compared with "
                 "the baseline retrained alike");
  static std::vector<int64_t> retrain_ids;
  static std::vector<uint64_t> seeds;
  rt->add_option("--db", db, "results DB file")->required();
  rt->add_option("--trial", retrain_ids, "trial ids to retrain, e.g. 1,7,12 (the baseline too, to compare with)")
      ->required()->delimiter(',');
  rt->add_option("--options", options, "training options YAML")->required();
  rt->add_option("--set", sets, "override an option: key.path=value (repeatable)");
  rt->add_option("--seeds", seeds, "one retrain per seed, e.g. 1,2,3 (default: the options' seed)")
      ->delimiter(',')
      ->check(int_range(0, std::numeric_limits<long long>::max()));
  static bool from_parent = false;
  rt->add_flag("--from-parent", from_parent,
               "fine-tune: start from each trial's trained search weights instead of the seed's initialisation");
  rt->add_flag("--verbose", verbose, "print training progress lines");
  rt->callback([] {
    auto d = open_db(db, /*write=*/true);
    std::vector<TrialRecord> parents;
    for (int64_t id : retrain_ids) {
      auto p = d->trial(id);
      if (!p) throw Error(fmt::format("{}: trial {} does not exist", d->path(), id));
      if (!parents.empty() && p->study_id != parents.front().study_id)
        throw Error(fmt::format("{}: trials {} and {} are in different studies: retrain one study at a time", d->path(),
                                parents.front().id, id));
      parents.push_back(*p);
    }
    StudyRecord st;
    for (const auto& s : d->studies())
      if (s.id == parents.front().study_id) st = s;
    TrainOptions opt = load_train_options(options, sets);
    if (seeds.empty()) seeds.push_back(opt.seed);
    SearchConfig cfg = load_search_config_text(st.config_yaml, d->path() + " (study " + st.name + ")");
    install_stop_signals();
    auto runner = make_local_runner(cfg, !verbose);
    const std::string runs = study_runs_dir(cfg, db);
    const size_t total = parents.size() * seeds.size();
    size_t k = 0, busy = 0;
    bool failed = false;
    for (const TrialRecord& p : parents)
      for (uint64_t seed : seeds) {
        opt.seed = seed;
        ++k;
        RetrainOutcome r = retrain_trial(*d, p.id, opt, *runner, runs, "", from_parent);
        const TrialRecord& t = r.trial;
        const std::string what = fmt::format("[{}/{}] trial {} (seed {})", k, total, p.id, seed);
        if (r.how == RetrainOutcome::How::Reused) {
          fmt::print("{}: already retrained with these options as trial {}: PSNR-RGB {:.3f} dB\n", what, t.id,
                     t.psnr_rgb.value_or(NAN));
          std::fflush(stdout);
          continue;
        }
        if (r.how == RetrainOutcome::How::Busy) {
          fmt::print("{}: skipped: trial {} is retraining it (worker {}, heartbeat {:.0f} s ago)\n", what, t.id,
                     t.worker, std::difftime(std::time(nullptr), std::time_t(t.heartbeat_at)));
          ++busy;
          std::fflush(stdout);
          continue;
        }
        fmt::print("{}: {}retrain trial {}: {} at {} iterations, PSNR-RGB {:.3f} dB{}\n", what,
                   r.how == RetrainOutcome::How::Continued ? "continued interrupted " : "", t.id, to_string(t.state),
                   t.budget, t.psnr_rgb.value_or(NAN), t.reason.empty() ? "" : " (" + t.reason + ")");
        std::fflush(stdout);  // one line per retrain, as it finishes, also into a pipe or a log file
        if (t.state == TrialState::Pending) throw Error("interrupted: run the same command again to continue");
        failed |= t.state != TrialState::Complete;
      }
    // Where these retrains stand: their group (same settings but the seed) of the study.
    const std::string key = parse_retrain_settings(retrain_settings(opt, runner->device(), from_parent).dump()).key;
    const std::vector<TrialRecord> all = d->trials(st.id);
    for (const RetrainGroup& g : retrain_groups(all)) {
      if (g.settings_json != key) continue;
      print_groups({g}, study_tracks(*d, st.id).bicubic_psnr_rgb);
      if (g.baseline) continue;
      for (const TrialRecord& b : all)
        if (b.is_baseline && !is_retrain(b)) {
          std::string cmd = fmt::format("srnas retrain --db {} --trial {} --options {}", db, b.id, options);
          for (const std::string& x : sets) cmd += " --set " + x;
          if (from_parent) cmd += " --from-parent";
          std::vector<std::string> ss;
          for (uint64_t x : seeds) ss.push_back(std::to_string(x));
          fmt::print("  to rank them: {} --seeds {}\n", cmd, fmt::join(ss, ","));
        }
    }
    if (busy > 0)
      fmt::print("{} retrain(s) still running in other processes: run this again once they finish to see them all\n",
                 busy);
    if (failed) throw Error("a retrain failed (see above; FAILED retrains are kept, the next run trains them anew)");
  });
}

}  // namespace srnas::cli
