#!/usr/bin/env python3
"""Run a bench/configs/*.json sweep through the `mlstm_kernels` Python package (PyTorch + Triton)
and write results.csv with the same columns as `deno task sweep`, so that both can be plotted
side by side:

    python3 bench/mlstm_kernels_sweep.py --config bench/configs/tfla.json --out bench_outputs/py_tfla
    deno run -A bench/plot.ts bench_outputs/<deno run>/results.csv bench_outputs/py_tfla/results.csv

Kernel names are mapped to their mlstm_kernels counterparts (KERNEL_MAP; a kernel spec may name
one itself with "mlstm_kernels": "<registry name>"); float64 references have none and are skipped.
Timing: CUDA events around each call (median and quartiles over `reps`), wall clock with
torch.cuda.synchronize(), peak memory from torch.cuda.max_memory_allocated() (inputs included),
TF32 off so that f32 means f32. Exits with status 2 and a message when torch, CUDA or
mlstm_kernels is missing.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import os
import sys
import time

# Same order as bench/_sweep/columns.ts (tests/sweep_test.ts checks it).
RESULT_COLUMNS = [
    "benchmark",
    "source",
    "kernel",
    "label",
    "backend",
    "pass",
    "dtype",
    "B",
    "NH",
    "S",
    "DQK",
    "DHV",
    "chunk_size",
    "tokens",
    "status",
    "reps",
    "calls_per_rep",
    "gpu_ms_median",
    "gpu_ms_p25",
    "gpu_ms_p75",
    "gpu_ms_min",
    "gpu_ms_max",
    "wall_ms_median",
    "wall_ms_p25",
    "wall_ms_p75",
    "wall_ms_min",
    "wall_ms_max",
    "dispatches_per_call",
    "flops",
    "tflops_per_s",
    "pct_flop_peak",
    "bytes",
    "peak_mem_bytes",
    "timing",
    "device",
]

# Our registry names -> (kind, mlstm_kernels name); kind: "sequence" (get_mlstm_kernel),
# "recurrent" (get_mlstm_sequence_kernel), "step" (get_mlstm_step_kernel).
KERNEL_MAP = {
    "chunkwise--xl_chunk": ("sequence", "chunkwise--triton_xl_chunk"),
    "chunkwise--limit_chunk": ("sequence", "chunkwise--triton_limit_chunk"),
    "chunkwise--xl_chunk_siging": ("sequence", "chunkwise--triton_xl_chunk_siging"),
    "parallel--stablef": ("sequence", "parallel--native_stablef_custbw"),
    "parallel--siging": ("sequence", "parallel--native_siging_custbw"),
    "recurrent--sequence": ("recurrent", "native_sequence__triton"),
    "step--fused": ("step", "triton"),
}

FORMS = {"chunkwise": "chunkwise", "parallel": "parallel", "recurrent": "recurrent", "step": "step"}


def form_of(kernel: str) -> str:
    """Mirror of formOfName() in bench/_sweep/measure.ts."""
    head, _, rest = kernel.partition("--")
    f = rest.removesuffix("_siging") if head == "reference" else head
    return FORMS.get(f, "chunkwise")


def mlstm_flops(form, B, NH, S, DQK, DHV, chunk, pass_):
    """SPEC §6 cost model (profiling/cost_model.ts)."""
    if form == "chunkwise":
        per = 4 * DQK * DHV + 2 * (chunk or 64) * (DQK + DHV)
    elif form == "parallel":
        per = 2 * S * (DQK + DHV)
    else:
        per = 4 * DQK * DHV
    fw = B * NH * S * per
    return fw * 3 if pass_ == "fwbw" else fw


def mlstm_bytes(form, B, NH, S, DQK, DHV, pass_, e):
    inputs = B * NH * S * (2 * DQK + DHV + 2) * e
    out = B * NH * S * DHV * e
    state = 2 * B * NH * (DQK * DHV + DQK + 1) * 4 if form in ("step", "recurrent") else 0
    fw = inputs + out + state
    return fw if pass_ == "fw" else fw + inputs + out + inputs + state


def expand(config):
    """Mirror of expandSweep() in bench/_sweep/config.ts."""
    cases = []
    params = config["params"]
    for spec in config["kernels"]:
        cs = spec.get("chunkSize")
        chunks = [None] if cs is None else (cs if isinstance(cs, list) else [cs])
        p = {**params, **spec.get("params", {})}
        const = spec.get("constTokens", True) and config.get("mode") == "const_tokens"
        for chunk in chunks:
            label = spec.get("label") or (
                f"{spec['kernel']} cs={chunk}" if chunk is not None and len(chunks) > 1 else spec["kernel"]
            )
            for pass_, dtype, NH, DQK, DHV, B, S in itertools.product(
                p.get("pass", ["fw"]), p.get("dtype", ["f32"]), p["NH"], p["DQK"], p["DHV"],
                [0] if const else p["B"], p["S"],
            ):
                skip = None
                if const:
                    B = config["tokens"] // S
                    if B < 1 or B * S != config["tokens"]:
                        skip = f"tokens {config['tokens']} not divisible by S={S}"
                        B = max(1, B)
                if spec.get("maxS") is not None and S > spec["maxS"] and skip is None:
                    skip = f"S > maxS={spec['maxS']}"
                cases.append(dict(kernel=spec["kernel"], label=label, pass_=pass_, dtype=dtype, B=B, NH=NH,
                                  S=S, DQK=DQK, DHV=DHV, chunk=chunk, options=spec.get("options", {}),
                                  mk=spec.get("mlstm_kernels"), skip=skip))
    return cases


def quantile(xs, q):
    xs = sorted(x for x in xs if math.isfinite(x))
    if not xs:
        return float("nan")
    pos = q * (len(xs) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def fmt(x):
    return "" if x is None or (isinstance(x, float) and not math.isfinite(x)) else float(f"{x:.6g}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True, help="path or name under bench/configs/")
    ap.add_argument("--out", help="output directory (default bench_outputs/<timestamp>_<name>_mlstm_kernels)")
    ap.add_argument("--peak-tflops", type=float, help="f32 ceiling for pct_flop_peak (e.g. from torch_ceilings.py)")
    ap.add_argument("--dry-run", action="store_true",
                    help="expand the config and write the CSV without running anything (no torch needed)")
    args = ap.parse_args()

    path = args.config
    if "/" not in path and not path.endswith(".json"):
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", f"{path}.json")
    with open(path) as fh:
        config = json.load(fh)

    if args.dry_run:
        write_outputs(args.out or "bench_outputs/dry_run", config,
                      [base_row(config, c, "", "skipped: dry run") for c in expand(config)])
        return
    try:
        import torch
    except ImportError:
        print("mlstm_kernels_sweep.py: PyTorch is not installed (pip install torch); nothing was run.",
              file=sys.stderr)
        sys.exit(2)
    if not torch.cuda.is_available():
        print("mlstm_kernels_sweep.py: no CUDA device visible to PyTorch; the Triton kernels need one.",
              file=sys.stderr)
        sys.exit(2)
    try:
        from mlstm_kernels.torch import get_mlstm_kernel
        from mlstm_kernels.torch.recurrent import get_mlstm_sequence_kernel, get_mlstm_step_kernel
    except ImportError as e:
        print(f"mlstm_kernels_sweep.py: the mlstm_kernels package is not installed ({e}); "
              "pip install mlstm_kernels, then run again.", file=sys.stderr)
        sys.exit(2)

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda")
    device_name = torch.cuda.get_device_name(dev)
    stamp = time.strftime("%Y-%m-%dT%H-%M-%SZ", time.gmtime())
    out_dir = args.out or os.path.join("bench_outputs", f"{stamp}_{config['name']}_mlstm_kernels")
    dtypes = {"f32": torch.float32, "f16": torch.float16}
    reps = config.get("reps", 5)
    warmup = config.get("warmup", 1)
    cases = expand(config)
    rows = []
    for n, c in enumerate(cases):
        print(f"[{n + 1}/{len(cases)}] {c['label']} {c['pass_']} B={c['B']} S={c['S']}", file=sys.stderr)
        row = base_row(config, c, device_name, "")
        mapped = ("sequence", c["mk"]) if c["mk"] else KERNEL_MAP.get(c["kernel"])
        if c["skip"]:
            row["status"] = f"skipped: {c['skip']}"
        elif mapped is None:
            row["status"] = "skipped: no mlstm_kernels counterpart"
        elif c["pass_"] == "fwbw" and mapped[0] != "sequence":
            row["status"] = "skipped: kernel has no backward"
        else:
            try:
                measure(torch, dev, dtypes[c["dtype"]], c, mapped, reps, warmup, row,
                        get_mlstm_kernel, get_mlstm_sequence_kernel, get_mlstm_step_kernel)
                if args.peak_tflops and row["tflops_per_s"] != "":
                    row["pct_flop_peak"] = fmt(100 * row["tflops_per_s"] / args.peak_tflops)
                row["status"] = "ok"
            except Exception as ex:  # one failing configuration must not end the sweep
                row["status"] = "error: " + str(ex).split("\n")[0]
                torch.cuda.empty_cache()
        rows.append(row)
    write_outputs(out_dir, config, rows)


def base_row(config, c, device_name, status):
    """A results row with the case's identity and cost-model columns; timings empty."""
    form = form_of(c["kernel"])
    e = 2 if c["dtype"] == "f16" else 4
    row = {k: "" for k in RESULT_COLUMNS}
    row.update(benchmark=config["name"], source="mlstm_kernels-torch", kernel=c["kernel"], label=c["label"],
               backend="cuda-triton", **{"pass": c["pass_"]}, dtype=c["dtype"], B=c["B"], NH=c["NH"], S=c["S"],
               DQK=c["DQK"], DHV=c["DHV"], chunk_size="" if c["chunk"] is None else c["chunk"],
               tokens=c["B"] * c["S"], device=device_name, calls_per_rep=1, status=status,
               flops=mlstm_flops(form, c["B"], c["NH"], c["S"], c["DQK"], c["DHV"], c["chunk"], c["pass_"]),
               bytes=mlstm_bytes(form, c["B"], c["NH"], c["S"], c["DQK"], c["DHV"], c["pass_"], e))
    return row


