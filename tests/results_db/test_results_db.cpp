// ResultsDB on real SQLite files in a temporary folder: round trips, claiming (threads and
// forked processes), re-queueing, schema versions, refused files, locks and WAL readers.
#include "results_db/results_db.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "search_space/error.h"
#include "../support/errors.h"
#include "../support/processes.h"
#include "../support/scratch.h"

using srnas::testing::Child;
using srnas::testing::error_of;
using srnas::testing::in_processes;

namespace srnas {
namespace {

namespace fs = std::filesystem;
using Mode = ResultsDB::Mode;

double now_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A raw SQLite connection, for what the tests do behind ResultsDB's back.
class Raw {
 public:
  enum Kind { ReadWrite, ReadOnly, Create };
  explicit Raw(const std::string& path, Kind kind = ReadWrite) {
    const std::string uri = "file:" + path + (kind == ReadOnly ? "?mode=ro" : "");
    int flags = SQLITE_OPEN_URI | (kind == ReadOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) |
                (kind == Create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(uri.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
      throw std::runtime_error("raw open " + path + ": " + sqlite3_errmsg(db_));
    }
  }
  ~Raw() { sqlite3_close(db_); }
  void exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "?";
      sqlite3_free(err);
      throw std::runtime_error("raw exec '" + sql + "': " + msg);
    }
  }
  std::string text(const std::string& sql) {  // first column of the first row
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) {
      throw std::runtime_error("raw prepare '" + sql + "': " + sqlite3_errmsg(db_));
    }
    std::string out;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
      const unsigned char* p = sqlite3_column_text(s, 0);
      out = p ? reinterpret_cast<const char*>(p) : "";
    } else if (rc != SQLITE_DONE) {
      std::string msg = sqlite3_errmsg(db_);
      sqlite3_finalize(s);
      throw std::runtime_error("raw step '" + sql + "': " + msg);
    }
    sqlite3_finalize(s);
    return out;
  }
  int64_t count(const std::string& sql) { return std::stoll(text(sql)); }

 private:
  sqlite3* db_ = nullptr;
};

#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << "in: " << (haystack)

StudyRecord study(const std::string& name) {
  StudyRecord s;
  s.name = name;
  s.config_yaml = "space: tiny\nbudget: 100\n";
  s.space = "tiny";
  s.seed = 7;
  s.device = "cpu";
  return s;
}

TrialRecord trial(int64_t study_id, const std::string& hash, TrialState state = TrialState::Pending) {
  TrialRecord t;
  t.study_id = study_id;
  t.genome_json = "{\"g\":\"" + hash + "\"}";
  t.genome_hash = hash;
  t.state = state;
  return t;
}

void expect_same(const TrialRecord& a, const TrialRecord& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.study_id, b.study_id);
  EXPECT_EQ(a.number, b.number);
  EXPECT_EQ(a.genome_json, b.genome_json);
  EXPECT_EQ(a.genome_hash, b.genome_hash);
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.reason, b.reason);
  EXPECT_EQ(a.worker, b.worker);
  EXPECT_EQ(a.created_at, b.created_at);
  EXPECT_EQ(a.started_at, b.started_at);
  EXPECT_EQ(a.finished_at, b.finished_at);
  EXPECT_EQ(a.heartbeat_at, b.heartbeat_at);
  EXPECT_EQ(a.params, b.params);
  EXPECT_EQ(a.macs, b.macs);
  EXPECT_EQ(a.psnr_rgb, b.psnr_rgb);
  EXPECT_EQ(a.psnr_y, b.psnr_y);
  EXPECT_EQ(a.runtime_s, b.runtime_s);
  EXPECT_EQ(a.runtime_ratio, b.runtime_ratio);
  EXPECT_EQ(a.budget, b.budget);
  EXPECT_EQ(a.rung, b.rung);
  EXPECT_EQ(a.rung_psnr, b.rung_psnr);
  EXPECT_EQ(a.parent_id, b.parent_id);
  EXPECT_EQ(a.is_baseline, b.is_baseline);
  EXPECT_EQ(a.weights_path, b.weights_path);
  EXPECT_EQ(a.train_json, b.train_json);
}

class ResultsDBTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = srnas::testing::scratch_dir("db").string(); }
  // Undo the permission tests' chmods, so the scratch folder can be removed (or inspected).
  void TearDown() override {
    std::error_code ec;
    for (auto& p : fs::recursive_directory_iterator(dir_, ec)) {
      ::chmod(p.path().c_str(), p.is_directory() ? 0755 : 0644);
    }
  }
  std::string path(const std::string& name = "results.db") const { return dir_ + "/" + name; }
  std::unique_ptr<ResultsDB> open_db(Mode mode = Mode::ReadWrite, int busy_ms = 10000) {
    return ResultsDB::open(path(), mode, busy_ms);
  }

  std::string dir_;
};

// ---- schema and studies ----

