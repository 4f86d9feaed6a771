// MATLAB imresize(..., 'bicubic') re-implemented from its contributions() routine.
#include "trainer/matlab_resize.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <thread>

#include <fmt/core.h>

#include "search_space/error.h"

namespace srnas {
namespace {

// Runs fn(begin, end) over [0, n) split across threads when the work is large enough.
template <typename Fn>
void parallel_for(int n, double work, const Fn& fn) {
  constexpr double kMinWorkPerThread = 2e6;  // multiply-adds; below this a thread costs more
  unsigned hw = std::thread::hardware_concurrency();
  int threads = static_cast<int>(std::min<double>({hw == 0 ? 1.0 : hw, 8.0, work / kMinWorkPerThread,
                                                   static_cast<double>(n)}));
  if (threads <= 1) {
    fn(0, n);
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  const int chunk = (n + threads - 1) / threads;
  for (int t = 1; t < threads; ++t) {
    const int b = std::min(n, t * chunk), e = std::min(n, (t + 1) * chunk);
    if (b < e) pool.emplace_back([&fn, b, e] { fn(b, e); });
  }
  fn(0, std::min(n, chunk));
  for (auto& th : pool) th.join();
}

// A table trimmed to each row's nonzero taps (skipping a zero-weight tap adds exactly
// 0.0 in MATLAB's order, so results stay bit-identical).
struct Trimmed {
  std::vector<int> begin;  // per output: first tap offset into index/weight
  std::vector<int> count;  // per output: number of taps
  ResizeTable t;
};

Trimmed trimmed_table(int in_len, int out_len, double scale) {
  Trimmed r;
  r.t = bicubic_table(in_len, out_len, scale);
  r.begin.resize(out_len);
  r.count.resize(out_len);
  for (int i = 0; i < out_len; ++i) {
    int lo = 0, hi = r.t.taps;
    const double* w = &r.t.weight[static_cast<size_t>(i) * r.t.taps];
    while (lo < hi && w[lo] == 0.0) ++lo;
    while (hi > lo && w[hi - 1] == 0.0) --hi;
    r.begin[i] = i * r.t.taps + lo;
    r.count[i] = hi - lo;
  }
  return r;
}

inline uint8_t round_clamp_u8(double v) {
  if (!(v > 0.0)) return 0;  // also maps NaN to 0
  if (v >= 254.5) return 255;
  return static_cast<uint8_t>(v + 0.5);  // round half up
}

void check_scale(double scale) {
  if (!(scale > 0.0) || !std::isfinite(scale)) {
    throw Error(fmt::format("imresize_bicubic: scale must be a positive finite number, got {}", scale));
  }
}

}  // namespace

double cubic_kernel(double x) {
  const double ax = std::fabs(x);
  const double ax2 = ax * ax;
  const double ax3 = ax2 * ax;
  if (ax <= 1.0) return 1.5 * ax3 - 2.5 * ax2 + 1.0;
  if (ax <= 2.0) return -0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0;
  return 0.0;
}

int resize_output_length(int in_len, double scale) {
  check_scale(scale);
  return static_cast<int>(std::ceil(scale * static_cast<double>(in_len)));
}

ResizeTable bicubic_table(int in_len, int out_len, double scale) {
  check_scale(scale);
  if (in_len <= 0 || out_len <= 0) {
    throw Error(fmt::format("imresize_bicubic: lengths must be positive, got {} -> {}", in_len, out_len));
  }
  const bool antialias = scale < 1.0;
  const double kernel_width = antialias ? 4.0 / scale : 4.0;
  ResizeTable t;
  t.in_len = in_len;
  t.out_len = out_len;
  t.taps = static_cast<int>(std::ceil(kernel_width)) + 2;
  t.index.resize(static_cast<size_t>(out_len) * t.taps);
  t.weight.resize(static_cast<size_t>(out_len) * t.taps);
  const long period = 2L * in_len;  // mirror sequence 1..n, n..1
  for (int i = 0; i < out_len; ++i) {
    const double x = i + 1;  // MATLAB's 1-based output coordinate
    const double u = x / scale + 0.5 * (1.0 - 1.0 / scale);
    const double left = std::floor(u - kernel_width / 2.0);
    double* w = &t.weight[static_cast<size_t>(i) * t.taps];
    int* idx = &t.index[static_cast<size_t>(i) * t.taps];
    double sum = 0.0;
    for (int k = 0; k < t.taps; ++k) {
      const double j = left + k;  // 1-based, possibly outside [1, in_len]
      const double d = u - j;
      w[k] = antialias ? scale * cubic_kernel(scale * d) : cubic_kernel(d);
      sum += w[k];
      long m = (static_cast<long>(j) - 1) % period;
      if (m < 0) m += period;
      idx[k] = static_cast<int>(m < in_len ? m : period - 1 - m);
    }
    for (int k = 0; k < t.taps; ++k) w[k] /= sum;
  }
  return t;
}

Image imresize_bicubic(const Image& in, double scale) {
  if (in.empty() || in.rgb.size() != in.num_pixels() * 3) {
    throw Error(fmt::format("imresize_bicubic: invalid input image {}", size_string(in)));
  }
  const int oh = resize_output_length(in.h, scale);
  const int ow = resize_output_length(in.w, scale);
  const Trimmed th = trimmed_table(in.h, oh, scale);
  const Trimmed tw = trimmed_table(in.w, ow, scale);

  // Pass 1, along H: each output row is a weighted sum of whole input rows.
  const size_t stride = in.row_stride();
  Image mid(oh, in.w);
  parallel_for(oh, static_cast<double>(oh) * th.t.taps * stride, [&](int b, int e) {
    std::vector<double> acc(stride);
    for (int i = b; i < e; ++i) {
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int k = 0; k < th.count[i]; ++k) {
        const double wk = th.t.weight[th.begin[i] + k];
        const uint8_t* src = in.row(th.t.index[th.begin[i] + k]);
        for (size_t j = 0; j < stride; ++j) acc[j] += wk * src[j];
      }
      uint8_t* dst = mid.row(i);
      for (size_t j = 0; j < stride; ++j) dst[j] = round_clamp_u8(acc[j]);
    }
  });

