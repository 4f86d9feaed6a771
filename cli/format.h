// Small text helpers shared by the CLI's table printers.
#pragma once

#include <cstdint>
#include <regex>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "search_space/error.h"

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

// "339x510" -> {339, 510}; anything else is an Error naming --lr-size.
inline std::pair<int, int> parse_hw(const std::string& s) {
  std::smatch m;
  static const std::regex re("^([0-9]{1,6})x([0-9]{1,6})$");
  if (!std::regex_match(s, m, re) || std::stoi(m[1]) < 1 || std::stoi(m[2]) < 1)
    throw Error(fmt::format("--lr-size: expected HxW with positive integers (e.g. 339x510), got '{}'", s));
  return {std::stoi(m[1]), std::stoi(m[2])};
}

}  // namespace srnas::cli
