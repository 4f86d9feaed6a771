// PSNR (RGB, Y) and SSIM (Y) on hand-made images.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "search_space/error.h"
#include "trainer/metrics.h"

namespace srnas {
namespace {

Image filled(int h, int w, uint8_t r, uint8_t g, uint8_t b) {
  Image img(h, w);
  for (size_t i = 0; i < img.num_pixels(); ++i) {
    img.rgb[3 * i] = r;
    img.rgb[3 * i + 1] = g;
    img.rgb[3 * i + 2] = b;
  }
  return img;
}

TEST(Metrics, YOfPureColours) {
  Image img(1, 5);
  const uint8_t px[5][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 255}, {0, 0, 0}};
  for (int x = 0; x < 5; ++x) {
    for (int c = 0; c < 3; ++c) img.at(0, x, c) = px[x][c];
  }
  const std::vector<double> y = rgb_to_y(img);
  ASSERT_EQ(y.size(), 5u);
  EXPECT_NEAR(y[0], 16 + 65.481, 1e-12);   // 81.481
  EXPECT_NEAR(y[1], 16 + 128.553, 1e-12);  // 144.553
  EXPECT_NEAR(y[2], 16 + 24.966, 1e-12);   // 40.966
  EXPECT_NEAR(y[3], 235.0, 1e-12);         // 16 + 219
  EXPECT_NEAR(y[4], 16.0, 1e-12);
}

// Every value off by 1: MSE = 1, PSNR = 20*log10(255) = 48.1308 dB. On Y the error is
// (65.481 + 128.553 + 24.966)/255 = 219/255, PSNR = 20*log10(255*255/219) = 49.4527 dB.
TEST(Metrics, ConstantErrorOfOne) {
  const Image a = filled(8, 9, 10, 20, 30), b = filled(8, 9, 11, 21, 31);
  EXPECT_NEAR(psnr_rgb(a, b, 0), 48.1308036087, 1e-9);
  EXPECT_NEAR(psnr_rgb(b, a, 2), 48.1308036087, 1e-9);
  EXPECT_NEAR(psnr_y(a, b, 0), 49.4527249206, 1e-9);
}

// Only R off by 3: RGB MSE = 9/3 = 3 -> 20*log10(255/sqrt(3)) = 43.3596 dB;
// Y error 3*65.481/255 = 0.77036 -> 20*log10(255/0.77036) = 50.3969 dB.
TEST(Metrics, SingleChannelError) {
  const Image a = filled(6, 6, 100, 50, 0), b = filled(6, 6, 103, 50, 0);
  EXPECT_NEAR(psnr_rgb(a, b, 0), 43.3595910615, 1e-9);
  EXPECT_NEAR(psnr_y(a, b, 0), 50.3968760597, 1e-9);
}

TEST(Metrics, IdenticalIsInfinite) {
  const Image a = filled(5, 7, 1, 2, 3);
  EXPECT_EQ(psnr_rgb(a, a, 0), std::numeric_limits<double>::infinity());
  EXPECT_EQ(psnr_y(a, a, 1), std::numeric_limits<double>::infinity());
}

// 10x10, a 3-px frame differs by 255 everywhere, the centre 4x4 agrees except its outer ring.
// crop 4 leaves the centre 2x2 (equal) -> inf; crop 3 leaves the 4x4 whose 12-pixel ring
// differs by 255: MSE = 12*255^2/16 -> PSNR = -10*log10(0.75) = 1.2494 dB.
TEST(Metrics, CropRemovesTheBorder) {
  Image sr = filled(10, 10, 0, 0, 0);
  const Image hr = filled(10, 10, 0, 0, 0);
  for (int y = 0; y < 10; ++y) {
    for (int x = 0; x < 10; ++x) {
      if (y < 4 || y >= 6 || x < 4 || x >= 6) {
        for (int c = 0; c < 3; ++c) sr.at(y, x, c) = 255;
      }
    }
  }
  EXPECT_EQ(psnr_rgb(sr, hr, 4), std::numeric_limits<double>::infinity());
  EXPECT_EQ(psnr_y(sr, hr, 4), std::numeric_limits<double>::infinity());
  EXPECT_NEAR(psnr_rgb(sr, hr, 3), 1.2493873661, 1e-9);
  EXPECT_NEAR(psnr_y(sr, hr, 3), 1.2493873661 + 20 * std::log10(255.0 / 219.0), 1e-9);
  EXPECT_LT(psnr_rgb(sr, hr, 0), psnr_rgb(sr, hr, 3));
}

TEST(Metrics, SizeMismatchNamesBothSizes) {
  const Image a(10, 12), b(10, 11);
  for (auto fn : {&psnr_rgb, &psnr_y, &ssim_y}) {
    try {
      fn(a, b, 0);
      FAIL() << "no error";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("10x12"), std::string::npos) << msg;
      EXPECT_NE(msg.find("10x11"), std::string::npos) << msg;
    }
  }
}

