// The decoded-image cache file: layout, validation, build under flock, mapping.
//
// File layout (little-endian):
//   [0, 16)   magic "SRNAS-DECODED-1\n"
//   [16, 24)  uint64 n: length of the JSON index
//   [24, 24+n) index: {"format": "srnas-decoded", "version": 1, "scale", "data_offset",
//             "file_bytes", "images": [{"name", "hr": {"path", "size_bytes", "mtime_ns", "h",
//             "w", "offset"}, "lr": {...}}]}
//   [data_offset, file_bytes)  the pixels, every image at its offset (64-byte aligned)
#include "trainer/image_store.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <mutex>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "search_space/error.h"
#include "trainer/dataset_util.h"

namespace srnas {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace data_detail;

namespace {

constexpr char kMagic[17] = "SRNAS-DECODED-1\n";
constexpr int kVersion = 1;
constexpr size_t kAlign = 64;
constexpr size_t kPage = 4096;

size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }



// Closes a file descriptor on scope exit.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

std::string errno_text() { return std::strerror(errno); }

// What one image of the cache holds and where it came from.
struct Entry {
  std::string path;
  FileStamp stamp;
  int h = 0, w = 0;
  size_t offset = 0;
};

struct Plan {
  std::vector<std::string> names;
  std::vector<Entry> hr, lr;
  size_t data_offset = 0, file_bytes = 0, pixel_bytes = 0;
  json index;
};

json entry_json(const Entry& e) {
  return {{"path", e.path}, {"size_bytes", e.stamp.size_bytes}, {"mtime_ns", e.stamp.mtime_ns},
          {"h", e.h}, {"w", e.w}, {"offset", e.offset}};
}

// Sizes from headers (decoding an image only where its header cannot be parsed), offsets, index.
Plan make_plan(const Dataset& ds) {
  const int s = ds.scale;
  Plan p;
  const size_t n = ds.pairs.size();
  p.names.resize(n);
  p.hr.resize(n);
  p.lr.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const ImagePair& ip = ds.pairs[i];
    p.names[i] = ip.name;
    p.hr[i].path = absolute_dir(ip.hr_path).string();
    p.lr[i].path = absolute_dir(ip.lr_path).string();
    p.hr[i].stamp = stamp_of(ip.hr_path);
    p.lr[i].stamp = stamp_of(ip.lr_path);
    int hh = 0, hw = 0, lh = 0, lw = 0;
    if (!probe_image_size(ip.hr_path, &hh, &hw)) {
      const Image img = read_image(ip.hr_path);
      hh = img.h, hw = img.w;
    }
    if (!probe_image_size(ip.lr_path, &lh, &lw)) {
      const Image img = read_image(ip.lr_path);
      lh = img.h, lw = img.w;
    }
    hh -= hh % s, hw -= hw % s;
    if (lh * s != hh || lw * s != hw || hh <= 0 || hw <= 0) {
      throw Error(fmt::format("{} (HR {}x{} after modcrop) and {} (LR {}x{}) do not match at x{}: expected LR {}x{}",
                              ip.hr_path, hh, hw, ip.lr_path, lh, lw, s, hh / s, hw / s));
    }
    p.hr[i].h = hh, p.hr[i].w = hw, p.lr[i].h = lh, p.lr[i].w = lw;
  }
  json images = json::array();
  size_t at = 0;
  for (size_t i = 0; i < n; ++i) {
    for (Entry* e : {&p.hr[i], &p.lr[i]}) {
      e->offset = at;  // relative to data_offset until the index length is known
      at = round_up(at + size_t(3) * e->h * e->w, kAlign);
    }
  }
  p.pixel_bytes = at;
  // The offsets are absolute: data_offset is fixed from an upper bound of the index length (an
  // offset grows by at most the digits of data_offset).
  auto index_for = [&](size_t data_offset) {
    json im = json::array();
    for (size_t i = 0; i < n; ++i) {
      Entry hr = p.hr[i], lr = p.lr[i];
      hr.offset += data_offset, lr.offset += data_offset;
      im.push_back({{"name", p.names[i]}, {"hr", entry_json(hr)}, {"lr", entry_json(lr)}});
    }
    return json{{"format", "srnas-decoded"}, {"version", kVersion}, {"scale", s}, {"data_offset", data_offset},
                {"file_bytes", data_offset + p.pixel_bytes}, {"images", im}};
  };
  size_t guess = round_up(sizeof(kMagic) - 1 + 8 + index_for(0).dump().size() + 64 * (2 * n + 4), kPage);
  while (true) {
    const size_t len = index_for(guess).dump().size();
    const size_t need = round_up(sizeof(kMagic) - 1 + 8 + len, kPage);
    if (need <= guess) break;
    guess = need;
  }
  p.data_offset = guess;
  p.file_bytes = guess + p.pixel_bytes;
  p.index = index_for(guess);
  for (size_t i = 0; i < n; ++i) p.hr[i].offset += guess, p.lr[i].offset += guess;
  return p;
}

