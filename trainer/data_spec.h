// DataSpec: which images a run trains and validates on, as a config says it. `data: DIR` is one
// root for both; the mapping form gives several training roots (DIV2K + Flickr2K = DF2K), other
// validation roots and a validation subset. Plain values and their strict parsing only (no image
// code, so the config fuzzer links it); trainer/data_split.h opens the images.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace srnas {

struct DataSpec {
  std::vector<std::string> train;  // roots: each one's train split (or the whole folder), in order
  std::vector<std::string> val;    // roots: each one's val split (or the whole folder), in order
  int val_images = 0;              // validate on the first N validation images (0: all)

  // `data: DIR`: train and val from one root.
  static DataSpec root(const std::string& dir);
  // "data/samples", or "train data/DIV2K + data/Flickr2K, val data/DIV2K (first 10 images)".
  std::string describe() const;
};

// A config's `data:`: a folder (string), or {train: DIR | [DIR...], val: DIR | [DIR...],
// val_images: N}; `train` and `val` required in the mapping form (a training folder without a
// split would otherwise validate on its training images); a folder given twice in one list is
// an error. Errors name `where` ("search.data.val").
DataSpec data_spec_from_json(const nlohmann::json& j, const std::string& where);

}  // namespace srnas