// A view of borrowed pixels (a mapped cache file's) measures as the Image it views; an Image
// whose buffer does not hold h*w*3 bytes is refused, not read past its end.
TEST(Metrics, ViewsMeasureAsTheirImagesAndMalformedImagesThrow) {
  Image a(12, 14), b(12, 14);
  for (size_t i = 0; i < a.rgb.size(); ++i) a.rgb[i] = uint8_t(i * 37 % 256), b.rgb[i] = uint8_t(i * 11 % 256);
  const std::vector<uint8_t> copy = b.rgb;  // pixels owned elsewhere
  const ImageView view(12, 14, copy.data());
  EXPECT_EQ(psnr_rgb(a, view, 1), psnr_rgb(a, b, 1));
  EXPECT_EQ(psnr_y(view, a, 1), psnr_y(b, a, 1));
  EXPECT_EQ(ssim_y(a, view, 0), ssim_y(a, b, 0));
  EXPECT_TRUE(std::isfinite(psnr_rgb(a, view, 1)));
  b.rgb.pop_back();
  try {
    psnr_rgb(a, b, 0);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "malformed image: 503 bytes for 12x14 pixels");
  }
}

TEST(Metrics, CropTooLargeOrNegativeThrows) {
  const Image a(8, 8);
  EXPECT_THROW(psnr_rgb(a, a, 4), Error);
  EXPECT_THROW(psnr_y(a, a, -1), Error);
  EXPECT_NO_THROW(psnr_rgb(a, a, 3));
  EXPECT_THROW(ssim_y(Image(20, 20), Image(20, 20), 5), Error);  // 10x10 < 11x11 window
}

TEST(Metrics, SsimIdenticalIsOne) {
  Image a(24, 20);
  for (size_t i = 0; i < a.rgb.size(); ++i) a.rgb[i] = static_cast<uint8_t>((i * 7919) % 251);
  EXPECT_NEAR(ssim_y(a, a, 0), 1.0, 1e-12);
  EXPECT_NEAR(ssim_y(a, a, 4), 1.0, 1e-12);
}

// Two flat images: no variance, so SSIM = (2*m1*m2 + C1) / (m1^2 + m2^2 + C1) with
// m = Y of the grey level (16 + 219*v/255): v = 100 -> 101.882..., v = 120 -> 119.058...
TEST(Metrics, SsimOfFlatImagesIsTheLuminanceTerm) {
  const Image a = filled(16, 16, 100, 100, 100), b = filled(16, 16, 120, 120, 120);
  const double m1 = 16 + 219.0 * 100 / 255, m2 = 16 + 219.0 * 120 / 255;
  const double c1 = 6.5025;  // (0.01*255)^2
  EXPECT_NEAR(ssim_y(a, b, 0), (2 * m1 * m2 + c1) / (m1 * m1 + m2 * m2 + c1), 1e-9);
}

TEST(Metrics, SsimDropsWithNoise) {
  Image a(32, 32), b(32, 32);
  for (size_t i = 0; i < a.rgb.size(); ++i) {
    a.rgb[i] = static_cast<uint8_t>(60 + (i / 3 % 32) * 4);  // horizontal ramp
    b.rgb[i] = static_cast<uint8_t>(a.rgb[i] + ((static_cast<uint32_t>(i) * 2654435761u) >> 28));  // + 0..15
  }
  const double s = ssim_y(a, b, 0);
  EXPECT_LT(s, 1.0);
  EXPECT_GT(s, 0.0);
}

}  // namespace
}  // namespace srnas
