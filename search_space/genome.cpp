#include "search_space/genome.h"

#include <cmath>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "search_space/error.h"
#include "search_space/json_reader.h"

namespace srnas {

using nlohmann::json;

namespace {

// The JSON names of kAllBlockTypes, in its order.
constexpr std::array kBlockTypeNames{"res_relu", "res_lrelu", "ir",   "imd",  "awru", "dilated",
                                     "se",       "dwsep",     "rlfb", "rfdb", "spab"};
static_assert(kBlockTypeNames.size() == kAllBlockTypes.size(), "one JSON name per block type");
const std::vector<std::string> kBlockNames(kBlockTypeNames.begin(), kBlockTypeNames.end());

Act act_from(const json& j, const std::string& path) {
  JsonReader r(j, path);
  std::string t = r.choice("type", {"none", "relu", "lrelu"});
  Act a;
  if (t == "lrelu") {
    a.type = ActType::LeakyReLU;
    a.slope = r.number("slope", 0.0, 1.0);
  } else {
    a.type = t == "relu" ? ActType::ReLU : ActType::None;
  }
  r.finish();
  return a;
}

json act_to(const Act& a) {
  switch (a.type) {
    case ActType::None: return {{"type", "none"}};
    case ActType::ReLU: return {{"type", "relu"}};
    case ActType::LeakyReLU: return {{"type", "lrelu"}, {"slope", a.slope}};
  }
  return {};
}

std::vector<Block> blocks_from(const json& j, const std::string& path) {
  if (!j.is_array()) throw Error(fmt::format("{}: expected an array of blocks, got {}", path, JsonReader::kind(j)));
  std::vector<Block> out;
  for (size_t i = 0; i < j.size(); ++i) {
    std::string p = fmt::format("{}[{}]", path, i);
    int repeat = 1;
    json item = j[i];
    if (item.is_object() && item.contains("repeat")) {  // input sugar: {"type":..,"repeat":n}
      const json& rv = item["repeat"];
      if (!rv.is_number_integer() || rv.get<long long>() < 1 || rv.get<long long>() > 1000)
        throw Error(fmt::format("{}.repeat: expected an integer in [1, 1000], got {}", p, JsonReader::kind(rv)));
      repeat = rv.get<int>();
      item.erase("repeat");
    }
    Block b = block_from_json(item, p);
    for (int k = 0; k < repeat; ++k) out.push_back(b);
  }
  return out;
}

Stage stage_from(JsonReader& parent, const std::string& key, bool with_long_skip, bool* long_skip,
                 std::optional<Act>* fuse = nullptr) {
  JsonReader r(parent.need(key), parent.sub(key));
  Stage s;
  s.width = r.integer("width", 1, 4096);
  const json* b = r.get("blocks");
  if (b) s.blocks = blocks_from(*b, r.sub("blocks"));
  if (with_long_skip) *long_skip = r.boolean("long_skip", false);
  if (fuse) {
    if (const json* f = r.get("fuse")) {
      JsonReader fr(*f, r.sub("fuse"));
      *fuse = act_from(fr.need("act"), fr.sub("act"));
      fr.finish();
    }
  }
  r.finish();
  return s;
}

json stage_to(const Stage& s) {
  json blocks = json::array();
  for (const auto& b : s.blocks) blocks.push_back(to_json(b));
  return {{"width", s.width}, {"blocks", blocks}};
}

}  // namespace

bool Block::operator==(const Block& o) const {
  return type == o.type && slope == o.slope && expand == o.expand && dilation == o.dilation &&
         reduction == o.reduction && kernel == o.kernel && esa == o.esa && mid == o.mid &&
         cca == o.cca;
}

bool Genome::operator==(const Genome& o) const {
  return head_act == o.head_act && lr == o.lr && long_skip == o.long_skip && lr_fuse == o.lr_fuse &&
         upsampler == o.upsampler &&
         up_act == o.up_act && x2 == o.x2 && x4 == o.x4 && hr_conv == o.hr_conv && tail_act == o.tail_act &&
         last_conv == o.last_conv && global_skip == o.global_skip && init == o.init;
}

std::string to_string(BlockType t) { return kBlockNames[static_cast<size_t>(t)]; }

std::string describe(const Block& b) {
  switch (b.type) {
    case BlockType::IMD:
      if (b.cca) return fmt::format("imd({},cca)", b.slope);
      [[fallthrough]];
    case BlockType::ResLReLU:
    case BlockType::RFDB:
      return fmt::format("{}({})", to_string(b.type), b.slope);
    case BlockType::InvRes:
    case BlockType::AWRU:
      return fmt::format("{}(e{})", to_string(b.type), b.expand);
    case BlockType::Dilated: return fmt::format("dilated(d{})", b.dilation);
    case BlockType::SERes: return fmt::format("se(r{})", b.reduction);
    case BlockType::DWSepRes: return fmt::format("dwsep(k{})", b.kernel);
    case BlockType::RLFB: {  // the slope only when not RLFN's 0.05 (labels of earlier spaces stay)
      const std::string slope = b.slope != 0.05 ? fmt::format(",{}", b.slope) : "";
      return b.mid > 0 ? fmt::format("rlfb(esa{},m{}{})", b.esa, b.mid, slope) : fmt::format("rlfb(esa{}{})", b.esa, slope);
    }
    case BlockType::ResReLU:
    case BlockType::SPAB: break;  // no fields (no default: -Wswitch names a new type here)
  }
  return to_string(b.type);
}

Block block_from_json(const json& j, const std::string& path) {
  JsonReader r(j, path);
  std::string t = r.choice("type", kBlockNames);
  Block b;
  for (size_t i = 0; i < kBlockNames.size(); ++i)
    if (kBlockNames[i] == t) b.type = kAllBlockTypes[i];
  switch (b.type) {
    case BlockType::ResReLU:
    case BlockType::SPAB: break;
    case BlockType::ResLReLU: b.slope = r.number("slope", 0.0, 1.0, 0.1); break;
    case BlockType::IMD:
      b.slope = r.number("slope", 0.0, 1.0, 0.05);
      b.cca = r.boolean("cca", false);
      break;
    case BlockType::RFDB: b.slope = r.number("slope", 0.0, 1.0, 0.05); break;
    case BlockType::InvRes: b.expand = r.integer("expand", 1, 16); break;
    case BlockType::AWRU: b.expand = r.integer("expand", 1, 16); break;
    case BlockType::Dilated: b.dilation = r.integer("dilation", 1, 8); break;
    case BlockType::SERes: b.reduction = r.integer("reduction", 1, 64, 4); break;
    case BlockType::DWSepRes:
      b.kernel = r.integer("kernel", 3, 7, 3);
      if (b.kernel % 2 == 0) throw Error(fmt::format("{}.kernel: expected an odd size 3, 5 or 7, got {}", path, b.kernel));
      break;
    case BlockType::RLFB:
      b.slope = r.number("slope", 0.0, 1.0, 0.05);
      b.esa = r.integer("esa", 1, 256, 16);
      b.mid = r.integer("mid", 0, 4096, 0);
      break;
  }
  r.finish();
  return b;
}

json to_json(const Block& b) {
  json j = {{"type", to_string(b.type)}};
  switch (b.type) {
    case BlockType::IMD:
      if (b.cca) j["cca"] = true;
      [[fallthrough]];
    case BlockType::ResLReLU:
    case BlockType::RFDB: j["slope"] = b.slope; break;
    case BlockType::InvRes:
    case BlockType::AWRU: j["expand"] = b.expand; break;
    case BlockType::Dilated: j["dilation"] = b.dilation; break;
    case BlockType::SERes: j["reduction"] = b.reduction; break;
    case BlockType::DWSepRes: j["kernel"] = b.kernel; break;
    case BlockType::RLFB:
      j["slope"] = b.slope;
      j["esa"] = b.esa;
      j["mid"] = b.mid;
      break;
    case BlockType::ResReLU:
    case BlockType::SPAB: break;
  }
  return j;
}

Genome genome_from_json(const json& j) {
  JsonReader r(j, "");
  Genome g;
  {
    JsonReader h(r.need("head"), "head");
    g.head_act = act_from(h.need("act"), "head.act");
    h.finish();
  }
  g.lr = stage_from(r, "lr", true, &g.long_skip, &g.lr_fuse);
  {
    JsonReader u(r.need("upsampler"), "upsampler");
    g.upsampler = u.choice("type", {"progressive", "pixelshuffle4"}) == "progressive" ? Upsampler::Progressive
                                                                                      : Upsampler::PixelShuffle4;
    g.up_act = act_from(u.need("act"), "upsampler.act");
    u.finish();
  }
  if (r.get("x2")) g.x2 = stage_from(r, "x2", false, nullptr);
  g.x4 = stage_from(r, "x4", false, nullptr);
  {
    JsonReader t(r.need("tail"), "tail");
    g.hr_conv = t.boolean("hr_conv");
    g.tail_act = g.hr_conv ? act_from(t.need("act"), "tail.act") : Act{};
    if (!g.hr_conv && t.get("act")) {
      Act a = act_from(*t.get("act"), "tail.act");
      if (a.type != ActType::None) throw Error("tail.act: must be {\"type\":\"none\"} when tail.hr_conv is false");
    }
    g.last_conv = t.boolean("last_conv", true);
    t.finish();
  }
  std::string gs = r.choice("global_skip", {"none", "bilinear", "bicubic"});
  g.global_skip = gs == "none" ? GlobalSkip::None : gs == "bilinear" ? GlobalSkip::Bilinear : GlobalSkip::Bicubic;
  {
    JsonReader in(r.need("init"), "init");
    std::string t = in.choice("type", {"kaiming", "pytorch"});
    g.init.type = t == "kaiming" ? InitType::Kaiming : InitType::PyTorch;
    g.init.scale = g.init.type == InitType::Kaiming ? in.number("scale", 1e-6, 10.0, 1.0) : 1.0;
    in.finish();
  }
  r.finish();
  validate(g);
  return g;
}

Genome genome_from_string(const std::string& text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number like 1e999
    throw Error(fmt::format("malformed JSON: {}", e.what()));
  }
  return genome_from_json(j);
}

