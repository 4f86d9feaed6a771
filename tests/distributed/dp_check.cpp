// srnas_dp_check: the data-parallel equality check's worker (run by test_data_parallel).
//
//   srnas_dp_check --out FILE --steps K --batch B [--seed S] [--threads T] [--reparam 1]   (alone, or under mpirun -np N)
// trains a tiny genome on synthetic in-memory data for K steps with global batch B (split over
// the N ranks, gradients averaged with the MPI reducer), T (1) LibTorch threads, on the CPU; rank 0
// writes the final weights to FILE and the last step's loss (the group's, i.e. the global batch's)
// to FILE.loss. The same (K, B, S) must give the same weights and loss for any N.
//
//   srnas_dp_check --out FILE --layout G                          (under mpirun -np N)
// checks make_layout(G), the string messages and the reducer on each group; rank 0 writes one
// line per world rank to FILE: "rank R ok group g group_rank k leader l mean m" or "rank R FAIL ...".
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <torch/torch.h>

#include "distributed/mpi_env.h"
#include "distributed/reducers.h"
#include "search_space/error.h"
#include "search_space/runtime.h"
#include "trainer/matlab_resize.h"
#include "trainer/train.h"

using namespace srnas;
namespace fs = std::filesystem;

namespace {

struct Args {
  std::string out;
  int64_t steps = 6;
  int batch = 4;
  uint64_t seed = 7;
  int threads = 1;  // LibTorch threads per rank
  int layout = 0;   // > 0: the layout self-test with this group size
  int reparam = 0;  // 1: options.reparam conv3xc (the reducer then averages the expanded convs)
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 >= argc) throw Error(fmt::format("{} needs a value", k));
    const std::string v = argv[++i];
    try {
      if (k == "--out") a.out = v;
      else if (k == "--steps") a.steps = std::stoll(v);
      else if (k == "--batch") a.batch = std::stoi(v);
      else if (k == "--seed") a.seed = std::stoull(v);
      else if (k == "--threads") a.threads = std::stoi(v);
      else if (k == "--layout") a.layout = std::stoi(v);
      else if (k == "--reparam") a.reparam = std::stoi(v);
      else throw Error(fmt::format("unknown option {}", k));
    } catch (const std::logic_error&) {
      throw Error(fmt::format("{}: expected a number, got '{}'", k, v));
    }
  }
  if (a.out.empty()) throw Error("--out FILE is required");
  return a;
}

// Width 8, 2 residual blocks, PixelShuffle(4), x4 width 4, bicubic global skip.
Genome tiny_genome() {
  return genome_from_string(R"({
    "head": {"act": {"type": "lrelu", "slope": 0.1}},
    "lr": {"width": 8, "blocks": [{"type": "res_relu", "repeat": 2}]},
    "upsampler": {"type": "pixelshuffle4", "act": {"type": "lrelu", "slope": 0.1}},
    "x4": {"width": 4},
    "tail": {"hr_conv": false},
    "global_skip": "bicubic",
    "init": {"type": "kaiming", "scale": 0.1}})");
}

// Three deterministic 96x96 patterns and their bicubic x1/4 images.
std::shared_ptr<const DecodedImages> synthetic_data() {
  std::vector<LoadedPair> train;
  for (int k = 0; k < 3; ++k) {
    Image hr(96, 96);
    for (int y = 0; y < 96; ++y)
      for (int x = 0; x < 96; ++x)
        for (int c = 0; c < 3; ++c)
          hr.at(y, x, c) = uint8_t((x * (3 + k) + y * (5 + c) + ((x / 8 + y / 8) % 2) * 60) % 256);
    train.push_back({"p" + std::to_string(k), hr, imresize_bicubic(hr, 0.25)});
  }
  return std::make_shared<const DecodedImages>(std::move(train));
}

void train_run(const Args& a, int rank, int size) {
  if (a.threads < 1) throw Error(fmt::format("--threads {} must be >= 1", a.threads));
  init_torch_threads(a.threads);
  TrainOptions o;
  o.seed = a.seed;
  o.iterations = a.steps;
  o.batch_size = a.batch;
  o.patch_lr = 8;
  o.lr = 1e-3;
  o.log_every = 1000;
  o.workers = 1;
  o.device = "cpu";
  if (a.reparam) o.reparam.type = "conv3xc";
  TrainData d;
  d.train = synthetic_data();
  d.val = std::make_shared<const DecodedImages>(std::vector<LoadedPair>{});  // no validation

  const fs::path out(a.out), run_dir = fs::path(a.out + ".run");
  if (rank == 0) fs::remove_all(run_dir);
  std::unique_ptr<GradientReducer> reducer;
  if (size > 1) {
    MPI_Barrier(MPI_COMM_WORLD);  // run_dir is gone before anyone writes to it
    reducer = make_mpi_reducer(MPI_COMM_WORLD);
  }
  TrainHooks hooks;
  hooks.quiet = true;
  hooks.reducer = reducer.get();
  TrainResult r = train(tiny_genome(), d, o, run_dir.string(), false, hooks);
  if (r.status != "complete") throw Error(fmt::format("training ended '{}': {}", r.status, r.reason));
  if (size > 1) MPI_Barrier(MPI_COMM_WORLD);  // every rank is done with run_dir
  if (rank == 0) {
    if (out.has_parent_path()) fs::create_directories(out.parent_path());
    fs::copy_file(run_dir / "weights.safetensors", out, fs::copy_options::overwrite_existing);
    fs::remove_all(run_dir);
    std::ofstream(a.out + ".loss") << fmt::format("{:.17g}\n", r.final_loss);  // the group's: the global batch's
    std::printf("srnas_dp_check: %d rank(s), batch %d, %lld steps, seed %llu, loss %.6f -> %s\n", size,
                a.batch, (long long)a.steps, (unsigned long long)a.seed, r.final_loss, out.c_str());
  }
}

