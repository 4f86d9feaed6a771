#include <fmt/format.h>

#include "distributed/runner.h"
#include "search_space/builder.h"
#include "search_space/error.h"
#include "trainer/dataset.h"
#include "trainer/evaluate.h"
#include "trainer/train.h"

namespace srnas {

namespace {

Dataset open_split_of(const std::string& dir, const std::string& split) {
  try {
    return open_dataset(dir, split, 4);
  } catch (const Error&) {
    return open_dataset(dir, "", 4);  // a single folder serves as both
  }
}

class LocalRunner : public CandidateRunner {
 public:
  LocalRunner(const SearchConfig& cfg, bool quiet) : cfg_(cfg), quiet_(quiet), device_(pick_device(cfg.device)) {
    const size_t cap = size_t(16) << 30;
    data_.train = std::make_shared<std::vector<LoadedPair>>(load_pairs(open_split_of(cfg.data, "train"), cap));
    data_.val = std::make_shared<std::vector<LoadedPair>>(load_pairs(open_split_of(cfg.data, "val"), cap));
    const auto& val = *data_.val;
    size_t n = cfg.runtime.max_images > 0 ? std::min<size_t>(val.size(), size_t(cfg.runtime.max_images)) : val.size();
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
    auto last = std::chrono::steady_clock::now();
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
      TrainResult r = srnas::train(job.genome, data_, job.options, job.run_dir, /*resume=*/true, hooks);
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

  double runtime_s(const Genome& g) override {
    torch::manual_seed(0);
    SRNet net(g);
    net->to(device_);
    RuntimeOptions ro;
    ro.runs = cfg_.runtime.runs;
    ro.warmup = cfg_.runtime.warmup;
    return measure_runtime_s(model_function(net), probe_, device_, ro);
  }

  std::string device() const override { return device_.str(); }

 private:
  SearchConfig cfg_;
  bool quiet_;
  torch::Device device_;
  TrainData data_;
  std::vector<torch::Tensor> probe_;
};

}  // namespace

std::unique_ptr<CandidateRunner> make_local_runner(const SearchConfig& cfg, bool quiet) {
  return std::make_unique<LocalRunner>(cfg, quiet);
}

}  // namespace srnas