std::string width_violation(const Block& b, int width) {
  if (b.type == BlockType::IMD && (width % 4 != 0 || width < 4))
    return fmt::format("imd needs a width divisible by 4, got {}", width);
  if (b.type == BlockType::RFDB && width < 4)
    return fmt::format("rfdb needs a width of at least 4 (its attention has width / 4), got {}", width);
  return "";
}

void validate(const Genome& g) {
  auto check_stage = [](const Stage& s, const std::string& name) {
    if (s.width < 1) throw Error(fmt::format("{}.width: expected an integer >= 1, got {}", name, s.width));
    if (s.blocks.size() > 1000)
      throw Error(fmt::format("{}.blocks: at most 1000 blocks per stage, got {}", name, s.blocks.size()));
    for (size_t i = 0; i < s.blocks.size(); ++i) {
      const Block& b = s.blocks[i];
      if (const std::string w = width_violation(b, s.width); !w.empty())
        throw Error(fmt::format("{}.blocks[{}]: {}", name, i, w));
      if (b.type == BlockType::InvRes && (b.expand < 1 || b.expand > 16))
        throw Error(fmt::format("{}.blocks[{}].expand: expected 1..16, got {}", name, i, b.expand));
    }
  };
  check_stage(g.lr, "lr");
  if (g.lr_fuse && g.lr.blocks.empty()) throw Error("lr.fuse: needs at least one LR block (it fuses their outputs)");
  if (g.upsampler == Upsampler::Progressive && !g.x2)
    throw Error("x2: missing; the progressive upsampler needs an x2 stage");
  if (g.upsampler == Upsampler::PixelShuffle4 && g.x2)
    throw Error("x2: not allowed with the pixelshuffle4 upsampler (there is no x2 resolution)");
  if (g.x2) check_stage(*g.x2, "x2");
  check_stage(g.x4, "x4");
  if (!g.last_conv && (g.x4.width != 3 || !g.x4.blocks.empty() || g.hr_conv))
    throw Error(fmt::format(
        "tail.last_conv: false needs x4.width 3, no x4 blocks and no hr_conv (got width {}, {} blocks)", g.x4.width,
        g.x4.blocks.size()));
}

