#include "search_space/accounting.h"

#include <algorithm>

#include <fmt/format.h>

namespace srnas {

namespace {

class Counter {
 public:
  Counter(int h, int w) { acc_.lr_h = h; acc_.lr_w = w; }

  void conv(const std::string& name, int cin, int cout, int k, int res, int groups = 1, int dilation = 1) {
    add(conv_layer(name, cin, cout, k, res, groups, dilation, res == 0 ? 1 : int64_t(acc_.lr_h) * res * acc_.lr_w * res));
  }
  // A conv inside an attention module (RLFB's, RFDB's ESA) at `level` (esa_size) of a stage at
  // resolution res: it runs on that level's map, not the stage's.
  void esa_conv(const std::string& name, int cin, int cout, int k, int res, int level, int stride = 1, int padding = -1) {
    const std::array<int, 4> sz = esa_size(acc_.lr_h * res, acc_.lr_w * res);
    const int64_t pixels = level == 0   ? int64_t(acc_.lr_h) * res * acc_.lr_w * res
                           : level == 1 ? int64_t(sz[0]) * sz[1]
                                        : int64_t(sz[2]) * sz[3];
    LayerInfo l = conv_layer(name, cin, cout, k, res, 1, 1, pixels);
    l.stride = stride, l.padding = padding, l.esa_level = level;
    add(l);
  }
  void scale(const std::string& name) {
    LayerInfo l;
    l.name = name, l.kind = "scale", l.bias = false, l.params = 1;
    add(l);
  }
  Accounting done() { return std::move(acc_); }

