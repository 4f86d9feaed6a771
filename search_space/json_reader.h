// JsonReader: strict, path-aware reading of one JSON object (genomes, arch files,
// spaces and options files, which are YAML converted to JSON first).
//
// Contract: every accessor checks type and range and throws srnas::Error whose message
// starts with the full path of the field ("lr.blocks[2].expand: expected ..."); finish()
// throws on any key that was never asked for, so typos are errors, not silent defaults.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "search_space/error.h"

namespace srnas {

using nlohmann::json;

// Strict reader for one JSON object: every key must be consumed, types are checked,
// errors name the full path.
class JsonReader {
 public:
  JsonReader(const json& j, std::string path) : j_(j), path_(std::move(path)) {
    if (!j_.is_object()) fail_here("expected an object, got " + kind(j_));
  }
  ~JsonReader() = default;

  const json* get(const std::string& key) {
    used_.insert(key);
    auto it = j_.find(key);
    return it == j_.end() ? nullptr : &*it;
  }
  const json& need(const std::string& key) {
    const json* v = get(key);
    if (!v) throw Error(fmt::format("{}: missing required key '{}'", path_, key));
    return *v;
  }
  std::string sub(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  int integer(const std::string& key, int lo, int hi, std::optional<int> def = std::nullopt) {
    const json* v = get(key);
    if (!v) {
      if (def) return *def;
      need(key);
    }
    if (!v->is_number_integer())
      throw Error(fmt::format("{}: expected an integer, got {}", sub(key), kind(*v)));
    long long x = v->get<long long>();
    if (x < lo || x > hi)
      throw Error(fmt::format("{}: expected an integer in [{}, {}], got {}", sub(key), lo, hi, x));
    return static_cast<int>(x);
  }
  double number(const std::string& key, double lo, double hi, std::optional<double> def = std::nullopt) {
    const json* v = get(key);
    if (!v) {
      if (def) return *def;
      need(key);
    }
    if (!v->is_number()) throw Error(fmt::format("{}: expected a number, got {}", sub(key), kind(*v)));
    double x = v->get<double>();
    if (!(x >= lo && x <= hi))
      throw Error(fmt::format("{}: expected a number in [{}, {}], got {}", sub(key), lo, hi, x));
    return x;
  }
  bool boolean(const std::string& key, std::optional<bool> def = std::nullopt) {
    const json* v = get(key);
    if (!v) {
      if (def) return *def;
      need(key);
    }
    if (!v->is_boolean()) throw Error(fmt::format("{}: expected true or false, got {}", sub(key), kind(*v)));
    return v->get<bool>();
  }
  std::string choice(const std::string& key, const std::vector<std::string>& allowed,
                     std::optional<std::string> def = std::nullopt) {
    const json* v = get(key);
    if (!v) {
      if (def) return *def;
      need(key);
    }
    if (!v->is_string()) throw Error(fmt::format("{}: expected a string, got {}", sub(key), kind(*v)));
    std::string s = v->get<std::string>();
    for (const auto& a : allowed)
      if (s == a) return s;
    throw Error(fmt::format("{}: expected one of {{{}}}, got '{}'", sub(key), fmt::join(allowed, ", "), s));
  }
  const std::string& path() const { return path_; }
  // Call when done: unknown keys are errors.
  void finish() const {
    for (auto it = j_.begin(); it != j_.end(); ++it)
      if (!used_.count(it.key()))
        throw Error(fmt::format("{}: unknown key '{}'", path_.empty() ? "genome" : path_, it.key()));
  }
  [[noreturn]] void fail_here(const std::string& msg) const {
    throw Error(fmt::format("{}: {}", path_.empty() ? "genome" : path_, msg));
  }
  static std::string kind(const json& v) {
    if (v.is_string()) return "string '" + v.get<std::string>() + "'";
    return std::string(v.type_name()) + (v.is_primitive() && !v.is_null() ? " " + v.dump() : "");
  }

 private:
  const json& j_;
  std::string path_;
  std::set<std::string> used_;
};


}  // namespace srnas
