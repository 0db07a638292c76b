#!/usr/bin/env python3
"""Writes small random xLSTM checkpoints with Hugging Face transformers' xLSTMForCausalLM and
their logits in float32 and float64, for tools/hf_xlstm_compare.ts to compare with this project's
XlstmLarge (float64 reference and WebGPU backends).

Every checkpoint is written by transformers' own save_pretrained (safetensors, the hub layout), so
the Deno side loads exactly what a user downloading a hub model gets. The model runs transformers'
native PyTorch mLSTM path (no Triton): mode "inference", chunkwise kernel
"chunkwise--native_autograd" for the multiple of chunk_size, the native sequence kernel for the
rest, the native step kernel for S = 1, states carried in a cache. For float64 the per-step state
dtype (config.inference_state_dtype, float32 by default and limited to 16/32-bit types by the
config's validation) is switched to float64 on the loaded model, the norms' float32 reductions
(a .float() that would round float64 down) are switched off, and the head (lm_head, soft cap) is
applied to the backbone's float64 output directly, because xLSTMForCausalLM.forward casts the
logits to float32 before capping them.

Weights are re-drawn after construction (transformers' init zeroes the gate weights and sets the
input-gate bias to -10, which would leave the cell nearly idle): embeddings N(0, 1), norm weights
1 + 0.1 N(0, 1), linear weights N(0, 1/fan_in), gate weights N(0, 4/fan_in), input-gate biases
U(-4, 3), forget-gate biases U(-1, 6), other biases 0.1 N(0, 1).

Usage (one command, GPU machine or any machine with torch + transformers):
    OUT=/some/dir bash tools/hf_xlstm_compare.sh
or just this half:
    python3 tools/hf_xlstm_compare.py --out DIR [--device cpu|cuda]
Writes DIR/<shape>/{config.json, model.safetensors, cases.json} and DIR/manifest.json.
"""

import argparse
import copy
import functools
import json
import math
import os
import platform
import re
import sys
import time
import traceback

import torch
import transformers
from transformers import xLSTMConfig, xLSTMForCausalLM

# Shapes: D·qk_dim_factor and D·v_dim_factor are multiples of 64 so that the transformers config
# (which rounds up to 64) and the layer agree; prompts of length 1, odd, and longer than the chunk.
SHAPES = [
    dict(name="d128_nh2_n2_c16", vocab_size=97, hidden_size=128, num_heads=2, num_hidden_layers=2,
         chunk_size=16),
    dict(name="d256_nh4_n3_c8", vocab_size=300, hidden_size=256, num_heads=4, num_hidden_layers=3,
         chunk_size=8),
    dict(name="d128_nh1_n1_c64_bias_qk1", vocab_size=50, hidden_size=128, num_heads=1,
         num_hidden_layers=1, chunk_size=64, use_bias=True, qk_dim_factor=1.0),
    dict(name="d128_nh2_n2_c16_fused", vocab_size=61, hidden_size=128, num_heads=2,
         num_hidden_layers=2, chunk_size=16, weight_mode="fused"),
    # the 7B's head sizes scaled down: DQK 128, DHV 256, chunk 64
    dict(name="d1024_nh4_n2_c64", vocab_size=1000, hidden_size=1024, num_heads=4,
         num_hidden_layers=2, chunk_size=64),
]
BATCH = 2


def config_for(shape):
    kw = {k: v for k, v in shape.items() if k != "name"}
    kw.setdefault("embedding_dim", kw["hidden_size"])
    kw.setdefault("num_blocks", kw["num_hidden_layers"])
    return xLSTMConfig(
        **kw,
        mode="inference",
        chunkwise_kernel="chunkwise--native_autograd",
        sequence_kernel="native_sequence__native",
        step_kernel="native",
        return_last_states=True,
        autocast_kernel_dtype="float32",
        inference_state_dtype="float32",
        tie_word_embeddings=False,
        norm_eps=1e-6,
        eps=1e-6,
        gate_soft_cap=15.0,
        output_logit_soft_cap=30.0,
        bos_token_id=0,
        eos_token_id=2,
        pad_token_id=1,
        use_cache=True,
    )


