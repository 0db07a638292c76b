/**
 * Matrix-vector products for decoding, `y[b, n] = Σ_k W[n, k] · x[b, k]` (optionally `y += …`), for a
 * weight W (N × K) stored in f16 or f32 and a small batch (1 to 16) of f32 activations, accumulated in
 * f32.
 *
 * Decoding one token reads every weight once and does two FLOP per weight, so this kernel is bound by
 * memory bandwidth: it is built to stream W at the copy-kernel rate. A group of T threads (32 to 128)
 * owns one row of W; each thread reads 16-byte vectors (`vec4<u32>` = 8 halves for f16, `vec4<f32>` for
 * f32) at a stride of T vectors, so a warp's loads of one row are contiguous, and keeps one f32
 * accumulator per batch row in named registers (the batch loop is unrolled by the generator). A
 * shared-memory tree then sums the T partial sums. The activations (a few KiB) stay in the caches.
 *
 * A weight larger than `maxStorageBufferBindingSize` is kept as row blocks (see
 * {@linkcode uploadMatvecWeight}); each block is one dispatch writing its rows of y. The output may be
 * a column range of a wider tensor (`yOffset`), and the input a column range of a wider one (`xOffset`),
 * so that fused projections ([q|k|v|o]) write into one buffer.
 *
 * @module
 */

import { formatShape, sizeOf, type Tensor } from "../../core/tensor.ts";
import { checkBindingSize, DispatchBatch, getPipeline, type Gpu, GpuTensor } from "../runtime.ts";
import type { StorageDtype } from "../runtime.ts";

/** A row block of a {@linkcode MatvecWeight}: rows `rowStart … rowStart + rows − 1` of W. */
export interface MatvecWeightBlock {
  /** The block's rows, shape (rows, K), in the weight's dtype. */
  readonly tensor: GpuTensor;
  /** The block's first row in W. */
  readonly rowStart: number;
  /** Rows in this block. */
  readonly rows: number;
}

/** A weight matrix W (N × K) on the GPU, as one or more row blocks of at most one binding each. */
export interface MatvecWeight {
  /** Rows N (output features). */
  readonly rows: number;
  /** Columns K (input features). */
  readonly cols: number;
  /** Storage type of every block. */
  readonly dtype: StorageDtype;
  /** Row blocks, in order, covering rows 0 … N − 1. */
  readonly blocks: readonly MatvecWeightBlock[];
}

/** Options of {@linkcode uploadMatvecWeight}. */
export interface UploadMatvecWeightOptions {
  /**
   * Largest block in bytes; below the device's `maxStorageBufferBindingSize` (tests set a small one
   * to exercise the split). @default {the device's maxStorageBufferBindingSize}
   */
  maxBlockBytes?: number;
}

/**
 * Uploads a weight W (N × K, float64 or float32 data) as a {@linkcode MatvecWeight} in `dtype`,
 * split into row blocks of at most `maxBlockBytes` each (one block when W fits one binding).
 *
 * @example
 * ```ts no-eval
 * import { getGpu } from "../runtime.ts";
 * import { uploadMatvecWeight } from "./matvec.ts";
 * const w = uploadMatvecWeight(await getGpu(), { shape: [3, 8], data: new Float32Array(24) }, "f16");
 * console.assert(w.rows === 3 && w.blocks.length === 1);
 * ```
 *
 * @param gpu The device.
 * @param w The weight, shape (N, K).
 * @param dtype Storage type. @default {"f32"}
 * @param options `maxBlockBytes`.
 * @returns The weight on the GPU.
 * @throws {RangeError} If `w` is not two-dimensional or a single row exceeds `maxBlockBytes`.
 */
