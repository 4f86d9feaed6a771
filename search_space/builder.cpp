#include "search_space/builder.h"

namespace srnas {

namespace F = torch::nn::functional;

StageNetImpl::StageNetImpl(const Stage& s, bool trunk, std::optional<Act> fuse) {
  blocks_ = register_module("blocks", torch::nn::ModuleList());
  for (const auto& b : s.blocks) {
    auto m = make_block(b, s.width);
    blocks_->push_back(m);
    list_.push_back(m);
  }
  if (fuse) {
    fuse_ = register_module("fuse", make_conv(int(s.blocks.size()) * s.width, s.width, 1));
    fuse_act_ = *fuse;
  }
  if (trunk) trunk_ = register_module("trunk", make_conv(s.width, s.width, 3));
}

torch::Tensor StageNetImpl::forward(torch::Tensor x) {
  torch::Tensor y = x;
  std::vector<torch::Tensor> outs;
  for (auto& b : list_) {
    y = b->forward(y);
    if (fuse_) outs.push_back(y);
  }
  if (fuse_) y = apply_act(fuse_(torch::cat(outs, 1)), fuse_act_);
  if (trunk_) y = x + trunk_(y);
  return y;
}

namespace {

void init_weights(torch::nn::Module& net, const Init& init) {
  if (init.type != InitType::Kaiming) return;  // LibTorch's defaults equal PyTorch's
  torch::NoGradGuard no_grad;
  for (auto& m : net.modules(/*include_self=*/false)) {
    if (auto* conv = m->as<torch::nn::Conv2d>()) {
      // BasicSR default_init_weights: kaiming_normal_(fan_in, a=0), *= scale, bias = 0.
      torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanIn, torch::kLeakyReLU);
      conv->weight.mul_(init.scale);
      if (conv->bias.defined()) conv->bias.zero_();
    }
  }
}

}  // namespace

SRNetImpl::SRNetImpl(const Genome& g) : g_(g) {
  validate(g_);
  head_ = register_module("head", make_conv(3, g.lr.width, 3));
  lr_ = register_module("lr", StageNet(g.lr, g.long_skip, g.lr_fuse));
  up_ = register_module("up", torch::nn::ModuleList());
  if (g.upsampler == Upsampler::Progressive) {
    up_convs_.push_back(make_conv(g.lr.width, 4 * g.x2->width, 3));
    x2_ = register_module("x2", StageNet(*g.x2, false));
    up_convs_.push_back(make_conv(g.x2->width, 4 * g.x4.width, 3));
  } else {
    up_convs_.push_back(make_conv(g.lr.width, 16 * g.x4.width, 3));
  }
  for (auto& c : up_convs_) up_->push_back(c);
  x4_ = register_module("x4", StageNet(g.x4, false));
  if (g.hr_conv) hr_conv_ = register_module("hr_conv", make_conv(g.x4.width, g.x4.width, 3));
  if (g.last_conv) last_conv_ = register_module("last_conv", make_conv(g.x4.width, 3, 3));
  init_weights(*this, g.init);
}

torch::Tensor SRNetImpl::forward(torch::Tensor x) {
  torch::Tensor y = apply_act(head_(x), g_.head_act);
  y = lr_(y);
  if (g_.upsampler == Upsampler::Progressive) {
    y = apply_act(F::pixel_shuffle(up_convs_[0](y), 2), g_.up_act);
    y = x2_(y);
    y = apply_act(F::pixel_shuffle(up_convs_[1](y), 2), g_.up_act);
  } else {
    y = apply_act(F::pixel_shuffle(up_convs_[0](y), 4), g_.up_act);
  }
  y = x4_(y);
  if (hr_conv_) y = apply_act(hr_conv_(y), g_.tail_act);
  if (last_conv_) y = last_conv_(y);
  if (g_.global_skip != GlobalSkip::None) {
    auto opts = F::InterpolateFuncOptions().scale_factor(std::vector<double>{4.0, 4.0}).align_corners(false);
    if (g_.global_skip == GlobalSkip::Bilinear)
      opts.mode(torch::kBilinear);
    else
      opts.mode(torch::kBicubic);
    y = y + F::interpolate(x, opts);
  }
  return y;
}

int64_t count_module_params(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

}  // namespace srnas
