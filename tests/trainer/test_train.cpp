// Trainer: real LibTorch training on real photos; exact resume; divergence handling.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "search_space/builder.h"
#include "search_space/error.h"
#include "search_space/registry.h"
#include "search_space/runtime.h"
#include "search_space/weights.h"
#include "trainer/evaluate.h"
#include "trainer/loader.h"
#include "trainer/matlab_resize.h"
#include "trainer/reparam.h"
#include "trainer/checkpoint.h"
#include "trainer/train.h"

#include "../support/images.h"
#include "../support/scratch.h"

using namespace srnas;
namespace fs = std::filesystem;

namespace {

// A tiny genome: width 12, 2 residual blocks, PixelShuffle(4), bicubic global skip.
Genome tiny_genome(int blocks = 2, double init_scale = 0.1) {
  return genome_from_string(fmt::format(R"({{
    "head": {{"act": {{"type": "lrelu", "slope": 0.1}}}},
    "lr": {{"width": 12, "blocks": [{{"type": "res_relu", "repeat": {}}}]}},
    "upsampler": {{"type": "pixelshuffle4", "act": {{"type": "lrelu", "slope": 0.1}}}},
    "x4": {{"width": 8}},
    "tail": {{"hr_conv": false}},
    "global_skip": "bicubic",
    "init": {{"type": "kaiming", "scale": {}}}}})", blocks, init_scale));
}

fs::path fresh_dir(const std::string& name) {
  fs::path p = srnas::testing::scratch() / name;
  fs::remove_all(p);
  return p;
}

// Small real-photo data: crops of the sample photos when present, else a synthetic pattern.
TrainData small_data() {
  auto train = std::make_shared<std::vector<LoadedPair>>();
  for (int k = 0; k < 3; ++k) {
    Image hr = srnas::testing::checker_pattern(96, 96, k);
    train->push_back({"p" + std::to_string(k), hr, imresize_bicubic(hr, 0.25)});
  }
  TrainData d;
  d.train = std::make_shared<const DecodedImages>(*train);
  d.val = std::make_shared<const DecodedImages>(std::vector<LoadedPair>{train->at(0)});
  return d;
}

TrainOptions quick_options(int64_t iterations) {
  TrainOptions o;
  o.seed = 7;
  o.iterations = iterations;
  o.batch_size = 4;
  o.patch_lr = 8;
  o.lr = 1e-3;
  o.schedule.milestones = {6};
  o.log_every = 1000;
  o.device = "cpu";
  return o;
}

std::string bytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

TrainHooks quiet() {
  TrainHooks h;
  h.quiet = true;
  return h;
}

}  // namespace

TEST(Train, ResumeIsBitIdenticalToAnUninterruptedRun) {
  init_torch_threads(0);
  TrainData d = small_data();
  fs::path a = fresh_dir("a"), b = fresh_dir("b");
  TrainResult ra = train(tiny_genome(), d, quick_options(12), a.string(), false, quiet());
  ASSERT_EQ(ra.status, "complete");

  // Interrupt b after 5 iterations (as a kill would, between steps), then resume.
  int calls = 0;
  TrainHooks stop = quiet();
  stop.should_stop = [&] { return ++calls > 5; };
  TrainResult rb1 = train(tiny_genome(), d, quick_options(12), b.string(), false, stop);
  ASSERT_EQ(rb1.status, "stopped");
  ASSERT_EQ(rb1.iterations, 5);
  TrainResult rb2 = train(tiny_genome(), d, quick_options(12), b.string(), true, quiet());
  ASSERT_EQ(rb2.status, "complete");
  EXPECT_EQ(rb2.iterations, 12);
  EXPECT_EQ(bytes(a / "weights.safetensors"), bytes(b / "weights.safetensors"));
  EXPECT_EQ(ra.final_loss, rb2.final_loss);
  EXPECT_TRUE(fs::exists(b / "log.jsonl"));
  auto result = nlohmann::json::parse(std::ifstream(b / "result.json"));
  EXPECT_EQ(result["status"], "complete");
  EXPECT_EQ(result["iterations"], 12);
}

