// Gradient reducers for data-parallel training (trainer/train.h's GradientReducer): average each
// step's gradients over the ranks of a group, in ~25 MB float32 buckets as PyTorch DDP does.
//
// Contract: construction and average() are collective over the group (same parameters, same
// order on every rank; undefined gradients skipped); buckets are summed, divided by the group
// size and copied back in a fixed order, so every rank ends each step with identical gradients.
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
// Keeps a duplicate of group_comm (MPI_Comm_dup): destroy the reducer before MpiEnv ends.
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
