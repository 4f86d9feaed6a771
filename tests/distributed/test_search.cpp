// The search as a user runs it: real `srnas search` processes on real image files and a
// real SQLite DB; kill -9 at random moments, --resume, concurrent readers, bad input.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <chrono>
#include <ctime>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "../support/cli_runner.h"
#include "../support/images.h"
#include "../support/scratch.h"
#include "search_space/genome.h"
#include "trainer/image.h"

using srnas::testing::expect_cli_error;
using srnas::testing::run_cli;
namespace fs = std::filesystem;

namespace {

fs::path fresh(const std::string& name) { return srnas::testing::scratch_dir(name); }

srnas::Image pattern(int h, int w, int k) { return srnas::testing::ramp_pattern(h, w, k); }

// A data root (3 train, 1 val photo-like images), tiny options and a search config.
fs::path make_study(const std::string& name, int trials, const std::string& sampler = "random",
                    const std::string& extra = "", int iterations = 8, bool asha = true) {
  fs::path d = fresh(name);
  fs::create_directories(d / "data" / "train");
  fs::create_directories(d / "data" / "val");
  for (int i = 0; i < 3; ++i) srnas::write_png((d / "data" / "train" / fmt::format("t{}.png", i)).string(), pattern(64, 64, i));
  srnas::write_png((d / "data" / "val" / "v.png").string(), pattern(48, 48, 7));
  std::ofstream(d / "tiny.yaml") << "iterations: " << iterations << "\nbatch_size: 2\npatch_size: 8\nlog_every: 4\ncheckpoint_every: 2\n"
                                    "lr: 1.0e-3\ndevice: cpu\nloader: {workers: 1}\n";
  std::ofstream(d / "search.yaml") << fmt::format(
      "study: {}\nspace: unified_small\nsampler: {{type: {}}}\ntrials: {}\nseed: 3\ndata: {}\n"
      "train: {{options: {}}}\n{}"
      "runtime: {{runs: 1, warmup: 1, max_images: 1, crop_lr: 12}}\ndevice: cpu\n{}",
      name, sampler, trials, (d / "data").string(), (d / "tiny.yaml").string(),
      asha ? "asha: {min_budget: 4, eta: 2, rungs: 2}\n" : "", extra);
  return d;
}

// A whole file (a job's log, a config); "" when it cannot be read.
std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

// How often `what` occurs in text.
size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Writes `to` as `from` with the first `old` replaced by `now` (a config or options variant);
// throws when `from` has no `old`.
void edit_copy(const fs::path& from, const fs::path& to, const std::string& old, const std::string& now) {
  std::string text = read_text(from);
  const size_t at = text.find(old);
  if (at == std::string::npos) throw std::runtime_error(from.string() + " has no '" + old + "'");
  text.replace(at, old.size(), now);
  std::ofstream(to) << text;
}

std::string search_cmd(const fs::path& d, bool resume) {
  return "search --config " + (d / "search.yaml").string() + " --db " + (d / "s.db").string() +
         (resume ? " --resume" : "");
}

nlohmann::json trials_json(const fs::path& d) {
  auto r = run_cli("trials --db " + (d / "s.db").string() + " --format json");
  EXPECT_EQ(r.status, 0) << r.err;
  return nlohmann::json::parse(r.out.empty() ? "[]" : r.out);
}

// Every proposed trial final exactly once, numbers 0..n-1, no duplicate candidate genome.
void expect_complete_study(const nlohmann::json& ts, int trials) {
  ASSERT_EQ(ts.size(), size_t(trials + 1)) << ts.dump(1);
  std::set<std::string> hashes;
  int baselines = 0;
  for (size_t i = 0; i < ts.size(); ++i) {
    const auto& t = ts[i];
    EXPECT_EQ(t["number"], int(i));
    std::string s = t["state"];
    EXPECT_TRUE(s == "COMPLETE" || s == "PRUNED" || s == "FAILED") << t.dump();
    if (t["baseline"]) {
      ++baselines;
      EXPECT_EQ(s, "COMPLETE");
    } else {
      EXPECT_TRUE(hashes.insert(t["genome_hash"]).second) << "duplicate genome " << t.dump();
    }
    if (s == "COMPLETE") {
      EXPECT_TRUE(t["psnr_rgb"].is_number()) << t.dump();
    }
  }
  EXPECT_EQ(baselines, 1);
}

// The study's bicubic floor (recorded with the baseline's probe, shown by `srnas tracks`)
// is what `srnas eval --arch bicubic` gives on the same validation images.
void expect_bicubic_floor(const fs::path& d, int images = 1) {
  auto tk = run_cli("tracks --db " + (d / "s.db").string() + " --format json");
  ASSERT_EQ(tk.status, 0) << tk.err;
  const auto floor = nlohmann::json::parse(tk.out).at("bicubic");
  auto ev = run_cli("eval --arch bicubic --data " + (d / "data").string() + " --format json");
  ASSERT_EQ(ev.status, 0) << ev.err;
  const auto e = nlohmann::json::parse(ev.out);
  ASSERT_EQ(e.at("images"), images) << "the val split: " << ev.out;
  ASSERT_TRUE(floor.at("psnr_rgb").is_number()) << tk.out;
  EXPECT_NEAR(floor.at("psnr_rgb").get<double>(), e.at("psnr_rgb").get<double>(), 1e-9);
  EXPECT_NEAR(floor.at("psnr_y").get<double>(), e.at("psnr_y").get<double>(), 1e-9);
  auto text = run_cli("tracks --db " + (d / "s.db").string());
  EXPECT_NE(text.out.find(fmt::format("bicubic (no network, same validation images): PSNR-RGB {:.3f} dB",
                                      e.at("psnr_rgb").get<double>())),
            std::string::npos)
      << text.out;
}

pid_t spawn(const std::string& args) {
  pid_t pid = fork();
  if (pid == 0) {
    std::string cmd = std::string("exec ") + SRNAS_BIN + " " + args + " >/dev/null 2>&1";
    execl("/bin/sh", "sh", "-c", cmd.c_str(), (char*)nullptr);
    _exit(127);
  }
  return pid;
}

}  // namespace

TEST(Search, RunsAStudyThenAnalysisAndExport) {
  fs::path d = make_study("basic", 4);
  auto r = run_cli(search_cmd(d, false));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("[search] baseline 0/4"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("[search] trial 4/4"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("[search] bicubic (no network) on the validation images: PSNR-RGB "), std::string::npos)
      << r.err;
  auto ts = trials_json(d);
  expect_complete_study(ts, 4);
  expect_bicubic_floor(d);
  // What it took: every trial's wall time from its claim to its end; the study's worker time
  // is their sum, its wall time at least the longest trial's (one worker: at least the sum).
  double sum = 0, longest = 0;
  for (const auto& t : ts) {
    ASSERT_TRUE(t["seconds"].is_number()) << t.dump();
    EXPECT_NEAR(t["seconds"].get<double>(), t["finished_at"].get<double>() - t["started_at"].get<double>(), 1e-9);
    EXPECT_GT(t["seconds"].get<double>(), 0) << t.dump();
    sum += t["seconds"].get<double>();
    longest = std::max(longest, t["seconds"].get<double>());
  }
  {
    const auto studies = nlohmann::json::parse(run_cli("studies --db " + (d / "s.db").string() + " --format json").out);
    EXPECT_NEAR(studies[0]["worker_s"].get<double>(), sum, 1e-6);
    EXPECT_GE(studies[0]["wall_s"].get<double>() + 1e-6, sum) << "one worker: the trials follow each other";
    EXPECT_GE(studies[0]["wall_s"].get<double>(), longest);
  }
  // final trials keep their weights, not their checkpoint (keep_checkpoints: false)
  int trained = 0;
  for (const auto& t : ts) {
    const fs::path run = d / "s.db.runs" / "basic" / fmt::format("trial_{}", t["number"].get<int>());
    if (t["weights"].get<std::string>().empty()) continue;  // pruned before training
    ++trained;
    EXPECT_TRUE(fs::exists(t["weights"].get<std::string>())) << t.dump();
    EXPECT_TRUE(fs::exists(run / "log.jsonl")) << run;
    EXPECT_FALSE(fs::exists(run / "checkpoint")) << run;
  }
  EXPECT_GE(trained, 2);
  // running it again without --resume is refused, nothing changes
  expect_cli_error(search_cmd(d, false), "already exists; pass --resume");
  EXPECT_EQ(trials_json(d), ts);
  // --resume of a finished study adds nothing
  ASSERT_EQ(run_cli(search_cmd(d, true)).status, 0);
  EXPECT_EQ(trials_json(d), ts);
  // fidelity pairs the trials promoted to rung 1 (budgets 4 -> 8 iterations)
  {
    int promoted = 0;
    for (const auto& t : ts) promoted += !t["baseline"].get<bool>() && t["rung"] == 1 && t["state"] == "COMPLETE";
    auto fi = run_cli("fidelity --db " + (d / "s.db").string() + " --format json");
    ASSERT_EQ(fi.status, 0) << fi.err;
    const auto rows = nlohmann::json::parse(fi.out);
    if (promoted == 0) {
      EXPECT_TRUE(rows.empty()) << fi.out;
    } else {
      ASSERT_EQ(rows.size(), 1u) << fi.out;
      // (labelled "(4 it)" when a trial ended on rung 0 with its budget)
      EXPECT_EQ(rows[0]["from"].get<std::string>().rfind("rung 0", 0), 0u) << fi.out;
      EXPECT_EQ(rows[0]["to"], "rung 1 (8 it)");
      EXPECT_EQ(rows[0]["pairs"], promoted);
    }
  }

  auto p = run_cli("pareto --db " + (d / "s.db").string() + " --format json");
  ASSERT_EQ(p.status, 0) << p.err;
  EXPECT_GE(nlohmann::json::parse(p.out).size(), 1u);
  auto tk = run_cli("tracks --db " + (d / "s.db").string() + " --format json");
  ASSERT_EQ(tk.status, 0) << tk.err;
  auto tj = nlohmann::json::parse(tk.out);
  EXPECT_EQ(tj["tracks"].size(), 3u);
  EXPECT_TRUE(tj["baseline"]["baseline"].get<bool>());
  {  // tracks' CSV gives PSNR and runtime ratio with the digits of trials' CSV
    auto tc = run_cli("tracks --db " + (d / "s.db").string() + " --format csv");
    ASSERT_EQ(tc.status, 0) << tc.err;
    std::map<int, nlohmann::json> by_id;
    for (const auto& t : ts) by_id[t["trial"].get<int>()] = t;
    std::istringstream lines(tc.out);
    std::string line;
    int ranked = 0;
    while (std::getline(lines, line)) {
      std::vector<std::string> f;
      std::stringstream fields(line);
      for (std::string x; std::getline(fields, x, ',');) f.push_back(x);
      if (f.size() < 6 || f[1].empty() || f[1] == "rank") continue;
      const auto& t = by_id.at(std::stoi(f[2]));
      EXPECT_EQ(f[4], fmt::format("{:.6f}", t["psnr_rgb"].get<double>())) << line;
      EXPECT_EQ(f[5], fmt::format("{:.6f}", t["runtime_ratio"].get<double>())) << line;
      ++ranked;
    }
    size_t in_json = 0;
    for (const auto& t : tj["tracks"]) in_json += t["ranked"].size();
    EXPECT_EQ(size_t(ranked), in_json) << tc.out;
  }
  {  // sorted and limited: best PSNR first, trials without one last
    auto sorted = run_cli("trials --db " + (d / "s.db").string() + " --sort psnr --format json");
    ASSERT_EQ(sorted.status, 0) << sorted.err;
    const auto rows = nlohmann::json::parse(sorted.out);
    ASSERT_EQ(rows.size(), ts.size());
    bool seen_missing = false;
    for (size_t i = 0; i < rows.size(); ++i) {
      if (!rows[i]["psnr_rgb"].is_number()) {
        seen_missing = true;
        continue;
      }
      EXPECT_FALSE(seen_missing) << "a trial with PSNR after one without: " << rows.dump(1);
      if (i > 0 && rows[i - 1]["psnr_rgb"].is_number()) {
        EXPECT_GE(rows[i - 1]["psnr_rgb"].get<double>(), rows[i]["psnr_rgb"].get<double>());
      }
    }
    auto two = run_cli("trials --db " + (d / "s.db").string() + " --sort params --limit 2 --format json");
    ASSERT_EQ(two.status, 0) << two.err;
    const auto small = nlohmann::json::parse(two.out);
    ASSERT_EQ(small.size(), 2u);
    EXPECT_LE(small[0]["params"].get<int64_t>(), small[1]["params"].get<int64_t>());
    expect_cli_error("trials --db " + (d / "s.db").string() + " --sort speed", "--sort");
  }
  {  // studies: one row per study, its counts as `trials` has them
    auto sj = run_cli("studies --db " + (d / "s.db").string() + " --format json");
    ASSERT_EQ(sj.status, 0) << sj.err;
    const auto rows = nlohmann::json::parse(sj.out);
    ASSERT_EQ(rows.size(), 1u);
    int complete = 0;
    for (const auto& t : ts) complete += t["state"] == "COMPLETE";
    EXPECT_EQ(rows[0]["study"], "basic");
    EXPECT_EQ(rows[0]["sampler"], "random");
    EXPECT_EQ(rows[0]["COMPLETE"], complete);
    EXPECT_EQ(rows[0]["baseline_psnr_rgb"], ts[0]["psnr_rgb"]);
    auto st = run_cli("studies --db " + (d / "s.db").string());
    EXPECT_NE(st.out.find("basic "), std::string::npos) << st.out;
  }
  auto csv = run_cli("trials --db " + (d / "s.db").string() + " --format csv");
  EXPECT_EQ(std::count(csv.out.begin(), csv.out.end(), '\n'), 6);

  // export a COMPLETE trial (the baseline is one), refuse a missing one
  auto e = run_cli("export --db " + (d / "s.db").string() + " --trial 1 --out " + (d / "export").string());
  ASSERT_EQ(e.status, 0) << e.err;
  EXPECT_TRUE(fs::exists(d / "export" / "model.pt"));
  EXPECT_TRUE(fs::exists(d / "export" / "model.py"));
  EXPECT_TRUE(e.out.find("(genome.json, weights.safetensors, model.pt, model.py, trial.json)") != std::string::npos)
      << e.out;
  {  // what the trial measured, relative to what: the record, the baseline, the floor, the config
    const auto meta = nlohmann::json::parse(std::ifstream(d / "export" / "trial.json"));
    EXPECT_EQ(meta.at("study"), "basic");
    EXPECT_EQ(meta.at("trial").at("trial"), 1);
    EXPECT_EQ(meta.at("trial"), ts[0]) << "the same record srnas trials prints";
    EXPECT_TRUE(meta.at("baseline").at("baseline").get<bool>());
    EXPECT_TRUE(meta.at("bicubic").at("psnr_rgb").is_number());
    EXPECT_TRUE(meta.at("track").is_null());
    EXPECT_NE(meta.at("config").get<std::string>().find("study: basic"), std::string::npos);
  }
  EXPECT_TRUE(fs::exists(d / "export" / "weights.safetensors"));
  EXPECT_TRUE(fs::exists(d / "export" / "genome.json"));
  expect_cli_error("export --db " + (d / "s.db").string() + " --trial 999 --out " + (d / "x").string(),
                   "trial 999 does not exist");
  for (const auto& t : ts)
    if (t["state"] != "COMPLETE") {
      expect_cli_error("export --db " + (d / "s.db").string() + " --trial " + std::to_string(t["trial"].get<int>()) +
                           " --out " + (d / "x").string(),
                       "only COMPLETE trials with weights can be exported");
      break;
    }

  // retrain the baseline's genome at a different budget: a new linked trial
  std::ofstream(d / "long.yaml") << "iterations: 12\nbatch_size: 2\npatch_size: 8\ndevice: cpu\nloader: {workers: 1}\n";
  auto rt = run_cli("retrain --db " + (d / "s.db").string() + " --trial 1 --options " + (d / "long.yaml").string());
  ASSERT_EQ(rt.status, 0) << rt.err;
  auto after = trials_json(d);
  ASSERT_EQ(after.size(), ts.size() + 1);
  EXPECT_EQ(after.back()["parent"], 1);
  EXPECT_EQ(after.back()["state"], "COMPLETE");
  EXPECT_EQ(after.back()["budget"], 12);
  auto fi = run_cli("fidelity --db " + (d / "s.db").string() + " --format json");
  ASSERT_EQ(fi.status, 0) << fi.err;
  const auto rows = nlohmann::json::parse(fi.out);
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows.back()["from"], "search");
  EXPECT_EQ(rows.back()["pairs"], 1);
  EXPECT_TRUE(rows.back()["rho"].is_null()) << "one pair has no rank correlation";
  EXPECT_NEAR(rows.back()["mean_gain_db"].get<double>(),
              after.back()["psnr_rgb"].get<double>() - after[0]["psnr_rgb"].get<double>(), 1e-9);
}

