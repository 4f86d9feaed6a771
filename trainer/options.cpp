#include "trainer/options.h"

#include <cmath>
#include <filesystem>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "search_space/error.h"
#include "search_space/json_reader.h"
#include "search_space/yaml_json.h"

namespace srnas {

namespace {

std::vector<int64_t> int_list(JsonReader& r, const std::string& key) {
  std::vector<int64_t> out;
  const json* v = r.get(key);
  if (!v) return out;
  if (!v->is_array()) throw Error(fmt::format("{}: expected a list of integers, got {}", r.sub(key), JsonReader::kind(*v)));
  for (size_t i = 0; i < v->size(); ++i) {
    const json& x = (*v)[i];
    if (!x.is_number_integer() || x.get<int64_t>() < 1)
      throw Error(fmt::format("{}[{}]: expected a positive integer, got {}", r.sub(key), i, JsonReader::kind(x)));
    out.push_back(x.get<int64_t>());
  }
  return out;
}

std::vector<double> num_list(JsonReader& r, const std::string& key) {
  std::vector<double> out;
  const json* v = r.get(key);
  if (!v) return out;
  if (!v->is_array()) throw Error(fmt::format("{}: expected a list of numbers, got {}", r.sub(key), JsonReader::kind(*v)));
  for (size_t i = 0; i < v->size(); ++i) {
    if (!(*v)[i].is_number() || (*v)[i].get<double>() < 0)
      throw Error(fmt::format("{}[{}]: expected a non-negative number", r.sub(key), i));
    out.push_back((*v)[i].get<double>());
  }
  return out;
}

int64_t int64_field(JsonReader& r, const std::string& key, int64_t lo, int64_t hi, int64_t def) {
  const json* v = r.get(key);
  if (!v) return def;
  if (!v->is_number_integer())
    throw Error(fmt::format("{}: expected an integer, got {}", r.sub(key), JsonReader::kind(*v)));
  int64_t x = v->get<int64_t>();
  if (x < lo || x > hi) throw Error(fmt::format("{}: expected an integer in [{}, {}], got {}", r.sub(key), lo, hi, x));
  return x;
}

}  // namespace

TrainOptions parse_train_options(const json& j, const std::string& origin) {
  TrainOptions o;
  try {
    JsonReader r(j, "options");
    if (const json* d = r.get("description"); d && !d->is_string()) throw Error("options.description: expected a string");
    o.seed = uint64_t(int64_field(r, "seed", 0, INT64_MAX, 0));
    o.iterations = int64_field(r, "iterations", 1, int64_t(1) << 40, o.iterations);
    o.batch_size = r.integer("batch_size", 1, 4096, o.batch_size);
    o.patch_lr = r.integer("patch_size", 4, 1024, o.patch_lr);
    o.augment = r.boolean("augment", o.augment);
    o.lr = r.number("lr", 1e-12, 10.0, o.lr);
    if (const json* b = r.get("betas")) {
      if (!b->is_array() || b->size() != 2 || !(*b)[0].is_number() || !(*b)[1].is_number())
        throw Error("options.betas: expected [beta1, beta2]");
      o.beta1 = (*b)[0].get<double>();
      o.beta2 = (*b)[1].get<double>();
      if (!(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1))
        throw Error("options.betas: expected values in [0, 1)");
    }
    o.weight_decay = r.number("weight_decay", 0.0, 1.0, o.weight_decay);
    if (const json* s = r.get("schedule")) {
      JsonReader sr(*s, "options.schedule");
      o.schedule.type = sr.choice("type", {"multistep", "cosine_restarts", "constant"});
      if (o.schedule.type == "multistep") {
        o.schedule.milestones = int_list(sr, "milestones");
        o.schedule.gamma = sr.number("gamma", 0.0, 1.0, 0.5);
      } else if (o.schedule.type == "cosine_restarts") {
        o.schedule.periods = int_list(sr, "periods");
        if (o.schedule.periods.empty()) throw Error("options.schedule.periods: expected at least one period");
        o.schedule.restart_weights = num_list(sr, "restart_weights");
        if (o.schedule.restart_weights.empty()) o.schedule.restart_weights.assign(o.schedule.periods.size(), 1.0);
        if (o.schedule.restart_weights.size() != o.schedule.periods.size())
          throw Error("options.schedule.restart_weights: expected one weight per period");
        o.schedule.eta_min = sr.number("eta_min", 0.0, 10.0, 1e-7);
      }
      sr.finish();
    }
    if (const json* l = r.get("loss")) {
      if (l->is_string()) {
        o.loss.type = l->get<std::string>();
        if (o.loss.type != "l1" && o.loss.type != "l2" && o.loss.type != "charbonnier")
          throw Error(fmt::format("options.loss: expected l1, l2 or charbonnier, got '{}'", o.loss.type));
      } else {
        JsonReader lr(*l, "options.loss");
        o.loss.type = lr.choice("type", {"l1", "l2", "charbonnier"});
        if (o.loss.type == "charbonnier") o.loss.eps = lr.number("eps", 1e-12, 1.0, o.loss.eps);
        else if (l->contains("eps"))
          throw Error(fmt::format("options.loss.eps: only charbonnier has an eps (type is {})", o.loss.type));
        lr.finish();
      }
    }
    if (const json* rp = r.get("reparam")) {
      if (rp->is_string()) {
        o.reparam.type = rp->get<std::string>();
        if (o.reparam.type != "conv3xc")
          throw Error(fmt::format("options.reparam: expected conv3xc, got '{}'", o.reparam.type));
      } else {
        JsonReader rr(*rp, "options.reparam");
        o.reparam.type = rr.choice("type", {"conv3xc"});
        o.reparam.gain = rr.integer("gain", 1, 4, o.reparam.gain);
        rr.finish();
      }
    }
    o.ema_decay = r.number("ema", 0.0, 1.0, o.ema_decay);
    if (o.ema_decay >= 1.0)
      throw Error(fmt::format("options.ema: expected a decay in [0, 1) (0: off, 0.999: BasicSR's), got {}", o.ema_decay));
    o.val_every = int64_field(r, "val_every", 0, INT64_MAX, o.val_every);
    o.checkpoint_every = int64_field(r, "checkpoint_every", 0, INT64_MAX, o.checkpoint_every);
    o.log_every = int64_field(r, "log_every", 1, INT64_MAX, o.log_every);
    if (const json* l = r.get("loader")) {
      JsonReader lr(*l, "options.loader");
      o.workers = lr.integer("workers", 1, 64, o.workers);
      o.queue_depth = lr.integer("queue_depth", 1, 1024, o.queue_depth);
      o.max_memory_mb = int64_field(lr, "max_memory_mb", 1, int64_t(1) << 30, o.max_memory_mb);
      o.store = lr.choice("store", {"auto", "memory", "mapped"}, o.store);
      lr.finish();
    }
    o.device = r.choice("device", {"auto", "cpu", "cuda"}, o.device);
    o.threads = r.integer("threads", 0, 1024, o.threads);
    if (const json* pf = r.get("perf")) {
      JsonReader pr(*pf, "options.perf");
      o.perf.channels_last = pr.boolean("channels_last", o.perf.channels_last);
      o.perf.precision = pr.choice("precision", {"fp32", "bf16"}, o.perf.precision);
      o.perf.cudnn_benchmark = pr.boolean("cudnn_benchmark", o.perf.cudnn_benchmark);
      o.perf.pin_memory = pr.boolean("pin_memory", o.perf.pin_memory);
      pr.finish();
    }
    r.finish();
  } catch (const Error& e) {
    rethrow_with(origin, e);
  }
  return o;
}

void apply_override(json& j, const std::string& assignment) {
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw Error(fmt::format("--set '{}': expected key=value (e.g. iterations=200)", assignment));
  std::string key = assignment.substr(0, eq), value = assignment.substr(eq + 1);
  json parsed = yaml_to_json(value, "--set " + key);
  json* node = &j;
  size_t start = 0;
  while (true) {
    size_t dot = key.find('.', start);
    std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty()) throw Error(fmt::format("--set '{}': empty key component", assignment));
    if (!node->is_object()) *node = json::object();
    if (dot == std::string::npos) {
      (*node)[part] = parsed;
      return;
    }
    node = &(*node)[part];
    start = dot + 1;
  }
}

