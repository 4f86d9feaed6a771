#include "analysis/export.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "search_space/accounting.h"
#include "search_space/error.h"

namespace srnas {

namespace fs = std::filesystem;

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// First line of a c10::Error (what() carries a multi-line backtrace).
std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

// One weight the genome's SRNet has, in dataflow order (as accounting lists the layers).
struct WeightSpec {
  std::string key;
  std::vector<int64_t> shape;
};

std::vector<WeightSpec> weight_specs(const Genome& g) {
  std::vector<WeightSpec> out;
  for (const LayerInfo& l : account(g, 0, 0).layers) {
    if (l.kind == "scale") {
      out.push_back({l.name, {1}});
      continue;
    }
    out.push_back({l.name + ".weight", {l.out_ch, l.in_ch / l.groups, l.kernel, l.kernel}});
    if (l.bias) out.push_back({l.name + ".bias", {l.out_ch}});
  }
  return out;
}

// The strict check of a weight map against the genome; returns float32 contiguous
// clones in dataflow order (as a map: srnas names sort, the order is kept by specs).
TensorMap prepare_weights(const Genome& g, const TensorMap& weights, const std::vector<WeightSpec>& specs) {
  TensorMap out;
  std::map<std::string, std::string> flat;  // TorchScript name -> srnas name
  for (const WeightSpec& s : specs) {
    auto it = weights.find(s.key);
    if (it == weights.end())
      throw Error(fmt::format("weights: missing key '{}' (shape {}) of genome {}", s.key, shape_str(s.shape),
                              genome_hash(g)));
    const torch::Tensor& t = it->second;
    if (!t.defined()) throw Error(fmt::format("weights: key '{}' is an undefined tensor", s.key));
    if (t.sizes().vec() != s.shape)
      throw Error(fmt::format("weights: key '{}' has shape {}, the genome expects {}", s.key, shape_str(t.sizes().vec()),
                              shape_str(s.shape)));
    if (!t.is_floating_point())
      throw Error(fmt::format("weights: key '{}' has dtype {}, expected a floating-point tensor", s.key,
                              std::string(c10::toString(t.scalar_type()))));
    auto [pos, fresh] = flat.emplace(torchscript_name(s.key), s.key);
    if (!fresh)
      throw Error(fmt::format("weights: keys '{}' and '{}' both map to TorchScript name '{}'", pos->second, s.key,
                              pos->first));
    torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat32).clone(at::MemoryFormat::Contiguous);
    if (!torch::isfinite(c).all().item<bool>())
      throw Error(fmt::format("weights: key '{}' contains NaN or Inf values", s.key));
    out[s.key] = c;
  }
  for (const auto& kv : weights)
    if (!out.count(kv.first))
      throw Error(fmt::format("weights: unexpected key '{}' (not a parameter of genome {})", kv.first, genome_hash(g)));
  return out;
}

torch::jit::Module assemble(const Genome& g, const TensorMap& prepared, const std::vector<WeightSpec>& specs) {
  torch::jit::Module m(c10::QualifiedName("__torch__.srnas.SRNet"));
  // nn.Module's flag; Python's model.eval()/train() and LibTorch's Module::train() need it.
  m.register_attribute("training", c10::BoolType::get(), false);
  for (const WeightSpec& s : specs) m.register_parameter(torchscript_name(s.key), prepared.at(s.key), /*is_buffer=*/false);
  try {
    m.define(torchscript_source(g));
  } catch (const c10::Error& e) {
    throw Error(fmt::format("torchscript: the generated forward of genome {} does not compile: {}", genome_hash(g),
                            first_line(e.what_without_backtrace())));
  }
  return m;
}

