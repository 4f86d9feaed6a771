// The srnas CLI as a user runs it: real process, exit status, stdout and stderr.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "../support/cli_runner.h"
#include "../support/scratch.h"
#include <fmt/format.h>

#include "cli/format.h"
#include "search_space/accounting.h"
#include "search_space/genome.h"
#include "search_space/rng.h"
#include "search_space/space.h"

namespace {

using srnas::testing::CliRun;

CliRun run(const std::string& args) { return srnas::testing::run_cli(args); }

std::string temp_file(const std::string& name, const std::string& text) {
  auto p = srnas::testing::scratch() / name;
  std::ofstream(p) << text;
  return p.string();
}

// One line on stderr, exit status 2, containing `needle`.
void expect_user_error(const std::string& args, const std::string& needle) {
  CliRun r = run(args);
  EXPECT_EQ(r.status, 2) << args << "\n" << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << ": " << r.err;
  EXPECT_EQ(r.err.rfind("srnas: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << args << ": " << r.err;
}

}  // namespace

TEST(Cli, ArchShowJsonReportsThePublishedCounts) {
  CliRun r = run("arch show msrresnet --format json");
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["params"], 1517571);
  EXPECT_EQ(j["macs"], 438471169920LL);
  r = run("arch show imdn_aim19 --format json --lr-size 10x10");
  ASSERT_EQ(r.status, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["params"], 893936);
  EXPECT_EQ(j["macs"], 891584LL * 100);
}

TEST(Cli, ArchShowTableAndFiles) {
  CliRun r = run("arch show krahaon_best");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("params 1,500,983"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("x2.blocks.11.conv2"), std::string::npos);
  std::string f = temp_file("g.json", srnas::canonical_json(srnas::genome_from_string(
      R"({"head":{"act":{"type":"none"}},"lr":{"width":8,"blocks":[{"type":"ir","expand":3}]},
          "upsampler":{"type":"pixelshuffle4","act":{"type":"none"}},"x4":{"width":4},
          "tail":{"hr_conv":false},"global_skip":"bicubic","init":{"type":"pytorch"}})")));
  r = run("arch show " + f + " --format json");
  ASSERT_EQ(r.status, 0) << r.err;
  // head 224 + ir(e3) 656 + up 8->64: 4,672 + last 4->3: 111
  EXPECT_EQ(nlohmann::json::parse(r.out)["params"], 224 + 656 + 4672 + 111);
}

TEST(Cli, SpaceSampleIsSeededAndValid) {
  CliRun a = run("space sample --space unified --n 5 --seed 9");
  CliRun b = run("space sample --space unified --n 5 --seed 9");
  CliRun c = run("space sample --space unified --n 5 --seed 10");
  ASSERT_EQ(a.status, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, c.out);
  auto space = srnas::Space::load("unified");
  std::istringstream lines(a.out);
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    EXPECT_NO_THROW(space->validate(srnas::genome_from_string(line)));
    ++n;
  }
  EXPECT_EQ(n, 5);
}

TEST(Cli, SpaceShowStatsAreTheSampledGenomesAccounting) {
  // The same draws as `space sample` (same seed), counted here: median params and GMACs and
  // the share within the limits match the printed table.
  CliRun r = run("space show unified_small --stats 101 --seed 4 --lr-size 100x120 --max-params 15000 --max-gmacs 0.5");
  ASSERT_EQ(r.status, 0) << r.err;
  auto space = srnas::Space::load("unified_small");
  srnas::Rng rng(4);
  std::vector<int64_t> params, macs;
  int within = 0;
  for (int i = 0; i < 101; ++i) {
    const srnas::Accounting a = srnas::account(space->sample(rng), 100, 120);
    params.push_back(a.params);
    macs.push_back(a.macs);
    within += a.params <= 15000 && a.macs <= 500000000;
  }
  std::sort(params.begin(), params.end());
  std::sort(macs.begin(), macs.end());
  EXPECT_NE(r.out.find("101 uniform draws (seed 4), MACs at LR 100x120"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(fmt::format("{:<8} {:>12} {:>10.3f}\n", "median", srnas::cli::group_digits(params[50]), macs[50] / 1e9)),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(fmt::format("{:<8} {:>12} {:>10.3f}\n", "max", srnas::cli::group_digits(params[100]), macs[100] / 1e9)),
            std::string::npos)
      << r.out;
  EXPECT_GT(within, 0);
  EXPECT_LT(within, 101);
  EXPECT_NE(r.out.find(fmt::format("within params <= 15,000, GMACs <= 0.5: {:.1f}% of draws ({} of 101)",
                                   100.0 * within / 101, within)),
            std::string::npos)
      << r.out;
  expect_user_error("space show unified_small --max-params 100", "--max-params/--max-gmacs: need --stats N");
  expect_user_error("space show unified_small --stats 10 --lr-size 10", "--lr-size: expected HxW");
}

TEST(Cli, VersionAndHelp) {
  CliRun r = run("--version");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("srnas 0."), std::string::npos);
  EXPECT_NE(r.out.find("LibTorch"), std::string::npos);
  EXPECT_EQ(run("arch show --help").status, 0);
}

TEST(Cli, EverySubcommandIsInTheReference) {
  // docs/cli.md is generated by scripts/gen_cli_docs.sh from a list of subcommands: a new
  // subcommand missing from that list fails here.
  std::ifstream in(std::string(SRNAS_SOURCE_DIR) + "/docs/cli.md");
  const std::string doc((std::istreambuf_iterator<char>(in)), {});
  ASSERT_FALSE(doc.empty());
  const std::string help = run("--help").out;
  std::istringstream lines(help.substr(help.find("Subcommands:")));
  std::string line;
  std::getline(lines, line);
  int n = 0;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string name;
    if (!(words >> name)) continue;
    ++n;
    const bool group = name == "arch" || name == "space" || name == "data" || name == "bench";
    const std::string heading = "\n## srnas " + name + (group ? " " : "\n");
    EXPECT_NE(doc.find(heading), std::string::npos) << name << ": run scripts/gen_cli_docs.sh (add it to its list)";
  }
  EXPECT_GE(n, 20);
}

