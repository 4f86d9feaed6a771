// Data sets: layout detection, the LR cache / `srnas data prepare`, header probing and decoding.
#include "trainer/dataset.h"
#include "trainer/dataset_util.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <system_error>
#include <thread>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "search_space/error.h"
#include "search_space/json_reader.h"
#include "search_space/text_file.h"
#include "trainer/matlab_resize.h"

namespace srnas {
namespace fs = std::filesystem;

namespace {

constexpr const char* kManifestFormat = "srnas-lr-images";
constexpr int kManifestVersion = 1;
constexpr const char* kResizeName = "matlab_bicubic";  // imresize_bicubic(modcrop(hr, s), 1/s)

// ---------------------------------------------------------------------------------------------
// Small helpers.

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool is_image_file_name(const fs::path& p) {
  const std::string name = p.filename().string();
  if (name.empty() || name[0] == '.') return false;  // hidden files, macOS "._0001.png" forks
  static const std::set<std::string> kExts = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"};
  return kExts.count(lower(p.extension().string())) > 0;
}

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

// Image files directly in dir, sorted by file name; two files with one stem are an error.
std::vector<fs::path> list_image_paths(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) throw Error(fmt::format("{}: cannot list folder: {}", dir.string(), ec.message()));
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) throw Error(fmt::format("{}: cannot list folder: {}", dir.string(), ec.message()));
    if (is_image_file_name(it->path()) && is_file(it->path())) out.push_back(it->path());
  }
  if (ec) throw Error(fmt::format("{}: cannot list folder: {}", dir.string(), ec.message()));
  std::sort(out.begin(), out.end(),
            [](const fs::path& a, const fs::path& b) { return a.filename().string() < b.filename().string(); });
  std::map<std::string, std::string> stems;
  for (const fs::path& p : out) {
    auto [pos, fresh] = stems.emplace(p.stem().string(), p.string());
    if (!fresh) {
      throw Error(fmt::format("{} and {}: two images named '{}' (names must be unique without the extension)",
                              pos->second, p.string(), p.stem().string()));
    }
  }
  return out;
}

}  // namespace

// Shared with image_store.cpp (declared in trainer/dataset_util.h).
namespace data_detail {

uint64_t fnv1a64(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

fs::path absolute_dir(const fs::path& p) {
  std::error_code ec;
  fs::path a = fs::weakly_canonical(fs::absolute(p), ec);
  if (ec) a = fs::absolute(p).lexically_normal();
  std::string s = a.string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return fs::path(s);
}

fs::path default_cache_root() {
  if (const char* v = std::getenv("SRNAS_CACHE"); v && *v) return fs::path(v);
  if (const char* v = std::getenv("XDG_CACHE_HOME"); v && *v) return fs::path(v) / "srnas";
  if (const char* v = std::getenv("HOME"); v && *v) return fs::path(v) / ".cache" / "srnas";
  throw Error("LR cache: none of $SRNAS_CACHE, $XDG_CACHE_HOME, $HOME is set; pass a cache folder");
}


FileStamp stamp_of(const fs::path& p) {
  std::error_code ec;
  FileStamp s;
  const auto size = fs::file_size(p, ec);
  if (ec) throw Error(fmt::format("{}: cannot stat: {}", p.string(), ec.message()));
  const auto t = fs::last_write_time(p, ec);
  if (ec) throw Error(fmt::format("{}: cannot stat: {}", p.string(), ec.message()));
  s.size_bytes = static_cast<int64_t>(size);
  s.mtime_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  return s;
}

namespace {
int worker_threads(size_t tasks) {
  unsigned hw = std::thread::hardware_concurrency();
  if (hw == 0) hw = 2;
  return static_cast<int>(std::max<size_t>(1, std::min<size_t>({tasks, hw, 8})));
}

}  // namespace

// Runs fn(i) for i in [0, n) on a few threads. If some fail, the error of the lowest failing
// index is rethrown; every index below it always runs, so which error surfaces does not depend
// on the thread count or timing. Indices above a known failure are skipped.
void parallel_for_each(size_t n, const std::function<void(size_t)>& fn) {
  if (n == 0) return;
  std::atomic<size_t> next{0};
  std::atomic<size_t> first_failure{SIZE_MAX};
  std::vector<std::exception_ptr> errors(n);
  auto work = [&] {
    for (;;) {
      const size_t i = next.fetch_add(1);
      if (i >= n) return;
      if (i > first_failure.load()) continue;
      try {
        fn(i);
      } catch (...) {
        errors[i] = std::current_exception();
        size_t cur = first_failure.load();
        while (i < cur && !first_failure.compare_exchange_weak(cur, i)) {
        }
      }
    }
  };
  const int threads = worker_threads(n);
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  for (size_t i = 0; i < n; ++i) {
    if (errors[i]) std::rethrow_exception(errors[i]);
  }
}

FileLock::FileLock(const std::string& path) {
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0 && (errno == EROFS || errno == EACCES)) fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0 && (errno == EROFS || errno == EACCES || errno == ENOENT)) return;  // read-only: nothing to build
  if (fd_ < 0) throw Error(fmt::format("{}: cannot open lock file: {}", path, std::strerror(errno)));
  while (::flock(fd_, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    const std::string why = std::strerror(errno);
    ::close(fd_);
    throw Error(fmt::format("{}: cannot lock: {}", path, why));
  }
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the lock
}

void write_png_atomic(const std::string& path, const Image& img) {
  const fs::path p(path);
  const fs::path tmp = p.parent_path() / fmt::format(".{}.{}.tmp.png", p.stem().string(), ::getpid());
  try {
    write_png(tmp.string(), img);
  } catch (...) {
    std::error_code ignore;
    fs::remove(tmp, ignore);
    throw;
  }
  std::error_code ec;
  fs::rename(tmp, p, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw Error(fmt::format("{}: cannot write: {}", path, ec.message()));
  }
}

// Reads path, modcrops it (errors name the file).
Image read_modcropped(const std::string& path, int scale) {
  Image raw = read_image(path);
  try {
    return modcrop(raw, scale);
  } catch (const std::exception& e) {
    rethrow_with(path, e);
  }
}

}  // namespace data_detail