TrainOptions load_train_options(const std::string& path, const std::vector<std::string>& overrides) {
  std::string file = path;
  if (!std::filesystem::exists(file) && file.find('/') == std::string::npos && file.find('.') == std::string::npos)
    throw Error(fmt::format("{}: options file not found (expected a YAML file such as configs/train/tiny.yaml)", path));
  json j = yaml_file_to_json(file);
  if (j.is_null()) j = json::object();
  if (overrides.empty()) return parse_train_options(j, file);
  json with = j;
  for (const auto& o : overrides) apply_override(with, o);
  try {
    return parse_train_options(with, file);
  } catch (const Error&) {
    parse_train_options(j, file);  // the file's own error is the file's
    // The file alone is fine: an override is to blame, and the error says which were given.
    return parse_train_options(with, fmt::format("{} + set {}", file, fmt::join(overrides, ", ")));
  }
}

json to_json(const TrainOptions& o) {
  json s = {{"type", o.schedule.type}};
  if (o.schedule.type == "multistep") {
    s["milestones"] = o.schedule.milestones;
    s["gamma"] = o.schedule.gamma;
  } else if (o.schedule.type == "cosine_restarts") {
    s["periods"] = o.schedule.periods;
    s["restart_weights"] = o.schedule.restart_weights;
    s["eta_min"] = o.schedule.eta_min;
  }
  json j = {{"seed", o.seed},
          {"iterations", o.iterations},
          {"batch_size", o.batch_size},
          {"patch_size", o.patch_lr},
          {"augment", o.augment},
          {"lr", o.lr},
          {"betas", {o.beta1, o.beta2}},
          {"weight_decay", o.weight_decay},
          {"schedule", s},
          {"val_every", o.val_every},
          {"checkpoint_every", o.checkpoint_every},
          {"log_every", o.log_every},
          {"loader", {{"workers", o.workers}, {"queue_depth", o.queue_depth}, {"max_memory_mb", o.max_memory_mb}, {"store", o.store}}},
          {"device", o.device},
          {"threads", o.threads},
          {"perf", {{"channels_last", o.perf.channels_last}, {"precision", o.perf.precision},
                    {"cudnn_benchmark", o.perf.cudnn_benchmark}, {"pin_memory", o.perf.pin_memory}}}};
  if (o.ema_decay > 0) j["ema"] = o.ema_decay;
  if (!o.reparam.type.empty()) j["reparam"] = {{"type", o.reparam.type}, {"gain", o.reparam.gain}};
  if (o.loss.type == "charbonnier") j["loss"] = {{"type", o.loss.type}, {"eps", o.loss.eps}};
  else if (o.loss.type != "l1") j["loss"] = o.loss.type;  // l1: absent, as in the records of runs before `loss`
  return j;
}

