// Conv3XC re-parameterisation: which convs, the fusion, apply/bake.
#include "trainer/reparam.h"

#include <algorithm>

#include <fmt/format.h>

#include "search_space/accounting.h"
#include "search_space/error.h"

namespace srnas {

std::pair<torch::Tensor, torch::Tensor> fuse_conv3xc(const torch::Tensor& w1, const torch::Tensor& b1,
                                                     const torch::Tensor& w2, const torch::Tensor& b2,
                                                     const torch::Tensor& w3, const torch::Tensor& b3,
                                                     const torch::Tensor& wsk, const torch::Tensor& bsk) {
  using torch::indexing::Slice;
  const torch::Tensor m1 = w1.flatten(1);  // [gc, c]
  const torch::Tensor m3 = w3.flatten(1);  // [o, go]
  // 1x1 then 3x3: K12[p, i, u, v] = sum_m w2[p, m, u, v] w1[m, i]; the 1x1's bias reaches all
  // nine taps (Conv3XC pads the input, so the padded pixels carry b1 too).
  const torch::Tensor k12 = torch::einsum("pmuv,mi->piuv", {w2, m1});
  const torch::Tensor b12 = w2.sum({2, 3}).matmul(b1) + b2;
  torch::Tensor k = torch::einsum("op,piuv->oiuv", {m3, k12});
  torch::Tensor b = m3.matmul(b12) + b3;
  k = k + torch::constant_pad_nd(wsk, {1, 1, 1, 1}, 0);  // the shortcut: the centre tap
  return {k, b + bsk};
}

Conv3XCReparamImpl::Conv3XCReparamImpl(SRNet& net, const Genome& genome, int gain) : net_(net) {
  if (gain < 1 || gain > 4) throw Error(fmt::format("options.reparam.gain: expected 1..4, got {}", gain));
  const Accounting acc = account(genome, 64, 64);
  const auto modules = net->named_modules();
  for (const LayerInfo& l : acc.layers) {
    const bool lr_side = l.name == "head" || l.name.rfind("lr.", 0) == 0;
    if (!lr_side || l.kind != "conv" || l.kernel != 3 || l.stride != 1 || l.dilation != 1 || l.groups != 1 ||
        conv_padding(l) != 1)
      continue;
    const auto* found = modules.find(l.name);
    if (!found) throw Error(fmt::format("options.reparam: no module {} in the network", l.name));
    Expanded e;
    e.target = torch::nn::Conv2d(std::dynamic_pointer_cast<torch::nn::Conv2dImpl>(*found));
    if (e.target.is_empty()) throw Error(fmt::format("options.reparam: {} is not a conv", l.name));
    const int c = l.in_ch, o = l.out_ch;
    std::string key = l.name;
    std::replace(key.begin(), key.end(), '.', '_');
    auto holder = register_module(key, std::make_shared<torch::nn::Module>());
    auto conv = [&](int in, int out, int kernel) { return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel)); };
    e.sk = holder->register_module("sk", conv(c, o, 1));
    e.c1 = holder->register_module("conv_0", conv(c, gain * c, 1));
    e.c2 = holder->register_module("conv_1", conv(gain * c, gain * o, 3));
    e.c3 = holder->register_module("conv_2", conv(gain * o, o, 1));
    // Start at the scale the genome's init gave this conv (BasicSR's 0.1-scaled Kaiming keeps
    // deep residual branches small): the fused kernel is linear in the last 1x1 and the
    // shortcut, so scaling both (and their biases) scales the fused conv.
    {
      torch::NoGradGuard no_grad;
      const torch::Tensor k = fuse_conv3xc(e.c1->weight, e.c1->bias, e.c2->weight, e.c2->bias, e.c3->weight,
                                           e.c3->bias, e.sk->weight, e.sk->bias).first;
      const double want = e.target->weight.norm().item<double>(), have = k.norm().item<double>();
      if (have > 0 && want > 0) {
        const double a = want / have;
        for (auto* t : {&e.c3->weight, &e.c3->bias, &e.sk->weight, &e.sk->bias}) t->mul_(a);
      }
    }
    convs_.push_back(e);
    names_.push_back(l.name);
  }
  if (convs_.empty())
    throw Error("options.reparam: the network has no dense 3x3 stride-1 conv at LR resolution to re-parameterise");
  to(net->parameters().front().device());
}

void Conv3XCReparamImpl::apply() {
  for (Expanded& e : convs_) {
    auto [k, b] = fuse_conv3xc(e.c1->weight, e.c1->bias, e.c2->weight, e.c2->bias, e.c3->weight, e.c3->bias,
                               e.sk->weight, e.sk->bias);
    e.target->weight = k;
    e.target->bias = b;
  }
}

void Conv3XCReparamImpl::bake() {
  torch::NoGradGuard no_grad;
  for (Expanded& e : convs_) {
    auto [k, b] = fuse_conv3xc(e.c1->weight, e.c1->bias, e.c2->weight, e.c2->bias, e.c3->weight, e.c3->bias,
                               e.sk->weight, e.sk->bias);
    auto own = e.target->named_parameters(/*recurse=*/false);
    own["weight"].copy_(k);
    own["bias"].copy_(b);
    e.target->weight = own["weight"];
    e.target->bias = own["bias"];
  }
}

std::vector<torch::Tensor> Conv3XCReparamImpl::trainable() {
  std::vector<const void*> fused;
  for (Expanded& e : convs_)
    for (const auto& p : e.target->named_parameters(false)) fused.push_back(p.value().unsafeGetTensorImpl());
  std::vector<torch::Tensor> out;
  for (const torch::Tensor& p : net_->parameters())
    if (std::find(fused.begin(), fused.end(), p.unsafeGetTensorImpl()) == fused.end()) out.push_back(p);
  for (const torch::Tensor& p : parameters()) out.push_back(p);
  return out;
}

}  // namespace srnas
