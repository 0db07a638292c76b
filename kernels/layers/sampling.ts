/**
 * Token choice on the GPU, so that a decoding loop never waits for the CPU: from logits (B, V) each
 * sequence's next token is chosen by greedy argmax or by sampling (temperature, top-k, top-p) with a
 * uniform number from a counter-based generator (Philox4x32-10 of (step, row) under the seed), and
 * written into the ids buffer the next step's embedding gather reads, and into a token history that
 * the host reads back in blocks. The rule and its CPU twin are in `reference/sampling.ts`.
 *
 * One workgroup of 256 threads per sequence. Greedy is one pass over the row (ties → lowest id).
 * Sampling finds the top-k and top-p thresholds by bisection over the order-preserving u32 image of
 * z = logit / temperature (32 passes each, only when the option is set; every pass is a strided,
 * coalesced read of a row that stays in L2), then draws by a prefix sum in id order.
 *
 * Per-sequence state lives on the GPU in a {@linkcode SamplerState}: the step counter (the
 * generator's counter; also the history row written) and a done flag set when the token equals EOS.
 * A done sequence keeps receiving EOS, so the host needs no per-step check.
 *
 * @module
 */

import { formatShape } from "../../core/tensor.ts";
import { type DispatchBatch, getPipeline, type Gpu, GpuTensor } from "../runtime.ts";

/** How the next token is chosen: `"greedy"` (argmax) or sampling parameters with a seed. */
export type Sampling =
  | "greedy"
  | {
    /** Divides the logits before the softmax; > 0. */
    temperature: number;
    /** Keep only the k most likely tokens (ties included). @default {all} */
    topK?: number;
    /** Keep the smallest set of most likely tokens whose probability reaches topP, in (0, 1]. @default {1} */
    topP?: number;
    /** Seed of the generator (a non-negative safe integer): the same seed reproduces a run. */
    seed: number;
  };

/**
 * Checks sampling options and names the bad field.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateSampling } from "./sampling.ts";
 * validateSampling("greedy");
 * assert.throws(() => validateSampling({ temperature: 0, seed: 1 }), /temperature/);
 * ```
 *
 * @param s The options.
 * @throws {RangeError | TypeError} For a value out of range or of the wrong type.
 */
export function validateSampling(s: Sampling): void {
  if (s === "greedy") return;
  if (typeof s !== "object" || s === null) {
    throw new TypeError(
      `sampling must be "greedy" or { temperature, topK?, topP?, seed }, received ${
        JSON.stringify(s)
      }`,
    );
  }
  if (
    typeof s.temperature !== "number" || !(s.temperature > 0) || !Number.isFinite(s.temperature)
  ) {
    throw new RangeError(
      `sampling.temperature must be a finite number > 0, received ${s.temperature}`,
    );
  }
  if (s.topK !== undefined && (!Number.isInteger(s.topK) || s.topK < 1)) {
    throw new RangeError(`sampling.topK must be an integer ≥ 1, received ${s.topK}`);
  }
  if (s.topP !== undefined && (typeof s.topP !== "number" || !(s.topP > 0 && s.topP <= 1))) {
    throw new RangeError(`sampling.topP must be in (0, 1], received ${s.topP}`);
  }
  if (!Number.isSafeInteger(s.seed) || s.seed < 0) {
    throw new RangeError(`sampling.seed must be a non-negative safe integer, received ${s.seed}`);
  }
}

/**
 * The GPU-side state of token choice for B sequences: parameters, per-sequence step counters and
 * done flags, the ids buffer (B) the next step's embedding gather reads, and the token history
 * (capacity × B, row `step` holds the tokens chosen at that step).
 */
export interface SamplerState {
  /** The device. */
  readonly gpu: Gpu;
  /** Sequences. */
  readonly B: number;
  /** Vocabulary size. */
  readonly V: number;
  /** Rows of the history. */
  readonly capacity: number;
  /** The rule. */
  readonly sampling: Sampling;
  /**
   * u32 parameters: seed (lo, hi), EOS count, temperature (f32 bits), topK, topP (f32 bits), two
   * unused, then up to {@linkcode MAX_EOS} EOS ids.
   */
  readonly params: GPUBuffer;
  /** u32 (2B): step counter per sequence, then the done flag per sequence. */
  readonly counters: GPUBuffer;
  /** u32 (B): the chosen tokens, where the embedding gather reads them. */
  readonly ids: GPUBuffer;
  /** u32 (capacity × B): the chosen tokens per step. */
  readonly history: GPUBuffer;
  /** Frees the buffers (not `ids` when it was passed in). */
  destroy(): void;
}

