// Decoded image pairs (the training images for the patch loader, the validation images for the
// evaluator): held in this process's memory, or mapped read-only from a decoded-image cache
// file, so that every process on a node (mpirun -np 8) shares one copy through the page cache
// and a later run starts without decoding anything.
//
// Contract: a DecodedImages is immutable and its views stay valid while it lives (it owns the
// memory or the mapping). The mapped and the in-memory store hold the same bytes, so batches do
// not depend on the store. The cache file is built under an exclusive lock (flock on
// FILE.lock), written to a temporary file, synced, then renamed: a reader sees a complete file
// or none, concurrent processes decode once, and a crash leaves no half-written cache. It is
// rebuilt when any source image changes (size or mtime) and when it is damaged. Plain C++.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "trainer/dataset.h"

namespace srnas {

struct PairView {
  std::string name;
  ImageView hr;  // modcropped
  ImageView lr;  // lr.h * scale == hr.h, lr.w * scale == hr.w
};

class DecodedImages {
 public:
  // The in-memory store: keeps pairs and views them.
  explicit DecodedImages(std::vector<LoadedPair> pairs);
  ~DecodedImages();
  DecodedImages(const DecodedImages&) = delete;
  DecodedImages& operator=(const DecodedImages&) = delete;

  size_t size() const { return views_.size(); }
  bool empty() const { return views_.empty(); }
  const PairView& operator[](size_t i) const { return views_[i]; }
  const std::vector<PairView>& pairs() const { return views_; }
  size_t decoded_bytes() const { return bytes_; }
  // The cache file mapped, "" for the in-memory store.
  const std::string& mapped_path() const { return path_; }

 private:
  DecodedImages() = default;
  friend std::shared_ptr<const DecodedImages> map_decoded(const Dataset&, const std::string&,
                                                        const std::function<void(const std::string&)>&);
  std::vector<LoadedPair> owned_;
  void* map_ = nullptr;  // munmap'ed by the destructor
  size_t map_len_ = 0;
  std::vector<PairView> views_;
  size_t bytes_ = 0;
  std::string path_;
};

// Where map_decoded keeps the cache file of ds: cache_dir/decoded/<16-hex FNV-1a of the scale
// and the absolute HR and LR paths>_x<scale>.srimg; cache_dir "" means the LR cache's root
// ($SRNAS_CACHE, else $XDG_CACHE_HOME/srnas, else $HOME/.cache/srnas).
std::string decoded_cache_path(const Dataset& ds, const std::string& cache_dir = "");

// Maps ds's decoded images from their cache file, building it first (several threads) when it is
// missing, stale or damaged. log receives progress lines ("[data] ..."; default: stderr). The file
// holds a JSON index (every image's name, source paths, sizes, mtimes, offsets) and the HR and LR
// pixels. Throws, naming the file, for an empty data set, an image that cannot be decoded, HR/LR
// sizes that disagree, or too little free disk space (checked before anything is written).
std::shared_ptr<const DecodedImages> map_decoded(const Dataset& ds, const std::string& cache_dir = "",
                                               const std::function<void(const std::string&)>& log = {});

// One decoded-image cache file, as found in a cache folder.
struct DecodedCacheFile {
  std::string path;
  size_t bytes = 0;    // on disk
  int images = 0;
  std::string source;  // the first image's HR folder
  std::string status;  // "current", or why not: "stale: <file> changed", "stale: <file> is gone", "damaged"
};

// The *.srimg files under cache_dir/decoded ("" = the default root), sorted by path, each checked
// against its sources (size and mtime of every image it holds).
std::vector<DecodedCacheFile> list_decoded_caches(const std::string& cache_dir = "");

// Deletes the files of list_decoded_caches that are not current (each checked again under its
// lock; the small lock files stay) and returns them. A process that still maps one keeps
// reading it; the space is free once it lets go.
std::vector<DecodedCacheFile> prune_decoded_caches(const std::string& cache_dir = "");

// "113.0 MiB" below 1 GiB, else "30.12 GiB": how the store and `srnas plan` print sizes.
std::string size_text(double bytes);

// Bytes the decoded images of ds take (HR modcropped + LR), from the image headers; an image
// whose header cannot be read counts 0; sizes that disagree throw (pair_decoded_bytes_estimate).
size_t decoded_size_estimate(const Dataset& ds);

// The validation images' cap (max_bytes): loader.max_memory_mb caps the training images only.
constexpr size_t kValImagesMaxBytes = size_t(16) << 30;

// How load_images holds a data set's images (the training or the validation set).
struct StoreOptions {
  std::string store = "auto";  // loader.store: auto | memory | mapped
  size_t max_bytes = 0;        // loader.max_memory_mb in bytes; 0 = no cap
  bool shared_on_node = false;  // several processes on this node load the same images
  bool quiet = false;           // no note on what `auto` chose (the decoding progress still shows)
  std::string cache_dir;        // "" = the LR cache's root
};

// Whether `opt` maps images that decode to decoded_bytes (the rule below); why (when
// not null) gets what `auto` went by. Throws for a store name other than auto, memory, mapped.
bool store_maps(const StoreOptions& opt, size_t decoded_bytes, std::string* why = nullptr);

// "current" when ds's cache file is there and up to date, else why not ("missing", "the images
// changed", "damaged ..."). Reads the image headers, writes nothing.
std::string decoded_cache_status(const Dataset& ds, const std::string& cache_dir = "");

// The images of ds: "memory" = load_pairs(ds, max_bytes); "mapped" =
// map_decoded(ds, cache_dir); "auto" = mapped when shared_on_node or when the decoded size is
// above max_bytes (saying which on stderr), else memory. Throws for another store name.
std::shared_ptr<const DecodedImages> load_images(const Dataset& ds, const StoreOptions& opt);

}  // namespace srnas
