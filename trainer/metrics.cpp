// PSNR (RGB and Y) and SSIM (Y) in float64.
#include "trainer/metrics.h"

#include <cmath>
#include <limits>

#include <fmt/core.h>

#include "search_space/error.h"

namespace srnas {
namespace {

void check_pair(const ImageView& sr, const ImageView& hr, int crop_px, const char* what, int min_side) {
  if (sr.h != hr.h || sr.w != hr.w) {
    throw Error(fmt::format("{}: image sizes differ: SR {} vs HR {}", what, size_string(sr),
                            size_string(hr)));
  }
  if (crop_px < 0) throw Error(fmt::format("{}: crop must be >= 0, got {}", what, crop_px));
  if (sr.h - 2 * crop_px < min_side || sr.w - 2 * crop_px < min_side) {
    throw Error(fmt::format("{}: image {} too small for a {} px border crop (need at least {}x{} "
                            "left)", what, size_string(sr), crop_px, min_side, min_side));
  }
}

inline double y_of(const uint8_t* p) {
  return 16.0 + (65.481 * p[0] + 128.553 * p[1] + 24.966 * p[2]) / 255.0;
}

double psnr_from_mse(double mse) {
  if (mse == 0.0) return std::numeric_limits<double>::infinity();
  return 20.0 * std::log10(255.0 / std::sqrt(mse));
}

// Mean over the pixels inside a c-px border of f(sr pixel, hr pixel), each a pointer to an
// RGB triple; the images have the same size (check_pair).
template <class F>
double cropped_mean(const ImageView& sr, const ImageView& hr, int c, F f) {
  double sum = 0.0;
  for (int r = c; r < sr.h - c; ++r) {
    const uint8_t* a = sr.row(r) + static_cast<size_t>(c) * 3;
    const uint8_t* b = hr.row(r) + static_cast<size_t>(c) * 3;
    for (int x = c; x < sr.w - c; ++x, a += 3, b += 3) sum += f(a, b);
  }
  return sum / (static_cast<double>(sr.h - 2 * c) * (sr.w - 2 * c));
}

// Y of the cropped region, row-major (h - 2c) x (w - 2c).
std::vector<double> cropped_y(const ImageView& img, int c, int* h, int* w) {
  *h = img.h - 2 * c;
  *w = img.w - 2 * c;
  std::vector<double> y(static_cast<size_t>(*h) * *w);
  for (int r = 0; r < *h; ++r) {
    const uint8_t* p = img.row(r + c) + static_cast<size_t>(c) * 3;
    for (int x = 0; x < *w; ++x, p += 3) y[static_cast<size_t>(r) * *w + x] = y_of(p);
  }
  return y;
}

// "valid" 2-D correlation with the separable kernel k (odd length), (h-n+1) x (w-n+1).
std::vector<double> filter_valid(const std::vector<double>& a, int h, int w,
                                 const std::vector<double>& k) {
  const int n = static_cast<int>(k.size());
  const int ow = w - n + 1, oh = h - n + 1;
  std::vector<double> tmp(static_cast<size_t>(h) * ow);
  for (int r = 0; r < h; ++r) {
    const double* src = &a[static_cast<size_t>(r) * w];
    double* dst = &tmp[static_cast<size_t>(r) * ow];
    for (int x = 0; x < ow; ++x) {
      double s = 0.0;
      for (int i = 0; i < n; ++i) s += k[i] * src[x + i];
      dst[x] = s;
    }
  }
  std::vector<double> out(static_cast<size_t>(oh) * ow, 0.0);
  for (int r = 0; r < oh; ++r) {
    double* dst = &out[static_cast<size_t>(r) * ow];
    for (int i = 0; i < n; ++i) {
      const double* src = &tmp[static_cast<size_t>(r + i) * ow];
      for (int x = 0; x < ow; ++x) dst[x] += k[i] * src[x];
    }
  }
  return out;
}

}  // namespace

std::vector<double> rgb_to_y(const ImageView& img) {
  std::vector<double> y(img.num_pixels());
  for (size_t i = 0; i < y.size(); ++i) y[i] = y_of(&img.rgb[3 * i]);
  return y;
}

double psnr_rgb(const ImageView& sr, const ImageView& hr, int crop_px) {
  check_pair(sr, hr, crop_px, "psnr_rgb", 1);
  // squared differences are integers: their double sums are exact in any order
  return psnr_from_mse(cropped_mean(sr, hr, crop_px, [](const uint8_t* a, const uint8_t* b) {
                         double s = 0.0;
                         for (int i = 0; i < 3; ++i) {
                           const double d = double(a[i]) - double(b[i]);
                           s += d * d;
                         }
                         return s;
                       }) / 3.0);
}

double psnr_y(const ImageView& sr, const ImageView& hr, int crop_px) {
  check_pair(sr, hr, crop_px, "psnr_y", 1);
  return psnr_from_mse(cropped_mean(sr, hr, crop_px, [](const uint8_t* a, const uint8_t* b) {
    const double d = y_of(a) - y_of(b);
    return d * d;
  }));
}

double ssim_y(const ImageView& sr, const ImageView& hr, int crop_px) {
  constexpr int kWin = 11;
  constexpr double kSigma = 1.5;
  check_pair(sr, hr, crop_px, "ssim_y", kWin);
  int h = 0, w = 0;
  const std::vector<double> y1 = cropped_y(sr, crop_px, &h, &w);
  const std::vector<double> y2 = cropped_y(hr, crop_px, &h, &w);

  std::vector<double> k(kWin);
  double ksum = 0.0;
  for (int i = 0; i < kWin; ++i) {
    const double d = i - kWin / 2;
    k[i] = std::exp(-d * d / (2.0 * kSigma * kSigma));
    ksum += k[i];
  }
  for (double& v : k) v /= ksum;

  const size_t n = y1.size();
  std::vector<double> y11(n), y22(n), y12(n);
  for (size_t i = 0; i < n; ++i) {
    y11[i] = y1[i] * y1[i];
    y22[i] = y2[i] * y2[i];
    y12[i] = y1[i] * y2[i];
  }
  const std::vector<double> mu1 = filter_valid(y1, h, w, k), mu2 = filter_valid(y2, h, w, k);
  const std::vector<double> s11 = filter_valid(y11, h, w, k), s22 = filter_valid(y22, h, w, k);
  const std::vector<double> s12 = filter_valid(y12, h, w, k);

  const double c1 = (0.01 * 255.0) * (0.01 * 255.0);
  const double c2 = (0.03 * 255.0) * (0.03 * 255.0);
  double total = 0.0;
  for (size_t i = 0; i < mu1.size(); ++i) {
    const double m1 = mu1[i], m2 = mu2[i];
    const double v1 = s11[i] - m1 * m1, v2 = s22[i] - m2 * m2, cov = s12[i] - m1 * m2;
    total += ((2.0 * m1 * m2 + c1) * (2.0 * cov + c2)) / ((m1 * m1 + m2 * m2 + c1) * (v1 + v2 + c2));
  }
  return total / static_cast<double>(mu1.size());
}

}  // namespace srnas
