#include "trainer/data_spec.h"

#include <filesystem>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "search_space/error.h"
#include "search_space/json_reader.h"

namespace srnas {

namespace fs = std::filesystem;

DataSpec DataSpec::root(const std::string& dir) {
  DataSpec s;
  s.train = {dir};
  s.val = {dir};
  return s;
}

std::string DataSpec::describe() const {
  const std::string first = val_images > 0 ? fmt::format(" (first {} images)", val_images) : "";
  if (train == val && train.size() == 1) return train[0] + first;
  return fmt::format("train {}, val {}{}", fmt::join(train, " + "), fmt::join(val, " + "), first);
}

namespace {

std::vector<std::string> folders(const json& v, const std::string& where) {
  std::vector<std::string> out;
  auto one = [&](const json& x, const std::string& at) {
    if (!x.is_string() || x.get<std::string>().empty())
      throw Error(fmt::format("{}: expected a data folder, got {}", at, JsonReader::kind(x)));
    const std::string dir = x.get<std::string>();
    for (const std::string& d : out)
      if (fs::path(d).lexically_normal() == fs::path(dir).lexically_normal())
        throw Error(fmt::format("{}: {} given twice", at, dir));
    out.push_back(dir);
  };
  if (v.is_array()) {
    if (v.empty()) throw Error(fmt::format("{}: expected a data folder or a non-empty list of them", where));
    for (size_t i = 0; i < v.size(); ++i) one(v[i], fmt::format("{}[{}]", where, i));
  } else {
    one(v, where);
  }
  return out;
}

}  // namespace

DataSpec data_spec_from_json(const json& j, const std::string& where) {
  if (j.is_string()) {
    if (j.get<std::string>().empty()) throw Error(fmt::format("{}: expected a data folder, got an empty string", where));
    return DataSpec::root(j.get<std::string>());
  }
  if (!j.is_object())
    throw Error(fmt::format("{}: expected a data folder or {{train: ..., val: ..., val_images: N}}, got {}", where,
                            JsonReader::kind(j)));
  JsonReader r(j, where);
  DataSpec s;
  s.train = folders(r.need("train"), r.sub("train"));
  s.val = folders(r.need("val"), r.sub("val"));
  s.val_images = r.integer("val_images", 0, 1000000, 0);
  r.finish();
  return s;
}

}  // namespace srnas
