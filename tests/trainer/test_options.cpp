// Training options: strict YAML, overrides, learning-rate schedules by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "search_space/error.h"
#include "trainer/options.h"
#include "../support/errors.h"
#include "../support/scratch.h"

using srnas::testing::error_of;

using namespace srnas;

namespace {

std::string write(const std::string& name, const std::string& text) {
  auto p = srnas::testing::scratch() / name;
  std::ofstream(p) << text;
  return p.string();
}

}  // namespace

TEST(Options, ShippedConfigsParse) {
  for (const auto& e : std::filesystem::directory_iterator(std::string(SRNAS_SOURCE_DIR) + "/configs/train"))
    EXPECT_NO_THROW(load_train_options(e.path().string())) << e.path();
  TrainOptions o = load_train_options(std::string(SRNAS_SOURCE_DIR) + "/configs/train/tiny.yaml");
  EXPECT_EQ(o.batch_size, 8);
  EXPECT_EQ(o.patch_lr, 16);
  EXPECT_DOUBLE_EQ(o.beta2, 0.99);
}

TEST(Options, OverridesAndRoundTrip) {
  std::string f = write("a.yaml", "iterations: 10\nschedule: {type: multistep, milestones: [5]}\n");
  TrainOptions o = load_train_options(f, {"iterations=20", "schedule.gamma=0.25", "loader.workers=3", "lr=1e-3"});
  EXPECT_EQ(o.iterations, 20);
  EXPECT_DOUBLE_EQ(o.schedule.gamma, 0.25);
  EXPECT_EQ(o.workers, 3);
  EXPECT_DOUBLE_EQ(o.lr, 1e-3);
  TrainOptions back = parse_train_options(to_json(o), "roundtrip");
  EXPECT_EQ(to_json(back), to_json(o));
}

TEST(Options, BadInputNamesFileAndKey) {
  std::string f = write("b.yaml", "iterations: 10\nbatchsize: 4\n");
  EXPECT_NE(error_of([&] { load_train_options(f); }).find(f + ": options: unknown key 'batchsize'"), std::string::npos)
      << error_of([&] { load_train_options(f); });
  f = write("c.yaml", "iterations: ten\n");
  EXPECT_NE(error_of([&] { load_train_options(f); }).find("options.iterations: expected an integer, got string 'ten'"),
            std::string::npos) << error_of([&] { load_train_options(f); });
  f = write("d.yaml", "iterations: -5\n");
  EXPECT_NE(error_of([&] { load_train_options(f); }).find("options.iterations"), std::string::npos);
  f = write("e.yaml", "schedule: {type: step}\n");
  EXPECT_NE(error_of([&] { load_train_options(f); }).find("options.schedule.type"), std::string::npos);
  f = write("f.yaml", "lr: [1\n");
  EXPECT_NE(error_of([&] { load_train_options(f); }).find("malformed YAML"), std::string::npos);
  f = write("h.yaml", "iterations: 10\n");
  EXPECT_NE(error_of([&] { load_train_options(f, {"noequals"}); }).find("expected key=value"), std::string::npos);
  EXPECT_NE(error_of([&] { load_train_options("/nonexistent.yaml"); }).find("cannot open"), std::string::npos);
  f = write("g.yaml", "iterations: 10\n");
  EXPECT_NE(error_of([&] { load_train_options(f, {"loader.bogus=1"}); }).find("options.loader: unknown key 'bogus'"),
            std::string::npos);
}

TEST(Options, PerfSectionParsesAndRoundTrips) {
  std::string f = write("p.yaml", "perf: {channels_last: true, precision: bf16, cudnn_benchmark: false}\n");
  TrainOptions o = load_train_options(f);
  EXPECT_TRUE(o.perf.channels_last);
  EXPECT_EQ(o.perf.precision, "bf16");
  EXPECT_FALSE(o.perf.cudnn_benchmark);
  EXPECT_TRUE(o.perf.pin_memory);
  EXPECT_EQ(to_json(parse_train_options(to_json(o), "roundtrip")), to_json(o));
  f = write("q.yaml", "perf: {precision: fp8}\n");
  EXPECT_NE(error_of([&] { load_train_options(f); }).find("options.perf.precision"), std::string::npos)
      << error_of([&] { load_train_options(f); });
  f = write("r.yaml", "perf: {amp: true}\n");
  EXPECT_NE(error_of([&] { load_train_options(f); }).find("options.perf: unknown key 'amp'"), std::string::npos);
}

// options.ema: recorded only when on, so that the settings of runs made without it (and
// before it existed: studies compare them on --resume) read the same as before.
TEST(Options, EmaIsRecordedOnlyWhenOn) {
  TrainOptions off = load_train_options(write("ema0.yaml", "iterations: 10\n"));
  EXPECT_EQ(off.ema_decay, 0.0);
  EXPECT_FALSE(to_json(off).contains("ema"));
  TrainOptions on = load_train_options(write("ema1.yaml", "iterations: 10\nema: 0.999\n"));
  EXPECT_DOUBLE_EQ(on.ema_decay, 0.999);
  EXPECT_EQ(to_json(on)["ema"], 0.999);
  EXPECT_EQ(to_json(parse_train_options(to_json(on), "roundtrip")), to_json(on));
  EXPECT_FALSE(to_json(load_train_options(write("ema2.yaml", "ema: 0\n"))).contains("ema"));
  const std::string f = write("ema3.yaml", "ema: 1\n");
  EXPECT_NE(error_of([&] { load_train_options(f); }).find("options.ema: expected a decay in [0, 1)"), std::string::npos)
      << error_of([&] { load_train_options(f); });
  EXPECT_NE(error_of([&] { load_train_options(f, {"ema=-0.5"}); }).find("options.ema"), std::string::npos);
}

