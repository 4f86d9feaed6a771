#include "results_db/results_db.h"

#include <cstdlib>

#include <sqlite3.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <thread>
#include <unordered_map>

#include "search_space/error.h"

namespace srnas {
namespace {

// "SNAS" in the SQLite file header (PRAGMA application_id): tells our files from other SQLite files.
constexpr int64_t kApplicationId = 0x534E4153;

// One schema migration: SQL that takes the schema from from_version to from_version + 1. open()
// applies every step from the file's version on, in order, in one IMMEDIATE transaction, and
// sets schema_version after each. A new file is version 0 (no tables). Never edit a released
// step: append one (e.g. {1, "ALTER TABLE trials ADD COLUMN ..."}).
struct Migration {
  int from_version;
  const char* sql;
};

constexpr Migration kMigrations[] = {
    {0, R"sql(
PRAGMA application_id = 1397637459;  -- kApplicationId
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version (version) VALUES (0);
CREATE TABLE studies (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  config_yaml TEXT NOT NULL,
  space TEXT NOT NULL,
  seed INTEGER NOT NULL,  -- uint64 stored bit-for-bit
  device TEXT NOT NULL,
  created_at REAL NOT NULL
);
CREATE TABLE trials (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  study_id INTEGER NOT NULL REFERENCES studies (id) ON DELETE CASCADE,
  number INTEGER NOT NULL,
  genome_json TEXT NOT NULL,
  genome_hash TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('PENDING', 'RUNNING', 'COMPLETE', 'PRUNED', 'FAILED')),
  reason TEXT NOT NULL,
  worker TEXT NOT NULL,
  created_at REAL NOT NULL,
  started_at REAL NOT NULL,
  finished_at REAL NOT NULL,
  heartbeat_at REAL NOT NULL,
  params INTEGER,
  macs INTEGER,
  psnr_rgb REAL,
  psnr_y REAL,
  runtime_s REAL,
  runtime_ratio REAL,
  budget INTEGER NOT NULL,
  rung INTEGER NOT NULL,
  parent_id INTEGER REFERENCES trials (id),
  is_baseline INTEGER NOT NULL CHECK (is_baseline IN (0, 1)),
  weights_path TEXT NOT NULL
);
CREATE UNIQUE INDEX trials_study_number ON trials (study_id, number);
CREATE INDEX trials_study_state ON trials (study_id, state, number);
CREATE INDEX trials_study_hash ON trials (study_id, genome_hash);  -- not unique: retrains
CREATE INDEX trials_parent ON trials (parent_id);
CREATE TABLE rung_psnr (
  trial_id INTEGER NOT NULL REFERENCES trials (id) ON DELETE CASCADE,
  rung INTEGER NOT NULL,
  psnr REAL,  -- NULL: NaN
  PRIMARY KEY (trial_id, rung)
) WITHOUT ROWID;
CREATE TABLE metrics (
  id INTEGER PRIMARY KEY,
  trial_id INTEGER NOT NULL REFERENCES trials (id) ON DELETE CASCADE,
  step INTEGER NOT NULL,
  name TEXT NOT NULL,
  value REAL  -- NULL: NaN
);
CREATE INDEX metrics_trial ON metrics (trial_id, name, step);
CREATE TABLE artifacts (
  id INTEGER PRIMARY KEY,
  trial_id INTEGER NOT NULL REFERENCES trials (id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  path TEXT NOT NULL
);
CREATE INDEX artifacts_trial ON artifacts (trial_id);
)sql"},
    // What decides a trial's numbers (StudyRecord::measure_json); '' for studies made before.
    {1, "ALTER TABLE studies ADD COLUMN measure_json TEXT NOT NULL DEFAULT ''"},
    // A retrain's training settings (TrialRecord::train_json); '' for search trials and for
    // retrains made before.
    {2, "ALTER TABLE trials ADD COLUMN train_json TEXT NOT NULL DEFAULT ''"},
};

constexpr int kCurrentVersion =
    kMigrations[sizeof(kMigrations) / sizeof(kMigrations[0]) - 1].from_version + 1;

// The trials columns read_trial expects, for a file of schema `version` (>= 1): what a later
// migration added reads as its default.
std::string trial_columns(int version) {
  return std::string(
             "id, study_id, number, genome_json, genome_hash, created_at, "
             "state, reason, worker, started_at, finished_at, heartbeat_at, params, macs, psnr_rgb, psnr_y, "
             "runtime_s, runtime_ratio, budget, rung, parent_id, is_baseline, weights_path, ") +
         (version >= 3 ? "train_json" : "'' AS train_json");
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string errno_text(int e) { return std::strerror(e); }

// file: URI for sqlite3_open_v2 (absolute path, percent-encoded), so '?' '#' '%' in names are safe.
std::string make_uri(const std::string& path, ResultsDB::Mode mode) {
  std::error_code ec;
  std::string abs = std::filesystem::absolute(path, ec).string();
  if (ec) throw Error(path + ": cannot open results DB: " + ec.message());
  std::string uri = "file://";
  static const char* hex = "0123456789ABCDEF";
  for (unsigned char c : abs) {
    if (std::isalnum(c) || c == '/' || c == '-' || c == '.' || c == '_' || c == '~') {
      uri += static_cast<char>(c);
    } else {
      uri += '%';
      uri += hex[c >> 4];
      uri += hex[c & 15];
    }
  }
  uri += mode == ResultsDB::Mode::ReadOnly ? "?mode=ro" : "?mode=rwc";
  return uri;
}

}  // namespace

bool is_sqlite_file(const std::string& path) {
  static const char kMagic[16] = {'S', 'Q', 'L', 'i', 't', 'e', ' ', 'f', 'o', 'r', 'm', 'a', 't', ' ', '3', '\0'};
  char head[16] = {};
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  const size_t n = std::fread(head, 1, sizeof head, f);
  std::fclose(f);
  return n == sizeof head && std::memcmp(head, kMagic, sizeof head) == 0;
}

namespace {

// Clear one-line errors for the common ways a path cannot be opened, before SQLite's generic
// "unable to open database file". Returns whether the file exists (else ReadWrite creates it).
bool check_path(const std::string& path, ResultsDB::Mode mode) {
  if (path.empty()) throw Error("results DB: expected a file path, got an empty string");
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) throw Error(path + ": cannot open results DB: is a directory");
    if (!S_ISREG(st.st_mode)) throw Error(path + ": cannot open results DB: not a regular file");
    int need = mode == ResultsDB::Mode::ReadOnly ? R_OK : R_OK | W_OK;
    if (::access(path.c_str(), need) != 0) {
      throw Error(path + ": cannot open results DB: " + errno_text(errno));
    }
    // SQLite takes some short non-database files for empty databases and would write over
    // them. A 0-byte file is fine (new, or a WAL database not yet checkpointed).
    if (st.st_size > 0) {
      if (std::FILE* f = std::fopen(path.c_str(), "rb")) std::fclose(f);
      else throw Error(path + ": cannot open results DB: " + errno_text(errno));
      if (!is_sqlite_file(path)) throw Error(path + ": not an srnas results DB (not an SQLite file)");
    }
    return true;
  }
  int e = errno;
  if (mode == ResultsDB::Mode::ReadOnly || (e != ENOENT && e != ENOTDIR)) {
    throw Error(path + ": cannot open results DB: " + errno_text(e));
  }
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  if (::stat(dir.c_str(), &st) != 0) {
    throw Error(path + ": cannot create results DB: directory '" + dir + "': " + errno_text(errno));
  }
  if (!S_ISDIR(st.st_mode)) {
    throw Error(path + ": cannot create results DB: '" + dir + "' is not a directory");
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    throw Error(path + ": cannot create results DB: directory '" + dir + "' is not writable (" +
                errno_text(errno) + ")");
  }
  return false;
}

}  // namespace

