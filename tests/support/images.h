// Test support: deterministic synthetic images (no files, no randomness), so tests that
// need "some photo" are reproducible and independent of data/samples.
#pragma once

#include <cstdint>

#include "trainer/image.h"

namespace srnas::testing {

// Ramps with a coarse 3-level texture; k varies the image. Written as PNG data sets by the
// search and hardening tests.
inline Image ramp_pattern(int h, int w, int k) {
  Image img(h, w);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) img.at(y, x, c) = uint8_t((x * (2 + k) + y * (3 + c) + (x / 5 + y / 7) % 3 * 40) % 256);
  return img;
}

// Ramps over an 8-px checkerboard; k varies the image. Training data of the trainer tests.
inline Image checker_pattern(int h, int w, int k) {
  Image img(h, w);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) img.at(y, x, c) = uint8_t((x * (3 + k) + y * (5 + c) + ((x / 8 + y / 8) % 2) * 60) % 256);
  return img;
}

}  // namespace srnas::testing
