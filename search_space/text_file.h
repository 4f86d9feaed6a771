// Whole-file text writes that readers never see half done: the text goes to a temporary file
// next to the target (unique per process and call, so concurrent writers do not collide), which
// is then renamed over it. Used for genome.json, model.py, job files, data-set caches, tables.
// Errors: srnas::Error naming the target file and what failed; no temporary file is left.
#pragma once

#include <string>

namespace srnas {

void write_text_atomic(const std::string& path, const std::string& text);

}  // namespace srnas
