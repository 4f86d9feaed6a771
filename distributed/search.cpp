#include "distributed/search.h"

#include <algorithm>
#include <cerrno>
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <thread>
#include <signal.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "analysis/retrains.h"
#include "distributed/ask_tell.h"
#include "analysis/tracks.h"
#include "sampler/sampler.h"
#include "search_space/accounting.h"
#include "search_space/error.h"
#include "search_space/registry.h"
#include "search_space/space.h"
#include "search_space/yaml_json.h"
#include "trainer/checkpoint.h"
#include "trainer/data_split.h"
#include "trainer/options.h"

namespace srnas {

namespace fs = std::filesystem;

namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }

double now_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string default_worker() {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  return fmt::format("{}:{}", host, getpid());
}

// A RUNNING trial's (or retrain's) worker is gone when its process (worker "host:pid", or
// "host:pid/group..." under mpirun; this host) has exited, or when it has not heartbeaten for
// 10 minutes (another host; a heartbeat comes every 2 s while it trains).
bool worker_gone(const TrialRecord& t) {
  const std::string w = t.worker.substr(0, t.worker.find('/'));
  const size_t colon = w.rfind(':');
  if (colon != std::string::npos) {
    char host[256] = {0};
    gethostname(host, sizeof(host) - 1);
    const std::string h = w.substr(0, colon), pid = w.substr(colon + 1);
    if (h == host && !pid.empty() && pid.size() < 10 && pid.find_first_not_of("0123456789") == std::string::npos) {
      if (::kill(pid_t(std::stoll(pid)), 0) != 0 && errno == ESRCH) return true;
      // A zombie (exited, not yet reaped: a rank of a job mpirun just ended) is gone too.
      std::ifstream stat("/proc/" + pid + "/stat");
      std::string line;
      std::getline(stat, line);
      const size_t paren = line.rfind(')');
      return paren != std::string::npos && paren + 2 < line.size() && (line[paren + 2] == 'Z' || line[paren + 2] == 'X');
    }
  }
  return now_s() - t.heartbeat_at > 600;
}

// The trained weights of a search trial, to fine-tune from; an Error when it has none.
std::string parent_weights(const TrialRecord& p, const std::string& db_path) {
  if (p.state != TrialState::Complete || p.weights_path.empty())
    throw Error(fmt::format("{}: trial {} is {}, without trained weights to fine-tune from", db_path, p.id,
                            to_string(p.state)));
  if (!fs::exists(p.weights_path))
    throw Error(fmt::format("{}: trial {}: its weights {} are gone (cannot fine-tune from them)", db_path, p.id,
                            p.weights_path));
  return p.weights_path;
}

// A new PENDING retrain of search trial p with these settings (TrialRecord::train_json).
TrialRecord retrain_record(const TrialRecord& p, const std::string& settings) {
  TrialRecord r;
  r.study_id = p.study_id;
  r.genome_json = p.genome_json;
  r.genome_hash = p.genome_hash;
  r.parent_id = p.id;
  r.params = p.params;
  r.macs = p.macs;
  r.train_json = settings;
  return r;
}

// The settings that decide a trial's numbers, stored with the study (StudyRecord::
// measure_json) so that --resume with other ones is refused. Left out: what only changes how
// a run goes (validation, logging and checkpoint intervals, loader, threads, cuDNN autotuning,
// pinned memory), what picks the trials (sampler, seed, trials, enqueue, prune, limits,
// timeout, cores) and the data paths (machines mount the same data at different paths): the
// data is recorded by what it holds (data_identity: image counts, the validation images' names
// and sizes).
nlohmann::json measurement_settings(const SearchConfig& cfg, const TrainOptions& o, const std::string& device) {
  nlohmann::json train = decisive_train_json(o);
  if (cfg.asha) train.erase("iterations");  // the rungs' budgets replace it
  nlohmann::json asha = nullptr;
  if (cfg.asha) asha = {{"min_budget", cfg.asha->min_budget}, {"eta", cfg.asha->eta}, {"rungs", cfg.asha->rungs}};
  const RuntimeProbe& r = cfg.runtime;
  return {{"train", train},
          {"asha", asha},
          {"baseline", genome_hash(load_arch(cfg.baseline).genome)},
          {"runtime",
           {{"runs", r.runs}, {"warmup", r.warmup}, {"max_images", r.max_images}, {"crop_lr", r.crop_lr},
            {"reference", r.reference}, {"precision", r.precision}, {"channels_last", r.channels_last}}},
          {"macs_lr_size", {cfg.macs_h, cfg.macs_w}},
          {"device", device},
          {"data", data_identity(open_train_set(cfg.data), open_val_set(cfg.data))}};
}

// "train.lr: 0.001 then, 0.002 now" for every setting that differs (flattened JSON paths).
std::vector<std::string> setting_differences(const std::string& then_json, const std::string& now_json) {
  const nlohmann::json stored = nlohmann::json::parse(then_json, nullptr, false);
  if (stored.is_discarded()) return {"(the stored settings do not parse)"};
  return srnas::setting_differences(stored, nlohmann::json::parse(now_json));
}

// Study state needed while running trials.
struct Ctx {
  const SearchConfig& cfg;
  ResultsDB& db;
  WorkerPool& pool;
  int64_t study_id;
  std::string runs_dir;
  std::string worker;
  TrainOptions base_opt;
  std::optional<TrainOptions> final_opt;  // the final stage's options (seed per retrain)
};

std::optional<TrialRecord> baseline_of(const std::vector<TrialRecord>& trials) {
  for (const auto& t : trials)
    if (t.is_baseline && t.state == TrialState::Complete) return t;
  return std::nullopt;
}

// The baseline once its probe is recorded (params, runtime ratio): what pruning before
// training needs. A FAILED baseline counts as none.
std::optional<TrialRecord> probed_baseline_of(const std::vector<TrialRecord>& trials) {
  for (const auto& t : trials)
    if (t.is_baseline && t.state != TrialState::Failed && t.params && t.runtime_ratio) return t;
  return std::nullopt;
}

