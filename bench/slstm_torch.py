#!/usr/bin/env python3
"""The sLSTM of SPEC §8 as a plain PyTorch loop over time (f32, CUDA), timed with CUDA events, for
comparison with `slstm--fused` (bench/slstm_gpu.ts) on the same machine; plus an independent
float64 autograd check of the float64 reference (reference/slstm.ts) on the case that
bench/slstm_gpu.ts writes.

    python3 bench/slstm_torch.py --out DIR [--tiny] [--reps 5]

Writes DIR/slstm_torch.csv (forward, and forward+backward through autograd, per shape: median ms
over --reps calls after a warm-up, µs per step, TFLOP/s of the useful recurrent products and the
fraction of 50 TFLOP/s) and, when DIR/slstm_case.json exists, DIR/slstm_autograd_check.csv (the
relative L2 difference between this script's float64 autograd and the reference's y and
gradients). The loop is written from the SPEC, not taken from any package: per step one batched
product y·R per head (torch.bmm), then the pointwise gates; the "n all zeros" rule per (batch,
head). Exits with status 2 when PyTorch is missing.
"""

import argparse
import json
import os
import statistics
import sys


def slstm(torch, wx, r, bias, states=None):
    """y (B, S, NH, DH) and the last states; wx (B, S, 4, NH, DH), r (NH, DH, 4, DH), bias (NH, 4, DH)."""
    B, S, _, NH, DH = wx.shape
    rm = r.reshape(NH, DH, 4 * DH)
    b = bias.permute(1, 0, 2)  # (4, NH, DH)
    if states is None:
        z = wx.new_zeros(B, NH, DH)
        y, c, n, m = z, z, z, z
    else:
        y, c, n, m = states
    ys = []
    for t in range(S):
        rec = torch.bmm(y.transpose(0, 1), rm)  # (NH, B, 4·DH)
        rec = rec.reshape(NH, B, 4, DH).permute(1, 2, 0, 3)  # (B, 4, NH, DH)
        raw = wx[:, t] + rec + b
        ri, rf, rz, ro = raw.unbind(1)
        lfm = torch.nn.functional.logsigmoid(rf) + m
        zero_n = (n == 0).all(dim=-1, keepdim=True)
        mt = torch.where(zero_n, ri, torch.maximum(ri, lfm))
        ia = torch.clamp(torch.exp(ri - mt), max=1.0)
        fa = torch.clamp(torch.exp(lfm - mt), max=1.0)
        c = fa * c + ia * torch.tanh(rz)
        n = fa * n + ia
        m = mt
        y = torch.sigmoid(ro) * c / n
        ys.append(y)
    return torch.stack(ys, dim=1), (y, c, n, m)


def timed(torch, fn, reps, cuda=True):
    fn()  # warm-up
    if not cuda:  # CPU: wall clock (for trying the script without a GPU)
        import time
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(times)
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        torch.cuda.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