// The index of an existing cache file, or null when it is missing, damaged or not this version.
json read_index(const std::string& path, size_t* file_size) {
  Fd f(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (f.fd < 0) return nullptr;
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) return nullptr;
  *file_size = static_cast<size_t>(st.st_size);
  char head[24];
  if (::pread(f.fd, head, sizeof(head), 0) != ssize_t(sizeof(head))) return nullptr;
  if (std::memcmp(head, kMagic, 16) != 0) return nullptr;
  uint64_t len = 0;
  for (int b = 7; b >= 0; --b) len = (len << 8) | static_cast<unsigned char>(head[16 + b]);
  if (len == 0 || len > (uint64_t(1) << 30) || 24 + len > *file_size) return nullptr;
  std::string text(len, '\0');
  if (::pread(f.fd, text.data(), len, 24) != ssize_t(len)) return nullptr;
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return nullptr;
  return j;
}

// Why the file at path cannot serve plan ("" when it can).
std::string stale_reason(const std::string& path, const Plan& plan) {
  size_t size = 0;
  const json j = read_index(path, &size);
  if (j.is_null()) return fs::exists(path) ? "damaged" : "missing";
  if (j.value("version", 0) != kVersion) return "another version";
  if (j != plan.index) return "the images changed";
  if (size != plan.file_bytes) return fmt::format("damaged ({} bytes, expected {})", size, plan.file_bytes);
  return "";
}

void write_all_at(int fd, const void* data, size_t len, size_t offset, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    const ssize_t w = ::pwrite(fd, p, len, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      throw Error(fmt::format("{}: cannot write: {}", path, errno_text()));
    }
    p += w, len -= size_t(w), offset += size_t(w);
  }
}

