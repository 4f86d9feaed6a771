// The shipped search configs (configs/search/*.yaml): each parses strictly, names a space
// that loads, a sampler that builds and an architecture for its baseline, so a config
// change that breaks one fails here and not in a user's first run.
#include <gtest/gtest.h>

#include <filesystem>

#include "distributed/search_config.h"
#include "search_space/error.h"
#include "sampler/sampler.h"
#include "search_space/registry.h"
#include "search_space/space.h"

using namespace srnas;

TEST(SearchConfigs, EveryShippedConfigLoads) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(std::string(SRNAS_SOURCE_DIR) + "/configs/search")) {
    if (e.path().extension() != ".yaml") continue;
    SCOPED_TRACE(e.path().string());
    ++n;
    const SearchConfig c = load_search_config(e.path().string());
    EXPECT_FALSE(c.study.empty());
    EXPECT_GT(c.trials, 0);
    EXPECT_NO_THROW(Space::load(c.space));
    EXPECT_NO_THROW(make_sampler(c.sampler));
    EXPECT_NO_THROW(load_arch(c.baseline));
  }
  EXPECT_GE(n, 6);
}

TEST(SearchConfigs, DurationsAndLimitsParse) {
  EXPECT_DOUBLE_EQ(parse_duration_s("90s", "t"), 90);
  EXPECT_DOUBLE_EQ(parse_duration_s("3600", "t"), 3600);
  EXPECT_DOUBLE_EQ(parse_duration_s("30m", "t"), 1800);
  EXPECT_DOUBLE_EQ(parse_duration_s("1.5h", "t"), 5400);
  EXPECT_DOUBLE_EQ(parse_duration_s("1h30m", "t"), 5400);
  EXPECT_DOUBLE_EQ(parse_duration_s("2d", "t"), 172800);
  EXPECT_DOUBLE_EQ(parse_duration_s("0.001s", "t"), 0.001);
  for (const char* bad : {"", "0", "0s", "-1h", "+1h", " 1h", "8 hours", "1w", "h", "1e999", "nan", "1h-30m"}) {
    try {
      parse_duration_s(bad, "search.timeout");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()),
                std::string("search.timeout: expected a duration such as 90s, 30m, 8h, 1h30m or 2d (or seconds), got '") +
                    bad + "'");
    }
  }
  EXPECT_EQ(format_duration(5400), "1h30m");
  EXPECT_EQ(format_duration(90), "1m30s");
  EXPECT_EQ(format_duration(12.4), "12.4s");
  EXPECT_EQ(format_duration(0.001), "0.001s");

  const SearchConfig c = load_search_config_text(
      "study: s\ntimeout: 1h30m\nlimits: {max_params: 500000, max_gmacs: 25.5, max_runtime_ratio: 0.5}\n", "x.yaml");
  EXPECT_DOUBLE_EQ(c.timeout_s, 5400);
  EXPECT_EQ(c.limits.max_params, 500000);
  EXPECT_DOUBLE_EQ(*c.limits.max_gmacs, 25.5);
  EXPECT_DOUBLE_EQ(*c.limits.max_runtime_ratio, 0.5);
  EXPECT_DOUBLE_EQ(load_search_config_text("study: s\ntimeout: 600\n", "x.yaml").timeout_s, 600);
  // data: one root, or training roots + validation roots + a validation prefix (trainer/data_split.h).
  const SearchConfig df2k = load_search_config_text(
      "study: s\ndata: {train: [data/DIV2K, data/Flickr2K], val: data/DIV2K, val_images: 10}\n", "x.yaml");
  EXPECT_EQ(df2k.data.train, (std::vector<std::string>{"data/DIV2K", "data/Flickr2K"}));
  EXPECT_EQ(df2k.data.val, std::vector<std::string>{"data/DIV2K"});
  EXPECT_EQ(df2k.data.val_images, 10);
  try {
    load_search_config_text("study: s\ndata: {train: data/DIV2K}\n", "x.yaml");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "x.yaml: search.data: missing required key 'val'");
  }
  const SearchConfig d = load_search_config_text("study: s\n", "x.yaml");
  EXPECT_EQ(d.data.describe(), "data/samples");
  EXPECT_EQ(d.timeout_s, 0);
  EXPECT_FALSE(d.limits.any());
  try {
    load_search_config_text("study: s\ntimeout: -5\n", "x.yaml");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("x.yaml: search.timeout: expected a duration"), std::string::npos) << e.what();
  }
}

TEST(SearchConfigs, FinalStageParsesStrictly) {
  const SearchConfig c = load_search_config_text(
      "study: s\nfinal: {options: o.yaml, set: {iterations: 500}, top: 2, seeds: [3, 1]}\n", "x.yaml");
  ASSERT_TRUE(c.final_stage);
  EXPECT_EQ(c.final_stage->options, "o.yaml");
  EXPECT_EQ(c.final_stage->set, (std::vector<std::string>{"iterations=500"}));
  EXPECT_EQ(c.final_stage->top, 2);
  EXPECT_EQ(c.final_stage->seeds, (std::vector<uint64_t>{3, 1}));
  const SearchConfig d = load_search_config_text("study: s\nfinal: {options: o.yaml}\n", "x.yaml");
  EXPECT_EQ(d.final_stage->top, 1);
  EXPECT_FALSE(d.final_stage->from_parent);
  EXPECT_TRUE(load_search_config_text("study: s\nfinal: {options: o.yaml, from_parent: true}\n", "x.yaml")
                  .final_stage->from_parent);
  EXPECT_TRUE(d.final_stage->seeds.empty()) << "the options' seed";
  EXPECT_FALSE(load_search_config_text("study: s\n", "x.yaml").final_stage);
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"final: {top: 2}", "x.yaml: search.final: missing required key 'options'"},
      {"final: {options: o.yaml, top: 0}", "x.yaml: search.final.top: expected an integer in [1, 1000], got 0"},
      {"final: {options: o.yaml, seeds: []}", "x.yaml: search.final.seeds: expected a non-empty list of seeds"},
      {"final: {options: o.yaml, seeds: [1, -2]}", "x.yaml: search.final.seeds[1]: expected a non-negative integer, got -2"},
      {"final: {options: o.yaml, seeds: [4, 4]}", "x.yaml: search.final.seeds[1]: seed 4 given twice"},
      {"final: {options: o.yaml, set: 3}", "x.yaml: search.final.set: expected a map of option overrides"},
      {"final: {options: o.yaml, seed: 1}", "x.yaml: search.final: unknown key 'seed'"},
      {"final: o.yaml", "x.yaml: search.final: expected an object, got string 'o.yaml'"},
  };
  for (const auto& [yaml, want] : bad) {
    try {
      load_search_config_text("study: s\n" + yaml + "\n", "x.yaml");
      ADD_FAILURE() << "accepted " << yaml;
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind(want, 0), 0u) << yaml << ": " << e.what();
    }
  }
}
