/**
 * Matrix-vector products for decoding, `y[b, n] = Σ_k W[n, k] · x[b, k]` (optionally `y += …`), for a
 * weight W (N × K) stored in f16 or f32 and a small batch (1 to 16) of f32 activations, accumulated in
 * f32.
 *
 * Decoding one token reads every weight once and does two FLOP per weight, so this kernel is bound by
 * memory bandwidth: it is built to stream W at the copy-kernel rate. A group of T threads (32 to 128)
 * owns one row of W (two rows from a batch of 4 on, so that each activation load serves both); each
 * thread reads 16-byte vectors (`vec4<u32>` = 8 halves for f16, `vec4<f32>` for f32) at a stride of
 * T vectors, so a warp's loads of one row are contiguous, two such loads in flight per row, and
 * keeps one f32 accumulator per row and batch row in named registers (unrolled by the generator). A
 * shared-memory tree then sums the T partial sums. The activations (a few KiB) stay in the caches.
 *
 * The weight is the prefill GEMM's {@linkcode LinearWeight} (row blocks under
 * `maxStorageBufferBindingSize`, optional bias); each block is one dispatch writing its rows of y.
 * The epilogues are the GEMM's: none, `accumulate` (`y += W·x`, a residual connection) and
 * `softcap` (`cap·tanh(y/cap)`, the lm head). The output may be a column range of a wider tensor
 * (`yOffset`), and the input a column range of a wider one (`xOffset`).
 *
 * For the decoding step's dispatch count (each dispatch costs host CPU time): an RMSNorm prologue
 * (`norm`: each workgroup sums x² itself, the norm weight scales each x load, rsqrt scales the
 * partial sums) and split outputs ({@linkcode encodeMatvecSplit}: row ranges of W to separate
 * tensors, each optionally soft-capped). For large batches, tiles with more rows per thread group
 * (`rowsPerThread`: each x load serves all of them) reduce their partial sums transposed (each
 * thread adds the T partials of one output) rather than by the tree.
 *
 * @module
 */

import { formatShape } from "../../core/tensor.ts";
import { checkBindingSize, DispatchBatch, getPipeline, GpuError, GpuTensor } from "../runtime.ts";
import type { StorageDtype } from "../runtime.ts";
import type { GemmEpilogue, LinearWeight } from "./gemm.ts";
import { lit } from "./_common.ts";

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
  /** Add a bias (one f32 per row of the block). */
  bias: boolean;
  /**
   * SwiGLU input: x[b, k] = silu(X[b, xOffset + k]) · X[b, xOffset + K + k] of a tensor X with rows
   * of xStride ≥ xOffset + 2K (the feed-forward's [gate | up] projection).
   */
  glu: boolean;
  /** Fused epilogue: none, `y += …`, or `cap·tanh(…/cap)`. */
  epilogue: GemmEpilogue;
  /** Soft-cap value (epilogue "softcap"). */
  cap: number;
  /**
   * RMSNorm prologue: x[b, k] is replaced by `x·rsqrt(mean(x²) + eps)·g[k]` over its K columns
   * (g bound after the bias): each workgroup sums the squares itself, so the norm costs no
   * dispatch of its own. `normEps` is the eps.
   */
  norm: boolean;
  /** eps of the RMSNorm prologue. */
  normEps: number;
  /**
   * Split output: row ranges of W go to separate tensors (B, widths[j]) (bindings 2…), each with
   * an optional soft cap (caps[j] > 0): the decode projection writes q, k, v, o, i, f directly.
   * Empty: one output y.
   */
  splitWidths: readonly number[];
  /** Soft caps of the split outputs (0: none). */
  splitCaps: readonly number[];
  /** Threads per row (a power of two, 32 to 128). */
  T: number;
  /** Thread groups (of T threads) per workgroup. */
  R: number;
  /** Rows per thread group (2 for batches of 4 and more: each x load serves two rows). */
  RT: number;
  /**
   * Reduction of the T partial sums: false, a shared-memory tree (log2 T steps of every partial
   * sum); true, transposed (each thread adds the T partials of one output: one pass, for many
   * rows per thread and large batches, where the tree's steps outweigh the weight loads).
   */
  transpose: boolean;
  /** 16-byte weight loads in flight per thread and row (1, 2, 4 or 8; the K loop is unrolled by it). */
  U: number;
  /** Elements of W per vector load: 8 (f16, `vec4<u32>`), 4 (f32, `vec4<f32>`) or 1 (scalar). */
  VW: 1 | 4 | 8;
  /** Workgroups along x of the dispatch (row groups beyond 65535 fold into y). */
  WX: number;
}

/** Largest batch the matvec kernels take. */
export const MATVEC_MAX_BATCH = 16;

/**
 * Tile choice of {@linkcode matvecParams}: threads per row and rows per workgroup. The defaults
 * (unless {@linkcode setMatvecTiles} or a tile table says otherwise) are the fastest of the
 * benchmark's sweep on the H100 at the 7B shapes (bench/generate_bench.ts, f16): below a batch of
 * 4, 128 threads per row and 2 rows per workgroup (87-102 % of the copy bandwidth per shape, 92 %
 * over a decoding step); from 4 on, 32 threads per row, 4 thread groups, 4 rows per thread group
 * (54-72 % at a batch of 8, against 33-43 % with 128x2); with the RMSNorm prologue, 32 × 8.
 */
