// Compiled into executables built with SRNAS_ALLOCATOR=tcmalloc (or auto, when found): sets
// gperftools' memory release rate to 0 at start-up, so freed pages stay with the process, as
// jemalloc_conf.cpp does for jemalloc. At the default rate (1.0) tcmalloc hands freed spans
// back to the kernel a little at a time, and LibTorch's next large tensors fault them in
// again: a quickstart search took 0.9-1.5 million page faults and 8-12 s of system time
// instead of 0.53 million and 5 s (scripts/bench_alloc.sh, docs/performance.md).
// TCMALLOC_RELEASE_RATE in the environment still decides when set.
#include <cstdlib>

#include <gperftools/malloc_extension.h>

namespace {

const bool kKeepFreedPages = [] {
  if (std::getenv("TCMALLOC_RELEASE_RATE") == nullptr) MallocExtension::instance()->SetMemoryReleaseRate(0.0);
  return true;
}();

}  // namespace
