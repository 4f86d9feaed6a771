// open_split: opens a data root's train/val split the same way everywhere (`srnas train`,
// `srnas eval`, `srnas bench`, the search's runners). A root with train/ + val/ (or DIV2K)
// gives the split; any other folder serves as both. Errors (corrupt files, missing LR)
// surface as they are: the choice of folder never depends on them.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "trainer/dataset.h"

namespace srnas {

// A root with train/ + val/ (or DIV2K) gives the split; any other folder is used as is.
inline Dataset open_split(const std::string& dir, const std::string& split, int scale = 4) {
  namespace fs = std::filesystem;
  const bool has_splits = fs::is_directory(fs::path(dir) / split) ||
                          fs::is_directory(fs::path(dir) / (split == "val" ? "DIV2K_valid_HR" : "DIV2K_train_HR"));
  return open_dataset(dir, has_splits ? split : "", scale);
}

}  // namespace srnas
