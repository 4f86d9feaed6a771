// Small text helpers shared by the CLI's table printers.
#pragma once

#include <cstdint>
#include <string>

namespace srnas::cli {

// 1517571 -> "1,517,571"
inline std::string group_digits(int64_t v) {
  std::string s = std::to_string(v < 0 ? -v : v), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return v < 0 ? "-" + out : out;
}

}  // namespace srnas::cli
