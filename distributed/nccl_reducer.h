// Gradient buckets and the NCCL gradient reducer, with no MPI in sight: the id exchange
// is a callback, so a single process (the GPU check) or MPI (reducers.h) can drive it.
//
// Contract: buckets are [begin, end) ranges of the gradient list, in order, each holding
// at most bucket_elems elements of defined gradients (a larger gradient is a bucket by
// itself), as PyTorch DDP does. The NCCL reducer runs one GPU per rank (device local_rank %
// device count, cudaSetDevice here: build it before the model); construction and average()
// are collective over the `size` ranks; average() all-reduces even on one rank. Without
// SRNAS_WITH_NCCL make_nccl_reducer throws "srnas was built without NCCL (...)".
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "trainer/train.h"

namespace srnas {

// Bucket size in float32 elements (25 MiB).
constexpr int64_t kBucketElems = int64_t(25) << 18;
std::vector<std::pair<size_t, size_t>> plan_buckets(const std::vector<torch::Tensor>& grads, int64_t bucket_elems);
// Elements of the defined gradients in grads[begin, end).
int64_t bucket_numel(const std::vector<torch::Tensor>& grads, size_t begin, size_t end);
// Copies the defined gradients of grads[begin, end), in order, into the 1-D float32 `flat`
// (any device and dtype: copy_ converts), and back out of it.
void pack_bucket(const std::vector<torch::Tensor>& grads, size_t begin, size_t end, torch::Tensor& flat);
void unpack_bucket(const torch::Tensor& flat, size_t begin, size_t end, std::vector<torch::Tensor>& grads);

// Copies `bytes` bytes at `data` from rank 0 to every rank (MPI_Bcast; a no-op on one rank).
using BroadcastFn = std::function<void(void* data, size_t bytes)>;

// NCCL all-reduce in place on the GPU. The ncclUniqueId is made on rank 0 and sent with
// `broadcast`. Runs on LibTorch's current CUDA stream when built against a CUDA LibTorch,
// else on the legacy default stream 0. Gradients must be CUDA tensors on this rank's device.
std::unique_ptr<GradientReducer> make_nccl_reducer(int rank, int size, int local_rank, const BroadcastFn& broadcast);

bool nccl_compiled();  // built with SRNAS_WITH_NCCL

}  // namespace srnas
