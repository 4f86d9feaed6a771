// Image I/O through OpenCV imgcodecs (core + imgcodecs only; no imgproc). The lean GPU
// build (SRNAS_NO_OPENCV) has no codecs: read_image and write_png throw saying so.
#include "trainer/image.h"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <system_error>

#include <unistd.h>

#include <fmt/core.h>
#ifndef SRNAS_NO_OPENCV
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#endif

#include "search_space/error.h"
#include "search_space/text_file.h"

namespace srnas {
namespace fs = std::filesystem;

namespace {

enum class Format { kPng, kJpeg, kBmp, kTiff, kOther };

Format sniff(const std::vector<uint8_t>& b) {
  auto starts = [&](std::initializer_list<uint8_t> sig) {
    if (b.size() < sig.size()) return false;
    size_t i = 0;
    for (uint8_t s : sig) {
      if (b[i++] != s) return false;
    }
    return true;
  };
  if (starts({0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A})) return Format::kPng;
  if (starts({0xFF, 0xD8, 0xFF})) return Format::kJpeg;
  if (starts({'B', 'M'})) return Format::kBmp;
  if (starts({'I', 'I', 0x2A, 0x00}) || starts({'M', 'M', 0x00, 0x2A})) return Format::kTiff;
  return Format::kOther;
}

const char* format_name(Format f) {
  switch (f) {
    case Format::kPng: return "PNG";
    case Format::kJpeg: return "JPEG";
    case Format::kBmp: return "BMP";
    case Format::kTiff: return "TIFF";
    case Format::kOther: break;
  }
  return "image";
}

// A complete baseline or progressive JPEG ends its last scan (SOS, FF DA) with EOI (FF D9).
// Inside entropy-coded data FF is always followed by 00 or a restart marker, so an
// FF D9 after the last FF DA is the real end of image. Truncated files lack it; libjpeg
// would only warn and return a grey-padded partial image.
bool jpeg_has_eoi_after_last_scan(const std::vector<uint8_t>& b) {
  size_t last_sos = 0;
  bool have_sos = false;
  for (size_t i = 0; i + 1 < b.size(); ++i) {
    if (b[i] == 0xFF && b[i + 1] == 0xDA) {
      last_sos = i;
      have_sos = true;
    }
  }
  if (!have_sos) return false;
  for (size_t i = last_sos + 2; i + 1 < b.size(); ++i) {
    if (b[i] == 0xFF && b[i + 1] == 0xD9) return true;
  }
  return false;
}

[[maybe_unused]] bool png_has_iend(const std::vector<uint8_t>& b) {
  static const uint8_t kIend[4] = {'I', 'E', 'N', 'D'};
  if (b.size() < 12) return false;
  for (size_t i = b.size() - 3; i-- > 8;) {
    if (std::memcmp(&b[i], kIend, 4) == 0) return true;
  }
  return false;
}

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) throw Error(fmt::format("{}: cannot open image: no such file", path));
  if (fs::is_directory(st)) throw Error(fmt::format("{}: cannot open image: is a directory", path));
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw Error(fmt::format("{}: cannot open image: {}", path, std::strerror(errno)));
  }
  std::vector<uint8_t> bytes;
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  in.seekg(0, std::ios::beg);
  if (size < 0 || !in) throw Error(fmt::format("{}: cannot read image file", path));
  bytes.resize(static_cast<size_t>(size));
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size)) {
    throw Error(fmt::format("{}: read error after {} of {} bytes", path, in.gcount(), size));
  }
  return bytes;
}

#ifndef SRNAS_NO_OPENCV
template <typename T>
uint8_t to_u8(T v);
template <>
uint8_t to_u8<uint8_t>(uint8_t v) {
  return v;
}
// round(v * 255 / 65535) == round(v / 257); never a tie since 257 is odd.
template <>
uint8_t to_u8<uint16_t>(uint16_t v) {
  return static_cast<uint8_t>((static_cast<uint32_t>(v) + 128u) / 257u);
}

// OpenCV order is B G R (A) or gray (alpha); Image is R G B.
template <typename T>
void copy_to_rgb(const cv::Mat& m, Image& out) {
  const int ch = m.channels();
  for (int y = 0; y < m.rows; ++y) {
    const T* src = m.ptr<T>(y);
    uint8_t* dst = out.row(y);
    for (int x = 0; x < m.cols; ++x, src += ch, dst += 3) {
      if (ch <= 2) {
        dst[0] = dst[1] = dst[2] = to_u8<T>(src[0]);
      } else {
        dst[0] = to_u8<T>(src[2]);
        dst[1] = to_u8<T>(src[1]);
        dst[2] = to_u8<T>(src[0]);
      }
    }
  }
}
#endif

}  // namespace

std::string size_string(const Image& img) { return fmt::format("{}x{}", img.h, img.w); }
std::string size_string(const ImageView& img) { return fmt::format("{}x{}", img.h, img.w); }

