// Image quality metrics of the SR field on uint8 RGB images (docs/protocol.md, "Metrics"); an
// Image or a view of mapped pixels (ImageView) alike.
//
// Contract: sr and hr must have the same size (else srnas::Error naming both sizes);
// crop_px pixels are removed from every border of both before measuring (the scale, 4,
// in the challenge and in papers). All arithmetic is float64. PSNR = 20*log10(255/sqrt(MSE)),
// +infinity for identical images. Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255, not rounded.
#pragma once

#include <vector>

#include "trainer/image.h"

namespace srnas {

// Challenge PSNR: MSE over all three channels.
double psnr_rgb(const ImageView& sr, const ImageView& hr, int crop_px);

// Benchmark PSNR on the Y channel.
double psnr_y(const ImageView& sr, const ImageView& hr, int crop_px);

// SSIM (Wang et al. 2004, as MATLAB ssim_index / BasicSR calculate_ssim) on the Y channel:
// 11x11 Gaussian window with sigma 1.5, C1 = (0.01*255)^2, C2 = (0.03*255)^2, mean over
// the "valid" region. Throws if the cropped image is smaller than 11x11.
double ssim_y(const ImageView& sr, const ImageView& hr, int crop_px);

// Y channel (row-major h*w float64 values in [16, 235]) of the whole image.
std::vector<double> rgb_to_y(const ImageView& img);

}  // namespace srnas
