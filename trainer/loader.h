// Training patches: random aligned LR/HR crops with the 8 flips/rotations, built ahead by threads.
//
// Contract: batch k is a pure function of (seed, k, data), so any worker or data-parallel rank can
// build any batch and the sequence never depends on the number of workers; PatchLoader hands the
// batches out strictly in order. Sampling rules and transform numbering: see make_batch_slice.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "trainer/image_store.h"

namespace srnas {

struct LoaderOptions {
  int batch_size = 16;
  int patch_lr = 32;  // LR patch side in pixels; HR patch side = patch_lr * scale
  int scale = 4;
  bool augment = true;
  int workers = 2;
  int queue_depth = 8;  // batches built ahead of the consumer (including those in progress)
  uint64_t seed = 0;
  // PatchLoader hands out samples [slice_begin, slice_end) of each batch (data-parallel rank
  // r of g takes [r*B/g, (r+1)*B/g)); slice_end < 0 means batch_size.
  int slice_begin = 0;
  int slice_end = -1;
};

struct Batch {
  int64_t index = 0;  // k
  int n = 0;          // samples in this batch (or slice)
  int patch_lr = 0;
  int scale = 4;
  std::vector<float> lr;  // n x 3 x p x p, NCHW, value / 255.f
  std::vector<float> hr;  // n x 3 x (p*scale) x (p*scale)
};

// Throws srnas::Error for batch_size, patch_lr, workers or queue_depth < 1, scale < 1, no data,
// a pair whose sizes disagree with the scale, or a patch larger than the smallest LR image
// (naming that image and its sizes).
void validate_loader(const DecodedImages& data, const LoaderOptions& opt);

// Samples [begin, end) of batch k (0 <= begin <= end <= batch_size), equal value for value to
// the same samples of make_batch(data, opt, k); n = end - begin. For data-parallel ranks.
// Sample i draws from its own Rng seeded by splitmix64 mixes of (seed, k, i): image index uniform
// over images, LR top-left (y, x) uniform over valid positions, HR patch at (scale*y, scale*x),
// then (if augment) a transform t uniform in [0, 8), else t = 0, applied to both patches:
// out(i, j) = in((t&2) ? P-1-a : a, (t&1) ? P-1-b : b) with (a, b) = (t&4) ? (j, i) : (i, j).
Batch make_batch_slice(const DecodedImages& data, const LoaderOptions& opt, int64_t k, int begin, int end);

// Batch k: make_batch_slice(data, opt, k, 0, opt.batch_size).
Batch make_batch(const DecodedImages& data, const LoaderOptions& opt, int64_t k);

// Workers build batches start, start+1, ... ahead into a bounded queue; next() returns them in
// order. The destructor stops and joins the workers promptly, even when the queue is full.
class PatchLoader {
 public:
  PatchLoader(std::shared_ptr<const DecodedImages> data, LoaderOptions opt, int64_t start_batch = 0);
  ~PatchLoader();
  PatchLoader(const PatchLoader&) = delete;
  PatchLoader& operator=(const PatchLoader&) = delete;

  // Blocks until batch start + (calls so far) is ready; rethrows a worker's error for it.
  Batch next();
  // Total seconds next() has spent waiting for workers (the loader's overhead on training).
  double wait_seconds() const;

 private:
  void work();

  std::shared_ptr<const DecodedImages> data_;
  LoaderOptions opt_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  int64_t next_claim_ = 0;     // next batch a worker will build
  int64_t next_consume_ = 0;   // batch next() returns next
  std::map<int64_t, Batch> ready_;
  std::map<int64_t, std::exception_ptr> failed_;
  double wait_s_ = 0.0;
  std::vector<std::thread> threads_;
};

}  // namespace srnas
