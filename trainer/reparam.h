// Training-time re-parameterisation (options.reparam; SPAN's Conv3XC, after RepVGG and ECBSR):
// every dense 3x3 stride-1 conv at LR resolution (the head, the LR blocks and their attention
// convs, the trunk) trains as 1x1 (c -> g c) -> 3x3 (g c -> g g') -> 1x1 (-> c_out) on the
// zero-padded input plus a 1x1 shortcut. That composition is exactly one 3x3 conv, so the
// network keeps its genome: params, MACs, runtime, checkpoints' and exports' weights are the
// deployed network's, and only how its 3x3 weights are reached changes.
//
// Contract: apply() sets each such conv's weight and bias to the fused value of its expanded
// parameters, with autograd (call it before every training forward); bake() writes the fused
// values into the convs' own parameters without autograd (before validating or saving). The
// expanded parameters are children of this module (state for checkpoints); trainable() is
// what the optimizer updates. The expanded convs start from LibTorch's default init, their last
// 1x1 and shortcut scaled so that the fused kernel has the norm the genome's init gave the conv.
// The fused conv equals the expanded form on any input to float
// rounding, border included (Conv3XC pads before its first 1x1, so its bias reaches the border
// taps as the fused bias does).
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "search_space/builder.h"

namespace srnas {

// The fused 3x3 weight [o, c, 3, 3] and bias [o] of a Conv3XC: w1 [gc, c, 1, 1], w2 [go, gc, 3,
// 3], w3 [o, go, 1, 1], wsk [o, c, 1, 1] and their biases.
std::pair<torch::Tensor, torch::Tensor> fuse_conv3xc(const torch::Tensor& w1, const torch::Tensor& b1,
                                                     const torch::Tensor& w2, const torch::Tensor& b2,
                                                     const torch::Tensor& w3, const torch::Tensor& b3,
                                                     const torch::Tensor& wsk, const torch::Tensor& bsk);

class Conv3XCReparamImpl : public torch::nn::Module {
 public:
  // Expands net's eligible convs (their names: conv_names()) by `gain` (1..4); throws naming
  // the option when net has none.
  Conv3XCReparamImpl(SRNet& net, const Genome& genome, int gain);
  void apply();
  void bake();
  std::vector<torch::Tensor> trainable();
  const std::vector<std::string>& conv_names() const { return names_; }

 private:
  struct Expanded {
    torch::nn::Conv2d target{nullptr};  // the network's conv
    torch::nn::Conv2d sk{nullptr}, c1{nullptr}, c2{nullptr}, c3{nullptr};
  };
  SRNet net_;
  std::vector<std::string> names_;
  std::vector<Expanded> convs_;
};
TORCH_MODULE(Conv3XCReparam);

}  // namespace srnas
