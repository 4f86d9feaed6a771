#include "trainer/train.h"
#include "trainer/reparam.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "search_space/builder.h"
#include "search_space/error.h"
#include "search_space/weights.h"
#include "search_space/yaml_json.h"
#include "trainer/checkpoint.h"
#include "trainer/evaluate.h"
#include "trainer/loader.h"
#include "trainer/perf.h"

namespace srnas {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

void write_json(const fs::path& path, const json& j) {
  fs::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream f(tmp);
    if (!f) throw Error(fmt::format("{}: cannot write", tmp.string()));
    f << j.dump(2) << "\n";
    f.flush();
    if (!f) throw Error(fmt::format("{}: write failed (disk full?)", tmp.string()));  // never renamed into place
  }
  fs::rename(tmp, path);
}

// options.ema: the weights' exponential moving average, kept in a network of its own (the
// same genome) so that validation and the saved weights run it as they would the raw one.
void ema_update(SRNet& ema, SRNet& net, double decay) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> e = ema->parameters(), w = net->parameters();
  for (size_t i = 0; i < e.size(); ++i) e[i].mul_(decay).add_(w[i].detach(), 1.0 - decay);
}

void ema_copy(SRNet& ema, SRNet& net) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> e = ema->parameters(), w = net->parameters();
  for (size_t i = 0; i < e.size(); ++i) e[i].copy_(w[i]);
}

// What a checkpoint must be continued with: the options that decide the numbers, but for
// `iterations` (successive halving and `--set iterations=N` extend a run from its checkpoint).
json resumable_options(const TrainOptions& opt) {
  json o = decisive_train_json(opt);
  o.erase("iterations");
  return o;
}

// checkpoint/ = model.safetensors + optimizer.pt + state.json (+ ema.safetensors, + reparam.safetensors:
// the expanded convs of options.reparam, model.safetensors then holding their fused values),
// replaced atomically. state.json records resumable_options(opt).
void save_checkpoint(const fs::path& out, SRNet& net, torch::optim::Adam& adam, int64_t iteration,
                     const Genome& genome, const TrainOptions& opt, SRNet& ema, Conv3XCReparam& rep) {
  fs::path tmp = out / kCheckpointTmpDir, dst = out / kCheckpointDir, old = out / kCheckpointOldDir;
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  if (!rep.is_empty()) {
    rep->bake();
    save_weights(*rep, (tmp / "reparam.safetensors").string());
  }
  save_weights(*net, (tmp / "model.safetensors").string());
  if (!ema.is_empty()) save_weights(*ema, (tmp / "ema.safetensors").string());
  torch::save(adam, (tmp / "optimizer.pt").string());
  write_json(tmp / "state.json", {{"iteration", iteration},
                                  {"genome_hash", genome_hash(genome)},
                                  {"seed", opt.seed},
                                  {"loader_next_batch", iteration},
                                  {"options", resumable_options(opt)}});
  fs::remove_all(old);
  if (fs::exists(dst)) fs::rename(dst, old);
  fs::rename(tmp, dst);
  fs::remove_all(old);
}

int64_t load_checkpoint(const fs::path& out, SRNet& net, torch::optim::Adam& adam, const Genome& genome,
                        const TrainOptions& opt, SRNet& ema, Conv3XCReparam& rep) {
  fs::path dir = out / kCheckpointDir;
  json state;
  try {
    state = json::parse(std::ifstream(dir / "state.json"));
  } catch (const json::exception& e) {
    throw Error(fmt::format("{}: unreadable checkpoint state: {}", (dir / "state.json").string(), e.what()));
  }
  if (state.value("genome_hash", "") != genome_hash(genome))
    throw Error(fmt::format("{}: checkpoint is for genome {}, not {}", dir.string(), state.value("genome_hash", "?"),
                            genome_hash(genome)));
  if (state.contains("options")) {  // checkpoints before 2026-12-06 do not record them
    const std::vector<std::string> diffs = setting_differences(state["options"], resumable_options(opt));
    if (!diffs.empty())
      throw Error(fmt::format("{}: the run was started with other training options ({}); continuing it would mix "
                              "two runs: set them back, or train into another folder",
                              dir.string(), fmt::join(diffs, "; ")));
  }
  load_weights(*net, (dir / "model.safetensors").string());
  const bool has_rep = fs::exists(dir / "reparam.safetensors");
  if (has_rep != !rep.is_empty())
    throw Error(fmt::format("{}: this run started {} options.reparam", dir.string(), has_rep ? "with" : "without"));
  if (has_rep) load_weights(*rep, (dir / "reparam.safetensors").string());
  torch::load(adam, (dir / "optimizer.pt").string());
  if (!ema.is_empty()) {
    if (!fs::exists(dir / "ema.safetensors"))
      throw Error(fmt::format("{}: no ema.safetensors: this run started without options.ema", dir.string()));
    load_weights(*ema, (dir / "ema.safetensors").string());
  }
  return state.at("iteration").get<int64_t>();
}

