// search_space/cpu_load.h: /proc parsing, the busy-elsewhere arithmetic, the warning, and a
// live reading while a child process keeps a core busy.
#include "search_space/cpu_load.h"

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "../support/busy_core.h"
#include "search_space/error.h"

using namespace srnas;

TEST(CpuLoad, ParsesProcStatPerCpuLinesOnly) {
  const std::string text =
      "cpu  300 0 100 1000 10 0 0 0 0 0\n"
      "cpu0 100 5 50 400 5 1 2 3 0 0\n"
      "cpu1 200 0 50 600 5 0 0 0 0 0\n"
      "intr 12345 0 0\nctxt 999\n";
  auto m = parse_proc_stat(text);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].busy, 100u + 5 + 50 + 1 + 2 + 3);  // user nice system irq softirq steal
  EXPECT_EQ(m[0].total, m[0].busy + 400 + 5);      // + idle iowait
  EXPECT_EQ(m[1].busy, 250u);
  EXPECT_EQ(m[1].total, 855u);
  EXPECT_EQ(parse_proc_stat("cpu0 1 2 3 4\n")[0].total, 10u);  // old kernels: 4 fields
}

TEST(CpuLoad, BadProcTextIsAnErrorNamingTheFile) {
  try {
    parse_proc_stat("intr 1 2 3\n");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/proc/stat"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_proc_stat("cpu0 1 2\n"), Error);
  EXPECT_THROW(parse_self_ticks("1234 srnas S 1"), Error);
  EXPECT_THROW(parse_self_ticks("1234 (srnas) S 1 2 3"), Error);
  EXPECT_THROW(parse_self_ticks("1 (a) R 1 1 1 0 -1 0 0 0 0 0 x 5 0"), Error);  // utime not a number
}

TEST(CpuLoad, SelfTicksCountFromTheLastParenthesis) {
  // comm "(a) b)" holds a space and a parenthesis; utime 7 and stime 5 are fields 14 and 15.
  EXPECT_EQ(parse_self_ticks("42 ((a) b)) R 1 42 42 0 -1 4194304 100 0 0 0 7 5 0 0 20 0 1 0"), 12u);
}

TEST(CpuLoad, BusyElsewhereIsTheBusyFractionsLessThisProcess) {
  CpuSnapshot a, b;
  a.cpus = {{0, {100, 1000}}, {1, {100, 1000}}, {2, {0, 1000}}};
  // 100 ticks per CPU: cpu0 fully busy, cpu1 half, cpu2 idle; this process used 50 ticks.
  b.cpus = {{0, {200, 1100}}, {1, {150, 1100}}, {2, {0, 1100}}};
  a.self = 10, b.self = 60;
  EXPECT_NEAR(busy_elsewhere(a, b, {0, 1, 2}), 1.5 - 0.5, 1e-12);
  EXPECT_NEAR(busy_elsewhere(a, b, {0}), 1.0 - 0.5, 1e-12);  // only the CPUs we may use
  EXPECT_NEAR(busy_elsewhere(a, b, {2}), 0.0, 1e-12);        // never below 0
  EXPECT_EQ(busy_elsewhere(a, b, {7}), 0.0);                 // unknown CPUs are skipped
  EXPECT_NEAR(busy_elsewhere(a, b, {}), 1.5 - 0.5, 1e-12);    // no mask: every CPU
}

TEST(CpuLoad, WarningOnlyWhenThreadsDoNotFit) {
  EXPECT_EQ(oversubscription_warning(0.2, 2, 2), "");
  EXPECT_EQ(oversubscription_warning(1.9, 2, 1), "");  // one thread: no team to wait for
  EXPECT_EQ(oversubscription_warning(1.4, 4, 2), "");
  const std::string w = oversubscription_warning(2.0, 2, 2);
  EXPECT_NE(w.find("2.0 of the 2 cores"), std::string::npos) << w;
  EXPECT_NE(w.find("--threads 1"), std::string::npos) << w;
  EXPECT_NE(oversubscription_warning(5.2, 8, 8).find("--threads 3"), std::string::npos);
}

TEST(CpuLoad, ALiveReadingSeesAChildThatSpins) {
  if (!sample_cpu_load(10)) GTEST_SKIP() << "no /proc";
  srnas::testing::BusyCore child(5);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const std::optional<double> busy = sample_cpu_load(400);
  child.stop();
  ASSERT_TRUE(busy.has_value());
  EXPECT_GE(*busy, 0.6) << "a spinning child keeps one core busy";
}

TEST(CpuLoad, AWatchWarnsOnceWhenANeighbourStartsLater) {
  if (!sample_cpu_load(10)) GTEST_SKIP() << "no /proc";
  const int cores = int(allowed_cpus().size());
  if (cores < 2) GTEST_SKIP() << "one core: one thread fits";
  LoadWatch watch(cores, 0.3);
  EXPECT_EQ(watch.poll(cores), "") << "the first poll only takes a reading";
  srnas::testing::BusyCore child(5);
  EXPECT_EQ(watch.poll(cores), "") << "within the interval: no reading";
  std::this_thread::sleep_for(std::chrono::milliseconds(450));
  const std::string w = watch.poll(cores);
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  const std::string again = watch.poll(cores);
  child.stop();
  EXPECT_NE(w.find("other processes keep"), std::string::npos) << "'" << w << "'";
  EXPECT_EQ(again, "") << "one warning per watch";
}
