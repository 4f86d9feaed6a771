// `srnas ask | tell`: the ask-and-tell interface (distributed/ask_tell.h). ask hands out the
// study's next trial to train outside srnas and writes its folder (genome.json, model.py,
// init.safetensors, job.json); tell records what came of it.
#include <filesystem>
#include <iostream>

#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "analysis/export.h"
#include "cli/commands.h"
#include "cli/format.h"
#include "distributed/ask_tell.h"
#include "search_space/builder.h"
#include "search_space/error.h"
#include "search_space/genome.h"
#include "search_space/weights.h"

namespace srnas::cli {

namespace fs = std::filesystem;


void add_ask_commands(CLI::App& app) {
  static std::string config, db, format = "json", tell_format = "text", weights, failed;
  static int64_t trial = 0, iterations = 0;
  static bool release = false, alive = false;
  static std::string stale;

  auto* ask = app.add_subcommand("ask", "Hand out the study's next trial to train outside srnas (exit 3: none left)");
  ask->add_option("--config", config, "search config YAML (no final:)")->required();
  ask->add_option("--db", db, "results DB file (default: the config's db, else <study>.db)")->check(non_empty_path());
  ask->add_option("--format", format, "json (one object) or text")->check(CLI::IsMember({"json", "text"}))
      ->capture_default_str();
  ask->add_option("--requeue-stale", stale,
                  "first hand out again trials without a tell or heartbeat (tell --alive) for this long (6h, 2d)");
  ask->callback([] {
    const SearchConfig cfg = load_search_config(config);
    const double stale_s = stale.empty() ? 0 : parse_duration_s(stale, "--requeue-stale");
    SearchOptions so;
    so.db_path = !db.empty() ? db : !cfg.db.empty() ? cfg.db : cfg.study + ".db";
    so.resume = true;  // the first ask creates the study, the next ones continue it
    so.quiet = true;
    install_stop_signals();
    auto pool = make_local_pool(make_local_runner(cfg, true, /*training_data=*/false), "ask");
    const std::optional<AskedTrial> a = ask_trial(cfg, so, *pool, stale_s);
    if (!a) {
      fmt::print(stderr, "[ask] study '{}': nothing left to hand out (no candidate left to propose; trials still "
                         "training outside are told with srnas tell)\n",
                 cfg.study);
      throw ExitStatus{3};
    }
    // The trial's folder: what a trainer in another language needs, next to where tell keeps the weights.
    const TrialRecord& t = a->trial;
    const Genome g = genome_from_string(t.genome_json);
    const fs::path dir = a->run_dir;
    fs::create_directories(dir);
    write_text_atomic((dir / "genome.json").string(), to_json(g).dump(2) + "\n");
    write_text_atomic((dir / "model.py").string(), pytorch_source(g));
    torch::manual_seed(a->options.seed);  // srnas train's initialisation
    SRNet net(g);
    save_weights(*net, (dir / "init.safetensors").string());
    const fs::path weights_out = dir / "trained.safetensors";
    // Successive halving: the budgets of the rungs a candidate may reach (tell says when to go on).
    nlohmann::json rungs = nlohmann::json::array();
    if (cfg.asha && !t.is_baseline)
      for (int r = 0; r < cfg.asha->rungs; ++r) rungs.push_back(rung_budget(*cfg.asha, r));
    nlohmann::json job = {
        {"trial", t.id},
        {"number", t.number},
        {"study", cfg.study},
        {"db", so.db_path},
        {"baseline", t.is_baseline},
        {"dir", dir.string()},
        {"genome", to_json(g)},
        {"model_py", (dir / "model.py").string()},
        {"init_weights", (dir / "init.safetensors").string()},
        {"weights", weights_out.string()},
        {"iterations", a->options.iterations},
        {"rungs", rungs},
        {"options", to_json(a->options)},
        {"data", {{"train", cfg.data.train}, {"val", cfg.data.val}, {"val_images", cfg.data.val_images}}},
        {"params", t.params ? nlohmann::json(*t.params) : nlohmann::json(nullptr)},
        {"macs", t.macs ? nlohmann::json(*t.macs) : nlohmann::json(nullptr)},
        {"runtime_ratio", t.runtime_ratio ? nlohmann::json(*t.runtime_ratio) : nlohmann::json(nullptr)},
        {"tell", fmt::format("srnas tell --db {} --trial {} --weights {}", so.db_path, t.id, weights_out.string())}};
    write_text_atomic((dir / "job.json").string(), job.dump(2) + "\n");
    if (format == "json") {
      std::cout << job.dump() << "\n";
      return;
    }
    fmt::print("trial {} (#{}{}): {} params, runtime ratio {:.3f}; train {} iterations (seed {}) from {}\n"
               "then: {}\n",
               t.id, t.number, t.is_baseline ? ", the baseline" : "", group_digits(t.params.value_or(0)),
               t.runtime_ratio.value_or(NAN), a->options.iterations, a->options.seed,
               (dir / "init.safetensors").string(), job["tell"].get<std::string>());
  });

  auto* tell = app.add_subcommand("tell", "Record a trial handed out by srnas ask: validate its trained weights, or FAILED");
  tell->add_option("--db", db, "results DB file")->required();
  tell->add_option("--trial", trial, "trial id (ask's \"trial\")")->required();
  tell->add_option("--weights", weights, "trained weights (safetensors, srnas names: model.py's save())");
  tell->add_option("--failed", failed, "record it FAILED with this reason");
  tell->add_flag("--release", release, "put it back to PENDING, for the next ask");
  tell->add_flag("--alive", alive, "only a heartbeat: still training (see ask --requeue-stale)");
  tell->add_option("--iterations", iterations, "iterations it was trained for in all (default: its budget)")
      ->check(int_range(1, 1LL << 40));
  tell->add_option("--format", tell_format, "text, or json (continue_to: the next rung's budget when promoted)")
      ->check(CLI::IsMember({"json", "text"}))->capture_default_str();
  tell->callback([] {
    TellInput in;
    in.weights = weights;
    in.failed = failed;
    in.release = release;
    in.alive = alive;
    in.iterations = iterations;
    const TellOutcome told = tell_trial(db, trial, in);
    const TrialRecord& t = told.trial;
    if (tell_format == "json") {
      auto num = [](const auto& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
      std::cout << nlohmann::json{{"trial", t.id},           {"state", to_string(t.state)},
                                  {"reason", t.reason},      {"psnr_rgb", num(t.psnr_rgb)},
                                  {"psnr_y", num(t.psnr_y)}, {"rung", t.rung},
                                  {"continue_to", num(told.continue_to)}}
                       .dump()
                << "\n";
      return;
    }
    if (alive)
      fmt::print("trial {}: heartbeat recorded\n", t.id);
    else if (told.continue_to)
      fmt::print("trial {} promoted to rung {} (PSNR-RGB {:.3f} dB at {} iterations): train on to {} iterations from "
                 "these weights, then tell again\n",
                 t.id, t.rung, t.rung_psnr.count(t.rung - 1) ? t.rung_psnr.at(t.rung - 1) : NAN, t.budget,
                 *told.continue_to);
    else if (t.state == TrialState::Complete)
      fmt::print("trial {} COMPLETE: PSNR-RGB {:.3f} dB, PSNR-Y {:.3f} dB on the study's validation images; {} params, "
                 "runtime ratio {:.3f}\n",
                 t.id, *t.psnr_rgb, *t.psnr_y, group_digits(t.params.value_or(0)), t.runtime_ratio.value_or(NAN));
    else
      fmt::print("trial {} {}: {}\n", t.id, to_string(t.state), t.reason);
  });
}

}  // namespace srnas::cli
