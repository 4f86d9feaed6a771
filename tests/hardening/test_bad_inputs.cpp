// Bad input to the real `srnas` binary, one table: every row is a command line that must fail
// with exit status 2 and one "srnas: error: ..." last line on stderr naming what was wrong (no
// stack trace, no abort), and leave a real finished study's results DB exactly as it was.
//
// The fixtures (a tiny data root, options, a search config, a finished 2-trial study s.db, a
// copy of it with an injected FAILED trial, exported baseline weights, broken files) are made
// once in SetUpTestSuite. Placeholders in the command lines: @D is the fixture folder, @DB the
// study's DB, @COPY the copy with the FAILED trial, @PRUNED_DB / @PRUNED_ID a PRUNED trial
// (the study's own one when it has one, else one made in the copy).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>
#include <unistd.h>

#include <fmt/format.h>

#include "../support/cli_runner.h"
#include "../support/images.h"
#include "../support/scratch.h"
#include "trainer/image.h"

using srnas::testing::CliRun;
using srnas::testing::run_cli;
namespace fs = std::filesystem;

namespace {

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

void write_text(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
  return s;
}

std::string last_line(std::string s) {
  while (!s.empty() && s.back() == '\n') s.pop_back();
  size_t nl = s.rfind('\n');
  return nl == std::string::npos ? s : s.substr(nl + 1);
}

srnas::Image pattern(int h, int w, int k) { return srnas::testing::ramp_pattern(h, w, k); }

void exec_sql(const fs::path& db, const std::string& sql, bool read_only) {
  sqlite3* h = nullptr;
  int rc = sqlite3_open_v2(db.string().c_str(), &h, read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE, nullptr);
  ASSERT_EQ(rc, SQLITE_OK) << db << ": " << sqlite3_errmsg(h);
  char* err = nullptr;
  rc = sqlite3_exec(h, sql.c_str(), nullptr, nullptr, &err);
  std::string msg = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(h);
  ASSERT_EQ(rc, SQLITE_OK) << sql << ": " << msg;
}

// Every row of every table, read through SQLite (read-only: a reader never checkpoints).
std::string db_dump(const fs::path& db) {
  sqlite3* h = nullptr;
  std::string out;
  if (sqlite3_open_v2(db.string().c_str(), &h, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    out = std::string("cannot open: ") + sqlite3_errmsg(h);
    sqlite3_close(h);
    return out;
  }
  std::vector<std::string> tables;
  sqlite3_stmt* q = nullptr;
  sqlite3_prepare_v2(h, "SELECT name, sql FROM sqlite_master ORDER BY type, name", -1, &q, nullptr);
  while (sqlite3_step(q) == SQLITE_ROW) {
    std::string name = reinterpret_cast<const char*>(sqlite3_column_text(q, 0));
    const unsigned char* sql = sqlite3_column_text(q, 1);
    out += "schema " + name + ": " + (sql ? reinterpret_cast<const char*>(sql) : "") + "\n";
    if (sql && std::string(reinterpret_cast<const char*>(sql)).rfind("CREATE TABLE", 0) == 0) tables.push_back(name);
  }
  sqlite3_finalize(q);
  for (const auto& t : tables) {
    size_t rows = 0;
    if (sqlite3_prepare_v2(h, ("SELECT * FROM \"" + t + "\"").c_str(), -1, &q, nullptr) != SQLITE_OK) {
      out += "table " + t + ": " + sqlite3_errmsg(h) + "\n";
      continue;
    }
    while (sqlite3_step(q) == SQLITE_ROW) {
      ++rows;
      out += t + ":";
      for (int c = 0; c < sqlite3_column_count(q); ++c) {
        const unsigned char* v = sqlite3_column_text(q, c);
        out += fmt::format(" {}={}", sqlite3_column_type(q, c), v ? reinterpret_cast<const char*>(v) : "NULL");
      }
      out += "\n";
    }
    sqlite3_finalize(q);
    out += fmt::format("table {}: {} rows\n", t, rows);
  }
  sqlite3_close(h);
  return out;
}

// The DB as it lies on disk (main file and write-ahead log) and as SQLite reads it. A missing
// -wal file and an empty one are the same state: SQLite deletes an empty log when a read-write
// connection closes and a later reader makes it again.
struct DbState {
  std::string main, wal, dump;
};

DbState db_state(const fs::path& db) {
  DbState s;
  s.main = read_bytes(db);
  if (fs::path wal = db.string() + "-wal"; fs::exists(wal)) s.wal = read_bytes(wal);
  s.dump = db_dump(db);
  return s;
}

struct Row {
  std::string name;
  std::string args;    // srnas command line with @D, @DB, @COPY, @PRUNED_DB, @PRUNED_ID placeholders
  std::string needle;  // expected in the error line
};

struct Result {
  std::string name;
  int status;
  std::string line;
};

}  // namespace

class BadInputs : public ::testing::Test {
 protected:
  static inline fs::path dir_;
  static inline std::string pruned_db_, pruned_id_, failed_id_;
  static inline std::string trials_before_;

