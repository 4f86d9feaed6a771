// MPI process environment: start-up, node-local rank, rank groups for data-parallel training,
// and string messages (job/result JSON) between ranks. MPI's C API only; no LibTorch.
//
// Contract: single-process runs never call MPI_Init; one MpiEnv per process, made before any
// other MPI call and outliving every communicator made from it (reducers included). Errors are
// srnas::Error (one line); MPI's own errors stay fatal (MPI_ERRORS_ARE_FATAL).
#pragma once

#include <string>
#include <vector>

#include <mpi.h>

namespace srnas {

// True when this process was started by mpirun/srun (OMPI_COMM_WORLD_SIZE, PMIX_RANK or PMI_RANK
// set); single-process runs never call MPI_Init.
bool launched_by_mpi();

// RAII: MPI_Init_thread(MPI_THREAD_MULTIPLE) (Error if the library provides less, or if MPI is
// already initialised), MPI_Finalize in the destructor.
class MpiEnv {
 public:
  MpiEnv(int* argc, char*** argv);
  ~MpiEnv();
  MpiEnv(const MpiEnv&) = delete;
  MpiEnv& operator=(const MpiEnv&) = delete;

  int world_rank() const { return world_rank_; }
  int world_size() const { return world_size_; }
  int local_rank() const { return local_rank_; }  // node-local rank (MPI_COMM_TYPE_SHARED); picks a GPU
  int local_size() const { return local_size_; }  // ranks on this node
  int node() const { return node_; }              // the lowest world rank on this node: a node id
  std::string host() const { return host_; }      // MPI_Get_processor_name

 private:
  int world_rank_ = 0, world_size_ = 1, local_rank_ = 0, local_size_ = 1, node_ = 0;
  std::string host_;
};

// Data-parallel groups: world rank r is in group r / group_size with group rank r % group_size;
// group rank 0 is the group's leader.
struct GroupLayout {
  int group_size = 1, n_groups = 1, group = 0, group_rank = 0;
  bool leader = true;
  MPI_Comm group_comm = MPI_COMM_NULL;    // the ranks of this group, ordered by world rank
  MPI_Comm leaders_comm = MPI_COMM_NULL;  // world ranks that are group leaders; MPI_COMM_NULL on non-leaders
};

// world_size / group_size groups of group_size consecutive world ranks. Collective over
// MPI_COMM_WORLD. Throws (before any MPI call) for group_size < 1 ("--group-size 0 must be >= 1")
// or a group size that does not divide world_size ("--group-size 3 does not divide the 4 MPI ranks").
GroupLayout make_layout(int world_rank, int world_size, int group_size);
// Frees the layout's communicators (collective) and resets them to MPI_COMM_NULL.
void free_layout(GroupLayout& l);

// String messages (MPI_CHAR; the length travels with the message). recv_string blocks on a
// matched probe (MPI_Mprobe + MPI_Get_count + MPI_Mrecv, safe with several receiving threads)
// and sets *actual_source. probe_string is non-blocking (MPI_Iprobe): true and *source set when
// a message with this tag is waiting. broadcast_string: s on root is copied into s everywhere.
// Waiting ranks sleep between polls (wait_for_message, broadcast_string), so an idle rank
// leaves its core to the ranks that train.
void send_string(const std::string& s, int dest, int tag, MPI_Comm comm);
std::string recv_string(int source /* or MPI_ANY_SOURCE */, int tag, MPI_Comm comm, int* actual_source = nullptr);
bool probe_string(int tag, MPI_Comm comm, int* source);
// Small control values (one int): send_int is MPI_Send; latest_int receives every int waiting
// from `source` with `tag` without blocking and returns the last one sent, or `none`.
void send_int(int value, int dest, int tag, MPI_Comm comm);
int latest_int(int source, int tag, MPI_Comm comm, int none);
// MPI_Gather of `mine` (the same length on every rank): root gets every rank's values in
// rank order, the other ranks an empty vector. Collective.
std::vector<int> gather_ints(const std::vector<int>& mine, int root, MPI_Comm comm);
void broadcast_string(std::string& s, int root, MPI_Comm comm);
void wait_for_message(int source, int tag, MPI_Comm comm);

}  // namespace srnas
