// Fidelity: does a short training budget rank candidates as a longer one does? Successive
// halving (and any search at a small budget) bets that it does. For each pair of consecutive
// rungs, the trials measured at both (the promoted ones), and for retrains (`srnas retrain`),
// each retrained genome against its search PSNR: Spearman's rho and Kendall's tau-b of the two
// PSNR-RGB rankings. Near 1: the short budget is a faithful proxy; near 0 or below: raise
// asha.min_budget. Only promoted trials reach the next rung, a range already cut to the best,
// so these figures understate how well the short budget ranks the whole field.
// Plain C++, a pure function of the trials (no DB access).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "sampler/trial.h"

namespace srnas {

// Rank correlations of paired values (NaN pairs skipped); ties get average ranks (rho) and the
// tau-b correction. nullopt when fewer than 3 pairs, or when a side is constant.
std::optional<double> spearman_rho(const std::vector<double>& x, const std::vector<double>& y);
std::optional<double> kendall_tau_b(const std::vector<double>& x, const std::vector<double>& y);

struct FidelityRow {
  std::string from, to;  // "rung 0 (60 it)" -> "rung 1 (120 it)", or "search" -> "retrain"
  int pairs = 0;
  std::optional<double> rho, tau;
  double mean_gain_db = 0;  // mean of (to - from) PSNR-RGB over the pairs
};

// One row per consecutive rung pair that has pairs, then "search -> retrain" per retrain group
// (retrains.h; "retrain <group label>" when there are several): one pair per retrained genome,
// its search PSNR against the mean over its seeds. A rung is labelled with its budget in iterations, read off
// the final (COMPLETE or PRUNED) candidates that ended on it, when any did.
std::vector<FidelityRow> fidelity(const std::vector<TrialRecord>& trials);

// A text table; "no trial was measured at two budgets" when rows is empty.
std::string fidelity_table(const std::vector<FidelityRow>& rows);

}  // namespace srnas
