// Builder: Genome -> LibTorch module (SRNet), the network every trainer, evaluator and
// exporter runs.
//
// Contract: SRNet(genome) registers parameters under the names accounting.h lists
// ("head", "lr.blocks.3.conv1", "up.0", "x2.blocks.0.dw", "hr_conv", "last_conv", ...),
// so analytic and built parameter counts agree layer by layer. Input N x 3 x h x w
// (RGB in [0,1]) -> output N x 3 x 4h x 4w (not clamped). Initialisation follows the
// genome's init (kaiming x scale, biases 0, as BasicSR; or PyTorch's defaults) and
// draws from LibTorch's global generator: seed it (torch::manual_seed) for
// reproducible weights.
#pragma once

#include <torch/torch.h>

#include "search_space/blocks.h"
#include "search_space/genome.h"

namespace srnas {

class StageNetImpl : public torch::nn::Module {
 public:
  StageNetImpl(const Stage& s, bool trunk, std::optional<Act> fuse = std::nullopt);
  // blocks (with fuse: act(fuse(cat(every block's output)))), then (if trunk) x + trunk(...)
  torch::Tensor forward(torch::Tensor x);

 private:
  torch::nn::ModuleList blocks_{nullptr};
  std::vector<std::shared_ptr<BlockImpl>> list_;
  torch::nn::Conv2d fuse_{nullptr}, trunk_{nullptr};
  Act fuse_act_;
};
TORCH_MODULE(StageNet);

class SRNetImpl : public torch::nn::Module {
 public:
  explicit SRNetImpl(const Genome& g);
  torch::Tensor forward(torch::Tensor x);
  const Genome& genome() const { return g_; }

 private:
  Genome g_;
  torch::nn::Conv2d head_{nullptr}, hr_conv_{nullptr}, last_conv_{nullptr};
  StageNet lr_{nullptr}, x2_{nullptr}, x4_{nullptr};
  torch::nn::ModuleList up_{nullptr};
  std::vector<torch::nn::Conv2d> up_convs_;
};
TORCH_MODULE(SRNet);

int64_t count_module_params(const torch::nn::Module& m);

}  // namespace srnas