  static std::string search_yaml(const std::string& name, const std::string& space = "unified_small",
                                 const std::string& sampler = "random", const std::string& trials = "2",
                                 const std::string& min_budget = "4", const std::string& runtime_runs = "1",
                                 const std::string& extra = "") {
    return fmt::format(
        "study: {}\nspace: {}\nsampler: {{type: {}}}\ntrials: {}\nseed: 3\ndata: {}\n"
        "train: {{options: {}}}\nasha: {{min_budget: {}, eta: 2, rungs: 2}}\n"
        "runtime: {{runs: {}, warmup: 1, max_images: 1, crop_lr: 12}}\ndevice: cpu\n{}",
        name, space, sampler, trials, (dir_ / "data").string(), (dir_ / "tiny.yaml").string(), min_budget,
        runtime_runs, extra);
  }

  static void SetUpTestSuite() {
    dir_ = srnas::testing::scratch_dir("bad_inputs");
    fs::create_directories(dir_ / "data" / "train");
    fs::create_directories(dir_ / "data" / "val");
    for (int i = 0; i < 3; ++i)
      srnas::write_png((dir_ / "data" / "train" / fmt::format("t{}.png", i)).string(), pattern(64, 64, i));
    srnas::write_png((dir_ / "data" / "val" / "v.png").string(), pattern(48, 48, 7));

    // options and the study
    const std::string tiny =
        "iterations: 8\nbatch_size: 2\npatch_size: 8\nlog_every: 4\ncheckpoint_every: 2\nlr: 1.0e-3\n"
        "device: cpu\nloader: {workers: 1}\n";
    write_text(dir_ / "tiny.yaml", tiny);
    write_text(dir_ / "search.yaml", search_yaml("bad_inputs"));
    CliRun r = run_cli(fmt::format("search --config {} --db {}", (dir_ / "search.yaml").string(), (dir_ / "s.db").string()));
    ASSERT_EQ(r.status, 0) << r.err;

    // broken options files
    write_text(dir_ / "opt_wrong_type.yaml", replace_all(tiny, "iterations: 8", "iterations: many"));
    write_text(dir_ / "opt_negative.yaml", replace_all(tiny, "iterations: 8", "iterations: -5"));
    write_text(dir_ / "opt_malformed.yaml", "iterations: [1, 2\n");
    write_text(dir_ / "opt_precision.yaml", tiny + "perf: {precision: fp8}\n");
    // broken search configs
    write_text(dir_ / "cfg_wrong_type.yaml", search_yaml("bad_inputs", "unified_small", "random", "[1, 2]"));
    write_text(dir_ / "cfg_wrong_type_nested.yaml", search_yaml("bad_inputs", "unified_small", "random", "2", "4", "fast"));
    write_text(dir_ / "cfg_sampler.yaml", search_yaml("bad_inputs", "unified_small", "simulated_annealing"));
    write_text(dir_ / "cfg_space.yaml", search_yaml("bad_inputs", "galaxy"));
    write_text(dir_ / "cfg_other_space.yaml", search_yaml("bad_inputs", "krahaon"));
    write_text(dir_ / "cfg_trials.yaml", search_yaml("bad_inputs", "unified_small", "random", "-1"));
    write_text(dir_ / "cfg_asha.yaml", search_yaml("bad_inputs", "unified_small", "random", "2", "0"));
    write_text(dir_ / "cfg_macs.yaml", search_yaml("bad_inputs", "unified_small", "random", "2", "4", "1",
                                                   "macs_lr_size: [4294967301, 10]\n"));
    write_text(dir_ / "cfg_warmup.yaml", replace_all(search_yaml("bad_inputs"), "warmup: 1", "warmup: 0"));
    write_text(dir_ / "cfg_reference.yaml",
               search_yaml("bad_inputs", "unified_small", "random", "2", "4", "1, reference: always"));
    // a Latin-1 byte (not UTF-8) in an option override: YAML must be Unicode
    write_text(dir_ / "cfg_latin1.yaml",
               replace_all(search_yaml("bad_inputs"), "tiny.yaml}", "tiny.yaml, set: {device: \"caf\xe9\"}}"));
    write_text(dir_ / "cfg_cores.yaml", search_yaml("bad_inputs", "unified_small", "random", "2", "4", "1", "cores: all\n"));
    // a cosine schedule shorter than the last rung (8 iterations): its tail would train at eta_min
    write_text(dir_ / "cfg_cosine.yaml",
               replace_all(search_yaml("bad_inputs"), "tiny.yaml}",
                           "tiny.yaml, set: {schedule: {type: cosine_restarts, periods: [6]}}}"));
    write_text(dir_ / "cfg_keep.yaml", search_yaml("bad_inputs", "unified_small", "random", "2", "4", "1", "keep_checkpoints: 3\n"));
    write_text(dir_ / "cfg_limit_key.yaml",
               search_yaml("bad_inputs", "unified_small", "random", "2", "4", "1", "limits: {params: 500000}\n"));
    write_text(dir_ / "cfg_limit_value.yaml",
               search_yaml("bad_inputs", "unified_small", "random", "2", "4", "1", "limits: {max_params: 0}\n"));
    write_text(dir_ / "cfg_timeout.yaml",
               search_yaml("bad_inputs", "unified_small", "random", "2", "4", "1", "timeout: 8 hours\n"));
    write_text(dir_ / "cfg_unknown_key.yaml", search_yaml("bad_inputs", "unified_small", "random", "2", "4", "1", "colour: blue\n"));

    // genomes: the reference MSRResNet as a file, then broken variants
    CliRun a = run_cli("arch show msrresnet --format json");
    ASSERT_EQ(a.status, 0) << a.err;
    nlohmann::json g = nlohmann::json::parse(a.out)["genome"];
    nlohmann::json bad_block = g, width0 = g, narrow = g;
    bad_block["lr"]["blocks"][3] = {{"type", "wormhole"}};
    width0["lr"]["width"] = 0;
    narrow["lr"]["width"] = 32;
    write_text(dir_ / "genome_bad_block.json", bad_block.dump(1));
    write_text(dir_ / "genome_width0.json", width0.dump(1));
    write_text(dir_ / "genome_narrow.json", narrow.dump(1));
    write_text(dir_ / "genome_malformed.json", g.dump().substr(0, 60));

    // not a DB, a directory as a DB, an empty HR folder
    write_text(dir_ / "garbage.db", "this is not sqlite at all, just some text\n");
    fs::create_directories(dir_ / "dir.db");
    fs::create_directories(dir_ / "empty_hr");
    // a benchmark folder whose LR does not match its HR at x4 (48x48 HR, 64x64 LR)
    fs::create_directories(dir_ / "bench" / "HR");
    fs::create_directories(dir_ / "bench" / "LR_bicubic" / "X4");
    srnas::write_png((dir_ / "bench" / "HR" / "v.png").string(), pattern(48, 48, 7));
    srnas::write_png((dir_ / "bench" / "LR_bicubic" / "X4" / "vx4.png").string(), pattern(64, 64, 1));

    // the baseline's weights (MSRResNet, width 64) for a network of width 32
    nlohmann::json ts = nlohmann::json::parse(run_cli("trials --db " + (dir_ / "s.db").string() + " --format json").out);
    int64_t baseline = -1, victim = -1, pruned = -1;
    for (const auto& t : ts) {
      if (t["baseline"].get<bool>()) baseline = t["trial"];
      else if (victim < 0) victim = t["trial"];
      if (t["state"] == "PRUNED" && pruned < 0) pruned = t["trial"];
    }
    ASSERT_GE(baseline, 1) << ts.dump(1);
    ASSERT_GE(victim, 1) << ts.dump(1);
    CliRun e = run_cli(fmt::format("export --db {} --trial {} --out {}", (dir_ / "s.db").string(), baseline,
                                   (dir_ / "baseline_export").string()));
    ASSERT_EQ(e.status, 0) << e.err;

    // a copy of the study where one candidate FAILED (and one is PRUNED, if the study has none)
    exec_sql(dir_ / "s.db", "VACUUM INTO '" + (dir_ / "copy.db").string() + "'", /*read_only=*/true);
    exec_sql(dir_ / "copy.db",
             fmt::format("UPDATE trials SET state = 'FAILED', reason = 'injected by test_bad_inputs' WHERE id = {}", victim),
             false);
    if (pruned > 0) {
      pruned_db_ = (dir_ / "s.db").string();
      pruned_id_ = std::to_string(pruned);
    } else {
      int64_t other = -1;
      for (const auto& t : ts)
        if (!t["baseline"].get<bool>() && t["trial"] != victim) other = t["trial"];
      ASSERT_GE(other, 1) << "the study needs 2 candidates: " << ts.dump(1);
      exec_sql(dir_ / "copy.db",
               fmt::format("UPDATE trials SET state = 'PRUNED', reason = 'injected by test_bad_inputs' WHERE id = {}", other),
               false);
      pruned_db_ = (dir_ / "copy.db").string();
      pruned_id_ = std::to_string(other);
    }
    failed_id_ = std::to_string(victim);
    trials_before_ = run_cli("trials --db " + (dir_ / "s.db").string() + " --format json").out;
  }
};

TEST_F(BadInputs, EachFailsWithOneErrorLineAndLeavesTheDbAlone) {
  ASSERT_FALSE(failed_id_.empty()) << "the fixtures were not made (see SetUpTestSuite's failure)";
  const std::string& victim = failed_id_;
  const std::vector<Row> rows = {
      // missing or unreadable files
      {"missing arch json", "arch show @D/missing_genome.json", "missing_genome.json: cannot open file"},
      {"missing options yaml", "train --arch msrresnet --data @D/data --options @D/missing.yaml --out @D/out/t1",
       "missing.yaml: cannot open file"},
      {"missing data dir", "train --arch msrresnet --data @D/no_such_data --options @D/tiny.yaml --out @D/out/t2",
       "no_such_data: no such data folder"},
      {"missing db (trials)", "trials --db @D/missing.db", "missing.db: no such results DB"},
      {"missing db (report)", "report --db @D/missing.db --out @D/out/report", "missing.db: no such results DB"},
      {"garbage file as db", "pareto --db @D/garbage.db", "garbage.db: not an srnas results DB"},
      {"directory as db", "trials --db @D/dir.db", "dir.db: cannot open results DB: is a directory"},
      {"missing HR folder", "data prepare --hr @D/no_such_hr --out @D/out/prep", "no_such_hr: no such HR folder"},
      {"empty HR folder", "data prepare --hr @D/empty_hr --out @D/out/prep2", "empty_hr: no images (expected .png"},
      // options YAML
      {"options: wrong type", "train --arch msrresnet --data @D/data --options @D/opt_wrong_type.yaml --out @D/out/t3",
       "options.iterations: expected an integer, got string 'many'"},
      {"options: iterations -5", "train --arch msrresnet --data @D/data --options @D/opt_negative.yaml --out @D/out/t4",
       "options.iterations: expected an integer in [1, 1099511627776], got -5"},
      {"options: malformed yaml", "train --arch msrresnet --data @D/data --options @D/opt_malformed.yaml --out @D/out/t5",
       "opt_malformed.yaml:2:1: malformed YAML"},
      {"options: perf.precision fp8", "train --arch msrresnet --data @D/data --options @D/opt_precision.yaml --out @D/out/t7",
       "options.perf.precision: expected one of {fp32, bf16}, got 'fp8'"},
      {"eval --precision fp8", "eval --arch msrresnet --data @D/data --precision fp8", "--precision"},
      {"train --set iterations=-5", "train --arch msrresnet --data @D/data --options @D/tiny.yaml --out @D/out/t10 "
                                    "--set iterations=-5",
       "tiny.yaml + set iterations=-5: options.iterations: expected an integer in [1, 1099511627776], got -5"},
      {"train --set badkey=1", "train --arch msrresnet --data @D/data --options @D/tiny.yaml --out @D/out/t6 --set badkey=1",
       "options: unknown key 'badkey'"},
      // search config YAML, against the finished study
      {"search cfg: wrong type", "search --resume --config @D/cfg_wrong_type.yaml --db @DB",
       "search.trials: expected an integer, got array"},
      {"search cfg: wrong nested type", "search --resume --config @D/cfg_wrong_type_nested.yaml --db @DB",
       "search.runtime.runs: expected an integer, got string 'fast'"},
      {"search cfg: macs_lr_size 2^32+5", "search --resume --config @D/cfg_macs.yaml --db @DB",
       "search.macs_lr_size: expected [height, width], integers in [1, 65536]"},
      {"search cfg: runtime.warmup 0 (new study)", "search --config @D/cfg_warmup.yaml --db @D/out/warmup0.db",
       "search.runtime.warmup: expected an integer in [1, 100] for a new study (runtime is timed on a warmed-up "
       "model), got 0"},
      {"search cfg: runtime.reference", "search --resume --config @D/cfg_reference.yaml --db @DB",
       "search.runtime.reference: expected one of {each, once}, got 'always'"},
      {"search cfg: cores", "search --resume --config @D/cfg_cores.yaml --db @DB",
       "search.cores: expected one of {fixed, adaptive}, got 'all'"},
      {"search cfg: cosine shorter than the last rung", "search --resume --config @D/cfg_cosine.yaml --db @DB",
       "cfg_cosine.yaml: search.train: schedule.periods sum to 6 iterations, fewer than the 8 of the last "
       "successive-halving rung (search.asha): its last 2 would all train at eta_min; make them sum to 8"},
      {"search cfg: keep_checkpoints", "search --resume --config @D/cfg_keep.yaml --db @DB",
       "search.keep_checkpoints: expected true or false, got"},
      {"search cfg: limits key", "search --resume --config @D/cfg_limit_key.yaml --db @DB",
       "search.limits: unknown key 'params'"},
      {"search cfg: max_params 0", "search --resume --config @D/cfg_limit_value.yaml --db @DB",
       "search.limits.max_params: expected an integer in [1, 2000000000], got 0"},
      {"search cfg: timeout '8 hours'", "search --resume --config @D/cfg_timeout.yaml --db @DB",
       "search.timeout: expected a duration such as 90s, 30m, 8h, 1h30m or 2d (or seconds), got '8 hours'"},
      {"search --timeout -1h", "search --resume --config @D/search.yaml --db @DB --timeout=-1h",
       "--timeout: expected a duration such as 90s, 30m, 8h, 1h30m or 2d (or seconds), got '-1h'"},
      {"search cfg: unknown key", "search --resume --config @D/cfg_unknown_key.yaml --db @DB", "search: unknown key 'colour'"},
      // (srnas before search_space/yaml_json.cpp checked UTF-8 said only "[json.exception.type_error.316]
      // incomplete UTF-8 string"; now "cfg_latin1.yaml:L:C: invalid UTF-8 (byte 0xE9 ...)")
      {"search cfg: invalid UTF-8", "search --resume --config @D/cfg_latin1.yaml --db @DB", "UTF-8"},
      {"unknown sampler", "search --resume --config @D/cfg_sampler.yaml --db @DB",
       "search.sampler.type: expected one of {random, evolution, nsga2, tpe}, got 'simulated_annealing'"},
      {"unknown space", "search --resume --config @D/cfg_space.yaml --db @DB", "unknown space 'galaxy'"},
      {"trials: -1", "search --resume --config @D/cfg_trials.yaml --db @DB",
       "search.trials: expected an integer in [1, 1000000], got -1"},
      {"asha min_budget: 0", "search --resume --config @D/cfg_asha.yaml --db @DB",
       "search.asha.min_budget: expected an integer >= 1"},
      {"resume with another space", "search --resume --config @D/cfg_other_space.yaml --db @DB",
       "was created with space 'unified_small', the config says 'krahaon'"},
      {"search again without --resume", "search --config @D/search.yaml --db @DB", "already exists; pass --resume"},
      {"--group-size 2 without mpirun", "search --resume --config @D/search.yaml --db @DB --group-size 2",
       "--group-size 2 needs 2 MPI ranks per group"},
      // genomes and spaces
      {"unknown block type", "arch show @D/genome_bad_block.json",
       "lr.blocks[3].type: expected one of {res_relu, res_lrelu, ir, imd, awru, dilated, se, dwsep, rlfb, rfdb, spab}, got 'wormhole'"},
      {"genome width 0", "arch show @D/genome_width0.json", "lr.width: expected an integer in [1, 4096], got 0"},
      {"malformed genome json", "arch show @D/genome_malformed.json", "genome_malformed.json: malformed JSON"},
      {"unknown built-in arch", "arch show resnet9000", "unknown architecture 'resnet9000'"},
      {"genome outside the space", "space check --space krahaon msrresnet", "genome not in space 'krahaon'"},
      {"space sample --n 0", "space sample --space unified --n 0", "--n: expected an integer in [1, 1000000], got 0"},
      {"--lr-size 0x0", "arch show msrresnet --lr-size 0x0", "--lr-size: expected HxW with positive integers"},
      // export / retrain / analysis of the study
      {"export a FAILED trial", "export --db @COPY --trial " + victim + " --out @D/out/x1",
       "trial " + victim + " is FAILED (injected by test_bad_inputs): only COMPLETE trials with weights can be exported"},
      {"export a PRUNED trial", "export --db @PRUNED_DB --trial @PRUNED_ID --out @D/out/x2",
       "trial @PRUNED_ID is PRUNED"},
      {"export a missing trial", "export --db @DB --trial 999 --out @D/out/x3", "trial 999 does not exist"},
      {"export --track 4", "export --db @DB --track 4 --out @D/out/x4", "--track: expected an integer in [1, 3], got 4"},
      {"retrain a missing trial", "retrain --db @DB --trial 77 --options @D/tiny.yaml", "trial 77 does not exist"},
      {"retrain with iterations -5", "retrain --db @DB --trial 1 --options @D/opt_negative.yaml",
       "options.iterations: expected an integer in [1, 1099511627776], got -5"},
      {"--format xml", "trials --db @DB --format xml", "--format: xml not in {table,json,csv}"},
      {"trials --state DONE", "trials --db @DB --state DONE", "trial state: expected one of"},
      {"--objectives bad name", "pareto --db @DB --objectives psnr,beauty",
       "--objectives: expected a comma list of psnr, params, macs, runtime; got 'beauty'"},
      {"unknown study", "tracks --db @DB --study nope", "no study named 'nope'"},
      {"replay --seeds 0", "replay --db @DB --seeds 0", "--seeds: expected an integer in [1, 1000000], got 0"},
      {"replay --table over the DB", "replay --db @DB --sampler random --seeds 1 --table @DB",
       "--table @DB: is an SQLite file, the results DB (it would be overwritten)"},
      {"search --db ''", "search --resume --config @D/search.yaml --db ''", "--db: expected a file path, got ''"},
      {"ask --db ''", "ask --config @D/search.yaml --db ''", "--db: expected a file path, got ''"},
      {"retrain --seeds -1", "retrain --db @DB --trial 1 --options @D/tiny.yaml --seeds 1,-1",
       "--seeds: expected an integer in [0, 9223372036854775807], got -1"},
      {"replay --sampler simulated_annealing", "replay --db @DB --sampler simulated_annealing",
       "--sampler: simulated_annealing not in {random,evolution,nsga2,tpe,all}"},
      // eval and weights
      {"eval HR/LR size mismatch", "eval --arch msrresnet --data @D/bench --no-runtime",
       "do not match at x4: expected LR 12x12"},
      {"weights of the wrong shape", "eval --arch @D/genome_narrow.json --weights @D/baseline_export/weights.safetensors "
                                     "--data @D/data --no-runtime",
       "the model expects [32"},
      {"eval --device tpu", "eval --arch msrresnet --data @D/data --device tpu", "--device: tpu not in {auto,cpu,cuda}"},
      {"weights under no naming of the arch", "eval --arch imdn_aim19 --weights @D/baseline_export/weights.safetensors "
                                              "--data @D/data --no-runtime",
       "no naming of this arch matches its keys; closest: "},
      {"train --init missing file", "train --arch msrresnet --data @D/data --options @D/tiny.yaml --out @D/out/t8 "
                                    "--init @D/nope.safetensors",
       "nope.safetensors: cannot open"},
      {"train --init of another arch", "train --arch imdn_aim19 --data @D/data --options @D/tiny.yaml --out @D/out/t9 "
                                       "--init @D/baseline_export/weights.safetensors",
       "no naming of this arch matches its keys"},
      // the command line itself
      {"unknown subcommand", "frobnicate --db @DB", "unknown command 'frobnicate': expected one of {arch, space"},
      {"--threads -1", "--threads -1 arch list", "--threads: expected an integer in [0, 4096], got -1"},
      {"--threads two", "--threads two arch list", "--threads: expected an integer in [0, 4096], got 'two'"},
      {"--threads 2x", "--threads 2x arch list", "--threads: expected an integer in [0, 4096], got '2x'"},
  };
  ASSERT_GE(rows.size(), 25u);

  const fs::path db = dir_ / "s.db";
  const DbState before = db_state(db);
  ASSERT_NE(before.dump.find("table trials: 3 rows"), std::string::npos) << before.dump;
  auto expand = [&](const std::string& s) {
    std::string o = replace_all(s, "@PRUNED_DB", pruned_db_);
    o = replace_all(o, "@PRUNED_ID", pruned_id_);
    o = replace_all(o, "@COPY", (dir_ / "copy.db").string());
    o = replace_all(o, "@DB", db.string());
    return replace_all(o, "@D", dir_.string());
  };

  std::vector<Result> results;
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    const std::string args = expand(row.args), needle = expand(row.needle);
    CliRun r = run_cli(args);
    const std::string line = last_line(r.err);
    results.push_back({row.name, r.status, line});
    EXPECT_EQ(r.status, 2) << args << "\n" << r.err;
    EXPECT_EQ(line.rfind("srnas: error: ", 0), 0u) << args << "\n" << r.err;
    EXPECT_NE(line.find(needle), std::string::npos) << args << "\nexpected: " << needle << "\nstderr: " << r.err;
    for (const char* bad : {"terminate called", "Aborted", "Segmentation fault", "core dumped", "Exception raised from",
                            "frame #", "what():", "Assertion"})
      EXPECT_EQ(r.err.find(bad), std::string::npos) << args << ": stderr has '" << bad << "':\n" << r.err;
    const DbState after = db_state(db);
    EXPECT_TRUE(after.main == before.main) << args << ": " << db << " changed on disk";
    EXPECT_TRUE(after.wal == before.wal) << args << ": " << db << "-wal changed";
    EXPECT_EQ(after.dump, before.dump) << args << ": the DB's rows changed";
  }
  EXPECT_EQ(run_cli("trials --db " + db.string() + " --format json").out, trials_before_);

  std::cout << "\n" << std::left << std::setw(38) << "bad input" << std::setw(7) << "exit" << "stderr's last line\n";
  for (const auto& r : results) {
    std::string line = replace_all(r.line, dir_.string(), "@D");
    std::cout << std::left << std::setw(38) << r.name << std::setw(7) << r.status << line << "\n";
  }
  std::cout << results.size() << " bad inputs; " << db.filename().string() << " unchanged after each: "
            << (testing::Test::HasFailure() ? "see failures above" : "yes") << "\n";
}