// A float literal TorchScript parses back to the same double ("0.1", "4.0", "1e-05").
std::string flt(double v) {
  std::string s = fmt::format("{}", v);
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

// The two languages forward() is generated in: TorchScript (the module's parameters are
// flat attributes, ops are aten calls) and plain Python PyTorch (nested nn.Modules named as
// srnas names them, convs are nn.Conv2d calls).
enum class Dialect { TorchScript, Python };

// The parts of an srnas module path: "lr.blocks.3.conv1" -> {"lr", "blocks", "3", "conv1"}.
std::vector<std::string> path_parts(const std::string& name) {
  std::vector<std::string> parts;
  for (size_t start = 0, dot = 0; dot != std::string::npos; start = dot + 1) {
    dot = name.find('.', start);
    parts.push_back(name.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
  }
  return parts;
}

// A part that indexes a list ("3" in "lr.blocks.3.conv1").
bool is_index(const std::string& part) {
  return !part.empty() && part.find_first_not_of("0123456789") == std::string::npos;
}

// An srnas module path as a Python attribute path: "lr.blocks.3.conv1" -> "lr.blocks[3].conv1".
std::string py_path(const std::string& name) {
  std::string out;
  for (const std::string& part : path_parts(name)) out += is_index(part) ? "[" + part + "]" : (out.empty() ? "" : ".") + part;
  return out;
}

// Generates forward() statement by statement. The running activation is y, the input
// is x (kept for the global skip); temporaries are t, s, u, a1..a3, o0.. (tensors), s1..s3
// (lists) and k (the attention's pool kernel).
class SourceWriter {
 public:
  SourceWriter(const Genome& g, Dialect d) : dialect_(d) {
    for (const LayerInfo& l : account(g, 0, 0).layers) layers_[l.name] = l;
  }

  void line(const std::string& s) { out_ += (dialect_ == Dialect::Python ? "        " : "    ") + s + "\n"; }
  std::string str() const { return out_; }

  std::string param(const std::string& key) const {
    return "self." + (dialect_ == Dialect::Python ? py_path(key) : torchscript_name(key));
  }

  // nn::Conv2d's forward: torch::conv2d(x, w, b, stride 1, padding d*(k-1)/2, dilation d, groups).
  // Grouped (depthwise) convolutions are written as torch.convolution, the op conv2d calls,
  // with the same result: TorchScript's TensorExpr fuser lowers a 3x3 depthwise aten::conv2d
  // to its own loop nest where PyTorch has LLVM (Debian's 2.6, CPU fusion on), and compiling
  // it never finished (> 5 min for one 8-channel layer, on the second forward() call);
  // aten::convolution is not fused and runs at once. Dense convs stay torch.conv2d, the
  // pattern torch.jit.freeze / optimize_for_inference look for. In Python, nn.Conv2d.
  std::string conv(const std::string& in, const std::string& layer) const {
    if (dialect_ == Dialect::Python) return "self." + py_path(layer) + "(" + in + ")";
    const LayerInfo& l = layers_.at(layer);
    const int p = conv_padding(l);
    if (l.groups > 1)
      return fmt::format("torch.convolution({}, {}, {}, [{}, {}], [{}, {}], [{}, {}], False, [0, 0], {})", in,
                         param(layer + ".weight"), param(layer + ".bias"), l.stride, l.stride, p, p, l.dilation,
                         l.dilation, l.groups);
    return fmt::format("torch.conv2d({}, {}, {}, [{}, {}], [{}, {}], [{}, {}], {})", in, param(layer + ".weight"),
                       param(layer + ".bias"), l.stride, l.stride, p, p, l.dilation, l.dilation, l.groups);
  }

  std::string act(const std::string& e, const Act& a) const {
    switch (a.type) {
      case ActType::None: return e;
      case ActType::ReLU: return "torch.relu(" + e + ")";
      case ActType::LeakyReLU:
        return fmt::format("{}.leaky_relu({}, {})", dialect_ == Dialect::Python ? "F" : "torch", e, flt(a.slope));
    }
    return e;
  }

  // One block on y (blocks.cpp, op for op).
  void block(const Block& b, const std::string& p, int w) {
    line(fmt::format("# {}: {}", p, describe(b)));
    switch (b.type) {
      case BlockType::ResReLU:
      case BlockType::Dilated:
        line("t = torch.relu(" + conv("y", p + ".conv1") + ")");
        line("y = y + " + conv("t", p + ".conv2"));
        break;
      case BlockType::ResLReLU:
        line("t = " + act(conv("y", p + ".conv1"), Act{ActType::LeakyReLU, b.slope}));
        line("y = y + " + conv("t", p + ".conv2"));
        break;
      case BlockType::InvRes:
        line("t = torch.clamp(" + conv("y", p + ".expand") + ", 0.0, 6.0)");
        line("t = torch.clamp(" + conv("t", p + ".dw") + ", 0.0, 6.0)");
        line("y = y + " + conv("t", p + ".project"));
        break;
      case BlockType::IMD: {
        const int d = w / 4, r = w - d;
        const std::string split = fmt::format(".split_with_sizes([{}, {}], 1)", d, r);
        const Act lrelu{ActType::LeakyReLU, b.slope};
        line(fmt::format("s1 = {}{}", act(conv("y", p + ".conv1"), lrelu), split));
        line(fmt::format("s2 = {}{}", act(conv("s1[1]", p + ".conv2"), lrelu), split));
        line(fmt::format("s3 = {}{}", act(conv("s2[1]", p + ".conv3"), lrelu), split));
        line("t = " + conv("s3[1]", p + ".conv4"));
        line("t = torch.cat([s1[0], s2[0], s3[0], t], 1)");
        if (b.cca) {  // IMDN's contrast-aware channel attention: std + mean per channel
          line("s = torch.mean(t, [2, 3], True)");
          line("s = torch.pow(torch.mean(torch.pow(t - s, 2), [2, 3], True), 0.5) + s");
          line("t = t * torch.sigmoid(" + conv("torch.relu(" + conv("s", p + ".cca.reduce") + ")", p + ".cca.expand") + ")");
        }
        line("y = y + " + conv("t", p + ".conv1x1"));
        break;
      }
      case BlockType::AWRU:
        line("t = torch.relu(" + conv("y", p + ".conv1") + ")");
        line(fmt::format("y = {} * {} + {} * y", param(p + ".res_scale"), conv("t", p + ".conv2"),
                         param(p + ".x_scale")));
        break;
      case BlockType::SERes:
        line("t = " + conv("y", p + ".conv1"));
        line("t = t * torch.clamp(t + 3.0, 0.0, 6.0) / 6.0");
        line("t = " + conv("t", p + ".conv2"));
        line("s = torch.relu(" + conv("torch.mean(t, [2, 3], True)", p + ".se_reduce") + ")");
        line("s = torch.clamp(" + conv("s", p + ".se_expand") + " + 3.0, 0.0, 6.0) / 6.0");
        line("y = y + t * s");
        break;
      case BlockType::DWSepRes:
        line("t = torch.relu(" + conv(conv("y", p + ".dw1"), p + ".pw1") + ")");
        line("y = y + " + conv(conv("t", p + ".dw2"), p + ".pw2"));
        break;
      case BlockType::RLFB: {
        const Act lrelu{ActType::LeakyReLU, b.slope};
        line("t = " + act(conv("y", p + ".c1_r"), lrelu));
        line("t = " + act(conv("t", p + ".c2_r"), lrelu));
        line("t = " + act(conv("t", p + ".c3_r"), lrelu));
        line("t = " + conv("t + y", p + ".c5"));
        esa(p + ".esa", /*rfdn=*/false);
        break;
      }
      case BlockType::SPAB:  // SiLU as t * sigmoid(t): the same op in TorchScript and plain PyTorch
        line("t = " + conv("y", p + ".c1_r"));
        line("t = " + conv("t * torch.sigmoid(t)", p + ".c2_r"));
        line("t = " + conv("t * torch.sigmoid(t)", p + ".c3_r"));
        line("y = (t + y) * (torch.sigmoid(t) - 0.5)");
        break;
      case BlockType::RFDB: {
        const Act lrelu{ActType::LeakyReLU, b.slope};
        // a1..a3: the distillations; t: the refined features, then the block's 1x1 output.
        line("a1 = " + act(conv("y", p + ".c1_d"), lrelu));
        line("t = " + act(conv("y", p + ".c1_r") + " + y", lrelu));
        line("a2 = " + act(conv("t", p + ".c2_d"), lrelu));
        line("t = " + act(conv("t", p + ".c2_r") + " + t", lrelu));
        line("a3 = " + act(conv("t", p + ".c3_d"), lrelu));
        line("t = " + act(conv("t", p + ".c3_r") + " + t", lrelu));
        line("t = " + act(conv("t", p + ".c4"), lrelu));
        line("t = " + conv("torch.cat([a1, a2, a3, t], 1)", p + ".c5"));
        esa(p + ".esa", /*rfdn=*/true);
        break;
      }
    }
  }

  // ESAImpl (blocks.cpp) on t, into y: s = conv1(t), u = its pooled branch, k = the pool's
  // kernel (esa_size); rfdn: RFDN's extra conv_max + ReLU and conv3 + ReLU + conv3_.
  void esa(const std::string& p, bool rfdn) {
    line("s = " + conv("t", p + ".conv1"));
    line("u = " + conv("s", p + ".conv2"));
    line("k = min(7, min(u.size(2), u.size(3)))");
    line("u = torch.max_pool2d(u, [k, k], [3, 3])");
    if (rfdn) line("u = torch.relu(" + conv("u", p + ".conv_max") + ")");
    line("u = " + conv("u", p + ".conv3"));
    if (rfdn) line("u = " + conv("torch.relu(u)", p + ".conv3_"));
    if (dialect_ == Dialect::Python)
      line("u = F.interpolate(u, size=(t.size(2), t.size(3)), mode=\"bilinear\", align_corners=False)");
    else
      line("u = torch.upsample_bilinear2d(u, [t.size(2), t.size(3)], False)");
    line("y = t * torch.sigmoid(" + conv("u + " + conv("s", p + ".conv_f"), p + ".conv4") + ")");
  }

  // StageNet: blocks (fuse: y = act(fuse(cat(o0, o1, ...))) of each block's output), then
  // (trunk) y = f + trunk(y).
  void stage(const Stage& s, const std::string& name, bool trunk, const std::optional<Act>& fuse = std::nullopt) {
    if (trunk) line("f = y");
    std::vector<std::string> outs;
    for (size_t i = 0; i < s.blocks.size(); ++i) {
      block(s.blocks[i], fmt::format("{}.blocks.{}", name, i), s.width);
      if (fuse) {
        outs.push_back(fmt::format("o{}", i));
        line(outs.back() + " = y");
      }
    }
    if (fuse) line("y = " + act(conv(fmt::format("torch.cat([{}], 1)", fmt::join(outs, ", ")), name + ".fuse"), *fuse));
    if (trunk) line("y = f + " + conv("y", name + ".trunk"));
  }

  // SRNet's forward, from the head to the global skip, ending with "return y".
  void forward(const Genome& g) {
    line(fmt::format("# srnas genome {}", genome_hash(g)));
    line("y = " + act(conv("x", "head"), g.head_act));
    stage(g.lr, "lr", g.long_skip, g.lr_fuse);
    if (g.upsampler == Upsampler::Progressive) {
      line("y = " + act("torch.pixel_shuffle(" + conv("y", "up.0") + ", 2)", g.up_act));
      stage(*g.x2, "x2", false);
      line("y = " + act("torch.pixel_shuffle(" + conv("y", "up.1") + ", 2)", g.up_act));
    } else {
      line("y = " + act("torch.pixel_shuffle(" + conv("y", "up.0") + ", 4)", g.up_act));
    }
    stage(g.x4, "x4", false);
    if (g.hr_conv) line("y = " + act(conv("y", "hr_conv"), g.tail_act));
    if (g.last_conv) line("y = " + conv("y", "last_conv"));
    if (g.global_skip != GlobalSkip::None) {
      // F::interpolate(scale_factor 4, align_corners false) calls exactly this overload:
      // output size floor(4 h) x floor(4 w) and the scales themselves.
      const bool bilinear = g.global_skip == GlobalSkip::Bilinear;
      if (dialect_ == Dialect::Python)
        line(fmt::format("y = y + F.interpolate(x, scale_factor=4.0, mode=\"{}\", align_corners=False)",
                         bilinear ? "bilinear" : "bicubic"));
      else
        line(fmt::format("y = y + torch.{}(x, [x.size(2) * 4, x.size(3) * 4], False, 4.0, 4.0)",
                         bilinear ? "upsample_bilinear2d" : "upsample_bicubic2d"));
    }
    line("return y");
  }

 private:
  Dialect dialect_;
  std::map<std::string, LayerInfo> layers_;
  std::string out_;
};

// The statements of SRNet.__init__ in Python: one nn.Conv2d (or a 1-element scale
// Parameter) per layer at its srnas path, containers created on first use (nn.ModuleList
// where the next part of the path is an index, nn.Module otherwise).
std::string python_init(const Genome& g) {
  std::string out;
  auto line = [&](const std::string& s) { out += "        " + s + "\n"; };
  std::map<std::string, int> list_size;  // ModuleList path -> elements appended so far
  std::set<std::string> made;            // container paths already created
  for (const LayerInfo& l : account(g, 0, 0).layers) {
    const std::vector<std::string> parts = path_parts(l.name);
    std::string leaf;
    if (l.kind == "scale") {
      leaf = "nn.Parameter(torch.ones(1))";
    } else {
      leaf = fmt::format("nn.Conv2d({}, {}, {}", l.in_ch, l.out_ch, l.kernel);
      const int pad = conv_padding(l);
      if (l.stride != 1) leaf += fmt::format(", stride={}", l.stride);
      if (pad) leaf += fmt::format(", padding={}", pad);
      if (l.dilation != 1) leaf += fmt::format(", dilation={}", l.dilation);
      if (l.groups != 1) leaf += fmt::format(", groups={}", l.groups);
      if (!l.bias) leaf += ", bias=False";
      leaf += ")";
    }
    std::string path;  // the srnas path of parts[0..i]
    for (size_t i = 0; i < parts.size(); ++i) {
      const std::string parent = path;
      path += (i ? "." : "") + parts[i];
      const bool last = i + 1 == parts.size();
      if (!last && made.count(path)) continue;
      const std::string value = last ? leaf : is_index(parts[i + 1]) ? "nn.ModuleList()" : "nn.Module()";
      if (i > 0 && is_index(parts[i])) {
        // Layers come in dataflow order, so a list's indices arrive as 0, 1, 2, ...
        if (std::stoi(parts[i]) != list_size[parent]++)
          throw Error(fmt::format("export: layer '{}' is out of order in its list", l.name));
        line(fmt::format("self.{}.append({})", py_path(parent), value));
      } else {
        line(fmt::format("self.{} = {}", py_path(path), value));
      }
      made.insert(path);
    }
  }
  return out;
}

// model.py: fmt named arguments {hash}, {params}, {genome} (the canonical JSON as a
// JSON string literal, which is also a Python one), {init} and {forward}; literal braces
// are doubled.
constexpr const char* kPythonTemplate = R"PY("""srnas genome {hash}: a x4 super-resolution network ({params} parameters) in plain PyTorch.

Written by `srnas export`; needs only torch (1.13 or later), no srnas, no TorchScript. Its
state_dict keys are srnas's weight names, so weights.safetensors (next to this file) loads
as it is:

    import model                  # this file
    net = model.load()            # SRNet with weights.safetensors, eval mode, on the CPU
    sr = net(lr)                  # N x 3 x h x w float RGB in [0, 1] -> N x 3 x 4h x 4w

SRNet() alone is the untrained network (PyTorch's default init), to train or fine-tune in
Python (`model.load("init.safetensors")` starts from srnas's initialisation where `srnas ask`
wrote one); `model.save(net, path)` writes weights srnas reads. `python3 model.py [WEIGHTS]`
loads the weights and runs one random input.
"""
import json
import os
import sys

import torch
import torch.nn.functional as F
from torch import nn

GENOME_HASH = "{hash}"
GENOME_JSON = {genome}
GENOME = json.loads(GENOME_JSON)


class SRNet(nn.Module):
    def __init__(self):
        super().__init__()
{init}
    def forward(self, x):
{forward}

def read_safetensors(path):
    """The tensors of a safetensors file (safetensors.torch.load_file when installed)."""
    try:
        from safetensors.torch import load_file
    except ImportError:
        load_file = None
    if load_file is not None:
        return load_file(path)
    dtypes = {{"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16}}
    with open(path, "rb") as f:
        data = f.read()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    out = {{}}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in dtypes:
            raise ValueError(f"{{path}}: tensor '{{name}}' has dtype {{info['dtype']}}, expected one of {{sorted(dtypes)}}")
        begin, end = info["data_offsets"]
        raw = bytearray(data[8 + n + begin:8 + n + end])
        out[name] = torch.frombuffer(raw, dtype=dtypes[info["dtype"]]).reshape(info["shape"])
    return out


def load(weights=None, device="cpu"):
    """SRNet with the weights of `weights` (default: weights.safetensors next to this file), in eval mode."""
    if weights is None:
        weights = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights.safetensors")
    net = SRNet()
    net.load_state_dict(read_safetensors(weights))
    return net.to(device).eval()


def save(net, path):
    """Writes net's state_dict to `path` as safetensors (float32, srnas's names), as srnas reads it
    (`srnas tell --weights`, `srnas eval --weights`); safetensors.torch.save_file when installed."""
    tensors = {{k: v.detach().to("cpu", torch.float32).contiguous() for k, v in net.state_dict().items()}}
    tmp = path + ".tmp"
    try:
        from safetensors.torch import save_file
    except ImportError:
        save_file = None
    if save_file is not None:
        save_file(tensors, tmp)
    else:
        header, blobs, offset = {{}}, [], 0
        for name in sorted(tensors):
            blob = tensors[name].numpy().tobytes()
            header[name] = {{"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(blob)]}}
            blobs.append(blob)
            offset += len(blob)
        text = json.dumps(header, separators=(",", ":")).encode()
        text += b" " * (-len(text) % 8)
        with open(tmp, "wb") as f:
            f.write(len(text).to_bytes(8, "little"))
            f.write(text)
            for blob in blobs:
                f.write(blob)
    os.replace(tmp, path)


if __name__ == "__main__":
    net = load(sys.argv[1] if len(sys.argv) > 1 else None)
    x = torch.rand(1, 3, 24, 32)
    with torch.no_grad():
        y = net(x)
    print(f"srnas genome {{GENOME_HASH}}: {{sum(p.numel() for p in net.parameters())}} parameters; "
          f"{{tuple(x.shape)}} -> {{tuple(y.shape)}}, finite: {{bool(torch.isfinite(y).all())}}")
)PY";


void save_atomic(const torch::jit::Module& m, const Genome& g, const std::string& path) {
  const std::string tmp = path + ".tmp";
  {
    // Saved to a stream, the archive's root folder is "archive" (as torch.jit.save to a
    // buffer), not the temporary file's name.
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw Error(fmt::format("{}: cannot write {}: {}", path, tmp, std::strerror(errno)));
    try {
      m.save(f, {{"genome.json", canonical_json(g)}});
    } catch (const c10::Error& e) {
      f.close();
      std::error_code ignored;
      fs::remove(tmp, ignored);
      throw Error(fmt::format("{}: cannot write: {}", path, first_line(e.what_without_backtrace())));
    }
    f.flush();
    if (!f) throw Error(fmt::format("{}: write failed: {}", tmp, std::strerror(errno)));
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) throw Error(fmt::format("{}: cannot rename from {}: {}", path, tmp, ec.message()));
}

}  // namespace

std::string torchscript_name(const std::string& srnas_name) {
  std::string s = srnas_name;
  for (char& c : s)
    if (c == '.') c = '_';
  return s;
}

std::string torchscript_source(const Genome& g) {
  validate(g);
  SourceWriter w(g, Dialect::TorchScript);
  w.forward(g);
  return "def forward(self, x):\n" + w.str();
}

std::string pytorch_source(const Genome& g) {
  validate(g);
  SourceWriter w(g, Dialect::Python);
  w.forward(g);
  const Accounting acc = account(g, 0, 0);
  return fmt::format(kPythonTemplate, fmt::arg("hash", genome_hash(g)), fmt::arg("params", acc.params),
                     fmt::arg("genome", nlohmann::json(canonical_json(g)).dump()), fmt::arg("init", python_init(g)),
                     fmt::arg("forward", w.str()));
}

torch::jit::Module build_torchscript(const Genome& g, const TensorMap& weights) {
  validate(g);
  const std::vector<WeightSpec> specs = weight_specs(g);
  return assemble(g, prepare_weights(g, weights, specs), specs);
}

void export_torchscript(const Genome& g, const TensorMap& weights, const std::string& path) {
  torch::jit::Module m;
  try {
    m = build_torchscript(g, weights);
  } catch (const Error& e) {
    rethrow_with(path, e);
  }
  save_atomic(m, g, path);
}

void export_model_dir(const Genome& g, const TensorMap& weights, const std::string& out_dir,
                      const std::string& trial_json) {
  TensorMap prepared;
  torch::jit::Module m;
  try {
    validate(g);
    const std::vector<WeightSpec> specs = weight_specs(g);
    prepared = prepare_weights(g, weights, specs);
    m = assemble(g, prepared, specs);
  } catch (const Error& e) {
    rethrow_with(out_dir, e);
  }
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) throw Error(fmt::format("{}: cannot create directory: {}", out_dir, ec.message()));
  const fs::path dir(out_dir);
  write_text_atomic((dir / "genome.json").string(), to_json(g).dump(2) + "\n");
  write_safetensors((dir / "weights.safetensors").string(), prepared,
                    {{"genome_hash", genome_hash(g)}, {"genome", canonical_json(g)}});
  save_atomic(m, g, (dir / "model.pt").string());
  write_text_atomic((dir / "model.py").string(), pytorch_source(g));
  if (!trial_json.empty()) {
    write_text_atomic((dir / "trial.json").string(), trial_json);
  } else if (fs::remove(dir / "trial.json", ec); ec) {  // an earlier export's: it describes another network
    throw Error(fmt::format("{}: cannot remove the trial.json of an earlier export: {}", (dir / "trial.json").string(),
                            ec.message()));
  }
}

}  // namespace srnas
