// The search under mpirun: candidate-parallel groups of data-parallel ranks.
//
// `mpirun -np N srnas search ... --group-size g` makes N/g groups of g consecutive ranks.
// World rank 0 owns the SQLite file and the sampler (run_search with an MpiPool), so a
// cluster needs no shared-writable DB; it also leads group 0, whose work runs in a thread
// beside the dispatcher. Other group leaders receive WorkItems as JSON over MPI, run them
// with their group (gradients averaged by the group's reducer: MPI on CPU, NCCL on GPU)
// and send WorkResults back; runtime probes run on the leader only. Contract: with g = 1
// and N = 1 this is the single-process search. A rank that dies ends the job (OpenMPI's
// default); rank 0 logs which trial each group runs, and --resume re-queues them. No rank is
// ever left waiting for ever: start-up is agreed (a rank that cannot start stops them all
// with errors), a group's ranks stop and diverge together (trainer/train.h), agree on a
// failed item after it (FAILED when all failed; their gradient collectives counted, so a
// communicator left out of step ends the job), and a rank whose group cannot go on without
// it, or any rank but 0 hit by an error, ends the job with MPI_Abort, naming itself and the
// trial. A search that ends early on rank 0 (a signal there, or a "stopped" result from a
// group one of whose ranks was signalled, or an error) halts the other groups at their next step.
#pragma once

#include "distributed/search.h"

namespace srnas {

class MpiEnv;

// Runs this rank's part of the search; returns rank 0's summary (others: counts empty).
SearchSummary mpi_search(const SearchConfig& cfg, const SearchOptions& opt, int group_size, MpiEnv& env);

}  // namespace srnas