namespace {
using namespace data_detail;

std::string lr_file_name(const std::string& name, int scale, const std::string& ext = ".png") {
  return fmt::format("{}x{}{}", name, scale, ext);
}

// out/LR_bicubic/X<scale>: where srnas writes LR images (cache and `data prepare`).
fs::path lr_subdir(const fs::path& out, int scale) { return out / "LR_bicubic" / fmt::format("X{}", scale); }

void make_dirs(const fs::path& p) {
  std::error_code ec;
  fs::create_directories(p, ec);
  if (ec) throw Error(fmt::format("{}: cannot create folder: {}", p.string(), ec.message()));
}

// ---------------------------------------------------------------------------------------------
// LR image folders made by srnas (the hr_only cache and `srnas data prepare` share this).
//
// out/manifest.json = {"format", "version", "scale", "resize", "source": abs HR folder,
// "hr_copies": bool, "images": {"<HR file name>": {"size_bytes", "mtime_ns"}}}.

struct Manifest {
  std::map<std::string, FileStamp> images;  // by HR file name
};

// Reads the manifest; one written for other settings (or unreadable) counts as empty, with a
// warning for the unreadable case, so a damaged cache is rebuilt rather than trusted.
Manifest read_manifest(const fs::path& path, const std::string& source, int scale, bool hr_copies) {
  Manifest m;
  if (!is_file(path)) return m;
  try {
    std::ifstream in(path, std::ios::binary);
    const json j = json::parse(in);
    JsonReader r(j, path.string());
    if (r.choice("format", {kManifestFormat}) != kManifestFormat) return m;
    if (r.integer("version", 0, 1 << 30) != kManifestVersion) return m;
    const int s = r.integer("scale", 1, 1 << 30);
    const std::string resize = r.need("resize").is_string() ? r.need("resize").get<std::string>() : "";
    const std::string src = r.need("source").is_string() ? r.need("source").get<std::string>() : "";
    const bool copies = r.boolean("hr_copies");
    const json& images = r.need("images");
    if (!images.is_object()) r.fail_here("images: expected an object");
    r.finish();
    if (s != scale || resize != kResizeName || src != source || copies != hr_copies) return m;
    for (auto it = images.begin(); it != images.end(); ++it) {
      const std::string& file = it.key();
      if (file.empty() || file.find('/') != std::string::npos || file == "." || file == "..") {
        throw Error(fmt::format("{}: images: bad file name '{}'", path.string(), file));
      }
      JsonReader e(it.value(), r.sub("images." + file));
      FileStamp st;
      const json& size = e.need("size_bytes");
      const json& mtime = e.need("mtime_ns");
      if (!size.is_number_integer() || !mtime.is_number_integer()) e.fail_here("expected integers");
      st.size_bytes = size.get<int64_t>();
      st.mtime_ns = mtime.get<int64_t>();
      e.finish();
      m.images[file] = st;
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "srnas: warning: {}: unreadable manifest, remaking every image: {}\n", path.string(),
               e.what());
    return Manifest{};
  }
  return m;
}

void write_manifest(const fs::path& path, const std::string& source, int scale, bool hr_copies,
                    const Manifest& m) {
  json images = json::object();
  for (const auto& [file, st] : m.images) images[file] = {{"size_bytes", st.size_bytes}, {"mtime_ns", st.mtime_ns}};
  const json j = {{"format", kManifestFormat}, {"version", kManifestVersion}, {"scale", scale},
                  {"resize", kResizeName},     {"source", source},            {"hr_copies", hr_copies},
                  {"images", images}};
  write_text_atomic(path.string(), j.dump(1) + "\n");
}

// Brings out_dir up to date with the HR images `sources` (all in one folder): LR under
// out_dir/LR_bicubic/X<scale>/, HR copies under out_dir/HR/ when hr_copies. Returns how many
// images were (re)made. `what` names the job in progress lines.
int sync_lr_folder(const fs::path& hr_dir, const std::vector<fs::path>& sources, const fs::path& out_dir,
                   int scale, bool hr_copies, const std::string& what) {
  const std::string source = absolute_dir(hr_dir).string();
  const fs::path manifest_path = out_dir / "manifest.json";
  const fs::path lr_dir = lr_subdir(out_dir, scale);
  const fs::path hr_out_dir = out_dir / "HR";
  // One process at a time (the ranks of a node open the same data): the others wait, then find
  // the folder up to date.
  make_dirs(out_dir);
  const FileLock lock((out_dir / ".manifest.lock").string());
  const Manifest old = read_manifest(manifest_path, source, scale, hr_copies);

  Manifest now;
  std::vector<size_t> todo;
  for (size_t i = 0; i < sources.size(); ++i) {
    const fs::path& p = sources[i];
    const std::string file = p.filename().string();
    const std::string name = p.stem().string();
    const FileStamp st = stamp_of(p);
    now.images[file] = st;
    auto it = old.images.find(file);
    const bool outputs_present =
        is_file(lr_dir / lr_file_name(name, scale)) && (!hr_copies || is_file(hr_out_dir / (name + ".png")));
    if (it == old.images.end() || !(it->second == st) || !outputs_present) todo.push_back(i);
  }
  // Outputs of sources that are gone (or renamed): remove what srnas wrote for them.
  for (const auto& [file, st] : old.images) {
    if (now.images.count(file)) continue;
    const std::string name = fs::path(file).stem().string();
    bool reused = false;  // another extension of the same stem still exists
    for (const auto& [f2, st2] : now.images) reused = reused || fs::path(f2).stem().string() == name;
    if (reused) continue;
    std::error_code ignore;
    fs::remove(lr_dir / lr_file_name(name, scale), ignore);
    if (hr_copies) fs::remove(hr_out_dir / (name + ".png"), ignore);
  }
  if (todo.empty()) {
    if (old.images.size() != now.images.size()) write_manifest(manifest_path, source, scale, hr_copies, now);
    return 0;
  }

  make_dirs(lr_dir);
  if (hr_copies) make_dirs(hr_out_dir);
  fmt::print(stderr, "[data] {}: making {} of {} x{} LR images in {}\n", what, todo.size(), sources.size(), scale,
             out_dir.string());
  const size_t total = todo.size();
  const size_t step = std::max<size_t>(1, std::min<size_t>(10, total / 10));
  std::atomic<size_t> done{0};
  std::mutex print_mu;
  const auto t0 = std::chrono::steady_clock::now();
  parallel_for_each(total, [&](size_t k) {
    const fs::path& p = sources[todo[k]];
    const std::string name = p.stem().string();
    const Image hr = read_modcropped(p.string(), scale);
    const Image lr = imresize_bicubic(hr, 1.0 / scale);
    if (lr.h * scale != hr.h || lr.w * scale != hr.w) {
      throw Error(fmt::format("{}: bicubic x{} of the {} HR gave {} LR, expected {}x{}", p.string(), scale,
                              size_string(hr), size_string(lr), hr.h / scale, hr.w / scale));
    }
    if (hr_copies) write_png_atomic((hr_out_dir / (name + ".png")).string(), hr);
    write_png_atomic((lr_dir / lr_file_name(name, scale)).string(), lr);
    const size_t d = done.fetch_add(1) + 1;
    if (d % step == 0 || d == total) {
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::lock_guard<std::mutex> lock(print_mu);
      fmt::print(stderr, "[data] {}/{} {} ({:.1f} s)\n", d, total, p.filename().string(), secs);
    }
  });
  write_manifest(manifest_path, source, scale, hr_copies, now);
  return static_cast<int>(total);
}

// Pairs for the HR images in hr_dir whose LR files live in lr_dir as <name>x<scale>.png (or the
// HR's extension). A missing LR file is an error naming the HR and the expected LR path.
std::vector<ImagePair> pairs_with_lr_folder(const std::vector<fs::path>& hrs, const fs::path& lr_dir, int scale) {
  std::vector<ImagePair> out;
  for (const fs::path& p : hrs) {
    const std::string name = p.stem().string();
    fs::path lr = lr_dir / lr_file_name(name, scale);
    if (!is_file(lr)) {
      const fs::path alt = lr_dir / lr_file_name(name, scale, p.extension().string());
      if (!is_file(alt)) {
        throw Error(fmt::format("{}: no LR image for it: expected {}", p.string(), lr.string()));
      }
      lr = alt;
    }
    out.push_back({name, p.string(), lr.string()});
  }
  return out;
}

// Pairs whose LR images srnas makes and caches.
std::vector<ImagePair> pairs_from_cache(const fs::path& hr_dir, const std::vector<fs::path>& hrs, int scale,
                                        const std::string& cache_dir) {
  const fs::path cache_root = cache_dir.empty() ? default_cache_root() : fs::path(cache_dir);
  const std::string key = absolute_dir(hr_dir).string();
  const fs::path sub = cache_root / fmt::format("{:016x}_x{}", fnv1a64(key), scale);
  sync_lr_folder(hr_dir, hrs, sub, scale, /*hr_copies=*/false, hr_dir.string());
  std::vector<ImagePair> out;
  const fs::path lr_dir = lr_subdir(sub, scale);
  for (const fs::path& p : hrs) {
    const std::string name = p.stem().string();
    out.push_back({name, p.string(), (lr_dir / lr_file_name(name, scale)).string()});
  }
  return out;
}

std::vector<fs::path> images_or_error(const fs::path& dir) {
  std::vector<fs::path> hrs = list_image_paths(dir);
  if (hrs.empty()) {
    std::string hint;
    if (is_dir(dir / "train") || is_dir(dir / "val") || is_dir(dir / "DIV2K_train_HR") ||
        is_dir(dir / "DIV2K_valid_HR")) {
      hint = "; it has split subfolders, so pass a split (train or val)";
    }
    throw Error(fmt::format("{}: no images (expected .png .jpg .jpeg .bmp .tif .tiff files){}", dir.string(), hint));
  }
  return hrs;
}

// A folder with HR + LR_bicubic subfolders (benchmark) or DIV2K_<part>_HR + DIV2K_<part>_LR_bicubic;
// lr_root is the LR_bicubic folder, whose X<scale> subfolder holds the LR images.
Dataset open_paired(const fs::path& root, const fs::path& hr_dir, const fs::path& lr_root, int scale,
                    const std::string& layout, const std::string& cache_dir) {
  Dataset ds;
  ds.root = root.string();
  ds.layout = layout;
  ds.scale = scale;
  const std::vector<fs::path> hrs = images_or_error(hr_dir);
  const fs::path lr_dir = lr_root / fmt::format("X{}", scale);
  if (is_dir(lr_dir)) {
    ds.pairs = pairs_with_lr_folder(hrs, lr_dir, scale);
  } else {
    ds.pairs = pairs_from_cache(hr_dir, hrs, scale, cache_dir);  // no LR shipped: make them
  }
  return ds;
}

// ---------------------------------------------------------------------------------------------
// Header probing.

bool read_at(std::ifstream& in, std::streamoff off, uint8_t* buf, size_t n) {
  in.clear();
  in.seekg(off);
  if (!in) return false;
  in.read(reinterpret_cast<char*>(buf), static_cast<std::streamsize>(n));
  return static_cast<size_t>(in.gcount()) == n;
}

uint32_t be16(const uint8_t* b) { return (uint32_t(b[0]) << 8) | b[1]; }
uint32_t be32(const uint8_t* b) { return (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | b[3]; }
uint32_t le16(const uint8_t* b) { return (uint32_t(b[1]) << 8) | b[0]; }
uint32_t le32(const uint8_t* b) { return (uint32_t(b[3]) << 24) | (uint32_t(b[2]) << 16) | (uint32_t(b[1]) << 8) | b[0]; }

bool probe_jpeg(std::ifstream& in, int* h, int* w) {
  std::streamoff pos = 2;
  uint8_t b[8];
  for (int guard = 0; guard < 100000; ++guard) {
    if (!read_at(in, pos, b, 2)) return false;
    if (b[0] != 0xFF) return false;
    if (b[1] == 0xFF) {  // fill byte
      ++pos;
      continue;
    }
    const uint8_t m = b[1];
    pos += 2;
    if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue;  // no length field
    if (m == 0xD9 || m == 0xDA) return false;                            // no frame header before the scan
    if (!read_at(in, pos, b, 2)) return false;
    const uint32_t len = be16(b);
    if (len < 2) return false;
    const bool sof = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
    if (sof) {
      if (!read_at(in, pos + 2, b, 5)) return false;
      *h = static_cast<int>(be16(b + 1));
      *w = static_cast<int>(be16(b + 3));
      return *h > 0 && *w > 0;
    }
    pos += len;
  }
  return false;
}

bool probe_tiff(std::ifstream& in, bool little, int* h, int* w) {
  auto u16 = [&](const uint8_t* b) { return little ? le16(b) : be16(b); };
  auto u32 = [&](const uint8_t* b) { return little ? le32(b) : be32(b); };
  uint8_t b[12];
  if (!read_at(in, 4, b, 4)) return false;
  const std::streamoff ifd = u32(b);
  if (!read_at(in, ifd, b, 2)) return false;
  const uint32_t count = u16(b);
  int64_t width = -1, height = -1;
  for (uint32_t i = 0; i < count; ++i) {
    if (!read_at(in, ifd + 2 + 12 * std::streamoff(i), b, 12)) return false;
    const uint32_t tag = u16(b), type = u16(b + 2);
    uint32_t value;
    if (type == 3) value = u16(b + 8);
    else if (type == 4) value = u32(b + 8);
    else continue;
    if (tag == 256) width = value;
    if (tag == 257) height = value;
  }
  if (width <= 0 || height <= 0 || width > INT32_MAX || height > INT32_MAX) return false;
  *h = static_cast<int>(height);
  *w = static_cast<int>(width);
  return true;
}

std::string mib(double bytes) {
  const double m = bytes / (1024.0 * 1024.0);
  return m >= 1.0 ? fmt::format("{:.1f}", m) : fmt::format("{:.3f}", m);
}

[[noreturn]] void throw_over_cap(const std::string& root, double need_bytes, size_t cap_bytes) {
  throw Error(fmt::format("{}: decoded images need {} MiB, above the cap of {} MiB (loader.max_memory_mb)", root,
                          mib(need_bytes), mib(static_cast<double>(cap_bytes))));
}

[[noreturn]] void throw_mismatch(const ImagePair& p, int scale, int hr_h, int hr_w, int lr_h, int lr_w) {
  throw Error(fmt::format("{} (HR {}x{} after modcrop) and {} (LR {}x{}) do not match at x{}: expected LR {}x{}",
                          p.hr_path, hr_h, hr_w, p.lr_path, lr_h, lr_w, scale, hr_h / scale, hr_w / scale));
}

}  // namespace

bool probe_image_size(const std::string& path, int* height, int* width) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  uint8_t b[32];
  if (!read_at(in, 0, b, 4)) return false;
  if (b[0] == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G') {
    if (!read_at(in, 0, b, 24) || std::string(reinterpret_cast<char*>(b + 12), 4) != "IHDR") return false;
    const uint32_t w = be32(b + 16), h = be32(b + 20);
    if (w == 0 || h == 0 || w > INT32_MAX || h > INT32_MAX) return false;
    *width = static_cast<int>(w);
    *height = static_cast<int>(h);
    return true;
  }
  if (b[0] == 0xFF && b[1] == 0xD8) return probe_jpeg(in, height, width);
  if (b[0] == 'B' && b[1] == 'M') {
    if (!read_at(in, 14, b, 12)) return false;
    int64_t w, h;
    if (le32(b) == 12) {  // BITMAPCOREHEADER
      w = le16(b + 4);
      h = le16(b + 6);
    } else {
      w = static_cast<int32_t>(le32(b + 4));
      h = static_cast<int32_t>(le32(b + 8));
      if (h < 0) h = -h;  // top-down bitmap
    }
    if (w <= 0 || h <= 0 || w > INT32_MAX || h > INT32_MAX) return false;
    *width = static_cast<int>(w);
    *height = static_cast<int>(h);
    return true;
  }
  if (b[0] == 'I' && b[1] == 'I' && b[2] == 0x2A && b[3] == 0) return probe_tiff(in, true, height, width);
  if (b[0] == 'M' && b[1] == 'M' && b[2] == 0 && b[3] == 0x2A) return probe_tiff(in, false, height, width);
  return false;
}

