// Internals the data-set code shares between its files (dataset.cpp, image_store.cpp): not an
// interface for the rest of srnas. Plain C++, no LibTorch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "trainer/image.h"

namespace srnas::data_detail {

// 64-bit FNV-1a of s (cache folder and file names).
uint64_t fnv1a64(const std::string& s);

// p made absolute and normalised (symlinks resolved where they exist), no trailing '/'.
std::filesystem::path absolute_dir(const std::filesystem::path& p);

// $SRNAS_CACHE, else $XDG_CACHE_HOME/srnas, else $HOME/.cache/srnas; throws when none is set.
std::filesystem::path default_cache_root();

// A source file's size and modification time: what the caches compare to notice a change.
struct FileStamp {
  int64_t size_bytes = -1;
  int64_t mtime_ns = 0;
  bool operator==(const FileStamp& o) const { return size_bytes == o.size_bytes && mtime_ns == o.mtime_ns; }
};
FileStamp stamp_of(const std::filesystem::path& p);  // throws naming p when it cannot be read

// Runs fn(i) for i in [0, n) on a few threads; rethrows the error of the lowest failing index
// (every index below it runs), so which error surfaces does not depend on timing.
void parallel_for_each(size_t n, const std::function<void(size_t)>& fn);

// An exclusive advisory lock (flock) on the file at path, created if missing, held for the
// object's life: processes that build the same cache (the ranks of a node) take turns. Where
// the lock file cannot be created because its folder is read-only (a shared, prepared cache),
// there is nothing to build there and no lock is taken; other failures throw naming path.
class FileLock {
 public:
  explicit FileLock(const std::string& path);  // blocks
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

// Writes img as PNG at path through a hidden temporary file in the same folder and a rename, so
// a reader sees the old file or the new one, never a part.
void write_png_atomic(const std::string& path, const Image& img);

// Reads path and modcrops it to a multiple of scale (errors name the file).
Image read_modcropped(const std::string& path, int scale);

}  // namespace srnas::data_detail
