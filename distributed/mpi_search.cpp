#include "distributed/mpi_search.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <future>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "distributed/core_share.h"
#include "distributed/mpi_env.h"
#include "distributed/reducers.h"
#include "search_space/error.h"
#include "search_space/runtime.h"
#include "trainer/evaluate.h"

namespace srnas {

namespace {

constexpr int kTagJob = 101, kTagResult = 102, kTagCores = 103, kTagHalt = 104;

// A group's reducer, counting its collectives. After an item the ranks compare the counts: an
// NCCL all-reduce that a failed rank queued and its peers never joined would otherwise pair
// with the next item's first collective.
class CountingReducer : public GradientReducer {
 public:
  explicit CountingReducer(std::unique_ptr<GradientReducer> r) : r_(std::move(r)) {}
  void average(std::vector<torch::Tensor>& grads) override {
    ++calls_;
    r_->average(grads);
  }
  void sum(double* values, int n) override {
    ++calls_;
    r_->sum(values, n);
  }
  int rank() const override { return r_->rank(); }
  int size() const override { return r_->size(); }
  long long calls() const { return calls_; }

 private:
  std::unique_ptr<GradientReducer> r_;
  long long calls_ = 0;
};

std::unique_ptr<CountingReducer> make_reducer(const GroupLayout& l, bool cuda, int local_rank) {
  if (l.group_size == 1) return nullptr;
  return std::make_unique<CountingReducer>(cuda ? make_nccl_reducer(l.group_comm, local_rank)
                                                : make_mpi_reducer(l.group_comm));
}

// Rank 0 halts the other groups (kTagHalt) when its search ends early (a signal, an error):
// they stop their items at the next step, checkpointed, instead of finishing them first.
std::atomic<bool> g_halted{false};

bool halted(int world_rank) {
  if (world_rank != 0 && !g_halted && latest_int(0, kTagHalt, MPI_COMM_WORLD, 0) != 0) g_halted = true;
  return g_halted;
}

// LibTorch threads per rank: the node's cores shared by the ranks on it; a solo item (the
// baseline, while every other group idles) shares them only within its group. adaptive
// (`cores: adaptive`): rank 0 lends idle ranks' cores to training ranks (core_share.h).
struct ThreadPlan {
  int shared = 1, solo = 1;
  bool adaptive = false;
  int unbound_solo = 1;  // solo if the rank could run on every core of its node
};

int node_cores() { return std::max(1, int(std::thread::hardware_concurrency())); }

// Never more threads than the CPUs this rank may run on: mpirun binds each rank to one core
// by default (np <= cores), and two threads on one core run slower than one.
ThreadPlan plan_threads(const GroupLayout& l, const MpiEnv& env, const SearchConfig& cfg) {
  const int local_size = std::max(1, env.local_size()), cores = node_cores(), cap = usable_cores();
  const int unbound_solo = std::max(1, cores / std::max(1, std::min(l.group_size, local_size)));
  return {std::max(1, std::min(cap, cores / local_size)), std::min(cap, unbound_solo), cfg.cores == "adaptive",
          unbound_solo};
}

// The threads rank 0 last assigned to this rank (`cores: adaptive`); 0 before any. Rank 0's
// pool sets its own directly; other ranks take the latest kTagCores message from rank 0.
std::atomic<int> g_assigned{0};

int assigned_threads(int world_rank) {
  if (world_rank != 0) g_assigned = latest_int(0, kTagCores, MPI_COMM_WORLD, g_assigned.load());
  return g_assigned.load();
}

// Ends the whole job (MPI_Abort) after saying why on one line: for a rank whose group or
// rank 0 cannot go on without it. The trials it ran stay RUNNING; --resume re-queues them.
[[noreturn]] void abort_job(int world_rank, const std::string& why) {
  fmt::print(stderr, "srnas: error: world rank {}: {}: ending the job (srnas search --resume continues it)\n",
             world_rank, why);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 2);
  std::abort();  // MPI_Abort does not return
}

// How long a rank whose training failed waits for the rest of its group to finish the same
// item before it concludes that they are stuck in a collective waiting for it (then it ends the
// job): $SRNAS_GROUP_WAIT_S, default 120 s. The others reach that point within moments when
// they failed too, or once the leader has written its weights and validated.
double group_wait_s() {
  const char* env = std::getenv("SRNAS_GROUP_WAIT_S");
  return env && std::atof(env) > 0 ? std::atof(env) : 120.0;
}

// Fault injection for the tests: SRNAS_FAIL_RANK_AT="R:K" makes world rank R's training throw
// at its K-th step (K >= 1) of each Train item, as an out-of-memory error on one rank would.
struct InjectedFault {
  int rank = -1;
  long long step = 0;
};
InjectedFault injected_fault() {
  InjectedFault f;
  if (const char* env = std::getenv("SRNAS_FAIL_RANK_AT")) {
    if (std::sscanf(env, "%d:%lld", &f.rank, &f.step) != 2 || f.step < 1)
      throw Error(fmt::format("SRNAS_FAIL_RANK_AT: expected RANK:STEP (STEP >= 1), got '{}'", env));
  }
  return f;
}

// After a Train item the ranks of a group agree on how it ended: when any of them failed
// (an exception, reported as status "failed"), every rank reports that failure, with the
// failed rank's reason, so the leader records the trial FAILED and the group goes on with the
// next item. A failed rank whose peers never arrive (they wait inside a gradient all-reduce
// for it) ends the job, naming itself and the trial. Collective over group_comm.
void agree_on_outcome(WorkResult& r, const GroupLayout& l, const CountingReducer& reducer, int world_rank) {
  const bool failed = r.outcome.status == "failed";
  // MAX of (failed group rank + 1 or 0, collective calls, -collective calls)
  long long mine[3] = {failed ? l.group_rank + 1 : 0, reducer.calls(), -reducer.calls()}, all[3] = {0, 0, 0};
  MPI_Request req;
  MPI_Iallreduce(mine, all, 3, MPI_LONG_LONG, MPI_MAX, l.group_comm, &req);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(group_wait_s());
  for (int done = 0;;) {
    MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    if (done) break;
    if (failed && std::chrono::steady_clock::now() > deadline)
      abort_job(world_rank, fmt::format("trial {} failed here ({}) while the other ranks of group {} still train "
                                        "it and cannot go on without this rank",
                                        r.trial_id, r.outcome.reason, l.group));
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (all[1] != -all[2])
    abort_job(world_rank, fmt::format("trial {}: the ranks of group {} made {} to {} gradient collectives{}: their "
                                      "communicator is out of step",
                                      r.trial_id, l.group, -all[2], all[1],
                                      all[0] > 0 ? fmt::format(" (group rank {} failed)", all[0] - 1) : ""));
  const int worst = int(all[0]);
  if (worst == 0) return;
  std::string reason = failed ? fmt::format("world rank {}: {}", world_rank, r.outcome.reason) : "";
  broadcast_string(reason, worst - 1, l.group_comm);
  r.outcome.status = "failed";
  r.outcome.reason = reason;
}

// Runs an item on this rank with the thread count it is entitled to. A probe always uses the
// shared count (runtime ratios of one study are measured under one condition); a Train item
// under `cores: adaptive` follows rank 0's assignments, checked between steps.
WorkResult execute_with_threads(CandidateRunner& runner, const WorkItem& item, const GroupLayout& layout,
                                CountingReducer* reducer, const ThreadPlan& plan, int world_rank) {
  const bool train = item.kind == WorkItem::Kind::Train, follow = train && plan.adaptive;
  int threads = train && item.solo ? plan.solo : plan.shared;
  if (const int a = follow ? assigned_threads(world_rank) : 0; a > 0) threads = a;
  init_torch_threads(threads);
  static const InjectedFault fault = injected_fault();
  long long steps = 0;
  auto between_steps = [&] {
    if (follow) {
      const int a = assigned_threads(world_rank);
      if (a > 0 && a != threads) init_torch_threads(threads = a);
    }
    if (fault.rank == world_rank && ++steps == fault.step)
      throw Error(fmt::format("injected fault (SRNAS_FAIL_RANK_AT) at step {}", fault.step));
    return stop_requested() || halted(world_rank);
  };
  WorkResult r = execute(runner, item, reducer, nullptr, between_steps);
  if (train && reducer && reducer->size() > 1) agree_on_outcome(r, layout, *reducer, world_rank);
  return r;
}

// A leader runs a Train item with its group: members get it by broadcast first.
WorkResult run_in_group(CandidateRunner& runner, const WorkItem& item, const GroupLayout& l, CountingReducer* reducer,
                        const ThreadPlan& plan, int world_rank) {
  if (l.group_size > 1 && item.kind != WorkItem::Kind::Probe) {
    std::string msg = to_json(item).dump();
    broadcast_string(msg, 0, l.group_comm);
  }
  return execute_with_threads(runner, item, l, reducer, plan, world_rank);
}

// Non-leader ranks: follow the leader's Train items until Stop.
void member_loop(CandidateRunner& runner, const GroupLayout& l, CountingReducer* reducer, const ThreadPlan& plan,
                 int world_rank) {
  while (true) {
    std::string msg;
    broadcast_string(msg, 0, l.group_comm);
    WorkItem item = work_item_from_json(nlohmann::json::parse(msg));
    if (item.kind == WorkItem::Kind::Stop) {
      assigned_threads(world_rank);  // receive what is left
      return;
    }
    execute_with_threads(runner, item, l, reducer, plan, world_rank);
  }
}

// Leaders of groups 1..n-1: receive items from rank 0, run them, send results back.
void leader_loop(CandidateRunner& runner, const GroupLayout& l, CountingReducer* reducer, const ThreadPlan& plan,
                 int world_rank) {
  while (true) {
    wait_for_message(0, kTagJob, MPI_COMM_WORLD);
    WorkItem item = work_item_from_json(nlohmann::json::parse(recv_string(0, kTagJob, MPI_COMM_WORLD)));
    if (item.kind == WorkItem::Kind::Stop) {
      assigned_threads(world_rank);  // receive what is left
      halted(world_rank);
      if (l.group_size > 1) {
        std::string msg = to_json(item).dump();
        broadcast_string(msg, 0, l.group_comm);
      }
      return;
    }
    WorkResult r = run_in_group(runner, item, l, reducer, plan, world_rank);
    send_string(to_json(r).dump(), 0, kTagResult, MPI_COMM_WORLD);
  }
}

// Rank 0's pool: worker 0 is its own group (a thread), worker w > 0 is world rank w*g.
// ranks (every rank's node, cores and share) serve `cores: adaptive`; cuda: the ranks train on GPUs.
class MpiPool : public WorkerPool {
 public:
  MpiPool(CandidateRunner& runner, const GroupLayout& l, CountingReducer* reducer, std::string host, ThreadPlan plan,
          std::vector<RankCores> ranks, bool cuda)
      : runner_(runner), l_(l), reducer_(reducer), host_(std::move(host)), plan_(plan), ranks_(std::move(ranks)),
        activity_(size_t(l.n_groups), RankActivity::Idle), sent_(ranks_.size(), 0), cuda_(cuda) {}
  ~MpiPool() override {
    // Ended early (a signal, or an error unwinding through here): the groups still training
    // stop at their next step, checkpointed (--resume continues them), rather than finish first.
    if (stop_requested() || std::uncaught_exceptions() > 0) {
      request_stop();  // group 0, in this process
      for (int w = 1; w < l_.n_groups; ++w) send_int(1, w * l_.group_size, kTagHalt, MPI_COMM_WORLD);
    }
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
    activity_[size_t(w)] = item.kind == WorkItem::Kind::Probe ? RankActivity::Probe : RankActivity::Train;
    if (plan_.adaptive) share_cores_now();  // the others shrink before this one starts
    if (w == 0) {
      local_ = std::async(std::launch::async, [this, item] { return run_in_group(runner_, item, l_, reducer_, plan_, 0); });
    } else {
      send_string(to_json(item).dump(), w * l_.group_size, kTagJob, MPI_COMM_WORLD);
    }
  }
  WorkResult wait_any(int* worker, const std::function<void()>& tick) override {
    // The search loop has just given work to every worker it could: the idle ones have none.
    if (plan_.adaptive) share_cores_now();
    auto last_tick = std::chrono::steady_clock::now();
    while (true) {
      if (local_.valid() && local_.wait_for(std::chrono::milliseconds(0)) == std::future_status::ready) {
        *worker = 0;
        activity_[0] = RankActivity::Idle;
        return local_.get();
      }
      int src = -1;
      if (probe_string(kTagResult, MPI_COMM_WORLD, &src)) {
        std::string msg = recv_string(src, kTagResult, MPI_COMM_WORLD);
        *worker = src / l_.group_size;
        activity_[size_t(*worker)] = RankActivity::Idle;
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
  // GPU ranks share no cores; adaptive CPU ranks lend the baseline theirs once candidates run out.
  bool overlap_baseline() const override { return l_.n_groups > 1 && (plan_.adaptive || cuda_); }

 private:
  // Assigns every active rank its threads by what each worker does now (share_cores) and
  // tells the ranks whose count changed; idle ranks keep theirs until they get work.
  void share_cores_now() {
    std::vector<RankActivity> act(ranks_.size());
    for (size_t r = 0; r < act.size(); ++r) act[r] = activity_[r / size_t(l_.group_size)];
    std::vector<int> t = share_cores(ranks_, act);
    for (size_t r = 0; r < t.size(); ++r) {
      if (t[r] == 0 || t[r] == sent_[r]) continue;
      if (act[r] == RankActivity::Train && (t[r] > ranks_[r].shared || sent_[r] > ranks_[r].shared))
        fmt::print(stderr, "[search] cores: world rank {} trains on {} thread(s)\n", r, t[r]);
      if (r == 0) {
        g_assigned = t[r];
      } else {
        send_int(t[r], int(r), kTagCores, MPI_COMM_WORLD);
      }
      sent_[r] = t[r];
    }
  }

  CandidateRunner& runner_;
  const GroupLayout& l_;
  CountingReducer* reducer_;
  std::string host_;
  ThreadPlan plan_;
  std::vector<RankCores> ranks_;
  std::vector<RankActivity> activity_;  // per worker (group)
  std::vector<int> sent_;               // per world rank: the last assignment sent, 0: none
  std::future<WorkResult> local_;
  bool cuda_;
};

}  // namespace

SearchSummary mpi_search(const SearchConfig& cfg, const SearchOptions& opt, int group_size, MpiEnv& env) {
  GroupLayout l = make_layout(env.world_rank(), env.world_size(), group_size);
  // Share the cores of a node between its ranks (LibTorch would otherwise use all of them in each).
  const ThreadPlan plan = plan_threads(l, env, cfg);
  init_torch_threads(plan.shared);
  const std::vector<int> cores = gather_ints({env.node(), node_cores(), usable_cores(), plan.shared}, 0, MPI_COMM_WORLD);
  set_cuda_device_index(env.local_rank());
  // Start-up, agreed: every rank makes its runner (data, device), then all learn whether all
  // did and whether all train on a GPU, so that no rank is left waiting in a collective for
  // one that gave up, and no group mixes NCCL and MPI reducers.
  std::unique_ptr<CandidateRunner> runner;
  std::string failure;
  int cuda = 0;
  try {
    runner = make_local_runner(cfg, opt.quiet || env.world_rank() != 0, /*training_data=*/true,
                               RunnerPlace{env.local_size(), env.world_rank() == 0});
    cuda = pick_device(cfg.device).is_cuda();
  } catch (const std::exception& e) {
    failure = e.what();
  }
  int counts[2] = {failure.empty() ? 0 : 1, cuda};  // ranks that failed, ranks on a GPU
  MPI_Allreduce(MPI_IN_PLACE, counts, 2, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (!failure.empty()) throw Error(failure);
  if (counts[0] > 0)
    throw Error(fmt::format("{} of the {} MPI ranks could not start (their errors are above)", counts[0],
                            env.world_size()));
  if (counts[1] != 0 && counts[1] != env.world_size())
    throw Error(fmt::format("device '{}': {} of the {} MPI ranks have a CUDA device, the others not; set device: cuda "
                            "or device: cpu in the search config",
                            cfg.device, counts[1], env.world_size()));
  auto reducer = make_reducer(l, cuda, env.local_rank());
  SearchSummary summary;
  if (env.world_rank() == 0) {
    std::vector<RankCores> ranks;
    bool can_lend = false;
    for (size_t i = 0; i + 3 < cores.size(); i += 4) {
      ranks.push_back({cores[i], cores[i + 1], cores[i + 2], cores[i + 3]});
      can_lend |= ranks.back().cap > ranks.back().shared;
    }
    if (plan.solo < plan.unbound_solo)
      fmt::print(stderr, "[search] mpirun bound each rank to {} core(s): the baseline trains on {} thread(s), not the "
                         "node's {} (mpirun --bind-to none lets a rank use the node's cores while the others wait)\n",
                 usable_cores(), plan.solo, plan.unbound_solo);
    if (plan.adaptive && !can_lend)
      fmt::print(stderr, "[search] cores: adaptive has nothing to lend: every rank may run only on its share of its "
                         "node's cores (mpirun binds each rank to one core by default; add --bind-to none)\n");
    MpiPool pool(*runner, l, reducer.get(), env.host(), plan, std::move(ranks), cuda);
    summary = run_search(cfg, opt, pool);
  } else {
    // Rank 0 waits for this rank's results and its group for its broadcasts: an error here
    // that unwound into MPI_Finalize would leave them (and mpirun) waiting for ever.
    try {
      if (l.leader) leader_loop(*runner, l, reducer.get(), plan, env.world_rank());
      else member_loop(*runner, l, reducer.get(), plan, env.world_rank());
    } catch (const std::exception& e) {
      abort_job(env.world_rank(), e.what());
    }
  }
  reducer.reset();
  free_layout(l);
  return summary;
}

}  // namespace srnas