// A study whose baseline FAILED cannot go on: candidates are pruned and constrained against it.
void refuse_failed_baseline(const std::vector<TrialRecord>& trials, const std::string& db_path,
                            const std::string& study) {
  for (const TrialRecord& b : trials)
    if (b.is_baseline && b.state == TrialState::Failed)
      throw Error(fmt::format("{}: study '{}': the baseline (trial {}) FAILED ({}): candidates are measured "
                              "against it; start a new study",
                              db_path, study, b.id, b.reason));
}

// A trial's folder (checkpoint, log, weights) under the study's runs folder.
std::string run_dir_of(const std::string& runs_dir, const TrialRecord& t) {
  return (fs::path(runs_dir) / fmt::format("trial_{}", t.number)).string();
}

// A COMPLETE or PRUNED trial never trains again (promotions happen before it is final;
// retrain starts a new trial), so its checkpoint (the model again, plus Adam's two moments:
// 3x the weights) is dead weight unless the study keeps it. FAILED trials keep theirs for
// inspection. Only the folders rank 0 can see are touched (node-local ones elsewhere stay).
void drop_checkpoint(const Ctx& c, const TrialRecord& t) {
  const std::string failed = remove_checkpoint(run_dir_of(c.runs_dir, t));
  if (!failed.empty()) fmt::print(stderr, "[search] warning: could not remove {}\n", failed);
}

void finish(Ctx& c, TrialRecord& t, TrialState s, const std::string& reason) {
  t.state = s;
  t.reason = reason;
  t.finished_at = now_s();
  c.db.update_trial(t);
  if (s != TrialState::Failed && !c.cfg.keep_checkpoints) drop_checkpoint(c, t);
}

struct Interrupted {};

int rungs_of(const Ctx& c, const TrialRecord& t) {
  return c.cfg.asha && !t.is_baseline && !is_retrain(t) ? c.cfg.asha->rungs : 1;
}

WorkItem train_item(const Ctx& c, const TrialRecord& t) {
  WorkItem w;
  w.kind = WorkItem::Kind::Train;
  w.trial_id = t.id;
  w.genome = genome_from_string(t.genome_json);
  w.run_dir = run_dir_of(c.runs_dir, t);
  if (is_retrain(t)) {  // the final stage's: its options, its seed
    if (!c.final_opt) throw Error(fmt::format("internal: retrain trial {} without a final stage", t.id));
    w.options = *c.final_opt;
    const RetrainSettings s = parse_retrain_settings(t.train_json);
    w.options.seed = s.seed.value_or(c.final_opt->seed);
    if (s.from_parent) w.init_weights = parent_weights(*c.db.trial(*t.parent_id), c.db.path());
    return w;
  }
  w.options = c.base_opt;
  w.options.iterations = c.cfg.asha ? (t.is_baseline ? max_budget(*c.cfg.asha) : rung_budget(*c.cfg.asha, t.rung))
                                    : c.base_opt.iterations;
  // Unless candidates overlap it, the baseline trains alone: its worker has the node to itself.
  w.solo = t.is_baseline && !c.pool.overlap_baseline();
  return w;
}

// A claimed trial's next item: measure it first (params, MACs, untrained runtime), then train.
WorkItem first_item(Ctx& c, TrialRecord& t) {
  Genome g = genome_from_string(t.genome_json);
  Accounting acc = account(g, c.cfg.macs_h, c.cfg.macs_w);
  t.params = acc.params;
  t.macs = acc.macs;
  c.db.update_trial(t);
  if (!t.runtime_s) {
    WorkItem w;
    w.kind = WorkItem::Kind::Probe;
    w.trial_id = t.id;
    w.genome = g;
    w.with_bicubic = t.is_baseline;
    return w;
  }
  return train_item(c, t);
}

// Pre-training constraints (the baseline's, then the study's limits); true when the trial
// was pruned.
bool prune_before_training(Ctx& c, TrialRecord& t) {
  if (t.is_baseline || is_retrain(t)) return false;
  const std::vector<TrialRecord> trials = c.db.trials(c.study_id);
  auto base = probed_baseline_of(trials);
  if (!base) {
    refuse_failed_baseline(trials, c.db.path(), c.cfg.study);  // it failed while candidates were measured
    throw Error("internal: candidate trial before the baseline's probe");
  }
  const std::string over = c.cfg.limits.pure_violation(*t.params, *t.macs);
  if (!over.empty()) {
    finish(c, t, TrialState::Pruned, over + " (before training)");
    return true;
  }
  if (c.cfg.prune_params && *t.params > *base->params) {
    finish(c, t, TrialState::Pruned,
           fmt::format("constraint: params {} > baseline {} (before training)", *t.params, *base->params));
    return true;
  }
  if (c.cfg.prune_runtime && *t.runtime_ratio > *base->runtime_ratio) {
    finish(c, t, TrialState::Pruned,
           fmt::format("constraint: runtime ratio {:.3f} > baseline {:.3f} (untrained, before training)",
                       *t.runtime_ratio, *base->runtime_ratio));
    return true;
  }
  if (c.cfg.limits.max_runtime_ratio && *t.runtime_ratio > *c.cfg.limits.max_runtime_ratio) {
    finish(c, t, TrialState::Pruned,
           fmt::format("limit: runtime ratio {:.3f} > max_runtime_ratio {} (untrained, before training)",
                       *t.runtime_ratio, *c.cfg.limits.max_runtime_ratio));
    return true;
  }
  return false;
}

