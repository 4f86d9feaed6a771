#include "search_space/space.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "search_space/error.h"
#include "search_space/json_reader.h"
#include "search_space/registry.h"
#include "search_space/yaml_json.h"

namespace srnas {

namespace {

// ---- reading gene domains from the space's YAML -------------------------------------

// A list of integers [a, b, ...] or a range {min, max} (inclusive).
std::vector<int> int_domain(JsonReader& r, const std::string& key, int lo, int hi) {
  const json& v = r.need(key);
  std::vector<int> out;
  if (v.is_array()) {
    for (size_t i = 0; i < v.size(); ++i) {
      if (!v[i].is_number_integer() || v[i].get<long long>() < lo || v[i].get<long long>() > hi)
        throw Error(fmt::format("{}[{}]: expected an integer in [{}, {}], got {}", r.sub(key), i, lo, hi,
                                JsonReader::kind(v[i])));
      out.push_back(v[i].get<int>());
    }
  } else {
    JsonReader rr(v, r.sub(key));
    int mn = rr.integer("min", lo, hi), mx = rr.integer("max", lo, hi);
    rr.finish();
    if (mx < mn) throw Error(fmt::format("{}: max {} < min {}", r.sub(key), mx, mn));
    for (int x = mn; x <= mx; ++x) out.push_back(x);
  }
  if (out.empty()) throw Error(fmt::format("{}: expected at least one value", r.sub(key)));
  return out;
}

std::vector<bool> bool_domain(JsonReader& r, const std::string& key) {
  const json& v = r.need(key);
  if (v.is_boolean()) return {v.get<bool>()};
  std::vector<bool> out;
  if (!v.is_array() || v.empty()) throw Error(fmt::format("{}: expected a list of true/false", r.sub(key)));
  for (const auto& x : v) {
    if (!x.is_boolean()) throw Error(fmt::format("{}: expected true/false, got {}", r.sub(key), JsonReader::kind(x)));
    out.push_back(x.get<bool>());
  }
  return out;
}

std::vector<std::string> str_domain(JsonReader& r, const std::string& key, const std::vector<std::string>& allowed) {
  const json& v = r.need(key);
  std::vector<std::string> out;
  if (!v.is_array() || v.empty()) throw Error(fmt::format("{}: expected a non-empty list", r.sub(key)));
  for (const auto& x : v) {
    if (!x.is_string() || std::find(allowed.begin(), allowed.end(), x.get<std::string>()) == allowed.end())
      throw Error(fmt::format("{}: expected values in {{{}}}, got {}", r.sub(key), fmt::join(allowed, ", "),
                              JsonReader::kind(x)));
    out.push_back(x.get<std::string>());
  }
  return out;
}

std::vector<Block> block_domain(JsonReader& r, const std::string& key) {
  const json& v = r.need(key);
  if (!v.is_array() || v.empty()) throw Error(fmt::format("{}: expected a non-empty list of blocks", r.sub(key)));
  std::vector<Block> out;
  for (size_t i = 0; i < v.size(); ++i) out.push_back(block_from_json(v[i], fmt::format("{}[{}]", r.sub(key), i)));
  return out;
}

template <class T>
std::vector<std::string> labels(const std::vector<T>& xs) {
  std::vector<std::string> out;
  for (const auto& x : xs) out.push_back(fmt::format("{}", x));
  return out;
}
std::vector<std::string> labels(const std::vector<Block>& xs) {
  std::vector<std::string> out;
  for (const auto& x : xs) out.push_back(describe(x));
  return out;
}

template <class T>
int index_of(const std::vector<T>& xs, const T& x, const std::string& what) {
  auto it = std::find(xs.begin(), xs.end(), x);
  if (it == xs.end()) throw Error(fmt::format("{} is not a value of this space", what));
  return int(it - xs.begin());
}

int block_index(const std::vector<Block>& xs, const Block& b, const std::string& where) {
  auto it = std::find(xs.begin(), xs.end(), b);
  if (it == xs.end())
    throw Error(fmt::format("{}: block {} is not one of {{{}}}", where, describe(b), fmt::join(labels(xs), ", ")));
  return int(it - xs.begin());
}

// Every block choice must run at every width the space gives its stage (width_violation), or
// the space would sample genomes validate() refuses. `stage` names the widths in the error.
void require_widths(const std::vector<Block>& blocks, const std::vector<int>& widths, const std::string& where,
                    const std::string& stage) {
  for (const auto& b : blocks)
    for (int w : widths)
      if (const std::string v = width_violation(b, w); !v.empty())
        throw Error(fmt::format("{}: block {} in {}: {}", where, describe(b), stage, v));
}

bool any_positive(const std::vector<int>& counts) {
  return std::any_of(counts.begin(), counts.end(), [](int n) { return n > 0; });
}

Genome base_genome(JsonReader& r) {
  std::string base = "msrresnet";
  if (const json* b = r.get("base")) {
    if (!b->is_string()) throw Error(r.sub("base") + ": expected an architecture name or file");
    base = b->get<std::string>();
  }
  return load_arch(base).genome;
}

// ---- krahaon: conv_first(x) -> nx blocks -> up(4y) -> ny blocks(y) -> up(4z) -> nz blocks(z) -> conv(z,3)

class KrahaonSpace : public Space {
 public:
  explicit KrahaonSpace(JsonReader& r) {
    base_ = base_genome(r);
    x_ = int_domain(r, "x", 1, 4096);
    ydiv_ = int_domain(r, "y_div", 1, 64);
    zdiv_ = int_domain(r, "z_div", 1, 64);
    nx_ = int_domain(r, "nx", 0, 1000);
    ny_ = int_domain(r, "ny", 0, 1000);
    nz_ = int_domain(r, "nz", 0, 1000);
    block_ = block_from_json(r.need("block"), r.sub("block"));
    hr_conv_ = r.boolean("hr_conv", false);
    for (int x : x_)
      for (int a : ydiv_)
        for (int b : zdiv_)
          if (x % a || (x / a) % b || x / a / b < 1)
            throw Error(fmt::format("x={} with y_div={}, z_div={} gives a non-integer width", x, a, b));
    // The widths each stage reaches, for the stages that can have blocks.
    std::vector<int> xs, ys, zs;
    for (int x : x_)
      for (int a : ydiv_)
        for (int b : zdiv_) xs.push_back(x), ys.push_back(x / a), zs.push_back(x / a / b);
    const std::vector<Block> one = {block_};
    if (any_positive(nx_)) require_widths(one, xs, r.sub("block"), "the LR stage (width x)");
    if (any_positive(ny_)) require_widths(one, ys, r.sub("block"), "the x2 stage (width y = x / y_div)");
    if (any_positive(nz_)) require_widths(one, zs, r.sub("block"), "the x4 stage (width z = y / z_div)");
    genes_ = {{"x", labels(x_)},   {"y_div", labels(ydiv_)}, {"z_div", labels(zdiv_)},
              {"nx", labels(nx_)}, {"ny", labels(ny_)},      {"nz", labels(nz_)}};
  }
  Genome decode(const std::vector<int>& v) const override {
    check_values(v);
    Genome g = base_;
    int x = x_[v[0]], y = x / ydiv_[v[1]], z = y / zdiv_[v[2]];
    g.lr = {x, std::vector<Block>(nx_[v[3]], block_)};
    g.long_skip = false;
    g.lr_fuse.reset();  // krahaon's trunk has no fuse, whatever the base arch has
    g.upsampler = Upsampler::Progressive;
    g.x2 = Stage{y, std::vector<Block>(ny_[v[4]], block_)};
    g.x4 = {z, std::vector<Block>(nz_[v[5]], block_)};
    g.hr_conv = hr_conv_;
    if (!hr_conv_) g.tail_act = Act{};
    g.last_conv = true;
    return g;
  }
  std::vector<int> encode(const Genome& g) const override {
    if (g.upsampler != Upsampler::Progressive || !g.x2) throw Error("upsampler: krahaon needs the progressive upsampler");
    int x = g.lr.width, y = g.x2->width, z = g.x4.width;
    std::vector<int> v(6);
    v[0] = index_of(x_, x, fmt::format("lr.width (x) {}", x));
    if (y == 0 || x % y || std::find(ydiv_.begin(), ydiv_.end(), x / y) == ydiv_.end())
      throw Error(fmt::format("x2.width (y) {} is not one of x/{{{}}} for x={}", y, fmt::join(ydiv_, ", "), x));
    v[1] = index_of(ydiv_, x / y, "y");
    if (z == 0 || y % z || std::find(zdiv_.begin(), zdiv_.end(), y / z) == zdiv_.end())
      throw Error(fmt::format("x4.width (z) {} is not one of y/{{{}}} for y={}", z, fmt::join(zdiv_, ", "), y));
    v[2] = index_of(zdiv_, y / z, "z");
    v[3] = index_of(nx_, int(g.lr.blocks.size()), fmt::format("nx {}", g.lr.blocks.size()));
    v[4] = index_of(ny_, int(g.x2->blocks.size()), fmt::format("ny {}", g.x2->blocks.size()));
    v[5] = index_of(nz_, int(g.x4.blocks.size()), fmt::format("nz {}", g.x4.blocks.size()));
    return v;
  }

