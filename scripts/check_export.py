#!/usr/bin/python3
"""Checks that an srnas export (model.pt or model.py) runs in stock PyTorch.

Usage: scripts/check_export.py MODEL.pt|MODEL.py [--input X.f32 --shape N,C,H,W]
                               [--expect Y.f32] [--atol 1e-4] [--runs 3]
Loads model.pt with torch.jit.load, or imports model.py and calls its load() (the plain
PyTorch module with weights.safetensors from the same folder); no srnas code is involved.
Runs it in eval mode --runs times (TorchScript profiles the first call and optimises later
ones, fusing where the build allows, so users' second call runs another graph) and checks
that every output is finite and N x 3 x 4H x 4W. The input is torch.rand(1, 3, 20, 28)
unless --input names a raw little-endian float32 file of --shape. With --expect (raw
float32, the output srnas computed for that input), the largest absolute difference must
be <= --atol in every run. Prints the torch version, the parameter count, the size of the
genome JSON the export carries (model.pt's genome.json, model.py's GENOME_JSON), the output
shape and the difference. Exit status 0 when every check holds, 1 otherwise (one line
saying why), 2 for bad arguments. Needs only torch.
"""
import argparse
import importlib.util
import sys

import torch


def read_f32(path, shape):
    with open(path, "rb") as f:
        data = bytearray(f.read())
    n = 1
    for s in shape:
        n *= s
    if len(data) != 4 * n:
        raise ValueError(f"{path}: expected {4 * n} bytes of float32 for shape {list(shape)}, got {len(data)}")
    return torch.frombuffer(data, dtype=torch.float32).reshape(shape)


def main(argv):
    ap = argparse.ArgumentParser(prog="check_export.py")
    ap.add_argument("model")
    ap.add_argument("--input")
    ap.add_argument("--shape", default="1,3,20,28")
    ap.add_argument("--expect")
    ap.add_argument("--atol", type=float, default=1e-4)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv[1:])
    try:
        shape = tuple(int(s) for s in args.shape.split(","))
        assert len(shape) == 4 and all(s > 0 for s in shape)
    except (ValueError, AssertionError):
        ap.error(f"--shape: expected N,C,H,W positive integers, got {args.shape}")
    path = args.model
    try:
        extra = {"genome.json": ""}
        if path.endswith(".py"):
            spec = importlib.util.spec_from_file_location("srnas_export_model", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            model = module.load()
            extra["genome.json"] = module.GENOME_JSON
        else:
            model = torch.jit.load(path, map_location="cpu", _extra_files=extra)
        model.eval()
        n_params = sum(p.numel() for p in model.parameters())
        x = read_f32(args.input, shape) if args.input else torch.rand(*shape)
        out_shape = (shape[0], 3, 4 * shape[2], 4 * shape[3])
        expect = read_f32(args.expect, out_shape) if args.expect else None
        ys = []
        with torch.no_grad():
            for _ in range(max(1, args.runs)):
                ys.append(model(x))
    except Exception as e:  # any load or run failure is a failed check
        print(f"{path}: FAILED: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        return 1
    finite = all(bool(torch.isfinite(y).all()) for y in ys)
    shapes = {tuple(y.shape) for y in ys}
    print(f"torch {torch.__version__}; {path}: {n_params} parameters"
          + (f", genome {len(extra['genome.json'])} bytes of JSON" if extra["genome.json"] else ""))
    print(f"output shape {', '.join(map(str, sorted(shapes)))}, finite: {finite}, runs: {len(ys)}")
    if not finite or shapes != {out_shape}:
        print(f"{path}: FAILED: expected a finite {'x'.join(map(str, out_shape))} output")
        return 1
    if expect is not None:
        diff = max(float((y - expect).abs().max()) for y in ys)
        print(f"max abs diff vs expected: {diff:.3g} (atol {args.atol:g})")
        if not diff <= args.atol:
            print(f"{path}: FAILED: output differs from {args.expect} by {diff:.3g} > {args.atol:g}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
