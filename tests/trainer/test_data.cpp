// Data sets: layout detection, naming, the LR cache, modcrop, errors, memory cap, data prepare.
// Every image is made here, in a fresh temporary folder.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <unistd.h>

#include <fmt/format.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <nlohmann/json.hpp>

#include "search_space/error.h"
#include "trainer/data_split.h"
#include "trainer/dataset.h"
#include "trainer/image.h"
#include "trainer/matlab_resize.h"
#include "../support/scratch.h"

namespace srnas {
namespace {
namespace fs = std::filesystem;

// A smooth but non-trivial picture; `salt` changes every pixel.
Image pattern(int h, int w, int salt = 0) {
  Image img(h, w);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      img.at(y, x, 0) = static_cast<uint8_t>((x * 7 + y * 3 + salt) & 255);
      img.at(y, x, 1) = static_cast<uint8_t>((x * y + 11 * salt) & 255);
      img.at(y, x, 2) = static_cast<uint8_t>((255 - x * 2 + y + 5 * salt) & 255);
    }
  return img;
}

Image bicubic_lr(const Image& hr, int scale) { return imresize_bicubic(modcrop(hr, scale), 1.0 / scale); }

int64_t mtime_ns(const fs::path& p) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(fs::last_write_time(p).time_since_epoch()).count();
}

class DataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = srnas::testing::scratch_dir("data");
    cache_ = (dir_ / "cache").string();
  }
  fs::path path(const std::string& rel) const { return dir_ / rel; }
  // Writes img as PNG at dir_/rel, creating folders.
  std::string put(const std::string& rel, const Image& img) const {
    const fs::path p = path(rel);
    fs::create_directories(p.parent_path());
    write_png(p.string(), img);
    return p.string();
  }
  std::string put_bytes(const std::string& rel, const std::string& bytes) const {
    const fs::path p = path(rel);
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << bytes;
    return p.string();
  }
  // Writes img in the format of rel's extension (through OpenCV, B G R order).
  std::string put_encoded(const std::string& rel, const Image& img) const {
    cv::Mat m(img.h, img.w, CV_8UC3);
    for (int y = 0; y < img.h; ++y)
      for (int x = 0; x < img.w; ++x)
        for (int c = 0; c < 3; ++c) m.at<cv::Vec3b>(y, x)[c] = img.at(y, x, 2 - c);
    const fs::path p = path(rel);
    fs::create_directories(p.parent_path());
    EXPECT_TRUE(cv::imwrite(p.string(), m)) << p;
    return p.string();
  }
  // Runs fn, expecting an Error whose one-line message contains every string of `parts`.
  template <typename Fn>
  static std::string expect_error(Fn fn, const std::vector<std::string>& parts) {
    try {
      fn();
    } catch (const Error& e) {
      const std::string msg = e.what();
      for (const auto& part : parts) EXPECT_NE(msg.find(part), std::string::npos) << "'" << part << "' not in: " << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
      return msg;
    }
    ADD_FAILURE() << "no srnas::Error";
    return "";
  }

  fs::path dir_;
  std::string cache_;
};

TEST_F(DataTest, HrOnlyFolderMakesAndCachesBicubicLr) {
  const Image a = pattern(64, 80), b = pattern(250, 361, 3);
  put("plain/b.png", b);
  put("plain/a.png", a);
  const Dataset ds = open_dataset(path("plain").string(), "", 4, cache_);
  EXPECT_EQ(ds.layout, "hr_only");
  EXPECT_EQ(ds.scale, 4);
  EXPECT_EQ(ds.root, path("plain").string());
  ASSERT_EQ(ds.pairs.size(), 2u);
  EXPECT_EQ(ds.pairs[0].name, "a");
  EXPECT_EQ(ds.pairs[1].name, "b");
  EXPECT_EQ(ds.pairs[0].hr_path, path("plain/a.png").string());
  // cache/<16 hex>_x4/LR_bicubic/X4/ax4.png + manifest.json
  const fs::path lr = ds.pairs[0].lr_path;
  EXPECT_EQ(lr.filename(), "ax4.png");
  EXPECT_EQ(lr.parent_path().filename(), "X4");
  EXPECT_EQ(lr.parent_path().parent_path().filename(), "LR_bicubic");
  const fs::path sub = lr.parent_path().parent_path().parent_path();
  EXPECT_EQ(sub.parent_path(), fs::path(cache_));
  const std::string subname = sub.filename().string();
  ASSERT_EQ(subname.size(), 19u) << subname;
  EXPECT_EQ(subname.substr(16), "_x4");
  EXPECT_EQ(subname.find_first_not_of("0123456789abcdef"), 16u) << subname;
  EXPECT_TRUE(fs::exists(sub / "manifest.json"));
  EXPECT_EQ(read_image(ds.pairs[0].lr_path), bicubic_lr(a, 4));
  EXPECT_EQ(read_image(ds.pairs[1].lr_path), bicubic_lr(b, 4));
}

