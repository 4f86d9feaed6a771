// A child process that keeps one core busy for at most `seconds` (a neighbour on the node),
// killed and reaped when the object goes out of scope. For the oversubscription tests.
#pragma once

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

namespace srnas::testing {

class BusyCore {
 public:
  explicit BusyCore(int seconds = 60) : pid_(fork()) {
    if (pid_ == 0) {
      const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
      volatile unsigned long x = 0;
      while (std::chrono::steady_clock::now() < end) x = x + 1;
      _exit(0);
    }
  }
  ~BusyCore() { stop(); }
  BusyCore(const BusyCore&) = delete;
  BusyCore& operator=(const BusyCore&) = delete;
  void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_;
};

}  // namespace srnas::testing
