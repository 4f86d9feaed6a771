#include "search_space/blocks.h"

#include <algorithm>

#include <fmt/format.h>

#include "search_space/error.h"

namespace srnas {

namespace F = torch::nn::functional;

torch::nn::Conv2d make_conv(int cin, int cout, int k, int groups, int dilation) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(cin, cout, k)
                               .padding(dilation * (k - 1) / 2)
                               .dilation(dilation)
                               .groups(groups)
                               .bias(true));
}

torch::Tensor apply_act(const torch::Tensor& x, const Act& a) {
  switch (a.type) {
    case ActType::None: return x;
    case ActType::ReLU: return torch::relu(x);
    case ActType::LeakyReLU: return torch::leaky_relu(x, a.slope);
  }
  return x;
}

namespace {

// res_relu, res_lrelu, dilated: x + conv2(act(conv1(x)))
class ResidualImpl : public BlockImpl {
 public:
  ResidualImpl(int w, Act act, int dilation) : act_(act) {
    conv1 = register_module("conv1", make_conv(w, w, 3, 1, dilation));
    conv2 = register_module("conv2", make_conv(w, w, 3, 1, dilation));
  }
  torch::Tensor forward(torch::Tensor x) override { return x + conv2(apply_act(conv1(x), act_)); }
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};

 private:
  Act act_;
};

// MobileNetV2 inverted residual without BN: x + project(relu6(dw(relu6(expand(x)))))
class InvResImpl : public BlockImpl {
 public:
  InvResImpl(int w, int e) {
    expand = register_module("expand", make_conv(w, w * e, 1));
    dw = register_module("dw", make_conv(w * e, w * e, 3, w * e));
    project = register_module("project", make_conv(w * e, w, 1));
  }
  torch::Tensor forward(torch::Tensor x) override {
    return x + project(torch::clamp(dw(torch::clamp(expand(x), 0, 6)), 0, 6));
  }
  torch::nn::Conv2d expand{nullptr}, dw{nullptr}, project{nullptr};
};

// IMDN information multi-distillation block (KAIR IMDBlock, d_rate 0.25). cca: IMDN's
// journal version (Zheng-Hui/IMDN IMDModule), a contrast-aware channel attention (per
// channel std + mean -> 1x1 reduce /16 -> ReLU -> 1x1 expand -> sigmoid) before the 1x1.
class IMDImpl : public BlockImpl {
 public:
  IMDImpl(int w, double slope, bool cca) : d_(w / 4), r_(w - w / 4), slope_(slope) {
    conv1 = register_module("conv1", make_conv(w, w, 3));
    conv2 = register_module("conv2", make_conv(r_, w, 3));
    conv3 = register_module("conv3", make_conv(r_, w, 3));
    conv4 = register_module("conv4", make_conv(r_, d_, 3));
    conv1x1 = register_module("conv1x1", make_conv(4 * d_, w, 1));
    if (cca) {
      const int hidden = std::max<int>(1, int(4 * d_ / 16));
      auto holder = register_module("cca", std::make_shared<torch::nn::Module>());
      cca_reduce = holder->register_module("reduce", make_conv(int(4 * d_), hidden, 1));
      cca_expand = holder->register_module("expand", make_conv(hidden, int(4 * d_), 1));
    }
  }
  torch::Tensor forward(torch::Tensor x) override {
    auto s1 = torch::leaky_relu(conv1(x), slope_).split_with_sizes({d_, r_}, 1);
    auto s2 = torch::leaky_relu(conv2(s1[1]), slope_).split_with_sizes({d_, r_}, 1);
    auto s3 = torch::leaky_relu(conv3(s2[1]), slope_).split_with_sizes({d_, r_}, 1);
    auto d4 = conv4(s3[1]);
    auto t = torch::cat({s1[0], s2[0], s3[0], d4}, 1);
    if (cca_reduce) {
      auto m = torch::mean(t, {2, 3}, /*keepdim=*/true);
      auto s = torch::pow(torch::mean(torch::pow(t - m, 2), {2, 3}, /*keepdim=*/true), 0.5) + m;
      t = t * torch::sigmoid(cca_expand(torch::relu(cca_reduce(s))));
    }
    return x + conv1x1(t);
  }
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr}, conv4{nullptr}, conv1x1{nullptr};
  torch::nn::Conv2d cca_reduce{nullptr}, cca_expand{nullptr};

 private:
  int64_t d_, r_;
  double slope_;
};

// AWSRN adaptive weighted residual unit: res_scale * conv2(relu(conv1(x))) + x_scale * x
class AWRUImpl : public BlockImpl {
 public:
  AWRUImpl(int w, int e) {
    conv1 = register_module("conv1", make_conv(w, w * e, 3));
    conv2 = register_module("conv2", make_conv(w * e, w, 3));
    res_scale = register_parameter("res_scale", torch::ones({1}));
    x_scale = register_parameter("x_scale", torch::ones({1}));
  }
  torch::Tensor forward(torch::Tensor x) override { return res_scale * conv2(torch::relu(conv1(x))) + x_scale * x; }
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::Tensor res_scale, x_scale;
};