TEST_F(ResultsDBTest, CreatesSchemaWalAndStudiesRoundTrip) {
  auto db = open_db();
  EXPECT_EQ(db->path(), path());
  EXPECT_EQ(db->schema_version(), 3);
  EXPECT_EQ(ResultsDB::current_schema_version(), 3);

  StudyRecord s = study("first");
  s.seed = 0xFFFFFFFFFFFFFFF0ull;  // above INT64_MAX: stored bit-for-bit
  s.created_at = 1700000000.25;
  s.measure_json = R"({"train":{"lr":0.001}})";
  const int64_t id = db->create_study(s);
  EXPECT_GT(id, 0);
  const double before = now_s();
  const int64_t id2 = db->create_study(study("second"));  // created_at 0 -> now
  EXPECT_NE(id2, id);

  auto got = db->find_study("first");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->id, id);
  EXPECT_EQ(got->name, "first");
  EXPECT_EQ(got->config_yaml, s.config_yaml);
  EXPECT_EQ(got->space, "tiny");
  EXPECT_EQ(got->seed, 0xFFFFFFFFFFFFFFF0ull);
  EXPECT_EQ(got->device, "cpu");
  EXPECT_EQ(got->created_at, 1700000000.25);
  EXPECT_EQ(got->measure_json, s.measure_json);
  EXPECT_EQ(db->find_study("second")->measure_json, "");
  db->set_study_measure_json(id2, "{}");
  EXPECT_EQ(db->find_study("second")->measure_json, "{}");
  EXPECT_CONTAINS(error_of([&] { db->set_study_measure_json(9999, "{}"); }), "study 9999: no such study");
  EXPECT_GE(db->find_study("second")->created_at, before - 1);
  EXPECT_FALSE(db->find_study("nope"));

  std::string msg = error_of([&] { db->create_study(study("first")); });
  EXPECT_CONTAINS(msg, path() + ": create study: a study named 'first' already exists");
  EXPECT_CONTAINS(error_of([&] { db->create_study(study("")); }), "non-empty");
  db.reset();

  Raw raw(path());
  EXPECT_EQ(raw.text("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.text("PRAGMA application_id"), "1397637459");  // "SNAS"
  EXPECT_EQ(raw.text("SELECT version FROM schema_version"), "3");
  EXPECT_EQ(raw.text("SELECT sql FROM sqlite_master WHERE name = 'trials_study_number'"),
            "CREATE UNIQUE INDEX trials_study_number ON trials (study_id, number)");
  EXPECT_EQ(raw.count("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name IN "
                      "('trials_study_state', 'trials_study_hash')"),
            2);

  for (Mode mode : {Mode::ReadWrite, Mode::ReadOnly}) {
    auto again = ResultsDB::open(path(), mode);
    EXPECT_EQ(again->schema_version(), 3);
    auto all = again->studies();
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0].name, "first");
    EXPECT_EQ(all[1].name, "second");
  }
}

TEST_F(ResultsDBTest, EmptyFileIsInitialisedReadWriteButRefusedReadOnly) {
  std::ofstream(path()).close();  // 0 bytes, e.g. from mktemp
  std::string msg = error_of([&] { open_db(Mode::ReadOnly); });
  EXPECT_EQ(msg, path() + ": not an srnas results DB (empty database)");
  auto db = open_db();
  EXPECT_EQ(db->schema_version(), 3);
  EXPECT_TRUE(db->studies().empty());
}

TEST_F(ResultsDBTest, ConcurrentOpensOfANewFileAllSucceed) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  std::vector<std::string> errors(4);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      try {
        auto db = open_db();
        if (db->schema_version() == 3) ++ok;
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (auto& e : errors) EXPECT_EQ(e, "");
  EXPECT_EQ(ok, 4);
  EXPECT_EQ(Raw(path()).text("SELECT COUNT(*) FROM schema_version"), "1");
}

TEST_F(ResultsDBTest, ConcurrentProcessOpensOfANewFileAllSucceed) {
  // Several processes (e.g. `srnas ask` started at once) create the same file, or initialise
  // the same empty one (odd rounds: a 0-byte file exists). Switching an empty file to WAL
  // returned SQLITE_BUSY at once to some of them before the switch was retried (this test
  // failed in the first 7 of 100 rounds, 6 of 6 runs); new files are now made beside and
  // linked. 100 rounds of 6 processes: every open succeeds.
  int failed = 0;
  std::string first_error;
  for (int round = 0; round < 100; ++round) {
    const std::string file = path("new" + std::to_string(round) + ".db");
    if (round % 2 == 1) std::ofstream{file};
    for (const Child& c : in_processes(6, [&](int, std::string&) {
           return ResultsDB::open(file)->schema_version() == ResultsDB::current_schema_version() ? 0 : 2;
         })) {
      if (c.ok()) continue;
      ++failed;
      if (first_error.empty()) first_error = c.text.empty() ? "exit status " + std::to_string(c.status) : c.text;
    }
    EXPECT_EQ(Raw(file).text("SELECT COUNT(*) FROM schema_version"), "1");
  }
  EXPECT_EQ(failed, 0) << "first error: " << first_error;
}

TEST_F(ResultsDBTest, AReaderNeverFindsAHalfMadeFile) {
  // `srnas pareto` while a search creates its DB: the file is either not there yet or whole
  // (made beside it, then linked into place), never an empty database. Before that, a reader
  // polling for the file found it empty ("not an srnas results DB (empty database)").
  std::string first_error;
  for (int round = 0; round < 30; ++round) {
    const std::string file = path("made" + std::to_string(round) + ".db");
    const auto children = in_processes(4, [&](int k, std::string& text) {
      if (k == 0) return ResultsDB::open(file)->schema_version() == ResultsDB::current_schema_version() ? 0 : 2;
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (std::chrono::steady_clock::now() < deadline) {
        try {
          return ResultsDB::open(file, Mode::ReadOnly)->schema_version() == ResultsDB::current_schema_version() ? 0 : 2;
        } catch (const Error& e) {
          text = e.what();
          if (text.find("No such file") == std::string::npos) return 1;
        }
      }
      return 4;
    });
    for (const Child& c : children)
      if (!c.ok() && first_error.empty()) first_error = "round " + std::to_string(round) + ": " + c.text;
  }
  EXPECT_EQ(first_error, "");
  for (const auto& entry : fs::directory_iterator(dir_))  // no file of a creation left behind
    EXPECT_EQ(entry.path().filename().string().find("creating"), std::string::npos) << entry.path();
}

