// ResultsDB: the SQLite file that is the single source of truth of a search: its studies,
// their trials (TrialRecord), per-step metrics and artifacts. Several processes (search loop,
// workers, analysis) may open the same file at once; WAL journal, so readers never block the writer.
//
// Contract: every failure throws srnas::Error with one line "<path>: <operation>: <cause>"; a
// write that waited busy_timeout for another process's lock says "database is locked by another
// process (waited N ms)" and leaves the DB and this connection as they were. One ResultsDB is one
// connection: use it from one thread at a time (open one per thread or process).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sampler/trial.h"

namespace srnas {

struct StudyRecord {
  int64_t id = 0;           // assigned by create_study
  std::string name;         // unique in the DB
  std::string config_yaml;  // the search config as run
  std::string space;        // search space name or file
  uint64_t seed = 0;        // stored bit-for-bit in a signed 64-bit column
  std::string device;
  double created_at = 0;    // unix seconds; 0 on create_study means "now"
  // JSON of the settings that decide a trial's numbers (training, halving, baseline, runtime
  // probe, MACs size, device), written at creation so that a resume with other settings is
  // refused; "" for studies created before schema version 2.
  std::string measure_json;
};

struct MetricRecord {
  int64_t trial_id;
  int64_t step;
  std::string name;
  double value;  // NaN round-trips (stored as NULL)
};

struct ArtifactRecord {
  int64_t trial_id;
  std::string kind;  // e.g. "weights", "log", "samples"
  std::string path;
};

// Whether path is a file that starts with SQLite's 16-byte header ("SQLite format 3\0"):
// what a results DB is, and what a command writing some other file must not overwrite.
bool is_sqlite_file(const std::string& path);

class ResultsDB {
 public:
  enum class Mode { ReadWrite, ReadOnly };

  // Opens the DB at path. ReadWrite creates the file and schema if missing (made beside path
  // and linked into place: a reader finds no file or a whole one, never an empty database, and
  // processes creating it at once all succeed; what a creator killed meanwhile left beside it
  // is removed by the next ReadWrite open on that host) and migrates an older schema (in one
  // transaction); ReadOnly needs an existing DB and reads an older schema as it is, without
  // migrating it (columns added since read as their defaults). Refuses a DB
  // whose schema is newer than this build, and any file that is not an srnas results DB.
  // busy_timeout_ms < 0: $SRNAS_BUSY_TIMEOUT_MS if set, else 10 s.
  static std::unique_ptr<ResultsDB> open(const std::string& path, Mode mode = Mode::ReadWrite,
                                         int busy_timeout_ms = -1);
  ~ResultsDB();
  ResultsDB(const ResultsDB&) = delete;
  ResultsDB& operator=(const ResultsDB&) = delete;

  const std::string& path() const;
  int schema_version() const;
  static int current_schema_version();  // the version this build writes (3)

  // Studies. create_study ignores s.id and throws if the name exists; returns the new id.
  int64_t create_study(const StudyRecord& s);
  // Records the measurement settings of a study created before they were (measure_json "").
  void set_study_measure_json(int64_t study_id, const std::string& measure_json);
  std::optional<StudyRecord> find_study(const std::string& name) const;
  std::vector<StudyRecord> studies() const;  // by id

  // Inserts a trial in any state; t.id and t.number are ignored: number = next number in the
  // study, assigned atomically. created_at 0 means "now". Returns the new id. genome_json,
  // genome_hash, created_at and train_json are written here only (update_trial keeps them).
  int64_t add_trial(TrialRecord t);
  // Atomically claims the lowest-numbered PENDING search trial of the study (retrains are
  // left to `srnas retrain`, which claims them by id): sets RUNNING, worker, started_at =
  // heartbeat_at = now. nullopt when none is pending.
  std::optional<TrialRecord> claim_pending(int64_t study_id, const std::string& worker);
  // Claims one specific trial (PENDING -> RUNNING); false if it is not PENDING.
  bool claim_trial(int64_t trial_id, const std::string& worker);
  void heartbeat(int64_t trial_id);  // heartbeat_at = now; throws if the trial does not exist
  // Writes every mutable field of t: all but id, study_id, number, genome_json, genome_hash,
  // created_at and train_json (rung_psnr is replaced as a whole). Throws if t.id does not exist. A NaN in an
  // optional field (psnr_rgb, ...) reads back as nullopt; NaN in rung_psnr round-trips.
  void update_trial(const TrialRecord& t);
  // RUNNING search trials whose heartbeat is older than max_age_s (all RUNNING if max_age_s < 0)
  // go back to PENDING: worker, started_at and heartbeat_at cleared, reason "re-queued: worker
  // <w> stopped heartbeating". Returns how many. RUNNING retrains are left alone: `srnas
  // retrain` takes one over only when its process is gone (a search's --resume cannot know).
  int requeue_running(int64_t study_id, double max_age_s = -1);
  std::optional<TrialRecord> trial(int64_t id) const;
  std::vector<TrialRecord> trials(int64_t study_id,
                                  std::optional<TrialState> state = std::nullopt) const;  // by number
  // The lowest-numbered trial with this genome (a retrain shares its parent's hash).
  std::optional<TrialRecord> find_by_hash(int64_t study_id, const std::string& genome_hash) const;
  std::map<TrialState, int> state_counts(int64_t study_id) const;  // every state, 0 if none

  void add_metric(int64_t trial_id, int64_t step, const std::string& name, double value);
  std::vector<MetricRecord> metrics(int64_t trial_id) const;  // by name, then step, then insertion
  void add_artifact(int64_t trial_id, const std::string& kind, const std::string& path);
  std::vector<ArtifactRecord> artifacts(int64_t trial_id) const;  // in insertion order

  // Runs f inside BEGIN IMMEDIATE ... COMMIT (ROLLBACK and rethrow if f throws), so e.g.
  // "propose + insert" from two processes never inserts duplicates. May nest (savepoints).
  void transaction(const std::function<void()>& f);

  struct Impl;  // the connection; defined in results_db.cpp only

 private:
  explicit ResultsDB(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace srnas