export function uploadMatvecWeight(
  gpu: Gpu,
  w: Tensor,
  dtype: StorageDtype = "f32",
  options: UploadMatvecWeightOptions = {},
): MatvecWeight {
  if (w.shape.length !== 2 || w.data.length !== sizeOf(w.shape)) {
    throw new RangeError(
      `Argument w must be a matrix (N, K) with N·K data, received shape ${formatShape(w.shape)}`,
    );
  }
  const [N, K] = w.shape as [number, number];
  const limit = Math.min(
    options.maxBlockBytes ?? gpu.limits.maxStorageBufferBindingSize,
    gpu.limits.maxStorageBufferBindingSize,
  );
  const rowBytes = K * (dtype === "f16" ? 2 : 4);
  // Blocks hold whole rows and a multiple of 16 bytes, so 16-byte vector loads stay in range.
  let perBlock = Math.floor(limit / rowBytes);
  if (perBlock < 1) {
    throw new RangeError(
      `One row of w (${K} ${dtype} = ${rowBytes} bytes) exceeds the binding limit of ${limit} bytes`,
    );
  }
  perBlock = Math.min(perBlock, N);
  const blocks: MatvecWeightBlock[] = [];
  for (let r0 = 0; r0 < N; r0 += perBlock) {
    const rows = Math.min(perBlock, N - r0);
    const data = w.data.subarray(r0 * K, (r0 + rows) * K);
    blocks.push({
      tensor: GpuTensor.fromTensor(gpu, { shape: [rows, K], data }, dtype),
      rowStart: r0,
      rows,
    });
  }
  return { rows: N, cols: K, dtype, blocks };
}

/**
 * Wraps a device tensor W (N × K) as a one-block {@linkcode MatvecWeight} (no copy).
 *
 * @example
 * ```ts no-eval
 * import { getGpu, GpuTensor } from "../runtime.ts";
 * import { matvecWeightOf } from "./matvec.ts";
 * const w = matvecWeightOf(GpuTensor.empty(await getGpu(), [4, 8]));
 * console.assert(w.cols === 8);
 * ```
 *
 * @param w The weight tensor, shape (N, K).
 * @returns The weight.
 * @throws {RangeError} If `w` is not two-dimensional.
 */
export function matvecWeightOf(w: GpuTensor): MatvecWeight {
  if (w.shape.length !== 2) {
    throw new RangeError(`Argument w must have shape (N, K), received ${formatShape(w.shape)}`);
  }
  const [N, K] = w.shape as [number, number];
  return { rows: N, cols: K, dtype: w.dtype, blocks: [{ tensor: w, rowStart: 0, rows: N }] };
}

/**
 * Frees every block of a weight.
 *
 * @example
 * ```ts no-eval
 * import { getGpu } from "../runtime.ts";
 * import { destroyMatvecWeight, uploadMatvecWeight } from "./matvec.ts";
 * destroyMatvecWeight(uploadMatvecWeight(await getGpu(), { shape: [1, 4], data: new Float32Array(4) }));
 * ```
 *
 * @param w The weight.
 */
export function destroyMatvecWeight(w: MatvecWeight): void {
  for (const b of w.blocks) b.tensor.destroy();
}

/** Parameters of one matvec variant (everything that changes the WGSL). */
export interface MatvecParams {
  /** Rows of this block. */
  rows: number;
  /** Columns K of W. */
  K: number;
  /** Batch rows of x and y (1 to 16). */
  B: number;
  /** Storage of W. */
  dtype: StorageDtype;
  /** Row length of x (≥ xOffset + K). */
  xStride: number;
  /** First column of x read. */
  xOffset: number;
  /** Row length of y (≥ yOffset + N). */
  yStride: number;
  /** Column of y that row 0 of this block writes. */
  yOffset: number;
  /** `y += W·x` instead of `y = W·x`. */
  accumulate: boolean;
  /** Threads per row (a power of two, 32 to 128). */
  T: number;
  /** Rows per workgroup. */
  R: number;
  /** Elements of W per vector load: 8 (f16, `vec4<u32>`), 4 (f32, `vec4<f32>`) or 1 (scalar). */
  VW: 1 | 4 | 8;
  /** Workgroups along x of the dispatch (row groups beyond 65535 fold into y). */
  WX: number;
}

