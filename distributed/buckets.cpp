#include "distributed/nccl_reducer.h"

#include "search_space/error.h"

namespace srnas {

std::vector<std::pair<size_t, size_t>> plan_buckets(const std::vector<torch::Tensor>& grads, int64_t bucket_elems) {
  std::vector<std::pair<size_t, size_t>> buckets;
  size_t begin = 0;
  int64_t filled = 0;
  for (size_t i = 0; i < grads.size(); ++i) {
    const int64_t n = grads[i].defined() ? grads[i].numel() : 0;
    if (filled > 0 && filled + n > bucket_elems) {
      buckets.emplace_back(begin, i);
      begin = i;
      filled = 0;
    }
    filled += n;
  }
  if (begin < grads.size()) buckets.emplace_back(begin, grads.size());
  return buckets;
}

int64_t bucket_numel(const std::vector<torch::Tensor>& grads, size_t begin, size_t end) {
  int64_t n = 0;
  for (size_t i = begin; i < end; ++i)
    if (grads[i].defined()) n += grads[i].numel();
  return n;
}

void pack_bucket(const std::vector<torch::Tensor>& grads, size_t begin, size_t end, torch::Tensor& flat) {
  int64_t off = 0;
  for (size_t i = begin; i < end; ++i) {
    const torch::Tensor& g = grads[i];
    if (!g.defined()) continue;
    flat.narrow(0, off, g.numel()).view(g.sizes()).copy_(g);
    off += g.numel();
  }
}

void unpack_bucket(const torch::Tensor& flat, size_t begin, size_t end, std::vector<torch::Tensor>& grads) {
  int64_t off = 0;
  for (size_t i = begin; i < end; ++i) {
    torch::Tensor& g = grads[i];
    if (!g.defined()) continue;
    g.copy_(flat.narrow(0, off, g.numel()).view(g.sizes()));
    off += g.numel();
  }
}

#ifdef SRNAS_WITH_NCCL
bool nccl_compiled() { return true; }
#else
bool nccl_compiled() { return false; }
std::unique_ptr<GradientReducer> make_nccl_reducer(int, int, int, const BroadcastFn&) {
  throw Error("srnas was built without NCCL (configure with -DSRNAS_WITH_NCCL=ON and a CUDA LibTorch)");
}
#endif

}  // namespace srnas