TEST_F(DataTest, CacheFolderIsFnv1aOfTheAbsoluteHrFolder) {
  put("plain/a.png", pattern(16, 16));
  const Dataset ds = open_dataset(path("plain").string(), "", 2, cache_);
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : fs::weakly_canonical(path("plain")).string()) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  EXPECT_EQ(ds.pairs[0].lr_path, (fs::path(cache_) / (std::string(hex) + "_x2") / "LR_bicubic" / "X2" / "ax2.png").string());
  // A relative spelling of the same folder shares the cache.
  const fs::path old_cwd = fs::current_path();
  fs::current_path(dir_);
  const Dataset rel = open_dataset("plain/", "", 2, cache_);
  fs::current_path(old_cwd);
  EXPECT_EQ(fs::path(rel.pairs[0].lr_path).filename(), "ax2.png");
  EXPECT_EQ(fs::weakly_canonical(dir_ / rel.pairs[0].lr_path), fs::weakly_canonical(ds.pairs[0].lr_path));
}

TEST_F(DataTest, DefaultCacheFolderComesFromTheEnvironment) {
  put("plain/a.png", pattern(16, 16));
  const char* old = std::getenv("SRNAS_CACHE");
  const std::string saved = old ? old : "";
  ::setenv("SRNAS_CACHE", (dir_ / "envcache").c_str(), 1);
  const Dataset ds = open_dataset(path("plain").string(), "", 4);
  if (old) ::setenv("SRNAS_CACHE", saved.c_str(), 1);
  else ::unsetenv("SRNAS_CACHE");
  EXPECT_EQ(ds.pairs[0].lr_path.rfind((dir_ / "envcache").string() + "/", 0), 0u) << ds.pairs[0].lr_path;
  EXPECT_TRUE(fs::exists(ds.pairs[0].lr_path));
}

TEST_F(DataTest, CacheIsReusedUntilTheHrChanges) {
  const Image a = pattern(40, 44), b = pattern(48, 52, 1);
  put("plain/a.png", a);
  put("plain/b.png", b);
  const Dataset first = open_dataset(path("plain").string(), "", 4, cache_);
  // Back-date the cached files: an open that rewrites them would give them a new mtime.
  const auto old_time = fs::last_write_time(first.pairs[0].lr_path) - std::chrono::hours(1);
  for (const auto& p : first.pairs) fs::last_write_time(p.lr_path, old_time);
  const int64_t old_ns = mtime_ns(first.pairs[0].lr_path);

  const Dataset second = open_dataset(path("plain").string(), "", 4, cache_);
  ASSERT_EQ(second.pairs.size(), 2u);
  EXPECT_EQ(second.pairs[0].lr_path, first.pairs[0].lr_path);
  EXPECT_EQ(mtime_ns(second.pairs[0].lr_path), old_ns);
  EXPECT_EQ(mtime_ns(second.pairs[1].lr_path), old_ns);

  // Change a.png (content and mtime): only its LR is remade.
  const Image a2 = pattern(40, 44, 9);
  put("plain/a.png", a2);
  fs::last_write_time(path("plain/a.png"), fs::last_write_time(path("plain/a.png")) + std::chrono::seconds(5));
  const Dataset third = open_dataset(path("plain").string(), "", 4, cache_);
  EXPECT_NE(mtime_ns(third.pairs[0].lr_path), old_ns);
  EXPECT_EQ(mtime_ns(third.pairs[1].lr_path), old_ns);
  EXPECT_EQ(read_image(third.pairs[0].lr_path), bicubic_lr(a2, 4));

  // Same size, only the mtime differs: remade as well.
  fs::last_write_time(third.pairs[1].lr_path, old_time);
  fs::last_write_time(path("plain/b.png"), fs::last_write_time(path("plain/b.png")) - std::chrono::seconds(7));
  const Dataset fourth = open_dataset(path("plain").string(), "", 4, cache_);
  EXPECT_NE(mtime_ns(fourth.pairs[1].lr_path), old_ns);

  // A deleted cache file is remade.
  fs::remove(fourth.pairs[1].lr_path);
  const Dataset fifth = open_dataset(path("plain").string(), "", 4, cache_);
  EXPECT_EQ(read_image(fifth.pairs[1].lr_path), bicubic_lr(b, 4));
}

