// Which images a run trains and validates on, opened the same way everywhere (`srnas train`,
// `srnas plan`, the search's runners and retrains).
//
// open_split: a root with train/ + val/ (or DIV2K) gives the split; any other folder serves as
// both. open_train_set / open_val_set: the images of a DataSpec (trainer/data_spec.h).
// Contract: image order is fixed (roots in the order given, each sorted by name), so a run is a
// function of the spec and the files. Errors (corrupt files, missing LR) surface as
// they are: the choice of folder never depends on them; spec errors name the config field.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "trainer/data_spec.h"
#include "trainer/dataset.h"

namespace srnas {

// A root with train/ + val/ (or DIV2K) gives the split, and throws when it lacks that split
// ("no 'val' split: expected a subfolder val/ or DIV2K_valid_HR/"); any other folder is used as is.
Dataset open_split(const std::string& dir, const std::string& split, int scale = 4);

// The training images: each train root's train split, concatenated. One root: open_split's data
// set as is; several: root "a + b", layout "div2k+flickr2k".
Dataset open_train_set(const DataSpec& spec, int scale = 4);
// The validation images: each val root's val split, concatenated, then the first val_images.
// Throws when two validation images share a name (the same set given twice, say).
Dataset open_val_set(const DataSpec& spec, int scale = 4);

// What a study records of its data, so that `--resume` on other images is refused: the number
// of training images, the number of validation images and a 16-hex fingerprint of their names
// and HR sizes (moving the folders changes nothing; other or more images do).
nlohmann::json data_identity(const Dataset& train, const Dataset& val);

}  // namespace srnas
