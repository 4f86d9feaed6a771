// Block library: one LibTorch module per Genome BlockType (see genome.h for the math).
//
// Contract: child names are those accounting.cpp lists (conv1, conv2, expand, dw, ...),
// every block maps N x w x H x W -> N x w x H x W, and make_block() is the only
// factory (the builder never switches on BlockType itself).
#pragma once

#include <torch/torch.h>

#include "search_space/genome.h"

namespace srnas {

// Base of all blocks so a stage can hold them in one list and call forward().
class BlockImpl : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(torch::Tensor x) = 0;
};

// 3x3 (or k x k) convolution with "same" padding and bias.
torch::nn::Conv2d make_conv(int cin, int cout, int k, int groups = 1, int dilation = 1);
torch::Tensor apply_act(const torch::Tensor& x, const Act& a);

std::shared_ptr<BlockImpl> make_block(const Block& b, int width);

}  // namespace srnas
