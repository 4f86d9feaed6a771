// srnas::Error: the one exception type srnas throws for bad input or failed I/O.
//
// Contract: what() is a single line that names the offending thing (file, field,
// key, layer) and says what was expected and what was found. Errors are thrown
// where they are detected and surface exactly once, at the CLI, which prints
// "srnas: error: <what()>" and exits with status 2.
#pragma once

#include <stdexcept>
#include <string>

namespace srnas {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

// Prefixes an error with its context, e.g. rethrow_with("configs/archs/x.json", e)
// gives "configs/archs/x.json: lr.width: expected an integer >= 1, got -3".
[[noreturn]] inline void rethrow_with(const std::string& context, const std::exception& e) {
  throw Error(context + ": " + e.what());
}

}  // namespace srnas
