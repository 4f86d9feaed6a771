#!/usr/bin/python3
"""Reference for scripts/bench_train.sh: the same MSRResNet training step in PyTorch.

BasicSR's MSRResNet (1,517,571 params, kaiming x0.1 init), L1 loss, Adam(2e-4, betas
0.9/0.99), one pre-made batch of random [0,1] patches; prints one JSON line like
`srnas bench train`. Run with Debian's /usr/bin/python3 (python3-torch).
"""
import argparse, json, time
import torch
import torch.nn as nn
import torch.nn.functional as F


class ResidualBlockNoBN(nn.Module):
    def __init__(self, nf=64):
        super().__init__()
        self.conv1 = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv2 = nn.Conv2d(nf, nf, 3, 1, 1)

    def forward(self, x):
        return x + self.conv2(F.relu(self.conv1(x)))


class MSRResNet(nn.Module):
    def __init__(self, nf=64, nb=16):
        super().__init__()
        self.conv_first = nn.Conv2d(3, nf, 3, 1, 1)
        self.body = nn.Sequential(*[ResidualBlockNoBN(nf) for _ in range(nb)])
        self.upconv1 = nn.Conv2d(nf, nf * 4, 3, 1, 1)
        self.upconv2 = nn.Conv2d(nf, nf * 4, 3, 1, 1)
        self.conv_hr = nn.Conv2d(nf, nf, 3, 1, 1)
        self.conv_last = nn.Conv2d(nf, 3, 3, 1, 1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
                m.weight.data *= 0.1
                m.bias.data.zero_()

    def forward(self, x):
        out = F.leaky_relu(self.conv_first(x), 0.1)
        out = self.body(out)
        out = F.leaky_relu(F.pixel_shuffle(self.upconv1(out), 2), 0.1)
        out = F.leaky_relu(F.pixel_shuffle(self.upconv2(out), 2), 0.1)
        out = self.conv_last(F.leaky_relu(self.conv_hr(out), 0.1))
        return out + F.interpolate(x, scale_factor=4, mode="bilinear", align_corners=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--allocator", default="glibc", help="label only: the malloc LD_PRELOADed by the caller")
    ap.add_argument("--cudnn-benchmark", action="store_true", help="torch.backends.cudnn.benchmark = True")
    ap.add_argument("--loss-every-step", type=int, default=1,
                    help="1: read the loss (.item(), a device sync) every step; 0: once, after the timed steps")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="bf16: CUDA autocast")
    a = ap.parse_args()
    torch.backends.cudnn.benchmark = a.cudnn_benchmark
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dev = torch.device(a.device)
    net = MSRResNet().to(dev)
    assert sum(p.numel() for p in net.parameters()) == 1517571
    opt = torch.optim.Adam(net.parameters(), lr=2e-4, betas=(0.9, 0.99))
    lr = torch.rand(a.batch, 3, a.patch, a.patch, device=dev)
    hr = torch.rand(a.batch, 3, a.patch * 4, a.patch * 4, device=dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    def step():
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            loss = F.l1_loss(net(lr), hr)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item() if a.loss_every_step else loss

    for _ in range(a.warmup):
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    float(loss)
    sync()
    s = time.perf_counter() - t0
    print(json.dumps({"impl": "python", "arch": "msrresnet", "batch": a.batch, "patch": a.patch, "steps": a.steps,
                      "seconds": s, "steps_per_s": a.steps / s, "threads": torch.get_num_threads(), "allocator": a.allocator, "device": a.device,
                      "precision": a.precision, "cudnn_benchmark": a.cudnn_benchmark,
                      "loss_every_step": bool(a.loss_every_step),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
