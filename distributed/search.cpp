#include "distributed/search.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <unistd.h>

#include <fmt/format.h>

#include "analysis/tracks.h"
#include "sampler/sampler.h"
#include "search_space/accounting.h"
#include "search_space/error.h"
#include "search_space/registry.h"
#include "search_space/space.h"

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

std::string hms(double s) {
  int64_t t = int64_t(s + 0.5);
  return t >= 3600 ? fmt::format("{}h{:02}m", t / 3600, t / 60 % 60) : fmt::format("{}m{:02}s", t / 60, t % 60);
}

// Study state needed while running trials.
struct Ctx {
  const SearchConfig& cfg;
  ResultsDB& db;
  CandidateRunner& runner;
  int64_t study_id;
  std::string runs_dir;
  std::string worker;
  TrainOptions base_opt;
  double ref_runtime_s;      // MSRResNet's runtime in this process (the protocol's reference)
  Genome msrresnet;
};

std::optional<TrialRecord> baseline_of(const std::vector<TrialRecord>& trials) {
  for (const auto& t : trials)
    if (t.is_baseline && t.state == TrialState::Complete) return t;
  return std::nullopt;
}

void finish(Ctx& c, TrialRecord& t, TrialState s, const std::string& reason) {
  t.state = s;
  t.reason = reason;
  t.finished_at = now_s();
  c.db.update_trial(t);
}

struct Interrupted {};

// Measures, prunes, trains rung by rung, records. Throws Interrupted on a stop signal
// (the trial is back to PENDING with its checkpoint).
void run_trial(Ctx& c, TrialRecord t) {
  Genome g = genome_from_string(t.genome_json);
  Accounting acc = account(g, c.cfg.macs_h, c.cfg.macs_w);
  t.params = acc.params;
  t.macs = acc.macs;
  if (!t.runtime_s) {
    double rt = g == c.msrresnet ? c.ref_runtime_s : c.runner.runtime_s(g);
    t.runtime_s = rt;
    t.runtime_ratio = rt / c.ref_runtime_s;
  }
  c.db.update_trial(t);

  if (!t.is_baseline) {
    auto base = baseline_of(c.db.trials(c.study_id));
    if (!base) throw Error("internal: candidate trial before the baseline completed");
    if (c.cfg.prune_params && *t.params > *base->params)
      return finish(c, t, TrialState::Pruned,
                    fmt::format("constraint: params {} > baseline {} (before training)", *t.params, *base->params));
    if (c.cfg.prune_runtime && *t.runtime_ratio > *base->runtime_ratio)
      return finish(c, t, TrialState::Pruned,
                    fmt::format("constraint: runtime ratio {:.3f} > baseline {:.3f} (untrained, before training)",
                                *t.runtime_ratio, *base->runtime_ratio));
  }

  const int rungs = c.cfg.asha && !t.is_baseline ? c.cfg.asha->rungs : 1;
  const fs::path run_dir = fs::path(c.runs_dir) / fmt::format("trial_{}", t.number);
  for (int r = t.rung; r < rungs; ++r) {
    CandidateJob job;
    job.trial_id = t.id;
    job.genome = g;
    job.options = c.base_opt;
    job.options.iterations = c.cfg.asha ? (t.is_baseline ? max_budget(*c.cfg.asha) : rung_budget(*c.cfg.asha, r))
                                        : c.base_opt.iterations;
    job.run_dir = run_dir.string();
    job.heartbeat = [&] { c.db.heartbeat(t.id); };
    job.should_stop = [] { return g_stop.load(); };
    CandidateOutcome o = c.runner.train(job);
    t.budget = o.iterations;
    if (o.status == "stopped") {
      t.state = TrialState::Pending;
      t.worker.clear();
      t.reason = "interrupted: will continue from its checkpoint on --resume";
      c.db.update_trial(t);
      throw Interrupted{};
    }
    if (o.status != "complete")
      return finish(c, t, TrialState::Failed, o.status == "diverged" ? "diverged: " + o.reason : o.reason);
    t.rung = r;
    t.rung_psnr[r] = o.psnr_rgb;
    t.psnr_rgb = o.psnr_rgb;
    t.psnr_y = o.psnr_y;
    t.weights_path = o.weights_path;
    c.db.update_trial(t);
    if (r + 1 < rungs) {
      AshaDecision d = asha_decide(c.db.trials(c.study_id), t.id, r, o.psnr_rgb, *c.cfg.asha);
      if (!d.promote) return finish(c, t, TrialState::Pruned, d.reason);
      t.rung = r + 1;
      c.db.update_trial(t);
    }
  }
  c.db.add_artifact(t.id, "weights", t.weights_path);
  finish(c, t, TrialState::Complete, "");
}