  // Pass 2, along W: each output pixel gathers taps from its row.
  Image out(oh, ow);
  parallel_for(oh, static_cast<double>(oh) * ow * tw.t.taps * 3, [&](int b, int e) {
    for (int y = b; y < e; ++y) {
      const uint8_t* src = mid.row(y);
      uint8_t* dst = out.row(y);
      for (int x = 0; x < ow; ++x) {
        double r = 0.0, g = 0.0, bl = 0.0;
        const double* w = &tw.t.weight[tw.begin[x]];
        const int* idx = &tw.t.index[tw.begin[x]];
        for (int k = 0; k < tw.count[x]; ++k) {
          const uint8_t* p = src + static_cast<size_t>(idx[k]) * 3;
          r += w[k] * p[0];
          g += w[k] * p[1];
          bl += w[k] * p[2];
        }
        dst[3 * x + 0] = round_clamp_u8(r);
        dst[3 * x + 1] = round_clamp_u8(g);
        dst[3 * x + 2] = round_clamp_u8(bl);
      }
    }
  });
  return out;
}

ImageF64 imresize_bicubic(const ImageF64& in, double scale) {
  if (in.c <= 0 || in.h <= 0 || in.w <= 0 ||
      in.data.size() != static_cast<size_t>(in.c) * in.h * in.w) {
    throw Error(fmt::format("imresize_bicubic: invalid float image {}x{}x{} with {} values", in.c,
                            in.h, in.w, in.data.size()));
  }
  const int oh = resize_output_length(in.h, scale);
  const int ow = resize_output_length(in.w, scale);
  const Trimmed th = trimmed_table(in.h, oh, scale);
  const Trimmed tw = trimmed_table(in.w, ow, scale);

  // Pass 1 along H, per channel plane; rows of mid are (channel, output row).
  ImageF64 mid{in.c, oh, in.w, std::vector<double>(static_cast<size_t>(in.c) * oh * in.w, 0.0)};
  const size_t w_in = static_cast<size_t>(in.w);
  parallel_for(in.c * oh, static_cast<double>(in.c) * oh * th.t.taps * w_in, [&](int b, int e) {
    for (int r = b; r < e; ++r) {
      const int ch = r / oh, i = r % oh;
      double* dst = &mid.data[static_cast<size_t>(r) * w_in];
      const double* plane = &in.data[static_cast<size_t>(ch) * in.h * w_in];
      for (int k = 0; k < th.count[i]; ++k) {
        const double wk = th.t.weight[th.begin[i] + k];
        const double* src = plane + static_cast<size_t>(th.t.index[th.begin[i] + k]) * w_in;
        for (size_t j = 0; j < w_in; ++j) dst[j] += wk * src[j];
      }
    }
  });

  // Pass 2 along W.
  ImageF64 out{in.c, oh, ow, std::vector<double>(static_cast<size_t>(in.c) * oh * ow, 0.0)};
  parallel_for(in.c * oh, static_cast<double>(in.c) * oh * ow * tw.t.taps, [&](int b, int e) {
    for (int r = b; r < e; ++r) {
      const double* src = &mid.data[static_cast<size_t>(r) * w_in];
      double* dst = &out.data[static_cast<size_t>(r) * ow];
      for (int x = 0; x < ow; ++x) {
        double s = 0.0;
        const double* w = &tw.t.weight[tw.begin[x]];
        const int* idx = &tw.t.index[tw.begin[x]];
        for (int k = 0; k < tw.count[x]; ++k) s += w[k] * src[idx[k]];
        dst[x] = s;
      }
    }
  });
  return out;
}

}  // namespace srnas
