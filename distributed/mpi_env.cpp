#include "distributed/mpi_env.h"

#include <climits>
#include <cstdint>
#include <cstdlib>

#include <algorithm>
#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "search_space/error.h"

namespace srnas {

namespace {

// MPI calls return an error code only when the communicator's handler is MPI_ERRORS_RETURN;
// with the default handler a failure aborts the job first. Either way, no silent failure.
void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw Error(fmt::format("{} failed: {}", what, std::string(msg, size_t(len))));
}

const char* thread_level_name(int level) {
  switch (level) {
    case MPI_THREAD_SINGLE: return "MPI_THREAD_SINGLE";
    case MPI_THREAD_FUNNELED: return "MPI_THREAD_FUNNELED";
    case MPI_THREAD_SERIALIZED: return "MPI_THREAD_SERIALIZED";
    case MPI_THREAD_MULTIPLE: return "MPI_THREAD_MULTIPLE";
    default: return "an unknown thread level";
  }
}

}  // namespace

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"})
    if (std::getenv(v)) return true;
  return false;
}

MpiEnv::MpiEnv(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) throw Error("MPI is already initialised: create one srnas::MpiEnv per process");
  int provided = MPI_THREAD_SINGLE;
  check(MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided), "MPI_Init_thread");
  if (provided < MPI_THREAD_MULTIPLE) {
    MPI_Finalize();
    throw Error(fmt::format("the MPI library provides {}, srnas needs MPI_THREAD_MULTIPLE",
                            thread_level_name(provided)));
  }
  check(MPI_Comm_rank(MPI_COMM_WORLD, &world_rank_), "MPI_Comm_rank");
  check(MPI_Comm_size(MPI_COMM_WORLD, &world_size_), "MPI_Comm_size");

  MPI_Comm node = MPI_COMM_NULL;
  check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world_rank_, MPI_INFO_NULL, &node),
        "MPI_Comm_split_type");
  check(MPI_Comm_rank(node, &local_rank_), "MPI_Comm_rank");
  check(MPI_Comm_size(node, &local_size_), "MPI_Comm_size");
  check(MPI_Allreduce(&world_rank_, &node_, 1, MPI_INT, MPI_MIN, node), "MPI_Allreduce (node id)");
  MPI_Comm_free(&node);

  char name[MPI_MAX_PROCESSOR_NAME];
  int len = 0;
  check(MPI_Get_processor_name(name, &len), "MPI_Get_processor_name");
  host_.assign(name, size_t(len));
}

MpiEnv::~MpiEnv() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

GroupLayout make_layout(int world_rank, int world_size, int group_size) {
  if (group_size < 1) throw Error(fmt::format("--group-size {} must be >= 1", group_size));
  if (group_size > world_size)
    throw Error(fmt::format("--group-size {} is larger than the {} MPI ranks", group_size, world_size));
  if (world_size % group_size)
    throw Error(fmt::format("--group-size {} does not divide the {} MPI ranks", group_size, world_size));
  if (world_rank < 0 || world_rank >= world_size)
    throw Error(fmt::format("MPI rank {} is outside [0, {})", world_rank, world_size));
  GroupLayout l;
  l.group_size = group_size;
  l.n_groups = world_size / group_size;
  l.group = world_rank / group_size;
  l.group_rank = world_rank % group_size;
  l.leader = l.group_rank == 0;
  check(MPI_Comm_split(MPI_COMM_WORLD, l.group, world_rank, &l.group_comm), "MPI_Comm_split (groups)");
  check(MPI_Comm_split(MPI_COMM_WORLD, l.leader ? 0 : MPI_UNDEFINED, world_rank, &l.leaders_comm),
        "MPI_Comm_split (leaders)");
  return l;
}

void free_layout(GroupLayout& l) {
  if (l.group_comm != MPI_COMM_NULL) MPI_Comm_free(&l.group_comm);
  if (l.leaders_comm != MPI_COMM_NULL) MPI_Comm_free(&l.leaders_comm);
  l.group_comm = l.leaders_comm = MPI_COMM_NULL;
}

