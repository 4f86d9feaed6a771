// Image: an 8-bit RGB picture in memory, plus reading, PNG writing and modcrop. ImageView: the
// same layout read-only, over pixels owned elsewhere (an Image, a mapped decoded-image cache).
//
// Contract: h x w pixels, HWC, RGB interleaved (rgb.size() == h*w*3). read_image() takes
// PNG/JPEG/BMP/TIFF and returns 8-bit RGB: gray replicated, alpha dropped, 16-bit rounded
// (each with a stderr warning naming the file); unreadable, empty, corrupt or truncated files
// throw srnas::Error naming the file. write_png() is atomic (temporary file + rename).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace srnas {

struct Image {
  int h = 0;
  int w = 0;
  std::vector<uint8_t> rgb;  // h*w*3 bytes, row-major, R G B per pixel

  Image() = default;
  Image(int height, int width, uint8_t fill = 0)
      : h(height), w(width), rgb(static_cast<size_t>(height) * width * 3, fill) {}

  bool empty() const { return h <= 0 || w <= 0; }
  size_t num_pixels() const { return static_cast<size_t>(h) * w; }
  size_t row_stride() const { return static_cast<size_t>(w) * 3; }
  uint8_t* row(int y) { return rgb.data() + y * row_stride(); }
  const uint8_t* row(int y) const { return rgb.data() + y * row_stride(); }
  uint8_t& at(int y, int x, int c) { return rgb[(static_cast<size_t>(y) * w + x) * 3 + c]; }
  uint8_t at(int y, int x, int c) const { return rgb[(static_cast<size_t>(y) * w + x) * 3 + c]; }
  bool operator==(const Image& o) const { return h == o.h && w == o.w && rgb == o.rgb; }
  bool operator!=(const Image& o) const { return !(*this == o); }
};

// Read-only pixels laid out as Image::rgb; valid while their owner lives. An Image converts to
// its view implicitly (a malformed one, rgb.size() != h*w*3, throws srnas::Error), so code that
// only reads (metrics, image_to_tensor) takes views and serves Images and mapped files alike.
struct ImageView {
  int h = 0;
  int w = 0;
  const uint8_t* rgb = nullptr;  // h*w*3 bytes, row-major RGB

  ImageView() = default;
  ImageView(int height, int width, const uint8_t* pixels) : h(height), w(width), rgb(pixels) {}
  ImageView(const Image& img);  // NOLINT(google-explicit-constructor): views are taken everywhere

  size_t bytes() const { return static_cast<size_t>(h) * w * 3; }
  bool empty() const { return h <= 0 || w <= 0; }
  size_t num_pixels() const { return static_cast<size_t>(h) * w; }
  size_t row_stride() const { return static_cast<size_t>(w) * 3; }
  const uint8_t* row(int y) const { return rgb + y * row_stride(); }
  uint8_t at(int y, int x, int c) const { return rgb[(static_cast<size_t>(y) * w + x) * 3 + c]; }
};

// "HxW", e.g. "248x360" (height first, as everywhere in srnas).
std::string size_string(const Image& img);
std::string size_string(const ImageView& img);

// Reads an image file as 8-bit RGB (see the contract above).
Image read_image(const std::string& path);

// Writes img as an 8-bit RGB PNG; the file appears complete or not at all.
void write_png(const std::string& path, const Image& img);

// Crops to the largest multiple of scale in each dimension, keeping the top-left:
// 250x361 with scale 4 -> 248x360. Throws if scale < 1 or the result would be empty.
Image modcrop(const Image& img, int scale);

}  // namespace srnas