GATE = re.compile(r"\.(i|f|if)gate_preact\.")


def randomize(model, num_heads, seed):
    g = torch.Generator().manual_seed(seed)

    def normal(shape, std):
        return torch.randn(shape, generator=g, dtype=torch.float64) * std

    def uniform(shape, lo, hi):
        return lo + (hi - lo) * torch.rand(shape, generator=g, dtype=torch.float64)

    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            shape = tuple(p.shape)
            if name.endswith("embeddings.weight"):
                v = normal(shape, 1.0)
            elif p.dim() == 1 and "norm" in name and name.endswith(".weight"):
                v = 1 + normal(shape, 0.1)
            elif GATE.search(name) and name.endswith(".bias"):
                if ".ifgate_preact." in name:
                    v = torch.cat([uniform((num_heads,), -4, 3), uniform((num_heads,), -1, 6)])
                elif ".igate_preact." in name:
                    v = uniform(shape, -4, 3)
                else:
                    v = uniform(shape, -1, 6)
            elif GATE.search(name):
                v = normal(shape, 2 / math.sqrt(shape[1]))
            elif name.endswith(".bias"):
                v = normal(shape, 0.1)
            else:
                v = normal(shape, 1 / math.sqrt(shape[1]))
            p.copy_(v.to(p.dtype))


def force_state_dtype(model, dtype):
    """Switches the dtype_state of the native sequence/step kernels (bound with functools.partial
    in each layer's backend) to `dtype`; returns how many backends were changed."""
    changed = 0
    for m in model.modules():
        fn = getattr(m, "_inference_fn", None)
        if not isinstance(fn, functools.partial):
            continue
        kw = dict(fn.keywords)
        hit = False
        for key in ("mlstm_sequence_kernel", "mlstm_step_kernel"):
            k = kw.get(key)
            if isinstance(k, functools.partial) and "dtype_state" in k.keywords:
                kw[key] = functools.partial(k.func, *k.args, **{**k.keywords, "dtype_state": dtype})
                hit = True
        if hit:
            m._inference_fn = functools.partial(fn.func, *fn.args, **kw)
            changed += 1
    return changed


def rel_l2(a, b):
    a, b = a.double().flatten(), b.double().flatten()
    return float((a - b).norm() / b.norm())