void send_string(const std::string& s, int dest, int tag, MPI_Comm comm) {
  if (s.size() > size_t(INT_MAX))
    throw Error(fmt::format("message of {} bytes to MPI rank {} is larger than MPI's 2 GiB count limit", s.size(), dest));
  check(MPI_Send(s.data(), int(s.size()), MPI_CHAR, dest, tag, comm), "MPI_Send");
}

std::string recv_string(int source, int tag, MPI_Comm comm, int* actual_source) {
  MPI_Message msg;
  MPI_Status st;
  check(MPI_Mprobe(source, tag, comm, &msg, &st), "MPI_Mprobe");
  int count = 0;
  check(MPI_Get_count(&st, MPI_CHAR, &count), "MPI_Get_count");
  std::string s(size_t(count), '\0');
  check(MPI_Mrecv(s.data(), count, MPI_CHAR, &msg, MPI_STATUS_IGNORE), "MPI_Mrecv");
  if (actual_source) *actual_source = st.MPI_SOURCE;
  return s;
}

bool probe_string(int tag, MPI_Comm comm, int* source) {
  int flag = 0;
  MPI_Status st;
  check(MPI_Iprobe(MPI_ANY_SOURCE, tag, comm, &flag, &st), "MPI_Iprobe");
  if (flag && source) *source = st.MPI_SOURCE;
  return flag != 0;
}

void send_int(int value, int dest, int tag, MPI_Comm comm) {
  check(MPI_Send(&value, 1, MPI_INT, dest, tag, comm), "MPI_Send (int)");
}

int latest_int(int source, int tag, MPI_Comm comm, int none) {
  int value = none;
  while (true) {
    int flag = 0;
    check(MPI_Iprobe(source, tag, comm, &flag, MPI_STATUS_IGNORE), "MPI_Iprobe");
    if (!flag) return value;
    check(MPI_Recv(&value, 1, MPI_INT, source, tag, comm, MPI_STATUS_IGNORE), "MPI_Recv (int)");
  }
}

std::vector<int> gather_ints(const std::vector<int>& mine, int root, MPI_Comm comm) {
  int rank = 0, size = 1;
  check(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  check(MPI_Comm_size(comm, &size), "MPI_Comm_size");
  std::vector<int> all(rank == root ? mine.size() * size_t(size) : 0);
  check(MPI_Gather(mine.data(), int(mine.size()), MPI_INT, all.data(), int(mine.size()), MPI_INT, root, comm),
        "MPI_Gather");
  return all;
}

namespace {
// Completes a request, sleeping between tests: a rank waiting for work must not spin a core
// that a training rank on the same node could use (MPI's blocking calls busy-poll).
void wait_politely(MPI_Request* req, const char* what) {
  auto pause = std::chrono::microseconds(200);
  while (true) {
    int done = 0;
    check(MPI_Test(req, &done, MPI_STATUS_IGNORE), what);
    if (done) return;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(5000));
  }
}
}  // namespace

void wait_for_message(int source, int tag, MPI_Comm comm) {
  auto pause = std::chrono::microseconds(200);
  while (true) {
    int flag = 0;
    check(MPI_Iprobe(source, tag, comm, &flag, MPI_STATUS_IGNORE), "MPI_Iprobe");
    if (flag) return;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(5000));
  }
}

void broadcast_string(std::string& s, int root, MPI_Comm comm) {
  uint64_t n = s.size();
  MPI_Request req;
  check(MPI_Ibcast(&n, 1, MPI_UINT64_T, root, comm, &req), "MPI_Ibcast (length)");
  wait_politely(&req, "MPI_Ibcast (length)");
  if (n > uint64_t(INT_MAX)) throw Error(fmt::format("broadcast of {} bytes is larger than MPI's 2 GiB count limit", n));
  s.resize(size_t(n));
  check(MPI_Ibcast(s.data(), int(n), MPI_CHAR, root, comm, &req), "MPI_Ibcast");
  wait_politely(&req, "MPI_Ibcast");
}

}  // namespace srnas
