#include <chrono>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "distributed/runner.h"
#include "distributed/search.h"
#include "search_space/registry.h"
#include "search_space/builder.h"
#include "search_space/error.h"
#include "trainer/data_split.h"
#include "trainer/dataset.h"
#include "trainer/evaluate.h"
#include "trainer/train.h"

namespace srnas {

namespace {

class LocalRunner : public CandidateRunner {
 public:
  LocalRunner(const SearchConfig& cfg, bool quiet, bool training_data, RunnerPlace place)
      : cfg_(cfg), quiet_(quiet), device_(pick_device(cfg.device)) {
    // The training and validation images as the study's options say (loader.store,
    // loader.max_memory_mb for the training images, 16 GiB for the validation images); several
    // ranks on a node share one mapped copy of each under `auto`. Without training (srnas ask)
    // only the runtime probe's images are decoded now; the rest of the validation set when the
    // bicubic floor needs it (once per study), not every call.
    val_set_ = open_val_set(cfg.data);
    const size_t n = cfg.runtime.max_images > 0 ? std::min<size_t>(val_set_.pairs.size(), size_t(cfg.runtime.max_images))
                                                : val_set_.pairs.size();
    if (training_data) {
      const TrainOptions base = load_train_options(cfg.train_options, cfg.train_set);
      StoreOptions so;
      so.store = base.store;
      so.max_bytes = size_t(base.max_memory_mb) << 20;
      so.shared_on_node = place.ranks_on_node > 1;
      so.quiet = !place.announce;
      data_.train = load_images(open_train_set(cfg.data), so);
      so.max_bytes = kValImagesMaxBytes;
      data_.val = load_images(val_set_, so);
    } else {
      data_.train = std::make_shared<const DecodedImages>(std::vector<LoadedPair>{});
      Dataset first = val_set_;
      first.pairs.resize(n);
      data_.val = std::make_shared<const DecodedImages>(load_pairs(first, kValImagesMaxBytes));
    }
    const auto& val = *data_.val;
    for (size_t i = 0; i < n; ++i) {
      torch::Tensor t = image_to_tensor(val[i].lr);
      if (cfg.runtime.crop_lr > 0) {
        int64_t c = cfg.runtime.crop_lr, h = t.size(2), w = t.size(3);
        int64_t ch = std::min(c, h), cw = std::min(c, w);
        t = t.slice(2, (h - ch) / 2, (h - ch) / 2 + ch).slice(3, (w - cw) / 2, (w - cw) / 2 + cw).contiguous();
      }
      probe_.push_back(t.to(device_));
    }
  }

  CandidateOutcome train(const CandidateJob& job) override {
    TrainHooks hooks;
    hooks.quiet = quiet_;
    hooks.reducer = job.reducer;
    hooks.init_weights = job.init_weights;
    auto last = std::chrono::steady_clock::now();
    // Without the trainer's own lines (a search without --verbose), a line a minute shows that
    // a long trial moves (from its group's first rank only).
    auto shown = last;
    if (quiet_ && (!job.reducer || job.reducer->rank() == 0))
      hooks.on_log = [&](const TrainProgress& p) {
        const auto now = std::chrono::steady_clock::now();
        if (now - shown < std::chrono::seconds(60) || p.iteration >= p.total) return;
        shown = now;
        fmt::print(stderr, "[search] trial {}: {}/{} iterations, loss {:.4f}, {:.0f} s in\n", job.trial_id, p.iteration,
                   p.total, p.loss, p.elapsed_s);
      };
    hooks.should_stop = [&] {
      auto now = std::chrono::steady_clock::now();
      if (job.heartbeat && now - last > std::chrono::seconds(2)) {
        job.heartbeat();
        last = now;
      }
      return job.should_stop && job.should_stop();
    };
    CandidateOutcome o;
    try {
      // Where the study measures (the search config's device), not the options' device: a
      // `device: cpu` study on a GPU node trains on the CPU (the GPU of this rank for cuda).
      if (data_.train->empty()) throw Error("this runner was made without training images (srnas ask trains nothing)");
      TrainOptions options = job.options;
      options.device = device_.is_cuda() ? "cuda" : "cpu";
      TrainResult r = srnas::train(job.genome, data_, options, job.run_dir, /*resume=*/true, hooks);
      o.status = r.status;
      o.reason = r.reason;
      o.iterations = r.iterations;
      o.psnr_rgb = r.val_psnr_rgb;
      o.psnr_y = r.val_psnr_y;
      o.train_seconds = r.train_seconds;
      o.weights_path = r.weights_path;
    } catch (const std::exception& e) {
      o.status = "failed";
      o.reason = e.what();
    }
    return o;
  }

