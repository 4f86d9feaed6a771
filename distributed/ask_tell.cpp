// tell_trial (ask_trial lives in search.cpp, with the search loop it shares its steps with).
#include "distributed/ask_tell.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "search_space/builder.h"
#include "search_space/error.h"
#include "search_space/genome.h"
#include "search_space/weights.h"
#include "trainer/data_split.h"
#include "trainer/dataset.h"
#include "trainer/evaluate.h"

namespace srnas {

namespace fs = std::filesystem;

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

TellOutcome tell_trial(const std::string& db_path, int64_t trial_id, const TellInput& told) {
  const int given = int(!told.weights.empty()) + int(!told.failed.empty()) + int(told.release) + int(told.alive);
  if (given != 1) throw Error("srnas tell: give exactly one of --weights, --failed, --release, --alive");
  if (!fs::exists(db_path)) throw Error(fmt::format("{}: no such results DB", db_path));
  auto db = ResultsDB::open(db_path, ResultsDB::Mode::ReadWrite);
  auto t = db->trial(trial_id);
  if (!t) throw Error(fmt::format("{}: trial {} does not exist", db_path, trial_id));
  auto handed_out = [&](const TrialRecord& r) {
    if (r.state != TrialState::Running || !is_external(r))
      throw Error(fmt::format("{}: trial {} is {}{}: srnas tell records trials srnas ask handed out (RUNNING, worker "
                              "external)",
                              db_path, trial_id, to_string(r.state),
                              r.state == TrialState::Running ? " on " + r.worker : ""));
  };
  handed_out(*t);
  std::optional<StudyRecord> study;
  for (const StudyRecord& s : db->studies())
    if (s.id == t->study_id) study = s;
  if (!study) throw Error(fmt::format("{}: trial {} has no study", db_path, trial_id));
  const SearchConfig cfg = load_search_config_text(study->config_yaml, fmt::format("{}: study '{}' config", db_path,
                                                                                   study->name));
  TellOutcome out;
  if (told.alive) {
    db->transaction([&] {
      handed_out(*db->trial(trial_id));
      db->heartbeat(trial_id);
    });
    out.trial = *db->trial(trial_id);
    return out;
  }
  if (told.release || !told.failed.empty()) {
    db->transaction([&] {
      TrialRecord r = *db->trial(trial_id);
      handed_out(r);
      if (told.release) {
        r.state = TrialState::Pending;
        r.worker.clear();
        r.started_at = r.heartbeat_at = 0;
        r.reason = "released by srnas tell: the next srnas ask hands it out again";
      } else {
        r.state = TrialState::Failed;
        r.reason = "external: " + told.failed;
        r.finished_at = now_s();
      }
      db->update_trial(r);
    });
    out.trial = *db->trial(trial_id);
    return out;
  }

  // Validate the weights as the search validates its own trials (challenge PSNR, crop 4).
  const Genome g = genome_from_string(t->genome_json);
  SRNet net(g);
  try {
    load_weights(*net, told.weights);
  } catch (const std::exception& e) {
    rethrow_with(fmt::format("trial {}", trial_id), e);
  }
  const torch::Device device = pick_device(cfg.device);
  net->to(device);
  // The images the study was measured on (ask's), or the PSNR would not compare.
  const Dataset val_set = open_val_set(cfg.data);
  const nlohmann::json stored = nlohmann::json::parse(study->measure_json, nullptr, false);
  if (stored.is_object() && stored.contains("data")) {
    const nlohmann::json now = data_identity(open_train_set(cfg.data), val_set);
    if (stored["data"] != now)
      throw Error(fmt::format("{}: study '{}' was measured on other images than {} holds now ({} then, {} now): "
                              "run srnas tell where srnas ask ran, with the same data",
                              db_path, study->name, cfg.data.describe(), stored["data"].dump(), now.dump()));
  }
  const std::vector<LoadedPair> val = load_pairs(val_set, size_t(16) << 30);
  const QualityResult q = evaluate_quality(model_function(net), val, device);
  CandidateOutcome o;
  o.iterations = told.iterations;
  // The trial's folder keeps the weights of its last rung (srnas export reads them there).
  // They are copied beside it first and renamed into place only once this tell is recorded,
  // so a tell refused in the transaction (another tell came first) leaves the file alone.
  fs::path staged, dest;
  if (!std::isfinite(q.psnr_rgb) || !std::isfinite(q.psnr_y)) {
    o.status = "diverged";
    o.reason = "the told weights give non-finite PSNR on the validation images";
  } else {
    const std::string run_dir = trial_run_dir(cfg, db_path, *t);
    fs::create_directories(run_dir);
    dest = fs::path(run_dir) / "weights.safetensors";
    std::error_code ec;
    if (!fs::equivalent(told.weights, dest, ec)) {
      staged = dest;
      staged += fmt::format(".tell-{}", ::getpid());
      fs::copy_file(told.weights, staged, fs::copy_options::overwrite_existing, ec);
      if (ec) {
        std::error_code ignored;
        fs::remove(staged, ignored);
        throw Error(fmt::format("{}: cannot copy {} there: {}", dest.string(), told.weights, ec.message()));
      }
    }
    o.status = "complete";
    o.psnr_rgb = q.psnr_rgb;
    o.psnr_y = q.psnr_y;
    o.weights_path = dest.string();
  }
  // Checked again in the transaction: another tell of the same trial may have come first.
  try {
    db->transaction([&] {
      handed_out(*db->trial(trial_id));
      out.continue_to = record_told(cfg, db_path, *db, trial_id, o, device.str());
      if (!staged.empty()) {
        std::error_code ec;
        fs::rename(staged, dest, ec);
        if (ec) throw Error(fmt::format("{}: cannot rename {} into place: {}", dest.string(), staged.string(), ec.message()));
        staged.clear();
      }
    });
  } catch (...) {
    std::error_code ec;
    if (!staged.empty()) fs::remove(staged, ec);
    throw;
  }
  out.trial = *db->trial(trial_id);
  return out;
}

}  // namespace srnas