TEST_F(ResultsDBTest, WhatAKilledCreatorLeftIsRemovedByTheNextReadWriteOpen) {
  // A creator killed (kill -9) between making its private file and linking it leaves
  // <db>.creating-<host>-<pid>-<n> and its -wal/-shm beside the DB. The next read-write open
  // on that host removes those of dead processes, and nothing else.
  char host[256] = {};
  ASSERT_EQ(::gethostname(host, sizeof host - 1), 0);
  const std::string mine = path() + ".creating-" + host + "-";
  auto killed_creator = [&](const std::string& suffix_after_pid) {
    const pid_t pid = ::fork();
    if (pid == 0) {  // a creator killed with its WAL file open: -wal and -shm stay
      const std::string file = mine + std::to_string(::getpid()) + suffix_after_pid;
      Raw raw(file, Raw::Create);
      raw.exec("PRAGMA journal_mode = WAL; CREATE TABLE half (x); INSERT INTO half VALUES (1)");
      ::kill(::getpid(), SIGKILL);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    return pid;
  };
  const pid_t dead = killed_creator("-0");
  const pid_t dead2 = killed_creator("-12");
  for (const std::string& f : {mine + std::to_string(dead) + "-0", mine + std::to_string(dead) + "-0-wal",
                               mine + std::to_string(dead2) + "-12"}) {
    ASSERT_TRUE(fs::exists(f)) << f;
  }
  const pid_t alive = ::fork();  // a creator still at work
  if (alive == 0) {
    ::pause();
    ::_exit(0);
  }
  const std::vector<std::string> kept = {
      mine + std::to_string(alive) + "-0",                                    // alive
      path() + ".creating-other-host-" + std::to_string(dead) + "-0",         // another host's
      mine + std::to_string(dead) + "-x",                                     // not a creation name
      path("other.db") + ".creating-" + host + "-" + std::to_string(dead) + "-0",  // another DB's
  };
  for (const auto& f : kept) std::ofstream{f} << "x";

  open_db(Mode::ReadWrite).reset();  // creates the DB (and sweeps)
  open_db(Mode::ReadOnly).reset();
  std::set<std::string> left;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    const std::string name = entry.path().filename().string();
    if (name.find(".creating-") != std::string::npos) left.insert(entry.path().string());
  }
  ::kill(alive, SIGKILL);
  ::waitpid(alive, nullptr, 0);
  EXPECT_EQ(left, std::set<std::string>(kept.begin(), kept.end()));

  // a reader removes nothing: it never writes
  const pid_t dead3 = killed_creator("-1");
  open_db(Mode::ReadOnly).reset();
  EXPECT_TRUE(fs::exists(mine + std::to_string(dead3) + "-1"));
  open_db(Mode::ReadWrite).reset();  // an existing DB: still swept
  EXPECT_FALSE(fs::exists(mine + std::to_string(dead3) + "-1"));
  EXPECT_FALSE(fs::exists(mine + std::to_string(dead3) + "-1-wal"));
  EXPECT_FALSE(fs::exists(mine + std::to_string(dead3) + "-1-shm"));
}

TEST_F(ResultsDBTest, AVersion1FileMigratesKeepingEverything) {
  // A file as srnas wrote it before schema version 2 (no studies.measure_json): read-only
  // opens read it as it is, read-write migrates it once; studies and trials stay.
  {
    auto db = open_db();
    StudyRecord s = study("old");
    s.measure_json = "{\"x\":1}";
    const int64_t id = db->create_study(s);
    TrialRecord t;
    t.study_id = id;
    t.genome_json = "{}";
    t.genome_hash = "h";
    db->add_trial(t);
  }
  Raw(path()).exec("ALTER TABLE studies DROP COLUMN measure_json; ALTER TABLE trials DROP COLUMN train_json; "
                   "UPDATE schema_version SET version = 1");
  {
    // a reader (srnas trials, pareto, ... while an old srnas searches) reads it as it is
    auto ro = open_db(Mode::ReadOnly);
    EXPECT_EQ(ro->schema_version(), 1);
    auto s = ro->find_study("old");
    ASSERT_TRUE(s);
    EXPECT_EQ(s->measure_json, "");
    EXPECT_EQ(ro->studies().size(), 1u);
    EXPECT_EQ(ro->trials(s->id).size(), 1u);
  }
  EXPECT_EQ(Raw(path()).text("SELECT version FROM schema_version"), "1") << "a reader never migrates";
  auto db = open_db();
  EXPECT_EQ(db->schema_version(), 3);
  auto s = db->find_study("old");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->measure_json, "");  // not recorded before
  EXPECT_EQ(s->space, "tiny");
  ASSERT_EQ(db->trials(s->id).size(), 1u);
  EXPECT_EQ(db->trials(s->id)[0].genome_hash, "h");
  EXPECT_EQ(db->trials(s->id)[0].train_json, "");
  EXPECT_EQ(Raw(path()).text("SELECT version FROM schema_version"), "3");
}

