// The NCCL GradientReducer (compiled only with SRNAS_WITH_NCCL). Uses the CUDA runtime API and
// NCCL's C API; LibTorch's CUDA headers only when built against a CUDA LibTorch
// (SRNAS_TORCH_CUDA), for its current stream.
#include "distributed/nccl_reducer.h"

#include <cstring>

#include <cuda_runtime_api.h>
#include <fmt/format.h>
#include <nccl.h>

#ifdef SRNAS_TORCH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

#include "search_space/error.h"

namespace srnas {

namespace {

void cuda_check(cudaError_t rc, const char* what) {
  if (rc != cudaSuccess) throw Error(fmt::format("{} failed: {}", what, cudaGetErrorString(rc)));
}

void nccl_check(ncclResult_t rc, const char* what) {
  if (rc != ncclSuccess) throw Error(fmt::format("{} failed: {}", what, ncclGetErrorString(rc)));
}

class NcclReducer : public GradientReducer {
 public:
  NcclReducer(int rank, int size, int local_rank, const BroadcastFn& broadcast) : rank_(rank), size_(size) {
    if (size < 1 || rank < 0 || rank >= size)
      throw Error(fmt::format("make_nccl_reducer: rank {} of {} is not a valid group position", rank, size));
    int n_dev = 0;
    cuda_check(cudaGetDeviceCount(&n_dev), "cudaGetDeviceCount");
    if (n_dev < 1) throw Error("make_nccl_reducer: no CUDA device is visible");
    device_ = local_rank % n_dev;
    cuda_check(cudaSetDevice(device_), "cudaSetDevice");

    // Group rank 0 makes the id and sends it with a success flag, so a failure there does not
    // leave the other ranks waiting inside ncclCommInitRank.
    char msg[sizeof(int) + sizeof(ncclUniqueId)] = {};
    int ok = 1;
    ncclUniqueId id;
    std::memset(&id, 0, sizeof id);
    ncclResult_t id_rc = ncclSuccess;
    if (rank_ == 0) {
      id_rc = ncclGetUniqueId(&id);
      ok = id_rc == ncclSuccess;
      std::memcpy(msg, &ok, sizeof ok);
      std::memcpy(msg + sizeof ok, &id, sizeof id);
    }
    if (size_ > 1) broadcast(msg, sizeof msg);
    std::memcpy(&ok, msg, sizeof ok);
    std::memcpy(&id, msg + sizeof ok, sizeof id);
    if (!ok) {
      if (rank_ == 0) nccl_check(id_rc, "ncclGetUniqueId");
      throw Error("make_nccl_reducer: ncclGetUniqueId failed on group rank 0");
    }
    nccl_check(ncclCommInitRank(&comm_, size_, id, rank_), "ncclCommInitRank");
  }
  ~NcclReducer() override {
    if (comm_) ncclCommDestroy(comm_);
  }
  NcclReducer(const NcclReducer&) = delete;
  NcclReducer& operator=(const NcclReducer&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void sum(double* values, int n) override {
    // Through the GPU, like the gradients (also on one rank, for the GPU check); the copy
    // back waits for the all-reduce on the stream.
    if (n == 0) return;
    torch::NoGradGuard no_grad;
    torch::Tensor t = torch::from_blob(values, {n}, torch::kFloat64).to(torch::Device(torch::kCUDA, device_));
    nccl_check(ncclAllReduce(t.data_ptr<double>(), t.data_ptr<double>(), size_t(n), ncclDouble, ncclSum, comm_,
                             stream()),
               "ncclAllReduce");
    torch::from_blob(values, {n}, torch::kFloat64).copy_(t.cpu());
  }

  void average(std::vector<torch::Tensor>& grads) override {
    // No shortcut for one rank: the GPU check exercises the all-reduce with one rank.
    torch::NoGradGuard no_grad;
    cudaStream_t stream = this->stream();
    for (size_t i = 0; i < grads.size(); ++i) {
      const torch::Tensor& g = grads[i];
      if (g.defined() && !(g.is_cuda() && g.device().index() == device_))
        throw Error(fmt::format("gradient {} is on {}, the NCCL reducer of this rank runs on cuda:{}", i,
                                g.device().str(), device_));
    }
    for (const auto& [begin, end] : plan_buckets(grads, kBucketElems)) {
      int64_t n = 0;
      size_t defined = 0, last = begin;
      for (size_t i = begin; i < end; ++i)
        if (grads[i].defined()) n += grads[i].numel(), ++defined, last = i;
      if (n == 0) continue;
      torch::Tensor& only = grads[last];
      if (defined == 1 && only.scalar_type() == torch::kFloat32 && only.is_contiguous()) {
        // One contiguous float32 gradient: reduce it where it is.
        nccl_check(ncclAllReduce(only.data_ptr<float>(), only.data_ptr<float>(), size_t(n), ncclFloat, ncclSum,
                                 comm_, stream),
                   "ncclAllReduce");
        only.div_(double(size_));
        continue;
      }
      torch::Tensor flat = torch::empty({n}, torch::TensorOptions().dtype(torch::kFloat32).device(only.device()));
      pack_bucket(grads, begin, end, flat);
      nccl_check(ncclAllReduce(flat.data_ptr<float>(), flat.data_ptr<float>(), size_t(n), ncclFloat, ncclSum, comm_,
                               stream),
                 "ncclAllReduce");
      flat.div_(double(size_));
      unpack_bucket(flat, begin, end, grads);
    }
  }

 private:
  cudaStream_t stream() const {
#ifdef SRNAS_TORCH_CUDA
    return at::cuda::getCurrentCUDAStream(device_).stream();
#else
    return 0;  // the legacy default stream, LibTorch's stream without a stream guard
#endif
  }

  ncclComm_t comm_ = nullptr;
  int rank_ = 0, size_ = 1, device_ = 0;
};

}  // namespace

std::unique_ptr<GradientReducer> make_nccl_reducer(int rank, int size, int local_rank, const BroadcastFn& broadcast) {
  return std::make_unique<NcclReducer>(rank, size, local_rank, broadcast);
}

}  // namespace srnas
