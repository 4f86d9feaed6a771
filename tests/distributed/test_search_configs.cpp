// The shipped search configs (configs/search/*.yaml): each parses strictly, names a space
// that loads, a sampler that builds and an architecture for its baseline, so a config
// change that breaks one fails here and not in a user's first run.
#include <gtest/gtest.h>

#include <filesystem>

#include "distributed/search_config.h"
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
