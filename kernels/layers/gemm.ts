/**
 * The prefill GEMM of the model layers: `Y (M × N) = X (M × K) · Wᵀ`, with W (N × K) row-major as
 * PyTorch's `Linear` stores it (both operands contiguous in K), f32 or f16 weights, f32 activations
 * and f32 accumulation. One WGSL template, fully unrolled by this generator: 16 × 16 threads, each
 * owning TM × TN outputs as TM·TN/4 `vec4` accumulators; a BM × BK tile of X and a BN × BK tile of W
 * are staged in workgroup memory transposed (K outermost, `vec4` over rows), so that the unrolled
 * inner product reads one `vec4` of X rows and one `vec4` of W rows per step and issues TM·TN FMAs.
 * The next K tile is prefetched into registers while the current one is multiplied.
 *
 * Epilogues fused where they cost nothing: a bias, the soft-cap `cap·tanh(y/cap)`, and
 * `accumulate` (`Y += X·Wᵀ`, the residual add done in place). Weights larger than one storage
 * binding are split into row blocks ({@linkcode LinearWeight}); each block writes its own columns.
 *
 * @module
 */

import { formatShape } from "../../core/tensor.ts";
import {
  type BufferLike,
  checkWorkgroupLimits,
  type DispatchBatch,
  getPipeline,
  type Gpu,
  GpuError,
  GpuTensor,
} from "../runtime.ts";
import type { Tensor } from "../../core/tensor.ts";

/** Storage type of weights. */
export type WeightDtype = "f32" | "f16";

/**
 * A linear layer's weight on the GPU: W (N × K) split into row blocks that each fit one storage
 * binding (one block unless the device's `maxStorageBufferBindingSize` is smaller than the
 * weight), and an optional bias (N) split the same way.
 *
 * @example
 * ```ts no-eval
 * import { getGpu } from "../runtime.ts";
 * import { linearWeightFromTensor, type LinearWeight } from "./gemm.ts";
 * const w: LinearWeight = linearWeightFromTensor(await getGpu(), { shape: [4, 8], data: new Float64Array(32) });
 * console.assert(w.blocks.reduce((s, b) => s + b.shape[0]!, 0) === w.N);
 * ```
 */
export interface LinearWeight {
  /** Output features (rows of W). */
  readonly N: number;
  /** Input features (columns of W). */
  readonly K: number;
  /** Storage type of W. */
  readonly dtype: WeightDtype;
  /** Row blocks of W, in order, each (Nb, K). */
  readonly blocks: readonly GpuTensor[];
  /** Bias blocks (Nb) matching `blocks`, f32, or undefined. */
  readonly bias?: readonly GpuTensor[];
}

/**
 * Tile parameters of the GEMM kernel.
 *
 * @example
 * ```ts
 * import { DEFAULT_GEMM_TILES, type GemmTiles } from "./gemm.ts";
 * const t: GemmTiles = { ...DEFAULT_GEMM_TILES, TM: 4 };
 * console.assert(t.TN === 8);
 * ```
 */
export interface GemmTiles {
  /** Rows of Y per thread (4 or 8). */
  readonly TM: number;
  /** Columns of Y per thread (4 or 8). */
  readonly TN: number;
  /** K per staged tile (8, 16 or 32). */
  readonly BK: number;
}

/**
 * The tiles used unless the caller overrides them: 8 × 8 outputs per thread (128 × 128 per
 * workgroup), K tiles of 16 (16 KiB of workgroup memory).
 *
 * @example
 * ```ts
 * import { DEFAULT_GEMM_TILES } from "./gemm.ts";
 * console.assert(DEFAULT_GEMM_TILES.TM * DEFAULT_GEMM_TILES.TN === 64);
 * ```
 */
export const DEFAULT_GEMM_TILES: GemmTiles = { TM: 8, TN: 8, BK: 16 };

/** Fused epilogue of the GEMM. */
export type GemmEpilogue = "none" | "softcap" | "accumulate";

/**
 * Parameters that define one GEMM pipeline (the generator's input).
 *
 * @example
 * ```ts
 * import { gemmWgsl } from "./gemm.ts";
 * const wgsl = gemmWgsl({ K: 32, N: 20, ldY: 20, wDtype: "f32", bias: false, epilogue: "none", cap: 0, TM: 4, TN: 4, BK: 16 });
 * console.assert(wgsl.includes("@workgroup_size(16, 16)"));
 * ```
 */
