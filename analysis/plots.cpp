#include "analysis/plots.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "analysis/tracks.h"
#include "search_space/error.h"

namespace srnas {

namespace fs = std::filesystem;

namespace {

const char* kNotFound = "gnuplot not found: install gnuplot-nox (scripts/setup.sh does)";

// Colours and styles shared by the three plots.
const char* kStyles = R"gp(set style line 1 lc rgb '#4C72B0' pt 7 ps 0.9
set style line 2 lc rgb '#DD8452' lw 2.5 pt 7 ps 1.1
set style line 3 lc rgb '#000000' pt 5 ps 1.8
set style line 4 lc rgb '#C44E52' pt 6 ps 2.2 lw 2
set style line 5 lc rgb '#8C8C8C' pt 2 ps 0.8
set style line 6 lc rgb '#C44E52' pt 1 ps 0.9
set style line 7 lc rgb '#55A868' lw 2.5
set style line 8 lc rgb '#000000' lw 1.5 dt 2
set style line 9 lc rgb '#8172B3' lw 1.5 dt 3
set grid lc rgb '#DDDDDD' lw 1
set border lc rgb '#444444'
set key below horizontal
set style textbox opaque noborder margins 1,1
)gp";

bool has_metrics(const TrialRecord& t) {
  return t.state == TrialState::Complete && t.psnr_rgb && t.params && t.runtime_ratio && std::isfinite(*t.psnr_rgb) &&
         std::isfinite(*t.runtime_ratio);
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream f(p, std::ios::binary);
  f << text;
  f.close();
  if (!f) throw Error(fmt::format("{}: cannot write: {}", p.string(), std::strerror(errno)));
}

// The terminal part of a script: PNG, then the same plot as SVG.
std::string outputs(const std::string& name, const std::string& plot) {
  return fmt::format(
      "set terminal pngcairo size 900,600 noenhanced font 'DejaVu Sans,11'\n"
      "set output '{0}.png'\n{1}\nset output\n"
      "set terminal svg size 900,600 noenhanced font 'DejaVu Sans,14' background '#FFFFFF'\n"
      "set output '{0}.svg'\n{1}\nset output\n",
      name, plot);
}

// Axis range [lo, hi] padded by a fraction of the span (at least min_pad).
std::pair<double, double> padded(double lo, double hi, double frac, double min_pad) {
  double pad = std::max((hi - lo) * frac, min_pad);
  return {lo - pad, hi + pad};
}

// Explicit tics on a log axis between lo and hi (1-2-3-...-9 over a decade or less, 1-2-5
// over up to three decades, powers of ten beyond), labelled like "20k" or "1.5M".
std::string log_tics(double lo, double hi) {
  const double span = hi / lo;
  const std::vector<double> mant = span <= 12 ? std::vector<double>{1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9}
                                   : span <= 1200 ? std::vector<double>{1, 2, 5}
                                                  : std::vector<double>{1};
  auto label = [](double v) {
    if (v >= 1e6) return fmt::format("{:g}M", v / 1e6);
    if (v >= 1e3) return fmt::format("{:g}k", v / 1e3);
    return fmt::format("{:g}", v);
  };
  std::string out;
  for (double dec = std::pow(10.0, std::floor(std::log10(lo))); dec <= hi; dec *= 10)
    for (double m : mant) {
      double v = m * dec;
      if (v >= lo && v <= hi) out += fmt::format("{}'{}' {:g}", out.empty() ? "" : ", ", label(v), v);
    }
  return out.empty() ? "" : "set xtics (" + out + ")\n";
}

struct Winners {
  std::map<int64_t, std::string> labels;  // trial id -> "T1" or "T1,T3"
};

Winners winners_of(const std::vector<TrialRecord>& trials) {
  Winners w;
  TracksReport r = rank_tracks(trials);
  for (const auto& t : r.tracks) {
    if (t.ranked.empty()) continue;
    std::string& l = w.labels[t.ranked.front().id];
    l += (l.empty() ? "T" : ",T") + std::to_string(t.track);
  }
  return w;
}

// Scatter of PSNR-RGB against params (log x) or runtime ratio: COMPLETE candidates, the
// Pareto front on (psnr, x) as a line, the baseline, the track winners labelled.
void scatter(const std::vector<TrialRecord>& trials, const std::string& title, const fs::path& dir, bool params_axis) {
  const std::string name = params_axis ? "psnr_params" : "psnr_runtime";
  auto xval = [&](const TrialRecord& t) { return params_axis ? double(*t.params) : *t.runtime_ratio; };
  std::vector<TrialRecord> pts, all;
  std::optional<TrialRecord> base;
  for (const auto& t : trials) {
    if (!has_metrics(t)) continue;
    all.push_back(t);
    if (t.is_baseline) base = t;
    else pts.push_back(t);
  }
  const std::string head = "# id number params psnr_rgb runtime_ratio\n";
  auto row = [](const TrialRecord& t) {
    return fmt::format("{} {} {} {} {}\n", t.id, t.number, *t.params, *t.psnr_rgb, *t.runtime_ratio);
  };
  auto xcol = params_axis ? "3" : "5";

  std::string trials_dat = head, base_dat = head, front_dat = head, win_dat = "# label" + head.substr(1);
  for (const auto& t : pts) trials_dat += row(t);
  if (base) base_dat += row(*base);
  std::vector<TrialRecord> front =
      pareto_trials(all, {Objective::PSNR, params_axis ? Objective::Params : Objective::Runtime});
  std::sort(front.begin(), front.end(), [&](const TrialRecord& a, const TrialRecord& b) {
    return xval(a) != xval(b) ? xval(a) < xval(b) : *a.psnr_rgb < *b.psnr_rgb;
  });
  for (const auto& t : front) front_dat += row(t);
  Winners w = winners_of(trials);
  int n_win = 0;
  for (const auto& t : pts)
    if (w.labels.count(t.id)) win_dat += w.labels[t.id] + " " + row(t), ++n_win;
  write_file(dir / (name + "_trials.dat"), trials_dat);
  write_file(dir / (name + "_baseline.dat"), base_dat);
  write_file(dir / (name + "_pareto.dat"), front_dat);
  write_file(dir / (name + "_winners.dat"), win_dat);

  std::string gp = kStyles;
  gp += fmt::format("set title {}\n",
                    gnuplot_quote(fmt::format("{}: {} vs PSNR-RGB ({} COMPLETE candidate{})", title,
                                              params_axis ? "params" : "runtime ratio", pts.size(),
                                              pts.size() == 1 ? "" : "s")));
  gp += fmt::format("set xlabel '{}'\nset ylabel 'PSNR-RGB (dB)'\n",
                    params_axis ? "parameters (log scale)" : "runtime ratio (to MSRResNet)");
  if (all.empty()) {
    gp += params_axis ? "set logscale x\nset xrange [1000:1000000]\n" : "set xrange [0:2]\n";
    gp += "set yrange [20:30]\nset label 1 'no COMPLETE trial yet: nothing to plot' at graph 0.5,0.5 center\n";
    gp += outputs(name, "plot NaN notitle");
    write_file(dir / (name + ".gp"), gp);
    return;
  }
  double xlo = 1e300, xhi = -1e300, ylo = 1e300, yhi = -1e300;
  for (const auto& t : all) {
    xlo = std::min(xlo, xval(t)), xhi = std::max(xhi, xval(t));
    ylo = std::min(ylo, *t.psnr_rgb), yhi = std::max(yhi, *t.psnr_rgb);
  }
  auto [y0, y1] = padded(ylo, yhi, 0.08, 0.1);
  if (params_axis) {
    double x0 = std::max(1.0, xlo / 1.3), x1 = std::max(xhi * 1.3, x0 * 2);
    gp += fmt::format("set logscale x\nset xrange [{:g}:{:g}]\n", x0, x1) + log_tics(x0, x1);
  } else {
    auto [x0, x1] = padded(xlo, xhi, 0.08, 0.02);
    gp += fmt::format("set xrange [{:g}:{:g}]\n", std::max(0.0, x0), x1);
  }
  gp += fmt::format("set yrange [{:g}:{:g}]\n", y0, y1);
  if (pts.size() <= 1)
    gp += fmt::format("set label 1 '{}' at graph 0.5,0.92 center tc rgb '#666666'\n",
                      pts.empty() ? "no COMPLETE candidate yet (baseline only)" : "a single COMPLETE candidate");
  std::vector<std::string> series;
  if (!pts.empty())
    series.push_back(fmt::format("'{}_trials.dat' using {}:4 with points ls 1 title 'COMPLETE trials'", name, xcol));
  series.push_back(fmt::format("'{}_pareto.dat' using {}:4 with linespoints ls 2 title 'Pareto front (PSNR, {})'",
                               name, xcol, params_axis ? "params" : "runtime"));
  if (base) series.push_back(fmt::format("'{}_baseline.dat' using {}:4 with points ls 3 title 'baseline'", name, xcol));
  if (n_win) {
    int c = params_axis ? 4 : 6;
    series.push_back(fmt::format("'{}_winners.dat' using {}:5 with points ls 4 title 'track winners'", name, c));
    series.push_back(fmt::format(
        "'{}_winners.dat' using {}:5:1 with labels boxed offset char 1.5,1.0 left tc rgb '#C44E52' notitle",
        name, c));
  }
  std::string plot = "plot ";
  for (size_t i = 0; i < series.size(); ++i) plot += (i ? ", \\\n     " : "") + series[i];
  gp += outputs(name, plot);
  write_file(dir / (name + ".gp"), gp);
}

// PSNR-RGB against the trial number: COMPLETE candidates, PRUNED and FAILED as small marks
// at the bottom, the running best as steps, the baseline and the bicubic floor as horizontal lines.
void progress(const std::vector<TrialRecord>& trials, const std::string& title, std::optional<double> bicubic,
              const fs::path& dir) {
  const std::string name = "progress";
  std::string done = "# number id psnr_rgb\n", best = "# number best_psnr_rgb\n", pruned = "# number id\n",
              failed = "# number id\n";
  std::optional<double> base, run_best, ylo, yhi;
  int64_t last = 0;
  int n_done = 0, n_pruned = 0, n_failed = 0;
  auto extend = [&](double v) {
    ylo = ylo ? std::min(*ylo, v) : v;
    yhi = yhi ? std::max(*yhi, v) : v;
  };
  for (const auto& t : trials) {
    if (t.is_baseline) {
      if (has_metrics(t)) base = *t.psnr_rgb, extend(*t.psnr_rgb);
      continue;
    }
    last = std::max(last, t.number);
    if (t.state == TrialState::Complete && t.psnr_rgb && std::isfinite(*t.psnr_rgb)) {
      done += fmt::format("{} {} {}\n", t.number, t.id, *t.psnr_rgb);
      run_best = run_best ? std::max(*run_best, *t.psnr_rgb) : *t.psnr_rgb;
      best += fmt::format("{} {}\n", t.number, *run_best);
      extend(*t.psnr_rgb);
      ++n_done;
    } else if (t.state == TrialState::Pruned) {
      pruned += fmt::format("{} {}\n", t.number, t.id), ++n_pruned;
    } else if (t.state == TrialState::Failed) {
      failed += fmt::format("{} {}\n", t.number, t.id), ++n_failed;
    }
  }
  if (run_best) best += fmt::format("{} {}\n", last, *run_best);  // carry the step to the end
  const double floor = bicubic && std::isfinite(*bicubic) ? *bicubic : NAN;
  if (std::isfinite(floor)) extend(floor);
  write_file(dir / "progress_complete.dat", done);
  write_file(dir / "progress_best.dat", best);
  write_file(dir / "progress_pruned.dat", pruned);
  write_file(dir / "progress_failed.dat", failed);

  std::string gp = kStyles;
  gp += fmt::format("set title {}\n", gnuplot_quote(fmt::format("{}: PSNR-RGB over the search ({} COMPLETE, {} PRUNED, "
                                                                "{} FAILED)", title, n_done, n_pruned, n_failed)));
  gp += "set xlabel 'trial number'\nset ylabel 'PSNR-RGB (dB)'\n";
  double y0 = 20, y1 = 30;
  if (ylo) std::tie(y0, y1) = padded(*ylo, *yhi, 0.1, 0.1);
  const double bottom = y0 + (y1 - y0) * 0.025;
  gp += fmt::format("set xrange [-0.5:{}]\nset yrange [{:g}:{:g}]\n", double(std::max<int64_t>(last, 1)) + 0.5, y0, y1);
  if (last <= 10) gp += "set xtics 1\n";
  if (n_done <= 1)
    gp += fmt::format("set label 1 '{}' at graph 0.5,0.5 center tc rgb '#666666'\n",
                      n_done == 0 ? "no COMPLETE candidate yet" : "a single COMPLETE candidate");
  std::vector<std::string> series;
  if (n_done) {
    series.push_back("'progress_complete.dat' using 1:3 with points ls 1 title 'COMPLETE'");
    series.push_back("'progress_best.dat' using 1:2 with steps ls 7 title 'best so far'");
  }
  if (n_pruned) series.push_back(fmt::format("'progress_pruned.dat' using 1:({:g}) with points ls 5 title 'PRUNED'", bottom));
  if (n_failed) series.push_back(fmt::format("'progress_failed.dat' using 1:({:g}) with points ls 6 title 'FAILED'", bottom));
  if (base) series.push_back(fmt::format("{} with lines ls 8 title 'baseline {:.3f} dB'", *base, *base));
  if (std::isfinite(floor)) series.push_back(fmt::format("{} with lines ls 9 title 'bicubic {:.3f} dB'", floor, floor));
  if (series.empty()) series.push_back("NaN notitle");
  std::string plot = "plot ";
  for (size_t i = 0; i < series.size(); ++i) plot += (i ? ", \\\n     " : "") + series[i];
  gp += outputs(name, plot);
  write_file(dir / (name + ".gp"), gp);
}

}  // namespace