torch::Tensor hswish(const torch::Tensor& x) { return x * torch::clamp(x + 3, 0, 6) / 6; }

// Residual block with h-swish and squeeze-excitation (h-sigmoid gate).
class SEResImpl : public BlockImpl {
 public:
  SEResImpl(int w, int reduction) {
    int hidden = std::max(1, w / reduction);
    conv1 = register_module("conv1", make_conv(w, w, 3));
    conv2 = register_module("conv2", make_conv(w, w, 3));
    se_reduce = register_module("se_reduce", make_conv(w, hidden, 1));
    se_expand = register_module("se_expand", make_conv(hidden, w, 1));
  }
  torch::Tensor forward(torch::Tensor x) override {
    auto y = conv2(hswish(conv1(x)));
    auto s = torch::relu(se_reduce(y.mean({2, 3}, /*keepdim=*/true)));
    s = torch::clamp(se_expand(s) + 3, 0, 6) / 6;
    return x + y * s;
  }
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, se_reduce{nullptr}, se_expand{nullptr};
};

// Depthwise-separable residual: x + pw2(dw2(relu(pw1(dw1(x)))))
class DWSepImpl : public BlockImpl {
 public:
  DWSepImpl(int w, int k) {
    dw1 = register_module("dw1", make_conv(w, w, k, w));
    pw1 = register_module("pw1", make_conv(w, w, 1));
    dw2 = register_module("dw2", make_conv(w, w, k, w));
    pw2 = register_module("pw2", make_conv(w, w, 1));
  }
  torch::Tensor forward(torch::Tensor x) override { return x + pw2(dw2(torch::relu(pw1(dw1(x))))); }
  torch::nn::Conv2d dw1{nullptr}, pw1{nullptr}, dw2{nullptr}, pw2{nullptr};
};

// RLFN's enhanced spatial attention (bytedance/RLFN block.py ESA): a sigmoid mask from a
// 1x1 squeeze, a stride-2 3x3 conv, a 7x7/3 max pool, a 3x3 conv, bilinear back up, plus a
// 1x1 of the squeeze, and a 1x1 expand. The pool's kernel shrinks to the map where RLFN's 7
// would not fit (inputs under 15 px; esa_size in accounting.h).
// rfdn: RFDN's original ESA (njulj/RFDN block.py), which RLFN simplified: a 3x3 conv + ReLU
// after the pool (conv_max), and two 3x3 convs (conv3 + ReLU, conv3_) before the upsampling.
class ESAImpl : public torch::nn::Module {
 public:
  ESAImpl(int n_feats, int f, bool rfdn = false) {
    conv1 = register_module("conv1", make_conv(n_feats, f, 1));
    conv_f = register_module("conv_f", make_conv(f, f, 1));
    if (rfdn) conv_max = register_module("conv_max", make_conv(f, f, 3));
    conv2 = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(f, f, 3).stride(2).padding(0).bias(true)));
    conv3 = register_module("conv3", make_conv(f, f, 3));
    if (rfdn) conv3_ = register_module("conv3_", make_conv(f, f, 3));
    conv4 = register_module("conv4", make_conv(f, n_feats, 1));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    if (x.size(2) < 3 || x.size(3) < 3)  // conv2: 3x3, stride 2, no padding
      throw Error(fmt::format("rlfb/rfdb attention (ESA) needs LR inputs of at least 3x3 px, got {}x{}", x.size(2),
                              x.size(3)));
    auto c1_ = conv1(x);
    auto c1 = conv2(c1_);
    const int64_t k = std::min<int64_t>({7, c1.size(2), c1.size(3)});
    auto v = torch::max_pool2d(c1, {k, k}, {3, 3});
    if (conv_max) v = torch::relu(conv_max(v));
    auto c3 = conv3(v);
    if (conv3_) c3 = conv3_(torch::relu(c3));
    c3 = F::interpolate(c3, F::InterpolateFuncOptions()
                                .size(std::vector<int64_t>{x.size(2), x.size(3)})
                                .mode(torch::kBilinear)
                                .align_corners(false));
    return x * torch::sigmoid(conv4(c3 + conv_f(c1_)));
  }
  torch::nn::Conv2d conv1{nullptr}, conv_f{nullptr}, conv_max{nullptr}, conv2{nullptr}, conv3{nullptr},
      conv3_{nullptr}, conv4{nullptr};
};

// RLFN's residual local feature block (bytedance/RLFN block.py RLFB): three 3x3 convs with
// LeakyReLU and a residual, a 1x1, then ESA. Children named as RLFN names them.
class RLFBImpl : public BlockImpl {
 public:
  RLFBImpl(int w, int mid, int esa_channels, double slope) : slope_(slope) {
    const int m = mid > 0 ? mid : w;
    c1_r = register_module("c1_r", make_conv(w, m, 3));
    c2_r = register_module("c2_r", make_conv(m, m, 3));
    c3_r = register_module("c3_r", make_conv(m, w, 3));
    c5 = register_module("c5", make_conv(w, w, 1));
    esa = register_module("esa", std::make_shared<ESAImpl>(w, esa_channels));
  }
  torch::Tensor forward(torch::Tensor x) override {
    auto out = torch::leaky_relu(c1_r(x), slope_);
    out = torch::leaky_relu(c2_r(out), slope_);
    out = torch::leaky_relu(c3_r(out), slope_);
    return esa->forward(c5(out + x));
  }
  torch::nn::Conv2d c1_r{nullptr}, c2_r{nullptr}, c3_r{nullptr}, c5{nullptr};
  std::shared_ptr<ESAImpl> esa;