export interface GemmParams extends GemmTiles {
  /** Inner dimension. */
  readonly K: number;
  /** Rows of this weight block (columns of Y it writes). */
  readonly N: number;
  /** Row stride of Y (all columns of the full weight). */
  readonly ldY: number;
  /** Storage type of W. */
  readonly wDtype: WeightDtype;
  /** Whether a bias (N, f32) is bound. */
  readonly bias: boolean;
  /** Fused epilogue. */
  readonly epilogue: GemmEpilogue;
  /** Soft-cap value (epilogue "softcap"). */
  readonly cap: number;
}

const THREADS = 16;

function checkTiles(t: GemmTiles): void {
  if (![4, 8].includes(t.TM) || ![4, 8].includes(t.TN) || ![8, 16, 32].includes(t.BK)) {
    throw new RangeError(
      `GEMM tiles must have TM and TN in {4, 8} and BK in {8, 16, 32}, received ${
        JSON.stringify(t)
      }`,
    );
  }
  const BM = THREADS * t.TM, BN = THREADS * t.TN;
  if ((BM * t.BK) % 1024 !== 0 || (BN * t.BK) % 1024 !== 0) {
    throw new RangeError(
      `GEMM tiles ${JSON.stringify(t)}: each staged tile must hold a multiple of 256 vec4 loads`,
    );
  }
}

const f = (x: number) => {
  const s = String(x);
  return /[.e]/.test(s) ? s : `${s}.0`;
};

/**
 * Generates the WGSL of one GEMM pipeline (see the module doc for the layout). Bindings: X, W,
 * [bias], Y, uniforms `{ M, n0 }` (rows of X, first column of Y this block writes).
 *
 * @example
 * ```ts
 * import { gemmWgsl } from "./gemm.ts";
 * const w = gemmWgsl({ K: 7, N: 5, ldY: 5, wDtype: "f16", bias: true, epilogue: "softcap", cap: 30, TM: 4, TN: 4, BK: 16 });
 * console.assert(w.startsWith("enable f16;") && w.includes("tanh"));
 * ```
 *
 * @param p Shapes, dtype, epilogue and tiles.
 * @returns The WGSL source (entry point `main`).
 */