// Fine-tuning (hooks.init_weights): the run starts from the given weights, not from the
// seed's initialisation; weights of another genome are an error naming the file.
TEST(Train, InitWeightsStartTheRunFromThem) {
  TrainData d = small_data();
  fs::path a = fresh_dir("trained"), c = fresh_dir("finetuned"), s = fresh_dir("scratch");
  ASSERT_EQ(train(tiny_genome(), d, quick_options(12), a.string(), false, quiet()).status, "complete");
  TrainOptions still = quick_options(2);  // lr 1e-12: Adam moves every weight by ~1e-12 per step
  still.seed = 99;
  still.lr = 1e-12;
  TrainHooks from = quiet();
  from.init_weights = (a / "weights.safetensors").string();
  ASSERT_EQ(train(tiny_genome(), d, still, c.string(), false, from).status, "complete");
  ASSERT_EQ(train(tiny_genome(), d, still, s.string(), false, quiet()).status, "complete");
  const TensorMap trained = read_safetensors((a / "weights.safetensors").string()),
                  tuned = read_safetensors((c / "weights.safetensors").string()),
                  scratch = read_safetensors((s / "weights.safetensors").string());
  double to_trained = 0, to_scratch = 0;
  for (const auto& [name, t] : trained) {
    to_trained = std::max(to_trained, (tuned.at(name) - t).abs().max().item<double>());
    to_scratch = std::max(to_scratch, (tuned.at(name) - scratch.at(name)).abs().max().item<double>());
  }
  EXPECT_LT(to_trained, 1e-8) << "the run starts from the given weights";
  EXPECT_GT(to_scratch, 1e-3) << "not from seed 99's initialisation";
  TrainHooks wrong = quiet();
  wrong.init_weights = from.init_weights;
  try {
    train(tiny_genome(3), d, still, fresh_dir("wrong").string(), false, wrong);
    ADD_FAILURE() << "weights of another genome were accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(from.init_weights), std::string::npos) << e.what();
  }
}

// options.ema: weights.safetensors and the validation hold the moving average of the raw
// weights after every step (e_0 = w_0, e_t = d e_(t-1) + (1 - d) w_t), computed here by hand
// from runs of 1..K steps; the optimizer's trajectory (the checkpoint's model.safetensors) is
// the run's without EMA; a resumed run continues the average to the same bytes.
TEST(Train, EmaAveragesTheWeightsOfEveryStep) {
  TrainData d = small_data();
  const int K = 4;
  const double decay = 0.6;  // far from 0 and 1: every step's weights count
  torch::manual_seed(7);     // w_0: the seed's initialisation, as train() makes it
  SRNet init(tiny_genome());
  TensorMap expect = module_state(*init), raw_k;
  for (int k = 1; k <= K; ++k) {
    const fs::path p = fresh_dir("raw" + std::to_string(k));
    ASSERT_EQ(train(tiny_genome(), d, quick_options(k), p.string(), false, quiet()).status, "complete");
    raw_k = read_safetensors((p / "weights.safetensors").string());
    for (auto& [name, e] : expect) e = decay * e + (1 - decay) * raw_k.at(name);
  }
  TrainOptions o = quick_options(K);
  o.ema_decay = decay;
  const fs::path m = fresh_dir("ema");
  const TrainResult r = train(tiny_genome(), d, o, m.string(), false, quiet());
  ASSERT_EQ(r.status, "complete");
  const TensorMap got = read_safetensors((m / "weights.safetensors").string()),
                  raw = read_safetensors((m / "checkpoint" / "model.safetensors").string());
  double to_expect = 0, raw_diff = 0, to_raw = 0;
  for (const auto& [name, e] : expect) {
    to_expect = std::max(to_expect, (got.at(name) - e).abs().max().item<double>());
    raw_diff = std::max(raw_diff, (raw.at(name) - raw_k.at(name)).abs().max().item<double>());
    to_raw = std::max(to_raw, (got.at(name) - raw_k.at(name)).abs().max().item<double>());
  }
  EXPECT_LT(to_expect, 1e-6) << "the average of every step's weights";
  EXPECT_EQ(raw_diff, 0.0) << "EMA does not change what the optimizer does";
  EXPECT_GT(to_raw, 1e-4) << "the saved weights are the average, not the last step's";
  SRNet saved(tiny_genome());
  load_weights(*saved, (m / "weights.safetensors").string());
  EXPECT_EQ(evaluate_quality(model_function(saved), *d.val, torch::kCPU).psnr_rgb, r.val_psnr_rgb)
      << "the validation measured the average";

  int calls = 0;
  TrainHooks stop = quiet();
  stop.should_stop = [&] { return ++calls > 2; };
  const fs::path b = fresh_dir("ema_resumed");
  ASSERT_EQ(train(tiny_genome(), d, o, b.string(), false, stop).status, "stopped");
  ASSERT_EQ(train(tiny_genome(), d, o, b.string(), true, quiet()).status, "complete");
  EXPECT_EQ(bytes(b / "weights.safetensors"), bytes(m / "weights.safetensors"));
  // A checkpoint made without EMA cannot continue with it.
  const fs::path c = fresh_dir("ema_later");
  calls = 0;
  ASSERT_EQ(train(tiny_genome(), d, quick_options(K), c.string(), false, stop).status, "stopped");
  try {
    train(tiny_genome(), d, o, c.string(), true, quiet());
    ADD_FAILURE() << "resumed a checkpoint without the average";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("started with other training options (ema: unset then, 0.6 now)"),
              std::string::npos)
        << e.what();
  }
}