/** Most EOS ids a sampler checks. */
export const MAX_EOS = 8;

/** Options of {@linkcode createSamplerState}. */
export interface SamplerStateOptions {
  /**
   * EOS token ids (at most {@linkcode MAX_EOS}); a sequence that produces one is done and receives
   * the first of them from then on. @default {none}
   */
  eos?: number | readonly number[];
  /** Use this u32 buffer (≥ 4B bytes, STORAGE) as the ids buffer instead of a new one. */
  ids?: GPUBuffer;
}

const U32_USAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/**
 * Allocates the token-choice state for B sequences of vocabulary V: steps start at 0, no sequence
 * is done.
 *
 * @example
 * ```ts no-eval
 * import { getGpu } from "../runtime.ts";
 * import { createSamplerState } from "./sampling.ts";
 * const s = createSamplerState(await getGpu(), 2, 100, 16, "greedy", { eos: 2 });
 * s.destroy();
 * ```
 *
 * @param gpu The device.
 * @param B Sequences.
 * @param V Vocabulary size.
 * @param capacity Steps the history holds.
 * @param sampling The rule.
 * @param options EOS and an existing ids buffer.
 * @returns The state.
 * @throws {RangeError} For bad sizes or sampling options.
 */
export function createSamplerState(
  gpu: Gpu,
  B: number,
  V: number,
  capacity: number,
  sampling: Sampling,
  options: SamplerStateOptions = {},
): SamplerState {
  validateSampling(sampling);
  for (const [name, v] of [["B", B], ["V", V], ["capacity", capacity]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new RangeError(`${name} must be a positive integer, received ${v}`);
    }
  }
  const eos = options.eos === undefined ? [] : typeof options.eos === "number" ? [options.eos] : [
    ...options.eos,
  ];
  if (eos.length > MAX_EOS || eos.some((e) => !Number.isInteger(e) || e < 0 || e >= V)) {
    throw new RangeError(
      `eos must be at most ${MAX_EOS} token ids below V = ${V}, received ${
        JSON.stringify(options.eos)
      }`,
    );
  }
  const d = gpu.device;
  const p = new Uint32Array(8 + MAX_EOS);
  const f = new Float32Array(p.buffer);
  if (sampling !== "greedy") {
    p[0] = sampling.seed % 2 ** 32;
    p[1] = Math.floor(sampling.seed / 2 ** 32);
    f[3] = sampling.temperature;
    p[4] = Math.min(sampling.topK ?? V, V);
    f[5] = sampling.topP ?? 1;
  }
  p[2] = eos.length;
  eos.forEach((e, j) => (p[8 + j] = e));
  const mk = (label: string, bytes: number, data?: Uint32Array<ArrayBuffer>) => {
    const b = d.createBuffer({ label, size: Math.max(16, bytes), usage: U32_USAGE() });
    if (data) d.queue.writeBuffer(b, 0, data);
    return b;
  };
  const params = mk("sampler params", p.byteLength, p);
  const counters = mk("sampler counters", 8 * B, new Uint32Array(Math.max(4, 2 * B)));
  const ids = options.ids ?? mk("sampler ids", 4 * B);
  const history = mk("sampler history", 4 * B * capacity);
  const own = [params, counters, history, ...(options.ids ? [] : [ids])];
  return {
    gpu,
    B,
    V,
    capacity,
    sampling,
    params,
    counters,
    ids,
    history,
    destroy: () => own.forEach((b) => b.destroy()),
  };
}

/**
 * The WGSL of the token-choice kernel for vocabulary V and B sequences: `greedy` or `sample`.
 *
 * @example
 * ```ts
 * import { samplingWgsl } from "./sampling.ts";
 * console.assert(samplingWgsl(100, 2, 100, "greedy").includes("@compute"));
 * ```
 *
 * @param V Vocabulary size.
 * @param B Sequences.
 * @param stride Row length of the logits buffer (≥ V).
 * @param mode `"greedy"` or `"sample"`.
 * @returns WGSL source.
 */