def write_outputs(out_dir, config, rows):
    os.makedirs(out_dir, exist_ok=True)
    csv_path = os.path.join(out_dir, "results.csv")
    with open(csv_path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=RESULT_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    with open(os.path.join(out_dir, "config.json"), "w") as fh:
        json.dump(config, fh, indent=2)
    print(f"results: {csv_path}")


def measure(torch, dev, dtype, c, mapped, reps, warmup, row, get_mlstm_kernel, get_seq, get_step):
    kind, name = mapped
    B, NH, S, DQK, DHV = c["B"], c["NH"], c["S"], c["DQK"], c["DHV"]
    fwbw = c["pass_"] == "fwbw"
    g = torch.Generator(device=dev).manual_seed(0)

    def rnd(*shape, mean=0.0, dt=dtype):
        return (torch.randn(*shape, generator=g, device=dev, dtype=torch.float32) + mean).to(dt) \
            .requires_grad_(fwbw)

    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(dev)
    q, k = rnd(B, NH, S, DQK), rnd(B, NH, S, DQK)
    v = rnd(B, NH, S, DHV)
    # Gates stay f32 in f16 mode, as on the Deno side (bench/_kernels.ts isGate) and in mlstm_kernels'
    # own benchmarks: only q, k, v (and h, dh) are stored in the storage dtype.
    i, f = rnd(B, NH, S, dt=torch.float32), rnd(B, NH, S, mean=3.0, dt=torch.float32)
    dh = torch.randn(B, NH, S, DHV, generator=g, device=dev).to(dtype) if fwbw else None
    opts = dict(c["options"])
    if kind == "sequence":
        fn = get_mlstm_kernel(name)
        if c["chunk"] is not None:
            opts["chunk_size"] = c["chunk"]

        def call():
            h = fn(q=q, k=k, v=v, i=i, f=f, **opts)
            if fwbw:
                h.backward(dh)
            return h
    elif kind == "recurrent":
        fn = get_seq(name)
        z = lambda *s: torch.zeros(*s, device=dev, dtype=torch.float32)  # noqa: E731

        def call():
            return fn(q=q, k=k, v=v, i=i, f=f, c_initial=z(B, NH, DQK, DHV), n_initial=z(B, NH, DQK),
                      m_initial=z(B, NH, 1), return_last_states=True, **opts)
    else:
        fn = get_step(name)
        cst = torch.zeros(B, NH, DQK, DHV, device=dev)
        nst = torch.zeros(B, NH, DQK, device=dev)
        mst = torch.zeros(B, NH, 1, device=dev)

        def call():
            return fn(q=q[:, :, 0], k=k[:, :, 0], v=v[:, :, 0], i=i[:, :, :1], f=f[:, :, :1],
                      c=cst, n=nst, m=mst, **opts)

    for _ in range(warmup):
        call()
    torch.cuda.synchronize()
    gpu, wall = [], []
    for _ in range(reps):
        if fwbw:
            for t in (q, k, v, i, f):
                t.grad = None
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        t0 = time.perf_counter()
        start.record()
        call()
        end.record()
        torch.cuda.synchronize()
        wall.append((time.perf_counter() - t0) * 1e3)
        gpu.append(start.elapsed_time(end))
    for key, xs in (("gpu", gpu), ("wall", wall)):
        row[f"{key}_ms_median"] = fmt(quantile(xs, 0.5))
        row[f"{key}_ms_p25"] = fmt(quantile(xs, 0.25))
        row[f"{key}_ms_p75"] = fmt(quantile(xs, 0.75))
        row[f"{key}_ms_min"] = fmt(min(xs))
        row[f"{key}_ms_max"] = fmt(max(xs))
    row["reps"] = reps
    row["timing"] = "cuda-events"
    row["peak_mem_bytes"] = torch.cuda.max_memory_allocated(dev)
    row["tflops_per_s"] = fmt(row["flops"] / (quantile(gpu, 0.5) / 1e3) / 1e12)


if __name__ == "__main__":
    main()