TEST(Train, PixelLossesByHand) {
  // d = sr - hr = [0, 0.1, 0.2, -0.3]: L1 = 0.6 / 4 = 0.15; L2 = (0 + 0.01 + 0.04 + 0.09) / 4 =
  // 0.035; Charbonnier (eps 0.1) = (0.1 + sqrt(0.02) + sqrt(0.05) + sqrt(0.1)) / 4.
  const torch::Tensor hr = torch::full({1, 1, 2, 2}, 0.5f);
  const torch::Tensor sr = hr + torch::tensor({0.0f, 0.1f, 0.2f, -0.3f}).reshape({1, 1, 2, 2});
  LossOptions l;
  EXPECT_NEAR(pixel_loss(sr, hr, l).item<double>(), 0.15, 1e-7);
  l.type = "l2";
  EXPECT_NEAR(pixel_loss(sr, hr, l).item<double>(), 0.035, 1e-7);
  l.type = "charbonnier";
  l.eps = 0.1;
  EXPECT_NEAR(pixel_loss(sr, hr, l).item<double>(), (0.1 + std::sqrt(0.02) + std::sqrt(0.05) + std::sqrt(0.1)) / 4,
              1e-7);
  l.type = "huber";
  EXPECT_THROW(pixel_loss(sr, hr, l), Error);
}

// The options' loss is what train() optimises: a run with loss l2 logs, at its first step, the
// mean squared error of the initial network on batch 0, and trains to other weights than L1.
TEST(Train, TheOptionsLossIsWhatTrainingMinimises) {
  TrainData d = small_data();
  TrainOptions o = quick_options(1);
  o.loss.type = "l2";
  o.log_every = 1;
  const fs::path a = fresh_dir("l2");
  const TrainResult r = train(tiny_genome(), d, o, a.string(), false, quiet());
  ASSERT_EQ(r.status, "complete");
  torch::manual_seed(7);  // the seed's initialisation, as train() makes it (quick_options' seed)
  SRNet net(tiny_genome());
  LoaderOptions lo;
  lo.batch_size = o.batch_size;
  lo.patch_lr = o.patch_lr;
  lo.augment = o.augment;
  lo.seed = o.seed;
  const Batch b = make_batch(*d.train, lo, 0);
  const int64_t p = b.patch_lr, P = p * b.scale;
  double mse = 0;
  {
    torch::NoGradGuard ng;
    const torch::Tensor sr = net->forward(torch::from_blob(const_cast<float*>(b.lr.data()), {b.n, 3, p, p}));
    mse = torch::mse_loss(sr, torch::from_blob(const_cast<float*>(b.hr.data()), {b.n, 3, P, P})).item<double>();
  }
  EXPECT_NEAR(r.final_loss, mse, 1e-6 * mse);
  EXPECT_EQ(nlohmann::json::parse(std::ifstream(a / "options.json"))["loss"], "l2");
  TrainOptions l1 = quick_options(1);
  const fs::path c = fresh_dir("l1");
  const TrainResult r1 = train(tiny_genome(), d, l1, c.string(), false, quiet());
  EXPECT_GT(std::abs(r1.final_loss - r.final_loss), 1e-6) << "L1 of the same batch differs from its MSE";
}