void set_lr(torch::optim::Adam& adam, double lr) {
  for (auto& group : adam.param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
}

}  // namespace

bool has_checkpoint(const fs::path& run_dir) {
  // A save killed between its two renames left no checkpoint/, but a complete checkpoint.old/:
  // the one it was replacing. Put it back rather than start the run again.
  const fs::path dst = run_dir / kCheckpointDir, old = run_dir / kCheckpointOldDir;
  std::error_code ec;
  if (!fs::exists(dst) && fs::exists(old / "state.json")) {
    fs::rename(old, dst, ec);  // another rank of the group may have done it: then dst is there
    if (ec && !fs::exists(dst))
      throw Error(fmt::format("{}: cannot put the checkpoint back in place ({}): {}", old.string(),
                              dst.filename().string(), ec.message()));
  }
  return fs::exists(dst / "state.json");
}

std::string remove_checkpoint(const fs::path& run_dir) {
  std::string first;
  for (const char* name : {kCheckpointDir, kCheckpointTmpDir, kCheckpointOldDir}) {
    std::error_code ec;
    fs::remove_all(run_dir / name, ec);
    if (ec && first.empty()) first = fmt::format("{}: {}", (run_dir / name).string(), ec.message());
  }
  return first;
}

torch::Tensor pixel_loss(const torch::Tensor& sr, const torch::Tensor& hr, const LossOptions& loss) {
  const torch::Tensor s = sr.to(torch::kFloat32);
  if (loss.type == "l1") return torch::l1_loss(s, hr);
  if (loss.type == "l2") return torch::mse_loss(s, hr);
  if (loss.type == "charbonnier") return torch::sqrt((s - hr).square() + loss.eps * loss.eps).mean();
  throw Error(fmt::format("options.loss: expected l1, l2 or charbonnier, got '{}'", loss.type));
}

torch::Tensor train_step_async(SRNet& net, torch::optim::Adam& adam, const torch::Tensor& lr, const torch::Tensor& hr,
                               GradientReducer* reducer, torch::ScalarType autocast, const LossOptions& loss_opt) {
  torch::Tensor sr;
  {
    AutocastScope amp(lr.device(), autocast);
    sr = net->forward(lr);
  }
  torch::Tensor loss = pixel_loss(sr, hr, loss_opt);
  adam.zero_grad();
  loss.backward();
  if (reducer) {  // what the optimizer updates (options.reparam: the expanded convs, not the fused)
    std::vector<torch::Tensor> grads;
    for (auto& group : adam.param_groups())
      for (auto& p : group.params()) grads.push_back(p.grad());
    reducer->average(grads);
  }
  adam.step();
  return loss.detach();
}

double train_step(SRNet& net, torch::optim::Adam& adam, const torch::Tensor& lr, const torch::Tensor& hr,
                  GradientReducer* reducer, torch::ScalarType autocast, const LossOptions& loss) {
  return train_step_async(net, adam, lr, hr, reducer, autocast, loss).item<double>();
}

