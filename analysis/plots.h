// Plots of a study drawn by gnuplot (Debian gnuplot-nox, run as a child process on a generated
// script): params vs PSNR-RGB and runtime ratio vs PSNR-RGB (Pareto front, baseline, track
// winners T1..T3), and PSNR-RGB over the search's progress (with the baseline and the study's
// bicubic floor as lines).
// Contract: plot <name> goes to out_dir as <name>.png (pngcairo 900x600) and <name>.svg next to
// its <name>_*.dat and <name>.gp (`cd out_dir && gnuplot <name>.gp` replots); 0 or 1 COMPLETE
// trials give a valid plot with a note. Errors are srnas::Error, one line (see run_gnuplot).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "results_db/results_db.h"

namespace srnas {

// Writes psnr_params, psnr_runtime and progress (PNG then SVG each); returns the six paths.
std::vector<std::string> write_plots(const ResultsDB& db, const StudyRecord& study, const std::string& out_dir);

// The same from trials already read (e.g. db.trials(study.id)); `title` names the study.
std::vector<std::string> write_plots(const std::vector<TrialRecord>& trials, const std::string& title,
                                     const std::string& out_dir, std::optional<double> bicubic_psnr_rgb = std::nullopt);

// The gnuplot executable found on $PATH, or "" when there is none.
std::string find_gnuplot();

// Runs `gnuplot <script>` with `dir` as the working directory; returns what gnuplot printed
// (warnings). Throws the not-found Error above, or "<dir>/<script>: gnuplot failed: <line>".
std::string run_gnuplot(const std::string& dir, const std::string& script);

// 'text' as a single-quoted gnuplot string literal (quotes doubled, newlines dropped).
std::string gnuplot_quote(const std::string& text);

}  // namespace srnas