TEST_F(DataTest, DamagedManifestIsRebuilt) {
  put("plain/a.png", pattern(32, 32));
  const Dataset ds = open_dataset(path("plain").string(), "", 4, cache_);
  const fs::path manifest = fs::path(ds.pairs[0].lr_path).parent_path().parent_path().parent_path() / "manifest.json";
  std::ofstream(manifest) << "{ not json";
  const Dataset again = open_dataset(path("plain").string(), "", 4, cache_);
  EXPECT_EQ(read_image(again.pairs[0].lr_path), bicubic_lr(pattern(32, 32), 4));
  std::ifstream in(manifest);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("\"a.png\""), std::string::npos) << text;
}

TEST_F(DataTest, ModcropAppliesToHrAndTheMadeLr) {
  const Image hr = pattern(250, 361);
  put("plain/odd.png", hr);
  const Dataset ds = open_dataset(path("plain").string(), "", 4, cache_);
  const std::vector<LoadedPair> loaded = load_pairs(ds, 0);
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_EQ(loaded[0].name, "odd");
  EXPECT_EQ(size_string(loaded[0].hr), "248x360");
  EXPECT_EQ(size_string(loaded[0].lr), "62x90");
  EXPECT_EQ(loaded[0].hr, modcrop(hr, 4));
  EXPECT_EQ(loaded[0].lr, bicubic_lr(hr, 4));
}

TEST_F(DataTest, Div2kLayoutAndNaming) {
  const Image h1 = pattern(64, 72), h2 = pattern(64, 76, 1), hv = pattern(68, 64, 2);
  put("DIV2K/DIV2K_train_HR/0002.png", h2);
  put("DIV2K/DIV2K_train_HR/0001.png", h1);
  put("DIV2K/DIV2K_train_LR_bicubic/X4/0001x4.png", bicubic_lr(h1, 4));
  put("DIV2K/DIV2K_train_LR_bicubic/X4/0002x4.png", bicubic_lr(h2, 4));
  put("DIV2K/DIV2K_valid_HR/0801.png", hv);
  put("DIV2K/DIV2K_valid_LR_bicubic/X4/0801x4.png", bicubic_lr(hv, 4));
  const std::string root = path("DIV2K").string();

  const Dataset train = open_dataset(root, "train", 4, cache_);
  EXPECT_EQ(train.layout, "div2k");
  EXPECT_EQ(train.root, root);
  ASSERT_EQ(train.pairs.size(), 2u);
  EXPECT_EQ(train.pairs[0].name, "0001");
  EXPECT_EQ(train.pairs[0].hr_path, path("DIV2K/DIV2K_train_HR/0001.png").string());
  EXPECT_EQ(train.pairs[0].lr_path, path("DIV2K/DIV2K_train_LR_bicubic/X4/0001x4.png").string());
  EXPECT_EQ(train.pairs[1].lr_path, path("DIV2K/DIV2K_train_LR_bicubic/X4/0002x4.png").string());

  const Dataset val = open_dataset(root, "val", 4, cache_);
  EXPECT_EQ(val.layout, "div2k");
  ASSERT_EQ(val.pairs.size(), 1u);
  EXPECT_EQ(val.pairs[0].name, "0801");
  EXPECT_EQ(val.pairs[0].lr_path, path("DIV2K/DIV2K_valid_LR_bicubic/X4/0801x4.png").string());
  const auto loaded = load_pairs(val, 0);
  EXPECT_EQ(loaded[0].lr, bicubic_lr(hv, 4));
  EXPECT_FALSE(fs::exists(cache_));  // shipped LR: nothing cached

  // The root itself holds no images: the error says to pass a split.
  expect_error([&] { open_dataset(root, "", 4, cache_); }, {root, "split"});
  expect_error([&] { open_dataset(root, "test", 4, cache_); }, {root, "'test'"});
}