// srnas plan: the config's stages with the counts worked out from it (successive halving's
// rungs, the limits' share of the space, the final stage), seconds per step, validation
// passes and probes measured, the times their products; it writes no DB.
TEST(Search, PlanPricesTheStagesWithoutTrainingOrWriting) {
  setenv("SRNAS_CACHE", (srnas::testing::scratch() / "cache").c_str(), 1);
  fs::path d = make_study("plan", 6, "random", "limits: {max_params: 30000}\n");
  std::ofstream(d / "long.yaml") << "iterations: 12\nbatch_size: 2\npatch_size: 8\ndevice: cpu\n";
  std::ofstream(d / "search.yaml", std::ios::app) << "final: {options: " << (d / "long.yaml").string()
                                                  << ", top: 1, seeds: [1, 2]}\n";
  auto r = run_cli("plan --config " + (d / "search.yaml").string() + " --format json --samples 40 --steps 1 --workers 2");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto p = nlohmann::json::parse(r.out);
  EXPECT_EQ(p["device"], "cpu");
  EXPECT_EQ(p["sampled"], 40);
  const int over = p["over_limits"], pruned = p["pruned_params"];
  EXPECT_GT(over, 0) << "unified_small has genomes above 30,000 params";
  EXPECT_LT(over, 40);
  EXPECT_EQ(pruned, 0) << "nothing in unified_small is larger than MSRResNet";
  EXPECT_EQ(p["trained"], 6);
  EXPECT_LE(p["params_p10_p50_p90"][2].get<int64_t>(), 30000);
  EXPECT_EQ(p["val_images"], 1);
  EXPECT_EQ(p["train_images"], 3);
  EXPECT_EQ(p["val_lr_size"], nlohmann::json::array({12, 12})) << "48x48 HR";
  const auto& st = p["stages"];
  // data, baseline, rung 0, rung 1, final baseline, final winners
  ASSERT_EQ(st.size(), 6u) << st.dump(1);
  EXPECT_EQ(st[0]["stage"], "data (decode)");
  EXPECT_EQ(st[0]["iterations"], 0);
  EXPECT_GT(st[0]["extra_s"].get<double>(), 0);
  EXPECT_EQ(st[1]["stage"], "baseline (msrresnet)");
  EXPECT_EQ(st[1]["runs"], 1);
  EXPECT_EQ(st[1]["to"], 8) << "the baseline trains to the last rung's budget";
  EXPECT_EQ(st[1]["workers"], 1);
  EXPECT_EQ(st[2]["runs"], 6);
  EXPECT_EQ(st[2]["from"], 0);
  EXPECT_EQ(st[2]["to"], 4);
  EXPECT_EQ(st[3]["runs"], 3);
  EXPECT_EQ(st[3]["from"], 4);
  EXPECT_EQ(st[3]["iterations"], 12) << "3 trials continue from 4 to 8";
  EXPECT_EQ(st[4]["stage"], "final: baseline");
  EXPECT_EQ(st[4]["runs"], 2);
  EXPECT_EQ(st[4]["iterations"], 24);
  EXPECT_EQ(st[5]["runs"], 6) << "3 tracks x top 1, 2 seeds each";
  // Extras: the probe (with the reference, runtime.reference each) and a validation pass
  // before rung 0 ends; only the validation pass at rung 1.
  const auto& timed = p["timed"];
  ASSERT_GE(timed.size(), 2u);
  for (const auto& t : timed) {
    EXPECT_GT(t["step_s"].get<double>(), 0) << t.dump();
    EXPECT_GT(t["val_s"].get<double>(), 0) << t.dump();
    EXPECT_GT(t["probe_s"].get<double>(), 0) << t.dump();
  }
  EXPECT_NEAR(st[1]["extra_s"].get<double>(), timed[0]["val_s"].get<double>() + timed[0]["probe_s"].get<double>(),
              1e-12);
  EXPECT_GT(st[2]["extra_s"].get<double>(), st[3]["extra_s"].get<double>()) << "the probe comes once, before rung 0";
  double total = 0;
  for (const auto& row : st) {
    EXPECT_NEAR(row["seconds"].get<double>(),
                (row["iterations"].get<double>() * row["step_s"].get<double>() +
                 row["runs"].get<double>() * row["extra_s"].get<double>()) /
                    row["workers"].get<double>(),
                1e-12);
    total += row["seconds"].get<double>();
  }
  EXPECT_EQ(st[2]["workers"], 2);
  auto one = run_cli("plan --config " + (d / "search.yaml").string() + " --format json --samples 8 --steps 1");
  ASSERT_EQ(one.status, 0) << one.err;
  const int all_threads = nlohmann::json::parse(one.out)["candidate_threads"];
  EXPECT_EQ(p["candidate_threads"].get<int>(), std::max(1, all_threads / 2)) << "on CPU, 2 workers share the cores";
  EXPECT_NEAR(p["total_s"].get<double>(), total, 1e-9);
  EXPECT_FALSE(fs::exists(d / "s.db"));
  EXPECT_FALSE(fs::exists(d / "plan.db"));
  // How the workers would hold the training images: 2 workers (ranks of a node) map one copy,
  // which is not built yet; one worker holds them in memory. 3 x (64x64 + 16x16) x 3 bytes.
  EXPECT_EQ(p["train_decoded_bytes"], 3 * (64 * 64 + 16 * 16) * 3);
  EXPECT_EQ(p["train_store"], "mapped");
  EXPECT_EQ(p["train_cache"], "missing");
  EXPECT_EQ(nlohmann::json::parse(one.out)["train_store"], "memory");
  // The validation image (48x48 + 12x12) likewise, in its own file.
  EXPECT_EQ(p["val_decoded_bytes"], (48 * 48 + 12 * 12) * 3);
  EXPECT_EQ(p["val_store"], "mapped");
  EXPECT_EQ(p["val_cache"], "missing");
  EXPECT_EQ(nlohmann::json::parse(one.out)["val_store"], "memory");
  auto made = run_cli("data cache --config " + (d / "search.yaml").string());
  ASSERT_EQ(made.status, 0) << made.err;
  EXPECT_NE(made.out.find(" training images of "), std::string::npos) << made.out;
  EXPECT_NE(made.out.find(" validation images of "), std::string::npos) << made.out;
  auto cached = run_cli("plan --config " + (d / "search.yaml").string() + " --samples 8 --steps 1 --workers 2");
  ASSERT_EQ(cached.status, 0) << cached.err;
  EXPECT_EQ(count_of(cached.out, "mapped from a current cache file"), 2u) << "training and validation: " << cached.out;
  auto text = run_cli("plan --config " + (d / "search.yaml").string() + " --samples 40 --steps 1");
  ASSERT_EQ(text.status, 0) << text.err;
  EXPECT_NE(text.out.find("held in memory by each of the 1 worker(s)"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("rung 1"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("4 -> 8"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("extra/run: the runtime probe"), std::string::npos) << text.out;
  expect_cli_error("plan --config " + (d / "nope.yaml").string(), "nope.yaml");
}

// Every trial trains where the study measures: the search config's device, not the training
// options' (here `cuda`, which this machine lacks: trained there, every trial would fail).
TEST(Search, TrialsTrainOnTheSearchConfigsDevice) {
  fs::path d = make_study("device", 2, "random", "prune: {params: false, runtime: false}\n", 8, /*asha=*/false);
  edit_copy(d / "tiny.yaml", d / "tiny.yaml", "device: cpu", "device: cuda");
  auto r = run_cli(search_cmd(d, false));
  ASSERT_EQ(r.status, 0) << r.err;
  const auto ts = trials_json(d);
  expect_complete_study(ts, 2);
  for (const auto& t : ts) {
    EXPECT_EQ(t["state"], "COMPLETE") << t.dump();
    const fs::path options = d / "s.db.runs" / "device" / fmt::format("trial_{}", t["number"].get<int>()) / "options.json";
    ASSERT_TRUE(fs::exists(options)) << options;
    EXPECT_EQ(nlohmann::json::parse(std::ifstream(options))["device"], "cpu");
  }
}

TEST(Search, KeepCheckpointsKeepsThem) {
  fs::path d = make_study("keep", 1, "random", "keep_checkpoints: true\nprune: {params: false, runtime: false}\n");
  auto r = run_cli(search_cmd(d, false));
  ASSERT_EQ(r.status, 0) << r.err;
  auto ts = trials_json(d);
  expect_complete_study(ts, 1);
  for (const auto& t : ts) {
    const fs::path ckpt = d / "s.db.runs" / "keep" / fmt::format("trial_{}", t["number"].get<int>()) / "checkpoint";
    EXPECT_TRUE(fs::exists(ckpt / "model.safetensors")) << t.dump();
    EXPECT_TRUE(fs::exists(ckpt / "optimizer.pt")) << t.dump();
  }
}

TEST(Search, SurvivesKill9AtRandomMomentsWithResume) {
  // A few seconds of work (with OpenBLAS 8 trials took 0.75 s; the budget is asha's rungs):
  // killed several times at random moments, each within 0.2-1.2 s of its start.
  fs::path d = make_study("crash", 48, "random", "", 60);
  std::mt19937 rng(12345);
  int kills = 0;
  for (int round = 0; round < 8; ++round) {
    pid_t pid = spawn(search_cmd(d, round > 0));
    std::this_thread::sleep_for(std::chrono::milliseconds(200 + rng() % 1000));
    int st = 0;
    if (waitpid(pid, &st, WNOHANG) == 0) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      ++kills;
    }
  }
  auto r = run_cli(search_cmd(d, true));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_GE(kills, 2) << "the test should interrupt the search a few times";
  expect_complete_study(trials_json(d), 48);
}

// A baseline that fails (here: diverges) ends the study with its reason: every candidate is
// constrained by it. The search used to end as if complete (exit 0, "1 failed"), or, with
// candidates overlapping the baseline, stop on "internal: candidate trial before the baseline's probe".
TEST(Search, AFailedBaselineEndsTheStudyWithItsReason) {
  fs::path d = make_study("basefail", 2, "random", "", 8, /*asha=*/false);
  std::string tiny = read_text(d / "tiny.yaml");
  tiny.replace(tiny.find("lr: 1.0e-3"), 10, "lr: 10");  // Adam steps of ~10 per weight: inf within a few steps
  std::ofstream(d / "tiny.yaml") << tiny;
  for (bool resume : {false, true}) {
    auto r = run_cli(search_cmd(d, resume));
    EXPECT_EQ(r.status, 2) << r.err;
    EXPECT_NE(r.err.find("study 'basefail': the baseline (trial 1) FAILED (diverged: loss is "), std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("start a new study"), std::string::npos) << r.err;
  }
  const auto ts = trials_json(d);
  ASSERT_EQ(ts.size(), 1u) << ts.dump(1);
  EXPECT_EQ(ts[0]["state"], "FAILED");
}

// enqueue (Optuna's enqueue_trial): the listed genomes are the first candidates, in order; one
// already in the study (here the baseline's) is not added again; bad entries are config errors.
TEST(Search, EnqueuedGenomesAreTheFirstCandidates) {
  const fs::path genomes = fresh("enqueue_genomes");
  auto sample = run_cli("space sample --space unified_small --n 2 --seed 99");
  ASSERT_EQ(sample.status, 0) << sample.err;
  std::vector<std::string> files, hashes;
  std::istringstream lines(sample.out);
  for (std::string line; std::getline(lines, line);) {
    files.push_back((genomes / fmt::format("g{}.json", files.size())).string());
    std::ofstream(files.back()) << line;
    hashes.push_back(srnas::genome_hash(srnas::genome_from_string(line)));
  }
  ASSERT_EQ(files.size(), 2u);
  fs::path d = make_study("enqueue", 4, "random", fmt::format("enqueue: [{}, msrresnet, {}]\n", files[1], files[0]));
  auto r = run_cli(search_cmd(d, false));
  ASSERT_EQ(r.status, 0) << r.err;
  auto ts = trials_json(d);
  expect_complete_study(ts, 4);
  EXPECT_EQ(ts[1]["genome_hash"], hashes[1]);
  EXPECT_EQ(ts[2]["genome_hash"], hashes[0]);
  // Resumed, nothing is enqueued twice.
  ASSERT_EQ(run_cli(search_cmd(d, true)).status, 0);
  EXPECT_EQ(trials_json(d), ts);

  fs::path bad = make_study("enqueue_bad", 1, "random", "enqueue: [no_such_arch]\n");
  expect_cli_error(search_cmd(bad, false), "search.enqueue[0]: ");
  EXPECT_FALSE(fs::exists(bad / "s.db")) << "a config error creates no DB";
  bad = make_study("enqueue_many", 1, "random", fmt::format("enqueue: [{}, {}]\n", files[0], files[1]));
  expect_cli_error(search_cmd(bad, false), "search.enqueue: 2 genomes, more than trials (1)");
}

TEST(Search, LimitsAreNeverExceeded) {
  // unified_small: about 4 in 10 genomes have <= 15,000 params and <= 5 GMACs (at 339x510).
  // The sampler proposes only those; the enqueued IMDN (893,936 params) is PRUNED before
  // training; a runtime-ratio limit no network meets prunes the rest after their probe.
  // (prune.runtime off: on a loaded machine a 12-px probe of one run can time a tiny network
  // slower than MSRResNet, and the baseline's constraint would prune it first.)
  fs::path d = make_study("limits", 6, "random",
                          "limits: {max_params: 15000, max_gmacs: 5, max_runtime_ratio: 1.0e-6}\n"
                          "enqueue: [imdn_aim19]\nprune: {runtime: false}\n");
  auto r = run_cli(search_cmd(d, false));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("[search] limits: params <= 15000, GMACs <= 5 (at 339x510 LR), runtime ratio <= 1e-06"),
            std::string::npos)
      << r.err;
  auto ts = trials_json(d);
  expect_complete_study(ts, 6);
  EXPECT_EQ(ts[1]["reason"], "limit: params 893936 > max_params 15000 (before training)") << ts[1].dump();
  for (size_t i = 2; i < ts.size(); ++i) {
    SCOPED_TRACE(ts[i].dump());
    EXPECT_LE(ts[i]["params"].get<int64_t>(), 15000);
    EXPECT_LE(ts[i]["macs"].get<int64_t>(), 5000000000);
    EXPECT_EQ(ts[i]["state"], "PRUNED");
    EXPECT_EQ(ts[i]["reason"].get<std::string>().rfind("limit: runtime ratio ", 0), 0u);
    EXPECT_EQ(ts[i]["budget"], 0) << "pruned before training";
  }
}

TEST(Search, TimeoutStopsNewCandidatesAndResumeFinishes) {
  // A timeout already past when the search starts: the baseline still runs (every candidate
  // is measured against it), no candidate starts, the run ends with status 0 and says how to
  // go on; --resume without the timeout then runs every candidate exactly once.
  fs::path d = make_study("deadline", 3, "random");
  auto r = run_cli(search_cmd(d, false) + " --timeout 0.001s");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("[search] timeout 0.001s reached: no new candidate starts"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("1 complete, 0 pruned, 0 failed, 0 pending, 0 running"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("stopped at the timeout (0.001s); continue with --resume"), std::string::npos) << r.out;
  auto ts = trials_json(d);
  ASSERT_EQ(ts.size(), 1u) << ts.dump(1);
  EXPECT_TRUE(ts[0]["baseline"].get<bool>());
  EXPECT_EQ(ts[0]["state"], "COMPLETE");
  r = run_cli(search_cmd(d, true));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.find("stopped at the timeout"), std::string::npos) << r.out;
  expect_complete_study(trials_json(d), 3);
  // A finished study that passes its timeout is not "stopped at the timeout".
  r = run_cli(search_cmd(d, true) + " --timeout 0.001s");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out.find("stopped at the timeout"), std::string::npos) << r.out;
  EXPECT_EQ(r.err.find("reached"), std::string::npos) << r.err;
}

