// The decoded-image store: mapped images equal decoded ones byte for byte (and so do batches),
// the cache file is reused, rebuilt when a source changes or the file is damaged, built once
// when several processes open it at the same time, and bad input fails with one line.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <csignal>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "search_space/error.h"
#include "trainer/dataset.h"
#include "trainer/image_store.h"
#include "trainer/loader.h"
#include "trainer/matlab_resize.h"
#include "../support/processes.h"
#include "../support/scratch.h"

namespace srnas {
namespace {
namespace fs = std::filesystem;

Image pattern(int h, int w, int salt) {
  Image img(h, w);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      img.at(y, x, 0) = static_cast<uint8_t>((x * 7 + y * 3 + salt * 13) & 255);
      img.at(y, x, 1) = static_cast<uint8_t>((x * y + 11 * salt) & 255);
      img.at(y, x, 2) = static_cast<uint8_t>((255 - x * 2 + y + 5 * salt) & 255);
    }
  return img;
}

bool same_bytes(const ImageView& v, const Image& img) {
  return v.h == img.h && v.w == img.w && std::memcmp(v.rgb, img.rgb.data(), img.rgb.size()) == 0;
}

// Runs body(k) in n forked processes started together (tests/support/processes.h) and expects
// every one to exit 0.
void in_processes(int n, const std::function<int(int)>& body) {
  for (const auto& c : srnas::testing::in_processes(n, [&](int k, std::string&) { return body(k); }))
    EXPECT_TRUE(c.ok()) << "status " << c.status << " " << c.text;
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = srnas::testing::scratch_dir("store");
    cache_ = (dir_ / "cache").string();
    // A benchmark folder (HR + LR_bicubic/X4) with a size that is not a multiple of 4, and a
    // plain HR folder whose LR images srnas makes.
    fs::create_directories(dir_ / "bench" / "HR");
    fs::create_directories(dir_ / "bench" / "LR_bicubic" / "X4");
    for (int i = 0; i < 3; ++i) {
      const Image hr = pattern(40 + 4 * i, 52 - 4 * i, i);
      write_png((dir_ / "bench" / "HR" / fmt::format("im{}.png", i)).string(), hr);
      write_png((dir_ / "bench" / "LR_bicubic" / "X4" / fmt::format("im{}x4.png", i)).string(),
                imresize_bicubic(hr, 0.25));
    }
    fs::create_directories(dir_ / "plain");
    write_png((dir_ / "plain" / "a.png").string(), pattern(43, 50, 5));
    write_png((dir_ / "plain" / "b.png").string(), pattern(36, 36, 6));
  }
  Dataset bench() const { return open_dataset((dir_ / "bench").string(), "", 4, cache_); }
  Dataset plain() const { return open_dataset((dir_ / "plain").string(), "", 4, cache_); }
  // map_decoded with its progress lines collected.
  std::shared_ptr<const DecodedImages> map(const Dataset& ds, std::vector<std::string>* lines = nullptr) const {
    return map_decoded(ds, cache_, [lines](const std::string& l) {
      if (lines) lines->push_back(l);
    });
  }
  static bool any_has(const std::vector<std::string>& lines, const std::string& what) {
    for (const auto& l : lines)
      if (l.find(what) != std::string::npos) return true;
    return false;
  }
  fs::path dir_;
  std::string cache_;
};

TEST_F(StoreTest, MappedImagesAndBatchesEqualDecodedOnes) {
  for (const Dataset& ds : {bench(), plain()}) {
    SCOPED_TRACE(ds.root);
    const std::vector<LoadedPair> decoded = load_pairs(ds, 0);
    const auto mapped = map(ds);
    ASSERT_EQ(mapped->size(), decoded.size());
    EXPECT_EQ(mapped->mapped_path(), decoded_cache_path(ds, cache_));
    size_t bytes = 0;
    for (size_t i = 0; i < decoded.size(); ++i) {
      EXPECT_EQ((*mapped)[i].name, decoded[i].name);
      EXPECT_TRUE(same_bytes((*mapped)[i].hr, decoded[i].hr)) << decoded[i].name;
      EXPECT_TRUE(same_bytes((*mapped)[i].lr, decoded[i].lr)) << decoded[i].name;
      EXPECT_EQ(reinterpret_cast<uintptr_t>((*mapped)[i].hr.rgb) % 64, 0u);
      bytes += decoded[i].hr.rgb.size() + decoded[i].lr.rgb.size();
    }
    EXPECT_EQ(mapped->decoded_bytes(), bytes);
    EXPECT_EQ(decoded_size_estimate(ds), bytes);
    const DecodedImages memory(decoded);
    EXPECT_TRUE(memory.mapped_path().empty());
    LoaderOptions o;
    o.batch_size = 6;
    o.patch_lr = 8;
    o.seed = 9;
    for (int64_t k : {0, 1, 17}) {
      const Batch a = make_batch(memory, o, k), b = make_batch(*mapped, o, k);
      EXPECT_EQ(a.lr, b.lr) << "batch " << k;
      EXPECT_EQ(a.hr, b.hr) << "batch " << k;
    }
  }
}

