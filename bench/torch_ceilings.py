#!/usr/bin/env python3
"""Measure the f32 ceilings of a CUDA GPU through PyTorch, for comparison with
`measureCeilings()` (profiling/ceilings.ts) run through Deno's WebGPU on the same machine:

    python3 bench/torch_ceilings.py [--size 8192] [--copy-mib 1024] [--reps 20] [--json out.json]

- f32 matmul C = A·B (n×n, TF32 OFF, so this is the FP32 FMA rate that WebGPU can reach):
  2·n³ FLOP per call -> TFLOP/s.
- device-to-device copy (`dst.copy_(src)`, `--copy-mib` MiB): read + write = 2 × size bytes per
  call -> GB/s (the convention of measureCeilings()).
Both timed with CUDA events over `--reps` calls after a warm-up; the median of 5 such runs is
printed. Exits with status 2 and a message when PyTorch or CUDA is missing.
"""

import argparse
import json
import statistics
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=8192, help="matmul n (default 8192)")
    ap.add_argument("--copy-mib", type=int, default=1024, help="copy buffer size in MiB (default 1024)")
    ap.add_argument("--reps", type=int, default=20, help="calls per timed run (default 20)")
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        print("torch_ceilings.py: PyTorch is not installed (pip install torch); nothing was measured.",
              file=sys.stderr)
        sys.exit(2)
    if not torch.cuda.is_available():
        print("torch_ceilings.py: no CUDA device visible to PyTorch; nothing was measured.", file=sys.stderr)
        sys.exit(2)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    dev = torch.device("cuda")

    def timed(fn, reps):
        for _ in range(3):
            fn()
        torch.cuda.synchronize()
        runs = []
        for _ in range(5):
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            for _ in range(reps):
                fn()
            e.record()
            torch.cuda.synchronize()
            runs.append(s.elapsed_time(e) / reps)
        return statistics.median(runs)

    n = args.size
    a = torch.randn(n, n, device=dev, dtype=torch.float32)
    b = torch.randn(n, n, device=dev, dtype=torch.float32)
    c = torch.empty(n, n, device=dev, dtype=torch.float32)
    mm_ms = timed(lambda: torch.matmul(a, b, out=c), args.reps)
    # Sanity: TF32 would show up as a large error against float64.
    ref = (a[:64].double() @ b[:, :64].double())
    rel = ((c[:64, :64].double() - ref).abs().max() / ref.abs().max()).item()
    del a, b, c
    size = args.copy_mib * (1 << 20)
    src = torch.empty(size // 4, device=dev, dtype=torch.float32).normal_()
    dst = torch.empty_like(src)
    cp_ms = timed(lambda: dst.copy_(src), args.reps)
    res = {
        "device": torch.cuda.get_device_name(dev),
        "torch": torch.__version__,
        "matmul_n": n,
        "matmul_ms": mm_ms,
        "matmul_tflops": 2 * n ** 3 / (mm_ms / 1e3) / 1e12,
        "matmul_max_rel_error_vs_f64": rel,
        "copy_bytes": size,
        "copy_ms": cp_ms,
        "copy_gbps": 2 * size / (cp_ms / 1e3) / 1e9,
    }
    print(f"{res['device']} (torch {res['torch']})")
    print(f"f32 matmul {n}^3, TF32 off: {mm_ms:.3f} ms -> {res['matmul_tflops']:.2f} TFLOP/s "
          f"(max rel error vs f64 {rel:.1e})")
    print(f"d2d copy {args.copy_mib} MiB: {cp_ms:.3f} ms -> {res['copy_gbps']:.1f} GB/s (read + write)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)


if __name__ == "__main__":
    main()
