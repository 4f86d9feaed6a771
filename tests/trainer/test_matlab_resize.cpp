// MATLAB bicubic: kernel, tables, sizes and hand-computed resizes.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "search_space/error.h"
#include "trainer/matlab_resize.h"

namespace srnas {
namespace {

// Effective weight of each input pixel for output i (mirrored taps summed).
std::vector<double> effective_weights(const ResizeTable& t, int i) {
  std::vector<double> e(t.in_len, 0.0);
  for (int k = 0; k < t.taps; ++k) e[t.index[i * t.taps + k]] += t.weight[i * t.taps + k];
  return e;
}

Image gray_image(int h, int w, const std::vector<int>& v) {
  Image img(h, w);
  for (int i = 0; i < h * w; ++i) {
    for (int c = 0; c < 3; ++c) img.rgb[3 * i + c] = static_cast<uint8_t>(v[i]);
  }
  return img;
}

TEST(CubicKernel, KnownValues) {
  EXPECT_DOUBLE_EQ(cubic_kernel(0.0), 1.0);
  EXPECT_DOUBLE_EQ(cubic_kernel(1.0), 0.0);
  EXPECT_DOUBLE_EQ(cubic_kernel(-1.0), 0.0);
  EXPECT_DOUBLE_EQ(cubic_kernel(2.0), 0.0);
  EXPECT_DOUBLE_EQ(cubic_kernel(2.5), 0.0);
  // 1.5*0.125 - 2.5*0.25 + 1 = 0.5625
  EXPECT_DOUBLE_EQ(cubic_kernel(0.5), 0.5625);
  EXPECT_DOUBLE_EQ(cubic_kernel(-0.5), 0.5625);
  // -0.5*3.375 + 2.5*2.25 - 4*1.5 + 2 = -0.0625
  EXPECT_DOUBLE_EQ(cubic_kernel(1.5), -0.0625);
  // 1.5*0.001953125 - 2.5*0.015625 + 1 = 0.9638671875
  EXPECT_DOUBLE_EQ(cubic_kernel(0.125), 0.9638671875);
  // -0.5*6.591796875 + 2.5*3.515625 - 7.5 + 2 = -0.0068359375
  EXPECT_DOUBLE_EQ(cubic_kernel(1.875), -0.0068359375);
}

TEST(ResizeTable, OutputLengthIsCeil) {
  EXPECT_EQ(resize_output_length(248, 0.25), 62);
  EXPECT_EQ(resize_output_length(250, 0.25), 63);  // ceil(62.5)
  EXPECT_EQ(resize_output_length(62, 4.0), 248);
  EXPECT_EQ(resize_output_length(7, 2.0), 14);
  EXPECT_EQ(resize_output_length(5, 0.5), 3);       // ceil(2.5)
  EXPECT_EQ(resize_output_length(9, 1.0 / 3), 3);
  EXPECT_EQ(resize_output_length(10, 1.0 / 3), 4);  // ceil(3.33)
  EXPECT_EQ(resize_output_length(1, 0.25), 1);
  const Image out = imresize_bicubic(Image(10, 7, 50), 1.0 / 3);
  EXPECT_EQ(out.h, 4);
  EXPECT_EQ(out.w, 3);
  EXPECT_EQ(out.rgb.size(), 4u * 3 * 3);
}

TEST(ResizeTable, TapsAndRowsSumToOne) {
  struct Case { int in, out; double s; int taps; };
  for (const Case& c : {Case{248, 62, 0.25, 18}, Case{62, 248, 4.0, 6}, Case{7, 14, 2.0, 6},
                        Case{10, 4, 1.0 / 3, 14}, Case{5, 3, 0.5, 10}, Case{3, 3, 1.0, 6},
                        Case{1, 4, 4.0, 6}}) {
    const ResizeTable t = bicubic_table(c.in, c.out, c.s);
    ASSERT_EQ(t.taps, c.taps) << c.in << "->" << c.out;
    ASSERT_EQ(t.index.size(), static_cast<size_t>(c.out * c.taps));
    for (int i = 0; i < c.out; ++i) {
      double sum = 0.0;
      for (int k = 0; k < t.taps; ++k) {
        sum += t.weight[i * t.taps + k];
        EXPECT_GE(t.index[i * t.taps + k], 0);
        EXPECT_LT(t.index[i * t.taps + k], c.in);
      }
      EXPECT_NEAR(sum, 1.0, 1e-12) << c.in << "->" << c.out << " row " << i;
    }
  }
}

// 4 -> 1 at scale 1/4: u = 1/0.25 + 0.5*(1 - 4) = 2.5, kernel width 16, left = floor(2.5 - 8) = -6,
// 18 taps at j = -6..11 with weights 0.25*cubic((2.5 - j)/4). Nonzero for j = -5..10:
// |t| = 1.875 1.625 1.375 1.125 0.875 0.625 0.375 0.125 (and mirrored) ->
// cubic = -0.0068359375 -0.0439453125 -0.0732421875 -0.0478515625 0.0908203125 0.3896484375
//         0.7275390625 0.9638671875; they sum to 2 per side, so the row sum is 0.25*4 = 1.
// Mirroring (1..4,4..1) sends j = 0,1,8,9 to pixel 1: 0.3896484375 + 0.7275390625 - 0.0732421875
// - 0.0439453125 = 1, and likewise every pixel gets cubic sum 1, i.e. weight exactly 0.25.
TEST(ResizeTable, FourToOneIsAPlainMean) {
  const ResizeTable t = bicubic_table(4, 1, 0.25);
  EXPECT_DOUBLE_EQ(t.weight[0], 0.0);                       // j = -6
  EXPECT_DOUBLE_EQ(t.weight[1], 0.25 * -0.0068359375);      // j = -5
  EXPECT_DOUBLE_EQ(t.weight[8], 0.25 * 0.9638671875);       // j = 2
  EXPECT_EQ(t.index[1], 2);                                 // j = -5 -> pixel 3 (0-based 2)
  const std::vector<double> e = effective_weights(t, 0);
  for (double v : e) EXPECT_DOUBLE_EQ(v, 0.25);
}

// 2 -> 8 at scale 4: u = x/4 + 0.375 for x = 1..8; e.g. x = 1: u = 0.625, left = floor(-1.375) = -2,
// taps j = -2..3 with cubic(u - j) = 0, -0.0439453125, 0.3896484375, 0.7275390625, -0.0732421875, 0;
// mirror (1,2,2,1): j = 0,1 -> pixel 1, j = -1,2 -> pixel 2, so w1 = 1.1171875, w2 = -0.1171875.
// x = 2: u = 0.875 -> w1 = 0.0908203125 + 0.9638671875 = 1.0546875, w2 = -0.0546875.
// x = 3: u = 1.125 -> w1 = -0.0478515625 + 0.9638671875 = 0.916015625, w2 = 0.083984375.
// x = 4: u = 1.375 -> w1 = -0.0732421875 + 0.7275390625 = 0.654296875, w2 = 0.345703125.
// x = 5..8 mirror x = 4..1.
const double kUp2to8[8] = {1.1171875, 1.0546875, 0.916015625, 0.654296875,
                           0.345703125, 0.083984375, -0.0546875, -0.1171875};

TEST(ResizeTable, TwoToEightByHand) {
  const ResizeTable t = bicubic_table(2, 8, 4.0);
  for (int i = 0; i < 8; ++i) {
    const std::vector<double> e = effective_weights(t, i);
    EXPECT_DOUBLE_EQ(e[0], kUp2to8[i]) << "row " << i;
    EXPECT_DOUBLE_EQ(e[1], kUp2to8[7 - i]) << "row " << i;
  }
}

// [[0,100],[100,0]] -> 8x8. Pass 1 (H), column 0 = (0,100): 100*w2 = -11.72 -5.47 8.40 34.57
// 65.43 91.60 105.47 111.72 -> round/clamp 0 0 8 35 65 92 105 112; column 1 is the reverse.
// Pass 2 (W), row 0 = (0,112): 112*w2 = -13.1 -6.1 9.41 38.72 73.28 102.59 118.13 125.13
// -> 0 0 9 39 73 103 118 125; row 3 = (35,65): 35*0.654296875 + 65*0.345703125 = 45.36 -> 45 (x=4).
TEST(ImresizeU8, TwoByTwoToEightByEightByHand) {
  const Image out = imresize_bicubic(gray_image(2, 2, {0, 100, 100, 0}), 4.0);
  ASSERT_EQ(out.h, 8);
  ASSERT_EQ(out.w, 8);
  const int expected[8][8] = {{0, 0, 9, 39, 73, 103, 118, 125},  {0, 0, 9, 36, 69, 96, 111, 117},
                              {0, 3, 15, 37, 63, 85, 97, 102},    {31, 33, 38, 45, 55, 62, 67, 69},
                              {69, 67, 62, 55, 45, 38, 33, 31},   {102, 97, 85, 63, 37, 15, 3, 0},
                              {117, 111, 96, 69, 36, 9, 0, 0},    {125, 118, 103, 73, 39, 9, 0, 0}};
  for (int y = 0; y < 8; ++y) {
    for (int x = 0; x < 8; ++x) {
      for (int c = 0; c < 3; ++c) EXPECT_EQ(out.at(y, x, c), expected[y][x]) << y << "," << x;
    }
  }
}

// 4x4 -> 1x1 weighs every pixel 1/4 per axis. Rows (1,1,1,0) (1,1,0,0) (0,0,0,0) (0,0,0,0):
// pass 1 (H) column means 0.5 0.5 0.25 0 -> rounded half up to 1 1 0 0; pass 2 mean 0.5 -> 1.
// A single rounding at the end would give round(0.3125) = 0 (the float path keeps 0.3125).
TEST(ImresizeU8, RoundsHalfUpAfterEachPass) {
  const std::vector<int> v = {1, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  Image in(4, 4);
  for (int i = 0; i < 16; ++i) {
    in.rgb[3 * i] = static_cast<uint8_t>(v[i]);  // R: the pattern
    in.rgb[3 * i + 1] = 200;                     // G: constant
    in.rgb[3 * i + 2] = static_cast<uint8_t>(40 * (i % 4));  // B: 0 40 80 120 per row -> mean 60
  }
  const Image out = imresize_bicubic(in, 0.25);
  ASSERT_EQ(out.h, 1);
  ASSERT_EQ(out.w, 1);
  EXPECT_EQ(out.at(0, 0, 0), 1);
  EXPECT_EQ(out.at(0, 0, 1), 200);
  EXPECT_EQ(out.at(0, 0, 2), 60);

  ImageF64 f{1, 4, 4, std::vector<double>(v.begin(), v.end())};
  const ImageF64 fo = imresize_bicubic(f, 0.25);
  ASSERT_EQ(fo.data.size(), 1u);
  EXPECT_DOUBLE_EQ(fo.data[0], 0.3125);
  EXPECT_EQ(std::lround(std::floor(fo.data[0] + 0.5)), 0);  // single rounding differs
}

TEST(ImresizeU8, ClampsToByteRange) {
  // Overshoot of the 2->8 kernel: 255*1.1171875 - 0*0.1171875 > 255 and 0*1.117 - 255*0.117 < 0.
  const Image out = imresize_bicubic(gray_image(1, 2, {255, 0}), 4.0);
  ASSERT_EQ(out.h, 4);
  ASSERT_EQ(out.w, 8);
  EXPECT_EQ(out.at(0, 0, 0), 255);
  EXPECT_EQ(out.at(0, 7, 0), 0);
  EXPECT_EQ(out.at(0, 3, 0), 167);  // 255*0.654296875 = 166.85
}

TEST(ImresizeU8, ConstantStaysConstant) {
  for (double s : {0.25, 4.0, 2.0, 1.0 / 3, 0.5, 1.0, 3.0}) {
    for (int value : {0, 1, 137, 255}) {
      const Image in(13, 17, static_cast<uint8_t>(value));
      const Image out = imresize_bicubic(in, s);
      EXPECT_EQ(out.h, resize_output_length(13, s));
      EXPECT_EQ(out.w, resize_output_length(17, s));
      for (uint8_t v : out.rgb) ASSERT_EQ(v, value) << "scale " << s;
    }
    ImageF64 f{2, 9, 11, std::vector<double>(2 * 9 * 11, 0.7)};
    for (double v : imresize_bicubic(f, s).data) ASSERT_NEAR(v, 0.7, 1e-12) << "scale " << s;
  }
}

TEST(ImresizeU8, ScaleOneIsIdentity) {
  Image in(5, 6);
  for (size_t i = 0; i < in.rgb.size(); ++i) in.rgb[i] = static_cast<uint8_t>(i * 37 % 256);
  EXPECT_EQ(imresize_bicubic(in, 1.0), in);
}

// Cubic convolution reproduces a linear function away from the borders; output x (1-based)
// sits at input coordinate u = x/s + 0.5*(1 - 1/s), i.e. ramp value u - 1 for ramp(j) = j - 1.
TEST(ImresizeF64, LinearRampIsReproducedInTheInterior) {
  const int n = 40;
  for (double s : {2.0, 4.0, 0.5, 0.25}) {
    ImageF64 ramp{1, 1, n, {}};
    for (int j = 0; j < n; ++j) ramp.data.push_back(j);
    const ImageF64 out = imresize_bicubic(ramp, s);
    ASSERT_EQ(out.w, resize_output_length(n, s));
    ASSERT_EQ(out.h, resize_output_length(1, s));
    const double half_width = s < 1 ? 2.0 / s : 2.0;
    int checked = 0;
    for (int x = 1; x <= out.w; ++x) {
      const double u = x / s + 0.5 * (1 - 1 / s);
      if (u - half_width < 1 || u + half_width > n) continue;  // border: mirroring bends it
      EXPECT_NEAR(out.data[x - 1], u - 1, 1e-9) << "scale " << s << " x " << x;
      ++checked;
    }
    EXPECT_GT(checked, 0);
  }
}

TEST(ImresizeU8, RejectsBadInput) {
  EXPECT_THROW(imresize_bicubic(Image(4, 4), 0.0), Error);
  EXPECT_THROW(imresize_bicubic(Image(4, 4), -2.0), Error);
  EXPECT_THROW(imresize_bicubic(Image(4, 4), std::nan("")), Error);
  EXPECT_THROW(imresize_bicubic(Image(), 2.0), Error);
  EXPECT_THROW(imresize_bicubic(ImageF64{1, 2, 2, {1.0}}, 2.0), Error);
}

}  // namespace
}  // namespace srnas
