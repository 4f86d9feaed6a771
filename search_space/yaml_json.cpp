#include "search_space/yaml_json.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "search_space/error.h"

namespace srnas {

namespace {

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
        if (o.contains(key))
          throw Error(fmt::format("{}:{}: duplicate key '{}'", origin, kv.first.Mark().line + 1, key));
        o[key] = convert(kv.second, origin);
      }
      return o;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = n.Scalar();
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
      if (std::regex_match(s, float_re)) return std::stod(s);
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

}  // namespace srnas
