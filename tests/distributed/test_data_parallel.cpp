// Data-parallel training: N ranks under mpirun (Open MPI, shared memory) train to the same
// weights as one rank with the same global batch; the rank-group layout, string messages and
// the MPI reducer under mpirun; make_layout's errors and the bucket plan without MPI.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "../support/scratch.h"
#include "distributed/mpi_env.h"
#include "distributed/reducers.h"
#include "search_space/error.h"
#include "search_space/weights.h"

using namespace srnas;
namespace fs = std::filesystem;

namespace {

fs::path fresh(const std::string& name) { return srnas::testing::scratch_dir(name); }

struct Proc {
  int status = -1;
  std::string output;  // stdout and stderr
};

Proc run(const std::string& cmd) {
  Proc r;
  FILE* p = popen(("timeout 300 " + cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// mpirun as CMake's FindMPI found it, else from PATH; "" when there is none.
std::string find_mpirun() {
  const std::string configured = SRNAS_MPIEXEC;
  if (!configured.empty() && fs::exists(configured)) return configured;
  const char* path = std::getenv("PATH");
  std::stringstream ss(path ? path : "");
  for (std::string dir; std::getline(ss, dir, ':');)
    if (!dir.empty() && ::access((fs::path(dir) / "mpirun").c_str(), X_OK) == 0) return (fs::path(dir) / "mpirun").string();
  return "";
}

// Open MPI as root in a container: shared memory (vader) between local ranks, no binding (the
// ranks may outnumber the cores), no network transports.
std::string mpirun_prefix(int np) {
  const std::string mpirun = find_mpirun();
  if (mpirun.empty()) {
    ADD_FAILURE() << "mpirun not found (CMake's MPIEXEC_EXECUTABLE is '" << SRNAS_MPIEXEC
                  << "' and there is none on PATH): install openmpi-bin to run the data-parallel tests";
    return "";
  }
  ::setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
  ::setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
  return fmt::format("{} --oversubscribe --bind-to none --mca btl self,vader -np {} ", mpirun, np);
}

std::string dp_check(const fs::path& out, int steps, int batch, int seed, const std::string& extra = "") {
  return fmt::format("{} --out {} --steps {} --batch {} --seed {} {}", SRNAS_DP_CHECK, out.string(), steps, batch, seed,
                     extra);
}

// One process without MPI (the variables that mark an MPI launch removed, should the test itself
// run under mpirun).
void train_alone(const fs::path& out, int steps, int batch, int seed, const std::string& extra = "") {
  Proc r = run("env -u OMPI_COMM_WORLD_SIZE -u PMIX_RANK -u PMI_RANK " + dp_check(out, steps, batch, seed, extra));
  ASSERT_EQ(r.status, 0) << r.output;
  ASSERT_TRUE(fs::exists(out)) << r.output;
}

void train_mpi(const fs::path& out, int np, int steps, int batch, int seed, const std::string& extra = "") {
  const std::string prefix = mpirun_prefix(np);
  ASSERT_FALSE(prefix.empty());
  Proc r = run(prefix + dp_check(out, steps, batch, seed, extra));
  ASSERT_EQ(r.status, 0) << r.output;
  ASSERT_TRUE(fs::exists(out)) << r.output;
}

// How far apart two weight files are: max |a - b| over all parameters relative to the largest
// |a| (the scale of the weights), and, for information, max |a - b| / max(|a|, 1e-3) per element.
//
// Why not the element-wise measure: gradients of the global batch summed in another order
// (1 rank vs N slices) differ by float rounding, and Adam turns a gradient near its eps (1e-8),
// e.g. a bias gradient that is a sum with heavy cancellation, into an update that differs in the
// 5th digit: about 6e-8 absolute on a 1e-3 bias after one step (2e-5 element-wise after 6 steps
// with 4 ranks; 5e-6 between 1 and 2 LibTorch threads on one rank). The weight-scale measure
// stays near 1e-6, while any real error (a wrong slice, a missed reduction) moves weights by
// about the learning rate (1e-3), i.e. 1e-2 of the weight scale.
struct Difference {
  double scaled = 0;        // max |a - b| / max |a|
  double elementwise = 0;   // max |a - b| / max(|a|, 1e-3)
};

Difference compare_weights(const fs::path& a, const fs::path& b) {
  TensorMap ta = read_safetensors(a.string()), tb = read_safetensors(b.string());
  EXPECT_EQ(ta.size(), tb.size());
  double max_abs_diff = 0, max_abs = 0;
  Difference d;
  std::string where_abs, where_el;
  for (const auto& [name, x] : ta) {
    auto it = tb.find(name);
    if (it == tb.end()) {
      ADD_FAILURE() << name << " is missing from " << b;
      continue;
    }
    const torch::Tensor& y = it->second;
    if (x.sizes() != y.sizes()) {
      ADD_FAILURE() << name << ": shapes differ";
      continue;
    }
    const torch::Tensor diff = (x - y).abs();
    max_abs = std::max(max_abs, x.abs().max().item<double>());
    const double m = diff.max().item<double>();
    if (m > max_abs_diff) max_abs_diff = m, where_abs = name;
    const double el = (diff / x.abs().clamp_min(1e-3)).max().item<double>();
    if (el > d.elementwise) d.elementwise = el, where_el = name;
  }
  d.scaled = max_abs_diff / std::max(max_abs, 1e-12);
  std::printf("[ %s vs %s: max |a-b| %.3g (at %s) = %.3g of max |a| %.3g; element-wise %.3g (at %s) ]\n",
              a.filename().c_str(), b.filename().c_str(), max_abs_diff, where_abs.c_str(), d.scaled, max_abs,
              d.elementwise, where_el.c_str());
  return d;
}

// The last step's loss srnas_dp_check wrote beside its weights.
double loss_of(const fs::path& weights) {
  std::ifstream in(weights.string() + ".loss");
  double loss = NAN;
  in >> loss;
  return loss;
}

}  // namespace

TEST(DataParallel, TwoRanksTrainToTheWeightsOfOneRank) {
  fs::path dir = fresh("np2");
  train_alone(dir / "np1.safetensors", 6, 4, 7);
  train_mpi(dir / "np2.safetensors", 2, 6, 4, 7);
  train_mpi(dir / "np2_seed8.safetensors", 2, 6, 4, 8);
  if (HasFailure()) return;
  const Difference same = compare_weights(dir / "np1.safetensors", dir / "np2.safetensors");
  EXPECT_LT(same.scaled, 1e-5);
  EXPECT_LT(same.elementwise, 1e-3);
  // The loss the ranks check and log is the group's (the global batch's), not rank 0's slice's.
  const double l1 = loss_of(dir / "np1.safetensors"), l2 = loss_of(dir / "np2.safetensors");
  EXPECT_LT(std::abs(l1 - l2), 1e-5 * std::abs(l1)) << l1 << " vs " << l2;
  // Not vacuous: another seed gives other weights.
  EXPECT_GT(compare_weights(dir / "np2.safetensors", dir / "np2_seed8.safetensors").scaled, 1e-2);
  fs::remove_all(dir);
}

// options.reparam: the ranks average the gradients of the expanded convs (what Adam updates),
// and the fused weights still equal one rank's.
TEST(DataParallel, TwoRanksWithReparamTrainToTheWeightsOfOneRank) {
  fs::path dir = fresh("np2_reparam");
  train_alone(dir / "np1.safetensors", 6, 4, 7, "--reparam 1");
  train_mpi(dir / "np2.safetensors", 2, 6, 4, 7, "--reparam 1");
  train_alone(dir / "plain.safetensors", 6, 4, 7);
  if (HasFailure()) return;
  const Difference same = compare_weights(dir / "np1.safetensors", dir / "np2.safetensors");
  EXPECT_LT(same.scaled, 1e-5);
  EXPECT_GT(compare_weights(dir / "np1.safetensors", dir / "plain.safetensors").scaled, 1e-2)
      << "re-parameterised training takes another path";
  fs::remove_all(dir);
}

TEST(DataParallel, FourRanksTrainToTheWeightsOfOneRank) {
  fs::path dir = fresh("np4");
  train_alone(dir / "np1.safetensors", 6, 8, 7);
  train_mpi(dir / "np4.safetensors", 4, 6, 8, 7);
  if (HasFailure()) return;
  const Difference same = compare_weights(dir / "np1.safetensors", dir / "np4.safetensors");
  EXPECT_LT(same.scaled, 1e-5);
  EXPECT_LT(same.elementwise, 1e-3);
  const double l1 = loss_of(dir / "np1.safetensors"), l4 = loss_of(dir / "np4.safetensors");
  EXPECT_LT(std::abs(l1 - l4), 1e-5 * std::abs(l1)) << l1 << " vs " << l4;
  fs::remove_all(dir);
}

TEST(DataParallel, ABatchThatDoesNotSplitEndsEveryRankWithTheError) {
  fs::path dir = fresh("bad");
  const std::string prefix = mpirun_prefix(2);
  ASSERT_FALSE(prefix.empty());
  Proc r = run(prefix + dp_check(dir / "w.safetensors", 2, 3, 7));
  EXPECT_NE(r.status, 0) << r.output;
  EXPECT_NE(r.status, 124) << "timed out: " << r.output;
  EXPECT_NE(r.output.find("batch_size 3 is not divisible by the 2 data-parallel ranks"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "w.safetensors"));
  fs::remove_all(dir);
}

TEST(MpiLayout, GroupsMessagesAndTheReducerUnderMpirun) {
  fs::path dir = fresh("layout");
  for (int g : {1, 2, 4}) {
    const std::string prefix = mpirun_prefix(4);
    ASSERT_FALSE(prefix.empty());
    const fs::path out = dir / fmt::format("layout{}.txt", g);
    Proc r = run(prefix + fmt::format("{} --out {} --layout {}", SRNAS_DP_CHECK, out.string(), g));
    ASSERT_EQ(r.status, 0) << r.output;
    std::ifstream f(out);
    std::vector<std::string> lines;
    for (std::string l; std::getline(f, l);) lines.push_back(l);
    ASSERT_EQ(lines.size(), 4u) << "group size " << g;
    for (int rank = 0; rank < 4; ++rank) {
      const int group = rank / g, group_rank = rank % g;
      const double mean = group * g + (g - 1) / 2.0;
      EXPECT_EQ(lines[size_t(rank)], fmt::format("rank {} ok group {} group_rank {} leader {} mean {}", rank, group,
                                                 group_rank, int(group_rank == 0), mean))
          << "group size " << g;
    }
  }
  fs::remove_all(dir);
}

TEST(MpiLayout, RejectsGroupSizesThatDoNotFitTheRanks) {
  auto message = [](int rank, int size, int group) {
    try {
      make_layout(rank, size, group);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message(0, 4, 3), "--group-size 3 does not divide the 4 MPI ranks");
  EXPECT_EQ(message(1, 6, 4), "--group-size 4 does not divide the 6 MPI ranks");
  EXPECT_EQ(message(0, 4, 0), "--group-size 0 must be >= 1");
  EXPECT_EQ(message(0, 4, -2), "--group-size -2 must be >= 1");
  EXPECT_EQ(message(0, 4, 8), "--group-size 8 is larger than the 4 MPI ranks");
}

TEST(Reducers, BucketsAreConsecutiveAndBounded) {
  std::vector<torch::Tensor> g = {torch::zeros({4}), torch::zeros({3}), torch::Tensor(), torch::zeros({2, 2}),
                                  torch::zeros({20}), torch::zeros({1})};
  using B = std::vector<std::pair<size_t, size_t>>;
  EXPECT_EQ(plan_buckets(g, 8), (B{{0, 3}, {3, 4}, {4, 5}, {5, 6}}));  // 4+3+undefined | 4 | 20 alone | 1
  EXPECT_EQ(plan_buckets(g, 100), (B{{0, 6}}));
  EXPECT_EQ(plan_buckets({}, 8), B{});
  EXPECT_EQ(kBucketElems * 4, 25 << 20);
}

#ifndef SRNAS_WITH_NCCL
TEST(Reducers, NcclIsAnErrorWithoutIt) {
  try {
    make_nccl_reducer(MPI_COMM_WORLD, 0);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "srnas was built without NCCL (configure with -DSRNAS_WITH_NCCL=ON and a CUDA LibTorch)");
  }
}
#endif
