// Image I/O and modcrop: round trips, format conversions and hand-made bad files.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "search_space/error.h"
#include "trainer/image.h"
#include "../support/scratch.h"

namespace srnas {
namespace {
namespace fs = std::filesystem;

class ImageIo : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = srnas::testing::scratch_dir("images"); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  static void write_bytes(const std::string& p, const std::vector<uint8_t>& b) {
    std::ofstream out(p, std::ios::binary);
    out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  }
  static std::vector<uint8_t> encode(const std::string& ext, const cv::Mat& m) {
    std::vector<uint8_t> buf;
    EXPECT_TRUE(cv::imencode(ext, m, buf)) << ext;
    return buf;
  }
  // Expects read_image(p) to throw an Error whose message names p and contains `what`.
  static void expect_read_error(const std::string& p, const std::string& what) {
    try {
      read_image(p);
      FAIL() << "no error for " << p;
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(p), std::string::npos) << msg;
      EXPECT_NE(msg.find(what), std::string::npos) << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  }

  fs::path dir_;
};

Image pattern(int h, int w) {
  Image img(h, w);
  for (size_t i = 0; i < img.rgb.size(); ++i) img.rgb[i] = static_cast<uint8_t>((i * 131 + 7) % 256);
  return img;
}

cv::Mat noise_bgr(int h, int w) {
  cv::Mat m(h, w, CV_8UC3);
  cv::randu(m, cv::Scalar::all(0), cv::Scalar::all(256));
  return m;
}

TEST(Modcrop, CropsToAMultipleFromTheTopLeft) {
  const Image img = pattern(250, 361);
  const Image out = modcrop(img, 4);
  EXPECT_EQ(out.h, 248);
  EXPECT_EQ(out.w, 360);
  for (int y : {0, 100, 247}) {
    for (int x : {0, 200, 359}) {
      for (int c = 0; c < 3; ++c) EXPECT_EQ(out.at(y, x, c), img.at(y, x, c));
    }
  }
  EXPECT_EQ(modcrop(img, 1), img);
  EXPECT_EQ(modcrop(pattern(8, 12), 4), pattern(8, 12));
  EXPECT_THROW(modcrop(pattern(3, 10), 4), Error);
  EXPECT_THROW(modcrop(img, 0), Error);
}

TEST_F(ImageIo, PngRoundTripIsExactAndLeavesNoTemporaries) {
  const Image img = pattern(17, 23);
  write_png(path("a.png"), img);
  EXPECT_EQ(read_image(path("a.png")), img);
  write_png(path("a.png"), pattern(5, 6));  // overwrite in place
  EXPECT_EQ(read_image(path("a.png")), pattern(5, 6));
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir_)) {
    ++files;
    EXPECT_EQ(e.path().filename(), "a.png");
  }
  EXPECT_EQ(files, 1);
}

TEST_F(ImageIo, ChannelOrderIsRgbOnBothSides) {
  Image red(1, 2);
  red.at(0, 0, 0) = 255;  // pure red
  red.at(0, 1, 2) = 200;  // blue-ish
  write_png(path("red.png"), red);
  const cv::Mat m = cv::imread(path("red.png"), cv::IMREAD_UNCHANGED);
  ASSERT_EQ(m.type(), CV_8UC3);
  EXPECT_EQ(m.at<cv::Vec3b>(0, 0), cv::Vec3b(0, 0, 255));  // OpenCV stores BGR
  EXPECT_EQ(m.at<cv::Vec3b>(0, 1), cv::Vec3b(200, 0, 0));

  cv::Mat bgr(1, 1, CV_8UC3, cv::Scalar(10, 20, 30));  // B=10 G=20 R=30
  write_bytes(path("bgr.png"), encode(".png", bgr));
  const Image back = read_image(path("bgr.png"));
  EXPECT_EQ(back.at(0, 0, 0), 30);
  EXPECT_EQ(back.at(0, 0, 1), 20);
  EXPECT_EQ(back.at(0, 0, 2), 10);
}

TEST_F(ImageIo, ReadsJpegBmpAndTiff) {
  const cv::Mat m = noise_bgr(12, 20);
  write_bytes(path("x.jpg"), encode(".jpg", m));
  const Image jpg = read_image(path("x.jpg"));
  EXPECT_EQ(jpg.h, 12);
  EXPECT_EQ(jpg.w, 20);

  write_bytes(path("x.bmp"), encode(".bmp", m));
  const Image bmp = read_image(path("x.bmp"));
  ASSERT_EQ(bmp.h, 12);
  EXPECT_EQ(bmp.at(3, 4, 0), m.at<cv::Vec3b>(3, 4)[2]);  // lossless, R <- B G R [2]

  if (cv::haveImageWriter(".tif")) {
    write_bytes(path("x.tif"), encode(".tif", m));
    const Image tif = read_image(path("x.tif"));
    ASSERT_EQ(tif.w, 20);
    EXPECT_EQ(tif.at(5, 6, 2), m.at<cv::Vec3b>(5, 6)[0]);
  }
}