TEST_F(DataTest, Div2kWithoutLrFolderMakesLr) {
  const Image h1 = pattern(64, 72);
  put("DIV2K/DIV2K_train_HR/0001.png", h1);
  const Dataset ds = open_dataset(path("DIV2K").string(), "train", 4, cache_);
  EXPECT_EQ(ds.layout, "div2k");
  EXPECT_EQ(ds.pairs[0].lr_path.rfind(cache_, 0), 0u) << ds.pairs[0].lr_path;
  EXPECT_EQ(read_image(ds.pairs[0].lr_path), bicubic_lr(h1, 4));
  // Only the training images downloaded: asked for its validation images, the root says that
  // split is missing. It used to be taken as a one-*_HR-folder set (Flickr2K's layout), so a
  // search validated on DIV2K_train_HR without a word.
  const std::string root = path("DIV2K").string();
  expect_error([&] { open_split(root, "val", 4); }, {root, "no 'val' split", "DIV2K_valid_HR/"});
  expect_error([&] { open_dataset(root, "", 4, cache_); }, {root, "a DIV2K folder (DIV2K_train_HR)"});
  DataSpec spec = DataSpec::root(root);
  expect_error([&] { open_val_set(spec); }, {root, "no 'val' split"});
}

TEST_F(DataTest, BenchmarkLayoutAndNaming) {
  const Image baby = pattern(40, 48), bird = pattern(36, 44, 1);
  put("Set5/HR/baby.png", baby);
  put("Set5/HR/bird.png", bird);
  put("Set5/LR_bicubic/X4/babyx4.png", bicubic_lr(baby, 4));
  put("Set5/LR_bicubic/X4/birdx4.png", bicubic_lr(bird, 4));
  put("Set5/LR_bicubic/X2/babyx2.png", bicubic_lr(baby, 2));  // other scales are ignored
  const Dataset ds = open_dataset(path("Set5").string(), "", 4, cache_);
  EXPECT_EQ(ds.layout, "benchmark");
  ASSERT_EQ(ds.pairs.size(), 2u);
  EXPECT_EQ(ds.pairs[0].name, "baby");
  EXPECT_EQ(ds.pairs[0].hr_path, path("Set5/HR/baby.png").string());
  EXPECT_EQ(ds.pairs[0].lr_path, path("Set5/LR_bicubic/X4/babyx4.png").string());
  EXPECT_EQ(ds.pairs[1].lr_path, path("Set5/LR_bicubic/X4/birdx4.png").string());
  const auto loaded = load_pairs(ds, 0);
  EXPECT_EQ(loaded[1].hr, bird);
  EXPECT_EQ(loaded[1].lr, bicubic_lr(bird, 4));
}

TEST_F(DataTest, Flickr2kLayoutAndNaming) {
  const Image a = pattern(64, 72), b = pattern(60, 64, 1);
  put("Flickr2K/Flickr2K_HR/000002.png", b);
  put("Flickr2K/Flickr2K_HR/000001.png", a);
  put("Flickr2K/Flickr2K_LR_bicubic/X4/000001x4.png", bicubic_lr(a, 4));
  put("Flickr2K/Flickr2K_LR_bicubic/X4/000002x4.png", bicubic_lr(b, 4));
  const std::string root = path("Flickr2K").string();
  const Dataset ds = open_dataset(root, "", 4, cache_);
  EXPECT_EQ(ds.layout, "flickr2k");
  ASSERT_EQ(ds.pairs.size(), 2u);
  EXPECT_EQ(ds.pairs[0].name, "000001");
  EXPECT_EQ(ds.pairs[0].hr_path, path("Flickr2K/Flickr2K_HR/000001.png").string());
  EXPECT_EQ(ds.pairs[1].lr_path, path("Flickr2K/Flickr2K_LR_bicubic/X4/000002x4.png").string());
  EXPECT_EQ(load_pairs(ds, 0)[1].lr, bicubic_lr(b, 4));
  // No split: a training set of its own, as a search's `data.train` uses it.
  EXPECT_EQ(open_split(root, "train").pairs.size(), 2u);
  // Two *_HR folders and no images: which one is meant is not guessed.
  put("Two/A_HR/x.png", a);
  put("Two/B_HR/x.png", a);
  expect_error([&] { open_dataset(path("Two").string(), "", 4, cache_); },
               {path("Two").string(), "A_HR, B_HR", "split"});
}