TEST_F(ResultsDBTest, AVersion2FileMigratesAndItsRetrainsReadWithoutSettings) {
  // Before schema version 3 a retrain did not record its training settings (trials.train_json).
  int64_t retrain_id = 0;
  {
    auto db = open_db();
    const int64_t id = db->create_study(study("old"));
    const int64_t parent = db->add_trial(trial(id, "h", TrialState::Complete));
    TrialRecord r = trial(id, "h", TrialState::Complete);
    r.parent_id = parent;
    retrain_id = db->add_trial(r);
  }
  Raw(path()).exec("ALTER TABLE trials DROP COLUMN train_json; UPDATE schema_version SET version = 2");
  {
    auto ro = open_db(Mode::ReadOnly);
    EXPECT_EQ(ro->schema_version(), 2);
    auto t = ro->trial(retrain_id);
    ASSERT_TRUE(t);
    EXPECT_EQ(t->train_json, "");
    EXPECT_EQ(ro->trials(t->study_id).size(), 2u);
    EXPECT_TRUE(ro->find_by_hash(t->study_id, "h"));
  }
  EXPECT_EQ(Raw(path()).text("SELECT version FROM schema_version"), "2") << "a reader never migrates";
  auto db = open_db();
  EXPECT_EQ(db->schema_version(), 3);
  EXPECT_EQ(db->trial(retrain_id)->train_json, "");
  EXPECT_EQ(*db->trial(retrain_id)->parent_id, db->trials(db->trial(retrain_id)->study_id)[0].id);
}

// ---- trials ----

TEST_F(ResultsDBTest, TrialRoundTripsEveryField) {
  auto db = open_db();
  const int64_t sid = db->create_study(study("s"));
  const int64_t parent = db->add_trial(trial(sid, "p", TrialState::Complete));

  TrialRecord t;
  t.id = 12345;      // ignored
  t.number = 99;     // ignored
  t.study_id = sid;
  t.genome_json = "{\"body\":[{\"op\":\"conv3x3\",\"width\":32}],\"name\":\"caf\xC3\xA9\"}";
  t.genome_hash = "0123456789abcdef";
  t.state = TrialState::Pruned;
  t.reason = "params 1234567 > max_params 1000000";
  t.worker = "host-a:4242:1";
  t.created_at = 1700000000.125;
  t.started_at = 1700000001.5;
  t.finished_at = 1700000099.75;
  t.heartbeat_at = 1700000098.0;
  t.params = 1234567;
  t.macs = int64_t{9876543210123};
  t.psnr_rgb = 28.123456789012345;
  t.psnr_y = 29.5;
  t.runtime_s = 0.0123;
  t.runtime_ratio = 0.87;
  t.budget = 50000;
  t.rung = 2;
  t.rung_psnr = {{0, 26.5}, {1, 27.25}, {2, 28.125}};
  t.parent_id = parent;
  t.is_baseline = true;
  t.weights_path = "runs/s/trial_1/weights.safetensors";
  t.train_json = R"({"device":"cpu","train":{"iterations":3000,"seed":7}})";

  const int64_t id = db->add_trial(t);
  t.id = id;
  t.number = 1;
  auto got = db->trial(id);
  ASSERT_TRUE(got);
  expect_same(*got, t);

  // A fresh trial: every optional empty, created_at filled in.
  const double before = now_s();
  const int64_t bare_id = db->add_trial(trial(sid, "bare"));
  auto bare = db->trial(bare_id);
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->number, 2);
  EXPECT_GE(bare->created_at, before - 1);
  EXPECT_FALSE(bare->params || bare->macs || bare->psnr_rgb || bare->psnr_y || bare->runtime_s ||
               bare->runtime_ratio || bare->parent_id);
  EXPECT_TRUE(bare->rung_psnr.empty());
  EXPECT_FALSE(bare->is_baseline);

  // update_trial writes every mutable field, replaces rung_psnr, keeps the identity fields.
  TrialRecord u = *got;
  u.genome_json = "changed";  // identity: not written
  u.genome_hash = "changed";
  u.created_at = 1;
  u.state = TrialState::Failed;
  u.reason = "loss diverged at iter 17";
  u.worker = "";
  u.started_at = 2;
  u.finished_at = 3;
  u.heartbeat_at = 4;
  u.params.reset();
  u.macs = 5;
  u.psnr_rgb.reset();
  u.psnr_y = 30.0;
  u.runtime_s.reset();
  u.runtime_ratio = 1.5;
  u.budget = 7;
  u.rung = 0;
  u.rung_psnr = {{0, 25.0}};
  u.parent_id.reset();
  u.is_baseline = false;
  u.weights_path = "";
  u.train_json = "changed";  // written once, by add_trial
  db->update_trial(u);
  u.genome_json = t.genome_json;
  u.genome_hash = t.genome_hash;
  u.created_at = t.created_at;
  u.train_json = t.train_json;
  expect_same(*db->trial(id), u);

  EXPECT_FALSE(db->trial(987654));
  TrialRecord missing = u;
  missing.id = 987654;
  EXPECT_CONTAINS(error_of([&] { db->update_trial(missing); }), "trial id 987654 does not exist");
  EXPECT_CONTAINS(error_of([&] { db->add_trial(trial(sid + 100, "x")); }),
                  path() + ": add trial: study id " + std::to_string(sid + 100) + " does not exist");
  TrialRecord orphan = trial(sid, "orphan");
  orphan.parent_id = 987654;
  EXPECT_CONTAINS(error_of([&] { db->add_trial(orphan); }), "parent trial id 987654 does not exist");
}

TEST_F(ResultsDBTest, NumbersAreSequentialPerStudy) {
  auto db = open_db();
  const int64_t a = db->create_study(study("a"));
  const int64_t b = db->create_study(study("b"));
  for (int i = 0; i < 5; ++i) {
    TrialRecord t = trial(a, "a" + std::to_string(i));
    t.number = 1000;  // ignored
    db->add_trial(t);
    db->add_trial(trial(b, "b" + std::to_string(i), TrialState::Complete));
  }
  for (int64_t s : {a, b}) {
    auto ts = db->trials(s);
    ASSERT_EQ(ts.size(), 5u);
    for (int i = 0; i < 5; ++i) {
      EXPECT_EQ(ts[i].number, i);
      EXPECT_EQ(ts[i].study_id, s);
    }
  }
  EXPECT_EQ(db->trials(a)[3].genome_hash, "a3");
}

