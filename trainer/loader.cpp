// Patch sampling (plain loops over precomputed strides) and the ordered background queue.
#include "trainer/loader.h"

#include <algorithm>
#include <chrono>
#include <cstddef>

#include <fmt/core.h>

#include "search_space/error.h"
#include "search_space/rng.h"

namespace srnas {

namespace {

uint64_t sample_seed(uint64_t seed, int64_t k, int i) {
  const uint64_t batch_seed = splitmix64(splitmix64(seed) ^ static_cast<uint64_t>(k));
  return splitmix64(batch_seed ^ splitmix64(0x5eed0000ull + static_cast<uint64_t>(i)));
}

// value / 255.f for every byte value (exactly the division, at table-lookup cost).
struct ByteToFloat {
  float v[256];
  ByteToFloat() {
    for (int b = 0; b < 256; ++b) v[b] = static_cast<float>(b) / 255.f;
  }
};
const ByteToFloat kByteToFloat;

// Copies the P x P patch of img at (y0, x0) under dihedral transform t into dst (3 planes of P*P,
// CHW). The source walk for output (i, j) is origin + i*step_i + j*step_j, in bytes.
void copy_patch(const ImageView& img, int y0, int x0, int P, int t, float* dst) {
  const ptrdiff_t row = static_cast<ptrdiff_t>(img.w) * 3;
  const bool transpose = (t & 4) != 0, flip_a = (t & 2) != 0, flip_b = (t & 1) != 0;
  const ptrdiff_t a_step = flip_a ? -row : row;  // a: source row
  const ptrdiff_t b_step = flip_b ? -3 : 3;      // b: source column
  const uint8_t* origin = img.rgb + (y0 + (flip_a ? P - 1 : 0)) * row + (x0 + (flip_b ? P - 1 : 0)) * 3;
  const ptrdiff_t step_i = transpose ? b_step : a_step;
  const ptrdiff_t step_j = transpose ? a_step : b_step;
  const size_t plane = static_cast<size_t>(P) * P;
  const float* lut = kByteToFloat.v;
  for (int i = 0; i < P; ++i) {
    const uint8_t* s = origin + i * step_i;
    float* d0 = dst + static_cast<size_t>(i) * P;
    float* d1 = d0 + plane;
    float* d2 = d1 + plane;
    if (step_j == 3) {
      for (int j = 0; j < P; ++j, s += 3) {
        d0[j] = lut[s[0]];
        d1[j] = lut[s[1]];
        d2[j] = lut[s[2]];
      }
    } else {
      for (int j = 0; j < P; ++j, s += step_j) {
        d0[j] = lut[s[0]];
        d1[j] = lut[s[1]];
        d2[j] = lut[s[2]];
      }
    }
  }
}

}  // namespace

void validate_loader(const DecodedImages& data, const LoaderOptions& opt) {
  if (opt.batch_size < 1) throw Error(fmt::format("loader: batch_size must be >= 1, got {}", opt.batch_size));
  if (opt.patch_lr < 1) throw Error(fmt::format("loader: patch_size must be >= 1 LR pixel, got {}", opt.patch_lr));
  if (opt.scale < 1) throw Error(fmt::format("loader: scale must be >= 1, got {}", opt.scale));
  if (opt.workers < 1) throw Error(fmt::format("loader.workers: must be >= 1, got {}", opt.workers));
  if (opt.queue_depth < 1) throw Error(fmt::format("loader.queue_depth: must be >= 1, got {}", opt.queue_depth));
  if (data.empty()) throw Error("loader: no training images");
  const PairView* smallest = nullptr;
  for (const PairView& p : data.pairs()) {
    if (p.lr.empty() || !p.lr.rgb || !p.hr.rgb || p.lr.h * opt.scale != p.hr.h || p.lr.w * opt.scale != p.hr.w) {
      throw Error(fmt::format("loader: image '{}': HR {}x{} and LR {}x{} do not match at x{}", p.name, p.hr.h, p.hr.w,
                              p.lr.h, p.lr.w, opt.scale));
    }
    if (!smallest || std::min(p.lr.h, p.lr.w) < std::min(smallest->lr.h, smallest->lr.w)) smallest = &p;
  }
  if (opt.patch_lr > std::min(smallest->lr.h, smallest->lr.w)) {
    throw Error(fmt::format("loader: patch_size {0}x{0} (LR) is larger than image '{1}' (LR {2}x{3}, HR {4}x{5})",
                            opt.patch_lr, smallest->name, smallest->lr.h, smallest->lr.w, smallest->hr.h,
                            smallest->hr.w));
  }
}

Batch make_batch_slice(const DecodedImages& data, const LoaderOptions& opt, int64_t k, int begin, int end) {
  validate_loader(data, opt);
  if (begin < 0 || end < begin || end > opt.batch_size) {
    throw Error(fmt::format("loader: slice [{}, {}) is not within batch_size {}", begin, end, opt.batch_size));
  }
  const int p = opt.patch_lr, s = opt.scale, ph = p * s;
  Batch b;
  b.index = k;
  b.n = end - begin;
  b.patch_lr = p;
  b.scale = s;
  const size_t lr_sample = size_t(3) * p * p, hr_sample = size_t(3) * ph * ph;
  b.lr.resize(lr_sample * b.n);
  b.hr.resize(hr_sample * b.n);
  for (int i = begin; i < end; ++i) {
    Rng rng(sample_seed(opt.seed, k, i));
    const PairView& img = data[rng.below(data.size())];
    const int y = static_cast<int>(rng.below(static_cast<uint64_t>(img.lr.h - p + 1)));
    const int x = static_cast<int>(rng.below(static_cast<uint64_t>(img.lr.w - p + 1)));
    const int t = opt.augment ? static_cast<int>(rng.below(8)) : 0;
    copy_patch(img.lr, y, x, p, t, b.lr.data() + lr_sample * (i - begin));
    copy_patch(img.hr, y * s, x * s, ph, t, b.hr.data() + hr_sample * (i - begin));
  }
  return b;
}

Batch make_batch(const DecodedImages& data, const LoaderOptions& opt, int64_t k) {
  return make_batch_slice(data, opt, k, 0, opt.batch_size);
}

PatchLoader::PatchLoader(std::shared_ptr<const DecodedImages> data, LoaderOptions opt, int64_t start_batch)
    : data_(std::move(data)), opt_(opt), next_claim_(start_batch), next_consume_(start_batch) {
  if (!data_) throw Error("loader: no training images");
  validate_loader(*data_, opt_);
  threads_.reserve(opt_.workers);
  for (int w = 0; w < opt_.workers; ++w) threads_.emplace_back([this] { work(); });
}

PatchLoader::~PatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void PatchLoader::work() {
  for (;;) {
    int64_t k;
    {
      std::unique_lock<std::mutex> lock(mu_);
      // At most queue_depth batches are built or being built ahead of the consumer.
      cv_.wait(lock, [&] { return stop_ || next_claim_ < next_consume_ + opt_.queue_depth; });
      if (stop_) return;
      k = next_claim_++;
    }
    Batch b;
    std::exception_ptr err;
    try {
      b = make_batch_slice(*data_, opt_, k, opt_.slice_begin, opt_.slice_end < 0 ? opt_.batch_size : opt_.slice_end);
    } catch (...) {
      err = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (err) {
        failed_[k] = err;
      } else {
        ready_[k] = std::move(b);
      }
    }
    cv_.notify_all();
  }
}

Batch PatchLoader::next() {
  std::unique_lock<std::mutex> lock(mu_);
  const int64_t k = next_consume_;
  auto have = [&] { return ready_.count(k) > 0 || failed_.count(k) > 0; };
  if (!have()) {
    const auto t0 = std::chrono::steady_clock::now();
    cv_.wait(lock, have);
    wait_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  if (auto f = failed_.find(k); f != failed_.end()) std::rethrow_exception(f->second);
  Batch b = std::move(ready_[k]);
  ready_.erase(k);
  ++next_consume_;
  lock.unlock();
  cv_.notify_all();
  return b;
}

double PatchLoader::wait_seconds() const {
  std::lock_guard<std::mutex> lock(mu_);
  return wait_s_;
}

}  // namespace srnas