TEST(Search, ResumeWithOtherMeasurementSettingsIsRefused) {
  // A study remembers what decides its numbers. Resuming with another learning rate,
  // halving schedule or runtime probe is refused with the differences named, and leaves the
  // DB as it was; what only picks trials or changes how a run goes (more trials, another
  // sampler, log interval) is fine.
  fs::path d = make_study("measured", 2, "random");
  ASSERT_EQ(run_cli(search_cmd(d, false)).status, 0);
  const auto before = trials_json(d);
  std::string text;
  {
    std::ifstream in(d / "search.yaml");
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto variant = [&](const std::string& from, const std::string& to) {
    std::string t = text;
    const size_t at = t.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) t.replace(at, from.size(), to);
    std::ofstream(d / "search.yaml") << t;
  };
  const std::string resume = search_cmd(d, true);
  variant("train: {options: " + (d / "tiny.yaml").string() + "}",
          "train: {options: " + (d / "tiny.yaml").string() + ", set: {lr: 0.002}}");
  expect_cli_error(resume, "s.db: study 'measured' was measured with other settings (train.lr: 0.001 then, 0.002 now): "
                           "new trials would not compare with its trials; restore them, or start a new study");
  variant("asha: {min_budget: 4, eta: 2, rungs: 2}", "asha: {min_budget: 4, eta: 3, rungs: 2}");
  expect_cli_error(resume, "(asha.eta: 2 then, 3 now)");
  variant("runtime: {runs: 1,", "runtime: {runs: 3,");
  expect_cli_error(resume, "(runtime.runs: 1 then, 3 now)");
  EXPECT_EQ(trials_json(d), before) << "a refused resume changes nothing";

  variant("trials: 2", "trials: 3");
  {
    std::ifstream in(d / "search.yaml");
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  variant("sampler: {type: random}", "sampler: {type: evolution}");
  {
    // the same options with another log interval
    std::ifstream in(d / "tiny.yaml");
    std::string o((std::istreambuf_iterator<char>(in)), {});
    const size_t at = o.find("log_every: 4");
    ASSERT_NE(at, std::string::npos);
    o.replace(at, 12, "log_every: 2");
    std::ofstream(d / "tiny.yaml") << o;
  }
  auto r = run_cli(resume);
  ASSERT_EQ(r.status, 0) << r.err;
  expect_complete_study(trials_json(d), 3);

  // A study from before the settings were recorded: the first resume records them.
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open((d / "s.db").string().c_str(), &h), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(h, "UPDATE studies SET measure_json = ''", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(h);
  r = run_cli(resume);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("predates recorded measurement settings; recording this run's"), std::string::npos) << r.err;
  variant("eta: 2", "eta: 3");
  expect_cli_error(resume, "(asha.eta: 2 then, 3 now)");
}

TEST(Search, ResumeFollowsTheImagesNotTheirFolder) {
  // A study records its data by what it holds (image counts, the validation images' names and
  // sizes), not by path: the same images elsewhere (another mount), in the mapping form, resume;
  // another validation image is refused, unless `val_images` leaves it out.
  fs::path d = make_study("moved", 1, "random", "", 8, /*asha=*/false);
  ASSERT_EQ(run_cli(search_cmd(d, false)).status, 0);
  fs::copy(d / "data", d / "data2", fs::copy_options::recursive);
  const std::string moved = "data: {train: " + (d / "data2").string() + ", val: " + (d / "data2").string() + "}\n";
  edit_copy(d / "search.yaml", d / "search.yaml", "data: " + (d / "data").string() + "\n", moved);
  edit_copy(d / "search.yaml", d / "search.yaml", "trials: 1", "trials: 2");
  auto r = run_cli(search_cmd(d, true));
  ASSERT_EQ(r.status, 0) << r.err;
  expect_complete_study(trials_json(d), 2);

  srnas::write_png((d / "data2" / "val" / "w.png").string(), pattern(40, 44, 8));
  const auto before = trials_json(d);
  expect_cli_error(search_cmd(d, true), "data.val_images: 1 then, 2 now");
  EXPECT_EQ(trials_json(d), before) << "a refused resume changes nothing";
  // The first validation image by name is v.png, the one the study was measured on.
  edit_copy(d / "search.yaml", d / "search.yaml", moved,
            "data: {train: " + (d / "data2").string() + ", val: " + (d / "data2").string() + ", val_images: 1}\n");
  edit_copy(d / "search.yaml", d / "search.yaml", "trials: 2", "trials: 3");
  r = run_cli(search_cmd(d, true));
  ASSERT_EQ(r.status, 0) << r.err;
  expect_complete_study(trials_json(d), 3);

  // A study from before srnas recorded its data: the first resume records it.
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open((d / "s.db").string().c_str(), &h), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(h, "UPDATE studies SET measure_json = json_remove(measure_json, '$.data')", nullptr, nullptr,
                         nullptr),
            SQLITE_OK);
  sqlite3_close(h);
  r = run_cli(search_cmd(d, true));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("predates recorded data settings; recording this run's"), std::string::npos) << r.err;
  r = run_cli(search_cmd(d, true));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err.find("predates"), std::string::npos) << r.err;
}