TEST_F(ResultsDBTest, ClaimPendingTakesTheLowestNumberedPendingTrial) {
  auto db = open_db();
  const int64_t sid = db->create_study(study("s"));
  const int64_t other = db->create_study(study("other"));
  db->add_trial(trial(other, "o"));  // pending, but in another study
  const TrialState states[] = {TrialState::Complete, TrialState::Pending, TrialState::Running,
                               TrialState::Pending, TrialState::Pending};
  std::vector<int64_t> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(db->add_trial(trial(sid, std::to_string(i), states[i])));

  const double before = now_s();
  auto c = db->claim_pending(sid, "w1");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->number, 1);
  EXPECT_EQ(c->state, TrialState::Running);
  EXPECT_EQ(c->worker, "w1");
  EXPECT_GE(c->started_at, before - 1);
  EXPECT_EQ(c->heartbeat_at, c->started_at);
  expect_same(*db->trial(c->id), *c);

  EXPECT_EQ(db->claim_pending(sid, "w2")->number, 3);
  EXPECT_EQ(db->claim_pending(sid, "w1")->number, 4);
  EXPECT_FALSE(db->claim_pending(sid, "w1"));
  EXPECT_EQ(db->trials(other, TrialState::Pending).size(), 1u);

  const int64_t p = db->add_trial(trial(sid, "late"));
  EXPECT_FALSE(db->claim_trial(ids[2], "w3"));  // RUNNING
  EXPECT_FALSE(db->claim_trial(ids[0], "w3"));  // COMPLETE
  EXPECT_FALSE(db->claim_trial(987654, "w3"));
  EXPECT_TRUE(db->claim_trial(p, "w3"));
  EXPECT_FALSE(db->claim_trial(p, "w4"));
  EXPECT_EQ(db->trial(p)->worker, "w3");
  EXPECT_EQ(db->trial(p)->state, TrialState::Running);

  // A PENDING retrain is `srnas retrain`'s to continue: the search never claims it, by id it can be.
  TrialRecord r = trial(sid, "0");
  r.parent_id = ids[0];
  const int64_t rid = db->add_trial(r);
  EXPECT_FALSE(db->claim_pending(sid, "w5"));
  EXPECT_TRUE(db->claim_trial(rid, "w5"));
}

TEST_F(ResultsDBTest, ClaimRaceBetweenProcessesClaimsEachTrialOnce) {
  const int kTrials = 50, kProcs = 4;
  int64_t sid = 0;
  {
    auto db = open_db();
    sid = db->create_study(study("race"));
    for (int i = 0; i < kTrials; ++i) db->add_trial(trial(sid, std::to_string(i)));
  }  // no connection crosses fork()

  const std::vector<Child> children = in_processes(kProcs, [&](int p, std::string& text) {
    auto db = ResultsDB::open(path());
    while (auto t = db->claim_pending(sid, "proc" + std::to_string(p))) text += std::to_string(t->id) + "\n";
    return 0;
  });
  std::map<int64_t, int> claimed_by;  // trial id -> process
  int total = 0;
  for (int p = 0; p < kProcs; ++p) {
    EXPECT_TRUE(children[p].ok()) << "child " << p << ": " << children[p].text;
    std::istringstream in(children[p].text);
    int64_t id;
    while (in >> id) {
      ++total;
      EXPECT_EQ(claimed_by.count(id), 0u) << "trial " << id << " claimed twice";
      claimed_by[id] = p;
    }
  }
  EXPECT_EQ(total, kTrials);
  EXPECT_EQ(claimed_by.size(), static_cast<size_t>(kTrials));
  auto db = open_db(Mode::ReadOnly);
  EXPECT_EQ(db->state_counts(sid)[TrialState::Running], kTrials);
  for (const auto& t : db->trials(sid)) {
    ASSERT_TRUE(claimed_by.count(t.id));
    EXPECT_EQ(t.worker, "proc" + std::to_string(claimed_by[t.id]));
  }
}