TEST_F(StoreTest, FileIsReusedThenRebuiltWhenASourceChanges) {
  std::vector<std::string> first, second, third;
  const Dataset ds = bench();
  map(ds, &first);
  EXPECT_TRUE(any_has(first, "decoding 3 images")) << ::testing::PrintToString(first);
  const std::string path = decoded_cache_path(ds, cache_);
  const auto stamp = fs::last_write_time(path);
  {
    const auto again = map(ds, &second);
    EXPECT_TRUE(second.empty()) << ::testing::PrintToString(second);
    EXPECT_EQ(fs::last_write_time(path), stamp);
  }
  // New pixels (same size) in one HR and its LR: the file is rebuilt and shows them.
  const Image hr = pattern(44, 48, 40);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  write_png((dir_ / "bench" / "HR" / "im1.png").string(), hr);
  write_png((dir_ / "bench" / "LR_bicubic" / "X4" / "im1x4.png").string(), imresize_bicubic(hr, 0.25));
  const auto rebuilt = map(bench(), &third);
  EXPECT_TRUE(any_has(third, "the images changed, rebuilding")) << ::testing::PrintToString(third);
  EXPECT_TRUE(same_bytes((*rebuilt)[1].hr, hr));
  // Nothing is left behind but the file and its lock.
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(fs::path(path).parent_path())) files.push_back(e.path().filename());
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files, (std::vector<std::string>{fs::path(path).filename().string(),
                                             fs::path(path).filename().string() + ".lock"}));
}

TEST_F(StoreTest, AMappingOutlivesARebuildOfItsFile) {
  const auto old = map(bench());
  const std::vector<LoadedPair> before = load_pairs(bench(), 0);
  const Image hr = pattern(40, 52, 77);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  write_png((dir_ / "bench" / "HR" / "im0.png").string(), hr);
  write_png((dir_ / "bench" / "LR_bicubic" / "X4" / "im0x4.png").string(), imresize_bicubic(hr, 0.25));
  const auto fresh = map(bench());
  EXPECT_TRUE(same_bytes((*fresh)[0].hr, hr));
  EXPECT_TRUE(same_bytes((*old)[0].hr, before[0].hr));  // the old inode stays mapped
}

TEST_F(StoreTest, DamagedFilesAreRebuilt) {
  const Dataset ds = bench();
  const std::vector<LoadedPair> decoded = load_pairs(ds, 0);
  map(ds);
  const std::string path = decoded_cache_path(ds, cache_);
  const auto size = fs::file_size(path);
  struct Damage {
    std::string name;
    std::function<void()> apply;
  };
  const std::vector<Damage> damages = {
      {"truncated", [&] { fs::resize_file(path, size - 100); }},
      {"other magic", [&] { std::fstream(path, std::ios::in | std::ios::out | std::ios::binary).write("XXXX", 4); }},
      {"broken index", [&] {
         std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
         f.seekp(30);
         f.write("\x01\x02", 2);
       }},
      {"empty", [&] { std::ofstream(path, std::ios::trunc); }},
  };
  for (const Damage& d : damages) {
    SCOPED_TRACE(d.name);
    d.apply();
    std::vector<std::string> lines;
    const auto m = map(ds, &lines);
    EXPECT_TRUE(any_has(lines, "damaged")) << ::testing::PrintToString(lines);
    EXPECT_EQ(fs::file_size(path), size);
    for (size_t i = 0; i < decoded.size(); ++i) EXPECT_TRUE(same_bytes((*m)[i].hr, decoded[i].hr));
  }
}

// Real processes: four open the same missing file at once; one decodes, all see the same bytes.
TEST_F(StoreTest, ConcurrentProcessesDecodeOnce) {
  const Dataset ds = bench();
  const std::vector<LoadedPair> decoded = load_pairs(ds, 0);
  in_processes(4, [&](int k) {
    std::vector<std::string> lines;
    const auto m = map(ds, &lines);
    int code = 0;
    for (size_t i = 0; i < decoded.size(); ++i)
      if (!same_bytes((*m)[i].hr, decoded[i].hr) || !same_bytes((*m)[i].lr, decoded[i].lr)) code = 2;
    std::ofstream((dir_ / fmt::format("kid{}.log", k)).string()) << (any_has(lines, "decoding") ? "built" : "mapped");
    return code;
  });
  int built = 0;
  for (int k = 0; k < 4; ++k) {
    std::ifstream in((dir_ / fmt::format("kid{}.log", k)).string());
    std::string what;
    in >> what;
    built += what == "built";
  }
  EXPECT_EQ(built, 1);
}