export function gemmWgsl(p: GemmParams): string {
  checkTiles(p);
  const { K, N, ldY, TM, TN, BK } = p;
  const BM = THREADS * TM, BN = THREADS * TN;
  const kVec = K % 4 === 0;
  const yVec = ldY % 4 === 0 && N % 4 === 0;
  const wt = p.wDtype === "f16" ? "f16" : "f32";
  const RM = TM / 4, CN = TN / 4; // vec4 groups of rows / columns per thread
  const loadsA = (BM * BK) / 4 / 256, loadsB = (BN * BK) / 4 / 256;
  const KQ = BK / 4; // vec4s per tile row
  const L: string[] = [];
  if (p.wDtype === "f16") L.push("enable f16;");
  L.push(
    `// gemm Y = X·Wᵀ: K=${K} N=${N} ldY=${ldY} W ${wt} ${p.epilogue} TM=${TM} TN=${TN} BK=${BK}`,
  );
  L.push(`struct U { M: u32, n0: u32, p0: u32, p1: u32 }`);
  let b = 0;
  L.push(
    `@group(0) @binding(${b++}) var<storage, read> X: array<${kVec ? "vec4<f32>" : "f32"}>;`,
  );
  L.push(
    `@group(0) @binding(${b++}) var<storage, read> W: array<${kVec ? `vec4<${wt}>` : wt}>;`,
  );
  if (p.bias) L.push(`@group(0) @binding(${b++}) var<storage, read> bias: array<f32>;`);
  L.push(
    `@group(0) @binding(${b++}) var<storage, read_write> Y: array<${yVec ? "vec4<f32>" : "f32"}>;`,
  );
  L.push(`@group(0) @binding(${b++}) var<uniform> u: U;`);
  L.push(`var<workgroup> As: array<vec4<f32>, ${(BK * BM) / 4}>;`);
  L.push(`var<workgroup> Bs: array<vec4<f32>, ${(BK * BN) / 4}>;`);
  L.push(`@compute @workgroup_size(${THREADS}, ${THREADS})`);
  L.push(
    `fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {`,
  );
  L.push(`  let tx = lid.x;`);
  L.push(`  let ty = lid.y;`);
  L.push(`  let t = ty * ${THREADS}u + tx;`);
  L.push(`  let M = u.M;`);
  L.push(`  let row0 = wid.y * ${BM}u;`);
  L.push(`  let col0 = wid.x * ${BN}u;`);
  for (let r = 0; r < TM; r++) {
    for (let c = 0; c < CN; c++) L.push(`  var acc${r}_${c} = vec4<f32>(0.0);`);
  }
  // Prefetch registers: one vec4 (along K) per load slot.
  for (let j = 0; j < loadsA; j++) L.push(`  var pa${j} = vec4<f32>(0.0);`);
  for (let j = 0; j < loadsB; j++) L.push(`  var pb${j} = vec4<f32>(0.0);`);
  // Global loads of the tile starting at k0 into the prefetch registers. Out-of-range rows and
  // K columns read as zero (their products vanish; their outputs are never stored).
  const load = (reg: string, j: number, src: "X" | "W", rows: string, kq: string) => {
    const conv = (e: string) => (src === "W" && wt === "f16" ? `vec4<f32>(${e})` : e);
    const lines: string[] = [];
    if (kVec) {
      lines.push(
        `    if (${rows} && k0 + ${kq} * 4u < ${K}u) { ${reg}${j} = ${
          conv(`${src}[gr * ${K / 4}u + k0 / 4u + ${kq}]`)
        }; } else { ${reg}${j} = vec4<f32>(0.0); }`,
      );
    } else {
      const comps = [0, 1, 2, 3].map((c) => {
        const e = `${src}[gr * ${K}u + min(kb + ${c}u, ${K - 1}u)]`;
        return `select(0.0, f32(${e}), ok && kb + ${c}u < ${K}u)`;
      });
      lines.push(
        `    { let kb = k0 + ${kq} * 4u; let ok = ${rows}; ${reg}${j} = vec4<f32>(${
          comps.join(", ")
        }); }`,
      );
    }
    return lines;
  };
  const loadTile = () => {
    const out: string[] = [];
    for (let j = 0; j < loadsA; j++) {
      out.push(`    { let idx = t + ${256 * j}u; let r = idx / ${KQ}u; let kq = idx % ${KQ}u;`);
      out.push(`      let gr = min(row0 + r, M - 1u);`);
      out.push(...load("pa", j, "X", "row0 + r < M", "kq"));
      out.push(`    }`);
    }
    for (let j = 0; j < loadsB; j++) {
      out.push(`    { let idx = t + ${256 * j}u; let r = idx / ${KQ}u; let kq = idx % ${KQ}u;`);
      out.push(`      let gr = min(col0 + r, ${N - 1}u);`);
      out.push(...load("pb", j, "W", `col0 + r < ${N}u`, "kq"));
      out.push(`    }`);
    }
    return out;
  };
  // Registers to workgroup memory, transposed: As[k·BM/4 + r/4][r%4] = X[row0 + r, k0 + k].
  const storeTile = () => {
    const out: string[] = [];
    const st = (arr: string, reg: string, j: number, B: number) => {
      out.push(`    { let idx = t + ${256 * j}u; let r = idx / ${KQ}u; let kq = idx % ${KQ}u;`);
      out.push(`      let base = kq * ${B}u + r / 4u; let lane = r % 4u;`);
      ["x", "y", "z", "w"].forEach((c, ci) => {
        out.push(`      ${arr}[base + ${(ci * B) / 4}u][lane] = ${reg}${j}.${c};`);
      });
      out.push(`    }`);
    };
    for (let j = 0; j < loadsA; j++) st("As", "pa", j, BM);
    for (let j = 0; j < loadsB; j++) st("Bs", "pb", j, BN);
    return out;
  };
  L.push(`  var k0 = 0u;`);
  L.push(...loadTile());
  L.push(`  loop {`);
  L.push(`    workgroupBarrier();`);
  L.push(...storeTile());
  L.push(`    workgroupBarrier();`);
  L.push(`    k0 += ${BK}u;`);
  L.push(`    if (k0 < ${K}u) {`);
  L.push(...loadTile());
  L.push(`    }`);
  for (let k = 0; k < BK; k++) {
    const parts: string[] = [];
    for (let i = 0; i < RM; i++) parts.push(`let a${i} = As[${(k * BM) / 4 + i * 16}u + ty];`);
    for (let c = 0; c < CN; c++) parts.push(`let b${c} = Bs[${(k * BN) / 4 + c * 16}u + tx];`);
    for (let i = 0; i < RM; i++) {
      ["x", "y", "z", "w"].forEach((comp, ci) => {
        for (let c = 0; c < CN; c++) parts.push(`acc${i * 4 + ci}_${c} += a${i}.${comp} * b${c};`);
      });
    }
    L.push(`    { ${parts.join(" ")} }`);
  }
  L.push(`    if (k0 >= ${K}u) { break; }`);
  L.push(`  }`);
  // Epilogue: thread rows row0 + i·64 + ty·4 + lane, columns col0 + c·64 + tx·4 + 0..3.
  for (let i = 0; i < RM; i++) {
    for (let lane = 0; lane < 4; lane++) {
      const r = i * 4 + lane;
      L.push(`  { let gr = row0 + ${i * 64 + lane}u + ty * 4u;`);
      L.push(`    if (gr < M) {`);
      for (let c = 0; c < CN; c++) {
        L.push(`      { let gc = col0 + ${c * 64}u + tx * 4u;`);
        L.push(`        var v = acc${r}_${c};`);
        if (p.bias) {
          const bs = [0, 1, 2, 3].map((q) => `bias[min(gc + ${q}u, ${N - 1}u)]`);
          L.push(`        v += vec4<f32>(${bs.join(", ")});`);
        }
        if (p.epilogue === "softcap") {
          L.push(
            `        v = ${f(p.cap)} * tanh(clamp(v * ${
              f(1 / p.cap)
            }, vec4<f32>(-20.0), vec4<f32>(20.0)));`,
          );
        }
        const acc = p.epilogue === "accumulate";
        if (yVec) {
          L.push(`        let yi = (gr * ${ldY}u + u.n0 + gc) / 4u;`);
          L.push(`        if (gc < ${N}u) { Y[yi] = ${acc ? "Y[yi] + v" : "v"}; }`);
        } else {
          L.push(`        let yb = gr * ${ldY}u + u.n0 + gc;`);
          ["x", "y", "z", "w"].forEach((comp, q) => {
            L.push(
              `        if (gc + ${q}u < ${N}u) { Y[yb + ${q}u] = ${
                acc ? `Y[yb + ${q}u] + v.${comp}` : `v.${comp}`
              }; }`,
            );
          });
        }
        L.push(`      }`);
      }
      L.push(`    }`);
      L.push(`  }`);
    }
  }
  L.push(`}`);
  return L.join("\n");
}

