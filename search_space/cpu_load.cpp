#include "search_space/cpu_load.h"

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "search_space/error.h"

namespace srnas {

std::map<int, CpuTicks> parse_proc_stat(std::string_view text) {
  std::map<int, CpuTicks> out;
  std::istringstream in{std::string(text)};
  for (std::string line; std::getline(in, line);) {
    if (line.size() < 4 || line.compare(0, 3, "cpu") != 0 || line[3] == ' ') continue;  // "cpu " is the sum
    std::istringstream f(line.substr(3));
    int id = -1;
    uint64_t v[8] = {};  // user nice system idle iowait irq softirq steal
    f >> id;
    int n = 0;
    while (n < 8 && f >> v[n]) ++n;
    if (id < 0 || n < 4) throw Error(fmt::format("/proc/stat: cannot read the line '{}'", line));
    CpuTicks t;
    t.busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    t.total = t.busy + v[3] + v[4];
    out[id] = t;
  }
  if (out.empty()) throw Error("/proc/stat: no cpuN lines");
  return out;
}

uint64_t parse_self_ticks(std::string_view text) {
  // pid (comm) state ppid ... : comm may hold spaces and parentheses, so count from the last ')'.
  const size_t close = text.rfind(')');
  if (close == std::string_view::npos) throw Error("/proc/self/stat: no ')' after the command name");
  std::istringstream f{std::string(text.substr(close + 1))};
  std::string field;
  uint64_t utime = 0, stime = 0;
  auto number = [](const std::string& v, const char* name) {
    if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos)
      throw Error(fmt::format("/proc/self/stat: {} is '{}', expected a tick count", name, v));
    return std::stoull(v);
  };
  for (int i = 3; i <= 15 && f >> field; ++i) {  // field 3 is the state; 14 utime, 15 stime
    if (i == 14) utime = number(field, "utime");
    if (i == 15) stime = number(field, "stime");
  }
  if (!f) throw Error("/proc/self/stat: fewer than 15 fields");
  return utime + stime;
}

double busy_elsewhere(const CpuSnapshot& a, const CpuSnapshot& b, const std::vector<int>& only) {
  std::vector<int> cpus = only;
  if (cpus.empty())
    for (const auto& [c, t] : a.cpus) cpus.push_back(c);
  double busy = 0, per_cpu = 0;
  int n = 0;
  for (int c : cpus) {
    auto x = a.cpus.find(c), y = b.cpus.find(c);
    if (x == a.cpus.end() || y == b.cpus.end() || y->second.total <= x->second.total) continue;
    const double total = double(y->second.total - x->second.total);
    busy += double(y->second.busy - x->second.busy) / total;
    per_cpu += total;
    ++n;
  }
  if (n == 0) return 0;
  per_cpu /= n;  // ticks one CPU had in the window
  const double self = b.self > a.self ? double(b.self - a.self) / per_cpu : 0.0;
  return std::max(0.0, busy - self);
}

namespace {

std::optional<std::string> slurp(const char* path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::optional<CpuSnapshot> snapshot() {
  auto stat = slurp("/proc/stat"), self = slurp("/proc/self/stat");
  if (!stat || !self) return std::nullopt;
  return CpuSnapshot{parse_proc_stat(*stat), parse_self_ticks(*self)};
}

}  // namespace

std::vector<int> allowed_cpus() {
  std::vector<int> out;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0)
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &set)) out.push_back(c);
  return out;
}

std::optional<double> sample_cpu_load(int window_ms) {
  auto a = snapshot();
  if (!a) return std::nullopt;
  std::this_thread::sleep_for(std::chrono::milliseconds(window_ms));
  auto b = snapshot();
  if (!b) return std::nullopt;
  return busy_elsewhere(*a, *b, allowed_cpus());
}

LoadWatch::LoadWatch(int cores, double interval_s) : cores_(cores), interval_(interval_s), cpus_(allowed_cpus()) {}

std::string LoadWatch::poll(int threads) {
  if (warned_) return "";
  const auto now = std::chrono::steady_clock::now();
  if (last_ && now - last_at_ < interval_) return "";
  std::optional<CpuSnapshot> s = snapshot();
  if (!s) {
    warned_ = true;  // no /proc: nothing to watch
    return "";
  }
  std::string w;
  if (last_) {
    w = oversubscription_warning(busy_elsewhere(*last_, *s, cpus_), cores_, threads);
  }
  last_ = std::move(s);
  last_at_ = now;
  warned_ = !w.empty();
  return w;
}

std::string oversubscription_warning(double busy, int cores, int threads) {
  if (threads <= 1 || busy + threads <= cores + 0.5) return "";  // one thread has no team to wait for
  const int fit = std::max(1, int(std::lround(double(cores) - busy)));
  return fmt::format(
      "other processes keep {:.1f} of the {} cores this process may use busy: {} LibTorch threads on top oversubscribe "
      "them, and OpenMP stalls when they do (two 2-thread trainings on 2 cores: each 4x slower than alone, at times 600x; docs/performance.md); "
      "choose --threads {} (or $SRNAS_THREADS), or run the jobs one after another",
      busy, cores, threads, fit);
}

}  // namespace srnas