struct ResultsDB::Impl {
  std::string path;
  Mode mode = Mode::ReadWrite;
  int busy_ms = 0;
  sqlite3* db = nullptr;
  int version = 0;
  int depth = 0;  // transaction nesting of this connection
  std::unordered_map<std::string, sqlite3_stmt*> stmts;  // prepared once, by SQL text

  ~Impl() {
    for (auto& kv : stmts) sqlite3_finalize(kv.second);
    if (db) sqlite3_close_v2(db);
  }

  [[noreturn]] void fail(const std::string& op, int rc) const {
    if ((rc & 0xff) == SQLITE_BUSY) {
      throw Error(path + ": database is locked by another process (waited " +
                  std::to_string(busy_ms) + " ms)");
    }
    throw Error(path + ": " + op + ": " + sqlite3_errmsg(db));
  }

  [[noreturn]] void fail_msg(const std::string& op, const std::string& msg) const {
    throw Error(path + ": " + op + ": " + msg);
  }

  void exec(const char* sql, const std::string& op) {
    int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) fail(op, rc);
  }

  sqlite3_stmt* prepare(const std::string& sql, const std::string& op) {
    auto it = stmts.find(sql);
    if (it != stmts.end()) return it->second;
    sqlite3_stmt* s = nullptr;
    int rc = sqlite3_prepare_v3(db, sql.c_str(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &s, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(s);
      fail(op, rc);
    }
    stmts.emplace(sql, s);
    return s;
  }

  // Runs f in BEGIN IMMEDIATE ... COMMIT, or in a savepoint when already inside one.
  void in_txn(const std::string& op, const std::function<void()>& f) {
    if (mode == Mode::ReadOnly) fail_msg(op, "the results DB is open read-only");
    const bool outer = depth == 0;
    exec(outer ? "BEGIN IMMEDIATE" : "SAVEPOINT srnas_nested", op);
    ++depth;
    try {
      f();
    } catch (...) {
      --depth;
      if (!sqlite3_get_autocommit(db)) {  // SQLite may already have rolled back (e.g. disk full)
        sqlite3_exec(db, outer ? "ROLLBACK" : "ROLLBACK TO srnas_nested; RELEASE srnas_nested",
                     nullptr, nullptr, nullptr);
      }
      throw;
    }
    --depth;
    int rc = sqlite3_exec(db, outer ? "COMMIT" : "RELEASE srnas_nested", nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) {
      std::string msg = sqlite3_errmsg(db);
      if (outer && !sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      if ((rc & 0xff) == SQLITE_BUSY) fail(op, rc);
      fail_msg(op, msg);
    }
  }

  // PRAGMA journal_mode = WAL, retried until busy_ms has passed. Switching a new file takes a
  // read lock and then upgrades it to a write lock inside SQLite, which returns SQLITE_BUSY at
  // once (never calling the busy handler: that could deadlock) when another process creating the
  // same file holds the write lock: concurrent first opens (several `srnas ask`) failed that way.
  void set_wal() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(busy_ms);
    for (int attempt = 0;; ++attempt) {
      const int rc = sqlite3_exec(db, "PRAGMA journal_mode = WAL", nullptr, nullptr, nullptr);
      if (rc == SQLITE_OK) return;
      if ((rc & 0xff) != SQLITE_BUSY || std::chrono::steady_clock::now() >= deadline) fail("set WAL journal", rc);
      // 1, 2, 4 ... 32 ms, then 32 ms: the other opener's switch takes well under a millisecond.
      std::this_thread::sleep_for(std::chrono::milliseconds(1 << std::min(attempt, 5)));
    }
  }
  // A connection to path: opened, its schema version read (and, ReadWrite, WAL set and the
  // schema created or migrated). open() is this after its checks.
  static std::unique_ptr<Impl> connect(const std::string& path, Mode mode, int busy_timeout_ms);
  static void create_whole(const std::string& path, int busy_timeout_ms);
  void read_version();
  void migrate();
  void load_rung_psnr(TrialRecord& t);
  std::optional<TrialRecord> load_trial(int64_t id, const std::string& op);
  void require_trial(int64_t id, const std::string& op, const char* what = "trial");
  void write_rung_psnr(const TrialRecord& t, const std::string& op);
};

