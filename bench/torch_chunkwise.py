#!/usr/bin/env python3
"""A PyTorch chunkwise mLSTM (exponential input gate), written from ../shared/SPEC.md, as a
reference timed in the same session as the WebGPU kernels: forward and forward+backward (autograd)
at the TFLA shape, f32, TF32 off, CUDA-event timing. Not mlstm_kernels' code: a plain
implementation of the same chunkwise equations (inter-chunk state loop, batched intra-chunk
products), the kind of "PyTorch-native" kernel the issue compares against.

    python3 bench/torch_chunkwise.py [--tokens 65536] [--S 1024 4096 8192] [--chunk 64 128]
                                     [--csv out.csv]

Before timing it checks itself in float64 against a step-by-step recurrent loop (relative error
printed; it exits with status 1 above 1e-10). Exits with status 2 when torch or CUDA is missing.
"""
import argparse
import csv
import math
import sys

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover
    print("torch is not installed", file=sys.stderr)
    sys.exit(2)


def chunkwise(q, k, v, i, f, L, eps=1e-6):
    """h of the exp-gate mLSTM, chunk size L (S a multiple of L), zero initial states."""
    B, NH, S, DQK = q.shape
    DHV = v.shape[-1]
    NC = S // L
    q = q.reshape(B, NH, NC, L, DQK) * DQK**-0.5
    k = k.reshape(B, NH, NC, L, DQK)
    v = v.reshape(B, NH, NC, L, DHV)
    i = i.reshape(B, NH, NC, L)
    b = torch.cumsum(F.logsigmoid(f).reshape(B, NH, NC, L), -1)  # within-chunk log forget
    g = b[..., -1]  # whole chunk
    a = g[..., None] - b + i  # weight of step j in the chunk's state update
    # Inter-chunk recurrence: states entering each chunk (stabilized by m).
    C = q.new_zeros(B, NH, DQK, DHV)
    n = q.new_zeros(B, NH, DQK)
    m = q.new_zeros(B, NH)
    Cs, ns, ms = [], [], []
    for c in range(NC):
        Cs.append(C), ns.append(n), ms.append(m)
        m_new = torch.maximum(g[..., c] + m, a[..., c, :].amax(-1))
        w = torch.exp(a[..., c, :] - m_new[..., None])  # (B, NH, L)
        decay = torch.exp(g[..., c] + m - m_new)
        C = decay[..., None, None] * C + torch.einsum("bhl,bhld,bhle->bhde", w, k[:, :, c], v[:, :, c])
        n = decay[..., None] * n + torch.einsum("bhl,bhld->bhd", w, k[:, :, c])
        m = m_new
    Cp = torch.stack(Cs, 2)  # (B, NH, NC, DQK, DHV)
    np_ = torch.stack(ns, 2)
    mp = torch.stack(ms, 2)  # (B, NH, NC)
    # Intra-chunk causal part and the common stabilizer.
    Dlog = b[..., :, None] - b[..., None, :] + i[..., None, :]  # (B, NH, NC, L, L)
    causal = torch.ones(L, L, dtype=torch.bool, device=q.device).tril()
    Dlog = Dlog.masked_fill(~causal, -math.inf)
    m_inter = b + mp[..., None]
    m_row = torch.maximum(m_inter, Dlog.amax(-1))
    Sm = (q @ k.transpose(-1, -2)) * torch.exp(Dlog - m_row[..., None])
    inter = torch.exp(m_inter - m_row)
    num = Sm @ v + inter[..., None] * (q @ Cp)
    den = Sm.sum(-1) + inter * torch.einsum("bhcld,bhcd->bhcl", q, np_)
    h = num / (torch.maximum(den.abs(), torch.exp(-m_row)) + eps)[..., None]
    return h.reshape(B, NH, S, DHV)


