// Tests leave nothing behind: the scratch folder of a test process (tests/support/scratch.h)
// is removed when its tests pass and kept, with its path printed, when one fails or when
// SRNAS_KEEP_TEST_DIRS asks. Runs the real probe program with TMPDIR pointed at a private folder.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

#include "../support/scratch.h"

namespace fs = std::filesystem;

namespace {

struct Probe {
  int status = -1;
  std::string output;
  fs::path scratch;  // the folder the probe printed
};

// Runs the probe with TMPDIR=tmpdir and the given environment assignments.
Probe run_probe(const fs::path& tmpdir, const std::string& env) {
  const std::string cmd = "env -u SRNAS_KEEP_TEST_DIRS -u SCRATCH_PROBE_FAIL TMPDIR=" + tmpdir.string() + " " + env +
                          " " + SRNAS_SCRATCH_PROBE + " 2>&1";
  Probe r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  const size_t at = r.output.find("scratch=");
  if (at != std::string::npos) r.scratch = r.output.substr(at + 8, r.output.find('\n', at) - at - 8);
  return r;
}

bool empty_folder(const fs::path& p) { return fs::is_directory(p) && fs::directory_iterator(p) == fs::directory_iterator(); }

}  // namespace

TEST(Scratch, RemovedWhenEveryTestPasses) {
  for (const std::string env : {"", "SRNAS_KEEP_TEST_DIRS=0"}) {
    const fs::path tmp = srnas::testing::scratch_dir("tmp");
    Probe r = run_probe(tmp, env);
    EXPECT_EQ(r.status, 0) << env << ": " << r.output;
    EXPECT_EQ(r.scratch.parent_path(), tmp) << r.output;
    EXPECT_EQ(r.scratch.filename().string().rfind("srnas_test_", 0), 0u) << r.scratch;
    EXPECT_FALSE(fs::exists(r.scratch)) << env;
    EXPECT_TRUE(empty_folder(tmp)) << env;
    EXPECT_EQ(r.output.find("kept"), std::string::npos) << r.output;
  }
}

TEST(Scratch, KeptAndNamedWhenATestFails) {
  const fs::path tmp = srnas::testing::scratch_dir("tmp");
  Probe r = run_probe(tmp, "SCRATCH_PROBE_FAIL=1");
  EXPECT_EQ(r.status, 1) << r.output;
  ASSERT_FALSE(r.scratch.empty()) << r.output;
  EXPECT_TRUE(fs::exists(r.scratch / "weights.bin"));
  EXPECT_TRUE(fs::exists(r.scratch / "study" / "trial_1" / "log.txt"));
  EXPECT_NE(r.output.find("srnas tests: kept " + r.scratch.string() + "\n"), std::string::npos) << r.output;
}

TEST(Scratch, KeptWhenAsked) {
  const fs::path tmp = srnas::testing::scratch_dir("tmp");
  Probe r = run_probe(tmp, "SRNAS_KEEP_TEST_DIRS=1");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(fs::exists(r.scratch / "weights.bin")) << r.output;
  EXPECT_NE(r.output.find("srnas tests: kept " + r.scratch.string()), std::string::npos) << r.output;
}

TEST(Scratch, EachProcessHasItsOwnFolder) {
  const fs::path tmp = srnas::testing::scratch_dir("tmp");
  Probe a = run_probe(tmp, "SRNAS_KEEP_TEST_DIRS=1"), b = run_probe(tmp, "SRNAS_KEEP_TEST_DIRS=1");
  EXPECT_NE(a.scratch, b.scratch);
  EXPECT_TRUE(fs::exists(a.scratch) && fs::exists(b.scratch));
}
