// Process-wide LibTorch settings that every srnas entry point applies first.
//
// LibTorch from Debian starts with ONE intra-op thread (1.8x slower training here);
// init_torch_threads(0) uses every core, n > 0 uses n. Also reports the LibTorch
// version, whether CUDA is usable and which malloc the process runs on, for
// `srnas --version` and the benchmarks.
#pragma once

#include <string>

namespace srnas {

void init_torch_threads(int n);   // 0: usable_cores() (or $SRNAS_THREADS if set)
// Whether a thread count was asked for (n > 0 or $SRNAS_THREADS), not the all-cores default.
bool torch_threads_chosen();
// The CPUs this process may run on (sched_getaffinity: taskset, cgroup cpusets, mpirun's
// binding; an mpirun rank bound to one core gets 1), at least 1.
int usable_cores();
int torch_threads();
std::string torch_version();      // e.g. "1.13.1"
bool cuda_available();
// "tcmalloc", "jemalloc" or "glibc": the malloc this process actually resolved
// (linked with SRNAS_ALLOCATOR or LD_PRELOADed).
std::string allocator_name();

}  // namespace srnas
