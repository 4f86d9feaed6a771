// Helpers shared by the CLI commands that read a results DB (trials, pareto, tracks,
// export, retrain, plot, report, replay): open it with a clear error when it is missing,
// and pick the study (the only one, or --study NAME).
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include <fmt/core.h>

#include "results_db/results_db.h"
#include "search_space/error.h"

namespace srnas::cli {

inline std::unique_ptr<ResultsDB> open_db(const std::string& path, bool write = false) {
  if (!std::filesystem::exists(path)) throw Error(fmt::format("{}: no such results DB", path));
  return ResultsDB::open(path, write ? ResultsDB::Mode::ReadWrite : ResultsDB::Mode::ReadOnly);
}

inline StudyRecord pick_study(const ResultsDB& db, const std::string& name) {
  if (!name.empty()) {
    auto s = db.find_study(name);
    if (!s) throw Error(fmt::format("{}: no study named '{}'", db.path(), name));
    return *s;
  }
  auto all = db.studies();
  if (all.empty()) throw Error(fmt::format("{}: the DB holds no study yet", db.path()));
  if (all.size() > 1) {
    std::string names;
    for (const auto& s : all) names += (names.empty() ? "" : ", ") + s.name;
    throw Error(fmt::format("{}: {} studies ({}): pass --study NAME", db.path(), all.size(), names));
  }
  return all.front();
}

}  // namespace srnas::cli
