/**
 * Parallel (quadratic) mLSTM on WebGPU (SPEC §1, §2): `parallel--stablef` (exponential input gate)
 * and `parallel--siging` (sigmoid input gate, `normalize` option). No states.
 *
 * One workgroup owns TK query rows of one (batch, head) and walks the causal key blocks of TK keys
 * backwards from the diagonal block, so that the log forget-gate sums Σ_{s<r≤t} logsig(f_r) are
 * accumulated term by term (the "stable forget gate": no difference of two long cumulative sums).
 * Per block each thread computes one q·k product, the row maximum of log D updates a running
 * stabilizer (flash-attention style rescaling of the accumulators, so the final m_t is the exact row
 * maximum of SPEC §1), and each thread accumulates its slice of the DHV output columns.
 *
 * WGSL comes from one generator ({@linkcode parallelWgsl}); the loops over head dimensions and
 * over the keys of a block are unrolled in TypeScript, with `vec4` loads where the dims allow.
 *
 * @module
 */

import type {
  InputGate,
  MlstmForwardResult,
  MlstmInputs,
  MlstmKernel,
  MlstmOptions,
} from "../core/types.ts";
import { validateMlstmInputs } from "../core/validate.ts";
import { hasDocumentStarts } from "../core/documents.ts";
import {
  checkStorageBuffers,
  enableF16,
  f32Lit,
  finish,
  toDevice,
  uploadDocumentStarts,
  WGSL_GATES,
} from "./_common.ts";
import {
  checkWorkgroupLimits,
  DispatchBatch,
  getPipeline,
  type Gpu,
  GpuTensor,
  poisonOutputsEnabled,
  type StorageDtype,
} from "./runtime.ts";

/** Parameters of one parallel-kernel variant (everything that changes the WGSL). */
export interface ParallelKernelParams {
  /** Query/key head dimension. */
  DQK: number;
  /** Value head dimension. */
  DHV: number;
  /** Storage of q, k, v and h. */
  dtype: StorageDtype;
  /** Storage of i and f. */
  gateDtype: StorageDtype;
  /** Input gate. */
  gate: InputGate;
  /** Divide by the normalizer (always true for the exponential gate). */
  normalize: boolean;
  /** Query rows per workgroup = keys per block = threads per row (workgroup TK × TK). */
  TK: number;
  /**
   * Packed sequences: binding 6 holds the (B, S) u32 document-start flags and the uniform word
   * after eps holds NH; logsig(f) at a start is floored to −1e30, so no weight crosses it (the
   * parallel form has no initial-state term: this is each document run separately).
   * @default {false}
   */
  resets?: boolean;
  /**
   * Accumulate h over the TK keys of a block in a loop (each iteration's DHV columns unrolled)
   * instead of unrolling all TK × columns: where that product is large (DHV 512: 128 vec4
   * accumulations) the unrolled body took lavapipe 17 s to compile, the loop 5 s.
   */
  keyLoop: boolean;
}

/** Most vec4 accumulations per key block unrolled before the keys become a loop. */
const MAX_UNROLLED_ACCUMULATIONS = 64;
let maxUnrolledAccumulations = MAX_UNROLLED_ACCUMULATIONS;

/**
 * Overrides the bound on unrolled accumulations of the parallel kernel (beyond it the keys of a
 * block are a loop, see {@linkcode ParallelKernelParams.keyLoop}); null restores the default, 64.
 * For comparisons: a huge value gives the fully unrolled kernel. Applies to pipelines created
 * afterwards.
 *
 * @example
 * ```ts
 * import { parallelKernelParams, setParallelKernelUnroll } from "./parallel.ts";
 * setParallelKernelUnroll(1e9);
 * console.assert(!parallelKernelParams(256, 512, 1000, "f32", "f32", "exp", true).keyLoop);
 * setParallelKernelUnroll(null);
 * console.assert(parallelKernelParams(256, 512, 1000, "f32", "f32", "exp", true).keyLoop);
 * ```
 *
 * @param most The most unrolled vec4 accumulations, or null for the default.
 */
export function setParallelKernelUnroll(most: number | null): void {
  if (most !== null && !(Number.isInteger(most) && most >= 1)) {
    throw new RangeError(
      `Parallel kernel unroll bound must be a positive integer, received ${most}`,
    );
  }
  maxUnrolledAccumulations = most ?? MAX_UNROLLED_ACCUMULATIONS;
}

/**
 * Chooses the tiles of the parallel kernel: 16 × 16 threads, or 8 × 8 for sequences of at most 8.
 *
 * @example
 * ```ts
 * import { parallelKernelParams } from "./parallel.ts";
 * console.assert(parallelKernelParams(64, 64, 1000, "f32", "f32", "exp", true).TK === 16);
 * ```
 *
 * @param DQK Query/key head dimension.
 * @param DHV Value head dimension.
 * @param S Sequence length.
 * @param dtype Storage of q, k, v, h.
 * @param gateDtype Storage of i, f.
 * @param gate Input gate.
 * @param normalize Divide by the normalizer.
 * @returns The parameters.
 */