export function samplingWgsl(
  V: number,
  B: number,
  stride: number,
  mode: "greedy" | "sample",
): string {
  const WG = 256;
  // Passes over a row: 8 loads per thread issued before they are used, so that they are in flight
  // together (one workgroup per row: each pass is latency-bound, not bandwidth-bound).
  const U = 8;
  const us = [...Array(U).keys()];
  const strided = (
    load: (i: string) => string,
    body: (i: string, v: string) => string,
    ind = "  ",
  ) =>
    `${ind}for (var i0 = t; i0 < ${V}u; i0 += ${U * WG}u) {
${
      us.map((u) =>
        `${ind}  let i${u} = i0 + ${u * WG}u;\n${ind}  let v${u} = ${
          load(`min(i${u}, ${V - 1}u)`)
        };`
      ).join("\n")
    }
${us.map((u) => `${ind}  if (i${u} < ${V}u) { ${body(`i${u}`, `v${u}`)} }`).join("\n")}
${ind}}`;
  const tree = (arr: string, op: (a: string, b: string) => string) => {
    const out: string[] = [];
    for (let s = WG / 2; s >= 1; s /= 2) {
      out.push(
        `  if (t < ${s}u) { ${arr}[t] = ${
          op(`${arr}[t]`, `${arr}[t + ${s}u]`)
        }; }\n  workgroupBarrier();`,
      );
    }
    return out.join("\n");
  };
  const common = `
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> params: array<u32, ${8 + MAX_EOS}>;
@group(0) @binding(2) var<storage, read_write> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> counters: array<u32>;
@group(0) @binding(4) var<storage, read_write> history: array<u32>;
var<workgroup> rf: array<f32, ${WG}>;
var<workgroup> ru: array<u32, ${WG}>;

fn finish_row(row: u32, chosen: u32) {
  let step = counters[row];
  let done = counters[${B}u + row] != 0u;
  let nEos = params[2];
  let tok = select(chosen, params[8], done);
  ids[row] = tok;
  if (step < arrayLength(&history) / ${B}u) { history[step * ${B}u + row] = tok; }
  counters[row] = step + 1u;
  var hit = false;
${
    [...Array(8).keys()].map((j) => `  hit = hit || (nEos > ${j}u && tok == params[${8 + j}]);`)
      .join("\n")
  }
  if (hit) { counters[${B}u + row] = 1u; }
}
`;
  if (mode === "greedy") {
    return `// greedy argmax over V = ${V} (ties -> lowest id, NaN never chosen), B = ${B}
${common}
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let t = lid.x;
  let row = wid.x;
  let base = row * ${stride}u;
  var best = -3.4028234663852886e38; // the lowest f32, written exactly (Tint rejects -3.4028235e38 as out of range)
  var bi = 0xffffffffu;
${
      strided(
        (i) => `logits[base + ${i}]`,
        (i, v) =>
          `if (${v} > best || (bi == 0xffffffffu && ${v} == best)) { best = ${v}; bi = ${i}; }`,
      )
    }
  rf[t] = best;
  ru[t] = bi;
  workgroupBarrier();
${
      (() => {
        const out: string[] = [];
        for (let s = WG / 2; s >= 1; s /= 2) {
          out.push(`  if (t < ${s}u) {
    let v = rf[t + ${s}u]; let j = ru[t + ${s}u];
    if (v > rf[t] || (v == rf[t] && j < ru[t])) { rf[t] = v; ru[t] = j; }
  }
  workgroupBarrier();`);
        }
        return out.join("\n");
      })()
    }
  if (t == 0u) { finish_row(row, select(ru[0], 0u, ru[0] == 0xffffffffu)); }
}
`;
  }
  return `// sampling over V = ${V} (temperature, top-k, top-p; Philox4x32-10 uniforms), B = ${B}
${common}
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
  let a0 = a & 0xffffu; let a1 = a >> 16u;
  let b0 = b & 0xffffu; let b1 = b >> 16u;
  let p00 = a0 * b0; let p01 = a0 * b1; let p10 = a1 * b0; let p11 = a1 * b1;
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  let hi = p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
  return vec2<u32>(hi, a * b);
}
fn philox(ctr_in: vec4<u32>, key_in: vec2<u32>) -> vec4<u32> {
  var c = ctr_in;
  var k = key_in;
${
    [...Array(10).keys()].map((r) =>
      `${
        r > 0 ? "  k = k + vec2<u32>(0x9e3779b9u, 0xbb67ae85u);\n" : ""
      }  { let p0 = mulhilo(0xd2511f53u, c.x); let p1 = mulhilo(0xcd9e8d57u, c.z);
    c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y); }`
    ).join("\n")
  }
  return c;
}
// Order-preserving map of f32 to u32 (NaN maps to 0, below everything).
fn key_of(z: f32) -> u32 {
  let b = bitcast<u32>(z);
  let k = select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
  return select(k, 0u, z != z);
}
fn zval(base: u32, i: u32, temp: f32) -> f32 { return logits[base + i] / temp; }

@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let t = lid.x;
  let row = wid.x;
  let base = row * ${stride}u;
  let temp = bitcast<f32>(params[3]);
  let topK = params[4];
  let topP = bitcast<f32>(params[5]);
  // max z
  var mx = -3.4028234663852886e38; // the lowest f32, written exactly (Tint rejects -3.4028235e38 as out of range)
${strided((i) => `zval(base, ${i}, temp)`, (_i, z) => `if (${z} == ${z}) { mx = max(mx, ${z}); }`)}
  rf[t] = mx;
  workgroupBarrier();
${tree("rf", (a, b) => `max(${a}, ${b})`)}
  let zmax = rf[0];
  workgroupBarrier();
  // top-k threshold: the largest key θ with count(key >= θ) >= k, built bit by bit.
  var thK = 0u;
  if (topK < ${V}u) {
    for (var bit = 31i; bit >= 0i; bit--) {
      let cand = thK | (1u << u32(bit));
      var cnt = 0u;
${
    strided(
      (i) => `key_of(zval(base, ${i}, temp))`,
      (_i, k) => `cnt += select(0u, 1u, ${k} >= cand);`,
      "      ",
    )
  }
      ru[t] = cnt;
      workgroupBarrier();
${tree("ru", (a, b) => `${a} + ${b}`).replaceAll("\n", "\n    ")}
      if (ru[0] >= topK) { thK = cand; }
      workgroupBarrier();
    }
  }
  // top-p threshold: with Z the kept mass, the smallest key θ with mass(key > θ) < topP · Z.
  var th = thK;
  if (topP < 1.0) {
    var zs = 0.0;
${
    strided(
      (i) => `zval(base, ${i}, temp)`,
      (_i, z) => `zs += select(0.0, exp(${z} - zmax), key_of(${z}) >= thK);`,
      "    ",
    )
  }
    rf[t] = zs;
    workgroupBarrier();
${tree("rf", (a, b) => `${a} + ${b}`).replaceAll("\n", "\n  ")}
    let goal = topP * rf[0];
    workgroupBarrier();
    // largest θ' with mass(key > θ') >= goal; then θ = θ' + 1.
    var lo = 0u;
    var any = false;
    for (var bit = 32i; bit >= 0i; bit--) {
      // bit 32 is the probe of θ' = 0 itself.
      let cand = select(lo | (1u << u32(min(bit, 31i))), 0u, bit == 32i);
      var ms = 0.0;
${
    strided(
      (i) => `zval(base, ${i}, temp)`,
      (_i, z) =>
        `{ let k = key_of(${z}); ms += select(0.0, exp(${z} - zmax), k > cand && k >= thK); }`,
      "      ",
    )
  }
      rf[t] = ms;
      workgroupBarrier();
${tree("rf", (a, b) => `${a} + ${b}`).replaceAll("\n", "\n    ")}
      if (rf[0] >= goal) { lo = cand; any = true; }
      workgroupBarrier();
    }
    if (any) { th = max(thK, lo + 1u); }
  }
  // draw: inverse CDF in id order over the kept tokens; thread t owns a contiguous chunk of ids.
  let C = ${Math.ceil(V / WG)}u;
  let i0 = t * C;
  let i1 = min(i0 + C, ${V}u);
  var part = 0.0;
  // In id order (the scan below repeats this order, so its running sum ends exactly at part).
  for (var i = i0; i < i1; i += ${U}u) {
${us.map((u) => `    let z${u} = zval(base, min(i + ${u}u, ${V - 1}u), temp);`).join("\n")}
${
    us.map((u) =>
      `    if (i + ${u}u < i1) { part += select(0.0, exp(z${u} - zmax), key_of(z${u}) >= th); }`
    ).join("\n")
  }
  }
  rf[t] = part;
  workgroupBarrier();
  if (t == 0u) {
    var run = 0.0;
    var lastT = 0u;
    for (var j = 0u; j < ${WG}u; j++) {
      let p = rf[j];
      rf[j] = run;
      run += p;
      if (p > 0.0) { lastT = j; }
    }
    let seed = vec2<u32>(params[0], params[1]);
    let u = f32(philox(vec4<u32>(counters[row], row, 0u, 0u), seed).x >> 8u) * (1.0 / 16777216.0);
    ru[0] = bitcast<u32>(u * run);
    ru[1] = 0xffffffffu;
    ru[2] = lastT;
  }
  workgroupBarrier();
  let goalU = bitcast<f32>(ru[0]);
  let before = rf[t];
  let isLast = t == ru[2];
  workgroupBarrier();
  if (part > 0.0 && before <= goalU && (before + part > goalU || isLast)) {
    var acc = 0.0;
    var lastKept = i0;
    for (var i = i0; i < i1; i++) {
      let z = zval(base, i, temp);
      if (key_of(z) >= th) {
        acc += exp(z - zmax);
        lastKept = i;
        if (before + acc > goalU) { break; }
      }
    }
    ru[1] = lastKept;
  }
  workgroupBarrier();
  if (t == 0u) { finish_row(row, select(ru[1], 0u, ru[1] == 0xffffffffu)); }
}
`;
}

