// Registry: the named reference architectures (configs/archs/*.json) and search spaces
// (configs/spaces/*.yaml), compiled into the binary so `srnas arch show msrresnet`
// works from any directory; a path to a user's own file is accepted wherever a name is.
//
// Contract: resolve order is (1) an existing file path, (2) a built-in name; an unknown
// name throws srnas::Error listing the known names. Arch files are either a bare genome
// or {"name","description","genome","published_keys": N} where N is one naming
// {"source","rules":[[regex,repl],..]} or an array of them (the codebases whose checkpoints
// name the same parameters differently: BasicSR's MSRResNet and mmsr's, AIM 2019's baseline).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "search_space/genome.h"

namespace srnas {

struct KeyRule {
  std::string pattern;      // ECMAScript regex matched against srnas's own parameter name
  std::string replacement;  // std::regex_replace format ($1 ...)
};

// One published naming of an architecture's parameters: where it comes from and the rules that
// map srnas's names to it.
struct PublishedKeys {
  std::string source;  // e.g. "BasicSR basicsr/archs/srresnet_arch.py MSRResNet"
  std::vector<KeyRule> rules;
};

struct ArchSpec {
  std::string name;
  std::string description;
  std::string origin;  // file path or "builtin:archs/NAME.json"
  Genome genome;
  std::vector<PublishedKeys> published;  // in file order; empty: srnas's own names only
};

// A config's text and where it came from. kind is "archs" or "spaces".
struct ConfigText {
  std::string text;
  std::string origin;
  std::string name;
};
ConfigText resolve_config(const std::string& kind, const std::string& name_or_file);
std::vector<std::string> builtin_names(const std::string& kind);

ArchSpec parse_arch(const std::string& text, const std::string& origin, const std::string& name);
ArchSpec load_arch(const std::string& name_or_file);

// Maps srnas's parameter name to the published one (first matching rule wins);
// names matching no rule are returned unchanged.
std::string published_key(const std::string& own_name, const std::vector<KeyRule>& rules);

}  // namespace srnas
