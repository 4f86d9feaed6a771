// Test support: run the real `srnas` binary (SRNAS_BIN), or any command, and capture
// status, stdout, stderr.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>

#include "scratch.h"

namespace srnas::testing {

struct CliRun {
  int status = -1;
  std::string out, err;
};

// Runs a shell command line (sh -c) and captures its exit status, stdout and stderr.
inline CliRun run_command(const std::string& command) {
  static int counter = 0;
  auto errfile = scratch() / ("cli_err_" + std::to_string(++counter));
  std::string cmd = command + " 2>" + errfile.string();
  CliRun r;
  FILE* p = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  std::ifstream e(errfile);
  std::stringstream ss;
  ss << e.rdbuf();
  r.err = ss.str();
  std::filesystem::remove(errfile);
  return r;
}

inline CliRun run_cli(const std::string& args) { return run_command(std::string(SRNAS_BIN) + " " + args); }

// The last line of stderr is "srnas: error: ...", containing needle; exit status 2.
// Progress lines ([train], [data], warnings) may precede it.
inline void expect_cli_error(const std::string& args, const std::string& needle) {
  CliRun r = run_cli(args);
  EXPECT_EQ(r.status, 2) << args << "\n" << r.err;
  std::string last = r.err;
  while (!last.empty() && last.back() == '\n') last.pop_back();
  last = last.substr(last.rfind('\n') == std::string::npos ? 0 : last.rfind('\n') + 1);
  EXPECT_EQ(last.rfind("srnas: error: ", 0), 0u) << args << ": " << r.err;
  EXPECT_NE(last.find(needle), std::string::npos) << args << ": " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n') >= 1, true);
}

}  // namespace srnas::testing