def autograd_check(torch, out_dir):
    head_path = os.path.join(out_dir, "slstm_case.json")
    if not os.path.exists(head_path):
        print("slstm_torch.py: no slstm_case.json (run bench/slstm_gpu.ts first); autograd check skipped")
        return
    import numpy as np

    entries = json.load(open(head_path))["entries"]
    flat = np.fromfile(os.path.join(out_dir, "slstm_case.f64"), dtype=np.float64)
    t = {}
    off = 0
    for e in entries:
        n = int(np.prod(e["shape"]))
        t[e["name"]] = torch.tensor(flat[off:off + n].reshape(e["shape"]), dtype=torch.float64)
        off += n
    leaves = {k: t[k].clone().requires_grad_(True)
              for k in ["wx", "r", "bias", "yInitial", "cInitial", "nInitial", "mInitial"]}
    y, _ = slstm(torch, leaves["wx"], leaves["r"], leaves["bias"],
                 (leaves["yInitial"], leaves["cInitial"], leaves["nInitial"], leaves["mInitial"]))
    (y * t["dy"]).sum().backward()
    rows = ["output,rel_l2_vs_reference"]
    pairs = [("y", y.detach(), t["y"])] + [
        ("d" + k, leaves[k].grad, None)
        for k in leaves
    ]
    for name, ours, ref in pairs:
        ref = t[name] if ref is None else ref
        rel = (torch.linalg.vector_norm(ours - ref) / torch.linalg.vector_norm(ref)).item()
        rows.append(f"{name},{rel:.3e}")
        print(f"float64 autograd vs reference--slstm, {name}: rel L2 {rel:.3e}")
    # The same case through this loop in f32 (on CUDA when there is one, TF32 off): the plain
    # PyTorch f32 deviation, next to slstm--fused's in slstm_accuracy.csv.
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    l32 = {k: v.detach().to(dev, torch.float32).requires_grad_(True) for k, v in leaves.items()}
    y32, _ = slstm(torch, l32["wx"], l32["r"], l32["bias"],
                   (l32["yInitial"], l32["cInitial"], l32["nInitial"], l32["mInitial"]))
    (y32 * t["dy"].to(dev, torch.float32)).sum().backward()
    for name, ours in [("y", y32.detach())] + [("d" + k, l32[k].grad) for k in l32]:
        ref = t[name]
        ours = ours.to("cpu", torch.float64)
        rel = (torch.linalg.vector_norm(ours - ref) / torch.linalg.vector_norm(ref)).item()
        rows.append(f"{name} (torch f32 {dev.type}),{rel:.3e}")
        print(f"PyTorch f32 ({dev.type}) vs reference--slstm, {name}: rel L2 {rel:.3e}")
    with open(os.path.join(out_dir, "slstm_autograd_check.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--tiny", action="store_true", help="small shapes")
    ap.add_argument("--reps", type=int, default=5, help="timed calls per shape (median)")
    ap.add_argument("--device", default="cuda", help="cuda (default; CUDA events) or cpu (wall clock)")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        print("slstm_torch.py: PyTorch is not installed; nothing was measured.", file=sys.stderr)
        sys.exit(2)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    os.makedirs(args.out, exist_ok=True)
    autograd_check(torch, args.out)
    cuda = args.device == "cuda"
    if cuda and not torch.cuda.is_available():
        print("slstm_torch.py: no CUDA device; timing skipped (--device cpu times on the CPU).",
              file=sys.stderr)
        sys.exit(2)
    dev = torch.device(args.device)
    print(f"device: {torch.cuda.get_device_name(0) if cuda else 'cpu'}")
    if args.tiny:
        shapes = [("issue", 2, 16, 2, 16), ("issue", 2, 16, 2, 40)]
    else:
        shapes = [("issue", 16, 1024, 4, dh) for dh in (64, 128, 256)] + [
            ("flashrnn-768", 16, 1024, nh, dh) for nh, dh in ((12, 64), (6, 128), (3, 256))]
    rows = ["impl,set,B,S,NH,DH,dtype,call,total_ms,us_per_step,useful_gflop,tflops,fma_fraction"]
    g = torch.Generator(device=dev).manual_seed(0)
    for set_name, B, S, NH, DH in shapes:
        wx = torch.randn(B, S, 4, NH, DH, device=dev, generator=g)
        r = torch.randn(NH, DH, 4, DH, device=dev, generator=g) / DH ** 0.5
        bias = 0.5 * torch.randn(NH, 4, DH, device=dev, generator=g)
        dy = torch.randn(B, S, NH, DH, device=dev, generator=g)
        fw_flop = 8 * DH * DH * B * NH * S

        def fw():
            with torch.no_grad():
                slstm(torch, wx, r, bias)

        leaves = [t.clone().requires_grad_(True) for t in (wx, r, bias)]

        def fwbw():
            y, _ = slstm(torch, *leaves)
            y.backward(dy)

        for call, fn, useful in (("forward", fw, fw_flop), ("forward+backward", fwbw, 3 * fw_flop)):
            ms = timed(torch, fn, args.reps, cuda)
            tflops = useful / (ms * 1e-3) / 1e12
            rows.append(",".join(str(v) for v in [
                f"pytorch loop (f32, eager, {args.device})", set_name, B, S, NH, DH, "f32", call, f"{ms:.4f}",
                f"{ms * 1e3 / S:.3f}", f"{useful / 1e9:.3f}", f"{tflops:.3f}", f"{tflops / 50:.4f}"]))
            print(f"torch {set_name} NH {NH} DH {DH} {call}: {ms:.2f} ms ({ms * 1e3 / S:.1f} µs/step)")
    with open(os.path.join(args.out, "slstm_torch.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")
    print(f"wrote {args.out}/slstm_torch.csv")


if __name__ == "__main__":
    main()
