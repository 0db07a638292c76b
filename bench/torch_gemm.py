#!/usr/bin/env python3
"""PyTorch's f32 GEMM (TF32 off) at given shapes, the baseline of bench/xlstm_large_bench.ts:

    python3 bench/torch_gemm.py --shapes 2048x12304x4096,16384x4096x4096 --out torch_gemm.csv

Each shape MxNxK is Y = X·Wᵀ with X (M, K) and W (N, K), both f32 and contiguous, as
torch.nn.functional.linear computes it (W row-major (out, in), like the WebGPU kernel's layout).
Timed with CUDA events over enough calls for ~50 ms after a warm-up; the median of 5 runs is
written as CSV columns M,N,K,ms,tflops (plus device and torch version). Exits with status 2 and a
message when PyTorch or CUDA is missing.
"""

import argparse
import statistics
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shapes", required=True, help="comma-separated MxNxK")
    ap.add_argument("--out", required=True, help="CSV file to write")
    args = ap.parse_args()
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        print("torch_gemm.py: PyTorch is not installed; nothing was measured.", file=sys.stderr)
        sys.exit(2)
    if not torch.cuda.is_available():
        print("torch_gemm.py: no CUDA device visible to PyTorch; nothing was measured.", file=sys.stderr)
        sys.exit(2)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    dev = torch.device("cuda")
    name = torch.cuda.get_device_name(dev)
    rows = []
    for spec in args.shapes.split(","):
        M, N, K = (int(v) for v in spec.lower().split("x"))
        x = torch.randn(M, K, device=dev, dtype=torch.float32)
        w = torch.randn(N, K, device=dev, dtype=torch.float32) / K ** 0.5
        y = torch.empty(M, N, device=dev, dtype=torch.float32)

        def call():
            torch.matmul(x, w.t(), out=y)

        for _ in range(3):
            call()
        torch.cuda.synchronize()
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        call()
        e.record()
        torch.cuda.synchronize()
        reps = max(2, min(200, int(50 / max(s.elapsed_time(e), 1e-3))))
        runs = []
        for _ in range(5):
            s.record()
            for _ in range(reps):
                call()
            e.record()
            torch.cuda.synchronize()
            runs.append(s.elapsed_time(e) / reps)
        ms = statistics.median(runs)
        tflops = 2 * M * N * K / (ms / 1e3) / 1e12
        rows.append((M, N, K, ms, tflops))
        print(f"torch f32 (TF32 off) {M}x{N}x{K}: {ms:.3f} ms, {tflops:.2f} TFLOP/s", flush=True)
        del x, w, y
        torch.cuda.empty_cache()
    with open(args.out, "w") as fh:
        fh.write("M,N,K,ms,tflops,device,torch\n")
        for M, N, K, ms, tf in rows:
            fh.write(f"{M},{N},{K},{ms:.6f},{tf:.4f},{name},{torch.__version__}\n")


if __name__ == "__main__":
    main()