export interface MatvecTiles {
  /** Threads per row (power of two, 32 to 256). */
  threadsPerRow?: number;
  /**
   * Thread groups per workgroup: rows per workgroup below a batch of 4; from 4 on each thread group
   * takes two rows (each x load then serves both) unless `rowsPerThread` says otherwise.
   */
  rowsPerWorkgroup?: number;
  /**
   * Rows per thread group, each x load serving all of them (more rows per thread for large
   * batches: the x loads, B per weight vector, otherwise outweigh the weight loads), with the
   * transposed reduction. 0: the earlier rule (2 from a batch of 4 on, else 1) with the tree
   * reduction.
   */
  rowsPerThread?: number;
  /**
   * Weight loads each thread issues before it uses them (1, 2, 4 or 8): more hide more memory
   * latency where each thread has few loads in all (small K per thread). @default {2}
   */
  loadsInFlight?: number;
}

/** The built-in defaults: below a batch of 4, from 4 on, and with the RMSNorm prologue. */
const BUILTIN_TILES: Readonly<Record<"small" | "large" | "norm", Required<MatvecTiles>>> = {
  small: { threadsPerRow: 128, rowsPerWorkgroup: 2, rowsPerThread: 0, loadsInFlight: 2 },
  large: { threadsPerRow: 32, rowsPerWorkgroup: 4, rowsPerThread: 4, loadsInFlight: 2 },
  norm: { threadsPerRow: 32, rowsPerWorkgroup: 8, rowsPerThread: 0, loadsInFlight: 2 },
};
let defaultTiles = BUILTIN_TILES.small;
let defaultBatchTiles = BUILTIN_TILES.large;

/**
 * Default tiles of the matvecs with an RMSNorm prologue: every workgroup sums x² over all K
 * itself, so more rows per workgroup (fewer workgroups) repeat that less: for the feed-forward's
 * up projection (21888 × 4096, f16, B 1) 32x8 took 0.176 ms, 64x4 0.194 ms on the H100.
 */
let defaultNormTiles = BUILTIN_TILES.norm;

/** Tiles chosen per shape (rows × K at a batch, `:norm` with the prologue), ahead of the defaults. */
let tileTable = new Map<string, Required<MatvecTiles>>();

/**
 * Sets tiles for given shapes (the benchmark picks the fastest per shape): a matvec of `rows` ×
 * `K` at batch `B` (with the RMSNorm prologue where `norm` is true) uses them instead of the
 * default tiles. An empty list clears the table.
 *
 * @example
 * ```ts
 * import { setMatvecTileTable } from "./matvec.ts";
 * setMatvecTileTable([{ rows: 4096, K: 4096, B: 1, tiles: { threadsPerRow: 32, rowsPerWorkgroup: 4, rowsPerThread: 2 } }]);
 * setMatvecTileTable([]);
 * ```
 *
 * @param entries Shapes and their tiles.
 */
export function setMatvecTileTable(
  entries: readonly { rows: number; K: number; B: number; norm?: boolean; tiles: MatvecTiles }[],
): void {
  const table = new Map<string, Required<MatvecTiles>>();
  for (const e of entries) {
    const t = {
      ...(e.norm ? defaultNormTiles : e.B >= 4 ? defaultBatchTiles : defaultTiles),
      ...e.tiles,
    };
    checkTiles(t);
    table.set(tileKey(e.rows, e.K, e.B, e.norm ?? false), t);
  }
  tileTable = table;
}

function checkTiles(t: Required<MatvecTiles>): void {
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
  if (!Number.isInteger(t.rowsPerThread) || t.rowsPerThread < 0 || t.rowsPerThread > 16) {
    throw new RangeError(
      `rowsPerThread must be an integer in 0…16, received ${t.rowsPerThread}`,
    );
  }
  if (![1, 2, 4, 8].includes(t.loadsInFlight)) {
    throw new RangeError(`loadsInFlight must be 1, 2, 4 or 8, received ${t.loadsInFlight}`);
  }
}

/**
 * Sets the tiles the matvec kernels use from now on (the benchmark sweeps them).
 *
 * @example
 * ```ts
 * import { setMatvecTiles } from "./matvec.ts";
 * setMatvecTiles({ threadsPerRow: 64, rowsPerWorkgroup: 4 });
 * setMatvecTiles({ threadsPerRow: 32, rowsPerWorkgroup: 8 }, { norm: true });
 * resetMatvecTiles();
 * ```
 *
 * @param tiles Threads per row and rows per workgroup (for every batch size).
 * @param options `norm`: set the defaults of the matvecs with an RMSNorm prologue instead.
 * @throws {RangeError} If threads per row is not a power of two in 1…256.
 */