/** Largest batch the matvec kernels take. */
export const MATVEC_MAX_BATCH = 16;

/** Tile choice of {@linkcode matvecParams}: threads per row and rows per workgroup. */
export interface MatvecTiles {
  /** Threads per row (power of two, 32 to 256). @default {64} */
  threadsPerRow?: number;
  /** Rows per workgroup. @default {4} */
  rowsPerWorkgroup?: number;
}

let defaultTiles: Required<MatvecTiles> = { threadsPerRow: 64, rowsPerWorkgroup: 4 };

/**
 * Sets the tiles the matvec kernels use from now on (the benchmark sweeps them).
 *
 * @example
 * ```ts
 * import { setMatvecTiles } from "./matvec.ts";
 * setMatvecTiles({ threadsPerRow: 64, rowsPerWorkgroup: 4 });
 * ```
 *
 * @param tiles Threads per row and rows per workgroup.
 * @throws {RangeError} If threads per row is not a power of two in 1…256.
 */
export function setMatvecTiles(tiles: MatvecTiles): void {
  const t = { ...defaultTiles, ...tiles };
  if (!Number.isInteger(Math.log2(t.threadsPerRow)) || t.threadsPerRow > 256) {
    throw new RangeError(
      `threadsPerRow must be a power of two in 1…256, received ${t.threadsPerRow}`,
    );
  }
  if (!Number.isInteger(t.rowsPerWorkgroup) || t.rowsPerWorkgroup < 1) {
    throw new RangeError(
      `rowsPerWorkgroup must be a positive integer, received ${t.rowsPerWorkgroup}`,
    );
  }
  defaultTiles = t;
}

/**
 * The kernel parameters for one block: vector width from the dtype and alignment, tiles from
 * {@linkcode setMatvecTiles} (rows per workgroup reduced to fit the device's workgroup memory).
 *
 * @example
 * ```ts
 * import { matvecParams } from "./matvec.ts";
 * const p = matvecParams({ rows: 10944, K: 4096, B: 1, dtype: "f16" }, 32768, 65535);
 * console.assert(p.VW === 8 && p.T === 64);
 * ```
 *
 * @param s Rows, K, batch, dtype and the optional strides, offsets and accumulate flag.
 * @param workgroupBytes The device's `maxComputeWorkgroupStorageSize`.
 * @param maxWorkgroups The device's `maxComputeWorkgroupsPerDimension`.
 * @returns The parameters.
 */
export function matvecParams(
  s: {
    rows: number;
    K: number;
    B: number;
    dtype: StorageDtype;
    xStride?: number;
    xOffset?: number;
    yStride?: number;
    yOffset?: number;
    accumulate?: boolean;
  },
  workgroupBytes: number,
  maxWorkgroups: number,
): MatvecParams {
  const xStride = s.xStride ?? s.K, xOffset = s.xOffset ?? 0;
  const yStride = s.yStride ?? s.rows, yOffset = s.yOffset ?? 0;
  const VW: 1 | 4 | 8 = s.dtype === "f16" ? (s.K % 8 === 0 ? 8 : 1) : (s.K % 4 === 0 ? 4 : 1);
  const T = defaultTiles.threadsPerRow;
  let R = defaultTiles.rowsPerWorkgroup;
  while (R > 1 && R * T * s.B * 4 > workgroupBytes) R--;
  while (R > 1 && R * T > 256) R--;
  const groups = Math.ceil(s.rows / R);
  const WX = Math.min(groups, maxWorkgroups);
  return {
    rows: s.rows,
    K: s.K,
    B: s.B,
    dtype: s.dtype,
    xStride,
    xOffset,
    yStride,
    yOffset,
    accumulate: s.accumulate ?? false,
    T,
    R,
    VW,
    WX,
  };
}

