// Core sharing for candidate-parallel search on CPU nodes (search config `cores: adaptive`).
//
// Every rank starts with its node's cores divided by the ranks on the node (`shared`). When
// some ranks have nothing to do (the end of a study, a successive-halving rung waiting for
// its last trials), their cores are worth more to the ranks still training. share_cores says
// how many LibTorch threads each rank should run with, given what each rank is doing now.
//
// Contract: plain arithmetic, no MPI. Probing ranks keep their `shared` threads (runtime
// ratios are measured under one fixed condition for a whole study); a node's remaining cores
// are split between its training ranks as evenly as possible (lower world ranks get the
// remainder), never below a rank's `shared` nor above its `cap` (the CPUs it may run on: a
// rank that mpirun bound to one core stays at 1); idle ranks get 0 (they sleep). Vectors are
// indexed by world rank.
#pragma once

#include <vector>

namespace srnas {

enum class RankActivity { Idle, Probe, Train };

struct RankCores {
  int node = 0;        // node id (ranks with the same id share the node's cores)
  int node_cores = 1;  // the node's cores
  int cap = 1;         // the CPUs this rank may run on
  int shared = 1;      // its share when every rank of the node is busy
};

std::vector<int> share_cores(const std::vector<RankCores>& ranks, const std::vector<RankActivity>& activity);

}  // namespace srnas