export function setMatvecTiles(tiles: MatvecTiles, options: { norm?: boolean } = {}): void {
  const t = { ...BUILTIN_TILES.small, rowsPerThread: 0, loadsInFlight: 2, ...tiles };
  checkTiles(t);
  if (options.norm) defaultNormTiles = t;
  else defaultTiles = defaultBatchTiles = t;
}

/**
 * Restores the built-in default tiles (see {@linkcode MatvecTiles}) that
 * {@linkcode setMatvecTiles} replaced; the tile table is left as it is.
 *
 * @example
 * ```ts
 * import { resetMatvecTiles, setMatvecTiles } from "./matvec.ts";
 * setMatvecTiles({ threadsPerRow: 64, rowsPerWorkgroup: 4 });
 * resetMatvecTiles();
 * ```
 */
export function resetMatvecTiles(): void {
  defaultTiles = BUILTIN_TILES.small;
  defaultBatchTiles = BUILTIN_TILES.large;
  defaultNormTiles = BUILTIN_TILES.norm;
}

const tileKey = (rows: number, K: number, B: number, norm: boolean) =>
  `${rows}x${K}:${B}${norm ? ":norm" : ""}`;

/**
 * The kernel parameters for one block: vector width from the dtype and alignment, tiles from
 * {@linkcode setMatvecTiles} (rows per workgroup reduced to fit the device's workgroup memory).
 *
 * @example
 * ```ts
 * import { matvecParams } from "./matvec.ts";
 * const p = matvecParams({ rows: 10944, K: 4096, B: 1, dtype: "f16" }, 32768, 65535);
 * console.assert(p.VW === 8 && p.T === 128);
 * ```
 *
 * @param s Rows, K, batch, dtype and the optional strides, offsets, bias flag and epilogue.
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
    bias?: boolean;
    glu?: boolean;
    epilogue?: GemmEpilogue;
    cap?: number;
    norm?: boolean;
    normEps?: number;
    splitWidths?: readonly number[];
    splitCaps?: readonly number[];
  },
  workgroupBytes: number,
  maxWorkgroups: number,
): MatvecParams {
  const xStride = s.xStride ?? s.K, xOffset = s.xOffset ?? 0;
  const yStride = s.yStride ?? s.rows, yOffset = s.yOffset ?? 0;
  const VW: 1 | 4 | 8 = s.dtype === "f16" ? (s.K % 8 === 0 ? 8 : 1) : (s.K % 4 === 0 ? 4 : 1);
  const norm = s.norm ?? false;
  const tiles = tileTable.get(tileKey(s.rows, s.K, s.B, norm)) ??
    (norm ? defaultNormTiles : s.B >= 4 ? defaultBatchTiles : defaultTiles);
  const T = tiles.threadsPerRow;
  const transpose = tiles.rowsPerThread > 0;
  const RT = transpose ? tiles.rowsPerThread : s.B >= 4 && 2 * s.B <= T ? 2 : 1;
  let R = tiles.rowsPerWorkgroup;
  const redPerGroup = transpose ? RT * s.B * (T + 1) : T * RT * s.B;
  while (R > 1 && R * redPerGroup * 4 > workgroupBytes) R--;
  while (R > 1 && R * T > 256) R--;
  const groups = Math.ceil(s.rows / (R * RT));
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
    bias: s.bias ?? false,
    glu: s.glu ?? false,
    epilogue: s.epilogue ?? "none",
    cap: s.cap ?? 0,
    norm: s.norm ?? false,
    normEps: s.normEps ?? 0,
    splitWidths: s.splitWidths ?? [],
    splitCaps: s.splitCaps ?? [],
    T,
    R,
    RT,
    transpose,
    U: tiles.loadsInFlight,
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
  const { B, T, R, RT, VW, K } = p;
  const KV = K / VW; // vectors per row (VW divides K)
  const bs = [...Array(B).keys()];
  const rs = [...Array(RT).keys()];
  const wDecl = VW === 8
    ? "array<vec4<u32>>"
    : VW === 4
    ? "array<vec4<f32>>"
    : p.dtype === "f16"
    ? "array<f16>"
    : "array<f32>";
  // x is read as vec4 where each row start and the offset are 4-aligned, else element by element.
  const xVec = VW >= 4 && p.xStride % 4 === 0 && p.xOffset % 4 === 0 && (!p.glu || K % 4 === 0);
  const xDecl = xVec ? "array<vec4<f32>>" : "array<f32>";
  const xRaw = (b: number, at: string, shift: number): string => {
    const base = `${b * p.xStride + p.xOffset + shift}u + ${at}`;
    if (xVec) return `x[(${base}) / 4u]`;
    return `vec4<f32>(x[${base}], x[${base} + 1u], x[${base} + 2u], x[${base} + 3u])`;
  };
  // The RMSNorm prologue scales x by its weight g here and by rsqrt(mean(x²) + eps) once per
  // partial sum (below): one g load per x vector, shared by all batch rows.
  const gv = (at: string): string =>
    xVec ? `g[(${at}) / 4u]` : `vec4<f32>(g[${at}], g[${at} + 1u], g[${at} + 2u], g[${at} + 3u])`;
  const xv = (b: number, at: string): string =>
    p.glu
      ? `glu(${xRaw(b, at, 0)}, ${xRaw(b, at, K)})`
      : p.norm
      ? `(${xRaw(b, at, 0)} * g${at.replace(/[^a-z0-9]/g, "_")})`
      : xRaw(b, at, 0);
  const gLoads = (ats: string[]): string =>
    p.norm ? ats.map((at) => `let g${at.replace(/[^a-z0-9]/g, "_")} = ${gv(at)};`).join(" ") : "";
  // One step of a thread: column vector `ci` of its RT rows. All RT weight loads are issued before
  // they are used; each x vector is loaded once and reused by the RT rows (for large batches the
  // x reads, not W, would otherwise dominate the cache traffic).
  const load = (ci: string, s: string): string =>
    rs.map((r) =>
      VW === 1
        ? `let w${s}${r} = f32(w[rw${r} * ${K}u + ${ci}]);`
        : `let w${s}${r} = w[rw${r} * ${KV}u + ${ci}];`
    ).join("\n    ");
  const use = (ci: string, s: string): string => {
    if (VW === 8) {
      return `{
${
        rs.map((r) =>
          `      let lo${r} = vec4<f32>(unpack2x16float(w${s}${r}.x), unpack2x16float(w${s}${r}.y));
      let hi${r} = vec4<f32>(unpack2x16float(w${s}${r}.z), unpack2x16float(w${s}${r}.w));`
        ).join("\n")
      }
      let e = (${ci}) * 8u;
      ${gLoads(["e", "e + 4u"])}
${
        bs.map((b) =>
          `      { let xl = ${xv(b, "e")}; let xh = ${xv(b, "e + 4u")};
${rs.map((r) => `        acc${r}_${b} += dot(lo${r}, xl) + dot(hi${r}, xh);`).join("\n")} }`
        ).join("\n")
      }
    }`;
    }
    if (VW === 4) {
      return `{
      let e = (${ci}) * 4u;
      ${gLoads(["e"])}
${
        bs.map((b) =>
          `      { let xv4 = ${xv(b, "e")};
${rs.map((r) => `        acc${r}_${b} += dot(w${s}${r}, xv4);`).join("\n")} }`
        ).join("\n")
      }
    }`;
    }
    return `{
${
      bs.map((b) =>
        `      { let xs = ${
          p.norm
            ? `x[${b * p.xStride + p.xOffset}u + ${ci}] * g[${ci}]`
            : p.glu
            ? `glu1(x[${b * p.xStride + p.xOffset}u + ${ci}], x[${
              b * p.xStride + p.xOffset + K
            }u + ${ci}])`
            : `x[${b * p.xStride + p.xOffset}u + ${ci}]`
        };
${rs.map((r) => `        acc${r}_${b} += w${s}${r} * xs;`).join("\n")} }`
      ).join("\n")
    }
    }`;
  };
  // U loads in flight: all U column vectors are loaded before any is used; the rest one by one.
  const us = [...Array(p.U).keys()];
  const at = (j: number) => (j === 0 ? "c" : `c + ${j * T}u`);
  const body = `var c = t;
  for (; c + ${(p.U - 1) * T}u < end; c += ${p.U * T}u) {
    ${us.map((j) => load(at(j), `U${j}`)).join("\n    ")}
    ${us.map((j) => use(at(j), `U${j}`)).join("\n    ")}
  }
  for (; c < end; c += ${T}u) {
    ${load("c", "A")}
    ${use("c", "A")}
  }`;
  const NA = RT * B; // partial sums per thread
  // Transposed: one padded row of T + 1 per output (no bank conflicts when each thread walks one).
  const TS = p.transpose ? T + 1 : T;
  const slot = (r: number, b: number) => (r * B + b) * TS;
  const tree: string[] = [];
  for (let s = T / 2; s >= 1 && !p.transpose; s /= 2) {
    tree.push(`  if (t < ${s}u) {
${
      rs.flatMap((r) =>
        bs.map((b) =>
          `    red[base + ${slot(r, b)}u + t] += red[base + ${slot(r, b)}u + t + ${s}u];`
        )
      ).join("\n")
    }
  }
  workgroupBarrier();`);
  }
  const capped = (cap: number, v: string) =>
    `${lit(cap)} * tanh(clamp(${v} * ${lit(1 / cap)}, -20.0, 20.0))`;
  const epilogue = p.epilogue === "accumulate"
    ? "y[o] + s"
    : p.epilogue === "softcap"
    ? capped(p.cap, "s")
    : "s";
  const split = p.splitWidths.length > 0;
  // Split outputs: the global row (yOffset + row) picks the output tensor and its column.
  let store = `let o = b * ${p.yStride}u + ${p.yOffset}u + row;
      y[o] = ${epilogue};`;
  if (split) {
    const parts: string[] = [];
    let start = 0;
    p.splitWidths.forEach((wd, j) => {
      const cap = p.splitCaps[j] ?? 0;
      const v = cap > 0 ? capped(cap, "s") : "s";
      const cond = `if (gr < ${start + wd}u) `;
      parts.push(`${cond}{ y${j}[b * ${wd}u + gr - ${start}u] = ${v}; }`);
      start += wd;
    });
    store = `let gr = ${p.yOffset}u + row;
      ${parts.join("\n      else ")}`;
  }
  const bindings: string[] = [];
  let nb = 2;
  if (split) {
    p.splitWidths.forEach((_, j) =>
      bindings.push(`@group(0) @binding(${nb++}) var<storage, read_write> y${j}: array<f32>;`)
    );
  } else bindings.push(`@group(0) @binding(${nb++}) var<storage, read_write> y: array<f32>;`);
  if (p.bias) bindings.push(`@group(0) @binding(${nb++}) var<storage, read> bias: array<f32>;`);
  if (p.norm) bindings.push(`@group(0) @binding(${nb++}) var<storage, read> g: ${xDecl};`);
  // The RMSNorm prologue: the workgroup's threads sum x² of every batch row (a few KiB, in the
  // caches) and reduce through \`red\` before it holds the partial sums.
  const TR = T * R;
  let prologue = "";
  if (p.norm) {
    const KX = xVec ? K / 4 : K;
    const lines: string[] = [`  let flat = lid.y * ${T}u + t;`];
    for (const b of bs) {
      const base = xVec ? (b * p.xStride + p.xOffset) / 4 : b * p.xStride + p.xOffset;
      lines.push(`  var ss${b}: f32 = 0.0;
  for (var i = flat; i < ${KX}u; i += ${TR}u) { let v = x[${base}u + i]; ss${b} += ${
        xVec ? "dot(v, v)" : "v * v"
      }; }
  red[${b * TR}u + flat] = ss${b};`);
    }
    lines.push("  workgroupBarrier();");
    let P2 = 1;
    while (P2 < TR) P2 *= 2;
    for (let st = P2 / 2; st >= 1; st /= 2) {
      lines.push(`  if (flat < ${st}u && flat + ${st}u < ${TR}u) {
${bs.map((b) => `    red[${b * TR}u + flat] += red[${b * TR}u + flat + ${st}u];`).join("\n")}
  }
  workgroupBarrier();`);
    }
    for (const b of bs) {
      lines.push(
        `  let rstd${b} = inverseSqrt(red[${b * TR}u] * ${lit(1 / K)} + ${lit(p.normEps)});`,
      );
    }
    // Everyone has read the sums before \`red\` is reused for the partial sums.
    lines.push("  workgroupBarrier();");
    prologue = lines.join("\n");
  }
  const scale = (b: number) => (p.norm ? ` * rstd${b}` : "");
  return `${p.dtype === "f16" && VW === 1 ? "enable f16;\n" : ""}
// matvec: y[b, yOffset + n] = sum_k W[n, k] x[b, xOffset + k]${p.bias ? " + bias[n]" : ""}${
    p.glu ? " with x = silu(gate) * up" : ""
  }, epilogue ${p.epilogue}; ${p.rows} rows, K ${K}, B ${B}, ${RT} rows per thread group
@group(0) @binding(0) var<storage, read> w: ${wDecl};
@group(0) @binding(1) var<storage, read> x: ${xDecl};
${bindings.join("\n")}
${
    p.glu
      ? `fn glu(g: vec4<f32>, u: vec4<f32>) -> vec4<f32> { return g / (vec4<f32>(1.0) + exp(-g)) * u; }
fn glu1(g: f32, u: f32) -> f32 { return g / (1.0 + exp(-g)) * u; }
`
      : ""
  }var<workgroup> red: array<f32, ${R * TS * NA}>;

@compute @workgroup_size(${T}, ${R})
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let t = lid.x;
  let row0 = ((wid.x + wid.y * ${p.WX}u) * ${R}u + lid.y) * ${RT}u;
  // Rows past the end read the last row (in bounds) and are not written.
${rs.map((r) => `  let rw${r} = min(row0 + ${r}u, ${p.rows - 1}u);`).join("\n")}
${rs.flatMap((r) => bs.map((b) => `  var acc${r}_${b}: f32 = 0.0;`)).join("\n")}
  let end = select(0u, ${VW === 1 ? K : KV}u, row0 < ${p.rows}u);
${prologue}
  ${body}
  let base = lid.y * ${NA * TS}u;
${
    rs.flatMap((r) => bs.map((b) => `  red[base + ${slot(r, b)}u + t] = acc${r}_${b}${scale(b)};`))
      .join("\n")
  }
  workgroupBarrier();
${tree.join("\n")}
${
    p.transpose
      ? `  for (var j = t; j < ${NA}u; j += ${T}u) {
    var sum: f32 = 0.0;
    for (var i = 0u; i < ${T}u; i++) { sum += red[base + j * ${TS}u + i]; }
    let r = j / ${B}u;
    let b = j % ${B}u;
    let row = row0 + r;
    if (row < ${p.rows}u) {
      let s = sum${p.bias ? " + bias[row]" : ""};
      ${store}
    }
  }`
      : `  if (t < ${NA}u) {
    let r = t / ${B}u;
    let b = t % ${B}u;
    let row = row0 + r;
    if (row < ${p.rows}u) {
      let s = red[base + t * ${T}u]${p.bias ? " + bias[row]" : ""};
      ${store}
    }
  }`
  }
}
`;
}

/** Options of {@linkcode encodeMatvec}. */
export interface MatvecOptions {
  /** Fused epilogue (as the GEMM's). @default {"none"} */
  epilogue?: GemmEpilogue;
  /** Soft-cap value for epilogue "softcap". */
  cap?: number;
  /** First column of x read (x's last dimension may be wider than K). @default {0} */
  xOffset?: number;
  /** First column of y written (y's last dimension may be wider than N). @default {0} */
  yOffset?: number;
  /**
   * SwiGLU input: the activations are `silu(x[:, xOffset + k]) · x[:, xOffset + K + k]` (x is the
   * feed-forward's [gate | up] projection, rows of at least xOffset + 2K): the SwiGLU is fused
   * into the down projection. @default {false}
   */
  glu?: boolean;
  /**
   * RMSNorm prologue: the activations are `x·rsqrt(mean(x²) + eps)·weight` over the K columns
   * read (the norm before a projection, without a dispatch of its own). Not with `glu`.
   */
  norm?: { weight: GpuTensor; eps: number };
}

