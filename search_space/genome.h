// Genome: the complete, value-typed description of an x4 super-resolution network.
//
// A Genome is what the sampler proposes, the results DB stores (as canonical JSON),
// accounting counts, and the builder turns into a LibTorch module. Shape:
//   head conv 3->lr.width (+act) -> LR stage (blocks, optionally their outputs fused by a
//   1x1 conv, optional long skip with a trunk conv) -> upsampler (progressive: conv+PixelShuffle(2) twice with an x2 stage in
//   between; or pixelshuffle4: one conv+PixelShuffle(4)) -> x4 stage -> tail (optional
//   hr_conv + act, optional last conv ->3) (+ optional bilinear/bicubic global skip).
// Contract: from_json() is strict (unknown keys, wrong types and out-of-range values
// throw srnas::Error naming the JSON path); to_json() is canonical (every field
// explicit, keys sorted), so equal networks have equal canonical_json() and hash().
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace srnas {

enum class ActType { None, ReLU, LeakyReLU };

struct Act {
  ActType type = ActType::None;
  double slope = 0.0;  // LeakyReLU negative slope; 0 for other types
  bool operator==(const Act& o) const { return type == o.type && slope == o.slope; }
};

enum class BlockType {
  ResReLU,     // "res_relu":  x + conv(relu(conv(x)))                  (MSRResNet/EDSR)
  ResLReLU,    // "res_lrelu": x + conv(lrelu(conv(x))), {slope}
  InvRes,      // "ir":        x + pw(relu6(dw3x3(relu6(pw_expand(x))))), {expand}
  IMD,         // "imd":       IMDN's information multi-distillation block, {slope, cca}
  AWRU,        // "awru":      s_res*conv(relu(conv_wide(x))) + s_x*x, {expand}
  Dilated,     // "dilated":   x + dconv(relu(dconv(x))), {dilation}
  SERes,       // "se":        x + SE(conv(hswish(conv(x)))), {reduction}
  DWSepRes,    // "dwsep":     x + pw(dw(relu(pw(dw(x))))), {kernel}
  RLFB,        // "rlfb":      ESA(c5(x + lrelu(c3(lrelu(c2(lrelu(c1(x)))))))), RLFN's block, {slope, esa, mid}
  RFDB,        // "rfdb":      RFDN's residual feature distillation block (1x1 distillations, shallow
               //              residual 3x3s, concat, 1x1, RFDN's ESA at width/4), {slope}
  SPAB,        // "spab":      SPAN's swift parameter-free attention block (NTIRE 2024's efficient-SR
               //              winner): t = c3(silu(c2(silu(c1(x))))), (t + x) * (sigmoid(t) - 0.5)
};
// Every block type, in the enum's order. A new type goes here too: the tests that every type
// is parsed, built, counted, sampled and exported walk this list (README: adding a block type).
inline constexpr std::array<BlockType, 11> kAllBlockTypes = {
    BlockType::ResReLU, BlockType::ResLReLU, BlockType::InvRes,   BlockType::IMD,  BlockType::AWRU,
    BlockType::Dilated, BlockType::SERes,    BlockType::DWSepRes, BlockType::RLFB, BlockType::RFDB,
    BlockType::SPAB};

struct Block {
  BlockType type = BlockType::ResReLU;
  double slope = 0.0;  // res_lrelu (default 0.1), imd, rlfb and rfdb (default 0.05)
  int expand = 0;      // ir (3 or 6 typical, 1..16), awru (1..16)
  int dilation = 0;    // dilated (1..8)
  int reduction = 0;   // se (1..64), hidden = max(1, width / reduction)
  int kernel = 0;      // dwsep (3, 5 or 7)
  int esa = 0;         // rlfb: channels of its enhanced spatial attention (1..256, default 16)
  int mid = 0;         // rlfb: channels between its 3x3 convs (1..4096); 0 = the stage width (default)
  bool cca = false;    // imd: contrast-aware channel attention before its 1x1 (IMDN's journal version);
                       // in the canonical JSON only when true (imd genomes keep their hashes)
  bool operator==(const Block& o) const;
};

struct Stage {
  int width = 0;
  std::vector<Block> blocks;
  bool operator==(const Stage& o) const { return width == o.width && blocks == o.blocks; }
};

enum class Upsampler { Progressive, PixelShuffle4 };
enum class GlobalSkip { None, Bilinear, Bicubic };
enum class InitType { Kaiming, PyTorch };

struct Init {
  InitType type = InitType::PyTorch;
  double scale = 1.0;  // Kaiming: weights *= scale (BasicSR uses 0.1); biases 0
  bool operator==(const Init& o) const { return type == o.type && scale == o.scale; }
};

struct Genome {
  Act head_act;
  Stage lr;
  bool long_skip = false;       // lr output = f + trunk_conv(blocks(f))
  // lr.fuse (IMDN, RFDN): the outputs of every LR block concatenated, a 1x1 conv back to
  // lr.width and this act, then the long skip's trunk. JSON {"fuse": {"act": ...}} in "lr",
  // absent when unset (so genomes without it keep their canonical form and hash).
  std::optional<Act> lr_fuse;
  Upsampler upsampler = Upsampler::Progressive;
  Act up_act;                   // after each PixelShuffle
  std::optional<Stage> x2;      // present iff upsampler == Progressive
  Stage x4;
  bool hr_conv = false;         // conv x4.width->x4.width 3x3 + tail_act
  Act tail_act;
  bool last_conv = true;        // conv x4.width->3 3x3; if false x4.width must be 3
  GlobalSkip global_skip = GlobalSkip::None;
  Init init;

  bool operator==(const Genome& o) const;
  bool operator!=(const Genome& o) const { return !(*this == o); }
};

// Parse (strict; throws srnas::Error with the JSON path, e.g. "lr.blocks[3].expand").
Genome genome_from_json(const nlohmann::json& j);
Genome genome_from_string(const std::string& text);
// Structural validation (widths, block parameters, stage/upsampler consistency).
void validate(const Genome& g);
// Why block b cannot run in a stage of this width ("" when it can): imd needs a multiple of 4,
// rfdb at least 4. validate() and the spaces (at load, for every width they reach) apply it.
std::string width_violation(const Block& b, int width);

nlohmann::json to_json(const Genome& g);
nlohmann::json to_json(const Block& b);
Block block_from_json(const nlohmann::json& j, const std::string& path);
std::string canonical_json(const Genome& g);  // compact, sorted keys
std::string genome_hash(const Genome& g);     // 16 hex digits, FNV-1a 64 of canonical_json

std::string to_string(BlockType t);
std::string describe(const Block& b);  // e.g. "ir(e6)", "res_lrelu(0.1)"

}  // namespace srnas
