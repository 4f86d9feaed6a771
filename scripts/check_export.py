#!/usr/bin/python3
"""Checks that an srnas TorchScript export (model.pt) runs in stock PyTorch.

Usage: scripts/check_export.py MODEL.pt
Loads the file with torch.jit.load (no srnas code involved), runs it in eval mode on
torch.rand(1, 3, 20, 28) and prints the output shape and whether it is finite.
Exits 0 when the output is 1x3x80x112 and finite, 1 otherwise. Needs only torch.
"""
import sys

import torch


def main(argv):
    if len(argv) != 2:
        print("usage: check_export.py MODEL.pt", file=sys.stderr)
        return 1
    path = argv[1]
    try:
        extra = {"genome.json": ""}
        model = torch.jit.load(path, map_location="cpu", _extra_files=extra)
        model.eval()
        n_params = sum(p.numel() for p in model.parameters())
        x = torch.rand(1, 3, 20, 28)
        with torch.no_grad():
            y = model(x)
    except Exception as e:  # any load or run failure is a failed check
        print(f"{path}: FAILED: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
        return 1
    finite = bool(torch.isfinite(y).all())
    shape = tuple(y.shape)
    print(f"torch {torch.__version__}; {path}: {n_params} parameters"
          + (f", genome {len(extra['genome.json'])} bytes of JSON" if extra["genome.json"] else ""))
    print(f"output shape {shape}, finite: {finite}")
    ok = finite and shape == (1, 3, 80, 112)
    if not ok:
        print(f"{path}: FAILED: expected a finite 1x3x80x112 output")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