// The LR cache too (a plain HR folder: srnas makes its LR images): the ranks of a node that open
// it at once take turns, one makes the images, and nobody reads a half-written PNG.
TEST_F(StoreTest, ConcurrentProcessesMakeTheLrCacheOnce) {
  for (int i = 0; i < 6; ++i) write_png((dir_ / "plain" / fmt::format("c{}.png", i)).string(), pattern(64, 80, 20 + i));
  in_processes(3, [&](int k) {
    const std::string log = (dir_ / fmt::format("lr{}.log", k)).string();
    if (!std::freopen(log.c_str(), "w", stderr)) return 4;
    for (const LoadedPair& p : load_pairs(plain(), 0))
      if (p.lr != imresize_bicubic(p.hr, 0.25)) return 2;
    return 0;
  });
  int making = 0;
  for (int k = 0; k < 3; ++k) {
    std::ifstream in((dir_ / fmt::format("lr{}.log", k)).string());
    const std::string text((std::istreambuf_iterator<char>(in)), {});
    making += text.find("making 8 of 8") != std::string::npos;
  }
  EXPECT_EQ(making, 1);
  for (const auto& e : fs::recursive_directory_iterator(cache_))
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
}

// A disk that cannot take the file (here: a file-size limit below it) is a one-line error that
// leaves no temporary file and no cache file behind.
TEST_F(StoreTest, AFileThatCannotBeWrittenIsAnErrorAndLeavesNothing) {
  const Dataset ds = bench();
  in_processes(1, [&](int) {
    ::signal(SIGXFSZ, SIG_IGN);  // writes past the limit then fail with EFBIG
    struct rlimit lim {8192, 8192};
    ::setrlimit(RLIMIT_FSIZE, &lim);
    try {
      map(ds);
    } catch (const Error& e) {
      const std::string msg = e.what();
      std::ofstream((dir_ / "err.txt").string()) << msg;
      return msg.find(".tmp.") != std::string::npos && msg.find('\n') == std::string::npos ? 0 : 2;
    }
    return 1;
  });
  std::ifstream in((dir_ / "err.txt").string());
  const std::string msg((std::istreambuf_iterator<char>(in)), {});
  EXPECT_FALSE(msg.empty()) << "the child reports its error";
  for (const auto& e : fs::directory_iterator(fs::path(cache_) / "decoded"))
    EXPECT_NE(e.path().extension(), ".srimg") << e.path();
  for (const auto& e : fs::directory_iterator(fs::path(cache_) / "decoded"))
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
  // With the limit gone the same call builds the file.
  EXPECT_EQ(map(ds)->size(), 3u);
}

TEST_F(StoreTest, ListAndPruneTellCurrentFilesFromStaleOnes) {
  EXPECT_TRUE(list_decoded_caches(cache_).empty());
  map(bench());
  map(plain());
  const std::string bench_file = decoded_cache_path(bench(), cache_), plain_file = decoded_cache_path(plain(), cache_);
  auto listed = list_decoded_caches(cache_);
  ASSERT_EQ(listed.size(), 2u);
  for (const DecodedCacheFile& f : listed) {
    EXPECT_EQ(f.status, "current") << f.path;
    EXPECT_EQ(f.bytes, fs::file_size(f.path));
  }
  const auto& b = listed[0].path == bench_file ? listed[0] : listed[1];
  EXPECT_EQ(b.images, 3);
  EXPECT_EQ(b.source, fs::weakly_canonical(dir_ / "bench" / "HR").string());
  EXPECT_TRUE(prune_decoded_caches(cache_).empty()) << "nothing stale";

  // A changed HR makes the benchmark's file stale; a removed image the other's; damage a third.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  write_png((dir_ / "bench" / "HR" / "im0.png").string(), pattern(40, 52, 99));
  fs::remove(dir_ / "plain" / "b.png");
  const std::string junk = (fs::path(cache_) / "decoded" / "0000000000000000_x4.srimg").string();
  std::ofstream(junk) << "not a cache file";
  listed = list_decoded_caches(cache_);
  ASSERT_EQ(listed.size(), 3u);
  EXPECT_EQ(listed[0].path, junk);
  EXPECT_EQ(listed[0].status, "damaged");
  for (const DecodedCacheFile& f : listed) {
    if (f.path == bench_file) {
      EXPECT_NE(f.status.find("stale: " + (dir_ / "bench" / "HR" / "im0.png").string()), std::string::npos) << f.status;
    }
    if (f.path == plain_file) {
      EXPECT_NE(f.status.find("b.png is gone"), std::string::npos) << f.status;
    }
  }
  EXPECT_EQ(prune_decoded_caches(cache_).size(), 3u);
  EXPECT_TRUE(list_decoded_caches(cache_).empty());
  EXPECT_FALSE(fs::exists(bench_file));
  // Mapping again rebuilds.
  EXPECT_EQ(map(bench())->size(), 3u);
  EXPECT_EQ(list_decoded_caches(cache_).at(0).status, "current");
}