 private:
  static LayerInfo conv_layer(const std::string& name, int cin, int cout, int k, int res, int groups, int dilation,
                             int64_t pixels) {
    LayerInfo l;
    l.name = name;
    l.kind = groups == 1 ? "conv" : "dwconv";
    l.in_ch = cin, l.out_ch = cout, l.kernel = k, l.groups = groups, l.dilation = dilation, l.res = res;
    l.params = int64_t(cout) * (cin / groups) * k * k + cout;
    l.macs = pixels * cout * (cin / groups) * k * k;
    return l;
  }
  void add(const LayerInfo& l) {
    acc_.params += l.params;
    acc_.macs += l.macs;
    acc_.layers.push_back(l);
  }
  Accounting acc_;
};

void block(Counter& c, const Block& b, const std::string& p, int w, int res) {
  switch (b.type) {
    case BlockType::ResReLU:
    case BlockType::ResLReLU:
      c.conv(p + ".conv1", w, w, 3, res);
      c.conv(p + ".conv2", w, w, 3, res);
      break;
    case BlockType::Dilated:
      c.conv(p + ".conv1", w, w, 3, res, 1, b.dilation);
      c.conv(p + ".conv2", w, w, 3, res, 1, b.dilation);
      break;
    case BlockType::InvRes: {
      int e = w * b.expand;
      c.conv(p + ".expand", w, e, 1, res);
      c.conv(p + ".dw", e, e, 3, res, e);
      c.conv(p + ".project", e, w, 1, res);
      break;
    }
    case BlockType::IMD: {
      int d = w / 4, r = w - d;
      c.conv(p + ".conv1", w, w, 3, res);
      c.conv(p + ".conv2", r, w, 3, res);
      c.conv(p + ".conv3", r, w, 3, res);
      c.conv(p + ".conv4", r, d, 3, res);
      c.conv(p + ".conv1x1", 4 * d, w, 1, res);
      if (b.cca) {  // on one pooled value per channel: res 0
        c.conv(p + ".cca.reduce", 4 * d, std::max(1, 4 * d / 16), 1, 0);
        c.conv(p + ".cca.expand", std::max(1, 4 * d / 16), 4 * d, 1, 0);
      }
      break;
    }
    case BlockType::AWRU: {
      int e = w * b.expand;
      c.conv(p + ".conv1", w, e, 3, res);
      c.conv(p + ".conv2", e, w, 3, res);
      c.scale(p + ".res_scale");
      c.scale(p + ".x_scale");
      break;
    }
    case BlockType::SERes: {
      int hidden = std::max(1, w / b.reduction);
      c.conv(p + ".conv1", w, w, 3, res);
      c.conv(p + ".conv2", w, w, 3, res);
      c.conv(p + ".se_reduce", w, hidden, 1, 0);
      c.conv(p + ".se_expand", hidden, w, 1, 0);
      break;
    }
    case BlockType::DWSepRes:
      c.conv(p + ".dw1", w, w, b.kernel, res, w);
      c.conv(p + ".pw1", w, w, 1, res);
      c.conv(p + ".dw2", w, w, b.kernel, res, w);
      c.conv(p + ".pw2", w, w, 1, res);
      break;
    case BlockType::RLFB: {
      // RLFN's names (bytedance/RLFN block.py RLFB and ESA), in its registration order.
      const int m = b.mid > 0 ? b.mid : w, e = b.esa;
      c.conv(p + ".c1_r", w, m, 3, res);
      c.conv(p + ".c2_r", m, m, 3, res);
      c.conv(p + ".c3_r", m, w, 3, res);
      c.conv(p + ".c5", w, w, 1, res);
      c.esa_conv(p + ".esa.conv1", w, e, 1, res, 0);
      c.esa_conv(p + ".esa.conv_f", e, e, 1, res, 0);
      c.esa_conv(p + ".esa.conv2", e, e, 3, res, 1, 2, 0);
      c.esa_conv(p + ".esa.conv3", e, e, 3, res, 2);
      c.esa_conv(p + ".esa.conv4", e, w, 1, res, 0);
      break;
    }
    case BlockType::SPAB:
      // SPAN's names (hongyuanyu/SPAN span_arch.py SPAB), as deployed: each of its Conv3XC
      // layers is one 3x3 conv at inference (SPAN trains them re-parameterised).
      c.conv(p + ".c1_r", w, w, 3, res);
      c.conv(p + ".c2_r", w, w, 3, res);
      c.conv(p + ".c3_r", w, w, 3, res);
      break;
    case BlockType::RFDB: {
      // RFDN's names (njulj/RFDN block.py RFDB and ESA): distilled dc = w / 2, ESA f = w / 4.
      const int dc = w / 2, f = w / 4;
      for (const char* i : {"1", "2", "3"}) {
        c.conv(p + ".c" + i + "_d", w, dc, 1, res);
        c.conv(p + ".c" + i + "_r", w, w, 3, res);
      }
      c.conv(p + ".c4", w, dc, 3, res);
      c.conv(p + ".c5", 4 * dc, w, 1, res);
      c.esa_conv(p + ".esa.conv1", w, f, 1, res, 0);
      c.esa_conv(p + ".esa.conv_f", f, f, 1, res, 0);
      c.esa_conv(p + ".esa.conv_max", f, f, 3, res, 2);
      c.esa_conv(p + ".esa.conv2", f, f, 3, res, 1, 2, 0);
      c.esa_conv(p + ".esa.conv3", f, f, 3, res, 2);
      c.esa_conv(p + ".esa.conv3_", f, f, 3, res, 2);
      c.esa_conv(p + ".esa.conv4", f, w, 1, res, 0);
      break;
    }
  }
}

void stage(Counter& c, const Stage& s, const std::string& name, int res) {
  for (size_t i = 0; i < s.blocks.size(); ++i) block(c, s.blocks[i], fmt::format("{}.blocks.{}", name, i), s.width, res);
}

}  // namespace

Accounting account(const Genome& g, int lr_h, int lr_w) {
  Counter c(lr_h, lr_w);
  c.conv("head", 3, g.lr.width, 3, 1);
  stage(c, g.lr, "lr", 1);
  if (g.lr_fuse) c.conv("lr.fuse", int(g.lr.blocks.size()) * g.lr.width, g.lr.width, 1, 1);
  if (g.long_skip) c.conv("lr.trunk", g.lr.width, g.lr.width, 3, 1);
  if (g.upsampler == Upsampler::Progressive) {
    c.conv("up.0", g.lr.width, 4 * g.x2->width, 3, 1);
    stage(c, *g.x2, "x2", 2);
    c.conv("up.1", g.x2->width, 4 * g.x4.width, 3, 2);
  } else {
    c.conv("up.0", g.lr.width, 16 * g.x4.width, 3, 1);
  }
  stage(c, g.x4, "x4", 4);
  if (g.hr_conv) c.conv("hr_conv", g.x4.width, g.x4.width, 3, 4);
  if (g.last_conv) c.conv("last_conv", g.x4.width, 3, 3, 4);
  return c.done();
}

int64_t count_params(const Genome& g) { return account(g, 0, 0).params; }

std::array<int, 4> esa_size(int h, int w) {
  if (h < 3 || w < 3) return {0, 0, 0, 0};
  const int h1 = (h - 3) / 2 + 1, w1 = (w - 3) / 2 + 1;
  const int k = std::min({7, h1, w1});
  return {h1, w1, (h1 - k) / 3 + 1, (w1 - k) / 3 + 1};
}

int receptive_radius(const Genome& g) {
  // Radius at each resolution in its own pixels; a PixelShuffle(2) maps a radius r at the finer
  // resolution to at most ceil(r / 2) at the coarser one (the output pixels kept for an LR tile
  // are whole 2x2 / 4x4 groups), so the stages combine from x4 down to LR.
  int radius[5] = {0, 0, 0, 0, 0};
  for (const LayerInfo& l : account(g, 1, 1).layers) {
    if (l.kind == "scale") continue;
    if (l.res == 0 || l.esa_level > 0) return -1;  // a whole-image pool (SE), or ESA's pooled attention
    radius[l.res] += l.dilation * (l.kernel - 1) / 2;
  }
  int r = radius[4];
  r = (r + 1) / 2 + radius[2];
  r = (r + 1) / 2 + radius[1];
  // The global skip interpolates the LR input: bicubic reads 2 LR pixels around, bilinear 1.
  if (g.global_skip == GlobalSkip::Bicubic) r = std::max(r, 2);
  if (g.global_skip == GlobalSkip::Bilinear) r = std::max(r, 1);
  return r;
}

}  // namespace srnas