TEST_F(ResultsDBTest, ClaimRaceBetweenThreadsClaimsEachTrialOnce) {
  const int kTrials = 50, kThreads = 4;
  auto db = open_db();
  const int64_t sid = db->create_study(study("race"));
  for (int i = 0; i < kTrials; ++i) db->add_trial(trial(sid, std::to_string(i)));
  std::vector<std::vector<int64_t>> got(kThreads);
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int k = 0; k < kThreads; ++k) {
    threads.emplace_back([&, k] {
      try {
        auto mine = open_db();  // one connection per thread
        while (auto t = mine->claim_pending(sid, "thread" + std::to_string(k))) got[k].push_back(t->id);
      } catch (const std::exception& e) {
        errors[k] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  std::set<int64_t> all;
  size_t total = 0;
  for (int k = 0; k < kThreads; ++k) {
    EXPECT_EQ(errors[k], "");
    total += got[k].size();
    all.insert(got[k].begin(), got[k].end());
  }
  EXPECT_EQ(total, static_cast<size_t>(kTrials));
  EXPECT_EQ(all.size(), static_cast<size_t>(kTrials));
}

TEST_F(ResultsDBTest, HeartbeatAndRequeue) {
  auto db = open_db();
  const int64_t sid = db->create_study(study("s"));
  const int64_t other = db->create_study(study("other"));
  for (int i = 0; i < 3; ++i) db->add_trial(trial(sid, std::to_string(i)));
  db->add_trial(trial(other, "o"));
  auto a = *db->claim_pending(sid, "w1");
  auto b = *db->claim_pending(sid, "w2");
  auto c = *db->claim_pending(sid, "w3");
  db->claim_pending(other, "w9");

  a.heartbeat_at = now_s() - 1000;  // w1 went silent
  db->update_trial(a);
  c.heartbeat_at = now_s() - 1000;
  db->update_trial(c);
  db->heartbeat(c.id);  // ... but w3 is alive after all
  EXPECT_GE(db->trial(c.id)->heartbeat_at, now_s() - 5);
  EXPECT_CONTAINS(error_of([&] { db->heartbeat(987654); }), "trial id 987654 does not exist");

  EXPECT_EQ(db->requeue_running(sid, 60), 1);
  auto ra = *db->trial(a.id);
  EXPECT_EQ(ra.state, TrialState::Pending);
  EXPECT_EQ(ra.worker, "");
  EXPECT_EQ(ra.reason, "re-queued: worker w1 stopped heartbeating");
  EXPECT_EQ(ra.started_at, 0);
  EXPECT_EQ(ra.heartbeat_at, 0);
  EXPECT_EQ(db->trial(b.id)->state, TrialState::Running);
  EXPECT_EQ(db->trial(c.id)->state, TrialState::Running);

  EXPECT_EQ(db->requeue_running(sid), 2);  // all RUNNING: --resume after a crash
  EXPECT_EQ(db->trial(b.id)->reason, "re-queued: worker w2 stopped heartbeating");
  EXPECT_EQ(db->state_counts(sid)[TrialState::Pending], 3);
  EXPECT_EQ(db->state_counts(other)[TrialState::Running], 1);  // other study untouched
  EXPECT_EQ(db->requeue_running(sid), 0);

  EXPECT_EQ(db->claim_pending(sid, "w4")->id, a.id);  // lowest number first again

  // A RUNNING retrain belongs to its `srnas retrain` process, which a search cannot see.
  TrialRecord r = trial(sid, "0");
  r.parent_id = a.id;
  const int64_t rid = db->add_trial(r);
  ASSERT_TRUE(db->claim_trial(rid, "w5"));
  EXPECT_EQ(db->requeue_running(sid), 1);  // a, not the retrain
  EXPECT_EQ(db->trial(rid)->state, TrialState::Running);
  EXPECT_EQ(db->trial(rid)->worker, "w5");
}

TEST_F(ResultsDBTest, StateCountsFiltersAndFindByHash) {
  auto db = open_db();
  const int64_t sid = db->create_study(study("s"));
  const int64_t other = db->create_study(study("other"));
  db->add_trial(trial(sid, "h1", TrialState::Complete));
  db->add_trial(trial(sid, "h2", TrialState::Failed));
  const int64_t c2 = db->add_trial(trial(sid, "h3", TrialState::Complete));
  TrialRecord retrain = trial(sid, "h1", TrialState::Pending);
  retrain.parent_id = db->trials(sid)[0].id;
  db->add_trial(retrain);  // same genome: allowed
  db->add_trial(trial(other, "h9", TrialState::Complete));

  auto counts = db->state_counts(sid);
  EXPECT_EQ(counts.size(), 5u);
  EXPECT_EQ(counts[TrialState::Pending], 1);
  EXPECT_EQ(counts[TrialState::Running], 0);
  EXPECT_EQ(counts[TrialState::Complete], 2);
  EXPECT_EQ(counts[TrialState::Pruned], 0);
  EXPECT_EQ(counts[TrialState::Failed], 1);

  auto complete = db->trials(sid, TrialState::Complete);
  ASSERT_EQ(complete.size(), 2u);
  EXPECT_EQ(complete[0].number, 0);
  EXPECT_EQ(complete[1].id, c2);
  EXPECT_TRUE(db->trials(sid, TrialState::Running).empty());

  auto h1 = db->find_by_hash(sid, "h1");
  ASSERT_TRUE(h1);
  EXPECT_EQ(h1->number, 0);  // the original, not the retrain
  EXPECT_FALSE(db->find_by_hash(sid, "h9"));
  EXPECT_TRUE(db->find_by_hash(other, "h9"));
  EXPECT_FALSE(db->find_by_hash(sid, "nope"));
}

TEST_F(ResultsDBTest, MetricsAndArtifacts) {
  auto db = open_db();
  const int64_t sid = db->create_study(study("s"));
  const int64_t t1 = db->add_trial(trial(sid, "a"));
  const int64_t t2 = db->add_trial(trial(sid, "b"));
  db->add_metric(t1, 200, "loss", 0.25);
  db->add_metric(t1, 100, "loss", 0.5);
  db->add_metric(t1, 100, "psnr", 27.5);
  db->add_metric(t1, 300, "loss", std::nan(""));  // divergence is a value worth keeping
  db->add_metric(t2, 100, "loss", 9.0);

  auto m = db->metrics(t1);
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0].name, "loss");
  EXPECT_EQ(m[0].step, 100);
  EXPECT_EQ(m[0].value, 0.5);
  EXPECT_EQ(m[1].step, 200);
  EXPECT_EQ(m[2].step, 300);
  EXPECT_TRUE(std::isnan(m[2].value));
  EXPECT_EQ(m[3].name, "psnr");
  EXPECT_EQ(m[3].trial_id, t1);
  EXPECT_EQ(db->metrics(t2).size(), 1u);
  EXPECT_TRUE(db->metrics(987654).empty());

  db->add_artifact(t1, "weights", "runs/s/1/weights.safetensors");
  db->add_artifact(t1, "log", "runs/s/1/train.log");
  auto a = db->artifacts(t1);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].kind, "weights");
  EXPECT_EQ(a[0].path, "runs/s/1/weights.safetensors");
  EXPECT_EQ(a[0].trial_id, t1);
  EXPECT_EQ(a[1].kind, "log");
  EXPECT_TRUE(db->artifacts(t2).empty());

  EXPECT_CONTAINS(error_of([&] { db->add_metric(987654, 0, "loss", 1); }),
                  path() + ": add metric 'loss': trial id 987654 does not exist");
  EXPECT_CONTAINS(error_of([&] { db->add_artifact(987654, "log", "x"); }), "trial id 987654 does not exist");
}

