// YAML -> JSON conversion, so YAML files (spaces, options, search configs) are read by
// the same strict JsonReader as genomes.
//
// Contract: plain scalars become int64, double, bool or null when they look like one
// (YAML 1.2 core schema); quoted scalars stay strings. Errors name the file and line.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace srnas {

// Parses YAML text; `origin` (a file name) prefixes error messages.
nlohmann::json yaml_to_json(const std::string& text, const std::string& origin);
nlohmann::json yaml_file_to_json(const std::string& path);
std::string read_text_file(const std::string& path);  // throws srnas::Error naming the file

// Where two JSON documents differ: one entry per leaf path (flattened, "/train/lr") whose
// value differs or is on one side only, by path; values as JSON text, "unset" when absent.
struct JsonDifference {
  std::string path, was, now;
};
std::vector<JsonDifference> json_differences(const nlohmann::json& was, const nlohmann::json& now);
// The same as lines "train.lr: 0.001 then, 0.002 now" (dotted paths), for refusal messages.
std::vector<std::string> setting_differences(const nlohmann::json& then, const nlohmann::json& now);

}  // namespace srnas
