// Gene importance: which genes of a study's space explain an objective (PSNR, params, MACs,
// runtime) across its candidates, as Optuna's get_param_importances does for hyperparameters.
// For each gene, over the candidates in which it is active (changing it changes the network:
// lr_block_3 is inactive with 2 LR blocks), the correlation ratio eta^2 = SS_between / SS_total
// of a one-way analysis of variance by the gene's value, and epsilon^2 = (SS_between - (k-1)
// MS_within) / SS_total, which removes eta^2's upward bias for k values in few trials. Under
// random sampling the genes are independent and eta^2 is each gene's main (first-order)
// effect; samplers that concentrate on good regions correlate genes, and the report says so.
// Pairs of genes: over the candidates in which both are active, the two-way interaction
// SS_ab = SS_cells - SS_a - SS_b (what the (a, b) cell means explain beyond both main effects),
// as eta^2 = max(0, SS_ab) / SS_total and epsilon^2 = (SS_ab - df_ab MS_within) / SS_total with
// df_ab = cells - k_a - k_b + 1: "does block type matter differently at another width?".
// Plain C++, a pure function of (space, trials, objective); the baseline, retrains and genomes
// outside the space are left out.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "results_db/results_db.h"
#include "sampler/trial.h"
#include "search_space/space.h"

namespace srnas {

enum class ImportanceObjective { Psnr, Params, Macs, Runtime };
// "psnr" | "params" | "macs" | "runtime"; throws srnas::Error naming `where` otherwise.
ImportanceObjective importance_objective_from_string(const std::string& s, const std::string& where);

struct GeneLevel {
  std::string label;  // the gene's value ("16", "ir(e3)")
  int n = 0;          // candidates with it
  double mean = 0;    // the objective's mean over them
};

struct GeneImportance {
  std::string gene;
  int n = 0;                     // candidates in which the gene is active
  std::optional<double> eta2;    // nullopt: fewer than 2 values seen, or a constant objective
  std::optional<double> eps2;    // nullopt also when n <= values seen
  std::vector<GeneLevel> levels; // the values seen, in the gene's order
};

struct PairInteraction {
  std::string a, b;    // the two genes, in the space's order
  int n = 0;           // candidates in which both are active
  int cells = 0;       // (a, b) value combinations seen
  int df = 0;          // cells - k_a - k_b + 1 (>= 1)
  double eta2 = 0;     // max(0, SS_ab) / SS_total
  double eps2 = 0;     // (SS_ab - df MS_within) / SS_total; can be negative
};

struct ImportanceReport {
  ImportanceObjective objective = ImportanceObjective::Psnr;
  std::string measure;          // what was analysed: "PSNR-RGB (dB) at the first budget", "log10(params)", ...
  int candidates = 0;           // candidates with the objective measured
  int outside_space = 0;        // left out: not in the space (enqueued references)
  // By eps2, largest first; then genes with eta2 only (each value seen about once), by eta2;
  // then the undefined.
  std::vector<GeneImportance> genes;
  // Pairs with df >= 1 and more candidates than cells (so MS_within exists), by eps2, largest
  // first; pairs that cannot be estimated from these candidates are not listed.
  std::vector<PairInteraction> pairs;
  std::vector<std::string> notes;     // caveats, one line each
};

// PSNR: PSNR-RGB at the end of rung 0 (the first budget, which every trained candidate reached,
// so all compare; without successive halving, the trained PSNR); params, MACs and the runtime
// ratio: log10 of the value (they scale multiplicatively), for every candidate that has it,
// pruned ones included (they are measured before training). `sampler` (the study's sampler
// type) only adds the note on correlated genes when it is not "random".
ImportanceReport gene_importance(const Space& space, const std::vector<TrialRecord>& trials,
                                 ImportanceObjective objective, const std::string& sampler);

// A text table: one row per gene, eta^2, epsilon^2 and the per-value means; then the first
// `pairs` interactions (0: none).
std::string importance_table(const ImportanceReport& r, int pairs = 5);

// The sampler type a study ran with, from its stored config ("random" when the config names
// none; "?" when it does not parse).
std::string study_sampler_type(const StudyRecord& study);

}  // namespace srnas
