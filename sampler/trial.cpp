#include "sampler/trial.h"

#include <algorithm>

#include "search_space/error.h"

namespace srnas {

const char* to_string(TrialState s) {
  switch (s) {
    case TrialState::Pending: return "PENDING";
    case TrialState::Running: return "RUNNING";
    case TrialState::Complete: return "COMPLETE";
    case TrialState::Pruned: return "PRUNED";
    case TrialState::Failed: return "FAILED";
  }
  return "?";
}

TrialState trial_state_from_string(const std::string& s) {
  if (s == "PENDING") return TrialState::Pending;
  if (s == "RUNNING") return TrialState::Running;
  if (s == "COMPLETE") return TrialState::Complete;
  if (s == "PRUNED") return TrialState::Pruned;
  if (s == "FAILED") return TrialState::Failed;
  throw Error("trial state: expected one of {PENDING, RUNNING, COMPLETE, PRUNED, FAILED}, got '" + s + "'");
}

std::map<TrialState, int> state_counts(const std::vector<TrialRecord>& trials) {
  std::map<TrialState, int> n;
  for (TrialState s : {TrialState::Pending, TrialState::Running, TrialState::Complete, TrialState::Pruned,
                       TrialState::Failed})
    n[s] = 0;
  for (const auto& t : trials) ++n[t.state];
  return n;
}

std::optional<double> trial_seconds(const TrialRecord& t) {
  const bool final = t.state == TrialState::Complete || t.state == TrialState::Pruned || t.state == TrialState::Failed;
  if (!final || t.started_at <= 0 || t.finished_at < t.started_at) return std::nullopt;
  return t.finished_at - t.started_at;
}

TrialTime trial_time(const std::vector<TrialRecord>& trials) {
  TrialTime out;
  double first = 0, last = 0;
  for (const TrialRecord& t : trials) {
    const std::optional<double> s = trial_seconds(t);
    if (!s) continue;
    out.worker_s += *s;
    first = first == 0 ? t.started_at : std::min(first, t.started_at);
    last = std::max(last, t.finished_at);
  }
  out.wall_s = last - first;
  return out;
}

std::vector<TrialRecord> search_trials(std::vector<TrialRecord> trials) {
  trials.erase(std::remove_if(trials.begin(), trials.end(), is_retrain), trials.end());
  return trials;
}

}  // namespace srnas
