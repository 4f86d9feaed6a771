#include "distributed/search_config.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "search_space/error.h"
#include "search_space/registry.h"
#include "search_space/json_reader.h"
#include "search_space/yaml_json.h"

namespace srnas {

namespace {

std::string str(JsonReader& r, const std::string& key, const std::string& def, bool required = false) {
  const json* v = required ? &r.need(key) : r.get(key);
  if (!v) return def;
  if (!v->is_string()) throw Error(fmt::format("{}: expected a string, got {}", r.sub(key), JsonReader::kind(*v)));
  return v->get<std::string>();
}

}  // namespace

double parse_duration_s(const std::string& text, const std::string& where) {
  auto bad = [&] {
    return Error(fmt::format("{}: expected a duration such as 90s, 30m, 8h, 1h30m or 2d (or seconds), got '{}'", where,
                             text));
  };
  // A sequence of <number><unit> pieces (units d, h, m, s); a lone number is seconds.
  double total = 0;
  size_t at = 0;
  while (at < text.size()) {
    if (!(std::isdigit(uint8_t(text[at])) || text[at] == '.')) throw bad();
    size_t used = 0;
    double x = 0;
    try {
      x = std::stod(text.substr(at), &used);
    } catch (const std::exception&) {
      throw bad();
    }
    at += used;
    const char unit = at < text.size() ? text[at++] : 's';
    const double scale = unit == 's' ? 1 : unit == 'm' ? 60 : unit == 'h' ? 3600 : unit == 'd' ? 86400 : -1;
    if (scale < 0 || !std::isfinite(x)) throw bad();
    total += x * scale;
  }
  if (!(total > 0) || !std::isfinite(total)) throw bad();
  return total;
}

std::string format_duration(double seconds) {
  if (seconds < 59.5) return fmt::format("{:.3g}s", seconds);
  const int64_t t = int64_t(std::llround(seconds));
  if (t >= 3600) return fmt::format("{}h{:02}m", t / 3600, t / 60 % 60);
  return fmt::format("{}m{:02}s", t / 60, t % 60);
}

SearchConfig load_search_config(const std::string& path) { return load_search_config_text(read_text_file(path), path); }

SearchConfig load_search_config_text(const std::string& text, const std::string& path) {
  SearchConfig c;
  c.origin = path;
  c.yaml = text;
  try {
    json j = yaml_to_json(c.yaml, path);
    JsonReader r(j, "search");
    c.study = str(r, "study", "", true);
    if (c.study.empty()) throw Error("search.study: expected a non-empty name");
    c.description = str(r, "description", "");
    c.space = str(r, "space", c.space);
    if (const json* s = r.get("sampler")) c.sampler = parse_sampler_config(*s, "search.sampler");
    c.trials = r.integer("trials", 1, 1000000, c.trials);
    if (const json* s = r.get("seed")) {
      if (!s->is_number_integer() || s->get<int64_t>() < 0)
        throw Error(fmt::format("search.seed: expected a non-negative integer, got {}", JsonReader::kind(*s)));
      c.seed = s->get<uint64_t>();
    }
    if (const json* d = r.get("data")) c.data = data_spec_from_json(*d, "search.data");
    if (const json* t = r.get("train")) {
      JsonReader tr(*t, "search.train");
      c.train_options = str(tr, "options", c.train_options);
      if (const json* set = tr.get("set")) {
        if (!set->is_object()) throw Error("search.train.set: expected a map of option overrides");
        for (auto it = set->begin(); it != set->end(); ++it) c.train_set.push_back(it.key() + "=" + it.value().dump());
      }
      tr.finish();
    }
    if (const json* a = r.get("asha")) c.asha = parse_asha_config(*a, "search.asha");
    if (const json* f = r.get("final")) {
      JsonReader fr(*f, "search.final");
      FinalStage fs;
      fs.options = str(fr, "options", "", true);
      if (fs.options.empty()) throw Error("search.final.options: expected a training options file");
      if (const json* set = fr.get("set")) {
        if (!set->is_object()) throw Error("search.final.set: expected a map of option overrides");
        for (auto it = set->begin(); it != set->end(); ++it) fs.set.push_back(it.key() + "=" + it.value().dump());
      }
      fs.top = fr.integer("top", 1, 1000, fs.top);
      fs.from_parent = fr.boolean("from_parent", fs.from_parent);
      if (const json* sd = fr.get("seeds")) {
        if (!sd->is_array() || sd->empty()) throw Error("search.final.seeds: expected a non-empty list of seeds");
        for (size_t i = 0; i < sd->size(); ++i) {
          const json& x = (*sd)[i];
          if (!x.is_number_integer() || x.get<int64_t>() < 0)
            throw Error(fmt::format("search.final.seeds[{}]: expected a non-negative integer, got {}", i,
                                    x.is_number() ? x.dump() : JsonReader::kind(x)));
          if (std::find(fs.seeds.begin(), fs.seeds.end(), x.get<uint64_t>()) != fs.seeds.end())
            throw Error(fmt::format("search.final.seeds[{}]: seed {} given twice", i, x.get<uint64_t>()));
          fs.seeds.push_back(x.get<uint64_t>());
        }
      }
      fr.finish();
      c.final_stage = fs;
    }
    c.baseline = str(r, "baseline", c.baseline);
    if (const json* e = r.get("enqueue")) {
      if (!e->is_array()) throw Error("search.enqueue: expected a list of architecture names or genome files");
      for (size_t i = 0; i < e->size(); ++i) {
        const std::string where = fmt::format("search.enqueue[{}]", i);
        if (!(*e)[i].is_string() || (*e)[i].get<std::string>().empty())
          throw Error(fmt::format("{}: expected an architecture name or a genome file, got {}", where,
                                  JsonReader::kind((*e)[i])));
        try {
          load_arch((*e)[i].get<std::string>());
        } catch (const std::exception& ex) {
          rethrow_with(where, ex);
        }
        c.enqueue.push_back((*e)[i].get<std::string>());
      }
    }
    if (const json* p = r.get("prune")) {
      JsonReader pr(*p, "search.prune");
      c.prune_params = pr.boolean("params", c.prune_params);
      c.prune_runtime = pr.boolean("runtime", c.prune_runtime);
      pr.finish();
    }
    if (const json* l = r.get("limits")) {
      JsonReader lr(*l, "search.limits");
      if (lr.get("max_params")) c.limits.max_params = lr.integer("max_params", 1, 2000000000);
      if (lr.get("max_gmacs")) c.limits.max_gmacs = lr.number("max_gmacs", 1e-9, 1e9);
      if (lr.get("max_runtime_ratio")) c.limits.max_runtime_ratio = lr.number("max_runtime_ratio", 1e-9, 1e9);
      lr.finish();
    }
    if (const json* t = r.get("timeout")) {
      if (t->is_number() && t->get<double>() > 0 && std::isfinite(t->get<double>())) c.timeout_s = t->get<double>();
      else if (t->is_string()) c.timeout_s = parse_duration_s(t->get<std::string>(), "search.timeout");
      else throw Error(fmt::format("search.timeout: expected a duration such as 90s, 30m, 8h or 2d (or seconds > 0), got {}",
                                   t->is_number() ? t->dump() : JsonReader::kind(*t)));
    }
    if (const json* rt = r.get("runtime")) {
      JsonReader rr(*rt, "search.runtime");
      c.runtime.runs = rr.integer("runs", 1, 100, c.runtime.runs);
      // 0 is read (studies made before srnas required a warm-up continue); a new study needs >= 1
      // (open_session: the protocol times a warmed-up model).
      c.runtime.warmup = rr.integer("warmup", 0, 100, c.runtime.warmup);
      c.runtime.max_images = rr.integer("max_images", 0, 100000, c.runtime.max_images);
      c.runtime.crop_lr = rr.integer("crop_lr", 0, 100000, c.runtime.crop_lr);
      c.runtime.reference = rr.choice("reference", {"each", "once"}, c.runtime.reference);
      c.runtime.precision = rr.choice("precision", {"fp32", "bf16", "fp16"}, c.runtime.precision);
      c.runtime.channels_last = rr.boolean("channels_last", c.runtime.channels_last);
      rr.finish();
    }
    if (const json* m = r.get("macs_lr_size")) {
      auto side_ok = [](const json& x) {
        return x.is_number_integer() && x.get<int64_t>() >= 1 && x.get<int64_t>() <= 65536;
      };
      if (!m->is_array() || m->size() != 2 || !side_ok((*m)[0]) || !side_ok((*m)[1]))
        throw Error("search.macs_lr_size: expected [height, width], integers in [1, 65536]");
      c.macs_h = (*m)[0].get<int>();
      c.macs_w = (*m)[1].get<int>();
    }
    c.device = r.choice("device", {"auto", "cpu", "cuda"}, c.device);
    c.cores = r.choice("cores", {"fixed", "adaptive"}, c.cores);
    c.runs_dir = str(r, "runs_dir", "");
    c.keep_checkpoints = r.boolean("keep_checkpoints", c.keep_checkpoints);
    c.db = str(r, "db", "");
    r.finish();
    if (int(c.enqueue.size()) > c.trials)
      throw Error(fmt::format("search.enqueue: {} genomes, more than trials ({})", c.enqueue.size(), c.trials));
  } catch (const Error& e) {
    if (std::string(e.what()).rfind(path, 0) == 0) throw;
    rethrow_with(path, e);
  }
  return c;
}

}  // namespace srnas