@torch.no_grad()
def run_shape(shape, out_dir, device, seed):
    cfg = config_for(shape)
    torch.manual_seed(seed)
    if cfg.weight_mode == "fused":
        # transformers' _init_weights fails on fused gate biases (it adds a 2·NH linspace to NH
        # entries); every weight is redrawn below anyway, so skip its init for this mode.
        from transformers.models.xlstm import modeling_xlstm
        cls = modeling_xlstm.xLSTMPreTrainedModel
        saved = cls._init_weights
        cls._init_weights = lambda self, module: None
        try:
            model = xLSTMForCausalLM(cfg).eval()
        finally:
            cls._init_weights = saved
    else:
        model = xLSTMForCausalLM(cfg).eval()
    randomize(model, cfg.num_heads, seed)
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir)
    files = sorted(os.listdir(out_dir))
    if not any(f.endswith(".safetensors") for f in files):
        raise RuntimeError(f"save_pretrained wrote no safetensors in {out_dir}: {files}")
    from safetensors import safe_open
    names = []
    for f in files:
        if f.endswith(".safetensors"):
            with safe_open(os.path.join(out_dir, f), "pt") as st:
                names += list(st.keys())

    m32 = model.to(device)
    m64 = copy.deepcopy(model).double().to(device)
    patched = force_state_dtype(m64, torch.float64)
    # The norms "force float32 reductions" by calling .float(), which for a float64 model would
    # round to float32: switch that off on the float64 copy (it exists to widen bf16).
    widened = 0
    for mod in m64.modules():
        if getattr(mod, "force_float32_reductions", False):
            mod.force_float32_reductions = False
            widened += 1

    def run64(ids, cache=None):
        # xLSTMForCausalLM.forward casts the logits to float32 (`.float()`) before the soft cap;
        # for float64 run its two steps, lm_head and the soft cap, on the float64 hidden states.
        out = m64.backbone(input_ids=ids.to(device), cache_params=cache, use_cache=True)
        logits = m64.lm_head(out.last_hidden_state)
        cap = cfg.output_logit_soft_cap
        return cap * torch.tanh(logits / cap), out.cache_params

    gen = torch.Generator().manual_seed(seed + 1)
    lengths = [1, 7, 2 * cfg.chunk_size + 5]
    cases = []
    worst = 0.0
    for S in lengths:
        ids = torch.randint(0, cfg.vocab_size, (BATCH, S), generator=gen)
        l32 = m32(input_ids=ids.to(device)).logits.float().cpu()
        l64 = run64(ids)[0].cpu()
        assert l64.dtype == torch.float64
        worst = max(worst, rel_l2(l32, l64))
        cases.append(dict(kind="prompt", S=S, ids=ids.tolist(), shape=list(l32.shape),
                          logits_f32=l32.flatten().tolist(), logits_f64=l64.flatten().tolist(),
                          hf_f32_vs_f64_rel_l2=rel_l2(l32, l64)))
    # State carry through transformers' cache: a prefix longer than the chunk, then 4 more tokens.
    P, T = cfg.chunk_size + 3, 4
    ids = torch.randint(0, cfg.vocab_size, (BATCH, P + T), generator=gen)
    cont = {}
    first = m32(input_ids=ids[:, :P].to(device), use_cache=True)
    second = m32(input_ids=ids[:, P:].to(device), cache_params=first.cache_params, use_cache=True)
    cont["f32"] = second.logits.float().cpu()
    _, cache = run64(ids[:, :P])
    cont["f64"] = run64(ids[:, P:], cache)[0].cpu()
    cases.append(dict(kind="continuation", S=T, prefix=P, ids=ids.tolist(),
                      shape=list(cont["f32"].shape),
                      logits_f32=cont["f32"].flatten().tolist(),
                      logits_f64=cont["f64"].flatten().tolist(),
                      hf_f32_vs_f64_rel_l2=rel_l2(cont["f32"], cont["f64"])))
    with open(os.path.join(out_dir, "cases.json"), "w") as f:
        json.dump(dict(name=shape["name"], shape=shape, cases=cases), f)
    return dict(name=shape["name"], files=files, tensor_names=sorted(names),
                float64_state_backends_patched=patched, float64_norms_unforced=widened,
                hf_f32_vs_f64_worst_rel_l2=worst,
                lengths=lengths)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.environ.get("OUT", "."), "hf_xlstm"))
    ap.add_argument("--device", default="cpu", help="cpu (default: no TF32 anywhere) or cuda")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--shapes", default="", help="regex: only shapes whose name matches")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    from transformers.models.xlstm import modeling_xlstm
    os.makedirs(args.out, exist_ok=True)
    manifest = dict(
        transformers=transformers.__version__, torch=torch.__version__,
        python=platform.python_version(), device=args.device,
        external_xlstm=bool(getattr(modeling_xlstm, "external_xlstm", False)),
        started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), shapes=[], errors=[])
    if manifest["external_xlstm"]:
        print("warning: the xlstm package is installed; transformers uses its kernels", file=sys.stderr)
    for k, shape in enumerate(SHAPES):
        if args.shapes and not re.search(args.shapes, shape["name"]):
            continue
        t0 = time.time()
        try:
            info = run_shape(shape, os.path.join(args.out, shape["name"]), args.device,
                             args.seed + 100 * k)
            info["seconds"] = round(time.time() - t0, 2)
            manifest["shapes"].append(info)
            print(f"{shape['name']}: wrote {info['files']}, {len(info['tensor_names'])} tensors, "
                  f"HF f32 vs f64 worst rel L2 {info['hf_f32_vs_f64_worst_rel_l2']:.2e}, "
                  f"{info['float64_state_backends_patched']} backends with float64 states")
        except Exception as e:  # keep going: one failing shape must not hide the others
            traceback.print_exc()
            manifest["errors"].append(dict(name=shape["name"], error=repr(e)))
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    return 1 if manifest["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