json to_json(const Genome& g) {
  json j;
  j["head"] = {{"act", act_to(g.head_act)}};
  j["lr"] = stage_to(g.lr);
  j["lr"]["long_skip"] = g.long_skip;
  if (g.lr_fuse) j["lr"]["fuse"] = {{"act", act_to(*g.lr_fuse)}};
  j["upsampler"] = {{"type", g.upsampler == Upsampler::Progressive ? "progressive" : "pixelshuffle4"},
                    {"act", act_to(g.up_act)}};
  if (g.x2) j["x2"] = stage_to(*g.x2);
  j["x4"] = stage_to(g.x4);
  j["tail"] = {{"hr_conv", g.hr_conv}, {"act", act_to(g.tail_act)}, {"last_conv", g.last_conv}};
  j["global_skip"] = g.global_skip == GlobalSkip::None ? "none" : g.global_skip == GlobalSkip::Bilinear ? "bilinear" : "bicubic";
  j["init"] = g.init.type == InitType::Kaiming ? json{{"type", "kaiming"}, {"scale", g.init.scale}}
                                               : json{{"type", "pytorch"}};
  return j;
}

std::string canonical_json(const Genome& g) { return to_json(g).dump(); }

std::string genome_hash(const Genome& g) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a 64
  for (unsigned char c : canonical_json(g)) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return fmt::format("{:016x}", h);
}

}  // namespace srnas