TEST_F(ResultsDBTest, TransactionCommitsOrRollsBack) {
  auto db = open_db();
  const int64_t sid = db->create_study(study("s"));
  db->add_trial(trial(sid, "before"));

  db->transaction([&] {
    if (!db->find_by_hash(sid, "x")) db->add_trial(trial(sid, "x"));
    db->add_trial(trial(sid, "y"));
  });
  EXPECT_EQ(db->trials(sid).size(), 3u);

  EXPECT_THROW(db->transaction([&] {
    db->add_trial(trial(sid, "lost1"));
    db->add_metric(db->trials(sid).back().id, 0, "loss", 1.0);
    db->add_trial(trial(sid, "lost2"));
    throw std::runtime_error("proposal failed");
  }),
               std::runtime_error);
  EXPECT_EQ(db->trials(sid).size(), 3u);
  EXPECT_FALSE(db->find_by_hash(sid, "lost1"));
  EXPECT_EQ(db->trial(db->add_trial(trial(sid, "after")))->number, 3);  // numbers continue

  // Nested: an inner failure caught inside the outer transaction undoes only the inner part.
  db->transaction([&] {
    db->add_trial(trial(sid, "outer"));
    try {
      db->transaction([&] {
        db->add_trial(trial(sid, "inner"));
        throw Error("inner failed");
      });
    } catch (const Error&) {
    }
  });
  EXPECT_TRUE(db->find_by_hash(sid, "outer"));
  EXPECT_FALSE(db->find_by_hash(sid, "inner"));
  EXPECT_EQ(db->trials(sid).size(), 5u);
}

// ---- refused files and paths ----

TEST_F(ResultsDBTest, NewerSchemaIsRefused) {
  open_db()->create_study(study("s"));
  Raw(path()).exec("UPDATE schema_version SET version = 99");
  for (Mode mode : {Mode::ReadWrite, Mode::ReadOnly}) {
    EXPECT_EQ(error_of([&] { ResultsDB::open(path(), mode); }),
              path() + ": results DB schema version 99 is newer than this srnas supports (3); upgrade srnas");
  }
  EXPECT_EQ(Raw(path()).text("SELECT version FROM schema_version"), "99");  // left alone
}

TEST_F(ResultsDBTest, GarbageFilesAreRefused) {
  std::string text;
  for (int i = 0; i < 200; ++i) text += "this is not a database, it is a text file\n";
  std::string binary(4096, '\0');
  for (size_t i = 0; i < binary.size(); ++i) binary[i] = static_cast<char>(i * 131 + 7);
  for (const std::string& content : {text, std::string("x"), std::string(50, 'y'), binary}) {
    { std::ofstream(path(), std::ios::binary) << content; }
    for (Mode mode : {Mode::ReadWrite, Mode::ReadOnly}) {
      std::string msg = error_of([&] { ResultsDB::open(path(), mode); });
      EXPECT_EQ(msg.rfind(path() + ": not an srnas results DB (", 0), 0u) << msg;
    }
    std::ifstream in(path(), std::ios::binary);
    EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), content);  // untouched
  }
}

TEST_F(ResultsDBTest, OtherSqliteFilesAreRefused) {
  Raw(path("app.db"), Raw::Create).exec("CREATE TABLE users (id INTEGER, name TEXT)");
  std::string msg = error_of([&] { ResultsDB::open(path("app.db")); });
  EXPECT_EQ(msg.rfind(path("app.db") + ": not an srnas results DB (", 0), 0u) << msg;
  EXPECT_CONTAINS(msg, "users");
  EXPECT_EQ(Raw(path("app.db")).text("SELECT COUNT(*) FROM sqlite_master"), "1");  // untouched

  // Another program's schema_version table is not enough either.
  Raw(path("other.db"), Raw::Create).exec("CREATE TABLE schema_version (version INTEGER)");
  EXPECT_CONTAINS(error_of([&] { ResultsDB::open(path("other.db")); }), "not an srnas results DB");
}

TEST_F(ResultsDBTest, ReadOnlyOpenOfAMissingFileFails) {
  std::string msg = error_of([&] { open_db(Mode::ReadOnly); });
  EXPECT_EQ(msg, path() + ": cannot open results DB: No such file or directory");
  EXPECT_FALSE(fs::exists(path()));
}

TEST_F(ResultsDBTest, ReadOnlyConnectionRefusesWrites) {
  int64_t sid;
  {
    auto db = open_db();
    sid = db->create_study(study("s"));
    db->add_trial(trial(sid, "a"));
  }
  auto ro = open_db(Mode::ReadOnly);
  EXPECT_EQ(ro->trials(sid).size(), 1u);
  EXPECT_EQ(error_of([&] { ro->add_trial(trial(sid, "b")); }),
            path() + ": add trial: the results DB is open read-only");
  EXPECT_CONTAINS(error_of([&] { ro->claim_pending(sid, "w"); }), "read-only");
  EXPECT_EQ(ro->trials(sid).size(), 1u);
}

