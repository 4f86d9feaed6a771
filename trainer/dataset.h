// Data sets: finding HR/LR image pairs (DIV2K, benchmark, train/val roots, plain HR folders),
// decoding them into memory, and `srnas data prepare`.
//
// Contract: pairs are sorted by file name; HR is modcropped and LR is exactly HR/scale. LR images
// srnas makes are imresize_bicubic(modcrop(hr), 1/scale), cached as PNG with a manifest and re-made
// only when the HR changes (size or mtime). Results do not depend on thread count. Errors: one line.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "trainer/image.h"

namespace srnas {

struct ImagePair {
  std::string name;     // HR file name without extension ("0001", "baby")
  std::string hr_path;  // HR as stored (not yet modcropped)
  std::string lr_path;  // LR as stored, or srnas's cached LR
};

struct Dataset {
  std::string root;            // the folder opened: dir, or dir/<split> for a train/val root
  std::string layout;          // "div2k" | "benchmark" | "flickr2k" | "hr_only" (| "a+b" merged, data_split.h)
  int scale = 4;
  std::vector<ImagePair> pairs;  // sorted by HR file name
};

// Opens a data set folder. dir may be
//  * a DIV2K root: DIV2K_train_HR/0001.png + DIV2K_train_LR_bicubic/X4/0001x4.png; split "train"
//    selects DIV2K_train_*, "val" DIV2K_valid_*;
//  * a root with split subfolders (train/, val/; e.g. data/samples): dir/<split> is opened as below;
//  * a benchmark folder: HR/name.png + LR_bicubic/X4/namex4.png;
//  * a Flickr2K folder: one <Name>_HR/ subfolder (Flickr2K_HR/000001.png) + <Name>_LR_bicubic/X4/
//    (000001x4.png), and no images of its own (several *_HR subfolders are an error);
//  * a plain folder of HR images (layout "hr_only").
// split "" means the folder itself. Images are .png .jpg .jpeg .bmp .tif .tiff (any case), not
// recursive. Where a DIV2K or benchmark folder has no LR_bicubic/X<scale> folder at all, and for
// hr_only, LR images are made and cached (decoding with several threads) under
// cache_dir/<16-hex FNV-1a of the absolute HR folder>_x<scale>/; cache_dir "" means $SRNAS_CACHE,
// else $XDG_CACHE_HOME/srnas, else $HOME/.cache/srnas. Throws for a folder without images, a
// missing split, an LR file missing in an existing LR folder, two images with one name, or an
// HR image that cannot be decoded (when LR must be made).
Dataset open_dataset(const std::string& dir, const std::string& split, int scale,
                     const std::string& cache_dir = "");

struct LoadedPair {
  std::string name;
  Image hr;  // modcropped
  Image lr;  // lr.h * scale == hr.h && lr.w * scale == hr.w
};

// Decodes every pair into memory (several threads). Throws for an empty data set, an LR file that
// is missing, an undecodable file, or sizes that disagree (naming both files and sizes). max_bytes
// caps the decoded bytes (sum of hr and lr rgb sizes; 0 = no cap): the total is estimated from the
// image headers before anything is decoded, and decoding stops as soon as the running total passes
// the cap: "<root>: decoded images need N MiB, above the cap of M MiB (loader.max_memory_mb)".
std::vector<LoadedPair> load_pairs(const Dataset& ds, size_t max_bytes);

// `srnas data prepare`: for every image of the HR folder hr_dir writes out_dir/HR/<name>.png
// (modcropped) and out_dir/LR_bicubic/X<scale>/<name>x<scale>.png, then out_dir/manifest.json
// (size and mtime of each source). Images whose source is unchanged since the last run are
// skipped; outputs of sources that disappeared are removed. Prints "[data] i/n ..." progress
// lines to stderr. Returns the number of images (re)made. out_dir opens as a benchmark folder.
int prepare_dataset(const std::string& hr_dir, const std::string& out_dir, int scale);

// The image files directly in dir (the extensions above, no hidden files), sorted by file name.
// Throws for a folder that cannot be listed and for two files with one stem (a.png, a.jpg).
std::vector<std::string> list_images(const std::string& dir);

// Decoded size of an image file, read from its header only (PNG, JPEG, BMP, TIFF); false when
// the header cannot be parsed (the file is then left for read_image() to report).
bool probe_image_size(const std::string& path, int* height, int* width);

// Decoded bytes of one pair (modcropped HR + LR, 3 bytes a pixel), from the headers only; a side
// whose header cannot be parsed counts 0. Throws (naming both files and sizes) when both headers
// parse and the sizes disagree at this scale. load_pairs' cap and the store's choice use it.
size_t pair_decoded_bytes_estimate(const ImagePair& p, int scale);

}  // namespace srnas
