// WorkItem / WorkResult (distributed/runner.h): the messages between the search loop and its
// workers cross MPI as JSON; every field comes back as it was, NaN as NaN.
#include <gtest/gtest.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include "distributed/runner.h"
#include "search_space/registry.h"

using namespace srnas;

TEST(WorkMessages, ItemsRoundTripThroughJson) {
  WorkItem w;
  w.kind = WorkItem::Kind::Probe;
  w.trial_id = 42;
  w.genome = load_arch("imdn_aim19").genome;
  w.options.iterations = 17;
  w.run_dir = "/runs/trial_3";
  w.solo = true;
  w.with_bicubic = true;
  w.init_weights = "/runs/trial_1/weights.safetensors";
  const WorkItem back = work_item_from_json(nlohmann::json::parse(to_json(w).dump()));
  EXPECT_EQ(back.kind, WorkItem::Kind::Probe);
  EXPECT_EQ(back.trial_id, 42);
  EXPECT_EQ(back.genome, w.genome);
  EXPECT_EQ(back.options.iterations, 17);
  EXPECT_EQ(back.run_dir, "/runs/trial_3");
  EXPECT_TRUE(back.solo);
  EXPECT_TRUE(back.with_bicubic);
  EXPECT_EQ(back.init_weights, "/runs/trial_1/weights.safetensors");
  w.with_bicubic = w.solo = false;
  const WorkItem plain = work_item_from_json(to_json(w));
  EXPECT_FALSE(plain.with_bicubic);
  EXPECT_FALSE(plain.solo);
}

TEST(WorkMessages, ResultsRoundTripThroughJson) {
  WorkResult r;
  r.trial_id = 7;
  r.kind = WorkItem::Kind::Probe;
  r.outcome.status = "complete";
  r.runtime_s = 0.125;
  r.ref_runtime_s = 0.5;
  r.runtime_ratio = 0.25;
  r.bicubic.psnr_rgb = 32.32510873113506;
  r.bicubic.psnr_y = 34.11502340269;
  WorkResult back = work_result_from_json(nlohmann::json::parse(to_json(r).dump()));
  EXPECT_EQ(back.trial_id, 7);
  EXPECT_EQ(back.kind, WorkItem::Kind::Probe);
  EXPECT_EQ(back.runtime_s, 0.125);
  EXPECT_EQ(back.ref_runtime_s, 0.5);
  EXPECT_EQ(back.runtime_ratio, 0.25);
  EXPECT_EQ(back.bicubic.psnr_rgb, 32.32510873113506);
  EXPECT_EQ(back.bicubic.psnr_y, 34.11502340269);
  EXPECT_TRUE(std::isnan(back.outcome.psnr_rgb)) << "a probe has no PSNR";

  WorkResult t;
  t.trial_id = 8;
  t.kind = WorkItem::Kind::Train;
  t.outcome = {"diverged", "loss is NaN at iteration 5", 5, NAN, NAN, 1.5, ""};
  back = work_result_from_json(nlohmann::json::parse(to_json(t).dump()));
  EXPECT_EQ(back.outcome.status, "diverged");
  EXPECT_EQ(back.outcome.reason, "loss is NaN at iteration 5");
  EXPECT_EQ(back.outcome.iterations, 5);
  EXPECT_EQ(back.outcome.train_seconds, 1.5);
  EXPECT_TRUE(std::isnan(back.bicubic.psnr_rgb));
  EXPECT_TRUE(std::isnan(back.runtime_ratio));
}