json decisive_train_json(const TrainOptions& o) {
  json train = to_json(o);
  for (const char* k : {"val_every", "checkpoint_every", "log_every", "loader", "threads", "device"}) train.erase(k);
  train["perf"].erase("cudnn_benchmark");
  train["perf"].erase("pin_memory");
  return train;
}

double learning_rate(const TrainOptions& o, int64_t t) {
  const Schedule& s = o.schedule;
  if (s.type == "multistep") {
    double lr = o.lr;
    for (int64_t m : s.milestones)
      if (t >= m) lr *= s.gamma;
    return lr;
  }
  if (s.type == "cosine_restarts") {
    // BasicSR CosineAnnealingRestartLR: within cycle i (start c_i, length T_i),
    // lr = eta_min + w_i * 0.5 * (lr - eta_min) * (1 + cos(pi * (t - c_i) / T_i)).
    int64_t start = 0;
    for (size_t i = 0; i < s.periods.size(); ++i) {
      if (t < start + s.periods[i] || i + 1 == s.periods.size()) {
        double frac = std::min(1.0, double(t - start) / double(s.periods[i]));
        return s.eta_min + s.restart_weights[i] * 0.5 * (o.lr - s.eta_min) * (1.0 + std::cos(M_PI * frac));
      }
      start += s.periods[i];
    }
  }
  return o.lr;
}

}  // namespace srnas