std::string gnuplot_quote(const std::string& text) {
  std::string o = "'";
  for (char c : text) {
    if (c == '\'') o += "''";
    else if (c != '\n' && c != '\r') o += c;
  }
  return o + "'";
}

std::string find_gnuplot() {
  const char* path = std::getenv("PATH");
  std::stringstream ss(path ? path : "");
  std::string d;
  while (std::getline(ss, d, ':')) {
    if (d.empty()) continue;
    fs::path p = fs::path(d) / "gnuplot";
    std::error_code ec;
    if (fs::is_regular_file(p, ec) && access(p.c_str(), X_OK) == 0) return p.string();
  }
  return "";
}

std::string run_gnuplot(const std::string& dir, const std::string& script) {
  const std::string exe = find_gnuplot();
  if (exe.empty()) throw Error(kNotFound);
  const std::string where = (fs::path(dir) / script).string();
  int pipefd[2];
  if (pipe(pipefd) != 0) throw Error(fmt::format("{}: gnuplot: pipe: {}", where, std::strerror(errno)));
  std::vector<char*> argv = {const_cast<char*>(exe.c_str()), const_cast<char*>(script.c_str()), nullptr};
  pid_t pid = fork();
  if (pid < 0) {
    close(pipefd[0]), close(pipefd[1]);
    throw Error(fmt::format("{}: gnuplot: fork: {}", where, std::strerror(errno)));
  }
  if (pid == 0) {  // child: only async-signal-safe calls
    close(pipefd[0]);
    dup2(pipefd[1], STDOUT_FILENO);
    dup2(pipefd[1], STDERR_FILENO);
    close(pipefd[1]);
    if (chdir(dir.c_str()) != 0) _exit(126);
    execv(exe.c_str(), argv.data());
    _exit(127);
  }
  close(pipefd[1]);
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = read(pipefd[0], buf, sizeof buf);
    if (n > 0) out.append(buf, size_t(n));
    else if (n == 0 || errno != EINTR) break;
  }
  close(pipefd[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    // gnuplot echoes the failing line then "file, line N: message": report the message line.
    std::string msg, line;
    std::stringstream ss(out);
    while (std::getline(ss, line))
      if (line.find("line ") != std::string::npos && line.find(':') != std::string::npos) msg = line;
    if (msg.empty()) {
      std::stringstream s2(out);
      while (std::getline(s2, line))
        if (!line.empty()) msg = line;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) msg = "cannot execute " + exe;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 126) msg = "cannot enter the folder";
    if (msg.empty()) msg = WIFEXITED(status) ? fmt::format("exit status {}", WEXITSTATUS(status)) : "killed by a signal";
    throw Error(fmt::format("{}: gnuplot failed: {}", where, msg));
  }
  return out;
}

std::vector<std::string> write_plots(const std::vector<TrialRecord>& trials, const std::string& title,
                                     const std::string& out_dir, std::optional<double> bicubic_psnr_rgb) {
  if (find_gnuplot().empty()) throw Error(kNotFound);
  const fs::path dir(out_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(fmt::format("{}: cannot create the folder: {}", out_dir, ec.message()));
  const std::vector<TrialRecord> search = search_trials(trials);  // retrains ran at other budgets
  scatter(search, title, dir, true);
  scatter(search, title, dir, false);
  progress(search, title, bicubic_psnr_rgb, dir);
  std::vector<std::string> paths;
  for (const char* name : {"psnr_params", "psnr_runtime", "progress"}) {
    run_gnuplot(out_dir, std::string(name) + ".gp");
    paths.push_back((dir / (std::string(name) + ".png")).string());
    paths.push_back((dir / (std::string(name) + ".svg")).string());
  }
  return paths;
}

std::vector<std::string> write_plots(const ResultsDB& db, const StudyRecord& study, const std::string& out_dir) {
  const std::vector<TrialRecord> trials = db.trials(study.id);
  return write_plots(trials, "study " + study.name, out_dir, study_tracks(db, trials).bicubic_psnr_rgb);
}

}  // namespace srnas