TEST_F(ResultsDBTest, UncreatableLocationsNameThePathAndCause) {
  // Parent is a regular file: works as root too.
  { std::ofstream(path("plain")) << "x"; }
  const std::string under_file = path("plain") + "/results.db";
  EXPECT_EQ(error_of([&] { ResultsDB::open(under_file); }),
            under_file + ": cannot create results DB: '" + path("plain") + "' is not a directory");
  EXPECT_EQ(error_of([&] { ResultsDB::open(path("missing/dir") + "/r.db"); }),
            path("missing/dir") + "/r.db: cannot create results DB: directory '" + path("missing/dir") +
                "': No such file or directory");

  if (::geteuid() != 0) {  // chmod stops writes only for non-root
    fs::create_directory(path("ro"));
    ::chmod(path("ro").c_str(), 0555);
    const std::string p = path("ro") + "/results.db";
    EXPECT_EQ(error_of([&] { ResultsDB::open(p); }),
              p + ": cannot create results DB: directory '" + path("ro") + "' is not writable (Permission denied)");
  } else {  // root can write anywhere on disk, but not create files in /proc
    const std::string p = "/proc/srnas_results_db_test_" + std::to_string(::getpid()) + ".db";
    std::string msg = error_of([&] { ResultsDB::open(p); });
    EXPECT_EQ(msg.rfind(p + ": cannot ", 0), 0u) << msg;
  }
}

TEST_F(ResultsDBTest, UnreadablePathsNameThePathAndCause) {
  EXPECT_EQ(error_of([&] { ResultsDB::open(dir_); }), dir_ + ": cannot open results DB: is a directory");
  EXPECT_EQ(error_of([&] { ResultsDB::open("/dev/null"); }),
            "/dev/null: cannot open results DB: not a regular file");
  if (::geteuid() != 0) {
    open_db().reset();
    ::chmod(path().c_str(), 0);
    for (Mode mode : {Mode::ReadWrite, Mode::ReadOnly}) {
      EXPECT_EQ(error_of([&] { ResultsDB::open(path(), mode); }),
                path() + ": cannot open results DB: Permission denied");
    }
  }
}

// ---- locks and WAL ----

TEST_F(ResultsDBTest, ForeignWriterLockGivesALockedErrorAndLeavesTheDBIntact) {
  int64_t sid;
  {
    auto db = open_db();
    sid = db->create_study(study("s"));
    for (int i = 0; i < 3; ++i) db->add_metric(db->add_trial(trial(sid, std::to_string(i))), 0, "m", i);
  }
  std::unique_ptr<ResultsDB> db;
  {
    Raw foreign(path());
    foreign.exec("BEGIN IMMEDIATE");
    foreign.exec("INSERT INTO studies (name, config_yaml, space, seed, device, created_at) "
                 "VALUES ('foreign', '', '', 0, '', 0)");
    db = open_db(Mode::ReadWrite, 200);  // opening a current DB needs no write lock

    auto t0 = std::chrono::steady_clock::now();
    std::string msg = error_of([&] { db->add_trial(trial(sid, "blocked")); });
    const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(msg, path() + ": database is locked by another process (waited 200 ms)");
    EXPECT_GE(waited, 0.15);
    EXPECT_LT(waited, 5.0);
    EXPECT_CONTAINS(error_of([&] { db->claim_pending(sid, "w"); }), "locked");
    EXPECT_CONTAINS(error_of([&] { db->transaction([] {}); }), "locked");

    EXPECT_EQ(db->trials(sid).size(), 3u);  // reads still work while the writer holds the lock
    foreign.exec("ROLLBACK");
  }
  // The failed writes left nothing behind, and this connection works again.
  EXPECT_EQ(db->trials(sid).size(), 3u);
  EXPECT_FALSE(db->find_by_hash(sid, "blocked"));
  EXPECT_EQ(db->trial(db->add_trial(trial(sid, "after")))->number, 3);
  EXPECT_EQ(db->metrics(db->trials(sid)[2].id).size(), 1u);
  db.reset();
  Raw raw(path());
  EXPECT_EQ(raw.text("PRAGMA integrity_check"), "ok");
  EXPECT_EQ(raw.text("PRAGMA foreign_key_check"), "");
  EXPECT_EQ(raw.count("SELECT COUNT(*) FROM trials"), 4);
  EXPECT_EQ(raw.count("SELECT COUNT(*) FROM studies"), 1);
}

TEST_F(ResultsDBTest, ReadersNeverBlockTheWriter) {
  auto writer = open_db(Mode::ReadWrite, 200);
  const int64_t sid = writer->create_study(study("s"));
  writer->add_trial(trial(sid, "first"));

  // A raw read-only reader holds an open read transaction (a snapshot) ...
  Raw reader(path(), Raw::ReadOnly);
  reader.exec("BEGIN");
  EXPECT_EQ(reader.count("SELECT COUNT(*) FROM trials"), 1);
  // ... while the writer commits (busy_timeout 200 ms would turn any wait into an error).
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) writer->add_trial(trial(sid, "w" + std::to_string(i)));
  writer->update_trial(*writer->claim_pending(sid, "w"));
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 0.2);
  EXPECT_EQ(reader.count("SELECT COUNT(*) FROM trials"), 1);  // still its snapshot
  reader.exec("COMMIT");
  EXPECT_EQ(reader.count("SELECT COUNT(*) FROM trials"), 4);

  // A ReadOnly ResultsDB reads while the writer is inside a write transaction, and sees the
  // last committed state.
  auto ro = ResultsDB::open(path(), Mode::ReadOnly, 200);
  writer->transaction([&] {
    writer->add_trial(trial(sid, "uncommitted"));
    EXPECT_EQ(ro->trials(sid).size(), 4u);
    EXPECT_FALSE(ro->find_by_hash(sid, "uncommitted"));
  });
  EXPECT_EQ(ro->trials(sid).size(), 5u);
}

}  // namespace
}  // namespace srnas