interface MatvecArgs extends MatvecOptions {
  weight: LinearWeight;
  x: GpuTensor;
  y: GpuTensor;
}

/** Checks x, y and the options; `splitN`: the outputs were checked apart (widths sum to N). */
function checkArgs(
  a: MatvecArgs,
  splitN = 0,
): { B: number; xStride: number; yStride: number } {
  const { weight: w, x, y } = a;
  if (!(x instanceof GpuTensor) || x.dtype !== "f32" || x.shape.length < 1) {
    throw new TypeError(
      `Argument x must be an f32 GpuTensor of shape (…, K), received ${
        x instanceof GpuTensor ? `${x.dtype} ${formatShape(x.shape)}` : typeof x
      }`,
    );
  }
  if (splitN === 0 && (!(y instanceof GpuTensor) || y.dtype !== "f32" || y.shape.length < 1)) {
    throw new TypeError(
      `Argument y must be an f32 GpuTensor of shape (…, N), received ${
        y instanceof GpuTensor ? `${y.dtype} ${formatShape(y.shape)}` : typeof y
      }`,
    );
  }
  // Leading dimensions flatten into the batch: (B, K), (B, 1, K) and (K) all work.
  const xStride = x.shape[x.shape.length - 1]!, B = x.size / xStride;
  // A split projection is checked as one output (B, N) here (its outputs were checked apart).
  const yStride = splitN || y.shape[y.shape.length - 1]!;
  const By = splitN ? B : y.size / yStride;
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
  const xCols = (a.glu ? 2 : 1) * w.K;
  if (!Number.isInteger(xOffset) || xOffset < 0 || xOffset + xCols > xStride) {
    throw new RangeError(
      `x of shape ${formatShape(x.shape)} with xOffset ${xOffset} does not hold ${
        a.glu ? `2K = ${xCols} (SwiGLU gate and up)` : `K = ${w.K}`
      } columns`,
    );
  }
  if (!Number.isInteger(yOffset) || yOffset < 0 || yOffset + w.N > yStride) {
    throw new RangeError(
      `y of shape ${formatShape(y.shape)} with yOffset ${yOffset} does not hold N = ${w.N} columns`,
    );
  }
  if (!splitN && y.buffer === x.buffer) {
    throw new RangeError("y must not share its buffer with x");
  }
  if (a.norm) {
    const g = a.norm.weight;
    if (!(g instanceof GpuTensor) || g.dtype !== "f32" || g.size !== w.K) {
      throw new TypeError(
        `The norm weight must be an f32 GpuTensor of K = ${w.K} elements, received ${
          g instanceof GpuTensor ? `${g.dtype} ${formatShape(g.shape)}` : typeof g
        }`,
      );
    }
    if (a.glu) throw new RangeError("A matvec takes either the norm prologue or the SwiGLU input");
    if (!(a.norm.eps >= 0)) {
      throw new RangeError(`The norm eps must be ≥ 0, received ${a.norm.eps}`);
    }
  }
  if (a.epilogue === "softcap" && !((a.cap ?? 0) > 0)) {
    throw new RangeError(`Matvec epilogue "softcap" needs a cap > 0, received ${a.cap}`);
  }
  return { B, xStride, yStride };
}