namespace {

// A cached prepared statement in use: arg() binds the next parameter, step() returns true per
// row; the destructor resets it for the next use.
class Query {
 public:
  Query(ResultsDB::Impl& impl, const std::string& sql, const std::string& op)
      : impl_(impl), op_(op), s_(impl.prepare(sql, op)) {}
  ~Query() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Query& arg(int64_t v) { return check(sqlite3_bind_int64(s_, ++n_, v)); }
  Query& arg(double v) { return check(sqlite3_bind_double(s_, ++n_, v)); }  // NaN -> NULL
  Query& arg(const std::string& v) {
    return check(sqlite3_bind_text(s_, ++n_, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
  }
  Query& arg(const std::optional<int64_t>& v) { return v ? arg(*v) : null(); }
  Query& arg(const std::optional<double>& v) { return v ? arg(*v) : null(); }
  Query& null() { return check(sqlite3_bind_null(s_, ++n_)); }

  bool step() {
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    impl_.fail(op_, rc);
  }
  void run() {
    while (step()) {
    }
  }

  sqlite3_stmt* stmt() { return s_; }
  bool is_null(int c) { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
  int64_t i64(int c) { return sqlite3_column_int64(s_, c); }
  double f64(int c) {  // NULL (NaN on the way in) -> NaN
    return is_null(c) ? std::numeric_limits<double>::quiet_NaN() : sqlite3_column_double(s_, c);
  }
  std::string text(int c) {
    const unsigned char* p = sqlite3_column_text(s_, c);
    return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(s_, c)) : "";
  }
  std::optional<int64_t> opt_i64(int c) { return is_null(c) ? std::nullopt : std::optional(i64(c)); }
  std::optional<double> opt_f64(int c) { return is_null(c) ? std::nullopt : std::optional(f64(c)); }

 private:
  Query& check(int rc) {
    if (rc != SQLITE_OK) impl_.fail(op_, rc);
    return *this;
  }
  ResultsDB::Impl& impl_;
  std::string op_;
  sqlite3_stmt* s_;
  int n_ = 0;
};

// Binds the fields update_trial writes, in this order (INSERT and UPDATE share it).
void bind_mutable(Query& q, const TrialRecord& t) {
  q.arg(std::string(to_string(t.state)))
      .arg(t.reason)
      .arg(t.worker)
      .arg(t.started_at)
      .arg(t.finished_at)
      .arg(t.heartbeat_at)
      .arg(t.params)
      .arg(t.macs)
      .arg(t.psnr_rgb)
      .arg(t.psnr_y)
      .arg(t.runtime_s)
      .arg(t.runtime_ratio)
      .arg(t.budget)
      .arg(static_cast<int64_t>(t.rung))
      .arg(t.parent_id)
      .arg(static_cast<int64_t>(t.is_baseline ? 1 : 0))
      .arg(t.weights_path);
}

// A trial row in trial_columns() order.
TrialRecord read_trial(Query& q, const ResultsDB::Impl& impl) {
  TrialRecord t;
  t.id = q.i64(0);
  t.study_id = q.i64(1);
  t.number = q.i64(2);
  t.genome_json = q.text(3);
  t.genome_hash = q.text(4);
  t.created_at = q.f64(5);
  try {
    t.state = trial_state_from_string(q.text(6));
  } catch (const std::exception& e) {
    impl.fail_msg("read trial " + std::to_string(t.id), e.what());
  }
  t.reason = q.text(7);
  t.worker = q.text(8);
  t.started_at = q.f64(9);
  t.finished_at = q.f64(10);
  t.heartbeat_at = q.f64(11);
  t.params = q.opt_i64(12);
  t.macs = q.opt_i64(13);
  t.psnr_rgb = q.opt_f64(14);
  t.psnr_y = q.opt_f64(15);
  t.runtime_s = q.opt_f64(16);
  t.runtime_ratio = q.opt_f64(17);
  t.budget = q.i64(18);
  t.rung = static_cast<int>(q.i64(19));
  t.parent_id = q.opt_i64(20);
  t.is_baseline = q.i64(21) != 0;
  t.weights_path = q.text(22);
  t.train_json = q.text(23);
  return t;
}

StudyRecord read_study(Query& q) {
  StudyRecord s;
  s.id = q.i64(0);
  s.name = q.text(1);
  s.config_yaml = q.text(2);
  s.space = q.text(3);
  s.seed = static_cast<uint64_t>(q.i64(4));
  s.device = q.text(5);
  s.created_at = q.f64(6);
  s.measure_json = q.text(7);
  return s;
}

// The studies columns read_study expects, for a file of schema `version` (>= 1): what a later
// migration added reads as its default.
std::string study_columns(int version) {
  return std::string("id, name, config_yaml, space, seed, device, created_at, ") +
         (version >= 2 ? "measure_json" : "'' AS measure_json");
}

}  // namespace

// ---- opening and schema ----

void ResultsDB::Impl::read_version() {
  const std::string op = "read schema";
  int probe = sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr);
  if ((probe & 0xff) == SQLITE_NOTADB) {
    throw Error(path + ": not an srnas results DB (" + sqlite3_errmsg(db) + ")");
  }
  if (probe != SQLITE_OK) fail(op, probe);
  std::vector<std::string> tables;
  bool has_version_table = false;
  {
    Query q(*this, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name", op);
    while (q.step()) {
      tables.push_back(q.text(0));
      if (tables.back() == "schema_version") has_version_table = true;
    }
  }
  int64_t app_id = 0;
  {
    Query q(*this, "PRAGMA application_id", op);
    if (q.step()) app_id = q.i64(0);
  }
  if (tables.empty() && (app_id == 0 || app_id == kApplicationId)) {
    version = 0;  // a new (empty) file
    return;
  }
  auto not_ours = [&](const std::string& why) {
    throw Error(path + ": not an srnas results DB (" + why + ")");
  };
  if (app_id != kApplicationId) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "SQLite application_id %lld, expected %lld",
                  static_cast<long long>(app_id), static_cast<long long>(kApplicationId));
    std::string why = buf;
    if (!tables.empty()) {
      why += "; tables:";
      for (size_t i = 0; i < tables.size() && i < 4; ++i) why += " " + tables[i];
      if (tables.size() > 4) why += " ...";
    }
    not_ours(why);
  }
  if (!has_version_table) not_ours("no schema_version table");
  Query q(*this, "SELECT version FROM schema_version", op);
  int rows = 0;
  while (q.step()) {
    ++rows;
    if (sqlite3_column_type(q.stmt(), 0) != SQLITE_INTEGER) not_ours("schema_version is not an integer");
    version = static_cast<int>(q.i64(0));
  }
  if (rows != 1) not_ours("schema_version has " + std::to_string(rows) + " rows, expected 1");
}