Dataset open_dataset(const std::string& dir, const std::string& split, int scale, const std::string& cache_dir) {
  if (scale < 1 || scale > 16) throw Error(fmt::format("{}: scale must be in [1, 16], got {}", dir, scale));
  const fs::path root(dir);
  if (!is_dir(root)) throw Error(fmt::format("{}: no such data folder", dir));

  if (!split.empty()) {
    const std::string part = split == "train" ? "train" : (split == "val" || split == "valid") ? "valid" : "";
    if (!part.empty()) {
      const fs::path hr_dir = root / fmt::format("DIV2K_{}_HR", part);
      if (is_dir(hr_dir)) {
        return open_paired(root, hr_dir, root / fmt::format("DIV2K_{}_LR_bicubic", part), scale, "div2k",
                           cache_dir);
      }
    }
    const fs::path sub = root / split;
    if (split.find('/') == std::string::npos && split != "." && split != ".." && is_dir(sub)) {
      return open_dataset(sub.string(), "", scale, cache_dir);
    }
    throw Error(fmt::format("{}: no '{}' split: expected a subfolder {}/{}", dir, split, split,
                            part.empty() ? "" : fmt::format(" or DIV2K_{}_HR/", part)));
  }

  if (is_dir(root / "HR")) {
    return open_paired(root, root / "HR", root / "LR_bicubic", scale, "benchmark", cache_dir);
  }
  // Flickr2K's layout, <Name>_HR/000001.png + <Name>_LR_bicubic/X4/000001x4.png, for a folder
  // with no images of its own and one <Name>_HR subfolder.
  if (list_image_paths(root).empty()) {
    std::vector<fs::path> hr_dirs;
    std::error_code ec;
    for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.size() > 3 && name.compare(name.size() - 3, 3, "_HR") == 0 && is_dir(it->path()))
        hr_dirs.push_back(it->path());
    }
    std::sort(hr_dirs.begin(), hr_dirs.end());
    for (const fs::path& d : hr_dirs)
      if (d.filename() == "DIV2K_train_HR" || d.filename() == "DIV2K_valid_HR")
        throw Error(fmt::format("{}: a DIV2K folder ({}): expected its split (train or val) to be named, or the "
                                "folder {} itself",
                                dir, d.filename().string(), d.string()));
    if (hr_dirs.size() > 1) {
      std::vector<std::string> names;
      for (const fs::path& d : hr_dirs) names.push_back(d.filename().string());
      throw Error(fmt::format("{}: no images of its own but several *_HR folders ({}): expected a train/val split "
                              "of it, or one of those folders", dir, fmt::join(names, ", ")));
    }
    if (hr_dirs.size() == 1) {
      const std::string name = hr_dirs[0].filename().string();
      return open_paired(root, hr_dirs[0], root / (name.substr(0, name.size() - 3) + "_LR_bicubic"), scale,
                         "flickr2k", cache_dir);
    }
  }
  Dataset ds;
  ds.root = dir;
  ds.layout = "hr_only";
  ds.scale = scale;
  ds.pairs = pairs_from_cache(root, images_or_error(root), scale, cache_dir);
  return ds;
}