/**
 * Records `y = W·x (+ bias)` with the chosen epilogue into a dispatch batch, for x with 1 to 16 rows
 * (the same contract as `encodeGemm`, for decoding): one dispatch per row block of W. Nothing runs
 * until the batch is submitted, so a whole decoding step shares one submit.
 *
 * @example
 * ```ts no-eval
 * import { DispatchBatch, getGpu, GpuTensor } from "../runtime.ts";
 * import { linearWeightFromTensor } from "./gemm.ts";
 * import { encodeMatvec } from "./matvec.ts";
 * const gpu = await getGpu();
 * const w = linearWeightFromTensor(gpu, { shape: [2, 4], data: new Float32Array([1, 0, 0, 0, 0, 1, 0, 0]) });
 * const x = GpuTensor.fromTensor(gpu, { shape: [1, 4], data: new Float32Array([3, 4, 5, 6]) });
 * const y = GpuTensor.empty(gpu, [1, 2]);
 * const batch = new DispatchBatch(gpu);
 * await encodeMatvec(batch, x, w, y);
 * await batch.submit();
 * console.assert((await y.read()).data[1] === 4);
 * ```
 *
 * @param batch The batch to record into.
 * @param x Activations, f32, (…, K) (or wider with `xOffset`), 1 to 16 rows.
 * @param weight W (N × K) with optional bias.
 * @param y Output, f32, (…, N) (or wider with `yOffset`), as many rows as x.
 * @param options Epilogue, cap, column offsets.
 * @returns The batch.
 * @throws {TypeError | RangeError} For a wrong dtype, shape, row count or offset, before anything runs.
 */