// DIV2K (2 train, 2 val) and Flickr2K (3) with shipped LR files, under `at`.
void make_df2k(const std::function<std::string(const std::string&, const Image&)>& put, const std::string& at) {
  int k = 0;
  for (const std::string n : {"0001", "0002"}) {
    const Image h = pattern(48, 52, k++);
    put(at + "/DIV2K/DIV2K_train_HR/" + n + ".png", h);
    put(at + "/DIV2K/DIV2K_train_LR_bicubic/X4/" + n + "x4.png", bicubic_lr(h, 4));
  }
  for (const std::string n : {"0801", "0802"}) {
    const Image h = pattern(44, 48, k++);
    put(at + "/DIV2K/DIV2K_valid_HR/" + n + ".png", h);
    put(at + "/DIV2K/DIV2K_valid_LR_bicubic/X4/" + n + "x4.png", bicubic_lr(h, 4));
  }
  for (const std::string n : {"000001", "000002", "000003"}) {
    const Image h = pattern(40, 44, k++);
    put(at + "/Flickr2K/Flickr2K_HR/" + n + ".png", h);
    put(at + "/Flickr2K/Flickr2K_LR_bicubic/X4/" + n + "x4.png", bicubic_lr(h, 4));
  }
}

TEST_F(DataTest, DataSpecTrainsOnSeveralRootsAndValidatesOnAPrefix) {
  auto put_fn = [&](const std::string& rel, const Image& img) { return put(rel, img); };
  make_df2k(put_fn, "a");
  const std::string div2k = path("a/DIV2K").string(), flickr = path("a/Flickr2K").string();
  DataSpec spec;
  spec.train = {div2k, flickr};
  spec.val = {div2k};
  const Dataset train = open_train_set(spec);
  EXPECT_EQ(train.layout, "div2k+flickr2k");
  EXPECT_EQ(train.root, div2k + " + " + flickr);
  ASSERT_EQ(train.pairs.size(), 5u);  // roots in order, each sorted by name
  const std::vector<std::string> names = {"0001", "0002", "000001", "000002", "000003"};
  for (size_t i = 0; i < names.size(); ++i) EXPECT_EQ(train.pairs[i].name, names[i]);
  EXPECT_EQ(load_pairs(train, 0).size(), 5u);
  Dataset val = open_val_set(spec);
  ASSERT_EQ(val.pairs.size(), 2u);
  EXPECT_EQ(val.layout, "div2k");
  spec.val_images = 1;
  val = open_val_set(spec);
  ASSERT_EQ(val.pairs.size(), 1u);
  EXPECT_EQ(val.pairs[0].name, "0801");
  EXPECT_EQ(spec.describe(), fmt::format("train {} + {}, val {} (first 1 images)", div2k, flickr, div2k));
  EXPECT_EQ(DataSpec::root("data/samples").describe(), "data/samples");
  spec.val_images = 5;  // more than there are: all of them
  EXPECT_EQ(open_val_set(spec).pairs.size(), 2u);

  // The same validation set given twice: one name, two files.
  spec.val = {div2k, path("a/./DIV2K/../DIV2K").string()};
  expect_error([&] { open_val_set(spec); }, {"two validation images named '0801'"});
}

TEST_F(DataTest, DataIdentityFollowsTheImagesNotTheirFolder) {
  auto put_fn = [&](const std::string& rel, const Image& img) { return put(rel, img); };
  make_df2k(put_fn, "a");
  make_df2k(put_fn, "b");  // the same images elsewhere ("mounted at another path")
  auto identity = [&](const std::string& at, int val_images) {
    DataSpec s;
    s.train = {path(at + "/DIV2K").string(), path(at + "/Flickr2K").string()};
    s.val = {path(at + "/DIV2K").string()};
    s.val_images = val_images;
    return data_identity(open_train_set(s), open_val_set(s));
  };
  const nlohmann::json a = identity("a", 0);
  EXPECT_EQ(a["train_images"], 5);
  EXPECT_EQ(a["val_images"], 2);
  EXPECT_EQ(a["val_fingerprint"].get<std::string>().size(), 16u);
  EXPECT_EQ(identity("b", 0), a);
  EXPECT_NE(identity("a", 1)["val_fingerprint"], a["val_fingerprint"]);
  // Another validation image of another size under the same name changes the fingerprint too.
  fs::remove(path("b/DIV2K/DIV2K_valid_HR/0802.png"));
  fs::remove(path("b/DIV2K/DIV2K_valid_LR_bicubic/X4/0802x4.png"));
  put("b/DIV2K/DIV2K_valid_HR/0802.png", pattern(40, 48, 9));
  put("b/DIV2K/DIV2K_valid_LR_bicubic/X4/0802x4.png", bicubic_lr(pattern(40, 48, 9), 4));
  const nlohmann::json b = identity("b", 0);
  EXPECT_EQ(b["val_images"], 2);
  EXPECT_NE(b["val_fingerprint"], a["val_fingerprint"]);
}