void ResultsDB::Impl::migrate() {
  in_txn("migrate schema", [&] {
    read_version();  // again, under the write lock: another process may have migrated meanwhile
    if (version >= kCurrentVersion) return;
    for (const Migration& m : kMigrations) {
      if (m.from_version < version) continue;
      exec(m.sql, "migrate schema from version " + std::to_string(m.from_version));
      Query q(*this, "UPDATE schema_version SET version = ?", "migrate schema");
      q.arg(static_cast<int64_t>(m.from_version + 1)).run();
      version = m.from_version + 1;
    }
  });
}

std::unique_ptr<ResultsDB::Impl> ResultsDB::Impl::connect(const std::string& path, Mode mode, int busy_timeout_ms) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->mode = mode;
  impl->busy_ms = busy_timeout_ms;
  const int flags = SQLITE_OPEN_URI | (mode == Mode::ReadOnly
                                           ? SQLITE_OPEN_READONLY
                                           : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  int rc = sqlite3_open_v2(make_uri(path, mode).c_str(), &impl->db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = impl->db ? sqlite3_errmsg(impl->db) : sqlite3_errstr(rc);
    int e = impl->db ? sqlite3_system_errno(impl->db) : 0;
    if (e != 0) msg += " (" + errno_text(e) + ")";
    throw Error(path + ": cannot open results DB: " + msg);
  }
  sqlite3_extended_result_codes(impl->db, 1);
  sqlite3_busy_timeout(impl->db, busy_timeout_ms);

  impl->read_version();  // also rejects non-database files before any write
  if (impl->version > kCurrentVersion) {
    throw Error(path + ": results DB schema version " + std::to_string(impl->version) +
                " is newer than this srnas supports (" + std::to_string(kCurrentVersion) +
                "); upgrade srnas");
  }
  impl->exec("PRAGMA foreign_keys = ON", "enable foreign keys");
  if (mode == Mode::ReadOnly) {
    if (impl->version == 0) throw Error(path + ": not an srnas results DB (empty database)");
    // Read-only opens read older versions as they are (a reader never writes, and so never
    // migrates): a column added since reads as its default (study_columns()).

  } else {
    // WAL: readers never block the writer. Where the file system cannot do WAL, SQLite keeps
    // the rollback journal and everything still works, only with more waiting.
    impl->set_wal();
    impl->exec("PRAGMA synchronous = NORMAL", "set synchronous");
    if (impl->version < kCurrentVersion) impl->migrate();
  }
  return impl;
}