// A cache folder this process cannot write (a prepared cache shared read-only): current LR and
// decoded files are used without a lock. Run as another user (root cannot be denied).
TEST_F(StoreTest, AReadOnlyCacheThatIsCurrentIsUsed) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root, to drop to another user";
  const std::vector<LoadedPair> decoded = load_pairs(bench(), 0);
  map(bench());
  map(plain());
  for (fs::path p = dir_; p != p.parent_path(); p = p.parent_path()) {
    if (p == fs::temp_directory_path()) break;
    fs::permissions(p, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec | fs::perms::others_read |
                           fs::perms::others_exec);
  }
  for (const auto& e : fs::recursive_directory_iterator(dir_))
    if (e.is_directory()) fs::permissions(e.path(), fs::perms::others_read | fs::perms::others_exec, fs::perm_options::add);
  in_processes(1, [&](int) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) return 4;
    try {
      const auto m = map(bench());
      if (!same_bytes((*m)[2].hr, decoded[2].hr)) return 2;
      if (load_pairs(plain(), 0).size() != 2 || map(plain())->size() != 2) return 2;
    } catch (const Error& e) {
      std::ofstream((fs::temp_directory_path() / fmt::format("srnas_ro_{}.txt", ::getppid())).string()) << e.what();
      return 5;
    }
    return 0;
  });
  const fs::path err = fs::temp_directory_path() / fmt::format("srnas_ro_{}.txt", ::getpid());
  if (fs::exists(err)) {
    std::ifstream in(err.string());
    ADD_FAILURE() << std::string((std::istreambuf_iterator<char>(in)), {});
    fs::remove(err);
  }
}

TEST_F(StoreTest, LoadTrainImagesPicksTheStore) {
  const Dataset ds = bench();
  const size_t need = decoded_size_estimate(ds);
  auto with = [&](const std::string& store, size_t cap, bool shared) {
    StoreOptions o;
    o.store = store;
    o.max_bytes = cap;
    o.shared_on_node = shared;
    o.quiet = true;
    o.cache_dir = cache_;
    return load_images(ds, o);
  };
  EXPECT_TRUE(with("auto", need, false)->mapped_path().empty());  // fits: memory
  EXPECT_FALSE(with("auto", need - 1, false)->mapped_path().empty());
  EXPECT_FALSE(with("auto", 0, true)->mapped_path().empty());
  EXPECT_FALSE(with("mapped", 0, false)->mapped_path().empty());
  EXPECT_TRUE(with("memory", 0, true)->mapped_path().empty());
  try {
    with("memory", need - 1, false);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("loader.max_memory_mb"), std::string::npos) << e.what();
  }
  EXPECT_THROW(with("disk", 0, false), Error);
}

TEST_F(StoreTest, BadInputFailsWithOneLineAndLeavesNoFile) {
  // An LR that is not HR/4.
  write_png((dir_ / "bench" / "LR_bicubic" / "X4" / "im2x4.png").string(), pattern(5, 5, 0));
  try {
    map(bench());
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("im2x4.png"), std::string::npos) << msg;
    EXPECT_NE(msg.find("do not match at x4"), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  // The size estimate (auto store choice, srnas plan) refuses the same pair, with the same words.
  try {
    decoded_size_estimate(bench());
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("do not match at x4"), std::string::npos) << e.what();
  }
  // An HR whose header reads but whose pixels do not decode: named, no temporary file left.
  fs::remove_all(dir_ / "bench");
  fs::create_directories(dir_ / "bench" / "HR");
  fs::create_directories(dir_ / "bench" / "LR_bicubic" / "X4");
  write_png((dir_ / "bench" / "HR" / "ok.png").string(), pattern(16, 16, 1));
  write_png((dir_ / "bench" / "LR_bicubic" / "X4" / "okx4.png").string(), pattern(4, 4, 1));
  {
    std::ifstream in((dir_ / "bench" / "HR" / "ok.png").string(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    std::ofstream((dir_ / "bench" / "HR" / "cut.png").string(), std::ios::binary) << bytes.substr(0, 40);
  }
  write_png((dir_ / "bench" / "LR_bicubic" / "X4" / "cutx4.png").string(), pattern(4, 4, 2));
  try {
    map(bench());
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cut.png"), std::string::npos) << e.what();
  }
  for (const auto& e : fs::directory_iterator(fs::path(cache_) / "decoded"))
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
  EXPECT_THROW(map_decoded(Dataset{}, cache_), Error);
}

}  // namespace
}  // namespace srnas
