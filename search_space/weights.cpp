#include "search_space/weights.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "search_space/error.h"

namespace srnas {

namespace {

static_assert(sizeof(float) == 4, "F32 must be 4 bytes");

bool little_endian() {
  const uint16_t one = 1;
  return *reinterpret_cast<const uint8_t*>(&one) == 1;
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace

TensorMap read_safetensors(const std::string& path, std::map<std::string, std::string>* metadata) {
  if (!little_endian()) throw Error("safetensors I/O needs a little-endian host");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  f.seekg(0, std::ios::end);
  const uint64_t size = uint64_t(f.tellg());
  f.seekg(0);
  if (size < 8) throw Error(fmt::format("{}: truncated safetensors file ({} bytes, need at least 8)", path, size));
  uint64_t n = 0;
  f.read(reinterpret_cast<char*>(&n), 8);
  if (n > size - 8)
    throw Error(fmt::format("{}: header length {} exceeds the file ({} bytes): truncated or not safetensors", path, n, size));
  std::string header(n, '\0');
  f.read(header.data(), std::streamsize(n));
  nlohmann::json h;
  try {
    h = nlohmann::json::parse(header);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}: malformed safetensors header JSON: {}", path, e.what()));
  }
  if (!h.is_object()) throw Error(fmt::format("{}: safetensors header is not a JSON object", path));
  const uint64_t data_size = size - 8 - n;

  struct Entry {
    std::string name;
    std::vector<int64_t> shape;
    uint64_t begin, end;
  };
  std::vector<Entry> entries;
  for (auto it = h.begin(); it != h.end(); ++it) {
    const std::string& name = it.key();
    const auto& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) throw Error(fmt::format("{}: __metadata__ must be an object of strings", path));
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) throw Error(fmt::format("{}: __metadata__.{} must be a string", path, m.key()));
        if (metadata) (*metadata)[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    auto bad = [&](const std::string& what) { return Error(fmt::format("{}: tensor '{}': {}", path, name, what)); };
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets") || v.size() != 3)
      throw bad("expected exactly {dtype, shape, data_offsets}");
    if (!v["dtype"].is_string()) throw bad("dtype must be a string");
    std::string dtype = v["dtype"].get<std::string>();
    if (dtype != "F32") throw bad(fmt::format("dtype {} is not supported (expected F32)", dtype));
    Entry e{name, {}, 0, 0};
    if (!v["shape"].is_array()) throw bad("shape must be an array");
    uint64_t count = 1;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_unsigned()) throw bad("shape entries must be non-negative integers");
      e.shape.push_back(d.get<int64_t>());
      count *= d.get<uint64_t>();
    }
    const auto& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw bad("data_offsets must be [begin, end]");
    e.begin = off[0].get<uint64_t>();
    e.end = off[1].get<uint64_t>();
    if (e.end < e.begin) throw bad(fmt::format("data_offsets [{}, {}] end before begin", e.begin, e.end));
    if (e.end > data_size)
      throw bad(fmt::format("data_offsets end {} is past the data ({} bytes): truncated file", e.end, data_size));
    if (e.end - e.begin != count * 4)
      throw bad(fmt::format("shape {} needs {} bytes but data_offsets span {}", shape_str(e.shape), count * 4,
                            e.end - e.begin));
    entries.push_back(std::move(e));
  }
  std::vector<const Entry*> order;
  for (const auto& e : entries) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < order.size(); ++i)
    if (order[i]->begin < order[i - 1]->end && order[i]->end > order[i]->begin)
      throw Error(fmt::format("{}: tensors '{}' and '{}' overlap", path, order[i - 1]->name, order[i]->name));

  TensorMap out;
  for (const auto& e : entries) {
    torch::Tensor t = torch::empty(e.shape, torch::kFloat32);
    f.seekg(std::streamoff(8 + n + e.begin));
    f.read(reinterpret_cast<char*>(t.data_ptr<float>()), std::streamsize(e.end - e.begin));
    if (!f) throw Error(fmt::format("{}: tensor '{}': read failed (truncated file?)", path, e.name));
    out[e.name] = t;
  }
  return out;
}

