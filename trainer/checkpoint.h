// Where the trainer keeps a run's checkpoint inside its run folder (train.h): checkpoint/
// holds the latest (model.safetensors, optimizer.pt, state.json); while one is saved,
// checkpoint.tmp/ is being written and checkpoint.old/ is the one it replaces.
// No LibTorch here: the search loop drops the checkpoints of final trials through it.
#pragma once

#include <filesystem>
#include <string>

namespace srnas {

inline constexpr const char* kCheckpointDir = "checkpoint";
inline constexpr const char* kCheckpointTmpDir = "checkpoint.tmp";
inline constexpr const char* kCheckpointOldDir = "checkpoint.old";

// Whether run_dir holds a complete checkpoint (what a resumed train() continues from). A save
// killed between its renames (no checkpoint/, a complete checkpoint.old/) is recovered here:
// checkpoint.old/ becomes checkpoint/ again.
bool has_checkpoint(const std::filesystem::path& run_dir);

// Removes run_dir's checkpoint folders (all three). Returns "" or, when one could not be
// removed, "<path>: <reason>" for the first such (the others are still tried).
std::string remove_checkpoint(const std::filesystem::path& run_dir);

}  // namespace srnas
