// srnas_nccl_link_check: proves that the NCCL reducer compiles and links (SRNAS_WITH_NCCL).
// Run under mpirun on GPU machines: each rank builds the reducer on MPI_COMM_WORLD and averages
// a gradient; without arguments and outside mpirun it only prints that it linked.
#include <cstdio>

#include "distributed/mpi_env.h"
#include "distributed/reducers.h"

int main(int argc, char** argv) {
  if (!srnas::launched_by_mpi()) {
    std::printf("srnas_nccl_link_check: linked (run under mpirun to exercise NCCL)\n");
    return 0;
  }
  try {
    srnas::MpiEnv env(&argc, &argv);
    auto reducer = srnas::make_nccl_reducer(MPI_COMM_WORLD, env.local_rank());
    std::vector<torch::Tensor> g = {
        torch::full({1000}, double(env.world_rank()), torch::TensorOptions().device(torch::kCUDA))};
    reducer->average(g);
    std::printf("rank %d: mean %.3f (expected %.3f)\n", env.world_rank(), g[0][0].item<double>(),
                (env.world_size() - 1) / 2.0);
    reducer.reset();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "srnas_nccl_link_check: error: %s\n", e.what());
    return 2;
  }
  return 0;
}
