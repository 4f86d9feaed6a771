#include "distributed/core_share.h"

#include <algorithm>
#include <map>

#include "search_space/error.h"

namespace srnas {

std::vector<int> share_cores(const std::vector<RankCores>& ranks, const std::vector<RankActivity>& activity) {
  const size_t n = ranks.size();
  if (activity.size() != n) throw Error("share_cores: the rank and activity lists differ in length");
  struct Node {
    int cores = 0, probing = 0;  // probing: the cores its probing ranks hold
    std::vector<size_t> training;
  };
  std::map<int, Node> nodes;
  std::vector<int> threads(n, 0);
  for (size_t r = 0; r < n; ++r) {
    Node& nd = nodes[ranks[r].node];
    nd.cores = std::max(nd.cores, ranks[r].node_cores);
    if (activity[r] == RankActivity::Probe) {
      threads[r] = std::max(1, ranks[r].shared);
      nd.probing += threads[r];
    }
    if (activity[r] == RankActivity::Train) nd.training.push_back(r);
  }
  for (auto& [id, nd] : nodes) {
    const int t = int(nd.training.size());
    if (t == 0) continue;
    const int avail = std::max(t, nd.cores - nd.probing);
    for (int i = 0; i < t; ++i) {
      const RankCores& rc = ranks[nd.training[size_t(i)]];
      const int share = avail / t + (i < avail % t ? 1 : 0);
      threads[nd.training[size_t(i)]] = std::max(1, std::min(std::max(share, rc.shared), std::max(1, rc.cap)));
    }
  }
  return threads;
}

}  // namespace srnas