export async function encodeMatvec(
  batch: DispatchBatch,
  x: GpuTensor,
  weight: LinearWeight,
  y: GpuTensor,
  options: MatvecOptions = {},
): Promise<DispatchBatch> {
  const args: MatvecArgs = { ...options, weight, x, y };
  const { B, xStride, yStride } = checkArgs(args);
  return await encodeBlocks(batch, args, B, xStride, yStride, [y], []);
}

/** One output of {@linkcode encodeMatvecSplit}: a tensor (B, width) and an optional soft cap. */
export interface MatvecSplitOutput {
  /** Output (B, width), f32. */
  y: GpuTensor;
  /** Soft cap `cap·tanh(y/cap)` of this output (0 or absent: none). */
  cap?: number;
}

/**
 * Records `W·x` with the rows of W split over several outputs: rows [0, w0) go to outputs[0]
 * (B, w0) (any shape (B, …) of B·w0 elements), the next w1 rows to outputs[1], and so on, each optionally soft-capped. The decoding
 * step's fused projection writes q, k, v, o and the capped gates this way, with no split dispatch.
 * Takes the RMSNorm prologue (`norm`), the column offset of x and W's bias; no other epilogue.
 *
 * @example
 * ```ts no-eval
 * import { DispatchBatch, getGpu, GpuTensor } from "../runtime.ts";
 * import { linearWeightFromTensor } from "./gemm.ts";
 * import { encodeMatvecSplit } from "./matvec.ts";
 * const gpu = await getGpu();
 * const w = linearWeightFromTensor(gpu, { shape: [3, 2], data: new Float32Array([1, 0, 0, 1, 1, 1]) });
 * const x = GpuTensor.fromTensor(gpu, { shape: [1, 2], data: new Float32Array([3, 4]) });
 * const a = GpuTensor.empty(gpu, [1, 2]), b = GpuTensor.empty(gpu, [1, 1]);
 * const batch = new DispatchBatch(gpu);
 * await encodeMatvecSplit(batch, x, w, [{ y: a }, { y: b, cap: 5 }]);
 * await batch.submit();
 * console.assert((await a.read()).data[1] === 4);
 * ```
 *
 * @param batch The batch to record into.
 * @param x Activations, f32, (…, K) (or wider with `xOffset`), 1 to 16 rows.
 * @param weight W (N × K) with optional bias.
 * @param outputs The outputs in row order; their widths sum to N or less (W's last rows, a
 *   padding, are then not written).
 * @param options Column offset of x, RMSNorm prologue.
 * @returns The batch.
 * @throws {TypeError | RangeError} For a wrong dtype, shape, width or option, before anything runs.
 */
