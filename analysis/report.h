// The HTML report of a study: one self-contained page (report.html) with its settings and stored
// config, state counts, the three plots (analysis/plots.h), the Pareto table, the three tracks
// (rankings, baseline row, why the others are unranked) and the PRUNED/FAILED trials' reasons.
// Contract: plain semantic HTML, small embedded CSS, every DB text HTML-escaped; plots embedded
// as base64 SVG data URIs, so the file works when moved. Without gnuplot the page says so
// instead of plotting. Errors are srnas::Error naming the file.
#pragma once

#include <string>

#include "results_db/results_db.h"

namespace srnas {

// Writes out_dir/report.html (and the plots next to it); returns its path.
std::string write_report(const ResultsDB& db, const StudyRecord& study, const std::string& out_dir);

// Text escaped for HTML element content and attribute values (& < > " ').
std::string html_escape(const std::string& text);

// RFC 4648 base64 of bytes (with '=' padding).
std::string base64(const std::string& bytes);

}  // namespace srnas