void write_safetensors(const std::string& path, const TensorMap& tensors,
                       const std::map<std::string, std::string>& metadata) {
  if (!little_endian()) throw Error("safetensors I/O needs a little-endian host");
  nlohmann::json h = nlohmann::json::object();
  if (!metadata.empty()) h["__metadata__"] = metadata;
  std::vector<torch::Tensor> data;
  uint64_t offset = 0;
  for (const auto& [name, t0] : tensors) {
    if (t0.scalar_type() != torch::kFloat32)
      throw Error(fmt::format("{}: tensor '{}' has dtype {}, only float32 is written", path, name,
                              std::string(c10::toString(t0.scalar_type()))));
    torch::Tensor t = t0.detach().to(torch::kCPU).contiguous();
    uint64_t bytes = uint64_t(t.numel()) * 4;
    h[name] = {{"dtype", "F32"}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(t);
  }
  std::string header = h.dump();
  while ((8 + header.size()) % 8) header += ' ';  // align the data to 8 bytes, as the reference writer does
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw Error(fmt::format("{}: cannot write: {}", tmp, std::strerror(errno)));
    uint64_t n = header.size();
    f.write(reinterpret_cast<const char*>(&n), 8);
    f.write(header.data(), std::streamsize(n));
    for (const auto& t : data) f.write(reinterpret_cast<const char*>(t.data_ptr<float>()), t.numel() * 4);
    f.flush();
    if (!f) throw Error(fmt::format("{}: write failed: {}", tmp, std::strerror(errno)));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw Error(fmt::format("{}: cannot rename from {}: {}", path, tmp, ec.message()));
}

TensorMap module_state(const torch::nn::Module& m, const std::vector<KeyRule>& rules) {
  TensorMap out;
  for (const auto& p : m.named_parameters(/*recurse=*/true)) out[published_key(p.key(), rules)] = p.value();
  for (const auto& b : m.named_buffers(/*recurse=*/true)) out[published_key(b.key(), rules)] = b.value();
  return out;
}

void save_weights(const torch::nn::Module& m, const std::string& path, const std::vector<KeyRule>& rules,
                  const std::map<std::string, std::string>& metadata) {
  write_safetensors(path, module_state(m, rules), metadata);
}

void load_weights(torch::nn::Module& m, const std::string& path, const std::vector<KeyRule>& rules) {
  TensorMap file = read_safetensors(path);
  TensorMap own = module_state(m, rules);
  for (const auto& [name, t] : own) {
    auto it = file.find(name);
    if (it == file.end()) throw Error(fmt::format("{}: missing key '{}' (shape {})", path, name, shape_str(t.sizes().vec())));
    if (it->second.sizes() != t.sizes())
      throw Error(fmt::format("{}: key '{}' has shape {}, the model expects {}", path, name,
                              shape_str(it->second.sizes().vec()), shape_str(t.sizes().vec())));
  }
  for (const auto& [name, t] : file) {
    if (!own.count(name)) throw Error(fmt::format("{}: unexpected key '{}' (not a parameter of this model)", path, name));
    if (!torch::isfinite(t).all().item<bool>())
      throw Error(fmt::format("{}: tensor '{}' contains NaN or Inf values", path, name));
  }
  torch::NoGradGuard no_grad;
  for (auto& [name, t] : own) t.copy_(file.at(name));
}

std::string load_weights_auto(torch::nn::Module& m, const std::string& path,
                              const std::vector<PublishedKeys>& namings) {
  if (namings.empty()) {
    load_weights(m, path);
    return "srnas";
  }
  const TensorMap file = read_safetensors(path);
  // Candidate namings: srnas's own first, then the published ones in the arch file's order.
  std::vector<const PublishedKeys*> candidates = {nullptr};
  for (const PublishedKeys& p : namings) candidates.push_back(&p);
  const PublishedKeys* closest = nullptr;
  size_t closest_missing = SIZE_MAX;
  std::string first_missing;
  for (const PublishedKeys* c : candidates) {
    size_t missing = 0;
    std::string first;
    for (const auto& [name, t] : module_state(m, c ? c->rules : std::vector<KeyRule>{})) {
      if (file.count(name)) continue;
      if (missing++ == 0) first = fmt::format("'{}' (shape {})", name, shape_str(t.sizes().vec()));
    }
    if (missing == 0) {
      load_weights(m, path, c ? c->rules : std::vector<KeyRule>{});
      return c ? c->source : "srnas";
    }
    if (missing < closest_missing) {
      closest = c;
      closest_missing = missing;
      first_missing = first;
    }
  }
  throw Error(fmt::format("{}: no naming of this arch matches its keys; closest: {}, missing key {}{}", path,
                          closest ? closest->source : "srnas's own names", first_missing,
                          closest_missing > 1 ? fmt::format(" and {} more", closest_missing - 1) : ""));
}

}  // namespace srnas
