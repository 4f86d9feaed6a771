// Whole-file writes that readers never see half done: the bytes go to a temporary file next
// to the target (unique per process and call, so concurrent writers do not collide), which is
// then renamed over it. Used for genome.json, model.py, job files, data-set manifests, replay
// tables and PNG files.
// Errors: srnas::Error "<path>: <what>: <why>" (what: "cannot write" unless given); no
// temporary file is left.
#pragma once

#include <string>
#include <string_view>

namespace srnas {

void write_file_atomic(const std::string& path, std::string_view bytes, std::string_view what = "cannot write");

inline void write_text_atomic(const std::string& path, const std::string& text) { write_file_atomic(path, text); }

}  // namespace srnas