 private:
  Genome base_;
  std::vector<int> x_, ydiv_, zdiv_, nx_, ny_, nz_;
  Block block_;
  bool hr_conv_ = false;
};

// ---- neptuneai: a fixed trunk whose LR-stage blocks are each chosen from a list

class NeptuneSpace : public Space {
 public:
  explicit NeptuneSpace(JsonReader& r) {
    base_ = base_genome(r);
    slots_ = r.integer("slots", 1, 1000);
    choices_ = block_domain(r, "choices");
    require_widths(choices_, {base_.lr.width}, r.sub("choices"), "the base arch's LR stage");
    for (int i = 0; i < slots_; ++i) genes_.push_back({fmt::format("block_{}", i), labels(choices_)});
  }
  Genome decode(const std::vector<int>& v) const override {
    check_values(v);
    Genome g = base_;
    g.lr.blocks.clear();
    for (int i = 0; i < slots_; ++i) g.lr.blocks.push_back(choices_[v[i]]);
    return g;
  }
  std::vector<int> encode(const Genome& g) const override {
    if (int(g.lr.blocks.size()) != slots_)
      throw Error(fmt::format("lr.blocks: expected {} blocks, got {}", slots_, g.lr.blocks.size()));
    std::vector<int> v;
    for (int i = 0; i < slots_; ++i) v.push_back(block_index(choices_, g.lr.blocks[i], fmt::format("lr.blocks[{}]", i)));
    return v;
  }