TEST(Cli, BadInputIsOneLineAndStatus2) {
  expect_user_error("arch show no_such_arch", "unknown architecture 'no_such_arch'");
  expect_user_error("arch show /nonexistent/g.json", "/nonexistent/g.json: cannot open");
  expect_user_error("arch show " + temp_file("bad.json", "{\"head\": "), "malformed JSON");
  expect_user_error("arch show " + temp_file("w0.json", R"({"head":{"act":{"type":"none"}},"lr":{"width":0},
      "upsampler":{"type":"pixelshuffle4","act":{"type":"none"}},"x4":{"width":4},"tail":{"hr_conv":false},
      "global_skip":"none","init":{"type":"pytorch"}})"), "lr.width: expected an integer in [1, 4096], got 0");
  expect_user_error("arch show " + temp_file("blk.json", R"({"head":{"act":{"type":"none"}},"lr":{"width":8,
      "blocks":[{"type":"capsule"}]},"upsampler":{"type":"pixelshuffle4","act":{"type":"none"}},"x4":{"width":4},
      "tail":{"hr_conv":false},"global_skip":"none","init":{"type":"pytorch"}})"), "lr.blocks[0].type: expected one of");
  expect_user_error("arch show msrresnet --lr-size 0x5", "--lr-size");
  expect_user_error("arch show msrresnet --format xml", "--format");
  expect_user_error("space sample --space nowhere --n 2", "unknown space 'nowhere'");
  expect_user_error("space sample --space krahaon --n -1", "--n");
  expect_user_error("space sample --space " + temp_file("s.yaml", "kind: [1\n"), "malformed YAML");
  expect_user_error("space check --space krahaon msrresnet", "x2.width (y) 64 is not one of x/{2, 4}");
  expect_user_error("frobnicate", "frobnicate");
}