/** Options of {@linkcode encodeGemm}. */
export interface GemmOptions {
  /** Fused epilogue. @default {"none"} */
  epilogue?: GemmEpilogue;
  /** Soft-cap value for epilogue "softcap". */
  cap?: number;
  /** Tile override (tuning). @default {DEFAULT_GEMM_TILES, or 4 × 4 when M ≤ 64} */
  tiles?: GemmTiles;
}

let largeTiles: GemmTiles = DEFAULT_GEMM_TILES;

/**
 * Sets the tiles {@linkcode gemmTilesFor} picks for inputs of more than 256 rows (a benchmark that
 * measured the best variant on a device sets it for the model's run); null restores
 * {@linkcode DEFAULT_GEMM_TILES}.
 *
 * @example
 * ```ts
 * import { gemmTilesFor, setGemmTiles } from "./gemm.ts";
 * setGemmTiles({ TM: 8, TN: 4, BK: 16 });
 * console.assert(gemmTilesFor(4096).TN === 4);
 * setGemmTiles(null);
 * ```
 *
 * @param tiles The tiles, or null.
 * @throws {RangeError} If the tiles are not a supported variant.
 */
export function setGemmTiles(tiles: GemmTiles | null): void {
  if (tiles) checkTiles(tiles);
  largeTiles = tiles ?? DEFAULT_GEMM_TILES;
}

/**
 * Picks tiles for M rows: 4 × 4 per thread (64 × 64 per workgroup) for short inputs, where the
 * larger tile would leave most of the GPU idle, else {@linkcode DEFAULT_GEMM_TILES} (or what
 * {@linkcode setGemmTiles} set).
 *
 * @example
 * ```ts
 * import { gemmTilesFor } from "./gemm.ts";
 * console.assert(gemmTilesFor(16).TM === 4 && gemmTilesFor(4096).TM === 8);
 * ```
 *
 * @param M Rows of X.
 * @returns The tiles.
 */