TEST_F(DataTest, DataSpecFromConfigIsStrict) {
  auto parse = [](const std::string& text) { return data_spec_from_json(nlohmann::json::parse(text), "search.data"); };
  DataSpec s = parse(R"("data/DIV2K")");
  EXPECT_EQ(s.train, std::vector<std::string>{"data/DIV2K"});
  EXPECT_EQ(s.val, std::vector<std::string>{"data/DIV2K"});
  s = parse(R"({"train": ["data/DIV2K", "data/Flickr2K"], "val": "data/DIV2K", "val_images": 10})");
  EXPECT_EQ(s.train, (std::vector<std::string>{"data/DIV2K", "data/Flickr2K"}));
  EXPECT_EQ(s.val, std::vector<std::string>{"data/DIV2K"});
  EXPECT_EQ(s.val_images, 10);
  expect_error([&] { parse(R"({"train": "data/DIV2K"})"); }, {"search.data", "missing required key 'val'"});
  expect_error([&] { parse(R"({"train": [], "val": "v"})"); }, {"search.data.train", "non-empty list"});
  expect_error([&] { parse(R"({"train": ["a", "./a"], "val": "v"})"); }, {"search.data.train[1]", "given twice"});
  expect_error([&] { parse(R"({"train": [3], "val": "v"})"); }, {"search.data.train[0]", "expected a data folder"});
  expect_error([&] { parse(R"({"train": "a", "val": "v", "val_images": -1})"); }, {"search.data.val_images"});
  expect_error([&] { parse(R"({"train": "a", "val": "v", "valid": "x"})"); }, {"search.data", "valid"});
  expect_error([&] { parse(R"(7)"); }, {"search.data", "expected a data folder or"});
  expect_error([&] { parse(R"("")"); }, {"search.data", "empty"});
}

TEST_F(DataTest, SplitSubfoldersOpenTheSubfolder) {
  put("samples/train/x.png", pattern(32, 32));
  put("samples/train/y.png", pattern(32, 36, 1));
  put("samples/val/z.png", pattern(36, 32, 2));
  put_bytes("samples/MANIFEST", "train/x.png 1\n");
  const Dataset train = open_dataset(path("samples").string(), "train", 4, cache_);
  EXPECT_EQ(train.layout, "hr_only");
  EXPECT_EQ(train.root, path("samples/train").string());
  ASSERT_EQ(train.pairs.size(), 2u);
  const Dataset val = open_dataset(path("samples").string(), "val", 4, cache_);
  ASSERT_EQ(val.pairs.size(), 1u);
  EXPECT_EQ(val.pairs[0].name, "z");
  // A benchmark folder under a split works too.
  put("root/val/HR/q.png", pattern(32, 32));
  put("root/val/LR_bicubic/X4/qx4.png", bicubic_lr(pattern(32, 32), 4));
  EXPECT_EQ(open_dataset(path("root").string(), "val", 4, cache_).layout, "benchmark");
  expect_error([&] { open_dataset(path("samples").string(), "test", 4, cache_); },
               {path("samples").string(), "test"});
  expect_error([&] { open_dataset(path("samples").string(), "", 4, cache_); }, {path("samples").string(), "split"});
}

