// srnas_check_resize: checks the MATLAB bicubic against a benchmark's published LR files.
//
// Usage: srnas_check_resize BENCH_DIR   (BENCH_DIR/HR/<name>.png, BENCH_DIR/LR_bicubic/X4/<name>x4.png)
// Prints, per image, the pixels (and channel values) where imresize(modcrop(HR,4), 1/4)
// differs from the LR file, and the Y/RGB PSNR (crop 4) of imresize(LR, 4) against
// modcrop(HR, 4); then the totals and means. Exit status 1 if any pixel differs.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "search_space/error.h"
#include "trainer/image.h"
#include "trainer/matlab_resize.h"
#include "trainer/metrics.h"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  if (argc != 2) {
    fmt::print(stderr, "usage: {} BENCH_DIR  (with HR/ and LR_bicubic/X4/)\n", argv[0]);
    return 2;
  }
  try {
    const fs::path root = argv[1];
    std::vector<fs::path> hr_files;
    for (const auto& e : fs::directory_iterator(root / "HR")) {
      if (e.is_regular_file()) hr_files.push_back(e.path());
    }
    std::sort(hr_files.begin(), hr_files.end());
    if (hr_files.empty()) throw srnas::Error(fmt::format("{}: no HR images", (root / "HR").string()));

    long total_px = 0, total_diff_px = 0, total_diff_vals = 0;
    double sum_y = 0.0, sum_rgb = 0.0, down_ms = 0.0, up_ms = 0.0;
    fmt::print("{:<12} {:>9} {:>9} {:>10} {:>9} {:>10} {:>10}\n", "image", "HR", "LR", "diff_px",
               "diff_val", "Y_PSNR", "RGB_PSNR");
    for (const fs::path& hp : hr_files) {
      const fs::path lp = root / "LR_bicubic" / "X4" / (hp.stem().string() + "x4" + hp.extension().string());
      const srnas::Image hr = srnas::modcrop(srnas::read_image(hp.string()), 4);
      const srnas::Image lr = srnas::read_image(lp.string());

      auto t0 = std::chrono::steady_clock::now();
      const srnas::Image down = srnas::imresize_bicubic(hr, 0.25);
      auto t1 = std::chrono::steady_clock::now();
      const srnas::Image up = srnas::imresize_bicubic(lr, 4.0);
      auto t2 = std::chrono::steady_clock::now();
      down_ms += std::chrono::duration<double, std::milli>(t1 - t0).count();
      up_ms += std::chrono::duration<double, std::milli>(t2 - t1).count();

      if (down.h != lr.h || down.w != lr.w) {
        throw srnas::Error(fmt::format("{}: size {} but the resize gives {}", lp.string(),
                                       srnas::size_string(lr), srnas::size_string(down)));
      }
      long diff_px = 0, diff_vals = 0;
      for (size_t i = 0; i < lr.num_pixels(); ++i) {
        int d = 0;
        for (int c = 0; c < 3; ++c) d += down.rgb[3 * i + c] != lr.rgb[3 * i + c];
        diff_px += d > 0;
        diff_vals += d;
      }
      const double py = srnas::psnr_y(up, hr, 4), prgb = srnas::psnr_rgb(up, hr, 4);
      fmt::print("{:<12} {:>9} {:>9} {:>10} {:>9} {:>10.4f} {:>10.4f}\n", hp.stem().string(),
                 srnas::size_string(hr), srnas::size_string(lr), diff_px, diff_vals, py, prgb);
      total_px += static_cast<long>(lr.num_pixels());
      total_diff_px += diff_px;
      total_diff_vals += diff_vals;
      sum_y += py;
      sum_rgb += prgb;
    }
    const double n = static_cast<double>(hr_files.size());
    fmt::print("total: {} images, {} LR pixels, {} differing pixels ({} values)\n", hr_files.size(),
               total_px, total_diff_px, total_diff_vals);
    fmt::print("bicubic x4 mean: Y-PSNR {:.4f} dB, RGB-PSNR {:.4f} dB (crop 4)\n", sum_y / n, sum_rgb / n);
    fmt::print("time: downscale {:.1f} ms, upscale {:.1f} ms (all images)\n", down_ms, up_ms);
    return total_diff_px == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "srnas_check_resize: error: {}\n", e.what());
    return 2;
  }
}