// SPAN's Conv3XC, written out as it trains (pad, 1x1, valid 3x3, 1x1, plus a 1x1 shortcut),
// equals the one 3x3 conv fuse_conv3xc gives, border pixels included.
TEST(Reparam, FusedConvEqualsTheExpandedForm) {
  torch::manual_seed(3);
  const int64_t c = 5, o = 6, g = 2;
  auto r = [](std::vector<int64_t> shape) { return torch::randn(shape, torch::kFloat64); };
  const torch::Tensor w1 = r({g * c, c, 1, 1}), b1 = r({g * c}), w2 = r({g * o, g * c, 3, 3}), b2 = r({g * o}),
                      w3 = r({o, g * o, 1, 1}), b3 = r({o}), wsk = r({o, c, 1, 1}), bsk = r({o});
  const torch::Tensor x = r({2, c, 9, 7});
  namespace F = torch::nn::functional;
  torch::Tensor t = torch::conv2d(torch::constant_pad_nd(x, {1, 1, 1, 1}, 0), w1, b1);
  t = torch::conv2d(torch::conv2d(t, w2, b2), w3, b3) + torch::conv2d(x, wsk, bsk);
  const auto [k, b] = fuse_conv3xc(w1, b1, w2, b2, w3, b3, wsk, bsk);
  EXPECT_EQ(k.sizes(), (std::vector<int64_t>{o, c, 3, 3}));
  const torch::Tensor fused = torch::conv2d(x, k, b, 1, 1);
  EXPECT_LT((fused - t).abs().max().item<double>(), 1e-10);
}