export async function encodeMatvecSplit(
  batch: DispatchBatch,
  x: GpuTensor,
  weight: LinearWeight,
  outputs: readonly MatvecSplitOutput[],
  options: Pick<MatvecOptions, "xOffset" | "norm"> = {},
): Promise<DispatchBatch> {
  if (!Array.isArray(outputs) || outputs.length < 1) {
    throw new RangeError("Argument outputs must list at least one output");
  }
  const widths: number[] = [], caps: number[] = [];
  let N = 0;
  const rows = x instanceof GpuTensor ? x.size / (x.shape[x.shape.length - 1] || 1) : 0;
  outputs.forEach((o, j) => {
    const t = o.y;
    if (!(t instanceof GpuTensor) || t.dtype !== "f32") {
      throw new TypeError(`outputs[${j}].y must be an f32 GpuTensor (B, width)`);
    }
    // Any shape (B, …): the trailing dimensions flatten into the width.
    const wd = t.size / rows;
    if (!Number.isInteger(wd) || wd < 1) {
      throw new RangeError(
        `outputs[${j}].y of shape ${formatShape(t.shape)} must have as many rows as x (${
          formatShape(x.shape)
        })`,
      );
    }
    if (t.buffer === x.buffer) throw new RangeError(`outputs[${j}].y must not share x's buffer`);
    const cap = o.cap ?? 0;
    if (!(cap >= 0)) throw new RangeError(`outputs[${j}].cap must be ≥ 0, received ${o.cap}`);
    widths.push(wd);
    caps.push(cap);
    N += wd;
  });
  if (N > weight.N) {
    throw new RangeError(`The output widths sum to ${N}, more than W's N = ${weight.N} rows`);
  }
  // Checked as one output of width N (the rows and offsets of x).
  const args: MatvecArgs = { ...options, weight, x, y: outputs[0]!.y };
  if (!(x instanceof GpuTensor)) throw new TypeError("Argument x must be an f32 GpuTensor (…, K)");
  const { B, xStride } = checkArgs(args, weight.N);
  return await encodeBlocks(
    batch,
    args,
    B,
    xStride,
    weight.N,
    outputs.map((o) => o.y),
    widths,
    caps,
  );
}