ImageView::ImageView(const Image& img) : h(img.h), w(img.w), rgb(img.rgb.data()) {
  if (img.rgb.size() != img.num_pixels() * 3)
    throw Error(fmt::format("malformed image: {} bytes for {} pixels", img.rgb.size(), size_string(img)));
}

Image read_image(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  if (bytes.empty()) throw Error(fmt::format("{}: not an image: empty file (0 bytes)", path));
  const Format fmt_kind = sniff(bytes);
  if (fmt_kind == Format::kJpeg && !jpeg_has_eoi_after_last_scan(bytes)) {
    throw Error(fmt::format("{}: truncated JPEG: no end-of-image marker (FF D9) after the last scan "
                            "({} bytes)", path, bytes.size()));
  }

#ifdef SRNAS_NO_OPENCV
  throw Error(fmt::format("{}: cannot decode a {}: srnas was built without OpenCV (lean GPU build)", path,
                          format_name(fmt_kind)));
#else
  cv::Mat m;
  try {
    m = cv::imdecode(cv::Mat(1, static_cast<int>(bytes.size()), CV_8UC1,
                             const_cast<uint8_t*>(bytes.data())),
                     cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    throw Error(fmt::format("{}: not a decodable {}: {}", path, format_name(fmt_kind), e.what()));
  }
  if (m.empty()) {
    if (fmt_kind == Format::kPng && !png_has_iend(bytes)) {
      throw Error(fmt::format("{}: truncated PNG: no IEND chunk ({} bytes)", path, bytes.size()));
    }
    if (fmt_kind == Format::kOther) {
      throw Error(fmt::format("{}: not a decodable image: unrecognised format ({} bytes)", path,
                              bytes.size()));
    }
    throw Error(fmt::format("{}: not a decodable image: corrupt {} ({} bytes)", path,
                            format_name(fmt_kind), bytes.size()));
  }
  if (m.dims != 2 || m.rows <= 0 || m.cols <= 0) {
    throw Error(fmt::format("{}: not a 2-D image", path));
  }
  const int ch = m.channels();
  if (ch != 1 && ch != 2 && ch != 3 && ch != 4) {
    throw Error(fmt::format("{}: unsupported image with {} channels (expected 1-4)", path, ch));
  }
  const int depth = m.depth();
  if (depth != CV_8U && depth != CV_16U) {
    throw Error(fmt::format("{}: unsupported sample type (OpenCV depth {}); expected 8- or 16-bit "
                            "unsigned integers", path, depth));
  }
  if (depth == CV_16U) {
    fmt::print(stderr, "srnas: warning: {}: 16-bit image converted to 8 bit (round(v*255/65535))\n",
               path);
  }
  if (ch == 2 || ch == 4) {
    fmt::print(stderr, "srnas: warning: {}: alpha channel dropped\n", path);
  }

  Image out(m.rows, m.cols);
  if (depth == CV_8U) {
    copy_to_rgb<uint8_t>(m, out);
  } else {
    copy_to_rgb<uint16_t>(m, out);
  }
  return out;
#endif
}

void write_png(const std::string& path, const Image& img) {
  if (img.empty() || img.rgb.size() != img.num_pixels() * 3) {
    throw Error(fmt::format("{}: cannot write PNG: invalid image {} with {} bytes", path,
                            size_string(img), img.rgb.size()));
  }
#ifdef SRNAS_NO_OPENCV
  throw Error(fmt::format("{}: cannot write PNG: srnas was built without OpenCV (lean GPU build)", path));
#else
  cv::Mat bgr(img.h, img.w, CV_8UC3);
  for (int y = 0; y < img.h; ++y) {
    const uint8_t* src = img.row(y);
    uint8_t* dst = bgr.ptr<uint8_t>(y);
    for (int x = 0; x < img.w; ++x, src += 3, dst += 3) {
      dst[0] = src[2];
      dst[1] = src[1];
      dst[2] = src[0];
    }
  }
  std::vector<uint8_t> buf;
  try {
    if (!cv::imencode(".png", bgr, buf)) {
      throw Error(fmt::format("{}: cannot write PNG: encoder failed", path));
    }
  } catch (const cv::Exception& e) {
    throw Error(fmt::format("{}: cannot write PNG: {}", path, e.what()));
  }

  write_file_atomic(path, std::string_view(reinterpret_cast<const char*>(buf.data()), buf.size()),
                    "cannot write PNG");
#endif
}

Image modcrop(const Image& img, int scale) {
  if (scale < 1) throw Error(fmt::format("modcrop: scale must be >= 1, got {}", scale));
  const int h = img.h - img.h % scale;
  const int w = img.w - img.w % scale;
  if (h <= 0 || w <= 0) {
    throw Error(fmt::format("modcrop: image {} is smaller than the scale {}", size_string(img),
                            scale));
  }
  Image out(h, w);
  for (int y = 0; y < h; ++y) {
    std::memcpy(out.row(y), img.row(y), out.row_stride());
  }
  return out;
}

}  // namespace srnas