export function parallelKernelParams(
  DQK: number,
  DHV: number,
  S: number,
  dtype: StorageDtype,
  gateDtype: StorageDtype,
  gate: InputGate,
  normalize: boolean,
): ParallelKernelParams {
  const TK = S <= 8 ? 8 : 16;
  const VH = DHV % (4 * TK) === 0 ? 4 : 1;
  const NV = Math.ceil(DHV / VH / TK);
  return {
    DQK,
    DHV,
    dtype,
    gateDtype,
    gate,
    normalize: gate === "exp" ? true : normalize,
    TK,
    keyLoop: TK * NV > maxUnrolledAccumulations,
  };
}

function parallelKey(p: ParallelKernelParams): string {
  return `parallel:${p.DQK}x${p.DHV}:${p.dtype}:${p.gateDtype}:${p.gate}:${
    p.normalize ? "norm" : "raw"
  }:tk${p.TK}${p.keyLoop ? ":loop" : ""}${p.resets ? ":resets" : ""}`;
}

/**
 * The WGSL of the parallel kernel for one variant. Bindings: q, k, v, i, f, h, then uniforms
 * `{ S, eps }`. Workgroups: (ceil(S / TK), B·NH).
 *
 * @example
 * ```ts
 * import { parallelKernelParams, parallelWgsl } from "./parallel.ts";
 * const code = parallelWgsl(parallelKernelParams(16, 12, 7, "f32", "f32", "sig", false));
 * console.assert(code.includes("@compute") && !code.includes("enable f16"));
 * ```
 *
 * @param p The variant.
 * @returns WGSL source.
 */
