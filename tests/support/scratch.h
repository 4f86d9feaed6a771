// Test support: one scratch folder per test process, so tests leave nothing behind.
//
// scratch() is $TMPDIR/srnas_test_<pid>_XXXXXX (mkdtemp), made on first use. When the test
// process exits it is removed, unless a test failed or SRNAS_KEEP_TEST_DIRS is set: then it is
// kept and its path printed on stderr. ctest runs every case as its own process, so each case
// has a fresh, private folder and needs no pid in its file names. Only the process that made
// the folder removes it (a forked child that exits leaves it alone).
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>

namespace srnas::testing {

class ScratchRoot {
 public:
  ScratchRoot() {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / ("srnas_test_" + std::to_string(::getpid()) + "_XXXXXX")).string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      std::perror(("srnas tests: mkdtemp " + tmpl).c_str());
      std::abort();
    }
    path_ = tmpl;
    owner_ = ::getpid();
  }
  ~ScratchRoot() {
    if (::getpid() != owner_) return;
    if (keep()) {
      std::fprintf(stderr, "srnas tests: kept %s\n", path_.c_str());
      return;
    }
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchRoot(const ScratchRoot&) = delete;
  ScratchRoot& operator=(const ScratchRoot&) = delete;

  const std::filesystem::path& path() const { return path_; }

  // Kept when a test of this process failed or when SRNAS_KEEP_TEST_DIRS is set (not "0").
  static bool keep() {
    const char* k = std::getenv("SRNAS_KEEP_TEST_DIRS");
    if (k != nullptr && *k != '\0' && std::string(k) != "0") return true;
    return ::testing::UnitTest::GetInstance()->Failed();
  }

 private:
  std::filesystem::path path_;
  pid_t owner_ = 0;
};

// The process's scratch folder (made on first call, removed at exit; see above).
inline const std::filesystem::path& scratch() {
  static ScratchRoot root;
  return root.path();
}

// scratch()/name, with a fresh (empty) folder made there.
inline std::filesystem::path scratch_dir(const std::string& name) {
  std::filesystem::path p = scratch() / name;
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p;
}

// scratch()/name as a string, for files.
inline std::string scratch_file(const std::string& name) { return (scratch() / name).string(); }

}  // namespace srnas::testing
