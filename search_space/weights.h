// Weights I/O: safetensors files (F32) and loading/saving a module's parameters under
// srnas's own names or a reference architecture's published names (BasicSR, KAIR).
//
// Format: 8-byte little-endian header length N, N bytes of JSON
// {name: {dtype, shape, data_offsets:[begin,end]}, "__metadata__": {str: str}}, then the
// raw little-endian data. Contract: reading checks everything the header claims
// (dtype F32 only, shape vs byte count, offsets inside the file, no overlaps) and throws
// srnas::Error naming the file and tensor; load_weights is strict (a missing, extra or
// mis-shaped key is an error, and the module is left untouched); writes are atomic
// (temp file + rename); a save/load round trip is bit-exact.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "search_space/registry.h"

namespace srnas {

using TensorMap = std::map<std::string, torch::Tensor>;

TensorMap read_safetensors(const std::string& path, std::map<std::string, std::string>* metadata = nullptr);
void write_safetensors(const std::string& path, const TensorMap& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// Parameters (and buffers) of a module by name, mapped through rules (empty: own names).
TensorMap module_state(const torch::nn::Module& m, const std::vector<KeyRule>& rules = {});
void save_weights(const torch::nn::Module& m, const std::string& path, const std::vector<KeyRule>& rules = {},
                  const std::map<std::string, std::string>& metadata = {});
void load_weights(torch::nn::Module& m, const std::string& path, const std::vector<KeyRule>& rules = {});
// Loads a file written under srnas's own names or under any of the published namings,
// whichever the file's keys cover in full, then strictly as load_weights does; returns the
// naming used: "srnas" or its source. When none covers the file, the error names the closest
// naming and its first missing key: "w.safetensors: no naming of this arch matches its keys;
// closest: BasicSR ... MSRResNet, missing key 'body.15.conv2.bias' (shape [64]) and 3 more".
std::string load_weights_auto(torch::nn::Module& m, const std::string& path,
                              const std::vector<PublishedKeys>& namings);

}  // namespace srnas