export function parallelWgsl(p: ParallelKernelParams): string {
  const { DQK, DHV, dtype, gateDtype, gate, normalize, TK, keyLoop } = p;
  const VD = DQK % 4 === 0 ? 4 : 1;
  const VH = DHV % (4 * TK) === 0 ? 4 : 1;
  const DQKV = DQK / VD;
  const DHVV = DHV / VH;
  const NV = Math.ceil(DHVV / TK);
  const guard = DHVV % TK !== 0;
  const vt = (w: number, t: string) => (w === 4 ? `vec4<${t}>` : t);
  const QV = vt(VD, "f32"), HV = vt(VH, "f32");
  const scale = f32Lit(1 / Math.sqrt(DQK));
  // The query row stays in registers across key blocks when it is short (≤ 32 vectors).
  const qInRegs = DQKV <= 32;
  const qOf = (a: number) => (qInRegs ? `q${a}` : `${QV}(q[qo + ${a}u])`);
  const qLoad = qInRegs
    ? Array.from({ length: DQKV }, (_, a) => `  let q${a} = ${QV}(q[qo + ${a}u]);`).join("\n")
    : "";
  const dot = Array.from({ length: DQKV }, (_, a) => {
    const kv = `${QV}(k[ko + ${a}u])`;
    return VD === 4 ? `dot(${qOf(a)}, ${kv})` : `${qOf(a)} * ${kv}`;
  });
  const dotLines: string[] = [];
  for (let a = 0; a < dot.length; a++) dotLines.push(`    dacc += ${dot[a]};`);
  const Lsum = Array.from(
    { length: TK },
    (_, r) => `    L += select(0.0, lfs[${r}u], ${r}u > j && ${r}u <= hiR);`,
  );
  const Gsum = Array.from(
    { length: TK },
    (_, r) => `    G += select(0.0, lfs[${r}u], ${r}u <= hiR);`,
  );
  const rowMax = Array.from({ length: TK }, (_, r) => `ld[rb + ${r}u]`).reduce((acc, e) =>
    `max(${acc}, ${e})`
  );
  const hDecl = Array.from({ length: NV }, (_, u) => `  var h${u} = ${HV}(0.0);`);
  const hScale = Array.from({ length: NV }, (_, u) => `    h${u} *= alpha;`);
  const acc: string[] = [];
  // Unrolled over the keys of the block, or one loop iteration per key (columns unrolled).
  for (let r = 0; r < (keyLoop ? 1 : TK); r++) {
    const key = keyLoop ? "r" : `${r}u`;
    acc.push(`    ${keyLoop ? `for (var r = 0u; r < ${TK}u; r++) ` : ""}{
      let w = ws[rb + ${key}];
      bAcc += w;
      let vo = (bh * u.S + min(s0 + ${key}, u.S - 1u)) * ${DHVV}u;`);
    for (let v = 0; v < NV; v++) {
      const col = `${v * TK}u + j`;
      const line = `h${v} += w * ${HV}(vv[vo + ${col}]);`;
      acc.push(guard ? `      if (${col} < ${DHVV}u) { ${line} }` : `      ${line}`);
    }
    acc.push("    }");
  }
  const igLoad = gate === "exp" ? "f32(gi[gIdx])" : "logsig(f32(gi[gIdx]))";
  const lower = gate === "exp" ? "exp(-mRun)" : "1.0";
  const norm = normalize ? `1.0 / (max(abs(bAcc), ${lower}) + u.eps)` : "1.0";
  const writes = Array.from({ length: NV }, (_, v) => {
    const col = `${v * TK}u + j`;
    const line = `hOut[ho + ${col}] = ${vt(VH, dtype)}(h${v} * inv);`;
    return guard ? `    if (${col} < ${DHVV}u) { ${line} }` : `    ${line}`;
  });
  const update = gate === "exp"
    ? `    let mNew = max(mRun, ${rowMax});
    let alpha = exp(mRun - mNew);
    mRun = mNew;
    bAcc *= alpha;
${hScale.join("\n")}
    ws[rb + j] = ${scale} * ws[rb + j] * exp(ld[rb + j] - mRun);`
    : `    ws[rb + j] = ${scale} * ws[rb + j] * exp(ld[rb + j]);`;
  return `${enableF16(dtype, gateDtype)}// ${parallelKey(p)}
@group(0) @binding(0) var<storage, read> q: array<${vt(VD, dtype)}>;
@group(0) @binding(1) var<storage, read> k: array<${vt(VD, dtype)}>;
@group(0) @binding(2) var<storage, read> vv: array<${vt(VH, dtype)}>;
@group(0) @binding(3) var<storage, read> gi: array<${gateDtype}>;
@group(0) @binding(4) var<storage, read> gf: array<${gateDtype}>;
@group(0) @binding(5) var<storage, read_write> hOut: array<${vt(VH, dtype)}>;
struct Uniforms { S: u32, eps: f32, NH: u32, pad1: u32 }
${
    p.resets
      ? "@group(0) @binding(6) var<storage, read> rst: array<u32>;\n"
      : ""
  }@group(0) @binding(${p.resets ? 7 : 6}) var<uniform> u: Uniforms;
${WGSL_GATES}
var<workgroup> lfs: array<f32, ${TK}>;
var<workgroup> igs: array<f32, ${TK}>;
var<workgroup> ld: array<f32, ${TK * TK}>;
var<workgroup> ws: array<f32, ${TK * TK}>;

@compute @workgroup_size(${TK}, ${TK})
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let j = lid.x;
  let tl = lid.y;
  let bh = wid.y;
  let t0 = wid.x * ${TK}u;
  let t = t0 + tl;
  let tc = min(t, u.S - 1u);
  let qo = (bh * u.S + tc) * ${DQKV}u;
${qLoad}
  let rb = tl * ${TK}u;
  var G = 0.0;
  var mRun = ${gate === "exp" ? "NEG_BIG" : "0.0"};
  var bAcc = 0.0;
${hDecl.join("\n")}
  for (var kb = i32(wid.x); kb >= 0; kb--) {
    let s0 = u32(kb) * ${TK}u;
    let diag = u32(kb) == wid.x;
    if (tl == 0u) {
      let sIn = s0 + j < u.S;
      let gIdx = bh * u.S + min(s0 + j, u.S - 1u);
      lfs[j] = select(0.0, ${
    p.resets
      ? "select(logsig(f32(gf[gIdx])), -1.0e30, rst[(bh / u.NH) * u.S + min(s0 + j, u.S - 1u)] != 0u)"
      : "logsig(f32(gf[gIdx]))"
  }, sIn);
      igs[j] = ${igLoad};
    }
    workgroupBarrier();
    let s = s0 + j;
    let hiR = select(${TK - 1}u, tl, diag);
    var L = 0.0;
${Lsum.join("\n")}
    let masked = diag && j > tl;
    ld[rb + j] = select(G + L + igs[j], NEG_BIG, masked);
    let ko = (bh * u.S + min(s, u.S - 1u)) * ${DQKV}u;
    var dacc = 0.0;
${dotLines.join("\n")}
    ws[rb + j] = dacc;
    workgroupBarrier();
${update}
    workgroupBarrier();
${acc.join("\n")}
${Gsum.join("\n")}
    workgroupBarrier();
  }
  if (t < u.S) {
    let inv = ${norm};
    let ho = (bh * u.S + t) * ${DHVV}u;
${writes.join("\n")}
  }
}
`;
}

async function parallelPipeline(gpu: Gpu, p: ParallelKernelParams): Promise<GPUComputePipeline> {
  const key = parallelKey(p);
  checkWorkgroupLimits(gpu, {
    storageBytes: 4 * (2 * p.TK + 2 * p.TK * p.TK),
    invocations: p.TK * p.TK,
  }, key);
  checkStorageBuffers(gpu, p.resets ? 7 : 6, key);
  return await getPipeline(gpu, key, () => parallelWgsl(p));
}