async function encodeBlocks(
  batch: DispatchBatch,
  args: MatvecArgs,
  B: number,
  xStride: number,
  yStride: number,
  ys: GpuTensor[],
  splitWidths: number[],
  splitCaps: number[] = [],
): Promise<DispatchBatch> {
  const { weight, x } = args;
  const options: MatvecOptions = args;
  const gpu = batch.gpu;
  let rowStart = 0;
  for (let j = 0; j < weight.blocks.length; j++) {
    const blk = weight.blocks[j]!;
    const rows = blk.shape[0]!;
    const p = matvecParams(
      {
        rows,
        K: weight.K,
        B,
        dtype: weight.dtype,
        xStride,
        xOffset: options.xOffset ?? 0,
        yStride,
        yOffset: (options.yOffset ?? 0) + rowStart,
        bias: weight.bias !== undefined,
        glu: options.glu ?? false,
        epilogue: options.epilogue ?? "none",
        cap: options.cap ?? 0,
        norm: options.norm !== undefined,
        normEps: options.norm?.eps ?? 0,
        splitWidths,
        splitCaps,
      },
      gpu.limits.maxComputeWorkgroupStorageSize,
      gpu.limits.maxComputeWorkgroupsPerDimension,
    );
    checkBindingSize(gpu, blk.byteSize, "matvec weight block");
    const key = `matvec:${JSON.stringify(p)}`;
    const pipeline = await getPipeline(gpu, key, () => matvecWgsl(p));
    const groups = Math.ceil(rows / (p.R * p.RT));
    const bytesW = rows * p.K * (p.dtype === "f16" ? 2 : 4);
    batch.dispatch({
      label: `matvec ${rows}x${p.K} ${p.dtype} B${B}`,
      pipeline,
      buffers: [
        blk,
        x,
        ...ys,
        ...(weight.bias ? [weight.bias[j]!] : []),
        ...(options.norm ? [options.norm.weight] : []),
      ],
      workgroups: [p.WX, Math.ceil(groups / p.WX)],
      flops: 2 * B * rows * p.K,
      bytes: bytesW + 4 * B * (p.K + rows * (p.epilogue === "accumulate" ? 2 : 1)),
      meta: {
        rows,
        K: p.K,
        B,
        dtype: p.dtype,
        T: p.T,
        R: p.R,
        RT: p.RT,
        U: p.U,
        VW: p.VW,
        transpose: p.transpose,
      },
    });
    rowStart += rows;
  }
  if (rowStart !== weight.N) {
    throw new GpuError(`Weight blocks hold ${rowStart} rows, expected N = ${weight.N}`);
  }
  return batch;
}

/**
 * `W·x (+ bias)` as a fresh device tensor (B, N): one batch, one submit (no wait). For a decoding
 * step, record with {@linkcode encodeMatvec} into a shared batch instead.
 *
 * @example
 * ```ts no-eval
 * import { getGpu, GpuTensor } from "../runtime.ts";
 * import { linearWeightFromTensor } from "./gemm.ts";
 * import { matvec } from "./matvec.ts";
 * const gpu = await getGpu();
 * const w = linearWeightFromTensor(gpu, { shape: [1, 4], data: new Float32Array([1, 1, 1, 1]) }, "f16");
 * const y = await matvec(GpuTensor.fromTensor(gpu, { shape: [1, 4], data: new Float32Array([1, 2, 3, 4]) }), w);
 * console.assert((await y.read()).data[0] === 10);
 * ```
 *
 * @param x Activations (B, K), f32.
 * @param weight The weight W (N × K).
 * @param options Epilogue ("none" or "softcap"), cap; `poison`: fill the output with NaN first (tests).
 * @returns y (B, N), f32.
 */
export async function matvec(
  x: GpuTensor,
  weight: LinearWeight,
  options: { epilogue?: "none" | "softcap"; cap?: number; poison?: boolean } = {},
): Promise<GpuTensor> {
  const B = x.size / (x.shape[x.shape.length - 1] || 1);
  const y = GpuTensor.empty(x.gpu, [B, weight.N], "f32", { poison: options.poison ?? false });
  const batch = new DispatchBatch(x.gpu);
  try {
    await encodeMatvec(batch, x, weight, y, {
      epilogue: options.epilogue ?? "none",
      ...(options.cap !== undefined ? { cap: options.cap } : {}),
    });
    await batch.submit();
  } catch (e) {
    y.destroy();
    throw e;
  }
  return y;
}