 private:
  Genome base_;
  int slots_ = 0;
  std::vector<Block> choices_;
};

// ---- unified: every block type, widths, counts, upsampler and skips

class UnifiedSpace : public Space {
 public:
  explicit UnifiedSpace(JsonReader& r) {
    base_ = base_genome(r);
    lr_width_ = int_domain(r, "lr_width", 1, 4096);
    lr_blocks_ = int_domain(r, "lr_blocks", 0, 1000);
    long_skip_ = bool_domain(r, "long_skip");
    upsampler_ = str_domain(r, "upsampler", {"progressive", "pixelshuffle4"});
    x2_width_ = int_domain(r, "x2_width", 1, 4096);
    x2_blocks_ = int_domain(r, "x2_blocks", 0, 1000);
    x4_width_ = int_domain(r, "x4_width", 1, 4096);
    x4_blocks_ = int_domain(r, "x4_blocks", 0, 1000);
    hr_conv_ = bool_domain(r, "hr_conv");
    global_skip_ = str_domain(r, "global_skip", {"none", "bilinear", "bicubic"});
    lr_choices_ = block_domain(r, "lr_choices");
    hr_choices_ = block_domain(r, "hr_choices");
    if (any_positive(lr_blocks_)) require_widths(lr_choices_, lr_width_, r.sub("lr_choices"), "lr_width");
    const bool progressive = std::find(upsampler_.begin(), upsampler_.end(), "progressive") != upsampler_.end();
    if (progressive && any_positive(x2_blocks_)) require_widths(hr_choices_, x2_width_, r.sub("hr_choices"), "x2_width");
    if (any_positive(x4_blocks_)) require_widths(hr_choices_, x4_width_, r.sub("hr_choices"), "x4_width");
    genes_ = {{"lr_width", labels(lr_width_)},   {"lr_blocks", labels(lr_blocks_)},
              {"long_skip", labels(long_skip_)}, {"upsampler", upsampler_},
              {"x2_width", labels(x2_width_)},   {"x2_blocks", labels(x2_blocks_)},
              {"x4_width", labels(x4_width_)},   {"x4_blocks", labels(x4_blocks_)},
              {"hr_conv", labels(hr_conv_)},     {"global_skip", global_skip_}};
    max_lr_ = *std::max_element(lr_blocks_.begin(), lr_blocks_.end());
    max_x2_ = *std::max_element(x2_blocks_.begin(), x2_blocks_.end());
    max_x4_ = *std::max_element(x4_blocks_.begin(), x4_blocks_.end());
    for (int i = 0; i < max_lr_; ++i) genes_.push_back({fmt::format("lr_block_{}", i), labels(lr_choices_)});
    for (int i = 0; i < max_x2_; ++i) genes_.push_back({fmt::format("x2_block_{}", i), labels(hr_choices_)});
    for (int i = 0; i < max_x4_; ++i) genes_.push_back({fmt::format("x4_block_{}", i), labels(hr_choices_)});
    // Optional, and last, so spaces without it keep their genes and encodings.
    if (r.get("lr_fuse")) {
      lr_fuse_ = bool_domain(r, "lr_fuse");
      genes_.push_back({"lr_fuse", labels(lr_fuse_)});
    }
  }
  Genome decode(const std::vector<int>& v) const override {
    check_values(v);
    Genome g = base_;
    size_t slot = 10;
    g.lr = {lr_width_[v[0]], {}};
    for (int i = 0; i < max_lr_; ++i, ++slot)
      if (i < lr_blocks_[v[1]]) g.lr.blocks.push_back(lr_choices_[v[slot]]);
    g.long_skip = long_skip_[v[2]];
    g.upsampler = upsampler_[v[3]] == "progressive" ? Upsampler::Progressive : Upsampler::PixelShuffle4;
    g.x2.reset();
    if (g.upsampler == Upsampler::Progressive) g.x2 = Stage{x2_width_[v[4]], {}};
    for (int i = 0; i < max_x2_; ++i, ++slot)
      if (g.x2 && i < x2_blocks_[v[5]]) g.x2->blocks.push_back(hr_choices_[v[slot]]);
    g.x4 = {x4_width_[v[6]], {}};
    for (int i = 0; i < max_x4_; ++i, ++slot)
      if (i < x4_blocks_[v[7]]) g.x4.blocks.push_back(hr_choices_[v[slot]]);
    g.hr_conv = hr_conv_[v[8]];
    if (g.hr_conv && g.tail_act.type == ActType::None) g.tail_act = g.up_act;
    if (!g.hr_conv) g.tail_act = Act{};
    g.last_conv = true;
    const std::string& gs = global_skip_[v[9]];
    g.global_skip = gs == "none" ? GlobalSkip::None : gs == "bilinear" ? GlobalSkip::Bilinear : GlobalSkip::Bicubic;
    g.lr_fuse.reset();
    if (!lr_fuse_.empty() && lr_fuse_[v.back()] && !g.lr.blocks.empty()) g.lr_fuse = Act{ActType::LeakyReLU, 0.05};
    return g;
  }
  std::vector<int> encode(const Genome& g) const override {
    std::vector<int> v(genes_.size(), 0);
    v[0] = index_of(lr_width_, g.lr.width, fmt::format("lr.width {}", g.lr.width));
    v[1] = index_of(lr_blocks_, int(g.lr.blocks.size()), fmt::format("lr block count {}", g.lr.blocks.size()));
    v[2] = index_of(long_skip_, g.long_skip, "long_skip");
    v[3] = g.upsampler == Upsampler::Progressive
               ? index_of(upsampler_, std::string("progressive"), "upsampler progressive")
               : index_of(upsampler_, std::string("pixelshuffle4"), "upsampler pixelshuffle4");
    size_t slot = 10;
    for (size_t i = 0; i < g.lr.blocks.size(); ++i)
      v[slot + i] = block_index(lr_choices_, g.lr.blocks[i], fmt::format("lr.blocks[{}]", i));
    slot += max_lr_;
    if (g.x2) {
      v[4] = index_of(x2_width_, g.x2->width, fmt::format("x2.width {}", g.x2->width));
      v[5] = index_of(x2_blocks_, int(g.x2->blocks.size()), fmt::format("x2 block count {}", g.x2->blocks.size()));
      for (size_t i = 0; i < g.x2->blocks.size(); ++i)
        v[slot + i] = block_index(hr_choices_, g.x2->blocks[i], fmt::format("x2.blocks[{}]", i));
    }
    slot += max_x2_;
    v[6] = index_of(x4_width_, g.x4.width, fmt::format("x4.width {}", g.x4.width));
    v[7] = index_of(x4_blocks_, int(g.x4.blocks.size()), fmt::format("x4 block count {}", g.x4.blocks.size()));
    for (size_t i = 0; i < g.x4.blocks.size(); ++i)
      v[slot + i] = block_index(hr_choices_, g.x4.blocks[i], fmt::format("x4.blocks[{}]", i));
    v[8] = index_of(hr_conv_, g.hr_conv, "hr_conv");
    const char* gs = g.global_skip == GlobalSkip::None ? "none" : g.global_skip == GlobalSkip::Bilinear ? "bilinear" : "bicubic";
    v[9] = index_of(global_skip_, std::string(gs), fmt::format("global_skip {}", gs));
    if (!lr_fuse_.empty()) {
      if (g.lr_fuse && !(*g.lr_fuse == Act{ActType::LeakyReLU, 0.05}))
        throw Error("lr.fuse: this space fuses with LeakyReLU(0.05) only");
      // Without LR blocks there is nothing to fuse and the gene has no effect (decode drops the
      // fuse): any value of it encodes the genome, as x2's genes do under pixelshuffle4.
      if (!g.lr.blocks.empty() || g.lr_fuse)
        v.back() = index_of(lr_fuse_, bool(g.lr_fuse), fmt::format("lr_fuse {}", bool(g.lr_fuse)));
    }
    return v;
  }