double seconds_per_step(const Genome& genome, const TrainOptions& opt, int warmup, int steps) {
  if (steps < 1) throw Error(fmt::format("seconds_per_step: steps must be >= 1, got {}", steps));
  const torch::Device device = pick_device(opt.device);
  torch::manual_seed(opt.seed);
  SRNet net(genome);
  net->to(device);
  net->train();
  configure_backend(opt.perf, device);
  if (opt.perf.channels_last) to_channels_last(*net);
  const torch::ScalarType autocast = precision_dtype(opt.perf.precision, "options.perf.precision");
  Conv3XCReparam rep(nullptr);  // a re-parameterised step also fuses its convs' weights
  if (!opt.reparam.type.empty()) rep = Conv3XCReparam(net, genome, opt.reparam.gain);
  torch::optim::Adam adam(rep.is_empty() ? net->parameters() : rep->trainable(),
                          torch::optim::AdamOptions(opt.lr).betas({opt.beta1, opt.beta2}));
  const int64_t n = opt.batch_size, p = opt.patch_lr;
  const torch::Tensor lr = in_format(torch::rand({n, 3, p, p}).to(device), opt.perf.channels_last);
  const torch::Tensor hr = in_format(torch::rand({n, 3, 4 * p, 4 * p}).to(device), opt.perf.channels_last);
  auto step = [&] {
    if (!rep.is_empty()) rep->apply();
    return train_step(net, adam, lr, hr, nullptr, autocast, opt.loss);  // reads the loss: synchronises
  };
  for (int i = 0; i < warmup; ++i) step();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) step();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / steps;
}

