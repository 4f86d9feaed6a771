// Patch loader: determinism, LR/HR alignment, the 8 dihedral transforms, ordering across
// workers, option errors and prompt shutdown. Data is made in memory.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "search_space/error.h"
#include "trainer/dataset.h"
#include "trainer/loader.h"

namespace srnas {
namespace {

// LR pixel (y, x) of image m is (R, G, B) = (x, y, 10*m + 1): every pixel of every image is
// distinct, so a patch tells where each of its pixels came from. HR = nearest-neighbour x4.
LoadedPair coded_pair(int m, int lr_h, int lr_w, int scale = 4) {
  LoadedPair p;
  p.name = "img" + std::to_string(m);
  p.lr = Image(lr_h, lr_w);
  for (int y = 0; y < lr_h; ++y)
    for (int x = 0; x < lr_w; ++x) {
      p.lr.at(y, x, 0) = static_cast<uint8_t>(x);
      p.lr.at(y, x, 1) = static_cast<uint8_t>(y);
      p.lr.at(y, x, 2) = static_cast<uint8_t>(10 * m + 1);
    }
  p.hr = Image(lr_h * scale, lr_w * scale);
  for (int y = 0; y < p.hr.h; ++y)
    for (int x = 0; x < p.hr.w; ++x)
      for (int c = 0; c < 3; ++c) p.hr.at(y, x, c) = p.lr.at(y / scale, x / scale, c);
  return p;
}

std::vector<LoadedPair> coded_data() { return {coded_pair(0, 40, 50), coded_pair(1, 36, 64), coded_pair(2, 45, 45)}; }

// Byte value of a float that must be exactly b / 255.f.
int byte_of(float v) {
  const int b = static_cast<int>(v * 255.f + 0.5f);
  EXPECT_EQ(v, static_cast<float>(b) / 255.f);
  return b;
}

struct SampleInfo {
  int image = -1;
  int y0 = -1, x0 = -1;  // LR top-left of the source patch
  int t = -1;            // dihedral transform
};

// Recovers (image, top-left, transform) of sample s from the coded LR patch and checks that the
// patch is exactly that transform of that crop (one of the 8 maps of the contract).
SampleInfo decode_sample(const Batch& b, int s) {
  const int P = b.patch_lr;
  const size_t plane = size_t(P) * P;
  const float* lr = b.lr.data() + size_t(s) * 3 * plane;
  auto src = [&](int i, int j) {  // (row, col) in the image of output pixel (i, j)
    return std::array<int, 2>{byte_of(lr[plane + size_t(i) * P + j]), byte_of(lr[size_t(i) * P + j])};
  };
  SampleInfo info;
  info.image = (byte_of(lr[2 * plane]) - 1) / 10;
  int y0 = 1 << 20, x0 = 1 << 20;
  for (int i = 0; i < P; ++i)
    for (int j = 0; j < P; ++j) {
      y0 = std::min(y0, src(i, j)[0]);
      x0 = std::min(x0, src(i, j)[1]);
    }
  info.y0 = y0;
  info.x0 = x0;
  int matches = 0;
  for (int t = 0; t < 8; ++t) {
    bool ok = true;
    for (int i = 0; i < P && ok; ++i)
      for (int j = 0; j < P && ok; ++j) {
        int a = (t & 4) ? j : i, c = (t & 4) ? i : j;
        if (t & 2) a = P - 1 - a;
        if (t & 1) c = P - 1 - c;
        const auto rc = src(i, j);
        ok = rc[0] == y0 + a && rc[1] == x0 + c && byte_of(lr[2 * plane + size_t(i) * P + j]) == 10 * info.image + 1;
      }
    if (ok) {
      info.t = t;
      ++matches;
    }
  }
  EXPECT_EQ(matches, 1) << "sample " << s << " of batch " << b.index << " is not a single dihedral transform";
  return info;
}

bool same_batch(const Batch& a, const Batch& b) {
  return a.index == b.index && a.n == b.n && a.patch_lr == b.patch_lr && a.scale == b.scale && a.lr == b.lr &&
         a.hr == b.hr;
}

LoaderOptions small_options() {
  LoaderOptions o;
  o.batch_size = 8;
  o.patch_lr = 12;
  o.scale = 4;
  o.seed = 1234;
  return o;
}

TEST(Loader, BatchShapeAndValues) {
  const DecodedImages data(coded_data());
  const LoaderOptions o = small_options();
  const Batch b = make_batch(data, o, 3);
  EXPECT_EQ(b.index, 3);
  EXPECT_EQ(b.n, 8);
  EXPECT_EQ(b.patch_lr, 12);
  EXPECT_EQ(b.scale, 4);
  EXPECT_EQ(b.lr.size(), size_t(8) * 3 * 12 * 12);
  EXPECT_EQ(b.hr.size(), size_t(8) * 3 * 48 * 48);
  for (float v : b.hr) {
    ASSERT_GE(v, 0.f);
    ASSERT_LE(v, 1.f);
    byte_of(v);
  }
}

TEST(Loader, BatchIsAPureFunctionOfSeedAndIndex) {
  const DecodedImages data(coded_data());
  LoaderOptions o = small_options();
  const Batch a = make_batch(data, o, 7);
  EXPECT_TRUE(same_batch(a, make_batch(data, o, 7)));
  EXPECT_NE(a.lr, make_batch(data, o, 8).lr);
  EXPECT_NE(a.hr, make_batch(data, o, 8).hr);
  o.seed = 1235;
  EXPECT_NE(a.lr, make_batch(data, o, 7).lr);
  // Samples within a batch differ too.
  EXPECT_FALSE(std::equal(a.lr.begin(), a.lr.begin() + 3 * 144, a.lr.begin() + 3 * 144));
}

TEST(Loader, SliceEqualsTheSameSamplesOfTheFullBatch) {
  const DecodedImages data(coded_data());
  const LoaderOptions o = small_options();
  const Batch full = make_batch(data, o, 11);
  const size_t lr1 = 3 * 12 * 12, hr1 = 3 * 48 * 48;
  for (auto [b, e] : std::vector<std::pair<int, int>>{{0, 8}, {0, 3}, {3, 8}, {5, 6}, {4, 4}}) {
    const Batch s = make_batch_slice(data, o, 11, b, e);
    EXPECT_EQ(s.n, e - b);
    EXPECT_EQ(s.index, 11);
    EXPECT_EQ(std::vector<float>(full.lr.begin() + lr1 * b, full.lr.begin() + lr1 * e), s.lr);
    EXPECT_EQ(std::vector<float>(full.hr.begin() + hr1 * b, full.hr.begin() + hr1 * e), s.hr);
  }
  EXPECT_THROW(make_batch_slice(data, o, 11, 3, 9), Error);
  EXPECT_THROW(make_batch_slice(data, o, 11, 4, 3), Error);
}

TEST(Loader, HrPatchIsAlignedWithLrPatchUnderEveryTransform) {
  const DecodedImages data(coded_data());
  LoaderOptions o = small_options();
  o.batch_size = 32;
  const int P = o.patch_lr, s = o.scale, PH = P * s;
  std::set<int> transforms;
  for (int64_t k = 0; k < 10; ++k) {
    const Batch b = make_batch(data, o, k);
    for (int n = 0; n < b.n; ++n) {
      const SampleInfo info = decode_sample(b, n);
      transforms.insert(info.t);
      // Nearest-neighbour x4 commutes with every dihedral transform, so HR = nearest(LR patch).
      const float* lr = b.lr.data() + size_t(n) * 3 * P * P;
      const float* hr = b.hr.data() + size_t(n) * 3 * PH * PH;
      for (int c = 0; c < 3; ++c)
        for (int i = 0; i < PH; ++i)
          for (int j = 0; j < PH; ++j)
            ASSERT_EQ(hr[(size_t(c) * PH + i) * PH + j], lr[(size_t(c) * P + i / s) * P + j / s])
                << "batch " << k << " sample " << n << " t " << info.t << " at " << c << "," << i << "," << j;
    }
  }
  EXPECT_EQ(transforms.size(), 8u);
}

TEST(Loader, HrPatchMatchesTheSourceImageExactly) {
  // A non-nearest HR (every HR pixel distinct) catches an HR crop taken at the wrong offset.
  std::vector<LoadedPair> data(1);
  data[0].name = "fine";
  data[0].lr = Image(20, 24);
  data[0].hr = Image(80, 96);
  for (int y = 0; y < 80; ++y)
    for (int x = 0; x < 96; ++x) {
      data[0].hr.at(y, x, 0) = static_cast<uint8_t>(x);
      data[0].hr.at(y, x, 1) = static_cast<uint8_t>(y);
      data[0].hr.at(y, x, 2) = static_cast<uint8_t>((x + y) & 255);
    }
  for (int y = 0; y < 20; ++y)
    for (int x = 0; x < 24; ++x) {
      data[0].lr.at(y, x, 0) = static_cast<uint8_t>(x);
      data[0].lr.at(y, x, 1) = static_cast<uint8_t>(y);
    }
  LoaderOptions o = small_options();
  o.patch_lr = 6;
  o.batch_size = 64;
  const int P = 6, PH = 24;
  const Batch b = make_batch(DecodedImages(data), o, 0);
  for (int n = 0; n < b.n; ++n) {
    const float* lr = b.lr.data() + size_t(n) * 3 * P * P;
    const float* hr = b.hr.data() + size_t(n) * 3 * PH * PH;
    // Each output HR pixel in the 4x4 block of LR output pixel (i, j) comes from the HR block of the
    // LR source pixel: floor(hr_x / 4) == lr_x, floor(hr_y / 4) == lr_y.
    for (int i = 0; i < PH; ++i)
      for (int j = 0; j < PH; ++j) {
        const int hx = byte_of(hr[size_t(i) * PH + j]), hy = byte_of(hr[size_t(PH) * PH + size_t(i) * PH + j]);
        const int lx = byte_of(lr[size_t(i / 4) * P + j / 4]), ly = byte_of(lr[size_t(P) * P + size_t(i / 4) * P + j / 4]);
        ASSERT_EQ(hx / 4, lx);
        ASSERT_EQ(hy / 4, ly);
      }
  }
}

TEST(Loader, SamplingCoversImagesPositionsAndAllEightTransforms) {
  const DecodedImages data(coded_data());
  LoaderOptions o = small_options();
  o.batch_size = 50;
  std::array<int, 8> t_count{};
  std::array<int, 3> image_count{};
  std::array<std::set<int>, 3> ys, xs;
  for (int64_t k = 0; k < 20; ++k) {
    const Batch b = make_batch(data, o, k);
    for (int n = 0; n < b.n; ++n) {
      const SampleInfo s = decode_sample(b, n);
      ASSERT_GE(s.image, 0);
      ASSERT_LT(s.image, 3);
      ASSERT_GE(s.t, 0);
      ++t_count[s.t];
      ++image_count[s.image];
      ASSERT_GE(s.y0, 0);
      ASSERT_GE(s.x0, 0);
      ASSERT_LE(s.y0 + o.patch_lr, data[s.image].lr.h);
      ASSERT_LE(s.x0 + o.patch_lr, data[s.image].lr.w);
      ys[s.image].insert(s.y0);
      xs[s.image].insert(s.x0);
    }
  }
  // 1000 samples: each transform ~125 times, each image ~333 times.
  for (int t = 0; t < 8; ++t) EXPECT_GT(t_count[t], 70) << "transform " << t;
  for (int m = 0; m < 3; ++m) {
    EXPECT_GT(image_count[m], 250) << "image " << m;
    // Every valid top-left row and column is reached, including both extremes.
    EXPECT_EQ(ys[m].size(), size_t(data[m].lr.h - o.patch_lr + 1)) << "image " << m;
    EXPECT_EQ(xs[m].size(), size_t(data[m].lr.w - o.patch_lr + 1)) << "image " << m;
  }
}

TEST(Loader, NoAugmentMeansIdentityOnly) {
  const DecodedImages data(coded_data());
  LoaderOptions o = small_options();
  o.augment = false;
  o.batch_size = 64;
  const Batch b = make_batch(data, o, 2);
  for (int n = 0; n < b.n; ++n) EXPECT_EQ(decode_sample(b, n).t, 0);
}

TEST(Loader, OneOrFourWorkersGiveTheSameSequence) {
  auto data = std::make_shared<const DecodedImages>(coded_data());
  LoaderOptions o = small_options();
  o.workers = 1;
  o.queue_depth = 3;
  std::vector<Batch> one;
  {
    PatchLoader loader(data, o, 5);
    for (int i = 0; i < 20; ++i) one.push_back(loader.next());
    EXPECT_GE(loader.wait_seconds(), 0.0);
  }
  o.workers = 4;
  PatchLoader loader(data, o, 5);
  for (int i = 0; i < 20; ++i) {
    const Batch b = loader.next();
    EXPECT_EQ(b.index, 5 + i);
    EXPECT_TRUE(same_batch(b, one[i])) << "batch " << 5 + i;
    EXPECT_TRUE(same_batch(b, make_batch(*data, o, 5 + i))) << "batch " << 5 + i;
  }
}

TEST(Loader, ManyWorkersWithDepthOneStayInOrder) {
  auto data = std::make_shared<const DecodedImages>(coded_data());
  LoaderOptions o = small_options();
  o.workers = 6;
  o.queue_depth = 1;
  PatchLoader loader(data, o);
  for (int64_t i = 0; i < 30; ++i) ASSERT_EQ(loader.next().index, i);
}

TEST(Loader, DestructorReturnsPromptlyWithAFullQueue) {
  auto data = std::make_shared<const DecodedImages>(coded_data());
  LoaderOptions o = small_options();
  o.workers = 4;
  o.queue_depth = 2;
  const auto t0 = std::chrono::steady_clock::now();
  {
    PatchLoader loader(data, o);
    loader.next();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // workers now block on the full queue
  }
  { PatchLoader never_used(data, o); }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(secs, 2.0);
}

TEST(Loader, OptionsAreValidated) {
  auto shared = std::make_shared<const DecodedImages>(coded_data());
  const DecodedImages& data = *shared;
  auto expect_msg = [&](LoaderOptions o, const std::vector<std::string>& parts) {
    try {
      PatchLoader loader(shared, o);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      const std::string msg = e.what();
      for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
    EXPECT_THROW(make_batch(data, o, 0), Error);
  };
  LoaderOptions o = small_options();
  o.patch_lr = 37;  // img1 is 36x64 in LR
  expect_msg(o, {"img1", "36x64", "144x256", "37"});
  o = small_options();
  o.batch_size = 0;
  expect_msg(o, {"batch_size"});
  o = small_options();
  o.patch_lr = 0;
  expect_msg(o, {"patch_size"});
  o = small_options();
  o.workers = 0;
  expect_msg(o, {"workers"});
  o = small_options();
  o.queue_depth = 0;
  expect_msg(o, {"queue_depth"});
  o = small_options();
  o.scale = 2;  // the data is x4
  expect_msg(o, {"img0", "x2"});
  EXPECT_THROW(make_batch(DecodedImages(std::vector<LoadedPair>{}), small_options(), 0), Error);
  o = small_options();
  o.patch_lr = 36;  // exactly the smallest side: fine
  EXPECT_EQ(make_batch(data, o, 0).n, 8);
}

}  // namespace
}  // namespace srnas