 private:
  Genome base_;
  std::vector<int> lr_width_, lr_blocks_, x2_width_, x2_blocks_, x4_width_, x4_blocks_;
  std::vector<bool> long_skip_, hr_conv_, lr_fuse_;  // lr_fuse_ empty: the space has no such gene
  std::vector<std::string> upsampler_, global_skip_;
  std::vector<Block> lr_choices_, hr_choices_;
  int max_lr_ = 0, max_x2_ = 0, max_x4_ = 0;
};

}  // namespace

void Space::check_values(const std::vector<int>& v) const {
  if (v.size() != genes_.size())
    throw Error(fmt::format("space {}: expected {} gene values, got {}", name_, genes_.size(), v.size()));
  for (size_t i = 0; i < v.size(); ++i)
    if (v[i] < 0 || v[i] >= int(genes_[i].labels.size()))
      throw Error(fmt::format("space {}: gene {} value {} out of range [0, {})", name_, genes_[i].name, v[i],
                              genes_[i].labels.size()));
}

std::vector<int> Space::sample_values(Rng& rng) const {
  std::vector<int> v;
  for (const auto& g : genes_) v.push_back(int(rng.below(g.labels.size())));
  return v;
}

Genome Space::sample(Rng& rng) const { return decode(sample_values(rng)); }

Genome Space::mutate(const Genome& g, Rng& rng) const {
  std::vector<int> v = encode(g);
  std::vector<size_t> candidates;
  for (size_t i = 0; i < genes_.size(); ++i)
    if (genes_[i].labels.size() > 1) candidates.push_back(i);
  // Genes that do not affect g (e.g. unused block slots) are skipped: draw a gene and a
  // new value; if the genome is unchanged, drop that gene and draw again.
  while (!candidates.empty()) {
    size_t k = rng.below(candidates.size());
    size_t gi = candidates[k];
    std::vector<int> w = v;
    int n = int(genes_[gi].labels.size());
    int nv = int(rng.below(n - 1));
    w[gi] = nv >= v[gi] ? nv + 1 : nv;
    Genome m = decode(w);
    if (m != g) return m;
    candidates.erase(candidates.begin() + k);
  }
  throw Error(fmt::format("space {}: genome has no gene that can change", name_));
}

void Space::validate(const Genome& g) const {
  try {
    std::vector<int> v = encode(g);
    if (decode(v) != g) {
      // Same genes, different fixed parts (acts, init, tail, skips): name the first difference.
      nlohmann::json a = to_json(g), b = to_json(decode(v));
      for (auto it = b.begin(); it != b.end(); ++it)
        if (!a.contains(it.key()) || a[it.key()] != it.value())
          throw Error(fmt::format("{}: expected {} as fixed by the space, got {}", it.key(), it.value().dump(),
                                  a.contains(it.key()) ? a[it.key()].dump() : "nothing"));
      throw Error("differs from the space's fixed parts");
    }
  } catch (const Error& e) {
    throw Error(fmt::format("genome not in space '{}': {}", name_, e.what()));
  }
}

bool Space::contains(const Genome& g) const {
  try {
    validate(g);
    return true;
  } catch (const Error&) {
    return false;
  }
}

std::unique_ptr<Space> Space::load(const std::string& name_or_file) {
  ConfigText c = resolve_config("spaces", name_or_file);
  try {
    json j = yaml_to_json(c.text, c.origin);
    JsonReader r(j, "space");
    std::string kind = r.choice("kind", {"krahaon", "neptuneai", "unified"});
    if (const json* d = r.get("description"); d && !d->is_string()) throw Error("description: expected a string");
    std::unique_ptr<Space> s;
    if (kind == "krahaon") s = std::make_unique<KrahaonSpace>(r);
    if (kind == "neptuneai") s = std::make_unique<NeptuneSpace>(r);
    if (kind == "unified") s = std::make_unique<UnifiedSpace>(r);
    r.finish();
    s->name_ = c.name;
    s->kind_ = kind;
    return s;
  } catch (const Error& e) {
    if (std::string(e.what()).rfind(c.origin, 0) == 0) throw;
    rethrow_with(c.origin, e);
  }
}

}  // namespace srnas