// Handles a finished item; returns the trial's next item, or nullopt when the trial is final.
std::optional<WorkItem> on_result(Ctx& c, const WorkResult& r) {
  TrialRecord t = *c.db.trial(r.trial_id);
  if (r.kind == WorkItem::Kind::Probe) {
    if (r.outcome.status == "failed") {
      finish(c, t, TrialState::Failed, r.outcome.reason);
      return std::nullopt;
    }
    t.runtime_s = r.runtime_s;
    t.runtime_ratio = r.runtime_ratio;
    // One transaction: a probe is recorded with its bicubic floor (kept with the baseline,
    // analysis shows it) or not at all, and then probed again on --resume.
    c.db.transaction([&] {
      c.db.update_trial(t);
      if (std::isfinite(r.bicubic.psnr_rgb)) c.db.add_metric(t.id, 0, kBicubicPsnrRgb, r.bicubic.psnr_rgb);
      if (std::isfinite(r.bicubic.psnr_y)) c.db.add_metric(t.id, 0, kBicubicPsnrY, r.bicubic.psnr_y);
    });
    if (std::isfinite(r.bicubic.psnr_rgb))
      fmt::print(stderr, "[search] bicubic (no network) on the validation images: PSNR-RGB {:.3f} dB, PSNR-Y {:.3f} dB\n",
                 r.bicubic.psnr_rgb, r.bicubic.psnr_y);
    if (prune_before_training(c, t)) return std::nullopt;
    return train_item(c, t);
  }
  const CandidateOutcome& o = r.outcome;
  t.budget = o.iterations;
  if (o.status == "stopped") {
    g_stop = true;  // another rank was asked to stop (mpirun): the whole search stops
    t.state = TrialState::Pending;
    t.worker.clear();
    t.reason = "interrupted: will continue from its checkpoint on --resume";
    c.db.update_trial(t);
    throw Interrupted{};
  }
  if (o.status != "complete") {
    finish(c, t, TrialState::Failed, o.status == "diverged" ? "diverged: " + o.reason : o.reason);
    return std::nullopt;
  }
  const int r_now = t.rung;
  if (!is_retrain(t)) t.rung_psnr[r_now] = o.psnr_rgb;
  t.psnr_rgb = o.psnr_rgb;
  t.psnr_y = o.psnr_y;
  t.weights_path = o.weights_path;
  c.db.update_trial(t);
  if (r_now + 1 < rungs_of(c, t)) {
    AshaDecision d = asha_decide(search_trials(c.db.trials(c.study_id)), t.id, r_now, o.psnr_rgb, *c.cfg.asha);
    if (!d.promote) {
      finish(c, t, TrialState::Pruned, d.reason);
      return std::nullopt;
    }
    t.rung = r_now + 1;
    c.db.update_trial(t);
    return train_item(c, t);
  }
  c.db.add_artifact(t.id, "weights", t.weights_path);
  finish(c, t, TrialState::Complete, "");
  return std::nullopt;
}

void print_progress(Ctx& c, const TrialRecord& t, double t0, int done, int total) {
  auto trials = search_trials(c.db.trials(c.study_id));
  auto counts = state_counts(trials);
  TrialRecord now = *c.db.trial(t.id);
  std::string metrics = now.psnr_rgb ? fmt::format("PSNR {:.3f} dB, ", *now.psnr_rgb) : "";
  metrics += now.params ? fmt::format("{} params, ratio {:.3f}", *now.params, now.runtime_ratio.value_or(NAN)) : "";
  std::string best;
  TracksReport tr = rank_tracks(trials);
  for (const auto& track : tr.tracks) {
    if (track.ranked.empty()) {
      best += fmt::format(" T{} -", track.track);
      continue;
    }
    const TrialRecord& w = track.ranked.front();
    best += track.track == 1   ? fmt::format(" T1 trial {} ({} params)", w.id, *w.params)
            : track.track == 2 ? fmt::format(" T2 trial {} (ratio {:.3f})", w.id, *w.runtime_ratio)
                               : fmt::format(" T3 trial {} ({:.3f} dB)", w.id, *w.psnr_rgb);
  }
  double el = now_s() - t0;
  std::string eta = done > 0 && done < total ? fmt::format(", ETA {}", format_duration(el / done * (total - done))) : "";
  if (c.cfg.timeout_s > 0 && done < total)
    eta += el < c.cfg.timeout_s ? fmt::format(", timeout in {}", format_duration(c.cfg.timeout_s - el)) : ", timed out";
  fmt::print(stderr,
             "[search] {} {}/{} trial {} {}{}{} | {} complete, {} pruned, {} failed | best:{} | {} elapsed{}\n",
             t.is_baseline ? "baseline" : "trial", t.is_baseline ? 0 : done, total, now.id, to_string(now.state),
             metrics.empty() ? "" : " (" + metrics + ")", now.reason.empty() ? "" : ": " + now.reason,
             counts[TrialState::Complete], counts[TrialState::Pruned], counts[TrialState::Failed], best, format_duration(el), eta);
}

}  // namespace

void install_stop_signals() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}
bool stop_requested() { return g_stop.load(); }
void request_stop() { g_stop = true; }

std::string default_runs_dir(const std::string& db_path) { return db_path + ".runs"; }