TEST(Search, ASecondSearchOnALiveStudyIsRefused) {
  // Two searches on one study would train the same trials into the same folders. While one
  // runs (frozen here with SIGSTOP once a trial is RUNNING, so it cannot finish first), --resume
  // from another process is refused and changes nothing; the first then completes every trial
  // exactly once.
  fs::path d = make_study("twice", 3, "random", "", 40, /*asha=*/false);
  const pid_t pid = spawn(search_cmd(d, false));
  auto running = [&] {
    auto r = run_cli("trials --db " + (d / "s.db").string() + " --state RUNNING --format json");
    return r.status == 0 && !r.out.empty() && !nlohmann::json::parse(r.out).empty();
  };
  // Looked for while the search runs (stopping it for every look would slow it down several
  // times over on a loaded machine), then confirmed once it is stopped.
  bool frozen = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (!frozen && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    if (!fs::exists(d / "s.db") || !running()) continue;
    kill(pid, SIGSTOP);
    frozen = running();
    if (!frozen) kill(pid, SIGCONT);
  }
  ASSERT_TRUE(frozen) << "no trial of the first search was seen RUNNING";
  const auto before = trials_json(d);
  expect_cli_error(search_cmd(d, true), fmt::format("s.db: study 'twice' is being searched by {}:{} (trial ",
                                                    [] {
                                                      char h[256] = {0};
                                                      gethostname(h, sizeof(h) - 1);
                                                      return std::string(h);
                                                    }(),
                                                    pid));
  EXPECT_EQ(trials_json(d), before) << "a refused resume changes nothing";
  kill(pid, SIGCONT);
  int st = 0;
  waitpid(pid, &st, 0);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
  expect_complete_study(trials_json(d), 3);
}

// The ask/tell tests follow each trial: a 12-px, one-run runtime probe under ctest -j2 once
// measured a 20k-param candidate 3.6x slower than MSRResNet, so they do not prune on runtime.
constexpr const char* kNoRuntimePrune = "prune: {params: true, runtime: false}\n";