TEST_F(DataTest, ImageExtensionsAreCaseInsensitiveSortedAndNotRecursive) {
  const Image img = pattern(32, 40);
  put("mixed/b.PNG", img);
  put_encoded("mixed/a.JPG", img);
  put_encoded("mixed/c.jpeg", img);
  put_encoded("mixed/d.bmp", img);
  put_encoded("mixed/e.tif", img);
  put_encoded("mixed/f.TIFF", img);
  put_bytes("mixed/notes.txt", "not an image");
  put_bytes("mixed/.hidden.png", "not an image");
  put("mixed/sub/g.png", img);
  const Dataset ds = open_dataset(path("mixed").string(), "", 4, cache_);
  std::vector<std::string> names;
  for (const auto& p : ds.pairs) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "c", "d", "e", "f"}));
  const auto loaded = load_pairs(ds, 0);
  EXPECT_EQ(loaded[1].hr, img);  // PNG: lossless
  EXPECT_EQ(loaded[3].hr, img);  // BMP: lossless
  EXPECT_EQ(loaded[4].hr, img);  // TIFF: lossless
}

TEST_F(DataTest, HeaderProbeMatchesDecodedSizes) {
  const Image img = pattern(37, 53);
  for (const std::string name : {"p.png", "j.jpg", "b.bmp", "t.tif"}) {
    const std::string p = name == "p.png" ? put(name, img) : put_encoded(name, img);
    int h = 0, w = 0;
    ASSERT_TRUE(probe_image_size(p, &h, &w)) << name;
    EXPECT_EQ(h, 37) << name;
    EXPECT_EQ(w, 53) << name;
  }
  int h = 0, w = 0;
  EXPECT_FALSE(probe_image_size(put_bytes("bad.png", "garbage"), &h, &w));
  EXPECT_FALSE(probe_image_size(path("missing.png").string(), &h, &w));
}

TEST_F(DataTest, SizeMismatchNamesBothFilesAndSizes) {
  const Image hr = pattern(40, 48);
  const std::string hr_path = put("Set/HR/x.png", hr);
  const std::string lr_path = put("Set/LR_bicubic/X4/xx4.png", pattern(10, 11));
  const Dataset ds = open_dataset(path("Set").string(), "", 4, cache_);
  expect_error([&] { load_pairs(ds, 0); }, {hr_path, lr_path, "40x48", "10x11", "10x12"});
}

TEST_F(DataTest, MissingLrFileNamesHrAndExpectedPath) {
  put("Set/HR/x.png", pattern(40, 48));
  put("Set/HR/y.png", pattern(40, 48));
  put("Set/LR_bicubic/X4/xx4.png", bicubic_lr(pattern(40, 48), 4));
  expect_error([&] { open_dataset(path("Set").string(), "", 4, cache_); },
               {path("Set/HR/y.png").string(), path("Set/LR_bicubic/X4/yx4.png").string()});
  // Removed after opening: load_pairs reports it the same way.
  put("Set/LR_bicubic/X4/yx4.png", bicubic_lr(pattern(40, 48), 4));
  const Dataset ds = open_dataset(path("Set").string(), "", 4, cache_);
  fs::remove(path("Set/LR_bicubic/X4/yx4.png"));
  expect_error([&] { load_pairs(ds, 0); },
               {path("Set/HR/y.png").string(), path("Set/LR_bicubic/X4/yx4.png").string()});
}

TEST_F(DataTest, EmptyFolderIsAnError) {
  fs::create_directories(path("empty"));
  put_bytes("empty/readme.txt", "no images here");
  expect_error([&] { open_dataset(path("empty").string(), "", 4, cache_); }, {path("empty").string(), "no images"});
  fs::create_directories(path("bench/HR"));
  expect_error([&] { open_dataset(path("bench").string(), "", 4, cache_); }, {path("bench/HR").string(), "no images"});
  Dataset none;
  none.root = path("empty").string();
  expect_error([&] { load_pairs(none, 0); }, {path("empty").string(), "no images"});
  expect_error([&] { open_dataset(path("missing").string(), "", 4, cache_); }, {path("missing").string()});
}

TEST_F(DataTest, CorruptImageIsNamed) {
  put("plain/a.png", pattern(32, 32));
  const std::string png = put("plain/z.png", pattern(32, 32, 1));
  fs::resize_file(png, fs::file_size(png) / 2);  // truncated
  expect_error([&] { open_dataset(path("plain").string(), "", 4, cache_); }, {png});
  put("Set/HR/a.png", pattern(32, 32));
  const std::string bad = put_bytes("Set/LR_bicubic/X4/ax4.png", "\x89PNG\r\n\x1a\n garbage");
  const Dataset ds = open_dataset(path("Set").string(), "", 4, cache_);
  expect_error([&] { load_pairs(ds, 0); }, {bad});
}

