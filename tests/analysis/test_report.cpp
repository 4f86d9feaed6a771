// Plots, the HTML report and the replay benchmark over a real SQLite results DB holding a
// made-up study (baseline + 30 trials: COMPLETE, PRUNED by constraint and by successive
// halving, FAILED). Plot and report tests are skipped when gnuplot is not installed.
// SRNAS_TEST_REPORT_DIR=DIR keeps the full study's report in DIR (scripts/report_screenshot.sh).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "analysis/plots.h"
#include "analysis/replay.h"
#include "analysis/report.h"
#include "analysis/tracks.h"
#include "results_db/results_db.h"
#include "sampler/pareto.h"
#include "search_space/accounting.h"
#include "search_space/error.h"
#include "search_space/genome.h"
#include "search_space/rng.h"
#include "search_space/space.h"
#include "../support/cli_runner.h"
#include "../support/scratch.h"

namespace srnas {
namespace {

namespace fs = std::filesystem;

// A fresh folder in the test's scratch folder (removed with it).
class TempDir {
 public:
  TempDir() {
    static int n = 0;
    path_ = srnas::testing::scratch_dir("report_" + std::to_string(++n));
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

// Distinct genomes of unified_small drawn with a fixed seed.
std::vector<Genome> genomes(size_t n, uint64_t seed) {
  auto space = Space::load("unified_small");
  Rng rng(seed);
  std::vector<Genome> out;
  std::set<std::string> seen;
  while (out.size() < n) {
    Genome g = space->sample(rng);
    if (seen.insert(genome_hash(g)).second) out.push_back(g);
  }
  return out;
}

TrialRecord record(int64_t study, const Genome& g, TrialState s) {
  TrialRecord t;
  t.study_id = study;
  t.genome_json = canonical_json(g);
  t.genome_hash = genome_hash(g);
  t.state = s;
  t.budget = s == TrialState::Complete ? 200 : 0;
  return t;
}

StudyRecord new_study(ResultsDB& db, const std::string& name) {
  StudyRecord s;
  s.name = name;
  s.space = "unified_small";
  s.seed = 7;
  s.device = "cpu";
  s.config_yaml = "study: " + name + "\nspace: unified_small\nsampler: {type: nsga2, population: 8}\n"
                  "trials: 30\ndescription: \"<b>made-up</b> metrics & co\"\n";
  s.id = db.create_study(s);
  return *db.find_study(name);
}

TrialRecord baseline(int64_t study, const Genome& g) {
  TrialRecord b = record(study, g, TrialState::Complete);
  b.is_baseline = true;
  b.params = 40000;
  b.macs = 9'000'000'000;
  b.psnr_rgb = 25.5;
  b.psnr_y = 26.9;
  b.runtime_s = 0.02;
  b.runtime_ratio = 1.0;
  return b;
}

// The full made-up study: baseline + 30 trials (22 COMPLETE, 3 PRUNED by constraint,
// 1 PRUNED by successive halving, 3 FAILED, 1 still PENDING).
StudyRecord full_study(ResultsDB& db) {
  StudyRecord st = new_study(db, "made-up");
  auto gs = genomes(31, 11);
  db.add_trial(baseline(st.id, gs[0]));
  Rng rng(5);
  for (int i = 1; i <= 30; ++i) {
    TrialRecord t = record(st.id, gs[size_t(i)], TrialState::Complete);
    t.params = 6000 + int64_t(rng.below(50000));
    t.macs = *t.params * 180000;
    t.runtime_ratio = 0.15 + 1.2 * rng.uniform();
    t.runtime_s = *t.runtime_ratio * 0.02;
    const double psnr = 24.2 + 1.2 * std::log10(double(*t.params) / 6000.0) + 0.5 * rng.uniform();
    if (i % 10 == 3) {
      t.state = TrialState::Pruned;
      t.budget = 0;
      t.params = 41000 + i * 1000;
      t.reason = fmt::format("constraint: params {} > baseline 40000 (before training)", *t.params);
    } else if (i % 10 == 7) {
      t.state = TrialState::Failed;
      t.budget = 50;
      t.reason = i == 17 ? "diverged: <script>alert('x')</script> & loss is NaN" : "diverged: loss is NaN at iteration 50";
    } else if (i == 15) {
      t.state = TrialState::Pruned;
      t.psnr_rgb = psnr - 0.8;
      t.rung_psnr[0] = psnr - 0.8;
      t.budget = 50;
      t.reason = "successive halving: rung 0 PSNR 24.10 dB below the top 1/3 (needs >= 24.50 dB of 3)";
    } else if (i == 12 || i == 22) {  // winners: T1 (few params), T2 and T3 (fast and good)
      t.params = i == 12 ? 21000 : 33000;
      t.macs = *t.params * 180000;
      t.runtime_ratio = i == 12 ? 0.62 : 0.31;
      t.psnr_rgb = i == 12 ? 25.56 : 25.71;
      t.psnr_y = *t.psnr_rgb + 1.4;
    } else if (i == 30) {
      t.state = TrialState::Pending;
      t.params.reset(), t.macs.reset(), t.runtime_ratio.reset(), t.runtime_s.reset();
    } else {
      t.psnr_rgb = psnr;
      t.psnr_y = psnr + 1.4;
    }
    db.add_trial(t);
  }
  return st;
}

// A tiny study: baseline + three COMPLETE genomes with the given (psnr, params, ratio).
StudyRecord tiny_study(ResultsDB& db, const std::string& name, const std::vector<std::tuple<double, int64_t, double>>& m) {
  StudyRecord st = new_study(db, name);
  auto gs = genomes(m.size() + 1, 3);
  db.add_trial(baseline(st.id, gs[0]));
  for (size_t i = 0; i < m.size(); ++i) {
    TrialRecord t = record(st.id, gs[i + 1], TrialState::Complete);
    t.psnr_rgb = std::get<0>(m[i]);
    t.params = std::get<1>(m[i]);
    t.runtime_ratio = std::get<2>(m[i]);
    db.add_trial(t);
  }
  return st;
}

bool is_png(const std::string& path) {
  std::string head = slurp(path).substr(0, 8);
  return head == std::string("\x89PNG\r\n\x1a\n", 8);
}

#define NEED_GNUPLOT() \
  if (find_gnuplot().empty()) GTEST_SKIP() << "gnuplot not installed (scripts/setup.sh installs gnuplot-nox)"

class ReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_path = (dir.path() / "study.db").string();
    auto rw = ResultsDB::open(db_path);
    full = full_study(*rw);
    rw.reset();
    db = ResultsDB::open(db_path, ResultsDB::Mode::ReadOnly);
  }
  TempDir dir;
  std::string db_path;
  StudyRecord full;
  std::unique_ptr<ResultsDB> db;
};

TEST_F(ReportTest, PlotsArePngAndSvgWithTheirData) {
  NEED_GNUPLOT();
  const fs::path out = dir.path() / "plots";
  auto paths = write_plots(*db, full, out.string());
  ASSERT_EQ(paths.size(), 6u);
  for (const char* name : {"psnr_params", "psnr_runtime", "progress"}) {
    const std::string png = (out / (std::string(name) + ".png")).string(), svg = (out / (std::string(name) + ".svg")).string();
    EXPECT_NE(std::find(paths.begin(), paths.end(), png), paths.end()) << name;
    EXPECT_TRUE(is_png(png)) << png;
    EXPECT_NE(slurp(svg).find("<svg"), std::string::npos) << svg;
    EXPECT_TRUE(fs::exists(out / (std::string(name) + ".gp"))) << name;
  }
  // The data next to the plots: 22 COMPLETE candidates, the baseline, the winners labelled.
  std::string trials = slurp(out / "psnr_params_trials.dat");
  EXPECT_EQ(std::count(trials.begin(), trials.end(), '\n'), 1 + 22);
  EXPECT_EQ(count(slurp(out / "psnr_params_baseline.dat"), "\n"), 2u);
  std::string winners = slurp(out / "psnr_params_winners.dat");
  EXPECT_NE(winners.find("T1"), std::string::npos);
  EXPECT_NE(winners.find("T2,T3"), std::string::npos);
  EXPECT_EQ(count(slurp(out / "progress_pruned.dat"), "\n"), 1u + 4);
  EXPECT_EQ(count(slurp(out / "progress_failed.dat"), "\n"), 1u + 3);
  // Replotting from the folder works (the scripts use relative paths).
  fs::remove(out / "progress.png");
  run_gnuplot(out.string(), "progress.gp");
  EXPECT_TRUE(is_png((out / "progress.png").string()));
}

TEST_F(ReportTest, PlotsOfStudiesWithNoneOrOneCompleteTrial) {
  NEED_GNUPLOT();
  const std::string p2 = (dir.path() / "small.db").string();
  auto rw = ResultsDB::open(p2);
  StudyRecord none = new_study(*rw, "none");  // nothing at all, not even a baseline
  StudyRecord base_only = new_study(*rw, "baseline-only");
  auto gs = genomes(4, 1);
  rw->add_trial(baseline(base_only.id, gs[0]));
  TrialRecord f = record(base_only.id, gs[1], TrialState::Failed);
  f.reason = "diverged";
  rw->add_trial(f);
  StudyRecord one = new_study(*rw, "one");
  rw->add_trial(baseline(one.id, gs[0]));
  TrialRecord c = record(one.id, gs[2], TrialState::Complete);
  c.params = 12345, c.psnr_rgb = 25.9, c.runtime_ratio = 0.4;
  rw->add_trial(c);
  for (const auto& st : {none, base_only, one}) {
    const fs::path out = dir.path() / st.name;
    std::vector<std::string> paths;
    ASSERT_NO_THROW(paths = write_plots(*rw, st, out.string())) << st.name;
    ASSERT_EQ(paths.size(), 6u);
    for (const auto& p : paths) {
      if (p.size() > 4 && p.substr(p.size() - 4) == ".png") {
        EXPECT_TRUE(is_png(p)) << p;
      } else {
        EXPECT_NE(slurp(p).find("<svg"), std::string::npos) << p;
      }
    }
    // The note is drawn (gnuplot writes label text into the SVG).
    std::string svg = slurp(out / "psnr_params.svg");
    if (st.name != "one") {
      EXPECT_NE(svg.find("no COMPLETE"), std::string::npos) << st.name;
    } else {
      EXPECT_NE(svg.find("a single COMPLETE candidate"), std::string::npos);
    }
    EXPECT_NO_THROW(write_report(*rw, st, out.string())) << st.name;
  }
}

TEST(Plots, GnuplotMissingIsOneLineError) {
  const char* old = std::getenv("PATH");
  const std::string saved = old ? old : "";
  TempDir d;
  setenv("PATH", d.path().c_str(), 1);
  EXPECT_EQ(find_gnuplot(), "");
  try {
    write_plots(std::vector<TrialRecord>{}, "x", (d.path() / "out").string());
    ADD_FAILURE() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "gnuplot not found: install gnuplot-nox (scripts/setup.sh does)");
  }
  // The report is still written, saying why it has no plots.
  {
    auto db = ResultsDB::open((d.path() / "x.db").string());
    StudyRecord st = new_study(*db, "x");
    std::string html = slurp(write_report(*db, st, (d.path() / "r").string()));
    EXPECT_NE(html.find("No plots: gnuplot not found"), std::string::npos);
    EXPECT_EQ(html.find("data:image"), std::string::npos);
  }
  setenv("PATH", saved.c_str(), 1);
}

// The bicubic floor the search records as the baseline's metrics: study_tracks reads it,
// the report shows it, and warns when the baseline is below it.
TEST(Report, BicubicFloorAndItsWarning) {
  TempDir d;
  auto db = ResultsDB::open((d.path() / "f.db").string());
  StudyRecord st = tiny_study(*db, "floor", {{25.6, 20000, 0.5}});
  const int64_t base = db->trials(st.id).front().id;
  std::string html = slurp(write_report(*db, st, (d.path() / "none").string()));
  EXPECT_EQ(html.find("Bicubic interpolation"), std::string::npos) << "nothing recorded, nothing shown";
  EXPECT_FALSE(study_tracks(*db, st.id).bicubic_psnr_rgb);

  db->add_metric(base, 0, kBicubicPsnrRgb, 25.75);
  db->add_metric(base, 0, kBicubicPsnrY, 27.125);
  const TracksReport r = study_tracks(*db, st.id);
  EXPECT_EQ(r.bicubic_psnr_rgb, 25.75);
  EXPECT_EQ(r.bicubic_psnr_y, 27.125);
  EXPECT_NE(r.floor_warning.find("the baseline's PSNR-RGB 25.500 dB is below bicubic's 25.750 dB"), std::string::npos)
      << r.floor_warning;
  html = slurp(write_report(*db, st, (d.path() / "floor").string()));
  EXPECT_NE(html.find("Bicubic interpolation (no network) on the same validation images: PSNR-RGB 25.750 dB, "
                      "PSNR-Y 27.125 dB."),
            std::string::npos);
  EXPECT_NE(html.find("<p class=\"note\">Warning: the baseline&#39;s PSNR-RGB 25.500 dB is below bicubic&#39;s "
                      "25.750 dB"),
            std::string::npos);
  // The progress plot draws the floor as a line next to the baseline's (only when recorded).
  if (!find_gnuplot().empty()) {
    EXPECT_NE(slurp(d.path() / "floor" / "progress.gp").find("25.75 with lines ls 9 title 'bicubic 25.750 dB'"),
              std::string::npos);
    EXPECT_EQ(slurp(d.path() / "none" / "progress.gp").find("bicubic"), std::string::npos);
  }
}

// Retrains: counted apart, never in the search's tracks, in a section of their own with the
// group's arms (mean +- sd, difference +- standard error) and the winners at that budget.
TEST(Report, RetrainsHaveTheirOwnSectionAndStayOutOfTheSearch) {
  TempDir d;
  auto db = ResultsDB::open((d.path() / "r.db").string());
  StudyRecord st = tiny_study(*db, "retrained", {{25.6, 20000, 0.5}});
  const std::vector<TrialRecord> ts = db->trials(st.id);
  std::string html = slurp(write_report(*db, st, (d.path() / "before").string()));
  EXPECT_NE(html.find("No COMPLETE retrain."), std::string::npos);
  EXPECT_EQ(html.find("of worker time"), std::string::npos) << "no trial with its times, no time shown";
  const std::string tracks_before = html.substr(html.find("<section id=\"tracks\">"),
                                                html.find("<section id=\"retrains\">") - html.find("<section id=\"tracks\">"));
  auto add = [&](const TrialRecord& parent, double psnr, int seed) {
    TrialRecord r = parent;
    r.is_baseline = false;
    r.parent_id = parent.id;
    r.psnr_rgb = psnr;
    r.train_json = fmt::format(R"({{"device":"cpu","train":{{"iterations":900,"seed":{}}}}})", seed);
    r.started_at = 1000 + 10 * seed;  // 5 s each: seed 1 at 1010-1015, seed 2 at 1020-1025
    r.finished_at = r.started_at + 5;
    db->add_trial(r);
  };
  add(ts[0], 27.0, 1), add(ts[0], 27.2, 2);  // the baseline: 27.1 +- 0.141
  add(ts[1], 27.5, 1), add(ts[1], 27.3, 2);  // the candidate: 27.4 +- 0.141, +0.300 +- 0.141
  html = slurp(write_report(*db, st, (d.path() / "after").string()));
  EXPECT_NE(html.find("Not counted: 4 retrains"), std::string::npos);
  EXPECT_NE(html.find("The finished trials took 20 s of worker time, 15 s from the first start to the last end"),
            std::string::npos);
  EXPECT_NE(html.find("<h3>Group 1: 900 iterations on cpu</h3>"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"n\">27.100 &plusmn; 0.141</td><td class=\"n\">-</td><td>baseline</td>"),
            std::string::npos);
  EXPECT_NE(html.find("<td class=\"n\">27.400 &plusmn; 0.141</td><td class=\"n\">+0.300 &plusmn; 0.141</td><td>winner "
                      "T1, T2, T3</td>"),
            std::string::npos)
      << html.substr(html.find("<section id=\"retrains\">"), 3000);
  EXPECT_EQ(html.substr(html.find("<section id=\"tracks\">"),
                        html.find("<section id=\"retrains\">") - html.find("<section id=\"tracks\">")),
            tracks_before)
      << "the search's tracks do not change";
  EXPECT_EQ(html.find("are below bicubic"), std::string::npos);
  db->add_metric(ts[0].id, 0, kBicubicPsnrRgb, 28.0);  // above the baseline's retrains (27.1 dB)
  html = slurp(write_report(*db, st, (d.path() / "floor").string()));
  EXPECT_NE(html.find("Warning: the baseline's retrains (27.100 dB) are below bicubic's 28.000 dB"), std::string::npos);
}

TEST(Report, Base64AndEscaping) {
  EXPECT_EQ(base64(""), "");
  EXPECT_EQ(base64("f"), "Zg==");
  EXPECT_EQ(base64("fo"), "Zm8=");
  EXPECT_EQ(base64("foo"), "Zm9v");
  EXPECT_EQ(base64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64(std::string("\xff\x00\x10", 3)), "/wAQ");
  EXPECT_EQ(html_escape("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  EXPECT_EQ(gnuplot_quote("it's\nok"), "'it''sok'");
}

TEST_F(ReportTest, ReportIsSelfContainedAndEscaped) {
  NEED_GNUPLOT();
  const char* keep = std::getenv("SRNAS_TEST_REPORT_DIR");
  fs::path out = dir.path() / "report";
  ResultsDB* from = db.get();
  std::unique_ptr<ResultsDB> kept;
  if (keep && *keep) {  // the same study in DIR/study.db, its report in DIR
    out = keep;
    fs::create_directories(out);
    for (const char* f : {"study.db", "study.db-wal", "study.db-shm"}) fs::remove(out / f);
    kept = ResultsDB::open((out / "study.db").string());
    full_study(*kept);
    from = kept.get();
  }
  const std::string path = write_report(*from, full, out.string());
  EXPECT_EQ(path, (out / "report.html").string());
  const std::string html = slurp(path);
  for (const char* s : {"<h2>Settings</h2>", "<h2>Trials</h2>", "<h2>Plots</h2>", "<h2>Pareto front</h2>",
                        "<h2>Tracks</h2>", "<h2>Pruned and failed trials</h2>", "Track 1 &mdash; fewest params",
                        "Track 2 &mdash; lowest runtime", "Track 3 &mdash; best PSNR", "<tr class=\"baseline\">",
                        "unified_small", "Unranked trials (", "<td class=\"muted\">rank ", "Track 2 (lowest runtime): <strong>trial", "successive halving: rung 0",
                        "constraint: params 44000 &gt; baseline 40000", "<h2>Fidelity of short budgets</h2>",
                        "No trial was measured at two budgets.", "<h2>Which genes matter</h2>",
                        "<td>lr_width</td>", "sampler nsga2 concentrates on good regions",
                        "Pairs whose combination explains PSNR beyond both genes' own effects"})
    EXPECT_NE(html.find(s), std::string::npos) << s;
  EXPECT_EQ(count(html, "src=\"data:image/svg+xml;base64,"), 3u);
  const size_t pairs = count(html, " &times; ");
  EXPECT_TRUE(pairs >= 1 && pairs <= 5) << pairs << " pair rows";
  // Escaped text: the config in <pre> and the failure reason.
  EXPECT_NE(html.find("&lt;b&gt;made-up&lt;/b&gt; metrics &amp; co"), std::string::npos);
  EXPECT_NE(html.find("diverged: &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; loss is NaN"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<b>"), std::string::npos);
  // Self-contained: no reference to another file.
  EXPECT_EQ(html.find("src=\"psnr"), std::string::npos);
  EXPECT_EQ(html.find("href="), std::string::npos);
  // The embedded image decodes to the SVG written next to it.
  const std::string svg = slurp(out / "progress.svg");
  EXPECT_NE(html.find(base64(svg)), std::string::npos);
}

// --- replay -------------------------------------------------------------------------------

std::vector<int64_t> sorted(std::vector<int64_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

TEST_F(ReportTest, ReplayIsDeterministicMonotoneAndEndsEqual) {
  // Recorded set: 22 COMPLETE + 3 PRUNED by constraint (FAILED, halving-PRUNED, PENDING out).
  std::vector<int64_t> recorded;
  for (const auto& t : db->trials(full.id))
    if (!t.is_baseline && (t.state == TrialState::Complete ||
                           (t.state == TrialState::Pruned && t.reason.rfind("constraint", 0) == 0)))
      recorded.push_back(t.id);
  ASSERT_EQ(recorded.size(), 25u);

  // The expected final hypervolume, computed here from the definition.
  std::vector<Point> pts;
  for (const auto& t : db->trials(full.id))
    if (!t.is_baseline && t.state == TrialState::Complete)
      pts.push_back({-*t.psnr_rgb, double(*t.params), *t.runtime_ratio});
  for (size_t k = 0; k < 3; ++k) {
    double lo = 1e300, hi = -1e300;
    for (const auto& p : pts) lo = std::min(lo, p[k]), hi = std::max(hi, p[k]);
    for (auto& p : pts) p[k] = (p[k] - lo) / (hi - lo);
  }
  const double full_hv = hypervolume(pts, Point(3, 1.01));

  std::vector<ReplayCurve> curves;
  for (const char* s : {"random", "evolution", "nsga2"}) {
    ReplayOptions o;
    o.sampler = s;
    o.seeds = 4;
    ReplayCurve c = replay(*db, full, o);
    ReplayCurve again = replay(*db, full, o);
    EXPECT_EQ(c.sampler, s);
    EXPECT_EQ(c.runs, again.runs) << s;
    EXPECT_EQ(c.orders, again.orders) << s;
    ASSERT_EQ(c.runs.size(), 4u);
    ASSERT_EQ(c.mean.size(), 25u);
    for (size_t seed = 0; seed < c.runs.size(); ++seed) {
      EXPECT_EQ(sorted(c.orders[seed]), sorted(recorded)) << s << " seed " << seed;  // each recorded genome once
      for (size_t k = 1; k < c.runs[seed].size(); ++k) EXPECT_GE(c.runs[seed][k], c.runs[seed][k - 1]) << s;
      EXPECT_NEAR(c.runs[seed].back(), full_hv, 1e-12) << s;
    }
    for (size_t k = 0; k < c.mean.size(); ++k) {
      double mn = 1e300, mx = -1e300, sum = 0;
      for (const auto& r : c.runs) mn = std::min(mn, r[k]), mx = std::max(mx, r[k]), sum += r[k];
      EXPECT_DOUBLE_EQ(c.mean[k], sum / 4) << s;
      EXPECT_EQ(c.min[k], mn);
      EXPECT_EQ(c.max[k], mx);
      if (k) {
        EXPECT_GE(c.mean[k], c.mean[k - 1]) << s;
      }
    }
    EXPECT_NE(c.orders[0], c.orders[1]) << s << ": seeds should differ";
    // Per seed: a one-seed replay is seed 0's run; a shorter budget is a prefix.
    o.seeds = 1;
    o.budget = 6;
    ReplayCurve one = replay(*db, full, o);
    ASSERT_EQ(one.runs.size(), 1u);
    EXPECT_EQ(one.runs[0], std::vector<double>(c.runs[0].begin(), c.runs[0].begin() + 6)) << s;
    EXPECT_EQ(one.stdev, std::vector<double>(6, 0.0));
    curves.push_back(c);
  }
  EXPECT_NEAR(curves[0].mean.back(), curves[1].mean.back(), 1e-12);
  EXPECT_NEAR(curves[0].mean.back(), curves[2].mean.back(), 1e-12);

  std::string table = replay_table(curves);
  EXPECT_NE(table.find("random"), std::string::npos);
  EXPECT_NE(table.find("nsga2"), std::string::npos);
  for (const char* k : {"\n     1 ", "\n     2 ", "\n     5 ", "\n    10 ", "\n    20 ", "\n    25 "})
    EXPECT_NE(table.find(k), std::string::npos) << k << "\n" << table;
  EXPECT_EQ(table.find("\n    50 "), std::string::npos);
  EXPECT_NE(table.find("\n    ms "), std::string::npos) << table;
  EXPECT_NE(table.find(" / proposal"), std::string::npos) << table;
  EXPECT_NE(replay_json(curves).find("\"orders\""), std::string::npos);
  std::cout << table;

  if (!find_gnuplot().empty()) {
    auto paths = write_replay_plot(curves, (dir.path() / "replay").string());
    ASSERT_EQ(paths.size(), 2u);
    EXPECT_TRUE(is_png(paths[0]));
    EXPECT_NE(slurp(paths[1]).find("<svg"), std::string::npos);
    EXPECT_TRUE(fs::exists(dir.path() / "replay" / "replay_evolution.dat"));
  }
}

TEST_F(ReportTest, ReplayWithWorkersHidesTheRunningTrialsResults) {
  // Random ignores results, so W workers change nothing, which also shows the running trials
  // stay in its history (else it would re-propose them and be mapped elsewhere). TPE with 8
  // workers proposes without the last 7 results: another order, each recorded genome once.
  for (const char* s : {"random", "tpe"}) {
    ReplayOptions o;
    o.sampler = s;
    o.seeds = 3;
    o.population = 4;
    const ReplayCurve one = replay(*db, full, o);
    o.workers = 8;
    const ReplayCurve eight = replay(*db, full, o);
    EXPECT_EQ(replay(*db, full, o).orders, eight.orders) << s << ": deterministic";
    for (const auto& order : eight.orders) EXPECT_EQ(sorted(order), sorted(one.orders[0])) << s;
    if (std::string(s) == "random") {
      EXPECT_EQ(eight.orders, one.orders);
    } else {
      EXPECT_NE(eight.orders, one.orders);
    }
    EXPECT_NEAR(eight.mean.back(), one.mean.back(), 1e-12);
  }
  ReplayOptions liar;
  liar.sampler = "tpe";
  liar.workers = 8;
  liar.constant_liar = true;
  EXPECT_EQ(replay(*db, full, liar).sampler, "tpe (constant liar)");
  liar.workers = 0;
  try {
    replay(*db, full, liar);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("workers >= 1"), std::string::npos) << e.what();
  }
}

TEST_F(ReportTest, LookupTableIsWhatTheReplaySearches) {
  const LookupTable table = lookup_table(db->trials(full.id), full.space, "here");
  ASSERT_EQ(table.entries.size(), 25u);  // 22 COMPLETE + 3 constraint-PRUNED, as replayed
  ASSERT_EQ(table.baselines.size(), 1u);
  const auto space = Space::load(full.space);
  std::vector<Point> pts;
  double lo[3] = {1e300, 1e300, 1e300}, hi[3] = {-1e300, -1e300, -1e300};
  for (size_t i = 0; i < table.entries.size(); ++i) {
    const LookupEntry& e = table.entries[i];
    if (i) {
      EXPECT_LT(table.entries[i - 1].trial.number, e.trial.number) << "by trial number";
    }
    ASSERT_FALSE(e.genes.empty()) << e.trial.id;
    EXPECT_EQ(genome_hash(space->decode(e.genes)), e.trial.genome_hash) << "genes decode to the recorded genome";
    EXPECT_EQ(e.complete, e.trial.state == TrialState::Complete);
    if (!e.complete) {
      EXPECT_TRUE(e.objectives.empty());
      continue;
    }
    ASSERT_EQ(e.objectives.size(), 3u);
    const double raw[3] = {-*e.trial.psnr_rgb, double(*e.trial.params), *e.trial.runtime_ratio};
    for (size_t k = 0; k < 3; ++k) {
      lo[k] = std::min(lo[k], raw[k]), hi[k] = std::max(hi[k], raw[k]);
      EXPECT_NEAR(e.objectives[k], (raw[k] - table.lo[k]) / (table.hi[k] - table.lo[k]), 1e-15);
    }
    pts.push_back(e.objectives);
  }
  for (size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(table.lo[k], lo[k]);
    EXPECT_EQ(table.hi[k], hi[k]);
  }
  EXPECT_EQ(table.ref, Point(3, 1.01));
  // Replaying every entry ends on the hypervolume of the table's objectives.
  ReplayOptions o;
  o.sampler = "tpe";
  o.seeds = 2;
  const ReplayCurve c = replay(*db, full, o);
  EXPECT_NEAR(c.mean.back(), hypervolume(pts, table.ref), 1e-12);
  EXPECT_GT(c.propose_s, 0.0);
  EXPECT_NE(replay_json({c}).find("\"propose_s\""), std::string::npos);

  // The JSON (srnas replay --table) holds the same, by trial id as in the replay's orders.
  const auto j = nlohmann::json::parse(lookup_table_json(table));
  EXPECT_EQ(j["space"], full.space);
  EXPECT_EQ(j["kind"], space->kind());
  ASSERT_EQ(j["genes"].size(), space->genes().size());
  EXPECT_EQ(j["genes"][0]["name"], space->genes()[0].name);
  EXPECT_EQ(j["genes"][0]["labels"].get<std::vector<std::string>>(), space->genes()[0].labels);
  EXPECT_EQ(j["objectives"], nlohmann::json({"-psnr_rgb", "params", "runtime_ratio"}));
  EXPECT_EQ(j["baselines"][0]["params"], *table.baselines[0].params);
  ASSERT_EQ(j["entries"].size(), 25u);
  std::set<int64_t> ids;
  for (size_t i = 0; i < 25; ++i) {
    const auto& je = j["entries"][i];
    const LookupEntry& e = table.entries[i];
    ids.insert(je["trial"].get<int64_t>());
    EXPECT_EQ(je["trial"], e.trial.id);
    EXPECT_EQ(je["genes"].get<std::vector<int>>(), e.genes);
    EXPECT_EQ(je["complete"], e.complete);
    EXPECT_EQ(je["objectives"].get<std::vector<double>>(), e.objectives);
    if (e.complete) {
      EXPECT_EQ(je["psnr_rgb"].get<double>(), *e.trial.psnr_rgb);
    }
  }
  for (const auto& order : c.orders)
    for (int64_t id : order) EXPECT_TRUE(ids.count(id)) << id;

  // The CLI writes it next to its usual output; a file it cannot write is a one-line error.
  const std::string out = (dir.path() / "table.json").string();
  auto r = srnas::testing::run_cli(fmt::format("replay --db {} --sampler random --seeds 1 --budget 3 --table {}", db_path, out));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("random"), std::string::npos) << r.out;
  EXPECT_EQ(nlohmann::json::parse(slurp(out)), j);
  srnas::testing::expect_cli_error(
      fmt::format("replay --db {} --table {}", db_path, (dir.path() / "no" / "such" / "t.json").string()),
      "t.json: cannot write");
}

TEST_F(ReportTest, OptunaReplaysTheSameTable) {
  // scripts/bench_optuna.py on this study: it recomputes srnas's hypervolume curves from the
  // table and the orders (and stops when they differ by more than 1e-9), checks its activity
  // rules against every entry's canonical genes, and replays Optuna's samplers, the
  // constraint-PRUNED entries included, with 3 workers (results told 2 proposals late).
  if (srnas::testing::run_command("/usr/bin/python3 -c 'import optuna'").status != 0)
    GTEST_SKIP() << "/usr/bin/python3 has no optuna (scripts/setup.sh installs python3-optuna)";
  const std::string table = (dir.path() / "table.json").string(), curves = (dir.path() / "curves.json").string();
  auto r = srnas::testing::run_cli(fmt::format("replay --db {} --seeds 1 --budget 1 --table {}", db_path, table));
  ASSERT_EQ(r.status, 0) << r.err;
  r = srnas::testing::run_command(fmt::format(
      "/usr/bin/python3 {}/scripts/bench_optuna.py {} --srnas {} --db {} --budget 12 --seeds 2 --population 4 --workers 3 --json {}",
      SRNAS_SOURCE_DIR, table, SRNAS_BIN, db_path, curves));
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  for (const char* row : {"srnas tpe", "optuna random", "optuna tpe (mapped)", "optuna nsga2 (proposed)",
                          "srnas - optuna nsga2 (mapped)"})
    EXPECT_NE(r.out.find(row), std::string::npos) << row << "\n" << r.out;
  const auto j = nlohmann::json::parse(slurp(curves));
  ASSERT_EQ(j.size(), 8u) << j.dump();  // 3 srnas, optuna random, 2 x (tpe, nsga2)
  const double all = replay(*db, full, ReplayOptions{}).mean.back();  // every entry evaluated
  for (const auto& [label, c] : j.items()) {
    ASSERT_EQ(c["runs"].size(), 2u) << label;
    for (const auto& run : c["runs"]) {
      ASSERT_EQ(run.size(), 12u) << label;
      for (size_t k = 1; k < run.size(); ++k) EXPECT_GE(run[k].get<double>(), run[k - 1].get<double>()) << label;
      EXPECT_LE(run.back().get<double>(), all + 1e-12) << label;
    }
  }
  std::cout << r.out;
}

// Three mutually non-dominated genomes that are cyclic permutations of each other in the
// normalised objectives: A = (0, .5, 1), B = (1, 0, .5), C = (.5, 1, 0) (-PSNR, params, ratio).
// With the reference at 1.01, every order gives the same curve:
//   one box    1.01 * 0.51 * 0.01                         = 0.005151
//   two boxes  2 * 0.005151 - 0.01 * 0.51 * 0.01          = 0.010251
//   all three  3 * 0.005151 - 3 * 0.000051 + 0.01^3       = 0.015301
TEST(Replay, TinySymmetricSetByHand) {
  TempDir d;
  auto db = ResultsDB::open((d.path() / "tiny.db").string());
  StudyRecord st = tiny_study(*db, "tiny", {{26.0, 1500, 0.8}, {25.0, 1000, 0.5}, {25.5, 2000, 0.2}});
  ReplayOptions o;
  o.sampler = "random";
  ReplayCurve c = replay(*db, st, o);
  ASSERT_EQ(c.mean.size(), 3u);
  ASSERT_EQ(c.runs.size(), 10u);
  const double want[] = {0.005151, 0.010251, 0.015301};
  for (size_t k = 0; k < 3; ++k) {
    EXPECT_NEAR(c.mean[k], want[k], 1e-12) << k;
    EXPECT_NEAR(c.stdev[k], 0.0, 1e-12) << k;
  }
}

// A dominates B and C: A = (0,0,0), B = (1,1,0), C = (.5,.5,1) normalised. By hand:
//   {A, ...} = 1.01^3 = 1.030301;  {B} = .01*.01*1.01 = 0.000101;  {C} = .51*.51*.01 = 0.002601;
//   {B, C} = 0.000101 + 0.002601 - .01*.01*.01 = 0.002701.
// Random's mean after k is the average over the seeds of these values for what each seed
// evaluated first.
TEST(Replay, TinyDominatedSetRandomMeanByHand) {
  TempDir d;
  auto db = ResultsDB::open((d.path() / "tiny.db").string());
  StudyRecord st = tiny_study(*db, "tiny", {{26.0, 1000, 0.2}, {25.0, 2000, 0.2}, {25.5, 1500, 0.8}});
  auto trials = db->trials(st.id);
  const int64_t a = trials[1].id, b = trials[2].id;
  ReplayOptions o;
  o.sampler = "random";
  ReplayCurve c = replay(*db, st, o);
  ASSERT_EQ(c.orders.size(), 10u);
  auto hv = [&](std::vector<int64_t> ids) {
    if (std::find(ids.begin(), ids.end(), a) != ids.end()) return 1.030301;
    if (ids.size() == 2) return 0.002701;
    return ids[0] == b ? 0.000101 : 0.002601;
  };
  for (size_t k = 1; k <= 3; ++k) {
    double sum = 0;
    std::vector<double> vals;
    for (const auto& order : c.orders) {
      vals.push_back(hv(std::vector<int64_t>(order.begin(), order.begin() + long(k))));
      sum += vals.back();
    }
    const double mean = sum / 10;
    double ss = 0;
    for (double v : vals) ss += (v - mean) * (v - mean);
    EXPECT_NEAR(c.mean[k - 1], mean, 1e-12) << k;
    EXPECT_NEAR(c.stdev[k - 1], std::sqrt(ss / 9), 1e-12) << k;
    EXPECT_NEAR(c.min[k - 1], *std::min_element(vals.begin(), vals.end()), 1e-12);
  }
  EXPECT_NEAR(c.mean[2], 1.030301, 1e-12);
  std::set<int64_t> firsts;
  for (const auto& order : c.orders) firsts.insert(order[0]);
  EXPECT_GT(firsts.size(), 1u) << "ten seeds should not all start on the same genome";
}

// A two-genome space (krahaon with x 48 and nx 1 or 2) whose study ran under `limits:
// {max_params: <the smaller genome's params>}`: the search never proposed the larger one, so
// a replay within the study's limits evaluates the smaller one first on every seed. Without
// them, random starts on both. A trial PRUNED by a limit is in the table, infeasible.
TEST(Replay, TheStudysLimitsKeepTheSamplerWithinThem) {
  TempDir d;
  const std::string space_file = (d.path() / "two.yaml").string();
  {
    std::ofstream f(space_file);
    f << "kind: krahaon\nx: [48]\ny_div: [2]\nz_div: [2]\nnx: {min: 1, max: 2}\nny: [0]\nnz: [0]\n"
         "block: {type: res_relu}\nhr_conv: false\n";
  }
  auto space = Space::load(space_file);
  Rng rng(1);
  std::map<int64_t, Genome> by_params;  // the space's two genomes, by their params
  while (by_params.size() < 2) {
    Genome g = space->sample(rng);
    by_params.emplace(account(g, 339, 510).params, g);
  }
  const int64_t small = by_params.begin()->first, large = by_params.rbegin()->first;
  ASSERT_LT(small, large);
  const std::string db_path = (d.path() / "limits.db").string();
  auto db = ResultsDB::open(db_path);
  StudyRecord st;
  st.name = "two";
  st.space = space_file;
  st.config_yaml = fmt::format("study: two\nspace: {}\nlimits: {{max_params: {}}}\n", space_file, small);
  st.id = db->create_study(st);
  db->add_trial(baseline(st.id, genomes(1, 2)[0]));
  int64_t ids[2] = {0, 0};
  int i = 0;
  for (const auto& [params, g] : by_params) {  // the larger one is better on PSNR: non-dominated
    TrialRecord t = record(st.id, g, TrialState::Complete);
    t.params = params;
    t.psnr_rgb = 25.0 + i;
    t.runtime_ratio = 0.5;
    ids[i++] = db->add_trial(t);
  }
  TrialRecord over = record(st.id, genomes(2, 2)[1], TrialState::Pruned);  // enqueued, outside the space
  over.params = 30000;
  over.runtime_ratio = 0.9;
  over.reason = "limit: runtime ratio 0.900 > max_runtime_ratio 0.8 (untrained, before training)";
  const int64_t over_id = db->add_trial(over);

  const LookupTable table = lookup_table(db->trials(st.id), st.space, "t");
  ASSERT_EQ(table.entries.size(), 3u);
  EXPECT_EQ(table.entries[2].trial.id, over_id);
  EXPECT_FALSE(table.entries[2].complete);

  ReplayOptions o;
  o.sampler = "random";
  std::set<int64_t> firsts;
  for (const auto& order : replay(*db, st, o).orders) firsts.insert(order[0]);
  EXPECT_EQ(firsts, (std::set<int64_t>{ids[0], ids[1]})) << "without the limits, random starts on both";
  o.limits.max_params = small;
  for (const std::string type : {"random", "evolution", "nsga2", "tpe"}) {
    o.sampler = type;
    for (const auto& order : replay(*db, st, o).orders) EXPECT_EQ(order[0], ids[0]) << type;
  }

  // The CLI reads the limits from the study's config, and says so.
  auto r = srnas::testing::run_cli(fmt::format("replay --db {} --sampler random --seeds 10", db_path));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find(fmt::format("within the study's limits: params <= {}", small)), std::string::npos) << r.out;
  r = srnas::testing::run_cli(fmt::format("replay --db {} --sampler random --seeds 10 --format json", db_path));
  ASSERT_EQ(r.status, 0) << r.err;
  for (const auto& order : nlohmann::json::parse(r.out)[0]["orders"]) EXPECT_EQ(order[0].get<int64_t>(), ids[0]);
}

TEST(Replay, Errors) {
  TempDir d;
  auto db = ResultsDB::open((d.path() / "e.db").string());
  StudyRecord empty = new_study(*db, "empty");
  db->add_trial(baseline(empty.id, genomes(1, 2)[0]));
  try {
    replay(*db, empty, ReplayOptions{});
    ADD_FAILURE() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nothing to replay"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("e.db (study empty)"), std::string::npos) << e.what();
  }
  StudyRecord st = tiny_study(*db, "tiny", {{26.0, 1000, 0.2}});
  ReplayOptions o;
  o.sampler = "bayes";
  EXPECT_THROW(replay(*db, st, o), Error);
  o.sampler = "random";
  o.seeds = 0;
  EXPECT_THROW(replay(*db, st, o), Error);
  o.seeds = 1;
  o.budget = 99;  // more than recorded: all recorded
  EXPECT_EQ(replay(*db, st, o).mean.size(), 1u);
}

}  // namespace
}  // namespace srnas
