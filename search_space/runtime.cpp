#include "search_space/runtime.h"

#include <sched.h>

#include <dlfcn.h>

#include <cstdlib>
#include <thread>

#include <torch/torch.h>
#include <torch/version.h>

namespace srnas {

namespace {
bool g_threads_chosen = false;
}

void init_torch_threads(int n) {
  if (n <= 0) {
    if (const char* env = std::getenv("SRNAS_THREADS")) n = std::atoi(env);
  }
  if (n > 0) g_threads_chosen = true;
  if (n <= 0) n = usable_cores();
  torch::set_num_threads(n);
}

bool torch_threads_chosen() { return g_threads_chosen; }

int usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return int(std::max(1u, std::thread::hardware_concurrency()));
}

int torch_threads() { return torch::get_num_threads(); }

std::string torch_version() { return TORCH_VERSION; }

bool cuda_available() { return torch::cuda::is_available(); }

std::string allocator_name() {
  if (dlsym(RTLD_DEFAULT, "tc_malloc")) return "tcmalloc";
  if (dlsym(RTLD_DEFAULT, "mallctl")) return "jemalloc";
  return "glibc";
}

}  // namespace srnas