namespace {

// The baseline, trial number 0 (trained under the same budget and device), unless the study
// has it.
void add_baseline(ResultsDB& db, int64_t study_id, const SearchConfig& cfg) {
  for (const auto& t : db.trials(study_id))
    if (t.is_baseline) return;
  Genome base_genome = load_arch(cfg.baseline).genome;
  TrialRecord b;
  b.study_id = study_id;
  b.genome_json = canonical_json(base_genome);
  b.genome_hash = genome_hash(base_genome);
  b.is_baseline = true;
  db.add_trial(b);
}

// What run_search and ask_trial share: a config's study opened (or created) in its DB, with
// its baseline recorded, and the proposal of candidates.
struct Session {
  std::unique_ptr<Space> space;
  std::unique_ptr<Sampler> sampler;
  TrainOptions base_opt;
  std::optional<TrainOptions> final_opt;
  std::unique_ptr<ResultsDB> db;
  int64_t study_id = 0;
  std::vector<Genome> enqueued;  // go first, in order; one already in the study is not added again
  bool sampler_exhausted = false;
};

// Opens the config's study: creates it, or (resume) checks that it was made with the same space
// and measurement settings; refuses while a search of it runs elsewhere; adds the baseline
// (trial number 0) when missing. for_ask: trials handed out by `srnas ask` are expected
// (RUNNING outside), nothing is re-queued; else (a search) they block it, and RUNNING trials of
// a dead search go back to PENDING.
Session open_session(const SearchConfig& cfg, const SearchOptions& opt, const std::string& device, bool for_ask) {
  Session ss;
  // The space, the sampler and the options first: a config error must not leave a new, empty DB file.
  ss.space = Space::load(cfg.space);
  ss.sampler = make_sampler(cfg.sampler);
  ss.base_opt = load_train_options(cfg.train_options, cfg.train_set);
  if (cfg.asha && ss.base_opt.schedule.type == "cosine_restarts") {
    // Successive halving trains the last rung (and the baseline) for max_budget iterations,
    // whatever the options' `iterations`: a cosine schedule must last that long.
    int64_t sum = 0;
    for (int64_t p : ss.base_opt.schedule.periods) sum += p;
    const int64_t last = max_budget(*cfg.asha);
    if (sum < last)
      throw Error(fmt::format("{}: search.train: schedule.periods sum to {} iterations, fewer than the {} of the last "
                              "successive-halving rung (search.asha): its last {} would all train at eta_min; make "
                              "them sum to {}",
                              cfg.origin, sum, last, last - sum, last));
  }
  if (cfg.final_stage) ss.final_opt = load_train_options(cfg.final_stage->options, cfg.final_stage->set);
  for (const std::string& name : cfg.enqueue) ss.enqueued.push_back(load_arch(name).genome);
  const std::string measure = measurement_settings(cfg, ss.base_opt, device).dump();
  if (cfg.runtime.warmup < 1) {  // only a study measured so before srnas required a warm-up goes on so
    bool measured_so = false;
    if (fs::exists(opt.db_path)) measured_so = ResultsDB::open(opt.db_path, ResultsDB::Mode::ReadOnly)->find_study(cfg.study).has_value();
    if (!measured_so)
      throw Error(fmt::format("{}: search.runtime.warmup: expected an integer in [1, 100] for a new study (runtime is "
                              "timed on a warmed-up model), got {}",
                              cfg.origin, cfg.runtime.warmup));
  }
  ss.db = ResultsDB::open(opt.db_path, ResultsDB::Mode::ReadWrite);
  ResultsDB& db = *ss.db;
  // Created with its baseline (trial number 0) in one transaction: several `srnas ask` may
  // start a study at once.
  std::optional<StudyRecord> existing;
  db.transaction([&] {
    existing = db.find_study(cfg.study);
    if (existing) return;
    StudyRecord s;
    s.name = cfg.study;
    s.config_yaml = cfg.yaml;
    s.space = cfg.space;
    s.seed = cfg.seed;
    s.device = device;
    s.measure_json = measure;
    ss.study_id = db.create_study(s);
    add_baseline(db, ss.study_id, cfg);
  });
  if (existing && !opt.resume)
    throw Error(fmt::format("{}: study '{}' already exists; pass --resume to continue it", opt.db_path, cfg.study));
  if (existing) {
    if (existing->space != cfg.space)
      throw Error(fmt::format("{}: study '{}' was created with space '{}', the config says '{}'", opt.db_path,
                              cfg.study, existing->space, cfg.space));
    ss.study_id = existing->id;
    if (existing->measure_json.empty()) {
      fmt::print(stderr, "[search] note: study '{}' predates recorded measurement settings; recording this run's\n",
                 cfg.study);
      db.set_study_measure_json(ss.study_id, measure);
    } else {
      // Settings a newer srnas records (e.g. `data`) are taken from this run for an older study.
      nlohmann::json stored = nlohmann::json::parse(existing->measure_json, nullptr, false);
      std::vector<std::string> adopted;
      const nlohmann::json now = nlohmann::json::parse(measure);
      if (stored.is_object())
        for (const auto& [key, value] : now.items())
          if (!stored.contains(key)) stored[key] = value, adopted.push_back(key);
      const std::string then = stored.is_object() ? stored.dump() : existing->measure_json;
      if (const auto diff = setting_differences(then, measure); !diff.empty())
        throw Error(fmt::format("{}: study '{}' was measured with other settings ({}): new trials would not compare "
                                "with its trials; restore them, or start a new study (another `study:` name)",
                                opt.db_path, cfg.study, fmt::join(diff, "; ")));
      if (!adopted.empty()) {
        fmt::print(stderr, "[search] note: study '{}' predates recorded {} settings; recording this run's\n",
                   cfg.study, fmt::join(adopted, ", "));
        db.set_study_measure_json(ss.study_id, then);
      }
    }
    // A search still running on this study (its trials RUNNING, its process alive) would train
    // the same trials into the same folders as this one: refused, nothing changed.
    // A process of this host that is ending (mpirun just stopped its job) gets 5 s to exit.
    auto refuse_running = [&](bool wait) {
      for (const auto& t : search_trials(db.trials(ss.study_id, TrialState::Running))) {
        if (is_external(t)) {
          if (for_ask) continue;
          throw Error(fmt::format("{}: study '{}': trial {} is being trained outside srnas (handed out by srnas ask): "
                                  "record it with `srnas tell --db {} --trial {} --weights FILE` (or --failed, "
                                  "--release) before a search continues the study",
                                  opt.db_path, cfg.study, t.id, opt.db_path, t.id));
        }
        for (int i = 0; wait && i < 50 && !worker_gone(t); ++i)
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        if (!worker_gone(t))
          throw Error(fmt::format(
              "{}: study '{}' is being searched by {} (trial {}, heartbeat {:.0f} s ago): two searches on one study "
              "would train the same trials; stop that one first (Ctrl-C checkpoints), or wait for it (a search on "
              "another host that died is taken over 10 minutes after its last heartbeat)",
              opt.db_path, cfg.study, t.worker, t.id, std::max(0.0, now_s() - t.heartbeat_at)));
      }
    };
    refuse_running(/*wait=*/true);
    if (!for_ask) {
      // Checked again, and re-queued, in one transaction: a search or an ask that claimed a
      // trial since the check above keeps it.
      db.transaction([&] {
        refuse_running(/*wait=*/false);
        for (const auto& t : search_trials(db.trials(ss.study_id, TrialState::Running)))
          fmt::print(stderr, "[search] re-queued trial {} (was running on {})\n", t.id, t.worker);
        db.requeue_running(ss.study_id);
      });
    }
    db.transaction([&] { add_baseline(db, ss.study_id, cfg); });
  }
  return ss;
}

// Adds the study's next candidate, in one transaction: the first enqueued genome not yet in the
// study, else the sampler's proposal within the baseline's constraints and the config's limits.
// None (false) when the trial budget is spent, when the baseline is not far enough yet (COMPLETE,
// or with overlap_baseline probed: the PSNR constraint then applies once it completes), or when
// the sampler is exhausted (ss.sampler_exhausted, said once).
bool propose_candidate(Session& ss, const SearchConfig& cfg, bool overlap_baseline) {
  if (ss.sampler_exhausted) return false;
  ResultsDB& db = *ss.db;
  std::vector<TrialRecord> history = search_trials(db.trials(ss.study_id));
  int64_t candidates = 0;
  for (const auto& h : history) candidates += !h.is_baseline;
  if (candidates >= cfg.trials) return false;
  auto base = overlap_baseline ? probed_baseline_of(history) : baseline_of(history);
  if (!base) return false;
  bool added = false;
  db.transaction([&] {
    history = search_trials(db.trials(ss.study_id));
    candidates = 0;
    for (const auto& h : history) candidates += !h.is_baseline;
    if (candidates >= cfg.trials) return;  // another process proposed the last one meanwhile
    Constraints cons;
    cons.max_params = base->params;
    cons.max_runtime_ratio = base->runtime_ratio;
    if (base->state == TrialState::Complete) cons.min_psnr = base->psnr_rgb;
    SamplerContext ctx{*ss.space, history, cfg.limits.tighten(cons), cfg.seed, int64_t(history.size())};
    ctx.admissible = cfg.limits.admissible(cfg.macs_h, cfg.macs_w);
    std::set<std::string> have;
    for (const auto& h : history) have.insert(h.genome_hash);
    std::optional<Genome> g;
    for (const Genome& e : ss.enqueued)
      if (!have.count(genome_hash(e))) {
        g = e;
        break;
      }
    if (!g) g = ss.sampler->propose(ctx);
    if (!g) {
      ss.sampler_exhausted = true;
      return;
    }
    TrialRecord n;
    n.study_id = ss.study_id;
    n.genome_json = canonical_json(*g);
    n.genome_hash = genome_hash(*g);
    db.add_trial(n);
    added = true;
  });
  if (ss.sampler_exhausted)
    fmt::print(stderr, "[search] the sampler found no new genome{} in {} draws: space exhausted\n",
               cfg.limits.max_params || cfg.limits.max_gmacs ? " within the limits" : "", cfg.sampler.max_attempts);
  return added;
}

}  // namespace