namespace {

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

// Where a new file's schema is written before it is linked into place:
// <path>.creating-<host>-<pid>-<n>, unique per host, process and call (threads of one process
// may create the same file at once; several hosts may share the folder).
std::string creation_path(const std::string& path) {
  static std::atomic<int> calls{0};
  return path + ".creating-" + host_name() + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(calls++);
}

constexpr const char* kDbSuffixes[] = {"-wal", "-shm", "-journal"};

void remove_db_files(const std::string& file) {
  ::unlink(file.c_str());
  for (const char* suffix : kDbSuffixes) ::unlink((file + suffix).c_str());
}

// Removes what creators of path killed mid-creation (kill -9 between making their private file
// and linking it) left beside it: the creation files of this host whose process is gone. Files
// of other hosts are left (their processes cannot be asked from here), and so is anything whose
// name does not parse. Never throws: a leftover costs disk space, not correctness.
void remove_dead_creations(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path p(path);
  const std::string prefix = p.filename().string() + ".creating-" + host_name() + "-";
  std::error_code ec;
  fs::directory_iterator it(p.parent_path().empty() ? fs::path(".") : p.parent_path(), ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::string rest = it->path().filename().string();
    if (rest.rfind(prefix, 0) != 0) continue;
    rest = rest.substr(prefix.size());  // <pid>-<n>[-wal|-shm|-journal]
    for (const char* suffix : kDbSuffixes) {
      const size_t n = std::strlen(suffix);
      if (rest.size() > n && rest.compare(rest.size() - n, n, suffix) == 0) rest.resize(rest.size() - n);
    }
    const size_t dash = rest.find('-');
    if (dash == 0 || dash == std::string::npos || dash + 1 == rest.size() ||
        rest.find_first_not_of("0123456789-") != std::string::npos || rest.find('-', dash + 1) != std::string::npos) {
      continue;
    }
    const long pid = std::strtol(rest.c_str(), nullptr, 10);
    if (pid <= 0 || pid == ::getpid()) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // alive, or not ours to ask
    remove_db_files((it->path().parent_path() / (prefix + rest)).string());
  }
}

}  // namespace

// A new DB file appears whole: its schema is written into a private file beside it (journal WAL,
// every migration applied, closed so that the WAL is checkpointed into it), which link() then
// names path. link() never replaces a file: when another process linked its own first, that
// one is used and this one dropped. So a reader never finds a half-made file (an empty database),
// and processes creating the same file at once never meet inside SQLite. When link() fails
// otherwise (a file system without hard links), connect() makes the file in place, as it does
// an existing empty file (the WAL switch is then retried).
void ResultsDB::Impl::create_whole(const std::string& path, int busy_timeout_ms) {
  const std::string tmp = creation_path(path);
  remove_db_files(tmp);
  try {
    connect(tmp, Mode::ReadWrite, busy_timeout_ms).reset();
  } catch (const Error& e) {
    remove_db_files(tmp);
    std::string msg = e.what();  // named after the file the user asked for
    if (msg.rfind(tmp, 0) == 0) msg = path + msg.substr(tmp.size());
    throw Error(msg);
  }
  (void)::link(tmp.c_str(), path.c_str());
  remove_db_files(tmp);
}

