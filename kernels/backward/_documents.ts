// Packed sequences (`documentStarts`) in the WebGPU backward passes: one backward pass per
// document (core/_documents.ts), each from zero states, the row's initial states seeding its first
// document and the row's last-state gradients reaching its last one. Correct by construction; the
// cost is one pass (9 dispatches per head group) per document, and device inputs are read back to
// be cut into documents, so it suits a few long documents per row. Not exported from mod.ts.

import { backwardByDocuments } from "../../core/_documents.ts";
import type { Tensor } from "../../core/tensor.ts";
import type { MlstmGradients, MlstmInputs, TensorLike } from "../../core/types.ts";
import { isCpuTensor } from "../../core/validate.ts";
import { GpuTensor } from "../runtime.ts";
import type { MlstmBackwardOptions } from "./backward.ts";

async function onCpu(t: TensorLike): Promise<Tensor> {
  return isCpuTensor(t) ? t : await t.read();
}

/** Row b of a (B, ...) tensor as a (1, ...) tensor. */
function row(t: Tensor, b: number): Tensor {
  const per = t.data.length / t.shape[0]!;
  return { shape: [1, ...t.shape.slice(1)], data: t.data.slice(b * per, (b + 1) * per) };
}

/**
 * The backward pass of a call with `documentStarts`, one pass per document through `run` (the
 * backward pass itself, called without `documentStarts`). Device inputs give device gradients (q,
 * k, v's storage type for dq, dk, dv; i's for di, df; f32 for the initial states).
 */
export async function backwardPerDocument(
  inputs: MlstmInputs,
  dh: TensorLike,
  options: MlstmBackwardOptions,
  run: (x: MlstmInputs, dh: TensorLike, o: MlstmBackwardOptions) => Promise<MlstmGradients>,
): Promise<MlstmGradients> {
  const q = inputs.q, i = inputs.i;
  const onDevice = !isCpuTensor(q);
  const dtype = !isCpuTensor(q) ? q.dtype : options.dtype;
  const { lastStateGradients: dLast, ...rest } = options;
  const base: MlstmBackwardOptions = dtype ? { ...rest, dtype } : rest;
  const last: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(dLast ?? {})) {
    if (t !== undefined) last[k] = await onCpu(t as TensorLike);
  }
  const g = await backwardByDocuments(inputs, dh, base, run, (d, o) => {
    if (!d.last || dLast === undefined) return o;
    const mine = Object.fromEntries(Object.entries(last).map(([k, t]) => [k, row(t, d.b)]));
    return {
      ...o,
      lastStateGradients: mine as unknown as MlstmBackwardOptions["lastStateGradients"],
    };
  });
  if (!onDevice) return g;
  const gpu = (inputs.q as GpuTensor).gpu;
  const gateDtype = !isCpuTensor(i) && i.dtype === "f16" ? "f16" : "f32";
  const up = (t: Tensor, dt: "f32" | "f16") => GpuTensor.fromTensor(gpu, t, dt);
  const out: MlstmGradients = {
    dq: up(g.dq, dtype ?? "f32"),
    dk: up(g.dk, dtype ?? "f32"),
    dv: up(g.dv, dtype ?? "f32"),
    di: up(g.di, gateDtype),
    df: up(g.df, gateDtype),
  };
  if (g.dcInitial) out.dcInitial = up(g.dcInitial, "f32");
  if (g.dnInitial) out.dnInitial = up(g.dnInitial, "f32");
  if (g.dmInitial) out.dmInitial = up(g.dmInitial, "f32");
  return out;
}
