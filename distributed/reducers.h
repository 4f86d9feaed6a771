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

#include "distributed/nccl_reducer.h"
#include "trainer/train.h"

namespace srnas {

// MPI_Allreduce(MPI_SUM) on CPU buffers; gradients on a GPU are copied to the host and back.
// Keeps a duplicate of group_comm (MPI_Comm_dup): destroy the reducer before MpiEnv ends.
std::unique_ptr<GradientReducer> make_mpi_reducer(MPI_Comm group_comm);

// The NCCL reducer (nccl_reducer.h) over group_comm: the ncclUniqueId is made on group
// rank 0 and sent with MPI_Bcast. Throws srnas::Error "srnas was built without NCCL (...)"
// when configured without SRNAS_WITH_NCCL.
std::unique_ptr<GradientReducer> make_nccl_reducer(MPI_Comm group_comm, int local_rank);

}  // namespace srnas
