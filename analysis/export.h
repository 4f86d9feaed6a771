// Export: a trained genome as a TorchScript file that stock PyTorch loads with
// torch.jit.load (no srnas, no Python classes) and runs on N x 3 x h x w float input, and
// as model.py, the same network as plain PyTorch source (TorchScript is deprecated upstream;
// model.py works with torch.compile, torch.export and ONNX export, and trains in Python).
//
// Contract: the module is assembled in C++: one parameter per srnas weight, named with
// '.' -> '_' ("lr.blocks.3.conv1.weight" -> "lr_blocks_3_conv1_weight"; float32,
// contiguous clones, requires_grad false), and a forward() generated from the genome
// with aten ops only (torch.conv2d, torch.pixel_shuffle, ...; grouped convs as
// torch.convolution, which TorchScript's CPU fuser leaves alone: it hangs compiling a 3x3
// depthwise conv2d), mirroring SRNet's forward op for op, so its output equals SRNet's
// (same weights) to float rounding, in LibTorch and in stock PyTorch 1.13 and 2.x. Weights are
// strict: a missing, extra, mis-shaped, non-float or non-finite tensor throws
// srnas::Error naming the key. Files are written atomically (temp file + rename).
#pragma once

#include <string>

#include <torch/script.h>

#include "search_space/genome.h"
#include "search_space/text_file.h"  // write_text_atomic, used with the sources above
#include "search_space/weights.h"

namespace srnas {

// Builds the TorchScript module for g with the given weights (srnas names, e.g. from
// module_state(*net)). The module also has the usual "training" attribute (false).
torch::jit::Module build_torchscript(const Genome& g, const TensorMap& weights);

// Writes path (torch::jit::Module::save; the archive carries extra file "genome.json",
// the canonical genome), atomically. Errors name path.
void export_torchscript(const Genome& g, const TensorMap& weights, const std::string& path);

// Creates out_dir and writes out_dir/genome.json (canonical JSON, pretty),
// out_dir/weights.safetensors (srnas names), out_dir/model.pt and out_dir/model.py, and
// out_dir/trial.json when trial_json is not empty (what the trial measured: srnas export);
// otherwise an out_dir/trial.json left by an earlier export is removed (it is another network's).
void export_model_dir(const Genome& g, const TensorMap& weights, const std::string& out_dir,
                      const std::string& trial_json = "");

// The generated TorchScript source of the module's forward (for debugging / docs).
std::string torchscript_source(const Genome& g);

// model.py: the genome as a plain PyTorch nn.Module (class SRNet; nested modules named as
// srnas names its weights, so weights.safetensors is its state_dict; nn.Conv2d layers and
// a forward() generated op for op like the TorchScript one) with load() (reads
// weights.safetensors next to the file, with the safetensors package when installed), save()
// (writes a state_dict as safetensors srnas reads) and the canonical genome (GENOME_JSON). Its output equals SRNet's to float rounding.
std::string pytorch_source(const Genome& g);

// The attribute name of an srnas weight in the TorchScript module ('.' -> '_').
std::string torchscript_name(const std::string& srnas_name);

}  // namespace srnas