/**
 * Records the token choice for every sequence into a dispatch batch: reads logits (B, ≥V), writes
 * the chosen ids into `state.ids` and the history row `step`, advances each sequence's step and
 * marks it done at EOS.
 *
 * @example
 * ```ts no-eval
 * import { DispatchBatch, getGpu, GpuTensor } from "../runtime.ts";
 * import { createSamplerState, encodeSampling } from "./sampling.ts";
 * const gpu = await getGpu();
 * const logits = GpuTensor.fromTensor(gpu, { shape: [1, 3], data: new Float32Array([0, 5, 1]) });
 * const state = createSamplerState(gpu, 1, 3, 4, "greedy");
 * const batch = new DispatchBatch(gpu);
 * await encodeSampling(batch, logits, state);
 * await batch.submit();
 * ```
 *
 * @param batch The batch.
 * @param logits f32 logits (B, V′) with V′ ≥ V (only the first V columns are read).
 * @param state The token-choice state of B sequences.
 * @returns The batch.
 * @throws {TypeError | RangeError} For a wrong dtype or shape.
 */
export async function encodeSampling(
  batch: DispatchBatch,
  logits: GpuTensor,
  state: SamplerState,
): Promise<DispatchBatch> {
  if (!(logits instanceof GpuTensor) || logits.dtype !== "f32" || logits.shape.length !== 2) {
    throw new TypeError(
      `Argument logits must be an f32 GpuTensor of shape (B, V), received ${
        logits instanceof GpuTensor ? `${logits.dtype} ${formatShape(logits.shape)}` : typeof logits
      }`,
    );
  }
  const [B, stride] = logits.shape as [number, number];
  if (B !== state.B || stride < state.V) {
    throw new RangeError(
      `Argument logits must have shape (${state.B}, ≥${state.V}) for this sampler, received ${
        formatShape(logits.shape)
      }`,
    );
  }
  const mode = state.sampling === "greedy" ? "greedy" : "sample";
  const pipeline = await getPipeline(
    batch.gpu,
    `sampling:${mode}:${state.V}:${B}:${stride}`,
    () => samplingWgsl(state.V, B, stride, mode),
  );
  batch.dispatch({
    label: `sampling ${mode} V${state.V} B${B}`,
    pipeline,
    buffers: [logits, state.params, state.ids, state.counters, state.history],
    workgroups: [B],
    bytes: 4 * B * state.V,
    meta: { V: state.V, B, mode },
  });
  return batch;
}

