#include "distributed/mpi_search.h"

#include <chrono>
#include <cstdlib>
#include <future>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "distributed/mpi_env.h"
#include "distributed/reducers.h"
#include "search_space/error.h"
#include "search_space/runtime.h"
#include "trainer/evaluate.h"

namespace srnas {

namespace {

constexpr int kTagJob = 101, kTagResult = 102;

std::unique_ptr<GradientReducer> make_reducer(const GroupLayout& l, const SearchConfig& cfg, int local_rank) {
  if (l.group_size == 1) return nullptr;
  if (pick_device(cfg.device).is_cuda()) return make_nccl_reducer(l.group_comm, local_rank);
  return make_mpi_reducer(l.group_comm);
}

// LibTorch threads per rank: the node's cores shared by the ranks on it; a solo item (the
// baseline, while every other group idles) shares them only within its group.
struct ThreadPlan {
  int shared = 1, solo = 1;
};

ThreadPlan plan_threads(const GroupLayout& l) {
  int local_size = 1;
  if (const char* s = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE")) local_size = std::max(1, std::atoi(s));
  const int cores = std::max(1, int(std::thread::hardware_concurrency()));
  return {std::max(1, cores / local_size), std::max(1, cores / std::max(1, std::min(l.group_size, local_size)))};
}

// Runs an item on this rank with the thread count it is entitled to.
WorkResult execute_with_threads(CandidateRunner& runner, const WorkItem& item, GradientReducer* reducer,
                                const ThreadPlan& plan) {
  init_torch_threads(item.solo && item.kind == WorkItem::Kind::Train ? plan.solo : plan.shared);
  return execute(runner, item, reducer, nullptr, [] { return stop_requested(); });
}

// A leader runs a Train item with its group: members get it by broadcast first.
WorkResult run_in_group(CandidateRunner& runner, const WorkItem& item, const GroupLayout& l, GradientReducer* reducer,
                        const ThreadPlan& plan) {
  if (l.group_size > 1 && item.kind != WorkItem::Kind::Probe) {
    std::string msg = to_json(item).dump();
    broadcast_string(msg, 0, l.group_comm);
  }
  return execute_with_threads(runner, item, reducer, plan);
}

// Non-leader ranks: follow the leader's Train items until Stop.
void member_loop(CandidateRunner& runner, const GroupLayout& l, GradientReducer* reducer, const ThreadPlan& plan) {
  while (true) {
    std::string msg;
    broadcast_string(msg, 0, l.group_comm);
    WorkItem item = work_item_from_json(nlohmann::json::parse(msg));
    if (item.kind == WorkItem::Kind::Stop) return;
    execute_with_threads(runner, item, reducer, plan);
  }
}

// Leaders of groups 1..n-1: receive items from rank 0, run them, send results back.
void leader_loop(CandidateRunner& runner, const GroupLayout& l, GradientReducer* reducer, const ThreadPlan& plan) {
  while (true) {
    wait_for_message(0, kTagJob, MPI_COMM_WORLD);
    WorkItem item = work_item_from_json(nlohmann::json::parse(recv_string(0, kTagJob, MPI_COMM_WORLD)));
    if (item.kind == WorkItem::Kind::Stop) {
      if (l.group_size > 1) {
        std::string msg = to_json(item).dump();
        broadcast_string(msg, 0, l.group_comm);
      }
      return;
    }
    WorkResult r = run_in_group(runner, item, l, reducer, plan);
    send_string(to_json(r).dump(), 0, kTagResult, MPI_COMM_WORLD);
  }
}

// Rank 0's pool: worker 0 is its own group (a thread), worker w > 0 is world rank w*g.
class MpiPool : public WorkerPool {
 public:
  MpiPool(CandidateRunner& runner, const GroupLayout& l, GradientReducer* reducer, std::string host, ThreadPlan plan)
      : runner_(runner), l_(l), reducer_(reducer), host_(std::move(host)), plan_(plan) {}
  ~MpiPool() override {
    if (local_.valid()) local_.wait();
    WorkItem stop;
    stop.kind = WorkItem::Kind::Stop;
    for (int w = 1; w < l_.n_groups; ++w) send_string(to_json(stop).dump(), w * l_.group_size, kTagJob, MPI_COMM_WORLD);
    if (l_.group_size > 1) {
      std::string msg = to_json(stop).dump();
      broadcast_string(msg, 0, l_.group_comm);
    }
  }
  int size() const override { return l_.n_groups; }
  void submit(int w, const WorkItem& item) override {
    fmt::print(stderr, "[search] trial {} {} -> group {} (world rank {})\n", item.trial_id,
               item.kind == WorkItem::Kind::Probe ? "probe" : "train", w, w * l_.group_size);
    if (w == 0) {
      local_ = std::async(std::launch::async, [this, item] { return run_in_group(runner_, item, l_, reducer_, plan_); });
    } else {
      send_string(to_json(item).dump(), w * l_.group_size, kTagJob, MPI_COMM_WORLD);
    }
  }
  WorkResult wait_any(int* worker, const std::function<void()>& tick) override {
    auto last_tick = std::chrono::steady_clock::now();
    while (true) {
      if (local_.valid() && local_.wait_for(std::chrono::milliseconds(0)) == std::future_status::ready) {
        *worker = 0;
        return local_.get();
      }
      int src = -1;
      if (probe_string(kTagResult, MPI_COMM_WORLD, &src)) {
        std::string msg = recv_string(src, kTagResult, MPI_COMM_WORLD);
        *worker = src / l_.group_size;
        return work_result_from_json(nlohmann::json::parse(msg));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(3));
      if (tick && std::chrono::steady_clock::now() - last_tick > std::chrono::seconds(2)) {
        tick();
        last_tick = std::chrono::steady_clock::now();
      }
    }
  }
  std::string device() const override { return runner_.device(); }
  std::string worker_name(int w) const override {
    return fmt::format("group{}(rank{})", w, w * l_.group_size);
  }

 private:
  CandidateRunner& runner_;
  const GroupLayout& l_;
  GradientReducer* reducer_;
  std::string host_;
  ThreadPlan plan_;
  std::future<WorkResult> local_;
};

}  // namespace

SearchSummary mpi_search(const SearchConfig& cfg, const SearchOptions& opt, int group_size, MpiEnv& env) {
  GroupLayout l = make_layout(env.world_rank(), env.world_size(), group_size);
  // Share the cores of a node between its ranks (LibTorch would otherwise use all of them in each).
  const ThreadPlan plan = plan_threads(l);
  init_torch_threads(plan.shared);
  set_cuda_device_index(env.local_rank());
  auto runner = make_local_runner(cfg, opt.quiet || env.world_rank() != 0);
  auto reducer = make_reducer(l, cfg, env.local_rank());
  SearchSummary summary;
  if (env.world_rank() == 0) {
    MpiPool pool(*runner, l, reducer.get(), env.host(), plan);
    summary = run_search(cfg, opt, pool);
  } else if (l.leader) {
    leader_loop(*runner, l, reducer.get(), plan);
  } else {
    member_loop(*runner, l, reducer.get(), plan);
  }
  reducer.reset();
  free_layout(l);
  return summary;
}

}  // namespace srnas