std::unique_ptr<ResultsDB> ResultsDB::open(const std::string& path, Mode mode, int busy_timeout_ms) {
  if (busy_timeout_ms < 0) {
    busy_timeout_ms = 10000;
    if (const char* env = std::getenv("SRNAS_BUSY_TIMEOUT_MS")) {
      const std::string v = env;
      if (v.empty() || v.size() > 9 || v.find_first_not_of("0123456789") != std::string::npos)
        throw Error("SRNAS_BUSY_TIMEOUT_MS: expected milliseconds (an integer in [0, 999999999]), got '" + v + "'");
      busy_timeout_ms = std::stoi(v);
    }
  }
  if (!check_path(path, mode)) Impl::create_whole(path, busy_timeout_ms);  // ReadOnly: check_path threw
  if (mode == Mode::ReadWrite) remove_dead_creations(path);
  return std::unique_ptr<ResultsDB>(new ResultsDB(Impl::connect(path, mode, busy_timeout_ms)));
}

ResultsDB::ResultsDB(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ResultsDB::~ResultsDB() = default;

const std::string& ResultsDB::path() const { return impl_->path; }
int ResultsDB::schema_version() const { return impl_->version; }
int ResultsDB::current_schema_version() { return kCurrentVersion; }

void ResultsDB::transaction(const std::function<void()>& f) { impl_->in_txn("transaction", f); }

// ---- studies ----

int64_t ResultsDB::create_study(const StudyRecord& s) {
  const std::string op = "create study";
  if (s.name.empty()) impl_->fail_msg(op, "expected a non-empty study name");
  int64_t id = 0;
  impl_->in_txn(op, [&] {
    {
      Query q(*impl_, "SELECT id FROM studies WHERE name = ?", op);
      if (q.arg(s.name).step()) impl_->fail_msg(op, "a study named '" + s.name + "' already exists");
    }
    Query q(*impl_,
            "INSERT INTO studies (name, config_yaml, space, seed, device, created_at, measure_json) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            op);
    q.arg(s.name).arg(s.config_yaml).arg(s.space).arg(static_cast<int64_t>(s.seed)).arg(s.device);
    q.arg(s.created_at != 0 ? s.created_at : now_s()).arg(s.measure_json).run();
    id = sqlite3_last_insert_rowid(impl_->db);
  });
  return id;
}

void ResultsDB::set_study_measure_json(int64_t study_id, const std::string& measure_json) {
  const std::string op = "record the measurement settings of study " + std::to_string(study_id);
  impl_->in_txn(op, [&] {
    Query q(*impl_, "UPDATE studies SET measure_json = ? WHERE id = ?", op);
    q.arg(measure_json).arg(study_id).run();
    if (sqlite3_changes(impl_->db) != 1) impl_->fail_msg(op, "no such study");
  });
}

std::optional<StudyRecord> ResultsDB::find_study(const std::string& name) const {
  Query q(*impl_, "SELECT " + study_columns(impl_->version) + " FROM studies WHERE name = ?", "find study");
  if (!q.arg(name).step()) return std::nullopt;
  return read_study(q);
}

std::vector<StudyRecord> ResultsDB::studies() const {
  Query q(*impl_, "SELECT " + study_columns(impl_->version) + " FROM studies ORDER BY id", "list studies");
  std::vector<StudyRecord> out;
  while (q.step()) out.push_back(read_study(q));
  return out;
}

// ---- trials ----

void ResultsDB::Impl::load_rung_psnr(TrialRecord& t) {
  Query q(*this, "SELECT rung, psnr FROM rung_psnr WHERE trial_id = ? ORDER BY rung", "read rung PSNR");
  q.arg(t.id);
  while (q.step()) t.rung_psnr[static_cast<int>(q.i64(0))] = q.f64(1);
}

std::optional<TrialRecord> ResultsDB::Impl::load_trial(int64_t id, const std::string& op) {
  std::optional<TrialRecord> t;
  {
    Query q(*this, "SELECT " + trial_columns(version) + " FROM trials WHERE id = ?", op);
    if (q.arg(id).step()) t = read_trial(q, *this);
  }
  if (t) load_rung_psnr(*t);
  return t;
}

void ResultsDB::Impl::require_trial(int64_t id, const std::string& op, const char* what) {
  Query q(*this, "SELECT 1 FROM trials WHERE id = ?", op);
  if (!q.arg(id).step()) fail_msg(op, std::string(what) + " id " + std::to_string(id) + " does not exist");
}

void ResultsDB::Impl::write_rung_psnr(const TrialRecord& t, const std::string& op) {
  Query del(*this, "DELETE FROM rung_psnr WHERE trial_id = ?", op);
  del.arg(t.id).run();
  for (const auto& [rung, psnr] : t.rung_psnr) {
    Query q(*this, "INSERT INTO rung_psnr (trial_id, rung, psnr) VALUES (?, ?, ?)", op);
    q.arg(t.id).arg(static_cast<int64_t>(rung)).arg(psnr).run();
  }
}

int64_t ResultsDB::add_trial(TrialRecord t) {
  const std::string op = "add trial";
  impl_->in_txn(op, [&] {
    {
      Query q(*impl_, "SELECT 1 FROM studies WHERE id = ?", op);
      if (!q.arg(t.study_id).step()) {
        impl_->fail_msg(op, "study id " + std::to_string(t.study_id) + " does not exist");
      }
    }
    if (t.parent_id) impl_->require_trial(*t.parent_id, op, "parent trial");
    Query q(*impl_,
            "INSERT INTO trials (study_id, number, genome_json, genome_hash, created_at, "
            "state, reason, worker, started_at, finished_at, heartbeat_at, params, macs, psnr_rgb, "
            "psnr_y, runtime_s, runtime_ratio, budget, rung, parent_id, is_baseline, weights_path, train_json) "
            "VALUES (?1, (SELECT COALESCE(MAX(number) + 1, 0) FROM trials WHERE study_id = ?1), "
            "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            op);
    q.arg(t.study_id).arg(t.genome_json).arg(t.genome_hash).arg(t.created_at != 0 ? t.created_at : now_s());
    bind_mutable(q, t);
    q.arg(t.train_json);
    q.run();
    t.id = sqlite3_last_insert_rowid(impl_->db);
    impl_->write_rung_psnr(t, op);
  });
  return t.id;
}

std::optional<TrialRecord> ResultsDB::claim_pending(int64_t study_id, const std::string& worker) {
  const std::string op = "claim pending trial";
  std::optional<TrialRecord> out;
  impl_->in_txn(op, [&] {
    int64_t id = 0;
    {
      Query q(*impl_,
              "SELECT id FROM trials WHERE study_id = ? AND state = 'PENDING' AND parent_id IS NULL "
              "ORDER BY number LIMIT 1",
              op);
      if (!q.arg(study_id).step()) return;
      id = q.i64(0);
    }
    const double now = now_s();
    Query q(*impl_,
            "UPDATE trials SET state = 'RUNNING', worker = ?, started_at = ?, heartbeat_at = ? "
            "WHERE id = ? AND state = 'PENDING'",
            op);
    q.arg(worker).arg(now).arg(now).arg(id).run();
    out = impl_->load_trial(id, op);
  });
  return out;
}

bool ResultsDB::claim_trial(int64_t trial_id, const std::string& worker) {
  const std::string op = "claim trial";
  bool claimed = false;
  impl_->in_txn(op, [&] {
    const double now = now_s();
    Query q(*impl_,
            "UPDATE trials SET state = 'RUNNING', worker = ?, started_at = ?, heartbeat_at = ? "
            "WHERE id = ? AND state = 'PENDING'",
            op);
    q.arg(worker).arg(now).arg(now).arg(trial_id).run();
    claimed = sqlite3_changes(impl_->db) == 1;
  });
  return claimed;
}

void ResultsDB::heartbeat(int64_t trial_id) {
  const std::string op = "heartbeat";
  impl_->in_txn(op, [&] {
    Query q(*impl_, "UPDATE trials SET heartbeat_at = ? WHERE id = ?", op);
    q.arg(now_s()).arg(trial_id).run();
    if (sqlite3_changes(impl_->db) != 1) {
      impl_->fail_msg(op, "trial id " + std::to_string(trial_id) + " does not exist");
    }
  });
}

void ResultsDB::update_trial(const TrialRecord& t) {
  const std::string op = "update trial " + std::to_string(t.id);
  impl_->in_txn(op, [&] {
    if (t.parent_id) impl_->require_trial(*t.parent_id, op, "parent trial");
    {
      Query q(*impl_,
              "UPDATE trials SET state = ?, reason = ?, worker = ?, started_at = ?, finished_at = ?, "
              "heartbeat_at = ?, params = ?, macs = ?, psnr_rgb = ?, psnr_y = ?, runtime_s = ?, "
              "runtime_ratio = ?, budget = ?, rung = ?, parent_id = ?, is_baseline = ?, "
              "weights_path = ? WHERE id = ?",
              op);
      bind_mutable(q, t);
      q.arg(t.id).run();
      if (sqlite3_changes(impl_->db) != 1) {
        impl_->fail_msg(op, "trial id " + std::to_string(t.id) + " does not exist");
      }
    }
    impl_->write_rung_psnr(t, op);
  });
}

int ResultsDB::requeue_running(int64_t study_id, double max_age_s) {
  const std::string op = "re-queue running trials";
  int n = 0;
  impl_->in_txn(op, [&] {
    // Every right-hand side sees the row as it was, so the reason names the old worker.
    Query q(*impl_,
            "UPDATE trials SET state = 'PENDING', "
            "reason = 're-queued: worker ' || worker || ' stopped heartbeating', "
            "worker = '', started_at = 0, heartbeat_at = 0 "
            "WHERE study_id = ? AND state = 'RUNNING' AND parent_id IS NULL AND (? < 0 OR heartbeat_at < ?)",
            op);
    q.arg(study_id).arg(max_age_s).arg(now_s() - max_age_s).run();
    n = sqlite3_changes(impl_->db);
  });
  return n;
}

std::optional<TrialRecord> ResultsDB::trial(int64_t id) const { return impl_->load_trial(id, "read trial"); }

std::vector<TrialRecord> ResultsDB::trials(int64_t study_id, std::optional<TrialState> state) const {
  const std::string op = "list trials";
  std::vector<TrialRecord> out;
  {
    const std::string cols = "SELECT " + trial_columns(impl_->version) + " FROM trials WHERE study_id = ?";
    Query q(*impl_, state ? cols + " AND state = ? ORDER BY number" : cols + " ORDER BY number", op);
    q.arg(study_id);
    if (state) q.arg(std::string(to_string(*state)));
    while (q.step()) out.push_back(read_trial(q, *impl_));
  }
  for (auto& t : out) impl_->load_rung_psnr(t);
  return out;
}

std::optional<TrialRecord> ResultsDB::find_by_hash(int64_t study_id, const std::string& genome_hash) const {
  const std::string op = "find trial by hash";
  std::optional<TrialRecord> t;
  {
    Query q(*impl_,
            "SELECT " + trial_columns(impl_->version) +
                " FROM trials WHERE study_id = ? AND genome_hash = ? ORDER BY number LIMIT 1",
            op);
    if (q.arg(study_id).arg(genome_hash).step()) t = read_trial(q, *impl_);
  }
  if (t) impl_->load_rung_psnr(*t);
  return t;
}

std::map<TrialState, int> ResultsDB::state_counts(int64_t study_id) const {
  std::map<TrialState, int> out;
  for (TrialState s : {TrialState::Pending, TrialState::Running, TrialState::Complete,
                       TrialState::Pruned, TrialState::Failed}) {
    out[s] = 0;
  }
  const std::string op = "count trials";
  Query q(*impl_, "SELECT state, COUNT(*) FROM trials WHERE study_id = ? GROUP BY state", op);
  q.arg(study_id);
  while (q.step()) {
    try {
      out[trial_state_from_string(q.text(0))] = static_cast<int>(q.i64(1));
    } catch (const std::exception& e) {
      impl_->fail_msg(op, e.what());
    }
  }
  return out;
}

// ---- metrics and artifacts ----

void ResultsDB::add_metric(int64_t trial_id, int64_t step, const std::string& name, double value) {
  const std::string op = "add metric '" + name + "'";
  impl_->in_txn(op, [&] {
    impl_->require_trial(trial_id, op);
    Query q(*impl_, "INSERT INTO metrics (trial_id, step, name, value) VALUES (?, ?, ?, ?)", op);
    q.arg(trial_id).arg(step).arg(name).arg(value).run();
  });
}

std::vector<MetricRecord> ResultsDB::metrics(int64_t trial_id) const {
  Query q(*impl_,
          "SELECT trial_id, step, name, value FROM metrics WHERE trial_id = ? ORDER BY name, step, id",
          "list metrics");
  q.arg(trial_id);
  std::vector<MetricRecord> out;
  while (q.step()) out.push_back({q.i64(0), q.i64(1), q.text(2), q.f64(3)});
  return out;
}

void ResultsDB::add_artifact(int64_t trial_id, const std::string& kind, const std::string& path) {
  const std::string op = "add artifact";
  impl_->in_txn(op, [&] {
    impl_->require_trial(trial_id, op);
    Query q(*impl_, "INSERT INTO artifacts (trial_id, kind, path) VALUES (?, ?, ?)", op);
    q.arg(trial_id).arg(kind).arg(path).run();
  });
}

std::vector<ArtifactRecord> ResultsDB::artifacts(int64_t trial_id) const {
  Query q(*impl_, "SELECT trial_id, kind, path FROM artifacts WHERE trial_id = ? ORDER BY id",
          "list artifacts");
  q.arg(trial_id);
  std::vector<ArtifactRecord> out;
  while (q.step()) out.push_back({q.i64(0), q.text(1), q.text(2)});
  return out;
}

}  // namespace srnas
