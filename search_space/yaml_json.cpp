#include "search_space/yaml_json.h"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "search_space/error.h"

namespace srnas {

namespace {

// Offset of the first byte of s that is not well-formed UTF-8 (overlong forms, surrogates and
// code points above U+10FFFF included), or npos. JSON text is UTF-8: nlohmann's dump() throws a
// type_error on anything else, so such bytes must not get into a json value.
size_t invalid_utf8_at(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1Fu;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0Fu;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07u;
    } else {
      return i;
    }
    if (s.size() - i < len) return i;
    for (size_t k = 1; k < len; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return i;
    i += len;
  }
  return std::string::npos;
}

void check_utf8(const std::string& s, const YAML::Node& n, const std::string& origin) {
  if (size_t at = invalid_utf8_at(s); at != std::string::npos)
    throw Error(fmt::format("{}:{}:{}: invalid UTF-8 (byte 0x{:02X} at offset {} of the value)", origin, n.Mark().line + 1,
                            n.Mark().column + 1, static_cast<unsigned char>(s[at]), at));
}

nlohmann::json convert(const YAML::Node& n, const std::string& origin) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: return nullptr;
    case YAML::NodeType::Sequence: {
      nlohmann::json a = nlohmann::json::array();
      for (const auto& c : n) a.push_back(convert(c, origin));
      return a;
    }
    case YAML::NodeType::Map: {
      nlohmann::json o = nlohmann::json::object();
      for (const auto& kv : n) {
        std::string key = kv.first.as<std::string>();
        check_utf8(key, kv.first, origin);
        if (o.contains(key))
          throw Error(fmt::format("{}:{}: duplicate key '{}'", origin, kv.first.Mark().line + 1, key));
        o[key] = convert(kv.second, origin);
      }
      return o;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = n.Scalar();
      check_utf8(s, n, origin);
      if (n.Tag() != "?") return s;  // quoted or explicitly tagged: a string
      static const std::regex int_re("^[-+]?[0-9]+$");
      static const std::regex float_re("^[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?$");
      if (std::regex_match(s, int_re)) {
        try {
          return static_cast<int64_t>(std::stoll(s));
        } catch (...) {
          return s;
        }
      }
      if (std::regex_match(s, float_re)) {
        try {
          return std::stod(s);
        } catch (const std::out_of_range&) {  // e.g. 1e999, 1e-400: std::stod says only "stod"
          throw Error(fmt::format("{}:{}:{}: number {} is out of the range of a double", origin, n.Mark().line + 1,
                                  n.Mark().column + 1, s));
        }
      }
      if (s == "true" || s == "True" || s == "TRUE") return true;
      if (s == "false" || s == "False" || s == "FALSE") return false;
      if (s == "null" || s == "~" || s == "Null" || s == "NULL") return nullptr;
      return s;
    }
  }
  return nullptr;
}

}  // namespace

nlohmann::json yaml_to_json(const std::string& text, const std::string& origin) {
  try {
    YAML::Node root = YAML::Load(text);
    return convert(root, origin);
  } catch (const YAML::Exception& e) {
    throw Error(fmt::format("{}:{}:{}: malformed YAML: {}", origin, e.mark.line + 1, e.mark.column + 1, e.msg));
  }
}

std::string read_text_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(fmt::format("{}: cannot open file: {}", path, std::strerror(errno)));
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) throw Error(fmt::format("{}: read error", path));
  return ss.str();
}

nlohmann::json yaml_file_to_json(const std::string& path) { return yaml_to_json(read_text_file(path), path); }

std::vector<JsonDifference> json_differences(const nlohmann::json& was, const nlohmann::json& now) {
  const nlohmann::json a = was.flatten(), b = now.flatten();
  std::set<std::string> paths;
  for (auto it = a.begin(); it != a.end(); ++it) paths.insert(it.key());
  for (auto it = b.begin(); it != b.end(); ++it) paths.insert(it.key());
  std::vector<JsonDifference> out;
  for (const std::string& p : paths) {
    const auto x = a.find(p), y = b.find(p);
    JsonDifference d{p, x == a.end() ? "unset" : x->dump(), y == b.end() ? "unset" : y->dump()};
    if (d.was != d.now) out.push_back(std::move(d));
  }
  return out;
}

std::vector<std::string> setting_differences(const nlohmann::json& then, const nlohmann::json& now) {
  std::vector<std::string> out;
  for (const JsonDifference& d : json_differences(then, now)) {
    std::string name = d.path.substr(1);
    std::replace(name.begin(), name.end(), '/', '.');
    out.push_back(fmt::format("{}: {} then, {} now", name, d.was, d.now));
  }
  return out;
}

}  // namespace srnas
