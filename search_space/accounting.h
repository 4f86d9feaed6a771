// Accounting: parameters and multiply-accumulates of a Genome, computed analytically
// (no LibTorch, microseconds), layer by layer.
//
// Contract: layer names and parameter counts equal the built module's
// named_parameters() (the builder tests assert it for every genome of every space).
// MACs count the multiply-accumulates of convolutions and of the SE block's 1x1
// squeeze/excite layers for one image of lr_h x lr_w pixels (RLFB's attention convs at the
// sizes they run at: esa_size()); activations, additions, PixelShuffle, pooling and
// interpolations are not counted (the field's convention). FLOPs = 2 * MACs.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "search_space/genome.h"

namespace srnas {

struct LayerInfo {
  std::string name;    // module path, e.g. "lr.blocks.3.conv1"
  std::string kind;    // "conv", "dwconv" (grouped), "scale" (learnable scalar)
  int in_ch = 0, out_ch = 0, kernel = 0, groups = 1, dilation = 1;
  int res = 1;         // resolution multiplier vs LR input: 1, 2 or 4 (0: per image, after pooling)
  int stride = 1;
  int padding = -1;    // -1: "same", dilation * (kernel - 1) / 2
  int esa_level = 0;   // RLFB's attention: 0 at res; 1 after its stride-2 conv; 2 after its max pool
  bool bias = true;
  int64_t params = 0;
  int64_t macs = 0;    // for the lr size given to account()
};

// The padding a conv layer runs with: its own, or "same" (dilation * (kernel - 1) / 2).
inline int conv_padding(const LayerInfo& l) { return l.padding >= 0 ? l.padding : l.dilation * (l.kernel - 1) / 2; }

struct Accounting {
  std::vector<LayerInfo> layers;
  int64_t params = 0;
  int64_t macs = 0;
  int lr_h = 0, lr_w = 0;
};

Accounting account(const Genome& g, int lr_h, int lr_w);

// RLFB's enhanced spatial attention (RLFN's ESA) on an h x w input: its stride-2 3x3 conv
// (no padding) gives level 1, then a max pool (kernel min(7, level-1 size), stride 3) level 2;
// RLFN's kernel 7 needs inputs of at least 15 px, smaller ones pool with a smaller kernel.
// A side under 3 px gives 0 at both levels. Returns {h1, w1, h2, w2}.
std::array<int, 4> esa_size(int h, int w);
int64_t count_params(const Genome& g);

// An upper bound on how far, in LR pixels, the inputs of the output pixels of one LR pixel
// reach: the convolutions' dilation * (k - 1) / 2 summed per resolution and carried down
// through each PixelShuffle (ceil(r / 2)), at least the global skip's reach (bicubic 2,
// bilinear 1). -1 (unbounded) when a layer sees a whole-image pool (SE) or ESA's pooled map (RLFB). Tiled
// inference with this much context around each LR tile equals one whole-image pass.
int receptive_radius(const Genome& g);

}  // namespace srnas