export function gemmTilesFor(M: number): GemmTiles {
  return M <= 256 ? { TM: 4, TN: 4, BK: 16 } : largeTiles;
}

/**
 * Encodes `Y = X·Wᵀ (+ bias)` with the chosen epilogue into `batch`: one dispatch per row block of
 * W. X is (M, K) f32 (any leading shape with last dimension K), Y is (M, N) f32 (with epilogue
 * `accumulate` its old contents are added to).
 *
 * @example
 * ```ts no-eval
 * import { DispatchBatch, getGpu, GpuTensor } from "../runtime.ts";
 * import { encodeGemm, linearWeightFromTensor } from "./mod.ts";
 * const gpu = await getGpu();
 * const w = linearWeightFromTensor(gpu, { shape: [3, 2], data: new Float64Array([1, 0, 0, 1, 1, 1]) });
 * const x = GpuTensor.fromTensor(gpu, { shape: [1, 2], data: new Float64Array([2, 5]) });
 * const y = GpuTensor.empty(gpu, [1, 3]);
 * const batch = new DispatchBatch(gpu);
 * await encodeGemm(batch, x, w, y);
 * await batch.submit();
 * console.assert((await y.read()).data[2] === 7);
 * ```
 *
 * @param batch The batch to record into.
 * @param x X (…, K), f32.
 * @param w The weight (and bias).
 * @param y Y (…, N), f32, same leading size as X.
 * @param options Epilogue, cap, tiles.
 * @throws {TypeError} If shapes or dtypes disagree (naming them), before anything is recorded.
 */
export async function encodeGemm(
  batch: DispatchBatch,
  x: GpuTensor,
  w: LinearWeight,
  y: GpuTensor,
  options: GemmOptions = {},
): Promise<void> {
  const K = w.K, N = w.N;
  const xk = x.shape[x.shape.length - 1];
  if (xk !== K || x.dtype !== "f32") {
    throw new TypeError(
      `GEMM input x must be f32 with last dimension K = ${K}, received ${
        formatShape(x.shape)
      } ${x.dtype}`,
    );
  }
  const M = x.size / K;
  if (y.dtype !== "f32" || y.size !== M * N || y.shape[y.shape.length - 1] !== N) {
    throw new TypeError(
      `GEMM output y must be f32 of shape (…, ${N}) with ${M} rows, received ${
        formatShape(y.shape)
      } ${y.dtype}`,
    );
  }
  const epilogue = options.epilogue ?? "none";
  const cap = options.cap ?? 0;
  if (epilogue === "softcap" && !(cap > 0)) {
    throw new RangeError(`GEMM epilogue "softcap" needs a cap > 0, received ${cap}`);
  }
  if (M === 0) return;
  const tiles = options.tiles ?? gemmTilesFor(M);
  checkTiles(tiles);
  const gpu = batch.gpu;
  const BM = THREADS * tiles.TM, BN = THREADS * tiles.TN;
  checkWorkgroupLimits(
    gpu,
    { storageBytes: (BM + BN) * tiles.BK * 4, invocations: THREADS * THREADS },
    "gemm",
  );
  let n0 = 0;
  for (let j = 0; j < w.blocks.length; j++) {
    const wb = w.blocks[j]!;
    const Nb = wb.shape[0]!;
    const hasBias = w.bias !== undefined;
    const p: GemmParams = {
      K,
      N: Nb,
      ldY: N,
      wDtype: w.dtype,
      bias: hasBias,
      epilogue,
      cap,
      ...tiles,
    };
    const key = `gemm:${JSON.stringify(p)}`;
    const pipeline = await getPipeline(gpu, key, () => gemmWgsl(p));
    const buffers: BufferLike[] = [x, wb];
    if (hasBias) buffers.push(w.bias![j]!);
    buffers.push(y);
    batch.dispatch({
      label: `gemm K=${K} N=${Nb} ${w.dtype}${epilogue === "none" ? "" : ` ${epilogue}`}`,
      pipeline,
      buffers,
      uniforms: new Uint32Array([M, n0, 0, 0]),
      workgroups: [Math.ceil(Nb / BN), Math.ceil(M / BM)],
      flops: 2 * M * Nb * K,
      bytes: 4 * M * K + Nb * K * (w.dtype === "f16" ? 2 : 4) + 4 * M * Nb,
      meta: { M, N: Nb, K },
    });
    n0 += Nb;
  }
  if (n0 !== N) throw new GpuError(`Weight blocks hold ${n0} rows, expected N = ${N}`);
}

