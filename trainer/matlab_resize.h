// MATLAB-compatible bicubic imresize (how every LR image in the SR field was made).
//
// Contract (docs/protocol.md): cubic kernel a = -0.5, output length ceil(in*scale), antialias
// on downscale (kernel width 4/scale), symmetric mirroring, separable: H first, then W. The
// uint8 path rounds half up and clamps after EACH pass (bit-exact with the published Set5/Set14
// LR PNGs); the float64 path never rounds or clamps.
#pragma once

#include <vector>

#include "trainer/image.h"

namespace srnas {

// The MATLAB cubic kernel with a = -0.5 (support [-2, 2]).
double cubic_kernel(double x);

// Output length MATLAB gives for a scale: ceil(in_len * scale).
int resize_output_length(int in_len, double scale);

// Weight/index table for one dimension: output i uses input pixels index[i*taps + k]
// (0-based, already mirrored into [0, in_len)) with weight[i*taps + k], k = 0..taps-1
// in MATLAB's tap order; each row of weights sums to 1 (up to rounding).
struct ResizeTable {
  int in_len = 0;
  int out_len = 0;
  int taps = 0;  // ceil(kernel width) + 2, as MATLAB
  std::vector<int> index;
  std::vector<double> weight;
};
ResizeTable bicubic_table(int in_len, int out_len, double scale);

// uint8 RGB resize; throws srnas::Error for an empty image or a non-positive scale.
Image imresize_bicubic(const Image& in, double scale);

// Planar float64 image: data[(ch * h + y) * w + x].
struct ImageF64 {
  int c = 0;
  int h = 0;
  int w = 0;
  std::vector<double> data;
};

// float64 resize of every channel; no rounding or clamping anywhere.
ImageF64 imresize_bicubic(const ImageF64& in, double scale);

}  // namespace srnas