SearchSummary run_search(const SearchConfig& cfg, const SearchOptions& opt, WorkerPool& pool) {
  const double t0 = now_s();
  Session ss = open_session(cfg, opt, pool.device(), /*for_ask=*/false);
  auto& db = ss.db;
  const int64_t study_id = ss.study_id;

  Ctx c{cfg, *db, pool, study_id, study_runs_dir(cfg, opt.db_path), opt.worker.empty() ? default_worker() : opt.worker,
        ss.base_opt, ss.final_opt};
  fs::create_directories(c.runs_dir);
  fmt::print(stderr, "[search] study '{}' in {}: {} candidates from space {} by {}, {} worker(s), device {}\n",
             cfg.study, opt.db_path, cfg.trials, cfg.space, ss.sampler->name(), pool.size(), pool.device());
  if (cfg.limits.any() || cfg.timeout_s > 0) {
    std::vector<std::string> l;
    if (cfg.limits.any()) l.push_back(cfg.limits.describe(cfg.macs_h, cfg.macs_w));
    if (cfg.timeout_s > 0) l.push_back(fmt::format("timeout {}", format_duration(cfg.timeout_s)));
    fmt::print(stderr, "[search] limits: {}\n", fmt::join(l, ", "));
  }
  for (size_t i = 0; i < cfg.enqueue.size(); ++i)
    if (!ss.space->contains(ss.enqueued[i]))
      fmt::print(stderr, "[search] note: enqueued {} is outside space {}: it is evaluated, but never a parent\n",
                 cfg.enqueue[i], cfg.space);

  SearchSummary summary;
  summary.study_id = study_id;
  std::map<int, int64_t> busy;  // worker -> trial id
  auto worker_label = [&](int w) { return pool.size() == 1 ? c.worker : c.worker + "/" + pool.worker_name(w); };

  // After the timeout no candidate starts (a PENDING baseline still does); running trials
  // finish, every rung. True when the timeout holds a trial back.
  auto held_by_timeout = [&](int w, std::optional<TrialRecord>* baseline) {
    if (cfg.timeout_s <= 0 || now_s() - t0 < cfg.timeout_s) return false;
    const std::vector<TrialRecord> history = search_trials(db->trials(study_id));
    int64_t candidates = 0;
    bool pending = false;
    for (const auto& t : history) {
      candidates += !t.is_baseline;
      pending |= t.state == TrialState::Pending;
      if (t.is_baseline && t.state == TrialState::Pending && db->claim_trial(t.id, worker_label(w)))
        *baseline = *db->trial(t.id);
    }
    if (*baseline) return true;
    if (!summary.timed_out && (pending || (candidates < cfg.trials && !ss.sampler_exhausted))) {
      summary.timed_out = true;
      fmt::print(stderr, "[search] timeout {} reached: no new candidate starts{}\n", format_duration(cfg.timeout_s),
                 busy.empty() ? "" : fmt::format("; {} running finish first", busy.size()));
    }
    return true;
  };

  // Next trial for an idle worker: a PENDING one, else a new proposal, once the baseline is
  // COMPLETE (the sampler's constraints include its PSNR), or, when the pool overlaps the
  // baseline with candidates, once its probe is recorded (PSNR unconstrained until it completes).
  auto next_trial = [&](int w) -> std::optional<TrialRecord> {
    while (true) {
      if (std::optional<TrialRecord> baseline; held_by_timeout(w, &baseline)) return baseline;
      if (auto t = db->claim_pending(study_id, worker_label(w))) return t;
      if (!propose_candidate(ss, cfg, pool.overlap_baseline())) return std::nullopt;
    }
  };

  auto progress = [&](int64_t trial_id) {
    int done = 0;
    for (const auto& h : search_trials(db->trials(study_id)))
      done += !h.is_baseline && (h.state == TrialState::Complete || h.state == TrialState::Pruned ||
                                 h.state == TrialState::Failed);
    print_progress(c, *db->trial(trial_id), t0, done, cfg.trials);
  };

  // Keeps every worker busy with the trials `next` hands out until none is left; each final
  // trial goes through `done`. Returns false when interrupted (a trial checkpointed and stopped).
  auto drive = [&](const std::function<std::optional<TrialRecord>(int)>& next,
                   const std::function<void(int64_t)>& done) {
    try {
      while (true) {
        // Fill idle workers.
        for (int w = 0; w < pool.size() && !g_stop; ++w) {
          if (busy.count(w)) continue;
          std::optional<TrialRecord> t = next(w);
          while (t) {
            WorkItem item = first_item(c, *t);
            if (item.kind == WorkItem::Kind::Train && prune_before_training(c, *t)) {
              done(t->id);
              t = next(w);
              continue;
            }
            pool.submit(w, item);
            busy[w] = t->id;
            break;
          }
        }
        if (busy.empty()) break;
        int w = -1;
        WorkResult r = pool.wait_any(&w, [&] {
          for (const auto& [wk, id] : busy) db->heartbeat(id);
        });
        busy.erase(w);
        std::optional<WorkItem> next_item = on_result(c, r);
        if (next_item) {
          pool.submit(w, *next_item);
          busy[w] = r.trial_id;
        } else {
          done(r.trial_id);
        }
        if (g_stop && busy.empty()) break;
      }
    } catch (const Interrupted&) {
      return false;
    }
    return !g_stop.load();
  };

  summary.interrupted = !drive(next_trial, progress);
  if (!summary.interrupted) refuse_failed_baseline(search_trials(db->trials(study_id)), opt.db_path, cfg.study);

  // The final stage: the baseline and each track's first `top` trials, retrained once per seed
  // with the final options, by the same workers; it starts once every candidate is final.
  if (cfg.final_stage && !summary.interrupted) {
    const FinalStage& stage = *cfg.final_stage;
    const std::vector<uint64_t> seeds = stage.seeds.empty() ? std::vector<uint64_t>{c.final_opt->seed} : stage.seeds;
    std::set<std::string> settings;  // one per seed
    for (uint64_t seed : seeds) {
      TrainOptions o = *c.final_opt;
      o.seed = seed;
      settings.insert(retrain_settings(o, pool.device(), stage.from_parent).dump());
    }
    summary.final_settings =
        parse_retrain_settings(retrain_settings(*c.final_opt, pool.device(), stage.from_parent).dump()).key;
    auto is_final = [&](const TrialRecord& t) { return is_retrain(t) && settings.count(t.train_json) > 0; };
    const std::vector<TrialRecord> all = db->trials(study_id);
    const TracksReport tr = rank_tracks(all);
    std::vector<TrialRecord> picks;
    std::set<int64_t> picked;
    if (tr.baseline) picks.push_back(*tr.baseline), picked.insert(tr.baseline->id);
    for (const TrackResult& track : tr.tracks)
      for (size_t i = 0; i < track.ranked.size() && i < size_t(stage.top); ++i)
        if (picked.insert(track.ranked[i].id).second) picks.push_back(track.ranked[i]);
    const bool timed_out = cfg.timeout_s > 0 && now_s() - t0 >= cfg.timeout_s;
    if (!tr.baseline || picks.size() < 2) {
      fmt::print(stderr, "[search] final stage: {}\n",
                 !tr.baseline ? "no COMPLETE baseline, nothing to retrain"
                              : "no trial is ranked in any track, nothing to retrain");
    } else if (timed_out || summary.timed_out) {
      summary.timed_out = true;
      fmt::print(stderr, "[search] final stage not started: the timeout {} came first; --resume runs it\n",
                 format_duration(cfg.timeout_s));
    } else {
      int added = 0;
      db->transaction([&] {  // the missing retrains, once each (a FAILED one is tried again)
        const std::vector<TrialRecord> now = db->trials(study_id);
        for (const TrialRecord& p : picks)
          for (const std::string& st : settings) {
            bool have = false;
            for (const TrialRecord& t : now)
              have |= t.parent_id == p.id && t.train_json == st && t.state != TrialState::Failed;
            if (have) continue;
            db->add_trial(retrain_record(p, st));
            ++added;
          }
      });
      // A final retrain left RUNNING by a search that died goes back to PENDING.
      for (TrialRecord t : db->trials(study_id, TrialState::Running))
        if (is_final(t) && worker_gone(t)) {
          fmt::print(stderr, "[search] re-queued final retrain {} (was running on {})\n", t.id, t.worker);
          t.state = TrialState::Pending;
          t.worker.clear();
          db->update_trial(t);
        }
      int total = 0;
      for (const TrialRecord& t : db->trials(study_id)) total += is_final(t);
      fmt::print(stderr, "[search] final stage: {} genome(s) x {} seed(s) with {} ({} iterations): {} retrain(s), {} new\n",
                 picks.size(), seeds.size(), stage.options, c.final_opt->iterations, total, added);
      auto next_final = [&](int w) -> std::optional<TrialRecord> {
        if (cfg.timeout_s > 0 && now_s() - t0 >= cfg.timeout_s) {
          bool pending = false;
          for (const TrialRecord& t : db->trials(study_id)) pending |= is_final(t) && t.state == TrialState::Pending;
          if (pending && !summary.timed_out) {
            summary.timed_out = true;
            fmt::print(stderr, "[search] timeout {} reached: no new final retrain starts\n",
                       format_duration(cfg.timeout_s));
          }
          return std::nullopt;
        }
        for (const TrialRecord& t : db->trials(study_id, TrialState::Pending))
          if (is_final(t) && db->claim_trial(t.id, worker_label(w))) return *db->trial(t.id);
        return std::nullopt;
      };
      auto final_done = [&](int64_t trial_id) {
        int n = 0;
        for (const TrialRecord& t : db->trials(study_id))
          n += is_final(t) && (t.state == TrialState::Complete || t.state == TrialState::Failed);
        const TrialRecord t = *db->trial(trial_id);
        fmt::print(stderr, "[search] final {}/{} trial {} (retrain of {}, seed {}) {}{}{} | {} elapsed\n", n, total,
                   t.id, t.parent_id.value_or(0), parse_retrain_settings(t.train_json).seed.value_or(0), to_string(t.state),
                   t.psnr_rgb ? fmt::format(" (PSNR {:.3f} dB)", *t.psnr_rgb) : "",
                   t.reason.empty() ? "" : ": " + t.reason, format_duration(now_s() - t0));
      };
      summary.interrupted = !drive(next_final, final_done);
    }
  }
  summary.interrupted |= g_stop.load();
  summary.counts = state_counts(search_trials(db->trials(study_id)));
  summary.seconds = now_s() - t0;
  return summary;
}