void build(const Dataset& ds, const Plan& plan, const std::string& path,
           const std::function<void(const std::string&)>& log) {
  const fs::path dir = fs::path(path).parent_path();
  std::error_code ec;
  const fs::space_info sp = fs::space(dir, ec);
  if (!ec && sp.available < plan.file_bytes) {
    throw Error(fmt::format("{}: the decoded images need {} but the disk has {} free: point $SRNAS_CACHE at a larger "
                            "disk, or use loader.store: memory", dir.string(), size_text(double(plan.file_bytes)),
                            size_text(double(sp.available))));
  }
  const std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  const auto t0 = std::chrono::steady_clock::now();
  log(fmt::format("[data] decoding {} image{} of {} ({}) into {}", ds.pairs.size(), ds.pairs.size() == 1 ? "" : "s",
                  ds.root, size_text(double(plan.file_bytes)), path));
  Fd f(::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (f.fd < 0) throw Error(fmt::format("{}: cannot create: {}", tmp, errno_text()));
  try {
    // Reserve the blocks first where the file system can (a full disk fails here, not midway);
    // the pixels go in with pwrite, so a disk that fills up anyway is an error, not a SIGBUS.
    if (int rc = ::posix_fallocate(f.fd, 0, static_cast<off_t>(plan.file_bytes)); rc != 0) {
      if (rc == ENOSPC) throw Error(fmt::format("{}: no space left for {}", tmp, size_text(double(plan.file_bytes))));
      if (::ftruncate(f.fd, static_cast<off_t>(plan.file_bytes)) != 0)
        throw Error(fmt::format("{}: cannot size to {} bytes: {}", tmp, plan.file_bytes, errno_text()));
    }
    const std::string text = plan.index.dump();
    char head[24];
    std::memcpy(head, kMagic, 16);
    uint64_t len = text.size();
    for (int b = 0; b < 8; ++b) head[16 + b] = static_cast<char>((len >> (8 * b)) & 0xff);
    write_all_at(f.fd, head, sizeof(head), 0, tmp);
    write_all_at(f.fd, text.data(), text.size(), sizeof(head), tmp);
    const size_t n = ds.pairs.size(), every = std::max<size_t>(1, n / 10);
    std::atomic<size_t> done{0};
    std::mutex log_mu;
    parallel_for_each(n, [&](size_t i) {
      const ImagePair& ip = ds.pairs[i];
      const Image hr = read_modcropped(ip.hr_path, ds.scale);
      const Image lr = read_image(ip.lr_path);
      const Entry& eh = plan.hr[i];
      const Entry& el = plan.lr[i];
      if (hr.h != eh.h || hr.w != eh.w || lr.h != el.h || lr.w != el.w) {
        throw Error(fmt::format("{} (HR {}) and {} (LR {}): decoded sizes differ from their headers ({}x{}, {}x{})",
                                ip.hr_path, size_string(hr), ip.lr_path, size_string(lr), eh.h, eh.w, el.h, el.w));
      }
      write_all_at(f.fd, hr.rgb.data(), hr.rgb.size(), eh.offset, tmp);
      write_all_at(f.fd, lr.rgb.data(), lr.rgb.size(), el.offset, tmp);
      const size_t k = done.fetch_add(1) + 1;
      if (k % every == 0 && k < n) {
        std::lock_guard<std::mutex> lock(log_mu);
        log(fmt::format("[data] {}/{} images decoded", k, n));
      }
    });
    if (::fsync(f.fd) != 0) throw Error(fmt::format("{}: cannot sync: {}", tmp, errno_text()));
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
      throw Error(fmt::format("{}: cannot rename to {}: {}", tmp, path, errno_text()));
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  log(fmt::format("[data] {} images decoded in {:.1f} s", ds.pairs.size(),
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()));
}

}  // namespace

std::string size_text(double bytes) {
  const double m = bytes / (1024.0 * 1024.0);
  return m < 1024.0 ? fmt::format("{:.1f} MiB", m) : fmt::format("{:.2f} GiB", m / 1024.0);
}

DecodedImages::DecodedImages(std::vector<LoadedPair> pairs) : owned_(std::move(pairs)) {
  views_.reserve(owned_.size());
  for (const LoadedPair& p : owned_) {
    views_.push_back({p.name, {p.hr.h, p.hr.w, p.hr.rgb.data()}, {p.lr.h, p.lr.w, p.lr.rgb.data()}});
    bytes_ += p.hr.rgb.size() + p.lr.rgb.size();
  }
}

DecodedImages::~DecodedImages() {
  if (map_) ::munmap(map_, map_len_);
}

std::string decoded_cache_path(const Dataset& ds, const std::string& cache_dir) {
  std::string key = fmt::format("srnas-decoded x{}\n", ds.scale);
  for (const ImagePair& p : ds.pairs)
    key += absolute_dir(p.hr_path).string() + '\t' + absolute_dir(p.lr_path).string() + '\n';
  const fs::path root = cache_dir.empty() ? default_cache_root() : fs::path(cache_dir);
  return (root / "decoded" / fmt::format("{:016x}_x{}.srimg", fnv1a64(key), ds.scale)).string();
}

std::shared_ptr<const DecodedImages> map_decoded(const Dataset& ds, const std::string& cache_dir,
                                               const std::function<void(const std::string&)>& log_fn) {
  if (ds.pairs.empty()) throw Error(fmt::format("{}: no images (expected .png .jpg .jpeg .bmp .tif .tiff files)", ds.root));
  const auto log = log_fn ? log_fn : [](const std::string& line) { fmt::print(stderr, "{}\n", line); };
  const std::string path = decoded_cache_path(ds, cache_dir);
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) throw Error(fmt::format("{}: cannot create folder: {}", fs::path(path).parent_path().string(), ec.message()));

  const Plan plan = make_plan(ds);
  void* map = MAP_FAILED;
  {
    // One process builds; the others wait here, then find the file complete.
    const FileLock lock(path + ".lock");
    const std::string why = stale_reason(path, plan);
    if (!why.empty()) {
      if (why != "missing") {
        log(fmt::format("[data] {}: {}, rebuilding it", path, why));
        // Its space is free for the new file once no process maps it any more.
        ::unlink(path.c_str());
      }
      build(ds, plan, path, log);
    }
    Fd f(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (f.fd < 0) throw Error(fmt::format("{}: cannot open: {}", path, errno_text()));
    map = ::mmap(nullptr, plan.file_bytes, PROT_READ, MAP_SHARED, f.fd, 0);
    if (map == MAP_FAILED) throw Error(fmt::format("{}: cannot map {} bytes: {}", path, plan.file_bytes, errno_text()));
  }

  // Read ahead when the file fits in half the memory; patches are random reads otherwise.
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  const bool fits = pages > 0 && page > 0 && plan.file_bytes < size_t(pages) * size_t(page) / 2;
  ::madvise(map, plan.file_bytes, fits ? MADV_WILLNEED : MADV_RANDOM);

  std::shared_ptr<DecodedImages> out(new DecodedImages());  // private constructor: no make_shared
  out->map_ = map;
  out->map_len_ = plan.file_bytes;
  out->path_ = path;
  const uint8_t* base = static_cast<const uint8_t*>(map);
  for (size_t i = 0; i < ds.pairs.size(); ++i) {
    const Entry& h = plan.hr[i];
    const Entry& l = plan.lr[i];
    out->views_.push_back({plan.names[i], {h.h, h.w, base + h.offset}, {l.h, l.w, base + l.offset}});
    out->bytes_ += size_t(3) * (size_t(h.h) * h.w + size_t(l.h) * l.w);
  }
  return out;
}

namespace {

// One cache file checked against its sources.
DecodedCacheFile check_cache_file(const std::string& path) {
  DecodedCacheFile f;
  f.path = path;
  size_t size = 0;
  const json j = read_index(path, &size);
  f.bytes = size;
  if (j.is_null() || j.value("version", 0) != kVersion || !j.contains("images") || !j["images"].is_array() ||
      j.value("file_bytes", size_t(0)) != size) {
    f.status = "damaged";
    return f;
  }
  f.images = int(j["images"].size());
  f.status = "current";
  try {
    for (const json& im : j["images"]) {
      for (const char* side : {"hr", "lr"}) {
        const json& e = im.at(side);
        const std::string src = e.at("path").get<std::string>();
        if (f.source.empty()) f.source = fs::path(src).parent_path().string();
        std::error_code missing;
        if (!fs::exists(src, missing)) throw Error("stale: " + src + " is gone");
        const FileStamp st = stamp_of(src);
        if (st.size_bytes != e.at("size_bytes").get<int64_t>() || st.mtime_ns != e.at("mtime_ns").get<int64_t>())
          throw Error("stale: " + src + " changed");
      }
    }
  } catch (const Error& e) {
    f.status = e.what();
  } catch (const std::exception&) {
    f.status = "damaged";
  }
  return f;
}

}  // namespace

std::vector<DecodedCacheFile> list_decoded_caches(const std::string& cache_dir) {
  const fs::path dir = (cache_dir.empty() ? default_cache_root() : fs::path(cache_dir)) / "decoded";
  std::vector<DecodedCacheFile> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (it->path().extension() == ".srimg" && it->is_regular_file(type_ec))
      out.push_back(check_cache_file(it->path().string()));
  }
  std::sort(out.begin(), out.end(), [](const DecodedCacheFile& a, const DecodedCacheFile& b) { return a.path < b.path; });
  return out;
}