void print_progress(Ctx& c, const TrialRecord& t, double t0, int done, int total) {
  auto trials = c.db.trials(c.study_id);
  auto counts = c.db.state_counts(c.study_id);
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
  std::string eta = done > 0 && done < total ? fmt::format(", ETA {}", hms(el / done * (total - done))) : "";
  fmt::print(stderr,
             "[search] {} {}/{} trial {} {}{}{} | {} complete, {} pruned, {} failed | best:{} | {} elapsed{}\n",
             t.is_baseline ? "baseline" : "trial", t.is_baseline ? 0 : done, total, now.id, to_string(now.state),
             metrics.empty() ? "" : " (" + metrics + ")", now.reason.empty() ? "" : ": " + now.reason,
             counts[TrialState::Complete], counts[TrialState::Pruned], counts[TrialState::Failed], best, hms(el), eta);
}

}  // namespace

void install_stop_signals() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}
bool stop_requested() { return g_stop.load(); }

std::string default_runs_dir(const std::string& db_path) { return db_path + ".runs"; }

SearchSummary run_search(const SearchConfig& cfg, const SearchOptions& opt, CandidateRunner& runner) {
  const double t0 = now_s();
  auto db = ResultsDB::open(opt.db_path, ResultsDB::Mode::ReadWrite);
  auto existing = db->find_study(cfg.study);
  if (existing && !opt.resume)
    throw Error(fmt::format("{}: study '{}' already exists; pass --resume to continue it", opt.db_path, cfg.study));
  auto space = Space::load(cfg.space);
  auto sampler = make_sampler(cfg.sampler);
  int64_t study_id;
  if (existing) {
    if (existing->space != cfg.space)
      throw Error(fmt::format("{}: study '{}' was created with space '{}', the config says '{}'", opt.db_path,
                              cfg.study, existing->space, cfg.space));
    study_id = existing->id;
    int n = db->requeue_running(study_id);
    if (n) fmt::print(stderr, "[search] re-queued {} interrupted trial(s)\n", n);
  } else {
    StudyRecord s;
    s.name = cfg.study;
    s.config_yaml = cfg.yaml;
    s.space = cfg.space;
    s.seed = cfg.seed;
    s.device = runner.device();
    study_id = db->create_study(s);
  }

  Ctx c{cfg, *db, runner, study_id, cfg.runs_dir.empty() ? default_runs_dir(opt.db_path) : cfg.runs_dir,
        opt.worker.empty() ? default_worker() : opt.worker,
        load_train_options(cfg.train_options, cfg.train_set), 0.0, load_arch("msrresnet").genome};
  c.runs_dir = (fs::path(c.runs_dir) / cfg.study).string();
  fs::create_directories(c.runs_dir);
  fmt::print(stderr, "[search] study '{}' in {}: {} candidates from space {} by {}, device {}\n", cfg.study,
             opt.db_path, cfg.trials, cfg.space, sampler->name(), runner.device());
  c.ref_runtime_s = runner.runtime_s(c.msrresnet);

  // The baseline is trial number 0, trained under the same budget and device.
  Genome base_genome = load_arch(cfg.baseline).genome;
  bool have_baseline = false;
  for (const auto& t : db->trials(study_id)) have_baseline |= t.is_baseline;
  if (!have_baseline) {
    TrialRecord b;
    b.study_id = study_id;
    b.genome_json = canonical_json(base_genome);
    b.genome_hash = genome_hash(base_genome);
    b.is_baseline = true;
    db->add_trial(b);
  }

  SearchSummary summary;
  summary.study_id = study_id;
  try {
    while (!g_stop) {
      std::optional<TrialRecord> t = db->claim_pending(study_id, c.worker);
      if (!t) {
        std::vector<TrialRecord> history = db->trials(study_id);
        int64_t candidates = 0;
        for (const auto& h : history) candidates += !h.is_baseline;
        if (candidates >= cfg.trials) break;
        auto base = baseline_of(history);
        if (!base) break;  // the baseline failed: nothing can be compared
        bool exhausted = false;
        db->transaction([&] {
          history = db->trials(study_id);
          Constraints cons;
          cons.max_params = base->params;
          cons.max_runtime_ratio = base->runtime_ratio;
          cons.min_psnr = base->psnr_rgb;
          int64_t number = int64_t(history.size());
          SamplerContext ctx{*space, history, cons, cfg.seed, number};
          std::optional<Genome> g = sampler->propose(ctx);
          if (!g) {
            exhausted = true;
            return;
          }
          TrialRecord n;
          n.study_id = study_id;
          n.genome_json = canonical_json(*g);
          n.genome_hash = genome_hash(*g);
          db->add_trial(n);
        });
        if (exhausted) {
          fmt::print(stderr, "[search] the sampler found no new genome: space exhausted\n");
          break;
        }
        continue;
      }
      run_trial(c, *t);
      int done = 0;
      for (const auto& h : db->trials(study_id))
        done += !h.is_baseline && (h.state == TrialState::Complete || h.state == TrialState::Pruned ||
                                   h.state == TrialState::Failed);
      print_progress(c, *t, t0, done, cfg.trials);
    }
  } catch (const Interrupted&) {
    summary.interrupted = true;
  }
  summary.interrupted |= g_stop.load();
  summary.counts = db->state_counts(study_id);
  summary.seconds = now_s() - t0;
  return summary;
}

