#include "distributed/reducers.h"

#include <climits>

#include <fmt/format.h>

#include "search_space/error.h"

namespace srnas {

namespace {

class MpiReducer : public GradientReducer {
 public:
  explicit MpiReducer(MPI_Comm group_comm) {
    // A private duplicate: the reducer's collectives never match other traffic on group_comm.
    if (group_comm == MPI_COMM_NULL) throw Error("make_mpi_reducer: the group communicator is MPI_COMM_NULL");
    MPI_Comm_dup(group_comm, &comm_);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
  ~MpiReducer() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
  }
  MpiReducer(const MpiReducer&) = delete;
  MpiReducer& operator=(const MpiReducer&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void sum(double* values, int n) override {
    if (size_ == 1 || n == 0) return;
    const int rc = MPI_Allreduce(MPI_IN_PLACE, values, n, MPI_DOUBLE, MPI_SUM, comm_);
    if (rc != MPI_SUCCESS) throw Error(fmt::format("MPI_Allreduce of {} values failed (code {})", n, rc));
  }

  void average(std::vector<torch::Tensor>& grads) override {
    if (size_ == 1) return;  // the sum over one rank divided by 1: nothing to do
    torch::NoGradGuard no_grad;
    for (const auto& [begin, end] : plan_buckets(grads, kBucketElems)) {
      const int64_t n = bucket_numel(grads, begin, end);
      if (n == 0) continue;
      if (n > INT_MAX)
        throw Error(fmt::format("gradient {} has {} elements, more than one MPI_Allreduce can take", begin, n));
      if (buf_.size() < size_t(n)) buf_.resize(size_t(n));
      torch::Tensor flat = torch::from_blob(buf_.data(), {n}, torch::kFloat32);
      pack_bucket(grads, begin, end, flat);  // device -> host, any dtype -> float32
      const int rc = MPI_Allreduce(MPI_IN_PLACE, buf_.data(), int(n), MPI_FLOAT, MPI_SUM, comm_);
      if (rc != MPI_SUCCESS) throw Error(fmt::format("MPI_Allreduce of {} gradient values failed (code {})", n, rc));
      flat.div_(double(size_));
      unpack_bucket(flat, begin, end, grads);
    }
  }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  std::vector<float> buf_;  // reused across steps
};

}  // namespace

std::unique_ptr<GradientReducer> make_mpi_reducer(MPI_Comm group_comm) {
  return std::make_unique<MpiReducer>(group_comm);
}

std::unique_ptr<GradientReducer> make_nccl_reducer(MPI_Comm group_comm, int local_rank) {
  if (!nccl_compiled()) return make_nccl_reducer(0, 1, local_rank, {});  // throws "built without NCCL"
  if (group_comm == MPI_COMM_NULL) throw Error("make_nccl_reducer: the group communicator is MPI_COMM_NULL");
  int rank = 0, size = 1;
  MPI_Comm_rank(group_comm, &rank);
  MPI_Comm_size(group_comm, &size);
  return make_nccl_reducer(rank, size, local_rank, [group_comm](void* data, size_t bytes) {
    const int rc = MPI_Bcast(data, int(bytes), MPI_BYTE, 0, group_comm);
    if (rc != MPI_SUCCESS) throw Error(fmt::format("MPI_Bcast of the NCCL id failed (code {})", rc));
  });
}

}  // namespace srnas