def recurrent(q, k, v, i, f, eps=1e-6):
    """The step-by-step definition (float64 check)."""
    B, NH, S, DQK = q.shape
    C = q.new_zeros(B, NH, DQK, v.shape[-1])
    n = q.new_zeros(B, NH, DQK)
    m = q.new_zeros(B, NH)
    hs = []
    for t in range(S):
        lf = F.logsigmoid(f[..., t])
        m_new = torch.maximum(lf + m, i[..., t])
        fa, ia = torch.exp(lf + m - m_new), torch.exp(i[..., t] - m_new)
        C = fa[..., None, None] * C + ia[..., None, None] * k[..., t, :, None] * v[..., t, None, :]
        n = fa[..., None] * n + ia[..., None] * k[..., t, :]
        m = m_new
        qt = q[..., t, :] * DQK**-0.5
        num = torch.einsum("bhd,bhde->bhe", qt, C)
        den = (qt * n).sum(-1)
        hs.append(num / (torch.maximum(den.abs(), torch.exp(-m)) + eps)[..., None])
    return torch.stack(hs, 2)


def inputs(B, NH, S, DQK, DHV, dtype, device, gen):
    r = lambda *s: torch.randn(*s, dtype=dtype, device=device, generator=gen)
    return r(B, NH, S, DQK), r(B, NH, S, DQK), r(B, NH, S, DHV), r(B, NH, S), r(B, NH, S) + 3.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokens", type=int, default=65536)
    ap.add_argument("--NH", type=int, default=16)
    ap.add_argument("--DQK", type=int, default=128)
    ap.add_argument("--DHV", type=int, default=256)
    ap.add_argument("--S", type=int, nargs="+", default=[1024, 4096, 8192])
    ap.add_argument("--chunk", type=int, nargs="+", default=[64, 128])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--csv")
    a = ap.parse_args()
    if not torch.cuda.is_available():
        print("CUDA is not available", file=sys.stderr)
        sys.exit(2)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = "cuda"
    gen = torch.Generator(device=dev).manual_seed(0)
    x = inputs(1, 2, 64, 16, 32, torch.float64, dev, gen)
    ref = recurrent(*x)
    err = ((chunkwise(*x, L=16) - ref).norm() / ref.norm()).item()
    print(f"self-check float64: chunkwise L=16 vs recurrent, relative L2 {err:.2e}")
    if not err < 1e-10:
        sys.exit(1)
    rows = []
    name = torch.cuda.get_device_name()
    for S in a.S:
        B = a.tokens // S
        x = inputs(B, a.NH, S, a.DQK, a.DHV, torch.float32, dev, gen)
        dh = torch.randn(B, a.NH, S, a.DHV, device=dev, generator=gen)
        for L in a.chunk:
            for pas in ("fw", "fwbw"):
                xs = [t.detach().requires_grad_(pas == "fwbw") for t in x]
                ms = []

                def call():
                    if pas == "fw":
                        with torch.no_grad():
                            chunkwise(*xs, L=L)
                    else:
                        torch.autograd.backward(chunkwise(*xs, L=L), dh)
                        for t in xs:
                            t.grad = None

                try:
                    for _ in range(2):
                        call()
                    torch.cuda.synchronize()
                    torch.cuda.reset_peak_memory_stats()
                    for _ in range(a.reps):
                        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                        e0.record()
                        call()
                        e1.record()
                        torch.cuda.synchronize()
                        ms.append(e0.elapsed_time(e1))
                    med = sorted(ms)[len(ms) // 2]
                    peak = torch.cuda.max_memory_allocated()
                    status = "ok"
                except torch.cuda.OutOfMemoryError as e:  # pragma: no cover
                    med, peak, status = float("nan"), 0, f"error: {str(e).splitlines()[0]}"
                    torch.cuda.empty_cache()
                print(f"torch chunkwise L={L:<4} {pas:4} B={B:<3} S={S:<5} {med:9.3f} ms "
                      f"(min {min(ms) if ms else float('nan'):.3f}) peak {peak / 1e9:.2f} GB")
                rows.append({"kernel": "chunkwise--torch_spec", "pass": pas, **dict( B=B, NH=a.NH, S=S, DQK=a.DQK,
                                 DHV=a.DHV, chunk_size=L, status=status, ms_median=med,
                                 peak_mem_bytes=peak, device=name)})
        del x, dh
        torch.cuda.empty_cache()
    if a.csv:
        with open(a.csv, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0].keys()))
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()
