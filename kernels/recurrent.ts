/**
 * Recurrent mLSTM on WebGPU (SPEC §1, §2): the fused step kernel `step--fused` and the whole
 * sequence `recurrent--sequence` as a loop of fused steps, all encoded into one command buffer with
 * the states kept in device buffers.
 *
 * The step kernel is bound by memory bandwidth (it reads and writes the state C once per step). Each
 * workgroup owns a tile of C's columns for one (batch, head): its threads split the DQK rows into
 * row groups, update their rows of C in one read and one write, and accumulate q̃ᵀC and q̃·n in the
 * same pass; one shared-memory reduction over the row groups gives h. The normalizer n (DQK values)
 * is recomputed by every tile, so no second pass or global reduction is needed.
 *
 * WGSL comes from one generator ({@linkcode stepWgsl}) whose inner loops over head-dimension rows are
 * unrolled in TypeScript, with `vec4` loads along DHV when DHV is a multiple of 4.
 *
 * @module
 */

import type {
  InputGate,
  MlstmForwardResult,
  MlstmInputs,
  MlstmKernel,
  MlstmOptions,
  TensorLike,
} from "../core/types.ts";
import { hasDocumentStarts } from "../core/documents.ts";
import { validateMlstmInputs, validateStepShapes } from "../core/validate.ts";
import {
  checkStorageBuffers,
  type DeviceInputs,
  enableF16,
  f32Lit,
  finish,
  largestDivisor,
  reshape,
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

/** Parameters of one step-kernel variant (everything that changes the WGSL). */
export interface StepKernelParams {
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
  /** Sequence variant: C updated in place (one read_write binding); otherwise C in and C out. */
  inPlace: boolean;
  /**
   * Resident variant: the loop over time runs inside the kernel and each thread keeps its rows of C
   * and n in registers for the whole sequence (C in and C out, read and written once per call).
   */
  timeLoop: boolean;
  /** Vector width along DHV: 4 (vec4) or 1. */
  VW: 1 | 4;
  /** Columns of C per workgroup, in vectors of VW. */
  TCV: number;
  /** Row groups: threads along DQK (workgroup size TCV × R). */
  R: number;
  /**
   * Rows of C per thread, unrolled: DQK / R, or ⌈DQK / R⌉ with the rows past DQK skipped where no
   * divisor of DQK gives a short enough unroll (a prime DQK such as 257 would otherwise unroll all
   * its rows into one thread: 47 s to compile on lavapipe, and no parallelism over rows).
   */
  RPT: number;
  /**
   * Packed sequences: a last storage binding holds the (B, S) u32 document-start flags and the
   * uniform word after eps holds NH; at a start the states before the step count as zeros (C = 0,
   * n = 0, m = 0), exactly as a separate call. @default {false}
   */
  resets?: boolean;
}

/** Most rows of C one thread unrolls (longer unrolls compile slowly and use many registers). */
const MAX_UNROLLED_ROWS = 32;

/** Tile limits of the step kernels (see {@linkcode setStepKernelTiles}). */
export interface StepKernelTiles {
  /** Most column vectors (of 4 columns when DHV % 4 = 0) per workgroup. @default {16} */
  maxColumnVectors?: number;
  /** Most threads per workgroup. @default {256} */
  maxThreads?: number;
  /** Resident variant: most state floats (rows of C) per thread. @default {32} */
  maxStateFloats?: number;
  /**
   * Most rows of C one thread unrolls; beyond it the rows are split in ragged row groups (a huge
   * value restores the former choice, divisors of DQK only, for comparisons). @default {32}
   */
  maxUnrolledRows?: number;
}

let stepTiles: StepKernelTiles = {};

/**
 * Overrides the tile limits the step kernels choose their tiles within (for tuning on a given GPU;
 * null restores the defaults). Applies to pipelines created afterwards; each tile choice is its own
 * cached pipeline.
 *
 * @example
 * ```ts
 * import { setStepKernelTiles, stepKernelParams } from "./recurrent.ts";
 * setStepKernelTiles({ maxColumnVectors: 8, maxThreads: 128 });
 * console.assert(stepKernelParams(128, 256, "f32", "f32", "exp", true, false).TCV === 8);
 * setStepKernelTiles(null);
 * ```
 *
 * @param tiles The limits, or null for the defaults.
 */
export function setStepKernelTiles(tiles: StepKernelTiles | null): void {
  for (const [k, v] of Object.entries(tiles ?? {})) {
    if (v !== undefined && !(Number.isInteger(v) && v >= 1)) {
      throw new RangeError(`Step kernel tile limit ${k} must be a positive integer, received ${v}`);
    }
  }
  stepTiles = { ...(tiles ?? {}) };
}

/**
 * Chooses the tiles of the step kernel: vec4 along DHV when possible, up to 16 vectors (64
 * columns) per workgroup, and up to 256 threads, the DQK rows split evenly over row groups (limits
 * adjustable with {@linkcode setStepKernelTiles}).
 *
 * @example
 * ```ts
 * import { stepKernelParams } from "./recurrent.ts";
 * const p = stepKernelParams(128, 256, "f32", "f32", "exp", true, false);
 * console.assert(p.VW === 4 && p.TCV === 16 && p.R === 16);
 * ```
 *
 * @param DQK Query/key head dimension.
 * @param DHV Value head dimension.
 * @param dtype Storage of q, k, v, h.
 * @param gateDtype Storage of i, f.
 * @param gate Input gate.
 * @param normalize Divide by the normalizer.
 * @param inPlace Sequence variant (C updated in place; ignored when `timeLoop`).
 * @param timeLoop Resident variant: the time loop inside the kernel, the state in registers (at
 * most 32 state floats per thread: smaller column tiles for large DQK). @default {false}
 * @returns The parameters.
 */
export function stepKernelParams(
  DQK: number,
  DHV: number,
  dtype: StorageDtype,
  gateDtype: StorageDtype,
  gate: InputGate,
  normalize: boolean,
  inPlace: boolean,
  timeLoop = false,
): StepKernelParams {
  const {
    maxColumnVectors = 16,
    maxThreads = 256,
    maxStateFloats = 32,
    maxUnrolledRows = MAX_UNROLLED_ROWS,
  } = stepTiles;
  const VW = DHV % 4 === 0 ? 4 : 1;
  // Row groups: the largest divisor of DQK that fits the threads, unless its unroll would be too
  // long; then as many groups as fit, the last one's rows past DQK skipped.
  const rowGroups = (TCV: number) => {
    const most = Math.max(1, Math.floor(maxThreads / TCV));
    const R = largestDivisor(DQK, most);
    if (DQK / R <= maxUnrolledRows) return R;
    // Ragged: the fewest rows per thread, then the fewest groups with that many rows.
    return Math.ceil(DQK / Math.ceil(DQK / Math.min(most, DQK)));
  };
  const rows = (R: number) => Math.ceil(DQK / R);
  let TCV = largestDivisor(DHV / VW, maxColumnVectors);
  let R = rowGroups(TCV);
  // Narrower column tiles (more row groups) while a thread would unroll too many rows, or hold
  // more state floats than the resident variant's budget.
  const tooMany = (R: number) =>
    rows(R) > maxUnrolledRows || (timeLoop && rows(R) * VW > maxStateFloats);
  while (tooMany(R) && TCV > 1) {
    TCV = largestDivisor(DHV / VW, TCV - 1);
    R = rowGroups(TCV);
  }
  return {
    DQK,
    DHV,
    dtype,
    gateDtype,
    gate,
    normalize: gate === "exp" ? true : normalize,
    inPlace: timeLoop ? false : inPlace,
    timeLoop,
    VW,
    TCV,
    R,
    RPT: rows(R),
  };
}

function stepKey(p: StepKernelParams): string {
  return `step--fused:${p.DQK}x${p.DHV}:${p.dtype}:${p.gateDtype}:${p.gate}:${
    p.normalize ? "norm" : "raw"
  }:${p.timeLoop ? "resident" : p.inPlace ? "inplace" : "io"}:vw${p.VW}:tc${p.TCV}:r${p.R}${
    p.resets ? ":resets" : ""
  }`;
}

/** The storage bindings of a step-kernel variant, in order: name, access, element type. */
function stepBindings(p: StepKernelParams): [string, "read" | "read_write", string][] {
  const V = p.VW === 4 ? "vec4<f32>" : "f32";
  const SV = p.VW === 4 ? `vec4<${p.dtype}>` : p.dtype;
  return [
    ["q", "read", p.dtype],
    ["k", "read", p.dtype],
    ["v", "read", SV],
    ["gi", "read", p.gateDtype],
    ["gf", "read", p.gateDtype],
    ["cIn", p.inPlace ? "read_write" : "read", V],
    ["nIn", "read", "f32"],
    ["mIn", "read", "f32"],
    ["hOut", "read_write", SV],
    ...(p.inPlace ? [] : [["cOut", "read_write", V] as [string, "read_write", string]]),
    ["nOut", "read_write", "f32"],
    ["mOut", "read_write", "f32"],
    ...(p.resets ? [["rst", "read", "u32"] as [string, "read", string]] : []),
  ];
}

/**
 * The WGSL of the fused step kernel for one variant. Bindings: q, k, v, i, f, C (in), n in, m in,
 * h, [C out,] n out, m out, then the uniforms `{ t, S, eps }` (step t of a sequence of length S:
 * q/k/v/i/f/h are indexed at (b·NH + h)·S + t). Workgroups: (DHV / (VW·TCV), B·NH).
 *
 * @example
 * ```ts
 * import { stepKernelParams, stepWgsl } from "./recurrent.ts";
 * const code = stepWgsl(stepKernelParams(16, 8, "f16", "f32", "exp", true, true));
 * console.assert(code.includes("enable f16;") && code.includes("@compute"));
 * ```
 *
 * @param p The variant.
 * @returns WGSL source.
 */
export function stepWgsl(p: StepKernelParams): string {
  const { DQK, DHV, dtype, gateDtype, gate, normalize, inPlace, timeLoop, VW, TCV, R, RPT } = p;
  // Rows past DQK (R·RPT > DQK): loads clamped to row DQK - 1, updates and stores skipped.
  const ragged = R * RPT !== DQK;
  const rowOf = (j: number) => `min(r * ${RPT}u + ${j}u, ${DQK - 1}u)`;
  const DHVV = DHV / VW;
  const V = VW === 4 ? "vec4<f32>" : "f32";
  const SV = VW === 4 ? `vec4<${dtype}>` : dtype;
  const scale = f32Lit(1 / Math.sqrt(DQK));
  const bindings = stepBindings(p);
  const decl = bindings.map(([name, access, type], j) =>
    `@group(0) @binding(${j}) var<storage, ${access}> ${name}: array<${type}>;`
  );
  const b = bindings.length;
  const cOut = inPlace ? "cIn" : "cOut";
  const ind = timeLoop ? "    " : "  ";
  // One row of C per unrolled block: in registers (resident) or read and written once (step).
  const rows: string[] = [];
  // Whether row j of a thread can lie past DQK (in the last row group of a ragged split).
  const past = (j: number) => ragged && (R - 1) * RPT + j >= DQK;
  const row = (j: number) => past(j) ? rowOf(j) : `(r * ${RPT}u + ${j}u)`;
  for (let j = 0; j < RPT; j++) {
    const update = timeLoop
      ? `${ind}  c${j} = fa * c${j} + ka * vv;
${ind}  hAcc += qa * c${j};
${ind}  n${j} = fa * n${j} + ka;
${ind}  dAcc += qa * n${j};`
      : `${ind}  let c = fa * cl${j} + ka * vv;
${ind}  ${cOut}[cBase + a * ${DHVV}u] = c;
${ind}  hAcc += qa * c;
${ind}  let nn = fa * nl${j} + ka;
${ind}  dAcc += qa * nn;
${ind}  if (writeN) { nOut[nBase + a] = nn; }`;
    rows.push(`${ind}${past(j) ? `if (r * ${RPT}u + ${j}u < ${DQK}u) ` : ""}{
${ind}  let a = r * ${RPT}u + ${j}u;
${ind}  let ka = ia * f32(k[qo + a]);
${ind}  let qa = ${scale} * f32(q[qo + a]);
${update}
${ind}}`);
  }
  // Step variant: all loads of the thread's rows of C and n are issued first, so that they are
  // in flight together (memory-level parallelism for this bandwidth-bound kernel).
  const prefetch = timeLoop
    ? ""
    : Array.from({ length: RPT }, (_, j) =>
      `  let cl${j} = cIn[cBase + ${row(j)} * ${DHVV}u];
  let nl${j} = nIn[nBase + ${row(j)}];`).join("\n") + "\n";
  const mPrevRaw = timeLoop ? "mPrev" : "mIn[bh]";
  // A document start: the state before the step is the zero state (m = 0, nothing carried).
  const rsLine = p.resets
    ? `${ind}let rs = rst[(bh / u.NH) * u.S + ${timeLoop ? "t" : "u.t"}] != 0u;
${ind}let mp = select(${mPrevRaw}, 0.0, rs);
`
    : "";
  const mPrevExpr = p.resets ? "mp" : mPrevRaw;
  const wipe = (e: string) => (p.resets ? `select(${e}, 0.0, rs)` : e);
  const gates = gate === "exp"
    ? `${rsLine}${ind}let lf = logsig(fv);
${ind}let mt = max(lf + ${mPrevExpr}, iv);
${ind}let fa = ${wipe(`exp(lf + ${mPrevExpr} - mt)`)};
${ind}let ia = exp(iv - mt);`
    : `${rsLine}${ind}let fa = ${wipe("exp(logsig(fv))")};
${ind}let ia = exp(logsig(iv));
${ind}let mt = select(0.0, ${mPrevExpr}, false);`;
  const pb = timeLoop ? "pb + " : "";
  const db = timeLoop ? "db + " : "";
  const reduceH = Array.from({ length: R }, (_, rr) => `hPart[${pb}${rr * TCV}u + cg]`).join(" + ");
  const reduceD = Array.from({ length: R }, (_, rr) => `dPart[${db}${rr}u]`).join(" + ");
  const lower = gate === "exp" ? "exp(-mt)" : "1.0";
  const hExpr = normalize ? `hs / (max(abs(den), ${lower}) + u.eps)` : "hs";
  const body = `${prefetch}${ind}let row = bh * u.S + ${timeLoop ? "t" : "u.t"};
${ind}let qo = row * ${DQK}u;
${ind}let iv = f32(gi[row]);
${ind}let fv = f32(gf[row]);
${gates}
${ind}let vv = ${V}(v[row * ${DHVV}u + col]);
${ind}var hAcc = ${V}(0.0);
${ind}var dAcc = 0.0;
${rows.join("\n")}
${ind}hPart[${pb}r * ${TCV}u + cg] = hAcc;
${ind}if (cg == 0u) { dPart[${db}r] = dAcc; }
${ind}workgroupBarrier();
${ind}if (r == 0u) {
${ind}  let hs = ${reduceH};
${ind}  let den = ${reduceD};
${ind}  hOut[row * ${DHVV}u + col] = ${SV}(${hExpr});`;
  let main: string;
  if (!timeLoop) {
    main = `${body}
    if (wid.x == 0u && cg == 0u) { mOut[bh] = mt; }
  }`;
  } else {
    // Partial sums are double-buffered by the parity of t, so one barrier per step suffices: a
    // thread can only overwrite buffer t & 1 at step t + 2, after the barrier of step t + 1, which
    // the readers of step t reach only once they are done.
    const load = Array.from(
      { length: RPT },
      (_, j) =>
        `  var c${j} = cIn[cBase + ${row(j)} * ${DHVV}u];
  var n${j} = nIn[nBase + ${row(j)}];`,
    );
    const store = Array.from(
      { length: RPT },
      (_, j) =>
        `  ${past(j) ? `if (r * ${RPT}u + ${j}u < ${DQK}u) ` : ""}{
    cOut[cBase + (r * ${RPT}u + ${j}u) * ${DHVV}u] = c${j};
    if (writeN) { nOut[nBase + r * ${RPT}u + ${j}u] = n${j}; }
  }`,
    );
    main = `${load.join("\n")}
  var mPrev = mIn[bh];
  for (var t = 0u; t < u.S; t++) {
    let pb = (t & 1u) * ${R * TCV}u;
    let db = (t & 1u) * ${R}u;
${body}
    }
    mPrev = mt;
  }
${store.join("\n")}
  if (writeN && r == 0u) { mOut[bh] = mPrev; }`;
  }
  const nbuf = timeLoop ? 2 : 1;
  return `${enableF16(dtype, gateDtype)}// ${stepKey(p)}
${decl.join("\n")}
struct Uniforms { t: u32, S: u32, eps: f32, NH: u32 }
@group(0) @binding(${b}) var<uniform> u: Uniforms;
${WGSL_GATES}
var<workgroup> hPart: array<${V}, ${nbuf * R * TCV}>;
var<workgroup> dPart: array<f32, ${nbuf * R}>;

@compute @workgroup_size(${TCV}, ${R})
fn main(@builtin(local_invocation_id) lid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let cg = lid.x;
  let r = lid.y;
  let bh = wid.y;
  let col = wid.x * ${TCV}u + cg;
  let cBase = bh * ${DQK * DHVV}u + col;
  let nBase = bh * ${DQK}u;
  let writeN = wid.x == 0u && cg == 0u;
${main}
}
`;
}

function stepWorkgroupStorage(p: StepKernelParams): number {
  return (p.timeLoop ? 2 : 1) * (p.R * p.TCV * p.VW * 4 + p.R * 4);
}

/**
 * Storage buffers one step dispatch binds: 11 in place (the state read and written through the
 * same buffers), 12 otherwise, one more with document starts. WebGPU's default limit is 8 per
 * shader stage and browsers often offer 8 to 10, so callers that can route around the step kernel
 * (the model's one-token forward and its generation) check this first.
 *
 * @example
 * ```ts
 * import { stepStorageBuffers } from "./recurrent.ts";
 * console.assert(stepStorageBuffers(true, false) === 11);
 * ```
 *
 * @param inPlace Whether the state is updated in place.
 * @param resets Whether document starts are bound.
 * @returns The number of storage buffers.
 */
export function stepStorageBuffers(inPlace: boolean, resets: boolean): number {
  return (inPlace ? 11 : 12) + (resets ? 1 : 0);
}

async function stepPipeline(gpu: Gpu, p: StepKernelParams): Promise<GPUComputePipeline> {
  const key = stepKey(p);
  checkWorkgroupLimits(gpu, {
    storageBytes: stepWorkgroupStorage(p),
    invocations: p.TCV * p.R,
  }, key);
  checkStorageBuffers(gpu, stepStorageBuffers(p.inPlace, p.resets ?? false), key);
  // Explicit layout with a dynamic uniform offset: a sequence of S steps needs two bind groups.
  const storage = stepBindings(p).map(([, access]) => access);
  return await getPipeline(gpu, key, () => stepWgsl(p), "main", { storage, uniform: true });
}

function uniforms(t: number, S: number, eps: number, NH: number): ArrayBuffer {
  const buf = new ArrayBuffer(16);
  const dv = new DataView(buf);
  dv.setUint32(0, t, true);
  dv.setUint32(4, S, true);
  dv.setFloat32(8, eps, true);
  dv.setUint32(12, NH, true);
  return buf;
}

/** Inputs of one step: q, k (B, NH, DQK); v (B, NH, DHV); i, f (B, NH); states c, n, m. */
export interface StepInputsLike<T = TensorLike> {
  /** (B, NH, DQK) */
  q: T;
  /** (B, NH, DQK) */
  k: T;
  /** (B, NH, DHV) */
  v: T;
  /** (B, NH) or (B, NH, 1) */
  i: T;
  /** (B, NH) or (B, NH, 1) */
  f: T;
  /** Matrix memory (B, NH, DQK, DHV). */
  c: T;
  /** Normalizer (B, NH, DQK). */
  n: T;
  /** Stabilizer (B, NH) or (B, NH, 1). */
  m: T;
}

/** What a step resolves to: h (B, NH, DHV) and the new states. */
export interface StepResult<T = TensorLike> {
  /** Output (B, NH, DHV). */
  h: T;
  /** New matrix memory (B, NH, DQK, DHV). */
  c: T;
  /** New normalizer (B, NH, DQK). */
  n: T;
  /** New stabilizer (B, NH). */
  m: T;
}

function stepShapes(x: StepInputsLike): { B: number; NH: number; DQK: number; DHV: number } {
  return validateStepShapes(x, true);
}

/**
 * One fused recurrent step on WebGPU (SPEC §1; sigmoid gate §2): from q, k, v, i, f of one time step
 * and the states before it, h_t and the new states, in one dispatch that reads and writes C once.
 * CPU tensors in give CPU tensors out (f32 data); GpuTensors in give GpuTensors out. Storage of q,
 * k, v, h follows `options.dtype` (f32 default); states are f32.
 *
 * @example One step on the GPU
 * ```ts no-eval
 * import { mlstmStepWebGpu } from "./recurrent.ts";
 * const z = (...s: number[]) => ({ shape: s, data: new Float32Array(s.reduce((a, b) => a * b, 1)) });
 * const out = await mlstmStepWebGpu({
 *   q: z(1, 2, 16), k: z(1, 2, 16), v: z(1, 2, 32), i: z(1, 2), f: z(1, 2),
 *   c: z(1, 2, 16, 32), n: z(1, 2, 16), m: z(1, 2),
 * });
 * console.assert(out.h.shape.join() === "1,2,32");
 * ```
 *
 * @param inputs q, k, v, i, f of the step and the states c, n, m before it.
 * @param options `eps` (1e-6), `dtype` ("f32"), `normalize` (sigmoid gate),
 * `checkFinite` (also checks the outputs; device outputs are read back for it).
 * @param gate The input gate. @default {"exp"}
 * @returns h (B, NH, DHV) and the new states.
 * @throws {TypeError | RangeError} On bad shapes or options; {@linkcode GpuError} on device limits.
 */
export async function mlstmStepWebGpu(
  inputs: StepInputsLike,
  options: MlstmOptions = {},
  gate: InputGate = "exp",
): Promise<StepResult> {
  const { B, NH, DQK, DHV } = stepShapes(inputs);
  const seq: MlstmInputs = {
    q: reshape(inputs.q, [B, NH, 1, DQK]),
    k: reshape(inputs.k, [B, NH, 1, DQK]),
    v: reshape(inputs.v, [B, NH, 1, DHV]),
    i: reshape(inputs.i, [B, NH, 1]),
    f: reshape(inputs.f, [B, NH, 1]),
    cInitial: inputs.c,
    nInitial: inputs.n,
    mInitial: inputs.m,
  };
  validateMlstmInputs(seq, options);
  const out = await runRecurrent(seq, { ...options, returnLastStates: true }, gate, "step");
  return {
    h: reshape(out.h, [B, NH, DHV]),
    c: out.last!.c,
    n: out.last!.n,
    m: out.last!.m,
  };
}

/**
 * The whole sequence on WebGPU as a loop of fused steps (`recurrent--sequence`): all S steps in one
 * command buffer and one submit, C updated in place in a device buffer, n and m ping-ponged. Initial
 * states in (zeros if not given), last states out with `returnLastStates`.
 *
 * @example
 * ```ts no-eval
 * import { mlstmRecurrentWebGpu } from "./recurrent.ts";
 * import { Random, randomMlstmInputs } from "../mod.ts";
 * const x = randomMlstmInputs({ B: 1, NH: 2, S: 7, DQK: 16, DHV: 32 }, new Random(1));
 * const { h, last } = await mlstmRecurrentWebGpu(x, { returnLastStates: true });
 * console.assert(h.shape.join() === "1,2,7,32" && last!.c.shape.join() === "1,2,16,32");
 * ```
 *
 * @param inputs q, k, v, i, f and optional initial states.
 * @param options `returnLastStates`, `eps` (1e-6), `dtype` ("f32"), `normalize` (sigmoid gate),
 * `documentStarts` (states zeroed before each start),
 * `checkFinite` (also checks the outputs; device outputs are read back for it).
 * @param gate The input gate. @default {"exp"}
 * @returns h, and the last states when asked for.
 * @throws {TypeError | RangeError} On bad shapes or options; {@linkcode GpuError} on device limits.
 */
export async function mlstmRecurrentWebGpu(
  inputs: MlstmInputs,
  options: MlstmOptions = {},
  gate: InputGate = "exp",
): Promise<MlstmForwardResult> {
  validateMlstmInputs(inputs, options);
  return await runRecurrent(inputs, options, gate, "inplace");
}

/**
 * The whole sequence on WebGPU in ONE dispatch (`recurrent--sequence_resident`): the loop over time
 * runs inside the kernel and every workgroup keeps its tile of C (and n, m) in registers for the
 * whole sequence, so C is read once and written once per call instead of once per step. Same
 * results as {@linkcode mlstmRecurrentWebGpu} (same arithmetic, same order); much less memory
 * traffic for long sequences, at the price of a serial loop of S steps per workgroup. Each thread
 * holds at most 32 state floats, so large DQK uses narrower column tiles (more workgroups).
 *
 * @example
 * ```ts no-eval
 * import { mlstmRecurrentResidentWebGpu } from "./recurrent.ts";
 * import { Random, randomMlstmInputs } from "../mod.ts";
 * const x = randomMlstmInputs({ B: 1, NH: 2, S: 7, DQK: 16, DHV: 32 }, new Random(1));
 * const { h } = await mlstmRecurrentResidentWebGpu(x);
 * console.assert(h.shape.join() === "1,2,7,32");
 * ```
 *
 * @param inputs q, k, v, i, f and optional initial states.
 * @param options `returnLastStates`, `eps` (1e-6), `dtype` ("f32"), `normalize` (sigmoid gate),
 * `documentStarts` (states zeroed before each start),
 * `checkFinite` (also checks the outputs; device outputs are read back for it).
 * @param gate The input gate. @default {"exp"}
 * @returns h, and the last states when asked for.
 * @throws {TypeError | RangeError} On bad shapes or options; {@linkcode GpuError} on device limits.
 */
export async function mlstmRecurrentResidentWebGpu(
  inputs: MlstmInputs,
  options: MlstmOptions = {},
  gate: InputGate = "exp",
): Promise<MlstmForwardResult> {
  validateMlstmInputs(inputs, options);
  return await runRecurrent(inputs, options, gate, "resident");
}

/** How the sequence runs: one step kernel per step, updating C out of place or in place, or the
 * resident kernel with the time loop inside. */
type RecurrentMode = "step" | "inplace" | "resident";

async function runRecurrent(
  inputs: MlstmInputs,
  options: MlstmOptions,
  gate: InputGate,
  mode: RecurrentMode,
): Promise<MlstmForwardResult> {
  const inPlace = mode === "inplace";
  const dims = validateMlstmInputs(inputs, options, {
    inputGate: gate,
    backend: "webgpu",
  });
  const { B, NH, S, DQK, DHV } = dims;
  const x: DeviceInputs = await toDevice(inputs, options, {
    ...(inputs.cInitial ? { c: inputs.cInitial } : {}),
    ...(inputs.nInitial ? { n: inputs.nInitial } : {}),
    ...(inputs.mInitial ? { m: inputs.mInitial } : {}),
  });
  const gpu = x.gpu;
  const eps = options.eps ?? 1e-6;
  const resets = hasDocumentStarts(options.documentStarts);
  const p: StepKernelParams = {
    ...stepKernelParams(
      DQK,
      DHV,
      x.dtype,
      x.gateDtype,
      gate,
      options.normalize ?? true,
      inPlace,
      mode === "resident",
    ),
    resets,
  };
  const pipeline = await stepPipeline(gpu, p);
  // Outputs and buffers every element of which is written are poisoned in tests; the buffers
  // that stand for zero initial states are not.
  const poison = { poison: poisonOutputsEnabled() };
  const h = GpuTensor.empty(gpu, [B, NH, S, DHV], x.dtype, poison);
  const c = GpuTensor.empty(gpu, [B, NH, DQK, DHV], "f32", !inPlace || x.c ? poison : {});
  const nA = GpuTensor.empty(gpu, [B, NH, DQK], "f32", x.n ? poison : {});
  const nB = GpuTensor.empty(gpu, [B, NH, DQK], "f32", poison);
  const mA = GpuTensor.empty(gpu, [B, NH], "f32", x.m ? poison : {});
  const mB = GpuTensor.empty(gpu, [B, NH], "f32", poison);
  const batch = new DispatchBatch(gpu);
  // Initial states (zeros when not given, as allocated); copied so that the caller's stay intact.
  const zeros = !inPlace && !x.c ? GpuTensor.empty(gpu, [B, NH, DQK, DHV], "f32") : undefined;
  const cIn = x.c ?? zeros ?? c;
  if (inPlace && x.c) batch.copy(x.c, 0, c, 0, c.byteSize);
  if (x.n) batch.copy(x.n, 0, nA, 0, nA.byteSize);
  if (x.m) batch.copy(x.m, 0, mA, 0, mA.byteSize);
  const wg: [number, number] = [DHV / (p.VW * p.TCV), B * NH];
  const flops = B * NH * (4 * DQK * DHV + 4 * DQK + 2 * DHV);
  const bytes = B * NH * (8 * DQK * DHV + 16 * DQK);
  const io = B * NH * S * (2 * DQK + 2 * DHV) * (x.dtype === "f16" ? 2 : 4);
  const dispatches = mode === "resident" ? 1 : S;
  const rst = resets ? uploadDocumentStarts(gpu, options.documentStarts, B, S) : undefined;
  for (let t = 0; t < dispatches; t++) {
    const [nIn, nOut] = t % 2 === 0 ? [nA, nB] : [nB, nA];
    const [mIn, mOut] = t % 2 === 0 ? [mA, mB] : [mB, mA];
    const buffers = inPlace
      ? [x.q, x.k, x.v, x.i, x.f, c, nIn, mIn, h, nOut, mOut]
      : [x.q, x.k, x.v, x.i, x.f, cIn, nIn, mIn, h, c, nOut, mOut];
    if (rst) buffers.push(rst);
    batch.dispatch({
      label: mode === "resident"
        ? "recurrent--sequence_resident"
        : inPlace
        ? "recurrent--sequence"
        : "step--fused",
      pipeline,
      buffers,
      uniforms: uniforms(t, S, eps, NH),
      workgroups: wg,
      flops: mode === "resident" ? flops * S : flops,
      bytes: mode === "resident" ? bytes + io : bytes,
    });
  }
  try {
    await batch.submit();
  } finally {
    rst?.destroy();
  }
  const [nLast, nSpare] = dispatches % 2 === 1 ? [nB, nA] : [nA, nB];
  const [mLast, mSpare] = dispatches % 2 === 1 ? [mB, mA] : [mA, mB];
  if (options.returnLastStates) {
    const spare = zeros ? [nSpare, mSpare, zeros] : [nSpare, mSpare];
    const r = await finish(x, { h, c, n: nLast, m: mLast }, spare);
    return { h: r.h, last: { c: r.c, n: r.n, m: r.m } };
  }
  const r = await finish(x, { h }, zeros ? [c, nA, nB, mA, mB, zeros] : [c, nA, nB, mA, mB]);
  return { h: r.h };
}

function makeKernel(
  name: string,
  form: "recurrent" | "step",
  gate: InputGate,
  forward: (inputs: MlstmInputs, options?: MlstmOptions) => Promise<MlstmForwardResult>,
): MlstmKernel {
  return { name, backend: "webgpu", form, inputGate: gate, supportsStates: true, forward };
}

/** step--fused through the registry: S must be 1; q may be (B, NH, DQK) or (B, NH, 1, DQK). */
async function stepForward(
  inputs: MlstmInputs,
  options: MlstmOptions | undefined,
  gate: InputGate,
): Promise<MlstmForwardResult> {
  options ??= {};
  const rank3 = inputs.q.shape.length === 3;
  let seq = inputs;
  if (rank3) {
    const [B, NH, DQK] = inputs.q.shape as [number, number, number];
    // Checked here, before the reshape (whose own message would name no argument).
    validateStepShapes(inputs, false);
    const DHV = inputs.v.shape[2]!;
    seq = {
      ...inputs,
      q: reshape(inputs.q, [B, NH, 1, DQK]),
      k: reshape(inputs.k, [B, NH, 1, DQK]),
      v: reshape(inputs.v, [B, NH, 1, DHV]),
      i: reshape(inputs.i, [B, NH, 1]),
      f: reshape(inputs.f, [B, NH, 1]),
    };
  }
  const dims = validateMlstmInputs(seq, options);
  if (dims.S !== 1) {
    throw new RangeError(
      `step--fused computes one time step: q must be (B, NH, DQK) or (B, NH, 1, DQK), received S = ${dims.S}; use recurrent--sequence for sequences`,
    );
  }
  const out = await runRecurrent(seq, options, gate, "step");
  if (rank3) out.h = reshape(out.h, [dims.B, dims.NH, dims.DHV]);
  return out;
}

/**
 * The recurrent WebGPU kernels: `recurrent--sequence` (a loop of fused steps, one command buffer),
 * `recurrent--sequence_resident` (one dispatch, state in registers), `step--fused`, and their
 * sigmoid-gate twins with the suffix `_siging`.
 *
 * @example
 * ```ts
 * import { recurrentKernels } from "./recurrent.ts";
 * console.assert(recurrentKernels.some((k) => k.name === "step--fused" && k.backend === "webgpu"));
 * ```
 */
export const recurrentKernels: readonly MlstmKernel[] = (["exp", "sig"] as const).flatMap((
  gate,
) => {
  const sfx = gate === "sig" ? "_siging" : "";
  return [
    makeKernel(
      `recurrent--sequence${sfx}`,
      "recurrent",
      gate,
      (x, o) => mlstmRecurrentWebGpu(x, o, gate),
    ),
    makeKernel(
      `recurrent--sequence_resident${sfx}`,
      "recurrent",
      gate,
      (x, o) => mlstmRecurrentResidentWebGpu(x, o, gate),
    ),
    makeKernel(`step--fused${sfx}`, "step", gate, (x, o) => stepForward(x, o, gate)),
  ];
});
