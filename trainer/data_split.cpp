#include "trainer/data_split.h"

#include <filesystem>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "search_space/error.h"

namespace srnas {

namespace fs = std::filesystem;

Dataset open_split(const std::string& dir, const std::string& split, int scale) {
  // A root with any split (train/, val/, DIV2K's DIV2K_train_HR/, DIV2K_valid_HR/) must have the
  // one asked for: DIV2K with only its training images downloaded used to fall through to the
  // one-*_HR-folder layout and validate on DIV2K_train_HR, silently.
  const fs::path root(dir);
  bool has_splits = false;
  for (const char* sub : {"train", "val", "DIV2K_train_HR", "DIV2K_valid_HR"})
    has_splits |= fs::is_directory(root / sub);
  has_splits |= fs::is_directory(root / split);
  return open_dataset(dir, has_splits ? split : "", scale);
}

namespace {

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

nlohmann::json data_identity(const Dataset& train, const Dataset& val) {
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
