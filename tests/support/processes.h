// Test support: run a body in several forked processes at once and collect how each ended.
//
// in_processes(n, body) forks n children that start body(k, text) together (they wait on a pipe
// the parent closes after the last fork, so races between them are real). A child exits with
// body's return value, or 1 when it throws (the exception's message becomes its text); stdio is
// flushed before it exits. The parent gets each child's waitpid status and text back. Open no
// SQLite connection or thread pool across the fork: they do not survive it.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace srnas::testing {

// What one forked process of in_processes ended with.
struct Child {
  int status = 0;    // waitpid's
  std::string text;  // what body wrote to its string, or the message of what it threw
  bool ok() const { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }
};

inline std::vector<Child> in_processes(int n, const std::function<int(int, std::string&)>& body) {
  int gate[2];  // the children wait for EOF on gate[0]: the parent closes gate[1] after the last fork
  if (::pipe(gate) != 0) throw std::runtime_error("pipe failed");
  std::vector<pid_t> pids;
  std::vector<int> fds;
  for (int k = 0; k < n; ++k) {
    int fd[2];
    if (::pipe(fd) != 0) throw std::runtime_error("pipe failed");
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      ::close(fd[0]);
      ::close(gate[1]);
      char c;
      while (::read(gate[0], &c, 1) > 0) {
      }
      std::string text;
      int status = 1;
      try {
        status = body(k, text);
      } catch (const std::exception& e) {
        text = e.what();
      } catch (...) {
        text = "a non-standard exception";
      }
      std::fflush(nullptr);  // _exit does not flush stdio (a body may have redirected stderr to a file)
      if (::write(fd[1], text.data(), text.size()) != static_cast<ssize_t>(text.size())) status = 3;
      ::close(fd[1]);
      ::_exit(status);
    }
    ::close(fd[1]);
    pids.push_back(pid);
    fds.push_back(fd[0]);
  }
  ::close(gate[0]);
  ::close(gate[1]);
  std::vector<Child> out(n);
  for (int k = 0; k < n; ++k) {
    char buf[4096];
    ssize_t got;
    while ((got = ::read(fds[k], buf, sizeof buf)) > 0) out[k].text.append(buf, got);
    ::close(fds[k]);
    if (::waitpid(pids[k], &out[k].status, 0) != pids[k]) throw std::runtime_error("waitpid failed");
  }
  return out;
}

}  // namespace srnas::testing