  RuntimePair runtime(const Genome& g) override {
    RuntimeOptions ro;
    ro.runs = cfg_.runtime.runs;
    ro.warmup = cfg_.runtime.warmup;
    ro.precision = cfg_.runtime.precision;
    ro.channels_last = cfg_.runtime.channels_last;
    if (probe_in_.empty()) probe_in_ = runtime_inputs(probe_, ro);
    const Genome reference = load_arch("msrresnet").genome;
    auto timed = [&](const Genome& x) {
      torch::manual_seed(0);
      SRNet net(x);
      net->to(device_);
      return runtime_function(net, ro);
    };
    RuntimePair p;
    if (g == reference) {  // the baseline itself: ratio exactly 1
      p.runtime_s = p.ref_runtime_s = measure_runtime_s(timed(g), probe_in_, device_, ro);
      p.ratio = 1.0;
      ref_once_s_ = p.ref_runtime_s;
    } else if (cfg_.runtime.reference == "each") {
      RuntimeRatio r = measure_runtime_ratio(timed(g), timed(reference), probe_in_, device_, ro);
      p.runtime_s = r.runtime_s;
      p.ref_runtime_s = r.baseline_s;
      p.ratio = r.ratio;
    } else {
      if (std::isnan(ref_once_s_)) ref_once_s_ = measure_runtime_s(timed(reference), probe_in_, device_, ro);
      p.ref_runtime_s = ref_once_s_;
      p.runtime_s = measure_runtime_s(timed(g), probe_in_, device_, ro);
      p.ratio = p.runtime_s / p.ref_runtime_s;
    }
    return p;
  }

  BicubicFloor bicubic_floor() override {
    BicubicFloor f;
    if (data_.val->size() < val_set_.pairs.size())  // srnas ask: the probe's images only so far
      data_.val = std::make_shared<const DecodedImages>(load_pairs(val_set_, kValImagesMaxBytes));
    if (data_.val->empty()) return f;
    const QualityResult q = evaluate_quality(bicubic_function(), *data_.val, device_);
    f.psnr_rgb = q.psnr_rgb;
    f.psnr_y = q.psnr_y;
    return f;
  }

  std::string device() const override { return device_.str(); }

 private:
  SearchConfig cfg_;
  bool quiet_;
  torch::Device device_;
  TrainData data_;
  Dataset val_set_;  // data_.val decodes all of it, or (srnas ask) its first runtime.max_images
  std::vector<torch::Tensor> probe_;     // fp32 LR probe images on the device
  std::vector<torch::Tensor> probe_in_;  // the same in the runtime precision and layout
  double ref_once_s_ = NAN;              // reference: once
};

// Runs each submitted item when the loop waits for it: one worker, this process.
class LocalPool : public WorkerPool {
 public:
  LocalPool(std::unique_ptr<CandidateRunner> runner, std::string name, std::function<void()> on_tick)
      : runner_(std::move(runner)), name_(std::move(name)), on_tick_(std::move(on_tick)) {}
  int size() const override { return 1; }
  void submit(int, const WorkItem& item) override { pending_.push_back(item); }
  WorkResult wait_any(int* worker, const std::function<void()>& tick) override {
    if (pending_.empty()) throw Error("internal: wait_any with nothing submitted");
    WorkItem item = pending_.front();
    pending_.erase(pending_.begin());
    *worker = 0;
    auto beat = [&] {
      if (tick) tick();
      if (on_tick_) on_tick_();
    };
    return execute(*runner_, item, nullptr, beat, [] { return stop_requested(); });
  }
  std::string device() const override { return runner_->device(); }
  std::string worker_name(int) const override { return name_; }