nlohmann::json retrain_settings(const TrainOptions& o, const std::string& device, bool from_parent) {
  // The device's kind: "cuda:3" and "cuda:0" (ranks of one node) train alike.
  nlohmann::json j = {{"train", decisive_train_json(o)}, {"device", device.substr(0, device.find(':'))}};
  if (from_parent) j["init"] = "parent";
  return j;
}

RetrainOutcome retrain_trial(ResultsDB& db, int64_t parent_id, const TrainOptions& options, CandidateRunner& runner,
                             const std::string& runs_dir, const std::string& worker, bool from_parent) {
  auto parent = db.trial(parent_id);
  if (!parent) throw Error(fmt::format("{}: trial {} does not exist", db.path(), parent_id));
  if (parent->parent_id) parent = db.trial(*parent->parent_id);  // a retrain's retrain: its search trial's
  const std::string init = from_parent ? parent_weights(*parent, db.path()) : "";
  const std::string settings = retrain_settings(options, runner.device(), from_parent).dump();
  const std::string me = worker.empty() ? default_worker() : worker;
  RetrainOutcome out;
  std::optional<TrialRecord> found;
  db.transaction([&] {  // find or add, so two processes never add the same retrain twice
    for (const TrialRecord& t : db.trials(parent->study_id)) {
      if (t.parent_id != parent->id || t.train_json != settings || t.state == TrialState::Failed) continue;
      found = t;
      break;
    }
    if (found && (found->state == TrialState::Complete || (found->state == TrialState::Running && !worker_gone(*found)))) {
      out.trial = *found;
      out.how = found->state == TrialState::Complete ? RetrainOutcome::How::Reused : RetrainOutcome::How::Busy;
      return;
    }
    if (found) {
      TrialRecord t = *found;  // PENDING (interrupted) or RUNNING with its worker gone
      t.state = TrialState::Pending;
      db.update_trial(t);
      out.how = RetrainOutcome::How::Continued;
    } else {
      found = *db.trial(db.add_trial(retrain_record(*parent, settings)));
      out.how = RetrainOutcome::How::New;
    }
    if (!db.claim_trial(found->id, me))
      throw Error(fmt::format("{}: could not claim retrain trial {}", db.path(), found->id));
  });
  if (out.how == RetrainOutcome::How::Reused || out.how == RetrainOutcome::How::Busy) return out;
  const int64_t id = found->id;
  TrialRecord t = *db.trial(id);
  Genome g = genome_from_string(t.genome_json);
  if (!t.runtime_s) {
    RuntimePair rp = runner.runtime(g);
    t.runtime_s = rp.runtime_s;
    t.runtime_ratio = rp.ratio;
    db.update_trial(t);
  }
  CandidateJob job;
  job.trial_id = id;
  job.genome = g;
  job.options = options;
  job.run_dir = run_dir_of(runs_dir, t);
  job.init_weights = init;
  job.heartbeat = [&] { db.heartbeat(id); };
  job.should_stop = [] { return g_stop.load(); };
  CandidateOutcome o = runner.train(job);
  t = *db.trial(id);
  t.budget = o.iterations;
  t.finished_at = now_s();
  if (o.status == "complete") {
    t.state = TrialState::Complete;
    t.reason.clear();
    t.psnr_rgb = o.psnr_rgb;
    t.psnr_y = o.psnr_y;
    t.weights_path = o.weights_path;
    db.add_artifact(id, "weights", o.weights_path);
  } else {
    t.state = o.status == "stopped" ? TrialState::Pending : TrialState::Failed;
    t.reason = o.status == "stopped" ? "interrupted retrain: srnas retrain with the same options continues it"
                                     : o.status == "diverged" ? "diverged: " + o.reason : o.reason;
    t.worker.clear();
  }
  db.update_trial(t);
  out.trial = t;
  return out;
}

