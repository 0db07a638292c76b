// Packed sequences by definition: each document of each batch row is run as its own call (B = 1)
// from zero states (the row's initial states seed its first document), and the outputs, last
// states and gradients are put back in place. The float64 references use it for their forms
// other than the recurrent one (whose loop zeroes the states itself); the tests use it as the
// definition the one-pass WebGPU backward is checked against. Not exported from mod.ts.

import { documentRanges, hasDocumentStarts } from "./documents.ts";
import type { Tensor } from "./tensor.ts";
import type {
  MlstmForwardResult,
  MlstmGradients,
  MlstmInputs,
  MlstmOptions,
  TensorLike,
} from "./types.ts";
import { isCpuTensor, validateDh, validateMlstmInputs } from "./validate.ts";

async function readF64(t: TensorLike): Promise<Float64Array> {
  const cpu: Tensor = isCpuTensor(t) ? t : await t.read();
  return cpu.data instanceof Float64Array ? cpu.data : Float64Array.from(cpu.data);
}

type Fw = (inputs: MlstmInputs, options: MlstmOptions) => Promise<MlstmForwardResult<Tensor>>;
type Bw<O extends MlstmOptions> = (
  inputs: MlstmInputs,
  dh: TensorLike,
  options: O,
) => Promise<MlstmGradients>;

/** One document: batch row b, steps [s0, s1); whether it is the row's first and last. */
export interface DocumentRange {
  b: number;
  s0: number;
  s1: number;
  first: boolean;
  last: boolean;
}

/** Whether a call must be split into documents. */
export function packed(options: MlstmOptions | undefined): boolean {
  return hasDocumentStarts(options?.documentStarts);
}

type Doc = DocumentRange;

interface Split {
  NH: number;
  S: number;
  docs: Doc[];
  /** Per-step tensors (B, NH, S[, D]) of the whole call, as float64. */
  full: Record<string, { data: Float64Array; D: number }>;
  /** Initial states per row: c (NH·DQK·DHV), n (NH·DQK), m (NH) entries. */
  states?: { c: Float64Array; n: Float64Array; m: Float64Array; DQK: number; DHV: number };
}

async function split(inputs: MlstmInputs, options: MlstmOptions): Promise<Split> {
  const { B, NH, S, DQK, DHV, hasInitialStates } = validateMlstmInputs(inputs, options);
  const docs: Doc[] = [];
  documentRanges(options.documentStarts, B, S).forEach((row, b) =>
    row.forEach(([s0, s1], j) =>
      docs.push({ b, s0, s1, first: j === 0, last: j === row.length - 1 })
    )
  );
  const full: Split["full"] = {
    q: { data: await readF64(inputs.q), D: DQK },
    k: { data: await readF64(inputs.k), D: DQK },
    v: { data: await readF64(inputs.v), D: DHV },
    i: { data: await readF64(inputs.i), D: 1 },
    f: { data: await readF64(inputs.f), D: 1 },
  };
  const out: Split = { NH, S, docs, full };
  if (hasInitialStates) {
    out.states = {
      c: await readF64(inputs.cInitial!),
      n: await readF64(inputs.nInitial!),
      m: await readF64(inputs.mInitial!),
      DQK,
      DHV,
    };
  }
  return out;
}

/** Rows s0..s1 of batch row b of a (B, NH, S, D) array, as a (1, NH, s1 - s0, D) tensor. */
function take(
  data: Float64Array,
  D: number,
  NH: number,
  S: number,
  d: Doc,
  rank3: boolean,
): Tensor {
  const len = d.s1 - d.s0;
  const out = new Float64Array(NH * len * D);
  for (let h = 0; h < NH; h++) {
    const src = ((d.b * NH + h) * S + d.s0) * D;
    out.set(data.subarray(src, src + len * D), h * len * D);
  }
  return { shape: rank3 ? [1, NH, len] : [1, NH, len, D], data: out };
}

/** Writes a (1, NH, len, D) result back into rows s0..s1 of batch row b of a (B, NH, S, D) array. */
function put(dst: Float64Array, src: Tensor, D: number, NH: number, S: number, d: Doc): void {
  const len = d.s1 - d.s0;
  for (let h = 0; h < NH; h++) {
    const at = ((d.b * NH + h) * S + d.s0) * D;
    for (let j = 0; j < len * D; j++) dst[at + j] = src.data[h * len * D + j]!;
  }
}

function docInputs(sp: Split, d: Doc): MlstmInputs<Tensor> {
  const { NH, S, full } = sp;
  const x: MlstmInputs<Tensor> = {
    q: take(full.q!.data, full.q!.D, NH, S, d, false),
    k: take(full.k!.data, full.k!.D, NH, S, d, false),
    v: take(full.v!.data, full.v!.D, NH, S, d, false),
    i: take(full.i!.data, 1, NH, S, d, true),
    f: take(full.f!.data, 1, NH, S, d, true),
  };
  if (sp.states && d.first) {
    const { c, n, m, DQK, DHV } = sp.states;
    const CQ = DQK * DHV;
    x.cInitial = { shape: [1, NH, DQK, DHV], data: c.slice(d.b * NH * CQ, (d.b + 1) * NH * CQ) };
    x.nInitial = { shape: [1, NH, DQK], data: n.slice(d.b * NH * DQK, (d.b + 1) * NH * DQK) };
    x.mInitial = { shape: [1, NH], data: m.slice(d.b * NH, (d.b + 1) * NH) };
  }
  return x;
}

