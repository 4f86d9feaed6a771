#include "distributed/reducers.h"

#include <climits>

#include <fmt/format.h>

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

  void average(std::vector<torch::Tensor>& grads) override {
    if (size_ == 1) return;  // the sum over one rank divided by 1: nothing to do
    torch::NoGradGuard no_grad;
    for (const auto& [begin, end] : plan_buckets(grads, kBucketElems)) {
      int64_t n = 0;
      for (size_t i = begin; i < end; ++i)
        if (grads[i].defined()) n += grads[i].numel();
      if (n == 0) continue;
      if (n > INT_MAX)
        throw Error(fmt::format("gradient {} has {} elements, more than one MPI_Allreduce can take", begin, n));
      if (buf_.size() < size_t(n)) buf_.resize(size_t(n));
      torch::Tensor flat = torch::from_blob(buf_.data(), {n}, torch::kFloat32);
      int64_t off = 0;
      for (size_t i = begin; i < end; ++i) {
        const torch::Tensor& g = grads[i];
        if (!g.defined()) continue;
        flat.narrow(0, off, g.numel()).view(g.sizes()).copy_(g);  // device -> host, any dtype -> float32
        off += g.numel();
      }
      const int rc = MPI_Allreduce(MPI_IN_PLACE, buf_.data(), int(n), MPI_FLOAT, MPI_SUM, comm_);
      if (rc != MPI_SUCCESS) throw Error(fmt::format("MPI_Allreduce of {} gradient values failed (code {})", n, rc));
      flat.div_(double(size_));
      off = 0;
      for (size_t i = begin; i < end; ++i) {
        torch::Tensor& g = grads[i];
        if (!g.defined()) continue;
        g.copy_(flat.narrow(0, off, g.numel()).view(g.sizes()));
        off += g.numel();
      }
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

#ifndef SRNAS_WITH_NCCL
std::unique_ptr<GradientReducer> make_nccl_reducer(MPI_Comm, int) {
  throw Error("srnas was built without NCCL (configure with -DSRNAS_WITH_NCCL=ON and a CUDA LibTorch)");
}
#endif

}  // namespace srnas