function rejectStates(inputs: MlstmInputs, options: MlstmOptions): void {
  if (inputs.cInitial || inputs.nInitial || inputs.mInitial) {
    throw new TypeError(
      "The parallel form takes no initial states: drop cInitial/nInitial/mInitial or use a chunkwise or recurrent kernel",
    );
  }
  if (options.returnLastStates) {
    throw new TypeError(
      "The parallel form returns no last states: set returnLastStates to false or use a chunkwise or recurrent kernel",
    );
  }
}

/**
 * The parallel (quadratic) mLSTM on WebGPU: `parallel--stablef` for the exponential gate,
 * `parallel--siging` for the sigmoid gate (with `normalize`, default true). CPU tensors in give CPU
 * tensors out (f32 data); GpuTensors in give a GpuTensor out. Storage of q, k, v, h follows
 * `options.dtype` (f32 default); arithmetic is f32.
 *
 * @example
 * ```ts no-eval
 * import { mlstmParallelWebGpu } from "./parallel.ts";
 * import { Random, randomMlstmInputs } from "../mod.ts";
 * const x = randomMlstmInputs({ B: 1, NH: 2, S: 7, DQK: 16, DHV: 32 }, new Random(1));
 * const { h } = await mlstmParallelWebGpu(x);
 * console.assert(h.shape.join() === "1,2,7,32");
 * ```
 *
 * @param inputs q, k, v, i, f (initial states are rejected).
 * @param options `eps` (1e-6), `dtype` ("f32"), `normalize` (sigmoid gate), `documentStarts` (no
 * weight crosses a start: each document as a separate call),
 * `checkFinite` (also checks the outputs; device outputs are read back for it).
 * @param gate The input gate. @default {"exp"}
 * @returns h.
 * @throws {TypeError} If initial states or `returnLastStates` are given; {@linkcode GpuError} on limits.
 */
export async function mlstmParallelWebGpu(
  inputs: MlstmInputs,
  options: MlstmOptions = {},
  gate: InputGate = "exp",
): Promise<MlstmForwardResult> {
  const { B, NH, S, DQK, DHV } = validateMlstmInputs(inputs, options, {
    inputGate: gate,
    backend: "webgpu",
  });
  rejectStates(inputs, options);
  const x = await toDevice(inputs, options, {});
  const gpu = x.gpu;
  const resets = hasDocumentStarts(options.documentStarts);
  const p = {
    ...parallelKernelParams(DQK, DHV, S, x.dtype, x.gateDtype, gate, options.normalize ?? true),
    resets,
  };
  const pipeline = await parallelPipeline(gpu, p);
  const h = GpuTensor.empty(gpu, [B, NH, S, DHV], x.dtype, { poison: poisonOutputsEnabled() });
  const u = new ArrayBuffer(16);
  new DataView(u).setUint32(0, S, true);
  new DataView(u).setFloat32(4, options.eps ?? 1e-6, true);
  new DataView(u).setUint32(8, NH, true);
  const rst = resets ? uploadDocumentStarts(gpu, options.documentStarts, B, S) : undefined;
  const batch = new DispatchBatch(gpu);
  batch.dispatch({
    label: gate === "exp" ? "parallel--stablef" : "parallel--siging",
    pipeline,
    buffers: rst ? [x.q, x.k, x.v, x.i, x.f, h, rst] : [x.q, x.k, x.v, x.i, x.f, h],
    uniforms: u,
    workgroups: [Math.ceil(S / p.TK), B * NH],
    flops: B * NH * S * (S + 1) * (DQK + DHV),
    bytes: B * NH * S * (2 * DQK + 2 * DHV + 2) * (x.dtype === "f16" ? 2 : 4),
  });
  try {
    await batch.submit();
  } finally {
    rst?.destroy();
  }
  const r = await finish(x, { h });
  return { h: r.h };
}

function makeKernel(name: string, gate: InputGate): MlstmKernel {
  return {
    name,
    backend: "webgpu",
    form: "parallel",
    inputGate: gate,
    supportsStates: false,
    forward: (inputs, options) => mlstmParallelWebGpu(inputs, options, gate),
  };
}

/**
 * The parallel WebGPU kernels: `parallel--stablef` (exponential gate) and `parallel--siging`.
 *
 * @example
 * ```ts
 * import { parallelKernels } from "./parallel.ts";
 * console.assert(parallelKernels.map((k) => k.name).join() === "parallel--stablef,parallel--siging");
 * ```
 */
export const parallelKernels: readonly MlstmKernel[] = [
  makeKernel("parallel--stablef", "exp"),
  makeKernel("parallel--siging", "sig"),
];