function withoutStarts<O extends MlstmOptions>(options: O): O {
  const { documentStarts: _, ...rest } = options;
  return rest as O;
}

async function gradientsOnCpu(g: MlstmGradients): Promise<MlstmGradients<Tensor>> {
  const out: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(g)) {
    if (t !== undefined) out[k] = isCpuTensor(t) ? t : await t.read();
  }
  return out as unknown as MlstmGradients<Tensor>;
}

/**
 * A forward pass with `documentStarts`, as one call per document. Last states are those of each
 * row's last document.
 */
export async function forwardByDocuments(
  inputs: MlstmInputs,
  options: MlstmOptions,
  run: Fw,
): Promise<MlstmForwardResult<Tensor>> {
  const sp = await split(inputs, options);
  const { NH, S } = sp;
  const B = inputs.q.shape[0]!, DQK = inputs.q.shape[3]!, DHV = inputs.v.shape[3]!;
  const h = new Float64Array(B * NH * S * DHV);
  const c = new Float64Array(B * NH * DQK * DHV), n = new Float64Array(B * NH * DQK);
  const m = new Float64Array(B * NH);
  const opts = withoutStarts(options);
  for (const d of sp.docs) {
    const r = await run(docInputs(sp, d), opts);
    put(h, r.h, DHV, NH, S, d);
    if (d.last && r.last) {
      c.set(r.last!.c.data, d.b * NH * DQK * DHV);
      n.set(r.last!.n.data, d.b * NH * DQK);
      m.set(r.last!.m.data, d.b * NH);
    }
  }
  const out: MlstmForwardResult<Tensor> = { h: { shape: [B, NH, S, DHV], data: h } };
  if (options.returnLastStates) {
    out.last = {
      c: { shape: [B, NH, DQK, DHV], data: c },
      n: { shape: [B, NH, DQK], data: n },
      m: { shape: [B, NH], data: m },
    };
  }
  return out;
}

/**
 * A backward pass with `documentStarts`, as one call per document; initial-state gradients come
 * from each row's first document. `perDocument` adjusts the options of one document's call (e.g.
 * the last-state gradients, which belong to each row's last document).
 */
export async function backwardByDocuments<O extends MlstmOptions>(
  inputs: MlstmInputs,
  dh: TensorLike,
  options: O,
  run: Bw<O>,
  perDocument?: (d: DocumentRange, options: O) => O,
): Promise<MlstmGradients<Tensor>> {
  const sp = await split(inputs, options);
  const dims = validateMlstmInputs(inputs, options);
  validateDh(dh, dims);
  const { B, NH, S, DQK, DHV } = dims;
  const dH = await readF64(dh);
  const g = {
    dq: new Float64Array(B * NH * S * DQK),
    dk: new Float64Array(B * NH * S * DQK),
    dv: new Float64Array(B * NH * S * DHV),
    di: new Float64Array(B * NH * S),
    df: new Float64Array(B * NH * S),
  };
  const CQ = DQK * DHV;
  const dc0 = new Float64Array(B * NH * CQ), dn0 = new Float64Array(B * NH * DQK);
  const dm0 = new Float64Array(B * NH);
  let withInit = false, withM = false;
  const opts = withoutStarts(options);
  for (const d of sp.docs) {
    const o = perDocument ? perDocument(d, opts) : opts;
    const r0 = await run(docInputs(sp, d), take(dH, DHV, NH, S, d, false), o);
    const r = await gradientsOnCpu(r0);
    put(g.dq, r.dq as Tensor, DQK, NH, S, d);
    put(g.dk, r.dk as Tensor, DQK, NH, S, d);
    put(g.dv, r.dv as Tensor, DHV, NH, S, d);
    put(g.di, r.di as Tensor, 1, NH, S, d);
    put(g.df, r.df as Tensor, 1, NH, S, d);
    if (d.first && r.dcInitial) {
      withInit = true;
      dc0.set((r.dcInitial as Tensor).data, d.b * NH * CQ);
      dn0.set((r.dnInitial as Tensor).data, d.b * NH * DQK);
      if (r.dmInitial) {
        withM = true;
        dm0.set((r.dmInitial as Tensor).data, d.b * NH);
      }
    }
  }
  const out: MlstmGradients<Tensor> = {
    dq: { shape: [B, NH, S, DQK], data: g.dq },
    dk: { shape: [B, NH, S, DQK], data: g.dk },
    dv: { shape: [B, NH, S, DHV], data: g.dv },
    di: { shape: [B, NH, S], data: g.di },
    df: { shape: [B, NH, S], data: g.df },
  };
  if (withInit) {
    out.dcInitial = { shape: [B, NH, DQK, DHV], data: dc0 };
    out.dnInitial = { shape: [B, NH, DQK], data: dn0 };
    if (withM) out.dmInitial = { shape: [B, NH], data: dm0 };
  }
  return out;
}