 private:
  double slope_;
};

// RFDN's residual feature distillation block (njulj/RFDN block.py RFDB): at each of three
// steps a 1x1 distils w/2 channels and a shallow residual 3x3 refines the rest; a last 3x3
// distils too; the four distillations, concatenated, go through a 1x1 and RFDN's ESA. No
// residual around the block (RFDN fuses every block's output after the stage: lr.fuse).
class RFDBImpl : public BlockImpl {
 public:
  RFDBImpl(int w, double slope) : slope_(slope) {
    const int dc = w / 2;
    c1_d = register_module("c1_d", make_conv(w, dc, 1));
    c1_r = register_module("c1_r", make_conv(w, w, 3));
    c2_d = register_module("c2_d", make_conv(w, dc, 1));
    c2_r = register_module("c2_r", make_conv(w, w, 3));
    c3_d = register_module("c3_d", make_conv(w, dc, 1));
    c3_r = register_module("c3_r", make_conv(w, w, 3));
    c4 = register_module("c4", make_conv(w, dc, 3));
    c5 = register_module("c5", make_conv(4 * dc, w, 1));
    esa = register_module("esa", std::make_shared<ESAImpl>(w, w / 4, /*rfdn=*/true));
  }
  torch::Tensor forward(torch::Tensor x) override {
    auto d1 = torch::leaky_relu(c1_d(x), slope_);
    auto r1 = torch::leaky_relu(c1_r(x) + x, slope_);
    auto d2 = torch::leaky_relu(c2_d(r1), slope_);
    auto r2 = torch::leaky_relu(c2_r(r1) + r1, slope_);
    auto d3 = torch::leaky_relu(c3_d(r2), slope_);
    auto r3 = torch::leaky_relu(c3_r(r2) + r2, slope_);
    auto r4 = torch::leaky_relu(c4(r3), slope_);
    return esa->forward(c5(torch::cat({d1, d2, d3, r4}, 1)));
  }
  torch::nn::Conv2d c1_d{nullptr}, c1_r{nullptr}, c2_d{nullptr}, c2_r{nullptr}, c3_d{nullptr}, c3_r{nullptr},
      c4{nullptr}, c5{nullptr};
  std::shared_ptr<ESAImpl> esa;

 private:
  double slope_;
};

// SPAN's swift parameter-free attention block (hongyuanyu/SPAN span_arch.py SPAB, at inference,
// each Conv3XC a 3x3 conv): three 3x3 convs with SiLU between; the last conv's output t is both
// the residual branch and, through sigmoid(t) - 0.5, a parameter-free attention on (t + x).
class SPABImpl : public BlockImpl {
 public:
  explicit SPABImpl(int w) {
    c1_r = register_module("c1_r", make_conv(w, w, 3));
    c2_r = register_module("c2_r", make_conv(w, w, 3));
    c3_r = register_module("c3_r", make_conv(w, w, 3));
  }
  torch::Tensor forward(torch::Tensor x) override {
    auto t = torch::silu(c1_r(x));
    t = c3_r(torch::silu(c2_r(t)));
    return (t + x) * (torch::sigmoid(t) - 0.5);
  }
  torch::nn::Conv2d c1_r{nullptr}, c2_r{nullptr}, c3_r{nullptr};
};

}  // namespace

std::shared_ptr<BlockImpl> make_block(const Block& b, int w) {
  switch (b.type) {
    case BlockType::ResReLU: return std::make_shared<ResidualImpl>(w, Act{ActType::ReLU, 0.0}, 1);
    case BlockType::ResLReLU: return std::make_shared<ResidualImpl>(w, Act{ActType::LeakyReLU, b.slope}, 1);
    case BlockType::Dilated: return std::make_shared<ResidualImpl>(w, Act{ActType::ReLU, 0.0}, b.dilation);
    case BlockType::InvRes: return std::make_shared<InvResImpl>(w, b.expand);
    case BlockType::IMD: return std::make_shared<IMDImpl>(w, b.slope, b.cca);
    case BlockType::AWRU: return std::make_shared<AWRUImpl>(w, b.expand);
    case BlockType::SERes: return std::make_shared<SEResImpl>(w, b.reduction);
    case BlockType::DWSepRes: return std::make_shared<DWSepImpl>(w, b.kernel);
    case BlockType::RLFB: return std::make_shared<RLFBImpl>(w, b.mid, b.esa, b.slope);
    case BlockType::RFDB: return std::make_shared<RFDBImpl>(w, b.slope);
    case BlockType::SPAB: return std::make_shared<SPABImpl>(w);
  }
  return nullptr;
}

}  // namespace srnas