 private:
  std::unique_ptr<CandidateRunner> runner_;
  std::string name_;
  std::function<void()> on_tick_;
  std::vector<WorkItem> pending_;
};

}  // namespace

std::unique_ptr<CandidateRunner> make_local_runner(const SearchConfig& cfg, bool quiet, bool training_data,
                                                   RunnerPlace place) {
  return std::make_unique<LocalRunner>(cfg, quiet, training_data, place);
}

std::unique_ptr<WorkerPool> make_local_pool(std::unique_ptr<CandidateRunner> runner, const std::string& name,
                                            std::function<void()> on_tick) {
  return std::make_unique<LocalPool>(std::move(runner), name, std::move(on_tick));
}

namespace {
const char* kind_name(WorkItem::Kind k) {
  return k == WorkItem::Kind::Probe ? "probe" : k == WorkItem::Kind::Train ? "train" : "stop";
}
WorkItem::Kind kind_from(const std::string& s) {
  if (s == "probe") return WorkItem::Kind::Probe;
  if (s == "train") return WorkItem::Kind::Train;
  if (s == "stop") return WorkItem::Kind::Stop;
  throw Error("work item: unknown kind '" + s + "'");
}
nlohmann::json num(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }
double num_from(const nlohmann::json& j) { return j.is_number() ? j.get<double>() : NAN; }
}  // namespace

nlohmann::json to_json(const WorkItem& w) {
  nlohmann::json j = {{"kind", kind_name(w.kind)}, {"trial_id", w.trial_id}, {"run_dir", w.run_dir},
                      {"solo", w.solo},         {"with_bicubic", w.with_bicubic}, {"init_weights", w.init_weights}};
  if (w.kind != WorkItem::Kind::Stop) {
    j["genome"] = to_json(w.genome);
    j["options"] = to_json(w.options);
  }
  return j;
}

WorkItem work_item_from_json(const nlohmann::json& j) {
  WorkItem w;
  w.kind = kind_from(j.at("kind").get<std::string>());
  w.trial_id = j.at("trial_id").get<int64_t>();
  w.run_dir = j.at("run_dir").get<std::string>();
  w.solo = j.value("solo", false);
  w.with_bicubic = j.value("with_bicubic", false);
  w.init_weights = j.value("init_weights", std::string());
  if (w.kind != WorkItem::Kind::Stop) {
    w.genome = genome_from_json(j.at("genome"));
    w.options = parse_train_options(j.at("options"), "work item");
  }
  return w;
}

nlohmann::json to_json(const WorkResult& r) {
  return {{"trial_id", r.trial_id},           {"kind", kind_name(r.kind)},
          {"status", r.outcome.status},       {"reason", r.outcome.reason},
          {"iterations", r.outcome.iterations}, {"psnr_rgb", num(r.outcome.psnr_rgb)},
          {"psnr_y", num(r.outcome.psnr_y)},  {"train_seconds", r.outcome.train_seconds},
          {"weights", r.outcome.weights_path}, {"runtime_s", num(r.runtime_s)},
          {"ref_runtime_s", num(r.ref_runtime_s)}, {"runtime_ratio", num(r.runtime_ratio)},
          {"bicubic_psnr_rgb", num(r.bicubic.psnr_rgb)}, {"bicubic_psnr_y", num(r.bicubic.psnr_y)}};
}

WorkResult work_result_from_json(const nlohmann::json& j) {
  WorkResult r;
  r.trial_id = j.at("trial_id").get<int64_t>();
  r.kind = kind_from(j.at("kind").get<std::string>());
  r.outcome.status = j.at("status").get<std::string>();
  r.outcome.reason = j.at("reason").get<std::string>();
  r.outcome.iterations = j.at("iterations").get<int64_t>();
  r.outcome.psnr_rgb = num_from(j.at("psnr_rgb"));
  r.outcome.psnr_y = num_from(j.at("psnr_y"));
  r.outcome.train_seconds = j.at("train_seconds").get<double>();
  r.outcome.weights_path = j.at("weights").get<std::string>();
  r.runtime_s = num_from(j.at("runtime_s"));
  r.ref_runtime_s = num_from(j.at("ref_runtime_s"));
  r.runtime_ratio = num_from(j.at("runtime_ratio"));
  r.bicubic.psnr_rgb = num_from(j.at("bicubic_psnr_rgb"));
  r.bicubic.psnr_y = num_from(j.at("bicubic_psnr_y"));
  return r;
}

WorkResult execute(CandidateRunner& runner, const WorkItem& item, GradientReducer* reducer,
                   const std::function<void()>& heartbeat, const std::function<bool()>& should_stop) {
  WorkResult r;
  r.trial_id = item.trial_id;
  r.kind = item.kind;
  if (item.kind == WorkItem::Kind::Probe) {
    try {  // e.g. a network too large for the device: that trial fails, the search goes on
      RuntimePair p = runner.runtime(item.genome);
      r.runtime_s = p.runtime_s;
      r.ref_runtime_s = p.ref_runtime_s;
      r.runtime_ratio = p.ratio;
      if (item.with_bicubic) r.bicubic = runner.bicubic_floor();
      r.outcome.status = "complete";
    } catch (const std::exception& e) {
      r.outcome.status = "failed";
      r.outcome.reason = std::string(item.with_bicubic ? "probe (runtime, bicubic floor): " : "runtime probe: ") + e.what();
    }
    return r;
  }
  CandidateJob job;
  job.trial_id = item.trial_id;
  job.genome = item.genome;
  job.options = item.options;
  job.run_dir = item.run_dir;
  job.init_weights = item.init_weights;
  job.heartbeat = heartbeat;
  job.should_stop = should_stop;
  job.reducer = reducer;
  r.outcome = runner.train(job);
  return r;
}

}  // namespace srnas
