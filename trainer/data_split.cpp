#include "trainer/data_split.h"

#include <filesystem>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "search_space/error.h"
#include "search_space/json_reader.h"

namespace srnas {

namespace fs = std::filesystem;

Dataset open_split(const std::string& dir, const std::string& split, int scale) {
  const bool has_splits = fs::is_directory(fs::path(dir) / split) ||
                          fs::is_directory(fs::path(dir) / (split == "val" ? "DIV2K_valid_HR" : "DIV2K_train_HR"));
  return open_dataset(dir, has_splits ? split : "", scale);
}

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

Dataset merged(const std::vector<std::string>& roots, const std::string& split, int scale) {
  if (roots.size() == 1) return open_split(roots[0], split, scale);
  Dataset out;
  out.scale = scale;
  std::vector<std::string> layouts;
  for (const std::string& r : roots) {
    Dataset d = open_split(r, split, scale);
    layouts.push_back(d.layout);
    out.root += (out.root.empty() ? "" : " + ") + d.root;
    for (ImagePair& p : d.pairs) out.pairs.push_back(std::move(p));
  }
  out.layout = fmt::format("{}", fmt::join(layouts, "+"));
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

Dataset open_train_set(const DataSpec& spec, int scale) {
  if (spec.train.empty()) throw Error("data: no training folder");
  return merged(spec.train, "train", scale);
}

Dataset open_val_set(const DataSpec& spec, int scale) {
  if (spec.val.empty()) throw Error("data: no validation folder");
  Dataset ds = merged(spec.val, "val", scale);
  std::map<std::string, std::string> seen;
  for (const ImagePair& p : ds.pairs) {
    auto [it, fresh] = seen.emplace(p.name, p.hr_path);
    if (!fresh)
      throw Error(fmt::format("{}: two validation images named '{}' ({} and {})", ds.root, p.name, it->second,
                              p.hr_path));
  }
  if (spec.val_images > 0 && size_t(spec.val_images) < ds.pairs.size()) ds.pairs.resize(size_t(spec.val_images));
  return ds;
}

json data_identity(const Dataset& train, const Dataset& val) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a 64
  auto mix = [&](const std::string& s) {
    for (unsigned char ch : s) {
      h ^= ch;
      h *= 1099511628211ull;
    }
    h ^= 0xff;  // separator
    h *= 1099511628211ull;
  };
  for (const ImagePair& p : val.pairs) {
    int height = 0, width = 0;
    probe_image_size(p.hr_path, &height, &width);
    mix(fmt::format("{} {}x{}", p.name, height, width));
  }
  return {{"train_images", train.pairs.size()}, {"val_images", val.pairs.size()},
          {"val_fingerprint", fmt::format("{:016x}", h)}};
}

}  // namespace srnas