/**
 * The WGSL of one matvec variant. Loops over K stay WGSL loops (one 16-byte load per batch-wide
 * step); everything per batch row and the reduction tree are unrolled here.
 *
 * @example
 * ```ts
 * import { matvecParams, matvecWgsl } from "./matvec.ts";
 * const code = matvecWgsl(matvecParams({ rows: 8, K: 16, B: 2, dtype: "f32" }, 16384, 65535));
 * console.assert(code.includes("@compute"));
 * ```
 *
 * @param p The parameters.
 * @returns WGSL source.
 */
export function matvecWgsl(p: MatvecParams): string {
  const { B, T, R, VW, K } = p;
  const KV = K / VW; // vectors per row (VW divides K)
  const bs = [...Array(B).keys()];
  const wDecl = VW === 8
    ? "array<vec4<u32>>"
    : VW === 4
    ? "array<vec4<f32>>"
    : p.dtype === "f16"
    ? "array<f16>"
    : "array<f32>";
  // x is read as vec4 where each row start and the offset are 4-aligned, else element by element.
  const xVec = VW >= 4 && p.xStride % 4 === 0 && p.xOffset % 4 === 0;
  const xDecl = xVec ? "array<vec4<f32>>" : "array<f32>";
  const xv = (b: number, at: string): string => {
    const base = `${b * p.xStride + p.xOffset}u + ${at}`;
    if (xVec) return `x[(${base}) / 4u]`;
    return `vec4<f32>(x[${base}], x[${base} + 1u], x[${base} + 2u], x[${base} + 3u])`;
  };
  let body: string;
  if (VW === 8) {
    body = `let wv = w[row * ${KV}u + c];
      let w0 = vec4<f32>(unpack2x16float(wv.x), unpack2x16float(wv.y));
      let w1 = vec4<f32>(unpack2x16float(wv.z), unpack2x16float(wv.w));
      let e = c * 8u;
${
      bs.map((b) => `      acc${b} += dot(w0, ${xv(b, "e")}) + dot(w1, ${xv(b, "e + 4u")});`).join(
        "\n",
      )
    }`;
  } else if (VW === 4) {
    body = `let w0 = w[row * ${KV}u + c];
      let e = c * 4u;
${bs.map((b) => `      acc${b} += dot(w0, ${xv(b, "e")});`).join("\n")}`;
  } else {
    const xs = (b: number) => `x[${b * p.xStride + p.xOffset}u + c]`;
    body = `let w0 = f32(w[row * ${K}u + c]);
${bs.map((b) => `      acc${b} += w0 * ${xs(b)};`).join("\n")}`;
  }
  const tree: string[] = [];
  for (let s = T / 2; s >= 1; s /= 2) {
    tree.push(`  if (t < ${s}u) {
${bs.map((b) => `    red[base + ${b * T}u + t] += red[base + ${b * T}u + t + ${s}u];`).join("\n")}
  }
  workgroupBarrier();`);
  }
  return `${p.dtype === "f16" && VW === 1 ? "enable f16;\n" : ""}
// matvec: y[b, yOffset + n] ${
    p.accumulate ? "+" : ""
  }= sum_k W[n, k] x[b, xOffset + k]; ${p.rows} rows, K ${K}, B ${B}
@group(0) @binding(0) var<storage, read> w: ${wDecl};
@group(0) @binding(1) var<storage, read> x: ${xDecl};
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
var<workgroup> red: array<f32, ${R * T * B}>;

@compute @workgroup_size(${T}, ${R})
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let t = lid.x;
  let row = (wid.x + wid.y * ${p.WX}u) * ${R}u + lid.y;
  let live = row < ${p.rows}u;
${bs.map((b) => `  var acc${b}: f32 = 0.0;`).join("\n")}
  let end = select(0u, ${VW === 1 ? K : KV}u, live);
  for (var c = t; c < end; c += ${T}u) {
      ${body}
  }
  let base = lid.y * ${B * T}u;
${bs.map((b) => `  red[base + ${b * T}u + t] = acc${b};`).join("\n")}
  workgroupBarrier();
${tree.join("\n")}
  if (live && t < ${B}u) {
    let o = t * ${p.yStride}u + ${p.yOffset}u + row;
    let s = red[base + t * ${T}u];
    y[o] = ${p.accumulate ? "y[o] + s" : "s"};
  }
}
`;
}

