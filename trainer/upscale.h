// Upscale: x4 super-resolution of an image of any size with a trained network, tile by tile,
// so a photo does not need the memory of one whole-image pass (srnas upscale).
//
// Contract: upscale() splits the 1 x 3 x h x w LR tensor into tiles of at most tile x tile LR
// pixels, runs f on each with `context` LR pixels of its neighbours on every side (fewer at the
// image border, which a whole-image pass pads the same way) and keeps each tile's own 4x output.
// With context >= receptive_radius(genome) the result equals one whole-image pass to float
// rounding; for networks with an unbounded radius (SE pools the whole input, RLFB most of it) it
// approximates it. tile <= 0, or a tile covering the image: one pass. The output (unclamped,
// 1 x 3 x 4h x 4w) is on lr's device. Throws srnas::Error for a bad shape or context < 0.
#pragma once

#include <torch/torch.h>

#include "trainer/evaluate.h"

namespace srnas {

torch::Tensor upscale(const SRFunction& f, const torch::Tensor& lr, int tile, int context);

// The context upscale() needs for g to equal a whole-image pass (receptive_radius), or
// `fallback` where that is unbounded.
int tile_context(const Genome& g, int fallback);

}  // namespace srnas