TrialRecord retrain_trial(ResultsDB& db, int64_t parent_id, const TrainOptions& options, CandidateRunner& runner,
                          const std::string& runs_dir, const std::string& worker) {
  auto parent = db.trial(parent_id);
  if (!parent) throw Error(fmt::format("{}: trial {} does not exist", db.path(), parent_id));
  Genome g = genome_from_string(parent->genome_json);
  TrialRecord t;
  t.study_id = parent->study_id;
  t.genome_json = parent->genome_json;
  t.genome_hash = parent->genome_hash;
  t.parent_id = parent_id;
  t.params = parent->params;
  t.macs = parent->macs;
  int64_t id = db.add_trial(t);
  if (!db.claim_trial(id, worker.empty() ? default_worker() : worker))
    throw Error(fmt::format("{}: could not claim the new trial {}", db.path(), id));
  t = *db.trial(id);
  double ref = runner.runtime_s(load_arch("msrresnet").genome);
  double rt = runner.runtime_s(g);
  t.runtime_s = rt;
  t.runtime_ratio = rt / ref;
  CandidateJob job;
  job.trial_id = id;
  job.genome = g;
  job.options = options;
  job.run_dir = (fs::path(runs_dir) / fmt::format("trial_{}", t.number)).string();
  job.heartbeat = [&] { db.heartbeat(id); };
  job.should_stop = [] { return g_stop.load(); };
  CandidateOutcome o = runner.train(job);
  t.budget = o.iterations;
  t.finished_at = now_s();
  if (o.status == "complete") {
    t.state = TrialState::Complete;
    t.psnr_rgb = o.psnr_rgb;
    t.psnr_y = o.psnr_y;
    t.weights_path = o.weights_path;
    db.add_artifact(id, "weights", o.weights_path);
  } else {
    t.state = o.status == "stopped" ? TrialState::Pending : TrialState::Failed;
    t.reason = o.status == "stopped" ? "interrupted retrain" : o.reason;
  }
  db.update_trial(t);
  return t;
}

}  // namespace srnas
