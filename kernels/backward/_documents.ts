// Packed sequences (`documentStarts`) in the WebGPU backward passes: one backward pass per
// document, each from zero states, the row's initial states seeding its first document and the
// row's last-state gradients reaching its last one. Correct by construction; the cost is one pass
// (9 dispatches per head group) per document, so it suits a few long documents per row. Device
// inputs are cut into documents and the gradients put back by buffer copies on the device (no
// read-back); where a cut is not 4-byte aligned (f16 storage with odd sizes) and for CPU inputs,
// through the CPU (core/_documents.ts). Not exported from mod.ts.

import { backwardByDocuments } from "../../core/_documents.ts";
import { documentRanges } from "../../core/documents.ts";
import type { Tensor } from "../../core/tensor.ts";
import type { MlstmGradients, MlstmInputs, TensorLike } from "../../core/types.ts";
import { isCpuTensor } from "../../core/validate.ts";
import { DispatchBatch, GpuTensor } from "../runtime.ts";
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
 * backward pass itself, called without `documentStarts`). Device inputs give device gradients,
 * f32 all (as the backward pass returns them whatever the inputs' storage).
 */
export async function backwardPerDocument(
  inputs: MlstmInputs,
  dh: TensorLike,
  options: MlstmBackwardOptions,
  run: (x: MlstmInputs, dh: TensorLike, o: MlstmBackwardOptions) => Promise<MlstmGradients>,
): Promise<MlstmGradients> {
  const q = inputs.q;
  const onDevice = !isCpuTensor(q);
  if (onDevice) {
    const g = await onDeviceByCopies(inputs, dh, options, run);
    if (g) return g;
  }
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
  // Gradients are f32 whatever the inputs' storage (as from the backward pass itself).
  const up = (t: Tensor, dt: "f32" | "f16") => GpuTensor.fromTensor(gpu, t, dt);
  const out: MlstmGradients = {
    dq: up(g.dq, "f32"),
    dk: up(g.dk, "f32"),
    dv: up(g.dv, "f32"),
    di: up(g.di, "f32"),
    df: up(g.df, "f32"),
  };
  if (g.dcInitial) out.dcInitial = up(g.dcInitial, "f32");
  if (g.dnInitial) out.dnInitial = up(g.dnInitial, "f32");
  if (g.dmInitial) out.dmInitial = up(g.dmInitial, "f32");
  return out;
}

type Run = (x: MlstmInputs, dh: TensorLike, o: MlstmBackwardOptions) => Promise<MlstmGradients>;

/** Bytes per element of a device tensor. */
const eb = (t: GpuTensor) => (t.dtype === "f16" ? 2 : 4);

/**
 * The per-document passes on device tensors, cut and put back by buffer copies; undefined where a
 * copy would not be 4-byte aligned or an argument is not a GpuTensor (the caller falls back).
 */
async function onDeviceByCopies(
  inputs: MlstmInputs,
  dh: TensorLike,
  options: MlstmBackwardOptions,
  run: Run,
): Promise<MlstmGradients | undefined> {
  const named = { ...inputs, dh, ...prefixed(options.lastStateGradients) };
  if (!Object.values(named).every((t) => t === undefined || t instanceof GpuTensor)) return;
  const x = inputs as MlstmInputs<GpuTensor>;
  const [B, NH, S, DQK] = x.q.shape as [number, number, number, number];
  const DHV = x.v.shape[3]!;
  const docs = documentRanges(options.documentStarts, B, S).flatMap((row, b) =>
    row.map(([s0, s1], j) => ({ b, s0, s1, first: j === 0, last: j === row.length - 1 }))
  );
  // Per-step tensors: [name, tensor, values per step].
  const steps: [string, GpuTensor, number][] = [
    ["q", x.q, DQK],
    ["k", x.k, DQK],
    ["v", x.v, DHV],
    ["i", x.i, 1],
    ["f", x.f, 1],
    ["dh", dh as GpuTensor, DHV],
  ];
  const aligned = (n: number) => n % 4 === 0;
  for (const d of docs) {
    for (const [, t, D] of steps) {
      const e = eb(t);
      if (!aligned((d.b * NH * S + d.s0) * D * e) || !aligned(S * D * e)) return;
      if (!aligned((d.s1 - d.s0) * D * e)) return;
    }
  }
  const gpu = x.q.gpu;
  const { lastStateGradients: dLast, documentStarts: _, ...rest } = options;
  const temps: GpuTensor[] = [];
  let out: Record<string, GpuTensor> | undefined;
  try {
    for (const d of docs) {
      const len = d.s1 - d.s0;
      const cutBatch = new DispatchBatch(gpu);
      const part: Record<string, GpuTensor> = {};
      for (const [name, t, D] of steps) {
        const shape = D === 1 && name !== "dh" ? [1, NH, len] : [1, NH, len, D];
        const p = GpuTensor.empty(gpu, shape, t.dtype);
        temps.push(p);
        const e = eb(t);
        for (let h = 0; h < NH; h++) {
          const from = ((d.b * NH + h) * S + d.s0) * D * e;
          cutBatch.copy(t, from, p, h * len * D * e, len * D * e);
        }
        part[name] = p;
      }
      // Row b of a (B, ...) tensor.
      const row = (t: GpuTensor) => {
        const n = t.size / B;
        const p = GpuTensor.empty(gpu, [1, ...t.shape.slice(1)], t.dtype);
        temps.push(p);
        cutBatch.copy(t, d.b * n * eb(t), p, 0, n * eb(t));
        return p;
      };
      const xd: MlstmInputs = {
        q: part.q!,
        k: part.k!,
        v: part.v!,
        i: part.i!,
        f: part.f!,
      };
      if (d.first && x.cInitial && x.nInitial && x.mInitial) {
        xd.cInitial = row(x.cInitial);
        xd.nInitial = row(x.nInitial);
        xd.mInitial = row(x.mInitial);
      }
      const o: MlstmBackwardOptions = { ...rest };
      if (d.last && dLast) {
        // c, n (and m where the pass takes it): row b of each.
        const mine = Object.entries(dLast).filter(([, t]) => t !== undefined)
          .map(([k, t]) => [k, row(t as GpuTensor)]);
        o.lastStateGradients = Object.fromEntries(
          mine,
        ) as MlstmBackwardOptions["lastStateGradients"];
      }
      await cutBatch.submit();
      const g = await run(xd, part.dh!, o) as unknown as Record<string, GpuTensor | undefined>;
      const putBatch = new DispatchBatch(gpu);
      out ??= {};
      for (
        const [key, D, perRow] of [
          ["dq", DQK, false],
          ["dk", DQK, false],
          ["dv", DHV, false],
          ["di", 1, false],
          ["df", 1, false],
          ["dcInitial", DQK * DHV, true],
          ["dnInitial", DQK, true],
          ["dmInitial", 1, true],
        ] as const
      ) {
        const r = g[key];
        if (r === undefined) continue;
        temps.push(r);
        const e = eb(r);
        if (perRow) {
          const full = out[key] ??= GpuTensor.empty(gpu, [B, ...r.shape.slice(1)], r.dtype);
          putBatch.copy(r, 0, full, d.b * r.size * e, r.size * e);
          continue;
        }
        const shape = D === 1 ? [B, NH, S] : [B, NH, S, D];
        const full = out[key] ??= GpuTensor.empty(gpu, shape, r.dtype);
        if (!aligned(len * D * e) || !aligned((d.b * NH * S + d.s0) * D * e)) {
          throw new RangeError(`Gradient ${key} of a document is not 4-byte aligned`);
        }
        for (let h = 0; h < NH; h++) {
          const to = ((d.b * NH + h) * S + d.s0) * D * e;
          putBatch.copy(r, h * len * D * e, full, to, len * D * e);
        }
      }
      await putBatch.submit();
    }
  } catch (err) {
    for (const t of Object.values(out ?? {})) t.destroy();
    throw err;
  } finally {
    for (const t of temps) t.destroy();
  }
  return out as unknown as MlstmGradients;
}

function prefixed(d: MlstmBackwardOptions["lastStateGradients"]): Record<string, TensorLike> {
  const out: Record<string, TensorLike> = {};
  for (const [k, t] of Object.entries(d ?? {})) {
    if (t !== undefined) out[`last ${k}`] = t as TensorLike;
  }
  return out;
}