TEST_F(ImageIo, GrayscaleIsReplicated) {
  cv::Mat g(3, 4, CV_8UC1);
  for (int i = 0; i < 12; ++i) g.data[i] = static_cast<uint8_t>(i * 20);
  write_bytes(path("g.png"), encode(".png", g));
  const Image img = read_image(path("g.png"));
  ASSERT_EQ(img.h, 3);
  ASSERT_EQ(img.w, 4);
  for (int i = 0; i < 12; ++i) {
    for (int c = 0; c < 3; ++c) EXPECT_EQ(img.rgb[3 * i + c], i * 20);
  }
}

// round(v*255/65535) = round(v/257): 25828/257 = 100.498 -> 100, 25829/257 = 100.502 -> 101.
TEST_F(ImageIo, SixteenBitIsRoundedWithAWarning) {
  cv::Mat m(1, 3, CV_16UC3);
  m.at<cv::Vec<uint16_t, 3>>(0, 0) = {0, 65535, 25828};  // B G R
  m.at<cv::Vec<uint16_t, 3>>(0, 1) = {25829, 128, 129};
  m.at<cv::Vec<uint16_t, 3>>(0, 2) = {65406, 65407, 32768};  // 254.498, 254.502, 127.502
  write_bytes(path("d16.png"), encode(".png", m));
  ::testing::internal::CaptureStderr();
  const Image img = read_image(path("d16.png"));
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find(path("d16.png")), std::string::npos) << err;
  EXPECT_NE(err.find("16-bit"), std::string::npos) << err;
  ASSERT_EQ(img.w, 3);
  const int expected[3][3] = {{100, 255, 0}, {1, 0, 101}, {128, 255, 254}};  // R G B
  for (int x = 0; x < 3; ++x) {
    for (int c = 0; c < 3; ++c) EXPECT_EQ(img.at(0, x, c), expected[x][c]) << x << "," << c;
  }
}

TEST_F(ImageIo, AlphaIsDroppedWithAWarning) {
  cv::Mat m(2, 2, CV_8UC4, cv::Scalar(1, 2, 3, 0));  // B G R A, fully transparent
  write_bytes(path("rgba.png"), encode(".png", m));
  ::testing::internal::CaptureStderr();
  const Image img = read_image(path("rgba.png"));
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find(path("rgba.png")), std::string::npos) << err;
  EXPECT_NE(err.find("alpha"), std::string::npos) << err;
  ASSERT_EQ(img.h, 2);
  EXPECT_EQ(img.at(1, 1, 0), 3);
  EXPECT_EQ(img.at(1, 1, 1), 2);
  EXPECT_EQ(img.at(1, 1, 2), 1);
}

TEST_F(ImageIo, PlainReadsAreSilent) {
  write_png(path("q.png"), pattern(4, 4));
  ::testing::internal::CaptureStderr();
  read_image(path("q.png"));
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

TEST_F(ImageIo, MissingFile) { expect_read_error(path("nope.png"), "no such file"); }

TEST_F(ImageIo, Directory) { expect_read_error(dir_.string(), "directory"); }

TEST_F(ImageIo, EmptyFile) {
  write_bytes(path("empty.png"), {});
  expect_read_error(path("empty.png"), "empty");
}

TEST_F(ImageIo, CorruptPng) {
  std::vector<uint8_t> b = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  std::mt19937 rng(42);
  for (int i = 0; i < 500; ++i) b.push_back(static_cast<uint8_t>(rng()));
  write_bytes(path("corrupt.png"), b);
  expect_read_error(path("corrupt.png"), "PNG");
}

TEST_F(ImageIo, TruncatedPng) {
  std::vector<uint8_t> b = encode(".png", noise_bgr(32, 32));
  b.resize(b.size() / 2);
  write_bytes(path("half.png"), b);
  expect_read_error(path("half.png"), "PNG");
}

TEST_F(ImageIo, TruncatedJpeg) {
  std::vector<uint8_t> b = encode(".jpg", noise_bgr(64, 64));
  b.resize(b.size() / 2);
  write_bytes(path("half.jpg"), b);
  expect_read_error(path("half.jpg"), "truncated JPEG");
}

TEST_F(ImageIo, UnknownBytes) {
  write_bytes(path("text.png"), {'h', 'e', 'l', 'l', 'o', '\n'});
  expect_read_error(path("text.png"), "not a decodable image");
}

TEST_F(ImageIo, WriteErrorsNameTheFile) {
  const std::string p = path("no_such_dir/out.png");
  try {
    write_png(p, pattern(2, 2));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(p + ": cannot write PNG: cannot create"), std::string::npos) << e.what();
  }
  EXPECT_THROW(write_png(path("empty_img.png"), Image()), Error);
  // Written through a temporary file renamed over the target: an existing file is replaced
  // whole and nothing else is left in the folder.
  const std::string q = path("twice.png");
  write_png(q, pattern(4, 4));
  write_png(q, pattern(6, 5));
  EXPECT_EQ(read_image(q).w, 5);
  int files = 0;
  for (const auto& f : std::filesystem::directory_iterator(std::filesystem::path(q).parent_path()))
    files += f.path().string().find("twice.png") != std::string::npos;
  EXPECT_EQ(files, 1);
}

}  // namespace
}  // namespace srnas