// One rank's part of the layout self-test; returns its report line.
std::string layout_check(int group_size, int rank, int size) {
  GroupLayout l = make_layout(rank, size, group_size);
  std::vector<std::string> fails;
  auto expect = [&](bool ok, const std::string& what) {
    if (!ok) fails.push_back(what);
  };
  int gr = -1, gs = -1;
  MPI_Comm_rank(l.group_comm, &gr);
  MPI_Comm_size(l.group_comm, &gs);
  expect(gr == l.group_rank && gs == group_size, fmt::format("group_comm rank/size {}/{}", gr, gs));
  expect(l.group == rank / group_size && l.group_rank == rank % group_size && l.n_groups == size / group_size,
         "group numbering");
  expect(l.leader == (l.leaders_comm != MPI_COMM_NULL), "leaders_comm only on leaders");

  // The group leader broadcasts to its group.
  std::string s = l.leader ? fmt::format("group {}", l.group) : "";
  broadcast_string(s, 0, l.group_comm);
  expect(s == fmt::format("group {}", l.group), "group broadcast got '" + s + "'");

  // Leaders: world rank 0 sends a job to each other leader, which answers; probe first.
  if (l.leader) {
    int lr = -1;
    MPI_Comm_rank(l.leaders_comm, &lr);
    if (lr == 0) {
      for (int g = 1; g < l.n_groups; ++g) send_string(fmt::format("job for {}", g), g, 1, l.leaders_comm);
      std::vector<bool> seen(size_t(l.n_groups), false);
      for (int n = 1; n < l.n_groups; ++n) {
        int src = -1;
        while (!probe_string(2, l.leaders_comm, &src)) {
        }
        int from = -1;
        const std::string reply = recv_string(src, 2, l.leaders_comm, &from);
        expect(from == src && reply == fmt::format("result from {}", from) && !seen[size_t(from)],
               "leader reply '" + reply + "'");
        if (from >= 0 && from < l.n_groups) seen[size_t(from)] = true;
      }
    } else {
      int from = -1;
      const std::string job = recv_string(0, 1, l.leaders_comm, &from);
      expect(from == 0 && job == fmt::format("job for {}", lr), "leader job '" + job + "'");
      send_string(fmt::format("result from {}", lr), 0, 2, l.leaders_comm);
    }
  }

  // The reducer over the group: the mean of the group's world ranks, for every kind of gradient.
  auto reducer = make_mpi_reducer(l.group_comm);
  expect(reducer->rank() == l.group_rank && reducer->size() == group_size, "reducer rank/size");
  std::vector<torch::Tensor> grads = {torch::full({3, 3}, double(rank)), torch::Tensor(),
                                      torch::scalar_tensor(2.0 * rank), torch::full({2, 5}, double(rank)).t(),
                                      torch::full({4}, double(rank), torch::kFloat64)};
  reducer->average(grads);
  const double mean = l.group * group_size + (group_size - 1) / 2.0;
  expect(!grads[1].defined(), "undefined gradient stays undefined");
  expect(grads[0].eq(mean).all().item<bool>() && grads[2].item<double>() == 2 * mean &&
             grads[3].eq(mean).all().item<bool>() && grads[4].eq(mean).all().item<bool>() &&
             grads[4].scalar_type() == torch::kFloat64,
         fmt::format("reduced gradients {} {} {} {}", grads[0][0][0].item<double>(), grads[2].item<double>(),
                     grads[3][0][0].item<double>(), grads[4][0].item<double>()));
  reducer.reset();
  free_layout(l);
  expect(l.group_comm == MPI_COMM_NULL && l.leaders_comm == MPI_COMM_NULL, "free_layout resets");

  std::string line = fmt::format("rank {} ", rank);
  if (fails.empty()) return line + fmt::format("ok group {} group_rank {} leader {} mean {}", l.group, l.group_rank,
                                               int(l.leader), mean);
  line += "FAIL";
  for (const auto& f : fails) line += "; " + f;
  return line;
}

void layout_run(const Args& a, int rank, int size) {
  const std::string line = layout_check(a.layout, rank, size);
  if (rank != 0) {
    send_string(line, 0, 9, MPI_COMM_WORLD);
    return;
  }
  std::vector<std::string> lines(static_cast<size_t>(size));
  lines[0] = line;
  for (int r = 1; r < size; ++r) lines[size_t(r)] = recv_string(r, 9, MPI_COMM_WORLD);
  FILE* f = std::fopen(a.out.c_str(), "w");
  if (!f) throw Error(fmt::format("{}: cannot write", a.out));
  for (const auto& l : lines) std::fprintf(f, "%s\n", l.c_str());
  std::fclose(f);
}

}  // namespace

int main(int argc, char** argv) {
  std::unique_ptr<MpiEnv> env;
  int rank = 0, size = 1;
  try {
    if (launched_by_mpi()) {
      env = std::make_unique<MpiEnv>(&argc, &argv);
      rank = env->world_rank();
      size = env->world_size();
    }
    const Args a = parse(argc, argv);
    if (a.layout > 0) {
      if (!env) throw Error("--layout needs mpirun");
      layout_run(a, rank, size);
    } else {
      train_run(a, rank, size);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "srnas_dp_check: error (rank %d of %d): %s\n", rank, size, e.what());
    if (env && size > 1) MPI_Abort(MPI_COMM_WORLD, 2);
    return 2;
  }
  return 0;
}