/** Arguments of {@linkcode encodeMatvec}. */
export interface MatvecArgs {
  /** The weight W (N × K). */
  weight: MatvecWeight;
  /** Activations, f32, shape (B, xStride) with xStride ≥ xOffset + K (usually (B, K)). */
  x: GpuTensor;
  /** Output, f32, shape (B, yStride) with yStride ≥ yOffset + N (usually (B, N)). */
  y: GpuTensor;
  /** First column of x read. @default {0} */
  xOffset?: number;
  /** First column of y written. @default {0} */
  yOffset?: number;
  /** `y += W·x` (e.g. a residual connection) instead of `y = W·x`. @default {false} */
  accumulate?: boolean;
}

function checkArgs(a: MatvecArgs): { B: number; xStride: number; yStride: number } {
  const { weight: w, x, y } = a;
  if (!(x instanceof GpuTensor) || x.dtype !== "f32" || x.shape.length !== 2) {
    throw new TypeError(
      `Argument x must be an f32 GpuTensor of shape (B, K), received ${
        x instanceof GpuTensor ? `${x.dtype} ${formatShape(x.shape)}` : typeof x
      }`,
    );
  }
  if (!(y instanceof GpuTensor) || y.dtype !== "f32" || y.shape.length !== 2) {
    throw new TypeError(
      `Argument y must be an f32 GpuTensor of shape (B, N), received ${
        y instanceof GpuTensor ? `${y.dtype} ${formatShape(y.shape)}` : typeof y
      }`,
    );
  }
  const [B, xStride] = x.shape as [number, number];
  const [By, yStride] = y.shape as [number, number];
  const xOffset = a.xOffset ?? 0, yOffset = a.yOffset ?? 0;
  if (!Number.isInteger(B) || B < 1 || B > MATVEC_MAX_BATCH) {
    throw new RangeError(
      `Batch B of x must be 1…${MATVEC_MAX_BATCH}, received shape ${formatShape(x.shape)}`,
    );
  }
  if (By !== B) {
    throw new RangeError(
      `y must have B = ${B} rows like x, received shape ${formatShape(y.shape)}`,
    );
  }
  if (!Number.isInteger(xOffset) || xOffset < 0 || xOffset + w.cols > xStride) {
    throw new RangeError(
      `x of shape ${
        formatShape(x.shape)
      } with xOffset ${xOffset} does not hold K = ${w.cols} columns`,
    );
  }
  if (!Number.isInteger(yOffset) || yOffset < 0 || yOffset + w.rows > yStride) {
    throw new RangeError(
      `y of shape ${
        formatShape(y.shape)
      } with yOffset ${yOffset} does not hold N = ${w.rows} columns`,
    );
  }
  if (y.buffer === x.buffer) throw new RangeError("y must not share its buffer with x");
  return { B, xStride, yStride };
}

