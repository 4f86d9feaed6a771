// A GoogleTest program that test_scratch runs (ctest does not): it prints its scratch folder,
// fills it, and fails on purpose when SCRATCH_PROBE_FAIL is set.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iostream>

#include "../support/scratch.h"

TEST(Probe, FillsItsScratchFolder) {
  std::cout << "scratch=" << srnas::testing::scratch().string() << std::endl;
  std::ofstream(srnas::testing::scratch_file("weights.bin")) << "not empty";
  std::ofstream(srnas::testing::scratch_dir("study/trial_1") / "log.txt") << "a log";
  if (std::getenv("SCRATCH_PROBE_FAIL") != nullptr) ADD_FAILURE() << "failing on purpose";
}