TEST(Search, AskAndTellRecordAStudyTrainedOutside) {
  // srnas ask hands out the baseline, then candidates, each measured first; the training
  // happens elsewhere (here `srnas train`, and model.py in stock PyTorch when it is there);
  // srnas tell validates the weights itself; FAILED and released trials behave; then nothing
  // is left (exit 3). A search refuses the study while a trial trains outside.
  fs::path d = make_study("asked", 2, "random", kNoRuntimePrune, 8, /*asha=*/false);
  // Two validation images, the runtime probe takes one: ask decodes the second only for the
  // bicubic floor, which must still cover both (checked at the end).
  srnas::write_png((d / "data" / "val" / "u.png").string(), pattern(40, 56, 11));
  const std::string db = (d / "s.db").string();
  const std::string ask = "ask --config " + (d / "search.yaml").string() + " --db " + db;
  auto asked = [&] {
    auto r = run_cli(ask);
    EXPECT_EQ(r.status, 0) << r.err;
    return nlohmann::json::parse(r.out.empty() ? "{}" : r.out);
  };
  const nlohmann::json j0 = asked();
  ASSERT_TRUE(j0["baseline"].get<bool>()) << j0.dump();
  EXPECT_EQ(j0["params"], 1517571);
  EXPECT_EQ(j0["iterations"], 8);
  for (const char* f : {"genome.json", "model.py", "init.safetensors", "job.json"})
    EXPECT_TRUE(fs::exists(fs::path(j0["dir"].get<std::string>()) / f)) << f;
  expect_cli_error(search_cmd(d, true), "is being trained outside srnas (handed out by srnas ask)");
  {  // studies counts it as RUNNING, in a column of its own
    auto sj = run_cli("studies --db " + db + " --format json");
    EXPECT_EQ(nlohmann::json::parse(sj.out)[0]["RUNNING"], 1) << sj.out;
    auto st = run_cli("studies --db " + db);
    EXPECT_NE(st.out.find(" RUNNING PENDING "), std::string::npos) << st.out;
  }

  // The baseline trained by another process; tell's PSNR is the one srnas train measured.
  const fs::path ext = d / "ext0";
  auto r = run_cli("train --arch " + (fs::path(j0["dir"].get<std::string>()) / "genome.json").string() + " --data " +
                   (d / "data").string() + " --options " + (d / "tiny.yaml").string() + " --out " + ext.string());
  ASSERT_EQ(r.status, 0) << r.err;
  const double trained = nlohmann::json::parse(std::ifstream(ext / "result.json"))["val_psnr_rgb"].get<double>();
  const std::string tell = "tell --db " + db + " --trial ";
  r = run_cli(tell + std::to_string(j0["trial"].get<int>()) + " --weights " + (ext / "weights.safetensors").string());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("COMPLETE: PSNR-RGB"), std::string::npos) << r.out;
  auto ts = trials_json(d);
  EXPECT_NEAR(ts[0]["psnr_rgb"].get<double>(), trained, 1e-9);
  EXPECT_TRUE(fs::exists(fs::path(j0["dir"].get<std::string>()) / "weights.safetensors"));
  expect_cli_error(tell + std::to_string(j0["trial"].get<int>()) + " --failed x", "is COMPLETE: srnas tell records");

  // A candidate that failed outside; one released and handed out again.
  const nlohmann::json j1 = asked();
  ASSERT_FALSE(j1["baseline"].get<bool>()) << j1.dump();
  EXPECT_GT(j1["runtime_ratio"].get<double>(), 0);
  expect_cli_error(tell + std::to_string(j1["trial"].get<int>()) + " --weights " + (ext / "weights.safetensors").string(),
                   fmt::format("trial {}: ", j1["trial"].get<int>()));  // MSRResNet's weights do not fit it
  r = run_cli(tell + std::to_string(j1["trial"].get<int>()) + " --failed \"out of memory\"");
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json j2 = asked();
  r = run_cli(tell + std::to_string(j2["trial"].get<int>()) + " --release");
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json j3 = asked();
  EXPECT_EQ(j3["trial"], j2["trial"]) << "a released trial is handed out again";

  // Trained "outside": model.py's save() in stock PyTorch when /usr/bin/python3 has torch (it
  // writes the init weights back unchanged), else srnas train.
  const std::string weights = j3["weights"].get<std::string>();
  const std::string py = "cd " + j3["dir"].get<std::string>() +
                         " && /usr/bin/python3 -c 'import model; model.save(model.load(\"init.safetensors\"), \"" +
                         weights + "\")'";
  if (srnas::testing::run_command("/usr/bin/python3 -c 'import torch'").status != 0 ||
      srnas::testing::run_command(py).status != 0) {
    r = run_cli("train --arch " + (fs::path(j3["dir"].get<std::string>()) / "genome.json").string() + " --data " +
                (d / "data").string() + " --options " + (d / "tiny.yaml").string() + " --out " + (d / "ext3").string());
    ASSERT_EQ(r.status, 0) << r.err;
    fs::copy_file(d / "ext3" / "weights.safetensors", weights);
  }
  // A trainer that stays silent: after --requeue-stale its trial is handed out again; a
  // heartbeat (tell --alive) keeps it.
  ASSERT_EQ(run_cli(tell + std::to_string(j3["trial"].get<int>()) + " --alive").status, 0);
  r = run_cli(ask + " --requeue-stale 1h");
  EXPECT_EQ(r.status, 3) << "alive just now: kept; nothing else to hand out\n" << r.err;
  {
    sqlite3* h = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
    const std::string q = fmt::format("UPDATE trials SET heartbeat_at = heartbeat_at - 7200 WHERE id = {}",
                                      j3["trial"].get<int>());
    ASSERT_EQ(sqlite3_exec(h, q.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(h);
  }
  r = run_cli(ask + " --requeue-stale 1h");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find(fmt::format("[ask] re-queued trial {} (no tell nor heartbeat for 2h00m", j3["trial"].get<int>())),
            std::string::npos)
      << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["trial"], j3["trial"]);

  // Two tells of one trial at once: the one refused in its transaction (the other recorded
  // the trial meanwhile) leaves the trial's weights file alone. Held here: the trial's
  // COMPLETE row stays uncommitted until tell has staged its copy, then commits.
  {
    const fs::path run_dir = fs::path(j3["dir"].get<std::string>());
    const fs::path dest = run_dir / "weights.safetensors";
    ASSERT_FALSE(fs::exists(dest));
    sqlite3* h = nullptr;
    ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(h, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
    const std::string done = fmt::format("UPDATE trials SET state = 'COMPLETE' WHERE id = {}", j3["trial"].get<int>());
    ASSERT_EQ(sqlite3_exec(h, done.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    setenv("SRNAS_BUSY_TIMEOUT_MS", "60000", 1);
    const pid_t pid = spawn(tell + std::to_string(j3["trial"].get<int>()) + " --weights " + weights);
    unsetenv("SRNAS_BUSY_TIMEOUT_MS");
    auto staged = [&] {
      for (const auto& e : fs::directory_iterator(run_dir))
        if (e.path().filename().string().rfind("weights.safetensors.tell-", 0) == 0) return true;
      return false;
    };
    for (int i = 0; i < 600 && !staged(); ++i) usleep(100000);
    EXPECT_TRUE(staged()) << "tell stages its copy before its transaction";
    ASSERT_EQ(sqlite3_exec(h, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
    int st = 0;
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) != 0) << "refused: the trial is COMPLETE";
    EXPECT_FALSE(fs::exists(dest)) << "a refused tell must not replace the recorded trial's weights";
    EXPECT_FALSE(staged()) << "nor leave its staged copy";
    const std::string back = fmt::format("UPDATE trials SET state = 'RUNNING' WHERE id = {}", j3["trial"].get<int>());
    ASSERT_EQ(sqlite3_exec(h, back.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(h);
  }

  // Told against other validation images than the study's: refused, nothing recorded.
  srnas::write_png((d / "data" / "val" / "w.png").string(), pattern(40, 44, 8));
  expect_cli_error(tell + std::to_string(j3["trial"].get<int>()) + " --weights " + weights,
                   "was measured on other images than");
  fs::remove(d / "data" / "val" / "w.png");
  r = run_cli(tell + std::to_string(j3["trial"].get<int>()) + " --weights " + weights + " --iterations 5");
  ASSERT_EQ(r.status, 0) << r.err;

  r = run_cli(ask);
  EXPECT_EQ(r.status, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("nothing left to hand out"), std::string::npos) << r.err;
  ts = trials_json(d);
  ASSERT_EQ(ts.size(), 3u) << ts.dump(1);
  EXPECT_EQ(ts[1]["state"], "FAILED");
  EXPECT_EQ(ts[1]["reason"], "external: out of memory");
  EXPECT_EQ(ts[2]["state"], "COMPLETE");
  EXPECT_EQ(ts[2]["budget"], 5);
  EXPECT_EQ(run_cli("tracks --db " + db).status, 0);
  // Nothing runs outside any more: a search may continue the study (nothing left to do).
  r = run_cli(search_cmd(d, true));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(trials_json(d).size(), 3u);
  expect_bicubic_floor(d, 2);

  // A baseline that failed outside leaves nothing to measure candidates against: said, not "nothing left".
  fs::path f = make_study("asked_failed", 2, "random", "", 8, /*asha=*/false);
  const std::string ask_f = "ask --config " + (f / "search.yaml").string() + " --db " + (f / "s.db").string();
  r = run_cli(ask_f);
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(run_cli("tell --db " + (f / "s.db").string() + " --trial 1 --failed \"diverged\"").status, 0);
  expect_cli_error(ask_f, "the baseline (trial 1) FAILED (external: diverged)");

  // Ask/tell is for configs without a final stage; tell takes one outcome.
  fs::path h = make_study("asked_final", 2, "random", "final: {options: " + (d / "tiny.yaml").string() + "}\n", 8, false);
  expect_cli_error("ask --config " + (h / "search.yaml").string() + " --db " + (h / "s.db").string(),
                   "final: the final stage belongs to srnas search");
  expect_cli_error(tell + "1 --failed x --release", "give exactly one of --weights, --failed, --release, --alive");
  expect_cli_error(tell + "99 --failed x", "trial 99 does not exist");
}

TEST(Search, AskAndTellWithSuccessiveHalving) {
  // asha: {min_budget: 4, eta: 2, rungs: 2}: ask hands out rung 0's 4 iterations (the baseline
  // the last rung's 8); tell promotes the best so far (train on to 8, tell again) and prunes one
  // below the top half, as the search decides.
  fs::path d = make_study("asked_sh", 3, "random", kNoRuntimePrune);
  const std::string db = (d / "s.db").string();
  const std::string ask = "ask --config " + (d / "search.yaml").string() + " --db " + db;
  const std::string tell = "tell --db " + db + " --format json --trial ";
  auto json_of = [](const srnas::testing::CliRun& r) {
    EXPECT_EQ(r.status, 0) << r.err;
    return nlohmann::json::parse(r.out.empty() ? "{}" : r.out);
  };
  auto train = [&](const nlohmann::json& job, const std::string& out, int iterations, bool resume) {
    auto r = run_cli("train --arch " + (fs::path(job["dir"].get<std::string>()) / "genome.json").string() + " --data " +
                     (d / "data").string() + " --options " + (d / "tiny.yaml").string() + " --out " +
                     (d / out).string() + " --set iterations=" + std::to_string(iterations) +
                     (resume ? " --resume" : ""));
    EXPECT_EQ(r.status, 0) << r.err;
    return (d / out / "weights.safetensors").string();
  };
  const nlohmann::json b = json_of(run_cli(ask));
  ASSERT_TRUE(b["baseline"].get<bool>());
  EXPECT_EQ(b["iterations"], 8);
  EXPECT_TRUE(b["rungs"].empty());
  nlohmann::json t = json_of(run_cli(tell + std::to_string(b["trial"].get<int>()) + " --weights " +
                                     train(b, "eb", 8, false)));
  EXPECT_EQ(t["state"], "COMPLETE");

  const nlohmann::json c1 = json_of(run_cli(ask));
  EXPECT_EQ(c1["iterations"], 4);
  EXPECT_EQ(c1["rungs"], nlohmann::json::parse("[4, 8]"));
  t = json_of(run_cli(tell + std::to_string(c1["trial"].get<int>()) + " --weights " + train(c1, "e1", 4, false)));
  EXPECT_EQ(t["state"], "RUNNING") << t.dump();
  EXPECT_EQ(t["continue_to"], 8) << "the first at rung 0 is the best so far";
  EXPECT_EQ(t["rung"], 1);
  t = json_of(run_cli(tell + std::to_string(c1["trial"].get<int>()) + " --weights " + train(c1, "e1", 8, true) +
                      " --iterations 8"));
  EXPECT_EQ(t["state"], "COMPLETE") << t.dump();
  EXPECT_TRUE(t["continue_to"].is_null());

  // The untrained initialisation is far below c1's rung-0 PSNR: pruned.
  const nlohmann::json c2 = json_of(run_cli(ask));
  t = json_of(run_cli(tell + std::to_string(c2["trial"].get<int>()) + " --weights " +
                      c2["init_weights"].get<std::string>()));
  EXPECT_EQ(t["state"], "PRUNED") << t.dump();
  EXPECT_EQ(t["reason"].get<std::string>().rfind("successive halving: rung 0 PSNR", 0), 0u) << t.dump();

  const auto ts = trials_json(d);
  ASSERT_EQ(ts.size(), 3u) << ts.dump(1);
  EXPECT_EQ(ts[1]["budget"], 8);
  EXPECT_EQ(ts[1]["rung"], 1);
  EXPECT_EQ(ts[2]["budget"], 4);
  EXPECT_EQ(run_cli("fidelity --db " + db).status, 0);
}

TEST(Search, ConcurrentAsksHandOutDistinctTrials) {
  // Three trainers ask at once on a study that does not exist yet: one study, one baseline,
  // three different trials (the candidates wait for the baseline's probe).
  fs::path d = make_study("asked3", 4, "random", kNoRuntimePrune, 8, /*asha=*/false);
  std::string cmd;
  for (int i = 0; i < 3; ++i)
    cmd += fmt::format("{} ask --config {} --db {} > {} 2>&1 & ", SRNAS_BIN, (d / "search.yaml").string(),
                       (d / "s.db").string(), (d / fmt::format("ask{}.json", i)).string());
  ASSERT_EQ(srnas::testing::run_command(cmd + "wait").status, 0);
  std::set<int> ids;
  int baselines = 0;
  for (int i = 0; i < 3; ++i) {
    std::ifstream in(d / fmt::format("ask{}.json", i));
    std::string text((std::istreambuf_iterator<char>(in)), {});
    const size_t at = text.find("{\"");  // libpng may warn on stderr first
    ASSERT_NE(at, std::string::npos) << text;
    const auto j = nlohmann::json::parse(text.substr(at), nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << text;
    ids.insert(j["trial"].get<int>());
    baselines += j["baseline"].get<bool>();
  }
  EXPECT_EQ(ids.size(), 3u);
  EXPECT_EQ(baselines, 1);
  const auto ts = trials_json(d);
  ASSERT_EQ(ts.size(), 3u) << ts.dump(1);
  for (const auto& t : ts) EXPECT_EQ(t["state"], "RUNNING") << t.dump();
}

TEST(Search, ReadersNeverFailOrBlockTheSearch) {
  // Long enough for several reads on a fast machine: 4 trials of 8 iterations were over
  // after 2 reads on trixie's LibTorch 2.6 with OpenBLAS, and so were 8 trials at successive
  // halving's 4 -> 8 iterations; 8 trials of 40 iterations each (no halving) leave room.
  fs::path d = make_study("readers", 8, "random", "", 40, /*asha=*/false);
  pid_t pid = spawn(search_cmd(d, false));
  int reads = 0, st = 0;
  while (waitpid(pid, &st, WNOHANG) == 0) {
    if (fs::exists(d / "s.db")) {
      auto r = run_cli("pareto --db " + (d / "s.db").string() + " --format csv");
      if (r.err.find("holds no study yet") == std::string::npos) {
        EXPECT_EQ(r.status, 0) << r.err;
        ++reads;
      }
    }
  }
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 0);
  EXPECT_GE(reads, 3);
  expect_complete_study(trials_json(d), 8);
}

TEST(Search, BadInputLeavesTheDbIntact) {
  fs::path d = make_study("bad", 2);
  ASSERT_EQ(run_cli(search_cmd(d, false)).status, 0);
  auto before = trials_json(d);
  // unknown sampler
  fs::path bad = make_study("bad_sampler", 2, "simulated_annealing");
  expect_cli_error(search_cmd(bad, false), "search.sampler.type: expected one of {random, evolution, nsga2, tpe}");
  // the study was made with another space
  edit_copy(d / "search.yaml", d / "other_space.yaml", "unified_small", "krahaon");
  expect_cli_error("search --resume --config " + (d / "other_space.yaml").string() + " --db " + (d / "s.db").string(),
                   "was created with space 'unified_small', the config says 'krahaon'");
  // unknown space (a new DB file is not even created) / unknown key in the config
  edit_copy(d / "search.yaml", d / "galaxy.yaml", "unified_small", "galaxy");
  expect_cli_error("search --config " + (d / "galaxy.yaml").string() + " --db " + (d / "new.db").string(),
                   "unknown space 'galaxy'");
  EXPECT_FALSE(fs::exists(d / "new.db"));
  fs::path us = make_study("bad_space", 2, "random", "colour: blue\n");
  expect_cli_error(search_cmd(us, false), "unknown key 'colour'");
  // DB locked by a foreign writer
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open((d / "s.db").string().c_str(), &h), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(h, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  setenv("SRNAS_BUSY_TIMEOUT_MS", "300", 1);
  expect_cli_error(search_cmd(d, true), "locked");
  unsetenv("SRNAS_BUSY_TIMEOUT_MS");
  sqlite3_exec(h, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(h);
  // a DB where nothing can be written, a DB that is not one, a missing trial
  expect_cli_error("search --config " + (d / "search.yaml").string() + " --db /proc/srnas_test.db", "/proc/srnas_test.db");
  std::ofstream(d / "garbage.db") << "this is not sqlite at all";
  expect_cli_error("pareto --db " + (d / "garbage.db").string(), "not an srnas results DB");
  expect_cli_error("tracks --db " + (d / "nonexistent.db").string(), "no such results DB");
  expect_cli_error("trials --db " + (d / "s.db").string() + " --state DONE", "trial state: expected one of");
  expect_cli_error("pareto --db " + (d / "s.db").string() + " --objectives psnr,flops", "--objectives");
  expect_cli_error("retrain --db " + (d / "s.db").string() + " --trial 77 --options " + (d / "tiny.yaml").string(),
                   "trial 77 does not exist");
  EXPECT_EQ(trials_json(d), before);
}

// ---- under mpirun: candidate-parallel groups, a rank killed mid-study ------------------

namespace {

// An mpirun command line; a job that outlives kJobSeconds is killed (exit status 124), so a
// stalled job fails its test with the job's log instead of running into ctest's timeout.
constexpr int kJobSeconds = 300;
std::string mpirun(int np, const std::string& args, const std::string& flags = "") {
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  // The ranks of a node share the decoded training images through a cache file: this test's.
  setenv("SRNAS_CACHE", (srnas::testing::scratch() / "cache").c_str(), 1);
  return fmt::format("timeout -k 10 {} mpirun --oversubscribe {} -np {} {} {}", kJobSeconds, flags, np, SRNAS_BIN,
                     args);
}

// pids of srnas processes whose environment says OMPI_COMM_WORLD_RANK=rank and whose
// command line mentions `needle`.
std::vector<pid_t> rank_pids(int rank, const std::string& needle) {
  std::vector<pid_t> out;
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream cmd(e.path() / "cmdline"), env(e.path() / "environ");
    std::string c((std::istreambuf_iterator<char>(cmd)), {}), v((std::istreambuf_iterator<char>(env)), {});
    if (c.find(needle) == std::string::npos || c.find("mpirun") != std::string::npos) continue;
    if (v.find("OMPI_COMM_WORLD_RANK=" + std::to_string(rank) + '\0') != std::string::npos)
      out.push_back(pid_t(std::stoi(name)));
  }
  return out;
}

}  // namespace

TEST(MpiSearch, TwoGroupsRunEveryTrialExactlyOnce) {
  if (std::system("command -v mpirun >/dev/null") != 0) GTEST_FAIL() << "mpirun missing: install openmpi-bin";
  fs::path d = make_study("mpi", 6);
  std::string out = (d / "log.txt").string();
  int st = std::system((mpirun(2, search_cmd(d, false) + " --group-size 1") + " >" + out + " 2>&1").c_str());
  const std::string text = read_text(out);
  ASSERT_EQ(st, 0) << text;
  EXPECT_NE(text.find("2 worker(s)"), std::string::npos) << text;
  EXPECT_NE(text.find("-> group 1 (world rank 1)"), std::string::npos) << "rank 1 got work: " << text;
  // Both ranks map one decoded copy of the training images and one of the validation image,
  // each decoded by one of them (rank 0 says so, once per set).
  EXPECT_EQ(count_of(text, "they share one decoded copy"), 2u) << text;
  EXPECT_EQ(count_of(text, "[data] decoding 3 images"), 1u) << text;
  EXPECT_EQ(count_of(text, "[data] decoding 1 image of"), 1u) << text;
  expect_complete_study(trials_json(d), 6);
  expect_bicubic_floor(d);
}

// Under `cores: adaptive` rank 1 gets candidates while the baseline still trains on rank 0,
// so the resume also finds a baseline that never completed next to re-queued candidates.
TEST(MpiSearch, KillingANonZeroRankThenResumeLosesNothing) {
  if (std::system("command -v mpirun >/dev/null") != 0) GTEST_FAIL() << "mpirun missing: install openmpi-bin";
  for (const std::string mode : {"fixed", "adaptive"}) {
    SCOPED_TRACE("cores: " + mode);
    // adaptive: no successive halving, so the baseline trains all 200 iterations (seconds)
    const int trials = mode == "fixed" ? 8 : 4;
    fs::path d = make_study("mpikill_" + mode, trials, "random", "cores: " + mode + "\n", 200, mode == "fixed");
    const std::string flags = mode == "adaptive" ? "--bind-to none" : "";
    const fs::path log = d / "log.txt";
    pid_t mp = fork();
    if (mp == 0) {
      std::string cmd = "exec " + mpirun(2, search_cmd(d, false) + " --group-size 1", flags) + " >" + log.string() + " 2>&1";
      execl("/bin/sh", "sh", "-c", cmd.c_str(), (char*)nullptr);
      _exit(127);
    }
    // wait until rank 1 is training, then kill -9 it
    bool killed = false;
    int st = 0;
    bool exited = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kJobSeconds);
    while (!killed && !exited && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      exited = waitpid(mp, &st, WNOHANG) == mp;
      // Read the DB directly (as a reader: never blocks the search).
      sqlite3* h = nullptr;
      if (sqlite3_open_v2((d / "s.db").string().c_str(), &h, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
        sqlite3_close(h);
        continue;
      }
      sqlite3_busy_timeout(h, 1000);
      sqlite3_stmt* q = nullptr;
      int running_on_1 = 0;
      if (sqlite3_prepare_v2(h, "SELECT count(*) FROM trials WHERE state = 'RUNNING' AND worker LIKE '%group1%'", -1, &q,
                             nullptr) == SQLITE_OK &&
          sqlite3_step(q) == SQLITE_ROW)
        running_on_1 = sqlite3_column_int(q, 0);
      sqlite3_finalize(q);
      sqlite3_close(h);
      if (!running_on_1) continue;
      for (pid_t p : rank_pids(1, (d / "s.db").string())) {
        kill(p, SIGKILL);
        killed = true;
      }
    }
    if (!exited) waitpid(mp, &st, 0);  // mpirun's timeout ends a job that never put rank 1 to work
    ASSERT_TRUE(killed) << "rank 1 never ran a trial: " << read_text(log);
    EXPECT_NE(WEXITSTATUS(st), 0) << "the job ends when a rank dies";
    EXPECT_NE(WEXITSTATUS(st), 124) << "the job outlived rank 1 by minutes: " << read_text(log);
    auto r = run_cli(search_cmd(d, true));
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.err.find("re-queued trial"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("group1(rank1)"), std::string::npos) << "names the rank: " << r.err;
    if (mode == "adaptive") {
      // mpirun stops rank 0 with SIGTERM: the baseline checkpoints and waits as PENDING
      EXPECT_NE(r.err.find(fmt::format("baseline 0/{} trial 1 COMPLETE", trials)), std::string::npos)
          << "the baseline (MSRResNet, 200 iterations) was still training when rank 1 died: " << r.err;
    }
    expect_complete_study(trials_json(d), trials);
  }
}

// One group of two ranks trains every trial data-parallel (the global batch split over both).
TEST(MpiSearch, AGroupOfTwoRanksRunsEveryTrialExactlyOnce) {
  if (std::system("command -v mpirun >/dev/null") != 0) GTEST_FAIL() << "mpirun missing: install openmpi-bin";
  fs::path d = make_study("mpigroup", 3);
  const std::string out = (d / "log.txt").string();
  const int st = std::system((mpirun(2, search_cmd(d, false) + " --group-size 2") + " >" + out + " 2>&1").c_str());
  const std::string text = read_text(out);
  ASSERT_EQ(st, 0) << text;
  EXPECT_NE(text.find("-> group 0 (world rank 0)"), std::string::npos) << text;
  EXPECT_EQ(text.find("group 1"), std::string::npos) << "one group of two ranks: " << text;
  expect_complete_study(trials_json(d), 3);
}

// Runs `mpirun -np 2 srnas search --group-size 2` on study d in the background, with `env`
// (NAME=VALUE ...) passed to the ranks; its output goes to d/log.txt.
pid_t start_group_search(const fs::path& d, const std::vector<std::string>& env = {}) {
  std::string flags, vars;
  for (const std::string& e : env) {
    flags += " -x " + e.substr(0, e.find('='));
    vars += e + " ";
  }
  const pid_t mp = fork();
  if (mp == 0) {
    const std::string cmd = "exec env " + vars + mpirun(2, search_cmd(d, false) + " --group-size 2", flags) + " >" +
                            (d / "log.txt").string() + " 2>&1";
    execl("/bin/sh", "sh", "-c", cmd.c_str(), (char*)nullptr);
    _exit(127);
  }
  return mp;
}

// A rank of a group that fails alone (an exception on it only, as a GPU running out of
// memory would throw) leaves the others of its group waiting inside a gradient all-reduce. It
// ends the job, naming itself and the trial, instead of leaving it hanging (it used to hang
// until mpirun was killed); --resume then trains that trial again and loses nothing.
TEST(MpiSearch, ARankThatFailsAloneEndsTheJobThenResumeLosesNothing) {
  if (std::system("command -v mpirun >/dev/null") != 0) GTEST_FAIL() << "mpirun missing: install openmpi-bin";
  fs::path d = make_study("mpifail", 3);
  const auto t0 = std::chrono::steady_clock::now();
  const pid_t mp = start_group_search(d, {"SRNAS_FAIL_RANK_AT=1:3", "SRNAS_GROUP_WAIT_S=2"});
  int st = 0;
  waitpid(mp, &st, 0);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string text = read_text(d / "log.txt");
  ASSERT_TRUE(WIFEXITED(st)) << text;
  EXPECT_NE(WEXITSTATUS(st), 0) << text;
  EXPECT_NE(WEXITSTATUS(st), 124) << "the job hung until its timeout: " << text;
  EXPECT_LT(secs, 120) << text;
  EXPECT_NE(text.find("srnas: error: world rank 1: trial 1 failed here (injected fault (SRNAS_FAIL_RANK_AT) at step 3) "
                      "while the other ranks of group 0 still train it"),
            std::string::npos)
      << text;
  auto r = run_cli(search_cmd(d, true));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("re-queued trial 1"), std::string::npos) << r.err;
  expect_complete_study(trials_json(d), 3);
}

// SIGTERM to rank 0 alone: its group stops together after the same step (the stop request is
// summed with the loss), checkpoints, and the job ends as a stopped search does (exit 2,
// "run again with --resume"); the member used to stay in the
// gradient all-reduce for ever. --resume finishes the study.
TEST(MpiSearch, AGroupStopsTogetherWhenOneRankIsAskedTo) {
  if (std::system("command -v mpirun >/dev/null") != 0) GTEST_FAIL() << "mpirun missing: install openmpi-bin";
  fs::path d = make_study("mpistop", 2, "random", "", 300, /*asha=*/false);
  const fs::path baseline_log = d / "s.db.runs" / "mpistop" / "trial_0" / "log.jsonl";
  const pid_t mp = start_group_search(d);
  bool signalled = false, exited = false;
  int st = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kJobSeconds);
  while (!exited && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    exited = waitpid(mp, &st, WNOHANG) == mp;
    if (signalled || read_text(baseline_log).find("\"loss\"") == std::string::npos) continue;
    for (pid_t p : rank_pids(0, (d / "s.db").string())) {  // the baseline trains: stop rank 0 only
      kill(p, SIGTERM);
      signalled = true;
    }
  }
  if (!exited) waitpid(mp, &st, 0);
  const std::string text = read_text(d / "log.txt");
  ASSERT_TRUE(signalled) << "the baseline never trained: " << text;
  ASSERT_TRUE(WIFEXITED(st)) << text;
  EXPECT_EQ(WEXITSTATUS(st), 2) << "rank 0 reports the interruption (124: the job hung): " << text;
  EXPECT_NE(text.find("interrupted by a signal; run again with --resume"), std::string::npos) << text;
  auto r = run_cli(search_cmd(d, true));
  ASSERT_EQ(r.status, 0) << r.err;
  expect_complete_study(trials_json(d), 2);
}

// SIGTERM to rank 0 alone while another group trains a long candidate: rank 0 halts the other
// groups, which checkpoint at their next step, so the job ends in seconds instead of after
// their trials (here 60,000 iterations, about 200 s; on DIV2K, hours).
TEST(MpiSearch, ASignalToRankZeroHaltsTheOtherGroups) {
  if (std::system("command -v mpirun >/dev/null") != 0) GTEST_FAIL() << "mpirun missing: install openmpi-bin";
  fs::path d = make_study("mpihalt", 1, "random", "cores: adaptive\n", 60000, /*asha=*/false);
  const fs::path candidate_log = d / "s.db.runs" / "mpihalt" / "trial_1" / "log.jsonl";
  const pid_t mp = fork();
  if (mp == 0) {
    const std::string cmd = "exec " + mpirun(2, search_cmd(d, false) + " --group-size 1", "--bind-to none") + " >" +
                            (d / "log.txt").string() + " 2>&1";
    execl("/bin/sh", "sh", "-c", cmd.c_str(), (char*)nullptr);
    _exit(127);
  }
  bool exited = false;
  int st = 0;
  auto signalled = std::chrono::steady_clock::time_point{};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kJobSeconds);
  while (!exited && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    exited = waitpid(mp, &st, WNOHANG) == mp;
    if (signalled != std::chrono::steady_clock::time_point{} ||
        read_text(candidate_log).find("\"loss\"") == std::string::npos)
      continue;
    for (pid_t p : rank_pids(0, (d / "s.db").string())) {  // the candidate trains on rank 1: stop rank 0 only
      kill(p, SIGTERM);
      signalled = std::chrono::steady_clock::now();
    }
  }
  if (!exited) waitpid(mp, &st, 0);
  const std::string text = read_text(d / "log.txt");
  ASSERT_NE(signalled, std::chrono::steady_clock::time_point{}) << "the candidate never trained: " << text;
  const double after = std::chrono::duration<double>(std::chrono::steady_clock::now() - signalled).count();
  ASSERT_TRUE(WIFEXITED(st)) << text;
  EXPECT_EQ(WEXITSTATUS(st), 2) << text;
  EXPECT_NE(text.find("interrupted by a signal; run again with --resume"), std::string::npos) << text;
  EXPECT_LT(after, 30) << "the job waited for the other group's trial: " << text;
  // the candidate stopped early, checkpointed, and waits for --resume
  const auto state = nlohmann::json::parse(
      std::ifstream(d / "s.db.runs" / "mpihalt" / "trial_1" / "checkpoint" / "state.json"));
  EXPECT_LT(state["iteration"].get<int64_t>(), 60000) << state.dump();
  for (const auto& t : trials_json(d)) EXPECT_NE(t["state"], "COMPLETE") << t.dump();
}

namespace {
// The `threads` of every training log line of trial `number` (the trainer logs its LibTorch
// thread count with each loss).
std::vector<int> logged_threads(const fs::path& d, const std::string& study, int number) {
  std::vector<int> out;
  std::ifstream log(d / "s.db.runs" / study / fmt::format("trial_{}", number) / "log.jsonl");
  for (std::string line; std::getline(log, line);) {
    auto j = nlohmann::json::parse(line);
    if (j.contains("threads")) out.push_back(j["threads"].get<int>());
  }
  return out;
}
}  // namespace

// The baseline and one candidate under `mpirun --bind-to none`.
// - fixed: the baseline trains first, alone, on every core (solo); then the candidate on its
//   share, on rank 0 (the first idle worker).
// - adaptive: the candidate starts on rank 1 once the baseline's probe is recorded, while the
//   baseline trains on rank 0; whichever rank finishes first lends its cores to the other. A
//   large baseline (MSRResNet) outlasts the small candidate: rank 0 gets the cores (its pool
//   sets its own count). A tiny baseline finishes first: rank 1 gets them (an MPI message).
// - adaptive under mpirun's default binding (one core per rank): nothing to lend, a warning.
TEST(MpiSearch, AdaptiveCoresLendAnIdleRanksCoresToTheRankThatTrains) {
  if (std::system("command -v mpirun >/dev/null") != 0) GTEST_FAIL() << "mpirun missing: install openmpi-bin";
  const int cores = std::max(1, int(std::thread::hardware_concurrency()));
  // 2,591 parameters: a 3x3 conv to width 4, a conv to 64 channels, pixel shuffle x4, the last conv.
  const std::string tiny_baseline =
      R"({"global_skip":"none","head":{"act":{"type":"none"}},"init":{"scale":0.1,"type":"kaiming"},)"
      R"("lr":{"blocks":[],"long_skip":false,"width":4},"tail":{"act":{"type":"none"},"hr_conv":false,)"
      R"("last_conv":true},"upsampler":{"act":{"type":"none"},"type":"pixelshuffle4"},"x4":{"blocks":[],"width":4}})";
  struct Case {
    std::string mode;
    bool tiny_baseline, bound;
  };
  for (const Case& c : {Case{"fixed", false, false}, Case{"adaptive", false, false}, Case{"adaptive", true, false},
                        Case{"adaptive", false, true}}) {
    const std::string study =
        fmt::format("mpicores_{}_{}{}", c.mode, c.tiny_baseline ? "tiny" : "msrresnet", c.bound ? "_bound" : "");
    fs::path base = srnas::testing::scratch() / "tiny_baseline.json";
    std::ofstream(base) << tiny_baseline;
    std::string extra = "prune: {params: false, runtime: false}\ncores: " + c.mode + "\n";
    // With the tiny baseline the candidate must outlast it by many steps, whatever the random
    // draw (a 10k-parameter draw once finished within 1 ms of it under LibTorch 2.6): krahaon_best.
    if (c.tiny_baseline) extra += "baseline: " + base.string() + "\nenqueue: [krahaon_best]\n";
    fs::path d = make_study(study, 1, "random", extra, 60, false);
    std::string out = (d / "log.txt").string();
    const std::string flags = c.bound ? "--bind-to core" : "--bind-to none";
    int st = std::system((mpirun(2, search_cmd(d, false) + " --group-size 1", flags) + " >" + out + " 2>&1").c_str());
    const std::string text = read_text(out);
    ASSERT_EQ(st, 0) << text;
    expect_complete_study(trials_json(d), 1);
    std::vector<int> base_threads = logged_threads(d, study, 0), cand = logged_threads(d, study, 1);
    ASSERT_FALSE(base_threads.empty()) << text;
    ASSERT_FALSE(cand.empty()) << text;
    if (c.bound) {
      for (int t : base_threads) EXPECT_EQ(t, 1) << study;
      for (int t : cand) EXPECT_EQ(t, 1) << study;
      if (cores > 1) {
        EXPECT_NE(text.find("has nothing to lend"), std::string::npos) << text;
      }
      continue;
    }
    if (c.mode == "fixed") {
      for (int t : base_threads) EXPECT_EQ(t, cores) << study << " baseline trains alone: " << text;
      EXPECT_NE(text.find("trial 2 train -> group 0 (world rank 0)"), std::string::npos) << text;
      for (int t : cand) EXPECT_EQ(t, std::max(1, cores / 2)) << study << ": " << text;
      continue;
    }
    // adaptive: the candidate overlaps the baseline on the other rank
    EXPECT_NE(text.find("trial 2 train -> group 1 (world rank 1)"), std::string::npos) << text;
    if (!c.tiny_baseline) {
      EXPECT_EQ(cand.front(), std::max(1, cores / 2)) << study << ": starts on its share\n" << text;
    }
    // The rank that trains last gets the cores between steps: its last log line has them.
    const std::vector<int>& last = c.tiny_baseline ? cand : base_threads;
    EXPECT_EQ(last.back(), cores) << study << ": " << text;
    if (cores > 1) {
      EXPECT_NE(text.find(fmt::format("world rank {} trains on {} thread(s)", c.tiny_baseline ? 1 : 0, cores)),
                std::string::npos)
          << text;
    }
  }
}

namespace {

void sql(const fs::path& d, const std::string& statement) {
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open((d / "s.db").string().c_str(), &h), SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(h, statement.c_str(), nullptr, nullptr, &err);
  EXPECT_EQ(rc, SQLITE_OK) << statement << ": " << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(h);
}

}  // namespace

// srnas retrain: another budget and several seeds, a separate experiment. The search's tracks
// and trial count never see it; its group compares the candidate's seeds with the baseline's
// at the same settings; a second run trains nothing; an interrupted retrain, or one whose
// process died, continues as the same trial; one whose worker lives is left to it.
TEST(Search, RetrainsAreASeparateSeededExperimentTheSearchNeverCounts) {
  fs::path d = make_study("retrains", 2, "random", "prune: {params: false, runtime: false}\n");
  ASSERT_EQ(run_cli(search_cmd(d, false)).status, 0);
  const auto ts = trials_json(d);
  ASSERT_EQ(ts.size(), 3u);
  int64_t cand = 0;
  for (const auto& t : ts)
    if (!t["baseline"].get<bool>() && t["state"] == "COMPLETE") cand = t["trial"].get<int64_t>();
  ASSERT_GT(cand, 0) << ts.dump(1);
  const std::string db = (d / "s.db").string();
  const auto tracks_before = nlohmann::json::parse(run_cli("tracks --db " + db + " --format json").out);
  EXPECT_TRUE(tracks_before.at("retrains").empty());

  std::ofstream(d / "long.yaml") << "iterations: 12\nbatch_size: 2\npatch_size: 8\ndevice: cpu\nloader: {workers: 1}\n";
  const std::string retrain = "retrain --db " + db + " --options " + (d / "long.yaml").string();
  auto r = run_cli(retrain + fmt::format(" --trial 1,{} --seeds 5,6", cand));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("[4/4] trial " + std::to_string(cand) + " (seed 6)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Retrains (group 1): 12 iterations on cpu"), std::string::npos) << r.out;
  auto after = trials_json(d);
  ASSERT_EQ(after.size(), 7u);
  std::map<std::pair<int64_t, uint64_t>, nlohmann::json> by;  // (parent, seed) -> retrain
  for (size_t i = 3; i < 7; ++i) {
    const auto& t = after[i];
    EXPECT_EQ(t["state"], "COMPLETE") << t.dump();
    EXPECT_EQ(t["budget"], 12);
    EXPECT_EQ(t["train_settings"]["train"]["iterations"], 12);
    EXPECT_EQ(t["train_settings"]["device"], "cpu");
    by[{t["parent"].get<int64_t>(), t["train_settings"]["train"]["seed"].get<uint64_t>()}] = t;
  }
  ASSERT_EQ(by.size(), 4u) << "one retrain per trial and seed";
  const auto seed5 = by[{1, 5}]["psnr_rgb"], seed6 = by[{1, 6}]["psnr_rgb"];
  EXPECT_NE(seed5, seed6) << "the seed decides the run";
  EXPECT_TRUE(ts[0]["train_settings"].is_null()) << "search trials run with the study's settings";

  // The same command again trains nothing.
  auto again = run_cli(retrain + fmt::format(" --trial 1,{} --seeds 5,6", cand));
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_EQ(count_of(again.out, "already retrained with these options"), 4u) << again.out;
  EXPECT_EQ(trials_json(d).size(), 7u);

  // tracks: the search's rankings as they were; the retrains in a group of their own.
  const auto tj = nlohmann::json::parse(run_cli("tracks --db " + db + " --format json").out);
  EXPECT_EQ(tj["tracks"], tracks_before["tracks"]);
  EXPECT_EQ(tj["baseline"], tracks_before["baseline"]);
  ASSERT_EQ(tj["retrains"].size(), 1u) << tj.dump(1);
  const auto& g = tj["retrains"][0];
  EXPECT_EQ(g["iterations"], 12);
  ASSERT_EQ(g["baseline"]["retrains"].size(), 2u);
  ASSERT_EQ(g["arms"].size(), 1u);
  const auto& arm = g["arms"][0];
  EXPECT_EQ(arm["trial"], cand);
  const double base_mean = (by[{1, 5}]["psnr_rgb"].get<double>() + by[{1, 6}]["psnr_rgb"].get<double>()) / 2;
  const double mean = (by[{cand, 5}]["psnr_rgb"].get<double>() + by[{cand, 6}]["psnr_rgb"].get<double>()) / 2;
  EXPECT_NEAR(g["baseline"]["psnr_rgb_mean"].get<double>(), base_mean, 1e-9);
  EXPECT_NEAR(arm["psnr_rgb_mean"].get<double>(), mean, 1e-9);
  EXPECT_NEAR(arm["delta_db"].get<double>(), mean - base_mean, 1e-9);
  EXPECT_TRUE(arm["delta_se_db"].is_number());
  EXPECT_EQ(g["tracks"].size(), 3u);
  auto text = run_cli("tracks --db " + db);
  EXPECT_NE(text.out.find("Retrains (group 1): 12 iterations on cpu"), std::string::npos) << text.out;
  for (const auto& t : g["tracks"]) {  // a group's winner that does not beat the baseline's retrains is said so
    ASSERT_TRUE(t.contains("not_beaten")) << t.dump();
    if (t["not_beaten"].is_string())
      EXPECT_NE(text.out.find("     note: " + t["not_beaten"].get<std::string>()), std::string::npos) << text.out;
  }
  if (g["baseline"]["psnr_rgb_mean"].get<double>() < tj["bicubic"]["psnr_rgb"].get<double>()) {
    EXPECT_NE(text.out.find("warning: the baseline's retrains ("), std::string::npos) << text.out;
  } else {
    EXPECT_EQ(text.out.find("warning: the baseline's retrains ("), std::string::npos) << text.out;
  }
  // An exported retrain carries its group: what its PSNR compares with.
  auto ex = run_cli(fmt::format("export --db {} --trial {} --out {}", db, by[{cand, 5}]["trial"].get<int64_t>(),
                                (d / "rexport").string()));
  ASSERT_EQ(ex.status, 0) << ex.err;
  const auto meta = nlohmann::json::parse(std::ifstream(d / "rexport" / "trial.json"));
  EXPECT_EQ(meta.at("trial").at("parent"), cand);
  EXPECT_EQ(meta.at("retrain_group").at("arms").at(0).at("trial"), cand);
  EXPECT_EQ(meta.at("retrain_group").at("baseline").at("retrains").size(), 2u);
  EXPECT_EQ(meta.at("retrain_group").at("group"), 1);
  EXPECT_EQ(meta.at("baseline"), meta.at("retrain_group").at("baseline")) << "it compares with the baseline's retrains";
  EXPECT_TRUE(meta.at("search_baseline").at("baseline").get<bool>());
  // export --track 1 --retrained: the group's track-1 arm, its best run. The baseline made
  // worse and the candidate faster by hand (search and retrains), so that the candidate wins.
  sql(d, "UPDATE trials SET psnr_rgb = 5.0 WHERE id = 1 OR parent_id = 1");
  sql(d, fmt::format("UPDATE trials SET runtime_ratio = 0.5 WHERE id = {0} OR parent_id = {0}", cand));
  auto plain = run_cli(fmt::format("export --db {} --track 1 --out {}", db, (d / "search_t1").string()));
  ASSERT_EQ(plain.status, 0) << plain.err;
  EXPECT_NE(plain.err.find("has 1 retrain group (srnas tracks): --retrained exports track 1's winner among them"),
            std::string::npos)
      << plain.err;
  EXPECT_EQ(nlohmann::json::parse(std::ifstream(d / "search_t1" / "trial.json"))["trial"]["trial"], cand);
  auto won = run_cli(fmt::format("export --db {} --track 1 --retrained --out {}", db, (d / "retrained_t1").string()));
  ASSERT_EQ(won.status, 0) << won.err;
  const bool five = by[{cand, 5}]["psnr_rgb"].get<double>() >= by[{cand, 6}]["psnr_rgb"].get<double>();
  const auto& best = by[{cand, five ? 5u : 6u}];
  const auto wm = nlohmann::json::parse(std::ifstream(d / "retrained_t1" / "trial.json"));
  EXPECT_EQ(wm["trial"]["trial"], best["trial"]) << "the arm's best seed";
  EXPECT_EQ(wm["trial"]["parent"], cand);
  EXPECT_EQ(wm["track"], 1);
  EXPECT_EQ(wm["retrain_group"]["group"], 1);
  EXPECT_TRUE(wm["picked"].is_string());
  EXPECT_NE(won.out.find(fmt::format("retrain of trial {}, seed {}: the best of its 2 runs in group 1 (12 iterations "
                                     "on cpu), mean ",
                                     cand, five ? 5 : 6)),
            std::string::npos)
      << won.out;
  expect_cli_error(fmt::format("export --db {} --trial {} --retrained --out {}", db, cand, (d / "x").string()),
                   "--retrained requires --track");
  auto st = nlohmann::json::parse(run_cli("studies --db " + db + " --format json").out);
  EXPECT_EQ(st[0]["retrains"], 4);
  EXPECT_EQ(st[0]["COMPLETE"].get<int>() + st[0]["PRUNED"].get<int>() + st[0]["FAILED"].get<int>(), 3);

  // An interrupted retrain (PENDING): the search neither claims it nor counts it.
  const int64_t x = by[{cand, 6}]["trial"].get<int64_t>();
  const double x_psnr = by[{cand, 6}]["psnr_rgb"].get<double>();
  sql(d, fmt::format("UPDATE trials SET state = 'PENDING', psnr_rgb = NULL WHERE id = {}", x));
  auto resumed = run_cli(search_cmd(d, true));
  ASSERT_EQ(resumed.status, 0) << resumed.err;
  auto now = trials_json(d);
  ASSERT_EQ(now.size(), 7u) << "no candidate added for the retrains: " << now.dump(1);
  EXPECT_EQ(now[size_t(x - 1)]["state"], "PENDING");
  auto cont = run_cli(retrain + fmt::format(" --trial {} --seeds 6", cand));
  ASSERT_EQ(cont.status, 0) << cont.err;
  EXPECT_NE(cont.out.find(fmt::format("continued interrupted retrain trial {}", x)), std::string::npos) << cont.out;
  EXPECT_EQ(trials_json(d).size(), 7u);
  EXPECT_NEAR(trials_json(d)[size_t(x - 1)]["psnr_rgb"].get<double>(), x_psnr, 1e-9) << "the same run, continued";

  // RUNNING: continued when its process is gone, refused while it lives.
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  pid_t dead = fork();
  if (dead == 0) _exit(0);
  waitpid(dead, nullptr, 0);
  sql(d, fmt::format("UPDATE trials SET state = 'RUNNING', worker = '{}:{}', heartbeat_at = {} WHERE id = {}", host,
                     dead, std::time(nullptr), x));
  auto taken = run_cli(retrain + fmt::format(" --trial {} --seeds 6", cand));
  ASSERT_EQ(taken.status, 0) << taken.err;
  EXPECT_NE(taken.out.find(fmt::format("continued interrupted retrain trial {}", x)), std::string::npos) << taken.out;
  sql(d, fmt::format("UPDATE trials SET state = 'RUNNING', worker = '{}:{}', heartbeat_at = {} WHERE id = {}", host,
                     getpid(), std::time(nullptr), x));
  auto busy = run_cli(retrain + fmt::format(" --trial {} --seeds 5,6", cand));  // another process's: left to it
  ASSERT_EQ(busy.status, 0) << busy.err;
  EXPECT_NE(busy.out.find(fmt::format("(seed 6): skipped: trial {} is retraining it (worker {}:{}", x, host, getpid())),
            std::string::npos)
      << busy.out;
  EXPECT_NE(busy.out.find("1 retrain(s) still running in other processes"), std::string::npos) << busy.out;
  EXPECT_EQ(trials_json(d)[size_t(x - 1)]["state"], "RUNNING");
  expect_cli_error(retrain + " --trial 1 --seeds 5,x", "--seeds");

  // --from-parent: fine-tuned from the search weights, a group of its own; a trial without
  // trained weights cannot be fine-tuned.
  auto ft = run_cli(retrain + fmt::format(" --trial 1,{} --seeds 5 --from-parent", cand));
  ASSERT_EQ(ft.status, 0) << ft.err;
  EXPECT_NE(ft.out.find("Retrains (group 2): 12 iterations on cpu, fine-tuned from the search's weights"), std::string::npos)
      << ft.out;
  const auto all = trials_json(d);
  ASSERT_EQ(all.size(), 9u);
  EXPECT_EQ(all[8]["train_settings"]["init"], "parent");
  EXPECT_EQ(nlohmann::json::parse(run_cli("tracks --db " + db + " --format json").out)["retrains"].size(), 2u);
  const std::string exr = fmt::format("export --db {} --track 1 --retrained --out {}", db, (d / "x").string());
  expect_cli_error(exr, "has 2 retrain groups: pass --group N (1: 12 iterations on cpu; 2: 12 iterations on cpu, "
                        "fine-tuned from the search's weights)");
  expect_cli_error(exr + " --group 3", "--group 3: study");
  EXPECT_FALSE(fs::exists(d / "x")) << "a refused export writes nothing";
  auto g1 = run_cli(exr + " --group 1");
  ASSERT_EQ(g1.status, 0) << g1.err;
  EXPECT_EQ(nlohmann::json::parse(std::ifstream(d / "x" / "trial.json"))["trial"]["trial"], best["trial"]);
  sql(d, fmt::format("UPDATE trials SET state = 'PRUNED' WHERE id = {}", cand));
  expect_cli_error(retrain + fmt::format(" --trial {} --seeds 7 --from-parent", cand),
                   fmt::format("trial {} is PRUNED, without trained weights to fine-tune from", cand));
}

// `final:` in the config: once every candidate is final, the baseline and each track's best
// are retrained once per seed by the search's workers (both MPI groups here), then compared
// at those settings; --resume adds nothing, and continues a final retrain its dead search left
// RUNNING, or one left PENDING; `srnas retrain` with the same options finds them done.
TEST(MpiSearch, FinalStageRetrainsTheTracksBestOnceOnEveryGroup) {
  if (std::system("command -v mpirun >/dev/null") != 0) GTEST_FAIL() << "mpirun missing: install openmpi-bin";
  fs::path d = make_study("final", 3, "random", "prune: {params: false, runtime: false}\n");
  std::ofstream(d / "long.yaml") << "iterations: 12\nbatch_size: 2\npatch_size: 8\ndevice: cpu\nloader: {workers: 1}\n";
  std::ofstream(d / "search.yaml", std::ios::app) << "final: {options: " << (d / "long.yaml").string()
                                                  << ", top: 1, seeds: [1, 2]}\n";
  const std::string out = (d / "log.txt").string();
  const int st = std::system((mpirun(2, search_cmd(d, false) + " --group-size 1") + " >" + out + " 2>&1").c_str());
  const std::string text = read_text(out);
  ASSERT_EQ(st, 0) << text;
  const auto ts = trials_json(d);
  std::vector<nlohmann::json> search, finals;
  for (const auto& t : ts) (t["parent"].is_null() ? search : finals).push_back(t);
  expect_complete_study(nlohmann::json(search), 3);
  ASSERT_GE(finals.size(), 4u) << "the baseline and at least one winner, 2 seeds each: " << ts.dump(1);
  std::set<std::pair<int64_t, uint64_t>> runs;
  std::set<int64_t> parents;
  bool group1 = false;
  for (const auto& t : finals) {
    EXPECT_EQ(t["state"], "COMPLETE") << t.dump();
    EXPECT_EQ(t["budget"], 12);
    const int64_t p = t["parent"].get<int64_t>();
    EXPECT_TRUE(runs.insert({p, t["train_settings"]["train"]["seed"].get<uint64_t>()}).second) << t.dump();
    parents.insert(p);
    group1 |= text.find(fmt::format("trial {} train -> group 1", t["trial"].get<int64_t>())) != std::string::npos;
  }
  EXPECT_EQ(runs.size(), parents.size() * 2);
  EXPECT_TRUE(parents.count(1)) << "the baseline is retrained alike";
  EXPECT_TRUE(group1) << "both groups train final retrains: " << text;
  EXPECT_NE(text.find("[search] final stage: "), std::string::npos) << text;
  EXPECT_NE(text.find("Retrains (group 1): 12 iterations on cpu"), std::string::npos) << text;
  const auto tj = nlohmann::json::parse(run_cli("tracks --db " + (d / "s.db").string() + " --format json").out);
  ASSERT_EQ(tj["retrains"].size(), 1u);
  EXPECT_EQ(tj["retrains"][0]["baseline"]["retrains"].size(), 2u);
  const bool ranked = !tj["retrains"][0]["tracks"][0]["ranked"].empty();  // the search says how to export it
  EXPECT_EQ(text.find("--track 1 --retrained --group 1 --out DIR") != std::string::npos, ranked) << text;

  // --resume: nothing new; a RUNNING final retrain whose search died and a PENDING one continue.
  auto again = run_cli(search_cmd(d, true));
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_EQ(trials_json(d).size(), ts.size());
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  pid_t dead = fork();
  if (dead == 0) _exit(0);
  waitpid(dead, nullptr, 0);
  const int64_t a = finals[0]["trial"].get<int64_t>(), b = finals[1]["trial"].get<int64_t>();
  sql(d, fmt::format("UPDATE trials SET state = 'RUNNING', psnr_rgb = NULL, worker = '{}:{}/group1(rank1)' WHERE id = {}",
                     host, dead, a));
  sql(d, fmt::format("UPDATE trials SET state = 'PENDING', psnr_rgb = NULL WHERE id = {}", b));
  auto resumed = run_cli(search_cmd(d, true));
  ASSERT_EQ(resumed.status, 0) << resumed.err;
  EXPECT_NE(resumed.err.find(fmt::format("re-queued final retrain {}", a)), std::string::npos) << resumed.err;
  const auto after = trials_json(d);
  ASSERT_EQ(after.size(), ts.size());
  for (int64_t id : {a, b}) {
    EXPECT_EQ(after[size_t(id - 1)]["state"], "COMPLETE") << after[size_t(id - 1)].dump();
    EXPECT_TRUE(after[size_t(id - 1)]["psnr_rgb"].is_number());
  }
  auto rt = run_cli("retrain --db " + (d / "s.db").string() + " --trial 1 --seeds 1,2 --options " +
                    (d / "long.yaml").string());
  ASSERT_EQ(rt.status, 0) << rt.err;
  EXPECT_EQ(count_of(rt.out, "already retrained with these options"), 2u) << rt.out;

  // Another final stage on --resume: fine-tuned from the search weights, a group of its own.
  edit_copy(d / "search.yaml", d / "search.yaml", "seeds: [1, 2]}", "seeds: [1, 2], from_parent: true}");
  auto tuned = run_cli(search_cmd(d, true));
  ASSERT_EQ(tuned.status, 0) << tuned.err;
  EXPECT_NE(tuned.out.find("Retrains (group 2): 12 iterations on cpu, fine-tuned from the search's weights"), std::string::npos)
      << tuned.out;
  const auto with_tuned = trials_json(d);
  ASSERT_EQ(with_tuned.size(), ts.size() + finals.size());
  for (size_t i = ts.size(); i < with_tuned.size(); ++i) {
    EXPECT_EQ(with_tuned[i]["state"], "COMPLETE") << with_tuned[i].dump();
    EXPECT_EQ(with_tuned[i]["train_settings"]["init"], "parent");
  }
}

TEST(Search, ExportWorksFromAnyFolderAndLeavesNoStaleRecord) {
  // A search run with a relative --db records where its weights are absolutely: export reads
  // them from any folder. An export --from into a folder that held another export's trial.json
  // removes it (it described that other network).
  fs::path d = make_study("relative", 1, "random", kNoRuntimePrune, 8, /*asha=*/false);
  auto r = srnas::testing::run_command("cd " + d.string() + " && " + SRNAS_BIN +
                                       " search --config search.yaml --db s.db");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto ts = trials_json(d);
  ASSERT_EQ(ts[0]["state"], "COMPLETE") << ts.dump(1);
  EXPECT_TRUE(fs::path(ts[0]["weights"].get<std::string>()).is_absolute()) << ts[0].dump();
  r = srnas::testing::run_command("cd / && " + std::string(SRNAS_BIN) + " export --db " + (d / "s.db").string() +
                                  " --trial 1 --out " + (d / "x").string());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("exported trial 1 (1,517,571 params"), std::string::npos) << r.out;
  ASSERT_TRUE(fs::exists(d / "x" / "trial.json"));
  r = run_cli("export --db " + (d / "s.db").string() + " --trial 1 --out " + (d / "y").string());
  ASSERT_EQ(r.status, 0) << r.err;
  r = run_cli("export --from " + (d / "y").string() + " --out " + (d / "x").string());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("(1,517,571 params)"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(d / "x" / "model.pt"));
  EXPECT_FALSE(fs::exists(d / "x" / "trial.json")) << "an earlier export's record of another network";
  // Exported again in place, a folder keeps its own record.
  ASSERT_EQ(run_cli("export --from " + (d / "y").string() + " --out " + (d / "y").string()).status, 0);
  EXPECT_TRUE(fs::exists(d / "y" / "trial.json"));
}