TEST_F(DataTest, DuplicateNamesAreAnError) {
  put("plain/a.png", pattern(32, 32));
  put_encoded("plain/a.bmp", pattern(32, 32));
  expect_error([&] { open_dataset(path("plain").string(), "", 4, cache_); },
               {path("plain/a.png").string(), path("plain/a.bmp").string()});
}

TEST_F(DataTest, MemoryCapIsCheckedBeforeDecoding) {
  put("plain/a.png", pattern(400, 400));
  put("plain/b.png", pattern(400, 400, 1));
  const Dataset ds = open_dataset(path("plain").string(), "", 4, cache_);
  // 2 x (400*400*3 + 100*100*3) = 1,020,000 bytes = 0.973 MiB.
  const std::string msg = expect_error([&] { load_pairs(ds, 1000000); },
                                       {path("plain").string(), "decoded images need 0.973 MiB, above the cap of 0.954 MiB (loader.max_memory_mb)"});
  EXPECT_EQ(load_pairs(ds, 1020000).size(), 2u);  // exactly at the cap is fine
  EXPECT_EQ(load_pairs(ds, 0).size(), 2u);        // 0: no cap
  // An HR that cannot be decoded is reported even when the headers alone pass the cap.
  const std::string hr = put_bytes("plain/a.png", "\x89PNG\r\n\x1a\n garbage");
  expect_error([&] { load_pairs(ds, 1 << 30); }, {hr});
}

TEST_F(DataTest, PrepareWritesBenchmarkLayoutAndSkipsUnchanged) {
  const Image a = pattern(250, 361), b = pattern(64, 64, 1), c = pattern(48, 52, 2);
  put("src/a.png", a);
  put_encoded("src/b.bmp", b);
  put("src/c.png", c);
  const std::string out = path("out").string();
  EXPECT_EQ(prepare_dataset(path("src").string(), out, 4), 3);
  EXPECT_EQ(read_image(out + "/HR/a.png"), modcrop(a, 4));
  EXPECT_EQ(read_image(out + "/LR_bicubic/X4/ax4.png"), bicubic_lr(a, 4));
  EXPECT_EQ(read_image(out + "/HR/b.png"), b);
  EXPECT_EQ(read_image(out + "/LR_bicubic/X4/bx4.png"), bicubic_lr(b, 4));
  EXPECT_TRUE(fs::exists(out + "/manifest.json"));

  const auto old_time = fs::last_write_time(out + "/HR/a.png") - std::chrono::hours(1);
  for (const char* f : {"/HR/a.png", "/HR/b.png", "/HR/c.png", "/LR_bicubic/X4/ax4.png"})
    fs::last_write_time(out + f, old_time);
  EXPECT_EQ(prepare_dataset(path("src").string(), out, 4), 0);
  EXPECT_EQ(fs::last_write_time(out + "/HR/a.png"), old_time);
  EXPECT_EQ(fs::last_write_time(out + "/LR_bicubic/X4/ax4.png"), old_time);

  // One source changes, one disappears.
  const Image b2 = pattern(64, 68, 5);
  fs::remove(path("src/b.bmp"));
  put("src/b.png", b2);
  fs::remove(path("src/c.png"));
  EXPECT_EQ(prepare_dataset(path("src").string(), out, 4), 1);
  EXPECT_EQ(fs::last_write_time(out + "/HR/a.png"), old_time);
  EXPECT_EQ(read_image(out + "/HR/b.png"), b2);
  EXPECT_FALSE(fs::exists(out + "/HR/c.png"));
  EXPECT_FALSE(fs::exists(out + "/LR_bicubic/X4/cx4.png"));

  // The output opens as a benchmark folder.
  const Dataset ds = open_dataset(out, "", 4, cache_);
  EXPECT_EQ(ds.layout, "benchmark");
  ASSERT_EQ(ds.pairs.size(), 2u);
  EXPECT_EQ(load_pairs(ds, 0)[0].lr, bicubic_lr(a, 4));

  expect_error([&] { prepare_dataset(path("src").string(), path("src").string(), 4); }, {path("src").string()});
  expect_error([&] { prepare_dataset(path("nope").string(), out, 4); }, {path("nope").string()});
}

}  // namespace
}  // namespace srnas