size_t pair_decoded_bytes_estimate(const ImagePair& p, int s) {
  if (s < 1) throw Error(fmt::format("{}: scale must be >= 1, got {}", p.hr_path, s));
  int hh = 0, hw = 0, lh = 0, lw = 0;
  const bool hr_ok = probe_image_size(p.hr_path, &hh, &hw);
  const bool lr_ok = probe_image_size(p.lr_path, &lh, &lw);
  const int mh = hh - hh % s, mw = hw - hw % s;
  if (hr_ok && lr_ok && (lh * s != mh || lw * s != mw)) throw_mismatch(p, s, mh, mw, lh, lw);
  return (hr_ok ? size_t(3) * mh * mw : 0) + (lr_ok ? size_t(3) * lh * lw : 0);
}

std::vector<LoadedPair> load_pairs(const Dataset& ds, size_t max_bytes) {
  const int s = ds.scale;
  if (ds.pairs.empty()) {
    throw Error(fmt::format("{}: no images (expected .png .jpg .jpeg .bmp .tif .tiff files)", ds.root));
  }
  if (s < 1) throw Error(fmt::format("{}: scale must be >= 1, got {}", ds.root, s));
  const size_t n = ds.pairs.size();
  for (const ImagePair& p : ds.pairs) {
    if (!is_file(p.hr_path)) throw Error(fmt::format("{}: HR image missing", p.hr_path));
    if (!is_file(p.lr_path)) throw Error(fmt::format("{}: no LR image for it: expected {}", p.hr_path, p.lr_path));
  }

  // Headers first: the cap and the sizes are checked before anything is decoded.
  std::vector<size_t> estimate(n, 0);
  size_t known_total = 0;
  for (size_t i = 0; i < n; ++i) {
    estimate[i] = pair_decoded_bytes_estimate(ds.pairs[i], s);
    known_total += estimate[i];
  }
  if (max_bytes > 0 && known_total > max_bytes) throw_over_cap(ds.root, double(known_total), max_bytes);

  std::vector<LoadedPair> out(n);
  std::atomic<size_t> decoded_bytes{0};
  std::atomic<size_t> decoded_estimates{0};  // header estimates of the pairs already decoded
  parallel_for_each(n, [&](size_t i) {
    const ImagePair& p = ds.pairs[i];
    LoadedPair& lp = out[i];
    lp.name = p.name;
    lp.hr = read_modcropped(p.hr_path, s);
    lp.lr = read_image(p.lr_path);
    if (lp.lr.h * s != lp.hr.h || lp.lr.w * s != lp.hr.w) throw_mismatch(p, s, lp.hr.h, lp.hr.w, lp.lr.h, lp.lr.w);
    const size_t bytes = lp.hr.rgb.size() + lp.lr.rgb.size();
    const size_t running = decoded_bytes.fetch_add(bytes) + bytes;
    const size_t estimated = decoded_estimates.fetch_add(estimate[i]) + estimate[i];
    if (max_bytes > 0 && running > max_bytes) {
      // Only reachable when some header could not be read: report the best estimate.
      throw_over_cap(ds.root, double(running) + double(known_total - std::min(known_total, estimated)), max_bytes);
    }
  });
  return out;
}

int prepare_dataset(const std::string& hr_dir, const std::string& out_dir, int scale) {
  if (scale < 1 || scale > 16) throw Error(fmt::format("{}: scale must be in [1, 16], got {}", hr_dir, scale));
  if (!is_dir(hr_dir)) throw Error(fmt::format("{}: no such HR folder", hr_dir));
  const fs::path out(out_dir);
  const fs::path abs_hr = absolute_dir(hr_dir);
  if (absolute_dir(out) == abs_hr || absolute_dir(out / "HR") == abs_hr) {
    throw Error(fmt::format("{}: output folder would overwrite the source images in {}", out_dir, hr_dir));
  }
  const std::vector<fs::path> hrs = images_or_error(hr_dir);
  make_dirs(out);
  return sync_lr_folder(hr_dir, hrs, out, scale, /*hr_copies=*/true, hr_dir);
}

std::vector<std::string> list_images(const std::string& dir) {
  std::vector<std::string> out;
  for (const fs::path& p : list_image_paths(dir)) out.push_back(p.string());
  return out;
}

}  // namespace srnas