TEST(Search, AStudyMeasuredWithoutAWarmUpStillContinues) {
  // New studies need runtime.warmup >= 1; one made when 0 was allowed continues (search
  // --resume with its config, replay) instead of being locked out by its own settings.
  fs::path d = make_study("warmup0", 1, "random", kNoRuntimePrune, 8, /*asha=*/false);
  ASSERT_EQ(run_cli(search_cmd(d, false)).status, 0);
  {
    sqlite3* h = nullptr;
    ASSERT_EQ(sqlite3_open((d / "s.db").string().c_str(), &h), SQLITE_OK);
    const char* q = "UPDATE studies SET config_yaml = replace(config_yaml, 'warmup: 1', 'warmup: 0'), "
                    "measure_json = replace(measure_json, '\"warmup\":1', '\"warmup\":0')";
    ASSERT_EQ(sqlite3_exec(h, q, nullptr, nullptr, nullptr), SQLITE_OK);
    ASSERT_EQ(sqlite3_changes(h), 1);
    sqlite3_close(h);
  }
  edit_copy(d / "search.yaml", d / "search.yaml", "warmup: 1", "warmup: 0");
  auto r = run_cli(search_cmd(d, true));
  EXPECT_EQ(r.status, 0) << r.err;
  r = run_cli("replay --db " + (d / "s.db").string() + " --sampler random --seeds 1");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;
  expect_cli_error("search --config " + (d / "search.yaml").string() + " --db " + (d / "new.db").string(),
                   "search.runtime.warmup: expected an integer in [1, 100] for a new study");
  EXPECT_FALSE(fs::exists(d / "new.db")) << "a refused config leaves no DB file";
}

