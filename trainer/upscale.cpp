#include "trainer/upscale.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "search_space/accounting.h"
#include "search_space/error.h"

namespace srnas {

torch::Tensor upscale(const SRFunction& f, const torch::Tensor& lr, int tile, int context) {
  if (lr.dim() != 4 || lr.size(0) != 1 || lr.size(1) != 3)
    throw Error(fmt::format("upscale: expected a 1 x 3 x h x w LR tensor, got {}", fmt::join(lr.sizes(), " x ")));
  if (context < 0) throw Error(fmt::format("upscale: context must be >= 0, got {}", context));
  const int64_t h = lr.size(2), w = lr.size(3);
  if (tile <= 0 || (tile >= h && tile >= w)) return f(lr);
  torch::Tensor out = torch::empty({1, 3, 4 * h, 4 * w}, lr.options());
  for (int64_t y0 = 0; y0 < h; y0 += tile) {
    const int64_t y1 = std::min(h, y0 + tile), cy0 = std::max<int64_t>(0, y0 - context),
                  cy1 = std::min(h, y1 + context);
    for (int64_t x0 = 0; x0 < w; x0 += tile) {
      const int64_t x1 = std::min(w, x0 + tile), cx0 = std::max<int64_t>(0, x0 - context),
                    cx1 = std::min(w, x1 + context);
      const torch::Tensor sr = f(lr.slice(2, cy0, cy1).slice(3, cx0, cx1).contiguous());
      out.slice(2, 4 * y0, 4 * y1)
          .slice(3, 4 * x0, 4 * x1)
          .copy_(sr.slice(2, 4 * (y0 - cy0), 4 * (y1 - cy0)).slice(3, 4 * (x0 - cx0), 4 * (x1 - cx0)));
    }
  }
  return out;
}

int tile_context(const Genome& g, int fallback) {
  const int r = receptive_radius(g);
  return r < 0 ? fallback : r;
}

}  // namespace srnas