// options.reparam trains the 3x3 convs through expanded parameters: the run differs from a
// plain one, its weights.safetensors is the deployed genome's (a plain SRNet scores what the
// run validated), and it resumes bit-identically.
TEST(Reparam, TrainingSavesTheFusedNetworkAndResumesExactly) {
  TrainData d = small_data();
  TrainOptions o = quick_options(4);
  o.reparam.type = "conv3xc";
  {
    torch::manual_seed(1);
    SRNet net(tiny_genome());
    auto params = net->named_parameters();
    const double head_norm = params["head.weight"].norm().item<double>();
    const double conv_norm = params["lr.blocks.1.conv2.weight"].norm().item<double>();
    Conv3XCReparam rep(net, tiny_genome(), 2);
    // head, 2 blocks x 2 convs, and no trunk (no long skip): the up conv is not at the LR side.
    EXPECT_EQ(rep->conv_names(), (std::vector<std::string>{"head", "lr.blocks.0.conv1", "lr.blocks.0.conv2",
                                                            "lr.blocks.1.conv1", "lr.blocks.1.conv2"}));
    const torch::Tensor x = torch::rand({1, 3, 10, 11});
    rep->apply();
    const torch::Tensor a = net->forward(x).detach();
    rep->bake();
    EXPECT_LT((net->forward(x) - a).abs().max().item<double>(), 1e-5) << "apply and bake give one network";
    // The fused convs start at the norms the genome's init (Kaiming x 0.1) gave them.
    params = net->named_parameters();
    EXPECT_NEAR(params["head.weight"].norm().item<double>(), head_norm, 1e-5 * head_norm);
    EXPECT_NEAR(params["lr.blocks.1.conv2.weight"].norm().item<double>(), conv_norm, 1e-5 * conv_norm);
  }
  EXPECT_GT(seconds_per_step(tiny_genome(), o, 0, 1), 0.0) << "srnas plan times the re-parameterised step";
  const fs::path a = fresh_dir("reparam");
  const TrainResult r = train(tiny_genome(), d, o, a.string(), false, quiet());
  ASSERT_EQ(r.status, "complete");
  EXPECT_TRUE(fs::exists(a / "checkpoint" / "reparam.safetensors"));
  SRNet plain(tiny_genome());
  load_weights(*plain, (a / "weights.safetensors").string());
  EXPECT_EQ(evaluate_quality(model_function(plain), *d.val, torch::kCPU).psnr_rgb, r.val_psnr_rgb);
  const fs::path p = fresh_dir("plain");
  ASSERT_EQ(train(tiny_genome(), d, quick_options(4), p.string(), false, quiet()).status, "complete");
  EXPECT_NE(bytes(a / "weights.safetensors"), bytes(p / "weights.safetensors"));
  EXPECT_EQ(nlohmann::json::parse(std::ifstream(a / "options.json"))["reparam"],
            (nlohmann::json{{"type", "conv3xc"}, {"gain", 2}}));

  int calls = 0;
  TrainHooks stop = quiet();
  stop.should_stop = [&] { return ++calls > 2; };
  const fs::path b = fresh_dir("reparam_resumed");
  ASSERT_EQ(train(tiny_genome(), d, o, b.string(), false, stop).status, "stopped");
  ASSERT_EQ(train(tiny_genome(), d, o, b.string(), true, quiet()).status, "complete");
  EXPECT_EQ(bytes(b / "weights.safetensors"), bytes(a / "weights.safetensors"));
  // A checkpoint of the other kind is refused, naming the option.
  calls = 0;
  const fs::path c = fresh_dir("reparam_mixed");
  ASSERT_EQ(train(tiny_genome(), d, o, c.string(), false, stop).status, "stopped");
  try {
    train(tiny_genome(), d, quick_options(4), c.string(), true, quiet());
    ADD_FAILURE() << "resumed a re-parameterised checkpoint without the option";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("reparam.type: \"conv3xc\" then, unset now"), std::string::npos) << e.what();
  }
  // With the weights' average: the average of the deployed weights, saved and validated.
  TrainOptions oe = o;
  oe.ema_decay = 0.5;
  const fs::path e = fresh_dir("reparam_ema");
  const TrainResult re = train(tiny_genome(), d, oe, e.string(), false, quiet());
  ASSERT_EQ(re.status, "complete");
  SRNet averaged(tiny_genome());
  load_weights(*averaged, (e / "weights.safetensors").string());
  EXPECT_EQ(evaluate_quality(model_function(averaged), *d.val, torch::kCPU).psnr_rgb, re.val_psnr_rgb);
  EXPECT_NE(bytes(e / "weights.safetensors"), bytes(a / "weights.safetensors"));
  // The average starts at the fused convs (it once started at the genome init's, which the
  // expanded convs only match in norm): one step at decay 0.5 gives half the fused weights
  // at the start (rebuilt here from the seed) and half those after the step.
  TrainOptions o1 = o;
  o1.iterations = 1;
  TrainOptions e1 = o1;
  e1.ema_decay = 0.5;
  const fs::path f1_dir = fresh_dir("reparam_1"), e1_dir = fresh_dir("reparam_ema_1");
  ASSERT_EQ(train(tiny_genome(), d, o1, f1_dir.string(), false, quiet()).status, "complete");
  ASSERT_EQ(train(tiny_genome(), d, e1, e1_dir.string(), false, quiet()).status, "complete");
  torch::manual_seed(o.seed);
  SRNet start(tiny_genome());
  Conv3XCReparam start_rep(start, tiny_genome(), o.reparam.gain);
  start_rep->bake();
  SRNet f1(tiny_genome()), e1_net(tiny_genome());
  load_weights(*f1, (f1_dir / "weights.safetensors").string());
  load_weights(*e1_net, (e1_dir / "weights.safetensors").string());
  auto p0 = start->named_parameters(), p1 = f1->named_parameters(), pe = e1_net->named_parameters();
  for (const auto& kv : pe) {
    const torch::Tensor want = 0.5 * p0[kv.key()] + 0.5 * p1[kv.key()];
    EXPECT_LT((kv.value() - want).abs().max().item<double>(), 1e-6) << kv.key();
  }
}

TEST(Train, ResumeRejectsADifferentGenome) {
  TrainData d = small_data();
  fs::path a = fresh_dir("other");
  train(tiny_genome(), d, quick_options(2), a.string(), false, quiet());
  EXPECT_THROW(train(tiny_genome(3), d, quick_options(4), a.string(), true, quiet()), Error);
}

// A checkpoint continues only the run it belongs to: other options that decide the numbers
// (learning rate, batch, seed, ...) are refused, naming each; more iterations (successive
// halving's next rung, `--set iterations=N`) and how the run goes (logging, threads) are fine.
TEST(Train, ResumeRefusesOtherDecisiveOptions) {
  TrainData d = small_data();
  fs::path a = fresh_dir("options");
  ASSERT_EQ(train(tiny_genome(), d, quick_options(2), a.string(), false, quiet()).status, "complete");
  TrainOptions other = quick_options(4);
  other.lr = 2e-3;
  other.batch_size = 2;
  try {
    train(tiny_genome(), d, other, a.string(), true, quiet());
    ADD_FAILURE() << "resumed with another lr and batch size";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind((a / "checkpoint").string() + ": the run was started with other training options (", 0), 0u)
        << msg;
    EXPECT_NE(msg.find("batch_size: 4 then, 2 now"), std::string::npos) << msg;
    EXPECT_NE(msg.find("lr: 0.001 then, 0.002 now"), std::string::npos) << msg;
  }
  TrainOptions more = quick_options(4);
  more.log_every = 1;
  more.threads = 1;
  const TrainResult r = train(tiny_genome(), d, more, a.string(), true, quiet());
  EXPECT_EQ(r.status, "complete");
  EXPECT_EQ(r.iterations, 4);
}

