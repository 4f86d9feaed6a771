#include "analysis/report.h"

#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include <fmt/format.h>

#include "analysis/fidelity.h"
#include "analysis/importance.h"
#include "analysis/plots.h"
#include "analysis/retrains.h"
#include "analysis/tracks.h"
#include "search_space/error.h"
#include "search_space/space.h"

namespace srnas {

namespace fs = std::filesystem;

namespace {

const char* kCss = R"css(
body { font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; color: #222; margin: 0 auto;
       max-width: 1080px; padding: 1.5em 2em 3em; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.1em; }
h2 { font-size: 1.25em; border-bottom: 2px solid #4C72B0; padding-bottom: 0.15em; margin-top: 1.8em; }
h3 { font-size: 1.05em; margin: 1.3em 0 0.4em; }
p.sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.4em 0 1em; font-size: 0.88em; }
th, td { border: 1px solid #ccc; padding: 0.22em 0.6em; text-align: left; vertical-align: top; }
th { background: #eef2f8; white-space: nowrap; }
tbody tr:nth-child(even) { background: #f8f8f8; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.baseline td { background: #fff6df; font-style: italic; }
table.kv th { width: 9em; }
pre { background: #f6f6f6; border: 1px solid #ddd; padding: 0.7em 1em; font-size: 0.82em; overflow-x: auto;
      max-height: 28em; }
figure { margin: 1em 0 1.6em; }
figure img { width: 100%; max-width: 900px; height: auto; border: 1px solid #ddd; }
figcaption { color: #555; font-size: 0.9em; }
.note { color: #8a5a00; background: #fff6df; padding: 0.4em 0.8em; border-left: 4px solid #e0a800; }
.muted { color: #777; }
)css";

std::string utc(double unix_s) {
  if (!(unix_s > 0)) return "-";
  std::time_t t = std::time_t(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string digits(int64_t v) {
  std::string s = std::to_string(v < 0 ? -v : v), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return v < 0 ? "-" + out : out;
}

std::string f3(const std::optional<double>& v) { return v && std::isfinite(*v) ? fmt::format("{:.3f}", *v) : "-"; }
std::string i64(const std::optional<int64_t>& v) { return v ? digits(*v) : "-"; }

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw Error(fmt::format("{}: cannot read: {}", p.string(), std::strerror(errno)));
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// One row of trial metrics: trial, number, params, MACs, PSNR-RGB, PSNR-Y, runtime ratio.
std::string metric_cells(const TrialRecord& t) {
  return fmt::format("<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>"
                     "<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>",
                     t.id, t.number, i64(t.params), i64(t.macs), f3(t.psnr_rgb), f3(t.psnr_y), f3(t.runtime_ratio));
}
const char* kMetricHead =
    "<th>trial</th><th>#</th><th>params</th><th>MACs</th><th>PSNR-RGB (dB)</th><th>PSNR-Y (dB)</th>"
    "<th>runtime ratio</th>";

// trial id -> "T1, T3": the tracks each trial wins.
std::map<int64_t, std::string> winner_labels(const std::array<TrackResult, 3>& tracks) {
  std::map<int64_t, std::string> wins;
  for (const auto& t : tracks)
    if (!t.ranked.empty()) {
      std::string& l = wins[t.ranked.front().id];
      l += (l.empty() ? "T" : ", T") + std::to_string(t.track);
    }
  return wins;
}

}  // namespace

std::string html_escape(const std::string& text) {
  std::string o;
  o.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string base64(const std::string& bytes) {
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string o;
  o.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = uint32_t(uint8_t(bytes[i])) << 16 | uint32_t(uint8_t(bytes[i + 1])) << 8 | uint8_t(bytes[i + 2]);
    o += tbl[v >> 18], o += tbl[v >> 12 & 63], o += tbl[v >> 6 & 63], o += tbl[v & 63];
  }
  if (i + 1 == bytes.size()) {
    uint32_t v = uint32_t(uint8_t(bytes[i])) << 16;
    o += tbl[v >> 18], o += tbl[v >> 12 & 63], o += "==";
  } else if (i + 2 == bytes.size()) {
    uint32_t v = uint32_t(uint8_t(bytes[i])) << 16 | uint32_t(uint8_t(bytes[i + 1])) << 8;
    o += tbl[v >> 18], o += tbl[v >> 12 & 63], o += tbl[v >> 6 & 63], o += '=';
  }
  return o;
}

std::string write_report(const ResultsDB& db, const StudyRecord& study, const std::string& out_dir) {
  const fs::path dir(out_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(fmt::format("{}: cannot create the folder: {}", out_dir, ec.message()));
  const std::vector<TrialRecord> trials = db.trials(study.id);
  const std::vector<TrialRecord> search = search_trials(trials);
  const std::map<TrialState, int> counts = state_counts(search);  // retrains have their own section
  const size_t n_retrains = trials.size() - search.size();
  const TracksReport tracks = study_tracks(db, trials);
  const auto front = pareto_trials(trials, {Objective::PSNR, Objective::Params, Objective::Runtime});
  std::map<int64_t, std::string> wins = winner_labels(tracks.tracks);

  std::string h;
  auto add = [&h](const std::string& s) { h += s; };
  add("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
  add("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
  add(fmt::format("<title>srnas study {}</title>\n<style>{}</style>\n</head>\n<body>\n", html_escape(study.name), kCss));
  add(fmt::format("<header>\n<h1>Study <code>{}</code></h1>\n<p class=\"sub\">srnas search report &middot; {} &middot; "
                  "generated {}</p>\n</header>\n<main>\n",
                  html_escape(study.name), html_escape(db.path()),
                  utc(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count())));

  // Settings.
  add("<section id=\"settings\">\n<h2>Settings</h2>\n<table class=\"kv\">\n<tbody>\n");
  for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
           {"name", study.name}, {"space", study.space}, {"seed", std::to_string(study.seed)},
           {"device", study.device}, {"created", utc(study.created_at)}, {"results DB", db.path()}})
    add(fmt::format("<tr><th scope=\"row\">{}</th><td>{}</td></tr>\n", k, html_escape(v)));
  add("</tbody>\n</table>\n<h3>Search config (as stored in the study)</h3>\n");
  add(fmt::format("<pre>{}</pre>\n</section>\n", study.config_yaml.empty() ? "(none stored)" : html_escape(study.config_yaml)));

  // State counts.
  add("<section id=\"states\">\n<h2>Trials</h2>\n<table>\n<thead><tr>");
  int total = 0;
  for (const auto& [s, n] : counts) add(fmt::format("<th>{}</th>", to_string(s))), total += n;
  add("<th>total</th></tr></thead>\n<tbody><tr>");
  for (const auto& [s, n] : counts) add(fmt::format("<td class=\"n\">{}</td>", n));
  add(fmt::format("<td class=\"n\">{}</td></tr></tbody>\n</table>\n", total));
  add("<p class=\"muted\">The baseline is one of these trials (number 0); it is shown for reference and never "
      "ranked.");
  if (n_retrains > 0)
    add(fmt::format(" Not counted: {} retrain{} (<a href=\"#retrains\">Retrains</a>).", n_retrains,
                    n_retrains == 1 ? "" : "s"));
  add("</p>\n");
  const TrialTime took = trial_time(trials);  // the search and its retrains
  auto secs = [](double s) { return s < 3600 ? fmt::format("{:.0f} s", s) : fmt::format("{:.1f} h", s / 3600); };
  if (took.worker_s > 0)
    add(fmt::format("<p>The finished trials took {} of worker time, {} from the first start to the last end (each "
                    "trial from the claim that finished it; the retrains included).</p>\n",
                    secs(took.worker_s), secs(took.wall_s)));
  add("</section>\n");

  // Plots.
  add("<section id=\"plots\">\n<h2>Plots</h2>\n");
  if (find_gnuplot().empty()) {
    add("<p class=\"note\">No plots: gnuplot not found (install gnuplot-nox; scripts/setup.sh does).</p>\n");
  } else {
    write_plots(trials, "study " + study.name, out_dir, tracks.bicubic_psnr_rgb);
    const std::vector<std::pair<std::string, std::string>> figs = {
        {"psnr_params", "PSNR-RGB against parameters (log scale) of the COMPLETE trials; the line is the Pareto front "
                        "on (PSNR, params); T1-T3 mark the track winners."},
        {"psnr_runtime", "PSNR-RGB against runtime ratio (runtime / MSRResNet runtime); the line is the Pareto front "
                         "on (PSNR, runtime)."},
        {"progress", "PSNR-RGB over the search: COMPLETE trials by number, the best so far, PRUNED and FAILED "
                     "trials as marks at the bottom, the baseline as a dashed line, the bicubic floor (when recorded) "
                     "as a dotted one."}};
    for (const auto& [name, caption] : figs) {
      std::string svg = read_file(dir / (name + ".svg"));
      add(fmt::format("<figure id=\"fig-{0}\">\n<img alt=\"{0} plot\" width=\"900\" height=\"600\" "
                      "src=\"data:image/svg+xml;base64,{1}\">\n<figcaption>{2}</figcaption>\n</figure>\n",
                      name, base64(svg), html_escape(caption)));
    }
  }
  add("</section>\n");

  // Pareto table.
  add(fmt::format("<section id=\"pareto\">\n<h2>Pareto front</h2>\n<p>COMPLETE trials not dominated on (PSNR-RGB "
                  "&uarr;, params &darr;, runtime ratio &darr;): {} trial{}.</p>\n",
                  front.size(), front.size() == 1 ? "" : "s"));
  if (!front.empty()) {
    add(fmt::format("<table>\n<thead><tr>{}<th>note</th></tr></thead>\n<tbody>\n", kMetricHead));
    for (const auto& t : front) {
      std::string note = t.is_baseline ? "baseline" : wins.count(t.id) ? "winner " + wins[t.id] : "";
      add(fmt::format("<tr{}>{}<td>{}</td></tr>\n", t.is_baseline ? " class=\"baseline\"" : "", metric_cells(t),
                      html_escape(note)));
    }
    add("</tbody>\n</table>\n");
  }
  add("</section>\n");

  // Tracks.
  add("<section id=\"tracks\">\n<h2>Tracks</h2>\n");
  if (tracks.baseline) {
    const TrialRecord& b = *tracks.baseline;
    add(fmt::format("<p>Baseline: trial {}, PSNR-RGB {} dB, {} params, runtime ratio {}. Every rule is relative "
                    "to it.</p>\n",
                    b.id, f3(b.psnr_rgb), i64(b.params), f3(b.runtime_ratio)));
    if (tracks.bicubic_psnr_rgb)
      add(fmt::format("<p>Bicubic interpolation (no network) on the same validation images: PSNR-RGB {} dB, "
                      "PSNR-Y {} dB.</p>\n",
                      f3(tracks.bicubic_psnr_rgb), f3(tracks.bicubic_psnr_y)));
    if (!tracks.floor_warning.empty())
      add(fmt::format("<p class=\"note\">Warning: {}.</p>\n", html_escape(tracks.floor_warning)));
    add("<ul class=\"winners\">\n");
    const char* what[] = {"fewest params", "lowest runtime", "best PSNR"};
    for (const auto& tr : tracks.tracks) {
      if (tr.ranked.empty()) {
        add(fmt::format("<li>Track {} ({}): no eligible trial</li>\n", tr.track, what[tr.track - 1]));
        continue;
      }
      const TrialRecord& w = tr.ranked.front();
      add(fmt::format("<li>Track {} ({}): <strong>trial {}</strong> &mdash; {} params, {} dB, runtime ratio {}</li>\n",
                      tr.track, what[tr.track - 1], w.id, i64(w.params), f3(w.psnr_rgb), f3(w.runtime_ratio)));
    }
    add("</ul>\n");
  } else {
    add("<p class=\"note\">No COMPLETE baseline: nothing can be ranked.</p>\n");
  }
  const char* titles[] = {"Track 1 &mdash; fewest params (PSNR &ge; baseline, runtime &le; baseline)",
                          "Track 2 &mdash; lowest runtime (params &le; baseline, PSNR &ge; baseline)",
                          "Track 3 &mdash; best PSNR (params &le; baseline, runtime &le; baseline)"};
  for (const auto& tr : tracks.tracks) {
    add(fmt::format("<h3 id=\"track{}\">{}</h3>\n", tr.track, titles[tr.track - 1]));
    add(fmt::format("<table>\n<thead><tr><th>rank</th>{}</tr></thead>\n<tbody>\n", kMetricHead));
    int rank = 0;
    for (const auto& t : tr.ranked) add(fmt::format("<tr><td class=\"n\">{}</td>{}</tr>\n", ++rank, metric_cells(t)));
    if (tr.ranked.empty()) add("<tr><td colspan=\"8\" class=\"muted\">no eligible trial</td></tr>\n");
    if (tracks.baseline)
      add(fmt::format("<tr class=\"baseline\"><td>baseline</td>{}</tr>\n", metric_cells(*tracks.baseline)));
    add("</tbody>\n</table>\n");
  }
  // Unranked: one row per COMPLETE trial missing from at least one ranking, the rule it
  // breaks in each track (or its rank there).
  std::map<int64_t, std::array<std::string, 3>> why;  // trial id -> per track
  std::map<int64_t, const TrialRecord*> by_id;
  for (const auto& tr : tracks.tracks)
    for (const auto& u : tr.unranked) why[u.trial.id][size_t(tr.track - 1)] = u.reason, by_id[u.trial.id] = &u.trial;
  if (!why.empty()) {
    std::map<int64_t, std::array<int, 3>> ranks;
    for (const auto& tr : tracks.tracks)
      for (size_t i = 0; i < tr.ranked.size(); ++i) ranks[tr.ranked[i].id][size_t(tr.track - 1)] = int(i + 1);
    add(fmt::format("<h3 id=\"unranked\">Unranked trials ({}) and the rule each breaks</h3>\n<table>\n<thead><tr>"
                    "<th>trial</th><th>#</th><th>Track 1</th><th>Track 2</th><th>Track 3</th></tr></thead>\n<tbody>\n",
                    why.size()));
    for (const auto& [id, reasons] : why) {
      add(fmt::format("<tr><td class=\"n\">{}</td><td class=\"n\">{}</td>", id, by_id[id]->number));
      for (size_t k = 0; k < 3; ++k)
        add(reasons[k].empty() ? fmt::format("<td class=\"muted\">rank {}</td>", ranks[id][k])
                               : fmt::format("<td>{}</td>", html_escape(reasons[k])));
      add("</tr>\n");
    }
    add("</tbody>\n</table>\n");
  }
  add("</section>\n");

  // Retrains, compared at matched settings.
  const std::vector<RetrainGroup> groups = retrain_groups(trials);
  add("<section id=\"retrains\">\n<h2>Retrains</h2>\n<p>Genomes trained again by <code>srnas retrain</code> at "
      "another budget, compared only with retrains of the baseline made with the same settings (but the seed): "
      "mean PSNR-RGB over the seeds &plusmn; its sample standard deviation, the difference from the baseline's mean "
      "&plusmn; its standard error (two seeds or more in both), and the tracks' rules on the means.</p>\n");
  if (groups.empty()) add("<p class=\"muted\">No COMPLETE retrain.</p>\n");
  for (const RetrainGroup& g : groups) {
    std::map<int64_t, std::string> won = winner_labels(g.tracks);  // search trial id -> "T1, T3"
    add(fmt::format("<h3>Group {}: {}</h3>\n", g.number, html_escape(g.label)));
    if (!g.baseline)
      add("<p class=\"note\">No retrain of the baseline with these settings: nothing is ranked (retrain the "
          "baseline, trial number 0, with the same options).</p>\n");
    else if (tracks.bicubic_psnr_rgb && g.baseline->psnr_rgb_mean < *tracks.bicubic_psnr_rgb)
      add(fmt::format("<p class=\"note\">Warning: the baseline's retrains ({:.3f} dB) are below bicubic's {:.3f} dB: "
                      "too short a budget for &ldquo;PSNR &ge; baseline&rdquo; to mean more than interpolation.</p>\n",
                      g.baseline->psnr_rgb_mean, *tracks.bicubic_psnr_rgb));
    add("<table>\n<thead><tr><th>retrained trial</th><th>#</th><th>seeds</th><th>params</th><th>runtime ratio</th>"
        "<th>PSNR-RGB (dB)</th><th>vs baseline (dB)</th><th>note</th></tr></thead>\n<tbody>\n");
    for (const RetrainArm* a : g.every_arm()) {
      const std::string delta =
          !a->delta_db ? "-"
          : a->delta_se_db ? fmt::format("{:+.3f} &plusmn; {:.3f}", *a->delta_db, *a->delta_se_db)
                           : fmt::format("{:+.3f}", *a->delta_db);
      add(fmt::format("<tr{}><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}"
                      "</td><td class=\"n\">{:.3f}</td><td class=\"n\">{:.3f} &plusmn; {:.3f}</td><td class=\"n\">{}"
                      "</td><td>{}</td></tr>\n",
                      a->parent.is_baseline ? " class=\"baseline\"" : "", a->parent.id, a->parent.number,
                      a->runs.size(), digits(a->params), a->runtime_ratio_mean, a->psnr_rgb_mean, a->psnr_rgb_sd, delta,
                      a->parent.is_baseline ? "baseline" : won.count(a->parent.id) ? "winner " + won[a->parent.id] : ""));
    }
    add("</tbody>\n</table>\n");
  }
  add("</section>\n");

  // Fidelity of the short budgets.
  const std::vector<FidelityRow> fid = fidelity(trials);
  add("<section id=\"fidelity\">\n<h2>Fidelity of short budgets</h2>\n<p>Do short training budgets rank the "
      "candidates as longer ones do? PSNR-RGB rank correlation of the trials measured at both budgets (near 1: "
      "faithful; near 0: raise <code>asha.min_budget</code>). Only promoted trials reach the next rung, so these "
      "understate how well the short budget ranks the whole field.</p>\n");
  if (fid.empty()) {
    add("<p class=\"muted\">No trial was measured at two budgets.</p>\n");
  } else {
    add("<table>\n<thead><tr><th>from</th><th>to</th><th>pairs</th><th>Spearman &rho;</th><th>Kendall &tau;-b</th>"
        "<th>mean gain (dB)</th></tr></thead>\n<tbody>\n");
    auto corr = [](const std::optional<double>& v) { return v ? fmt::format("{:+.3f}", *v) : std::string("-"); };
    for (const auto& r : fid)
      add(fmt::format("<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}"
                      "</td><td class=\"n\">{:+.3f}</td></tr>\n",
                      html_escape(r.from), html_escape(r.to), r.pairs, corr(r.rho), corr(r.tau), r.mean_gain_db));
    add("</tbody>\n</table>\n");
  }
  add("</section>\n");

  // Which genes explain the PSNR.
  add("<section id=\"importance\">\n<h2>Which genes matter</h2>\n<p>The share of the candidates' PSNR-RGB variance "
      "(at the first budget) that each gene's value explains: &eta;&sup2; of a one-way analysis of variance, and "
      "&epsilon;&sup2;, which corrects &eta;&sup2;'s upward bias in few trials (<code>srnas importance</code>; also "
      "for params, MACs, runtime).</p>\n");
  try {
    const auto space = Space::load(study.space);
    const ImportanceReport imp = gene_importance(*space, trials, ImportanceObjective::Psnr, study_sampler_type(study));
    auto share = [](const std::optional<double>& v) { return v ? fmt::format("{:.3f}", *v) : std::string("-"); };
    add("<table>\n<thead><tr><th>gene</th><th>candidates</th><th>&eta;&sup2;</th><th>&epsilon;&sup2;</th>"
        "<th>mean PSNR-RGB per value (n)</th></tr></thead>\n<tbody>\n");
    for (const GeneImportance& g : imp.genes) {
      if (g.levels.size() < 2) continue;
      std::string levels;
      for (const GeneLevel& l : g.levels)
        levels += fmt::format("{}{}: {:.2f} ({})", levels.empty() ? "" : ", ", l.label, l.mean, l.n);
      add(fmt::format("<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>"
                      "<td>{}</td></tr>\n",
                      html_escape(g.gene), g.n, share(g.eta2), share(g.eps2), html_escape(levels)));
    }
    add("</tbody>\n</table>\n");
    if (!imp.pairs.empty()) {
      add("<p>Pairs whose combination explains PSNR beyond both genes' own effects (two-way interaction; the "
          "five largest by &epsilon;&sup2;):</p>\n<table>\n<thead><tr><th>genes</th><th>candidates</th><th>cells</th>"
          "<th>&eta;&sup2;</th><th>&epsilon;&sup2;</th></tr></thead>\n<tbody>\n");
      for (size_t i = 0; i < imp.pairs.size() && i < 5; ++i) {
        const PairInteraction& p = imp.pairs[i];
        add(fmt::format("<tr><td>{} &times; {}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>"
                        "<td class=\"n\">{:.3f}</td><td class=\"n\">{:.3f}</td></tr>\n",
                        html_escape(p.a), html_escape(p.b), p.n, p.cells, p.eta2, p.eps2));
      }
      add("</tbody>\n</table>\n");
    }
    for (const std::string& n : imp.notes) add(fmt::format("<p class=\"muted\">{}</p>\n", html_escape(n)));
  } catch (const Error& e) {
    add(fmt::format("<p class=\"muted\">Space {} cannot be loaded: {}</p>\n", html_escape(study.space),
                    html_escape(e.what())));
  }
  add("</section>\n");

  // Failures and prunes.
  std::vector<const TrialRecord*> bad;
  for (const auto& t : trials)
    if (t.state == TrialState::Pruned || t.state == TrialState::Failed) bad.push_back(&t);
  add(fmt::format("<section id=\"failures\">\n<h2>Pruned and failed trials</h2>\n<p>{} trial{}.</p>\n", bad.size(),
                  bad.size() == 1 ? "" : "s"));
  if (!bad.empty()) {
    add("<table>\n<thead><tr><th>trial</th><th>#</th><th>state</th><th>rung</th><th>budget</th><th>params</th>"
        "<th>PSNR-RGB (dB)</th><th>reason</th></tr></thead>\n<tbody>\n");
    for (const TrialRecord* t : bad)
      add(fmt::format("<tr><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td>"
                      "<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>\n",
                      t->id, t->number, to_string(t->state), t->rung, digits(t->budget), i64(t->params),
                      f3(t->psnr_rgb), html_escape(t->reason.empty() ? "-" : t->reason)));
    add("</tbody>\n</table>\n");
  }
  add("</section>\n</main>\n</body>\n</html>\n");

  const fs::path out = dir / "report.html";
  std::ofstream f(out, std::ios::binary);
  f << h;
  f.close();
  if (!f) throw Error(fmt::format("{}: cannot write: {}", out.string(), std::strerror(errno)));
  return out.string();
}

}  // namespace srnas