std::vector<DecodedCacheFile> prune_decoded_caches(const std::string& cache_dir) {
  std::vector<DecodedCacheFile> removed;
  for (const DecodedCacheFile& listed : list_decoded_caches(cache_dir)) {
    if (listed.status == "current") continue;
    // Checked again under the lock: a process may have rebuilt it meanwhile.
    const FileLock lock(listed.path + ".lock");
    const DecodedCacheFile f = check_cache_file(listed.path);
    if (f.status == "current" || !fs::exists(f.path)) continue;
    ::unlink(f.path.c_str());
    removed.push_back(f);
  }
  return removed;
}

size_t decoded_size_estimate(const Dataset& ds) {
  size_t total = 0;
  for (const ImagePair& p : ds.pairs) total += pair_decoded_bytes_estimate(p, ds.scale);
  return total;
}

bool store_maps(const StoreOptions& opt, size_t decoded_bytes, std::string* why) {
  const std::string& store = opt.store;
  if (store != "auto" && store != "memory" && store != "mapped")
    throw Error(fmt::format("loader.store: expected auto, memory or mapped, got '{}'", store));
  if (store != "auto") return store == "mapped";
  if (opt.shared_on_node) {
    if (why) *why = "several processes on this node read these images: they share one decoded copy, mapped from "
                    "a cache file (loader.store: auto)";
    return true;
  }
  if (opt.max_bytes > 0 && decoded_bytes > opt.max_bytes) {
    if (why) *why = fmt::format("these images decode to {}, above loader.max_memory_mb ({} MiB): mapping them "
                                "from a cache file (loader.store: auto)", size_text(double(decoded_bytes)), opt.max_bytes >> 20);
    return true;
  }
  return false;
}

std::string decoded_cache_status(const Dataset& ds, const std::string& cache_dir) {
  if (ds.pairs.empty()) return "no images";
  const std::string why = stale_reason(decoded_cache_path(ds, cache_dir), make_plan(ds));
  return why.empty() ? "current" : why;
}

std::shared_ptr<const DecodedImages> load_images(const Dataset& ds, const StoreOptions& opt) {
  std::string why;
  // The headers are read for the estimate only where it decides (auto, one process).
  const bool estimate = opt.store == "auto" && !opt.shared_on_node;
  const bool mapped = store_maps(opt, estimate ? decoded_size_estimate(ds) : 0, &why);
  if (!why.empty() && !opt.quiet) fmt::print(stderr, "[data] {}: {}\n", ds.root, why);
  if (mapped) return map_decoded(ds, opt.cache_dir);
  return std::make_shared<const DecodedImages>(load_pairs(ds, opt.max_bytes));
}

}  // namespace srnas