/**
 * Rows per block when a weight of N rows of K elements in `dtype` must fit one storage binding:
 * a multiple of 128 (the widest tile), at most N.
 *
 * @example
 * ```ts
 * import { weightBlockRows } from "./gemm.ts";
 * console.assert(weightBlockRows(50304, 4096, "f32", 128 * 2 ** 20) === 8192);
 * ```
 *
 * @param N Rows.
 * @param K Columns.
 * @param dtype Storage type.
 * @param maxBinding The device's maxStorageBufferBindingSize.
 * @returns Rows per block.
 */
export function weightBlockRows(
  N: number,
  K: number,
  dtype: WeightDtype,
  maxBinding: number,
): number {
  const rowBytes = K * (dtype === "f16" ? 2 : 4);
  if (N * rowBytes <= maxBinding) return N;
  const rows = Math.floor(maxBinding / rowBytes / 128) * 128;
  if (rows < 128) {
    throw new GpuError(
      `A weight row of ${K} ${dtype} elements is too large to split into blocks of 128 rows within maxStorageBufferBindingSize ${maxBinding}`,
    );
  }
  return rows;
}

/**
 * Uploads a CPU weight (N, K) (and optional bias (N)) as a {@linkcode LinearWeight}, split into row
 * blocks that fit the device's storage binding limit.
 *
 * @example
 * ```ts no-eval
 * import { getGpu } from "../runtime.ts";
 * import { linearWeightFromTensor } from "./gemm.ts";
 * const w = linearWeightFromTensor(await getGpu(), { shape: [4, 8], data: new Float64Array(32) }, "f32");
 * console.assert(w.blocks.length === 1);
 * ```
 *
 * @param gpu The device.
 * @param weight W (N, K).
 * @param dtype Storage type. @default {"f32"}
 * @param bias Optional bias (N).
 * @returns The weight on the GPU (free it with {@linkcode destroyLinearWeight}).
 * @throws {TypeError} If the shapes are not (N, K) and (N).
 */
export function linearWeightFromTensor(
  gpu: Gpu,
  weight: Tensor,
  dtype: WeightDtype = "f32",
  bias?: Tensor,
): LinearWeight {
  if (weight.shape.length !== 2) {
    throw new TypeError(`Linear weight must be (N, K), received ${formatShape(weight.shape)}`);
  }
  const [N, K] = weight.shape as [number, number];
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== N)) {
    throw new TypeError(`Linear bias must be (${N}), received ${formatShape(bias.shape)}`);
  }
  const rows = weightBlockRows(N, K, dtype, gpu.limits.maxStorageBufferBindingSize);
  const blocks: GpuTensor[] = [];
  const biases: GpuTensor[] = [];
  try {
    for (let n0 = 0; n0 < N; n0 += rows) {
      const nb = Math.min(rows, N - n0);
      blocks.push(GpuTensor.fromTensor(gpu, {
        shape: [nb, K],
        data: weight.data.subarray(n0 * K, (n0 + nb) * K),
      }, dtype));
      if (bias) {
        biases.push(GpuTensor.fromTensor(gpu, {
          shape: [nb],
          data: bias.data.subarray(n0, n0 + nb),
        }));
      }
    }
  } catch (e) {
    for (const t of [...blocks, ...biases]) t.destroy();
    throw e;
  }
  return { N, K, dtype, blocks, ...(bias ? { bias: biases } : {}) };
}

/**
 * Frees a weight's buffers (blocks and bias).
 *
 * @example
 * ```ts no-eval
 * import { getGpu } from "../runtime.ts";
 * import { destroyLinearWeight, linearWeightFromTensor } from "./gemm.ts";
 * const w = linearWeightFromTensor(await getGpu(), { shape: [2, 2], data: new Float64Array(4) });
 * destroyLinearWeight(w);
 * ```
 *
 * @param w The weight.
 */
export function destroyLinearWeight(w: LinearWeight): void {
  for (const t of w.blocks) t.destroy();
  for (const t of w.bias ?? []) t.destroy();
}