/**
 * Records `y = W·x` (or `y += W·x`) into a dispatch batch: one dispatch per row block of W. Nothing
 * runs until the batch is submitted, so many products (a whole decoding step) share one submit.
 *
 * @example
 * ```ts no-eval
 * import { DispatchBatch, getGpu, GpuTensor } from "../runtime.ts";
 * import { encodeMatvec, uploadMatvecWeight } from "./matvec.ts";
 * const gpu = await getGpu();
 * const weight = uploadMatvecWeight(gpu, { shape: [2, 4], data: new Float32Array([1, 0, 0, 0, 0, 1, 0, 0]) });
 * const x = GpuTensor.fromTensor(gpu, { shape: [1, 4], data: new Float32Array([3, 4, 5, 6]) });
 * const y = GpuTensor.empty(gpu, [1, 2]);
 * const batch = new DispatchBatch(gpu);
 * await encodeMatvec(batch, { weight, x, y });
 * await batch.submit();
 * console.assert((await y.read()).data[1] === 4);
 * ```
 *
 * @param batch The batch to record into.
 * @param args Weight, x, y, offsets, accumulate.
 * @returns The batch.
 * @throws {TypeError | RangeError} For a wrong dtype, shape, batch size or offset, before anything runs.
 */
export async function encodeMatvec(batch: DispatchBatch, args: MatvecArgs): Promise<DispatchBatch> {
  const { B, xStride, yStride } = checkArgs(args);
  const gpu = batch.gpu;
  for (const blk of args.weight.blocks) {
    const p = matvecParams(
      {
        rows: blk.rows,
        K: args.weight.cols,
        B,
        dtype: args.weight.dtype,
        xStride,
        xOffset: args.xOffset ?? 0,
        yStride,
        yOffset: (args.yOffset ?? 0) + blk.rowStart,
        accumulate: args.accumulate ?? false,
      },
      gpu.limits.maxComputeWorkgroupStorageSize,
      gpu.limits.maxComputeWorkgroupsPerDimension,
    );
    checkBindingSize(gpu, blk.tensor.byteSize, "matvec weight block");
    const key = `matvec:${JSON.stringify(p)}`;
    const pipeline = await getPipeline(gpu, key, () => matvecWgsl(p));
    const groups = Math.ceil(p.rows / p.R);
    const bytesW = blk.rows * p.K * (p.dtype === "f16" ? 2 : 4);
    batch.dispatch({
      label: `matvec ${blk.rows}x${p.K} ${p.dtype} B${B}`,
      pipeline,
      buffers: [blk.tensor, args.x, args.y],
      workgroups: [p.WX, Math.ceil(groups / p.WX)],
      flops: 2 * B * blk.rows * p.K,
      bytes: bytesW + 4 * B * (p.K + blk.rows * (p.accumulate ? 2 : 1)),
      meta: { rows: blk.rows, K: p.K, B, dtype: p.dtype, T: p.T, R: p.R, VW: p.VW },
    });
  }
  return batch;
}

/**
 * `W·x` as a fresh device tensor (B, N): one batch, one submit (no wait). For a decoding step,
 * record with {@linkcode encodeMatvec} into a shared batch instead.
 *
 * @example
 * ```ts no-eval
 * import { getGpu, GpuTensor } from "../runtime.ts";
 * import { matvec, uploadMatvecWeight } from "./matvec.ts";
 * const gpu = await getGpu();
 * const w = uploadMatvecWeight(gpu, { shape: [1, 4], data: new Float32Array([1, 1, 1, 1]) }, "f16");
 * const y = await matvec(w, GpuTensor.fromTensor(gpu, { shape: [1, 4], data: new Float32Array([1, 2, 3, 4]) }));
 * console.assert((await y.read()).data[0] === 10);
 * ```
 *
 * @param weight The weight W (N × K).
 * @param x Activations (B, K), f32.
 * @param options `poison`: fill the output with NaN first (tests).
 * @returns y (B, N), f32.
 */
export async function matvec(
  weight: MatvecWeight,
  x: GpuTensor,
  options: { poison?: boolean } = {},
): Promise<GpuTensor> {
  const B = x.shape[0] ?? 0;
  const y = GpuTensor.empty(x.gpu, [B, weight.rows], "f32", { poison: options.poison ?? false });
  const batch = new DispatchBatch(x.gpu);
  try {
    await encodeMatvec(batch, { weight, x, y });
    await batch.submit();
  } catch (e) {
    y.destroy();
    throw e;
  }
  return y;
}