std::string study_runs_dir(const SearchConfig& cfg, const std::string& db_path) {
  // Absolute: the DB records weights paths under it, and export, retrain and tell read them
  // from whatever folder they run in.
  const fs::path dir = fs::path(cfg.runs_dir.empty() ? default_runs_dir(db_path) : cfg.runs_dir) / cfg.study;
  return fs::absolute(dir).lexically_normal().string();
}

std::string trial_run_dir(const SearchConfig& cfg, const std::string& db_path, const TrialRecord& t) {
  return run_dir_of(study_runs_dir(cfg, db_path), t);
}

std::optional<AskedTrial> ask_trial(const SearchConfig& cfg, const SearchOptions& opt, WorkerPool& pool,
                                    double requeue_stale_s) {
  if (cfg.final_stage)
    throw Error(fmt::format("{}: final: the final stage belongs to srnas search; retrain the winners with srnas "
                            "retrain (or ask/tell them with another study)",
                            cfg.origin));
  Session ss = open_session(cfg, opt, pool.device(), /*for_ask=*/true);
  ResultsDB& db = *ss.db;
  Ctx c{cfg, db, pool, ss.study_id, study_runs_dir(cfg, opt.db_path),
        fmt::format("{} (srnas ask on {})", kExternalWorker, default_worker()), ss.base_opt, ss.final_opt};
  fs::create_directories(c.runs_dir);
  const double t0 = now_s();
  if (requeue_stale_s > 0) {
    db.transaction([&] {
      for (const TrialRecord& t : search_trials(db.trials(ss.study_id, TrialState::Running)))
        if (t0 - t.heartbeat_at > requeue_stale_s)
          fmt::print(stderr, "[ask] re-queued trial {} (no tell nor heartbeat for {}, last on {})\n", t.id,
                     format_duration(t0 - t.heartbeat_at), t.worker);
      db.requeue_running(ss.study_id, requeue_stale_s);
    });
  }
  while (!g_stop) {
    std::optional<TrialRecord> t = db.claim_pending(ss.study_id, c.worker);
    if (!t) {
      if (propose_candidate(ss, cfg, /*overlap_baseline=*/true)) continue;
      const std::vector<TrialRecord> trials = search_trials(db.trials(ss.study_id));
      refuse_failed_baseline(trials, opt.db_path, cfg.study);
      const TrialRecord* probing = nullptr;  // the baseline handed out by another ask, its probe not recorded yet
      for (const TrialRecord& b : trials)
        if (b.is_baseline && b.state == TrialState::Running && !b.runtime_ratio) probing = &b;
      if (!probing) return std::nullopt;
      if (now_s() - t0 > 120)
        throw Error(fmt::format("{}: study '{}': the baseline (trial {}), handed out to {}, has had no runtime probe "
                                "recorded for 2 minutes, and candidates are measured against it: ask again later",
                                opt.db_path, cfg.study, probing->id, probing->worker));
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    // Measured first (as drive() does): a trial that breaks a constraint is PRUNED, the next one asked.
    std::optional<WorkItem> item = first_item(c, *t);
    if (item->kind == WorkItem::Kind::Probe) {
      pool.submit(0, *item);
      int w = 0;
      item = on_result(c, pool.wait_any(&w, [&] { db.heartbeat(t->id); }));
    } else if (prune_before_training(c, *t)) {
      item.reset();
    }
    if (!item) {
      const TrialRecord p = *db.trial(t->id);
      fmt::print(stderr, "[ask] trial {} {}: {}\n", p.id, to_string(p.state), p.reason);
      continue;
    }
    AskedTrial a;
    a.trial = *db.trial(t->id);
    a.options = item->options;
    a.run_dir = item->run_dir;
    return a;
  }
  throw Error("interrupted by a signal: nothing handed out (ask again)");
}

namespace {

// The pool of a `srnas tell`: the outcome comes from outside, nothing runs here.
class ToldPool : public WorkerPool {
 public:
  explicit ToldPool(std::string device) : device_(std::move(device)) {}
  int size() const override { return 1; }
  void submit(int, const WorkItem&) override { throw Error("internal: srnas tell runs nothing"); }
  WorkResult wait_any(int*, const std::function<void()>&) override { throw Error("internal: srnas tell runs nothing"); }
  std::string device() const override { return device_; }
  std::string worker_name(int) const override { return kExternalWorker; }
  bool overlap_baseline() const override { return true; }

 private:
  std::string device_;
};

}  // namespace

std::optional<int64_t> record_told(const SearchConfig& cfg, const std::string& db_path, ResultsDB& db,
                                   int64_t trial_id, CandidateOutcome o, const std::string& device) {
  const TrialRecord t = *db.trial(trial_id);
  ToldPool pool(device);
  const TrainOptions base_opt = load_train_options(cfg.train_options, cfg.train_set);
  Ctx c{cfg, db, pool, t.study_id, study_runs_dir(cfg, db_path), t.worker, base_opt, std::nullopt};
  if (o.iterations <= 0) o.iterations = train_item(c, t).options.iterations;  // the budget ask handed out
  WorkResult r;
  r.trial_id = trial_id;
  r.kind = WorkItem::Kind::Train;
  r.outcome = o;
  // As the search records its own trainings: successive halving promotes or prunes here.
  const std::optional<WorkItem> next = on_result(c, r);
  if (!next) return std::nullopt;
  return next->options.iterations;
}

}  // namespace srnas