// A save killed between its two renames (checkpoint/ already moved to checkpoint.old/, the
// new one not yet in place) loses no progress: the resume continues from checkpoint.old/.
TEST(Train, ResumeRecoversACheckpointCaughtBetweenRenames) {
  TrainData d = small_data();
  fs::path a = fresh_dir("renames");
  TrainOptions o = quick_options(6);
  o.log_every = 1;  // log.jsonl gets a line per iteration, appended by the resumed run
  int calls = 0;
  TrainHooks stop = quiet();
  stop.should_stop = [&] { return ++calls > 3; };
  ASSERT_EQ(train(tiny_genome(), d, o, a.string(), false, stop).status, "stopped");
  fs::rename(a / "checkpoint", a / "checkpoint.old");
  ASSERT_TRUE(has_checkpoint(a));
  EXPECT_TRUE(fs::exists(a / "checkpoint" / "state.json"));
  EXPECT_FALSE(fs::exists(a / "checkpoint.old"));
  const TrainResult r = train(tiny_genome(), d, o, a.string(), true, quiet());
  EXPECT_EQ(r.status, "complete");
  const std::string log = bytes(a / "log.jsonl");
  const size_t first = log.find("\"it\":1,");
  ASSERT_NE(first, std::string::npos) << log;
  EXPECT_EQ(log.find("\"it\":1,", first + 1), std::string::npos) << "restarted from iteration 0: " << log;
  EXPECT_NE(log.find("\"it\":6,"), std::string::npos) << log;
}

TEST(Train, NonFiniteLossEndsTheRunWithAReason) {
  TrainData d = small_data();
  fs::path a = fresh_dir("nan");
  // Init scale 10 over 16 blocks overflows float32 in the forward pass.
  TrainResult r = train(tiny_genome(16, 10.0), d, quick_options(5), a.string(), false, quiet());
  EXPECT_EQ(r.status, "diverged");
  EXPECT_NE(r.reason.find("loss is"), std::string::npos) << r.reason;
  EXPECT_NE(r.reason.find("at iteration 0"), std::string::npos) << r.reason;
  EXPECT_FALSE(fs::exists(a / "weights.safetensors"));
  EXPECT_EQ(nlohmann::json::parse(std::ifstream(a / "result.json"))["status"], "diverged");
}

// Done-when of the trainer issue: a tiny genome, a few hundred steps on the sample photos,
// beats MATLAB bicubic on the sample validation photos.
TEST(Train, TinyGenomeBeatsBicubicOnTheSamplePhotos) {
  init_torch_threads(0);
  const std::string root = std::string(SRNAS_SOURCE_DIR) + "/data/samples";
  ASSERT_TRUE(fs::is_directory(root + "/train")) << root << " missing: run scripts/setup.sh";
  TrainData d;
  d.train = std::make_shared<const DecodedImages>(load_pairs(open_dataset(root, "train", 4), size_t(2) << 30));
  d.val = std::make_shared<const DecodedImages>(load_pairs(open_dataset(root, "val", 4), size_t(2) << 30));
  TrainOptions o = quick_options(300);
  o.batch_size = 8;
  o.patch_lr = 16;
  o.lr = 1e-3;
  o.schedule.milestones = {200};
  TrainResult r = train(tiny_genome(), d, o, fresh_dir("samples").string(), false, quiet());
  ASSERT_EQ(r.status, "complete");
  QualityResult bic = evaluate_quality(bicubic_function(), *d.val, torch::kCPU);
  std::cout << "tiny genome " << r.val_psnr_rgb << " dB vs bicubic " << bic.psnr_rgb << " dB (RGB, crop 4)\n";
  EXPECT_GT(r.val_psnr_rgb, bic.psnr_rgb);
  EXPECT_GT(r.val_psnr_y, bic.psnr_y);
}
