// How busy this node's cores are with other processes, and whether LibTorch threads on top
// would oversubscribe them.
//
// LibTorch's OpenMP teams fork and join at every operator; when the node's runnable threads
// outnumber its cores, a team waits a scheduler slice for each descheduled member, and small
// networks (thousands of operators per step) stall: two 2-thread trainings on 2 cores ran
// each 4x slower than one alone, and at times 600x (scripts/bench_oversubscribe.sh,
// docs/performance.md). `srnas search`
// and `srnas train` sample the load before they start (when the thread count is not chosen
// with --threads or $SRNAS_THREADS) and print oversubscription_warning's line; a one-process
// search also watches it while it trains (LoadWatch), for neighbours that start later.
//
// Contract: the parsers throw srnas::Error naming /proc/stat or /proc/self/stat on text they
// cannot read; sample_cpu_load() returns nullopt where /proc is missing (not Linux).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace srnas {

struct CpuTicks {
  uint64_t busy = 0, total = 0;  // jiffies: user+nice+system+irq+softirq+steal, and those + idle+iowait
};

// One reading: every CPU's ticks (/proc/stat "cpuN" lines) and this process's (utime+stime).
struct CpuSnapshot {
  std::map<int, CpuTicks> cpus;
  uint64_t self = 0;
};

std::map<int, CpuTicks> parse_proc_stat(std::string_view text);
uint64_t parse_self_ticks(std::string_view text);  // /proc/self/stat: utime + stime

// Cores (of `only`, e.g. the affinity mask; empty: every CPU of a) kept busy by other
// processes between a and b: the busy fraction of each CPU summed, minus this process's
// share. >= 0.
double busy_elsewhere(const CpuSnapshot& a, const CpuSnapshot& b, const std::vector<int>& only);

// Reads /proc twice, `window_ms` apart, over the CPUs this process may run on.
std::optional<double> sample_cpu_load(int window_ms);

// "" when `threads` fit next to `busy` cores out of `cores`; else one line saying how many
// threads would fit and how to choose them.
std::string oversubscription_warning(double busy, int cores, int threads);

// The CPUs of this process's affinity mask; empty where unknown (busy_elsewhere: every CPU).
std::vector<int> allowed_cpus();

// The load between polls at least `interval_s` apart; poll() is cheap in between (no /proc
// read). Not thread-safe: one caller (the search's heartbeat).
class LoadWatch {
 public:
  LoadWatch(int cores, double interval_s);
  // oversubscription_warning for the load since the last reading, the first time it is not
  // ""; "" every other time (one warning per watch).
  std::string poll(int threads);

 private:
  int cores_;
  std::chrono::duration<double> interval_;
  std::optional<CpuSnapshot> last_;
  std::chrono::steady_clock::time_point last_at_{};
  std::vector<int> cpus_;
  bool warned_ = false;
};

}  // namespace srnas