// options.loss: l1 (absent from the record, as before it existed), l2, charbonnier {eps}.
TEST(Options, LossParsesAndIsRecordedOnlyWhenNotL1) {
  const TrainOptions l1 = load_train_options(write("loss1.yaml", "iterations: 10\n"));
  EXPECT_EQ(l1.loss.type, "l1");
  EXPECT_FALSE(to_json(l1).contains("loss"));
  EXPECT_FALSE(to_json(load_train_options(write("loss1b.yaml", "loss: l1\n"))).contains("loss"));
  const TrainOptions l2 = load_train_options(write("loss2.yaml", "loss: l2\n"));
  EXPECT_EQ(l2.loss.type, "l2");
  EXPECT_EQ(to_json(l2)["loss"], "l2");
  const TrainOptions ch = load_train_options(write("loss3.yaml", "loss: {type: charbonnier, eps: 1.0e-6}\n"));
  EXPECT_EQ(ch.loss.type, "charbonnier");
  EXPECT_DOUBLE_EQ(ch.loss.eps, 1e-6);
  EXPECT_EQ(to_json(ch)["loss"], (nlohmann::json{{"type", "charbonnier"}, {"eps", 1e-6}}));
  // Round trip, and the override form `--set loss=l2`.
  EXPECT_EQ(parse_train_options(to_json(ch), "rt").loss.eps, 1e-6);
  EXPECT_EQ(load_train_options(write("loss4.yaml", "iterations: 10\n"), {"loss=l2"}).loss.type, "l2");
  for (const auto& [text, needle] : std::vector<std::pair<std::string, std::string>>{
           {"loss: huber\n", "options.loss: expected l1, l2 or charbonnier, got 'huber'"},
           {"loss: {type: l2, eps: 0.1}\n", "options.loss.eps"},
           {"loss: {type: charbonnier, eps: 0}\n", "options.loss.eps"},
           {"loss: 3\n", "options.loss"}}) {
    const std::string f = write("lossbad.yaml", text);
    EXPECT_NE(error_of([&] { load_train_options(f); }).find(needle), std::string::npos) << text;
  }
}

TEST(Options, ReparamParsesAndIsRecordedOnlyWhenOn) {
  EXPECT_FALSE(to_json(load_train_options(write("rp0.yaml", "iterations: 10\n"))).contains("reparam"));
  const TrainOptions a = load_train_options(write("rp1.yaml", "reparam: conv3xc\n"));
  EXPECT_EQ(a.reparam.type, "conv3xc");
  EXPECT_EQ(a.reparam.gain, 2);
  const TrainOptions b = load_train_options(write("rp2.yaml", "reparam: {type: conv3xc, gain: 3}\n"));
  EXPECT_EQ(to_json(b)["reparam"], (nlohmann::json{{"type", "conv3xc"}, {"gain", 3}}));
  EXPECT_EQ(parse_train_options(to_json(b), "rt").reparam.gain, 3);
  for (const auto& [text, needle] : std::vector<std::pair<std::string, std::string>>{
           {"reparam: ecb\n", "options.reparam: expected conv3xc, got 'ecb'"},
           {"reparam: {type: conv3xc, gain: 9}\n", "options.reparam.gain"},
           {"reparam: {gain: 2}\n", "options.reparam: missing required key 'type'"}}) {
    const std::string f = write("rpbad.yaml", text);
    EXPECT_NE(error_of([&] { load_train_options(f); }).find(needle), std::string::npos) << text;
  }
}

TEST(Options, MultistepHalvesAtMilestones) {
  TrainOptions o;
  o.lr = 2e-4;
  o.schedule.milestones = {200, 400};
  o.schedule.gamma = 0.5;
  EXPECT_DOUBLE_EQ(learning_rate(o, 0), 2e-4);
  EXPECT_DOUBLE_EQ(learning_rate(o, 199), 2e-4);
  EXPECT_DOUBLE_EQ(learning_rate(o, 200), 1e-4);
  EXPECT_DOUBLE_EQ(learning_rate(o, 400), 5e-5);
}

TEST(Options, CosineWithRestartsByHand) {
  TrainOptions o;
  o.lr = 1.0;
  o.schedule.type = "cosine_restarts";
  o.schedule.periods = {10, 20};
  o.schedule.restart_weights = {1.0, 0.5};
  o.schedule.eta_min = 0.0;
  EXPECT_DOUBLE_EQ(learning_rate(o, 0), 1.0);
  EXPECT_NEAR(learning_rate(o, 5), 0.5, 1e-12);               // 0.5 * (1 + cos(pi/2))
  EXPECT_NEAR(learning_rate(o, 10), 0.5, 1e-12);              // restart at weight 0.5
  EXPECT_NEAR(learning_rate(o, 20), 0.25, 1e-12);             // half-way through the second cycle
  EXPECT_NEAR(learning_rate(o, 29), 0.25 * (1 + std::cos(M_PI * 19 / 20)), 1e-12);
}