TrainResult train(const Genome& genome, const TrainData& data, const TrainOptions& opt, const std::string& out_dir,
                  bool resume, const TrainHooks& hooks) {
  using clock = std::chrono::steady_clock;
  const fs::path out(out_dir);
  fs::create_directories(out);
  const torch::Device device = pick_device(opt.device);
  const int dp_rank = hooks.reducer ? hooks.reducer->rank() : 0;
  const int dp_size = hooks.reducer ? hooks.reducer->size() : 1;
  GradientReducer* const group = dp_size > 1 ? hooks.reducer : nullptr;  // ranks that decide together
  if (opt.batch_size % dp_size)
    throw Error(fmt::format("batch_size {} is not divisible by the {} data-parallel ranks", opt.batch_size, dp_size));

  // 1. Model and optimizer, initialised from the seed.
  torch::manual_seed(opt.seed);
  SRNet net(genome);
  net->to(device);
  configure_backend(opt.perf, device);
  if (opt.perf.channels_last) to_channels_last(*net);
  const torch::ScalarType autocast = precision_dtype(opt.perf.precision, "options.perf.precision");
  // On a GPU the loss is read back only when it is logged or checked, so steps queue up.
  const bool sync_each_step = !device.is_cuda();
  // options.reparam: the 3x3 convs train through expanded parameters (trainer/reparam.h).
  Conv3XCReparam rep(nullptr);
  if (!opt.reparam.type.empty()) rep = Conv3XCReparam(net, genome, opt.reparam.gain);
  torch::optim::Adam adam(rep.is_empty() ? net->parameters() : rep->trainable(),
                          torch::optim::AdamOptions(opt.lr).betas({opt.beta1, opt.beta2}).weight_decay(opt.weight_decay));
  // The weights' moving average (options.ema): validated and saved instead of the raw ones.
  SRNet ema(nullptr);
  if (opt.ema_decay > 0) {
    ema = SRNet(genome);
    ema->to(device);
    if (opt.perf.channels_last) to_channels_last(*ema);
  }
  int64_t start = 0;
  if (resume && has_checkpoint(out)) start = load_checkpoint(out, net, adam, genome, opt, ema, rep);
  else if (!hooks.init_weights.empty()) {
    if (!rep.is_empty()) throw Error("options.reparam: cannot start from given weights (--init): they are the fused convs");
    load_weights(*net, hooks.init_weights);  // fine-tuning
  }
  if (group) {  // every rank continues from the same iteration: rank 0 writes the checkpoints
    double v[2] = {double(start), double(start) * double(start)};
    group->sum(v, 2);
    if (v[0] * v[0] != v[1] * dp_size)
      throw Error(fmt::format("{}: the {} ranks of this data-parallel group found different checkpoints (iteration {} "
                              "on rank {}): they must share the run folder",
                              out.string(), dp_size, start, dp_rank));
  }
  if (!ema.is_empty() && start == 0) {  // the average starts at the initial deployed weights:
    if (!rep.is_empty()) rep->bake();   // re-parameterised, the fused convs, not the genome init's
    ema_copy(ema, net);
  }
  if (dp_rank == 0) {
    write_json(out / "genome.json", to_json(genome));
    write_json(out / "options.json", to_json(opt));
  }

  // 2. Loader: batch k is a pure function of (seed, k), so resuming at `start` is exact.
  LoaderOptions lo;
  lo.batch_size = opt.batch_size;
  lo.patch_lr = opt.patch_lr;
  lo.augment = opt.augment;
  lo.workers = opt.workers;
  lo.queue_depth = opt.queue_depth;
  lo.seed = opt.seed;
  lo.slice_begin = dp_rank * (opt.batch_size / dp_size);
  lo.slice_end = (dp_rank + 1) * (opt.batch_size / dp_size);
  PatchLoader loader(data.train, lo, start);

  std::ofstream log(out / "log.jsonl", std::ios::app);
  TrainResult result;
  result.status = "complete";
  const auto t_begin = clock::now();
  double window_loss = 0;  // loss summed over the log window (host)
  int64_t window_n = 0;
  torch::Tensor pending_loss, last_loss;  // summed on the device since the last read-back
  int64_t pending_from = 0;
  bool stop_asked = false, group_stops = false;  // a group: this rank was asked to stop; the group stops
  // Reads the pending losses back; false (status "diverged") if any was NaN/Inf, which
  // makes their sum non-finite. Runs every step on CPU, at log/validation/checkpoint
  // steps and at the end on a GPU: at the same iterations on every rank of a group, which
  // here sum their losses and stop requests, so they all see the same loss and decide alike.
  auto flush_losses = [&](int64_t done) {
    if (!pending_loss.defined()) return true;
    double v[3] = {pending_loss.item<double>(), last_loss.item<double>(), stop_asked ? 1.0 : 0.0};
    if (group) {
      group->sum(v, 3);
      v[0] /= dp_size;  // the mean of equal slices' means: the global batch's loss
      v[1] /= dp_size;
      group_stops = v[2] > 0;
    }
    const double sum = v[0];
    pending_loss = torch::Tensor();
    if (!std::isfinite(sum)) {
      result.status = "diverged";
      result.reason = done - pending_from == 1
                          ? fmt::format("loss is {} at iteration {}", sum, pending_from)
                          : fmt::format("loss is {} within iterations {}..{}", sum, pending_from, done - 1);
      return false;
    }
    window_loss += sum;
    result.final_loss = v[1];
    return true;
  };

  // Data-parallel: rank 0 validates (the others would compute the same numbers, which nobody
  // reads) while the others wait for it in the next step's all-reduce.
  auto validate = [&](int64_t it) {
    if (dp_rank != 0 || !data.val || data.val->empty()) return;
    if (!rep.is_empty()) rep->bake();
    QualityResult q = evaluate_quality(model_function(ema.is_empty() ? net : ema), *data.val, device);
    net->train();
    result.val_psnr_rgb = q.psnr_rgb;
    result.val_psnr_y = q.psnr_y;
    if (dp_rank == 0) log << json{{"it", it}, {"val_psnr_rgb", q.psnr_rgb}, {"val_psnr_y", q.psnr_y}}.dump() << std::endl;
  };

  // 3. The loop.
  net->train();
  int64_t it = start;
  for (; it < opt.iterations; ++it) {
    if (hooks.should_stop && hooks.should_stop()) {
      stop_asked = true;
      if (!group) {
        result.status = "stopped";
        result.reason = fmt::format("stopped at iteration {}", it);
        break;
      }  // a group stops together, after the next read-back
    }
    const double lr = learning_rate(opt, it);
    set_lr(adam, lr);

    Batch b = loader.next();
    const int64_t n = b.n, p = b.patch_lr, P = p * b.scale;
    torch::Tensor lr_t = host_to_device(torch::from_blob(b.lr.data(), {n, 3, p, p}, torch::kFloat32), device, opt.perf.pin_memory);
    torch::Tensor hr_t = host_to_device(torch::from_blob(b.hr.data(), {n, 3, P, P}, torch::kFloat32), device, opt.perf.pin_memory);
    lr_t = in_format(lr_t, opt.perf.channels_last);
    hr_t = in_format(hr_t, opt.perf.channels_last);

    if (!rep.is_empty()) rep->apply();  // the fused 3x3 weights, through which this step's gradients flow
    torch::Tensor loss_t = train_step_async(net, adam, lr_t, hr_t, hooks.reducer, autocast, opt.loss);
    if (!ema.is_empty()) {
      if (!rep.is_empty()) rep->bake();  // the average is of the deployed (fused) weights
      ema_update(ema, net, opt.ema_decay);
    }
    if (!pending_loss.defined()) pending_from = it;
    pending_loss = pending_loss.defined() ? pending_loss + loss_t : loss_t;
    last_loss = loss_t;
    ++window_n;

    const int64_t done = it + 1;
    const bool log_now = done % opt.log_every == 0 || done == opt.iterations;
    const bool val_now = opt.val_every > 0 && done % opt.val_every == 0 && done != opt.iterations;
    const bool ckpt_now = opt.checkpoint_every > 0 && done % opt.checkpoint_every == 0 && done != opt.iterations;
    if ((sync_each_step || log_now || val_now || ckpt_now) && !flush_losses(done)) break;
    if (group_stops && done < opt.iterations) {
      it = done;
      result.status = "stopped";
      result.reason = fmt::format("stopped at iteration {}", done);
      break;
    }
    if (val_now) validate(done);
    if (log_now || val_now) {
      TrainProgress pr{done, opt.iterations, window_loss / double(std::max<int64_t>(1, window_n)), lr,
                       std::chrono::duration<double>(clock::now() - t_begin).count(),
                       val_now ? result.val_psnr_rgb : NAN};
      if (dp_rank == 0)
        log << json{{"it", done}, {"loss", pr.loss}, {"lr", lr}, {"elapsed_s", pr.elapsed_s},
                    {"threads", torch::get_num_threads()}}.dump()
            << std::endl;  // flushed: `tail -f log.jsonl` follows a trial
      if (hooks.on_log) hooks.on_log(pr);
      if (!hooks.quiet && dp_rank == 0)
        fmt::print(stderr, "[train] {}/{} mean loss {:.5f} lr {:.2e} {:.1f} it/s{}\n", done, opt.iterations, pr.loss, lr,
                   double(done - start) / std::max(1e-9, pr.elapsed_s),
                   val_now ? fmt::format(" val PSNR {:.3f} dB", result.val_psnr_rgb) : "");
      window_loss = 0;
      window_n = 0;
    }
    if (ckpt_now && dp_rank == 0)
      save_checkpoint(out, net, adam, done, genome, opt, ema, rep);
  }
  if (result.status == "stopped") flush_losses(it);
  result.iterations = it;
  result.train_seconds = std::chrono::duration<double>(clock::now() - t_begin).count();
  result.loader_wait_s = loader.wait_seconds();

  // 4. Final checkpoint, weights, validation, result.
  if (result.status != "diverged") {
    if (dp_rank == 0) save_checkpoint(out, net, adam, it, genome, opt, ema, rep);
    if (result.status == "complete") {
      validate(it);
      result.weights_path = (out / "weights.safetensors").string();
      if (dp_rank == 0)
        save_weights(ema.is_empty() ? *net : *ema, result.weights_path, {}, {{"genome_hash", genome_hash(genome)}});
    }
  }
  if (dp_rank == 0) {
    json r = {{"status", result.status},          {"reason", result.reason},
              {"iterations", result.iterations},  {"final_loss", std::isfinite(result.final_loss) ? json(result.final_loss) : json(nullptr)},
              {"val_psnr_rgb", std::isfinite(result.val_psnr_rgb) ? json(result.val_psnr_rgb) : json(nullptr)},
              {"val_psnr_y", std::isfinite(result.val_psnr_y) ? json(result.val_psnr_y) : json(nullptr)},
              {"train_seconds", result.train_seconds}, {"loader_wait_s", result.loader_wait_s},
              {"weights", result.weights_path}};
    write_json(out / "result.json", r);
  }
  return result;
}

}  // namespace srnas
