// Gradient reducers for data-parallel training: average each step's gradients across the ranks
// of a group, behind trainer/train.h's GradientReducer (hooks.reducer; nullptr for one rank).
//
// Contract: construction is collective over group_comm (every rank of the group builds its
// reducer together; it keeps a duplicate of the communicator) and must happen after MpiEnv and
// before it ends. average() is collective too: all ranks pass the same parameters in the same
// order (undefined gradients are skipped, alike on every rank). Gradients are packed into
// contiguous float32 buckets of about 25 MB (as PyTorch DDP), summed, divided by the group size
// and copied back, in the same order every step, so every rank ends with identical gradients.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include <mpi.h>

#include "trainer/train.h"

namespace srnas {

// MPI_Allreduce(MPI_SUM) on CPU buffers; gradients on a GPU are copied to the host and back.
std::unique_ptr<GradientReducer> make_mpi_reducer(MPI_Comm group_comm);

// NCCL all-reduce in place on the GPU, one GPU per rank: device local_rank % device count
// (cudaSetDevice here: build the reducer before the model). The ncclUniqueId is made on group
// rank 0 and sent with MPI_Bcast. Runs on LibTorch's current CUDA stream when srnas is built
// against a CUDA LibTorch, else on the legacy default stream 0 (which LibTorch uses unless a
// stream guard is active). Gradients must be CUDA tensors on that device. Throws srnas::Error
// "srnas was built without NCCL (...)" when configured without SRNAS_WITH_NCCL.
std::unique_ptr<GradientReducer> make_nccl_reducer(MPI_Comm group_comm, int local_rank);

// Bucket size in float32 elements (25 MiB).
constexpr int64_t kBucketElems = int64_t(25) << 18;
// The buckets both reducers use: [begin, end) ranges of grads, in order, each holding at most
// bucket_elems elements of defined gradients; a larger gradient is a bucket by itself.
std::vector<std::pair<size_t, size_t>> plan_buckets(const std::vector<torch::Tensor>& grads, int64_t bucket_elems);

}  // namespace srnas
