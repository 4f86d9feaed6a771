#!/usr/bin/python3
"""Converts a PyTorch checkpoint (.pth / .pt, torch.save of a state_dict) to safetensors for srnas.

Published SR weights ship as pickled .pth files (BasicSR's MSRResNet_x4.pth, AIM 2019's
MSRResNetx4.pth from mmsr, KAIR's imdn_x4.pth); srnas's C++ side reads safetensors only, so
this runs once where PyTorch-Python is, e.g.

    /usr/bin/python3 scripts/pth_to_safetensors.py MSRResNetx4.pth msrresnet_aim19.safetensors
    build/srnas eval --arch msrresnet --weights msrresnet_aim19.safetensors --data DIV2K --split val

srnas then loads the file under whichever naming it uses (srnas's own, or one of the arch's
published ones: `published_keys` in configs/archs/*.json) and says which.

What it does: torch.load with weights_only=True where the torch has it (a pickle can run code;
--trust lifts that for checkpoints holding other objects); takes the state dict from the top
level or from the first of --key, params_ema, params, state_dict, model, net, generator
that holds one (BasicSR keeps both 'params' and 'params_ema'); strips a DataParallel 'module.'
prefix; converts floating tensors to float32 (srnas stores F32); writes the safetensors format
(8-byte little-endian header length, JSON header, 8-byte aligned, raw data) without needing
the safetensors package, atomically (temp file + rename). Errors are one line, exit status 2.
"""
import argparse
import json
import os
import struct
import sys

import torch

CONTAINER_KEYS = ("params_ema", "params", "state_dict", "model", "net", "generator")


def die(msg):
    print(f"pth_to_safetensors: error: {msg}", file=sys.stderr)
    sys.exit(2)


def load(path, trust):
    try:
        if trust:
            return torch.load(path, map_location="cpu")
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except TypeError:  # torch older than 1.13: no weights_only
            return torch.load(path, map_location="cpu")
    except FileNotFoundError:
        die(f"{path}: no such file")
    except Exception as e:  # noqa: BLE001 - any unpickling failure is the user's one-line error
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        hint = "" if trust else " (a checkpoint holding other objects than tensors needs --trust)"
        die(f"{path}: cannot load as a PyTorch checkpoint: {first}{hint}")


def is_state_dict(obj):
    return isinstance(obj, dict) and len(obj) > 0 and all(torch.is_tensor(v) for v in obj.values())


def find_state_dict(obj, path, key):
    if key is not None:
        if not isinstance(obj, dict) or key not in obj:
            have = ", ".join(map(str, obj.keys())) if isinstance(obj, dict) else type(obj).__name__
            die(f"{path}: --key {key}: no such entry (it has: {have})")
        if not is_state_dict(obj[key]):
            die(f"{path}: entry '{key}' is not a state dict of tensors")
        return obj[key], key
    if is_state_dict(obj):
        return obj, None
    if isinstance(obj, dict):
        for k in CONTAINER_KEYS:
            if k in obj and is_state_dict(obj[k]):
                return obj[k], k
        have = ", ".join(map(str, obj.keys()))
        die(f"{path}: no state dict at the top level nor under {', '.join(CONTAINER_KEYS)} (it has: {have}); "
            "name the entry with --key")
    die(f"{path}: holds a {type(obj).__name__}, expected a state dict (a dict of tensors)")


def raw_bytes(t):
    """Little-endian float32 bytes of a contiguous CPU float32 tensor (numpy when torch has it)."""
    try:
        return t.numpy().astype("<f4", copy=False).tobytes()
    except (RuntimeError, ImportError):  # a torch built without numpy
        return bytes(t.reshape(-1).view(torch.uint8).tolist()) if sys.byteorder == "little" else die("big-endian host")


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    offset = 0
    for name in sorted(tensors):
        t = tensors[name]
        n = t.numel() * 4
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + n]}
        offset += n
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - (8 + len(text)) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text.encode("utf-8"))
        for name in sorted(tensors):
            f.write(raw_bytes(tensors[name]))
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pth", help="torch.save'd checkpoint (.pth, .pt; zip or legacy format)")
    ap.add_argument("out", help="safetensors file to write")
    ap.add_argument("--key", help="the entry holding the state dict (default: the top level, else "
                    + ", ".join(CONTAINER_KEYS) + ", the first present)")
    ap.add_argument("--trust", action="store_true", help="unpickle arbitrary objects (only for files you trust)")
    a = ap.parse_args()
    sd, key = find_state_dict(load(a.pth, a.trust), a.pth, a.key)
    names = list(sd.keys())
    if all(n.startswith("module.") for n in names):
        sd = {n[len("module."):]: t for n, t in sd.items()}
    out = {}
    for name, t in sd.items():
        if not isinstance(name, str):
            die(f"{a.pth}: key {name!r} is not a string")
        if not t.is_floating_point():
            die(f"{a.pth}: tensor '{name}' is {t.dtype}, srnas stores float32 only (is this an SR network's state dict?)")
        out[name] = t.detach().to(torch.float32).contiguous().cpu()
    if not all(torch.isfinite(t).all() for t in out.values()):
        bad = next(n for n, t in out.items() if not torch.isfinite(t).all())
        die(f"{a.pth}: tensor '{bad}' contains NaN or Inf values")
    write_safetensors(a.out, out, {"source": os.path.basename(a.pth), "converted_by": "srnas scripts/pth_to_safetensors.py"})
    params = sum(t.numel() for t in out.values())
    print(f"{a.out}: {len(out)} tensors, {params:,} values from {a.pth}"
          f"{' [' + key + ']' if key else ''}; first keys: {', '.join(list(out)[:3])}")


if __name__ == "__main__":
    main()
