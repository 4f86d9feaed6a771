// A model folder: genome.json + weights.safetensors, as `srnas train --out` and `srnas export`
// write them; what `srnas upscale --model` and `srnas export --from` read.
#pragma once

#include <filesystem>
#include <string>

#include <fmt/format.h>

#include "search_space/error.h"
#include "search_space/registry.h"

namespace srnas::cli {

struct ModelFolder {
  ArchSpec arch;        // from DIR/genome.json
  std::string weights;  // DIR/weights.safetensors (srnas names)
};

// Throws "<flag> DIR: no genome.json there (...)" for a folder without one; genome errors name the file.
inline ModelFolder open_model_folder(const std::string& dir, const std::string& flag) {
  const std::filesystem::path d(dir);
  const std::string genome = (d / "genome.json").string();
  if (!std::filesystem::is_regular_file(genome))
    throw Error(fmt::format("{} {}: no genome.json there (expected a folder written by srnas train --out or "
                            "srnas export)",
                            flag, dir));
  return {load_arch(genome), (d / "weights.safetensors").string()};
}

}  // namespace srnas::cli