/**
 * Reads history rows `from … to − 1` (the tokens chosen at those steps) back to the CPU: one copy,
 * one `mapAsync`. Steps beyond the history's capacity read as nothing.
 *
 * @example
 * ```ts no-eval
 * import { getGpu } from "../runtime.ts";
 * import { createSamplerState, readHistory } from "./sampling.ts";
 * const s = createSamplerState(await getGpu(), 1, 8, 4, "greedy");
 * const rows = await readHistory(s, 0, 4); // [[0], [0], [0], [0]] before any step
 * ```
 *
 * @param state The sampler state.
 * @param from First step.
 * @param to One past the last step.
 * @returns Per step, the B tokens.
 */
export async function readHistory(
  state: SamplerState,
  from: number,
  to: number,
): Promise<number[][]> {
  to = Math.min(to, state.capacity);
  if (to <= from) return [];
  const d = state.gpu.device;
  const bytes = 4 * state.B * (to - from);
  const staging = d.createBuffer({
    label: "sampler history read-back",
    size: bytes,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  const enc = d.createCommandEncoder({ label: "sampler history read-back" });
  enc.copyBufferToBuffer(state.history, 4 * state.B * from, staging, 0, bytes);
  d.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const u = new Uint32Array(staging.getMappedRange().slice(0));
  staging.unmap();
  staging.destroy();
  const out: number[][] = [];
  for (let s = 0; s < to - from; s++) out.push([...u.subarray(s * state.B, (s + 1) * state.B)]);
  return out;
}
