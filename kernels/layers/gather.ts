/**
 * The embedding gather: `out[t, :] = table[ids[t], :]` with the token ids in a GPU buffer (so that
 * a sampler on the GPU can feed the next step without a read-back). The table is a
 * {@linkcode LinearWeight} (V × D, f32 or f16, split into row blocks when it exceeds one storage
 * binding); one dispatch per block, each writing the tokens whose id falls in its rows.
 *
 * Token ids travel as a {@linkcode GpuTensor} of shape (B, S) whose 32-bit words are `u32` ids
 * (its dtype reads "f32": the container; {@linkcode uploadTokenIds} writes it).
 *
 * @module
 */

import { formatShape } from "../../core/tensor.ts";
import { type DispatchBatch, getPipeline, type Gpu, GpuTensor } from "../runtime.ts";
import { grid, GRID_BUILTINS, storageThenUniform } from "./_common.ts";
import type { LinearWeight } from "./gemm.ts";

const WG = 256;

/**
 * Generates the WGSL of the gather for row length D, a table block of `rows` rows in `dtype`.
 * Bindings: ids (u32), table block, out, uniforms `{ tokens, r0 }`.
 *
 * @example
 * ```ts
 * import { gatherWgsl } from "./gather.ts";
 * console.assert(gatherWgsl(8, 10, "f16").startsWith("enable f16;"));
 * ```
 *
 * @param D Row length.
 * @param rows Rows of the table block.
 * @param dtype Storage type of the table.
 * @returns The WGSL source.
 */
export function gatherWgsl(D: number, rows: number, dtype: "f32" | "f16"): string {
  const V = D % 4 === 0 ? 4 : 1;
  const T = (s: string) => (V === 4 ? `vec4<${s}>` : s);
  const DV = D / V;
  return [
    dtype === "f16" ? "enable f16;" : "",
    `// gather D=${D} rows=${rows} ${dtype}`,
    `struct U { tokens: u32, r0: u32, p0: u32, p1: u32 }`,
    `@group(0) @binding(0) var<storage, read> ids: array<u32>;`,
    `@group(0) @binding(1) var<storage, read> table: array<${T(dtype)}>;`,
    `@group(0) @binding(2) var<storage, read_write> out: array<${T("f32")}>;`,
    `@group(0) @binding(3) var<uniform> u: U;`,
    `const WG = ${WG}u;`,
    `@compute @workgroup_size(${WG})`,
    `fn main(${GRID_BUILTINS}) {`,
    `  let g = (wid.y * nwg.x + wid.x) * WG + lid.x;`,
    `  if (g >= u.tokens * ${DV}u) { return; }`,
    `  let tok = g / ${DV}u;`,
    `  let j = g % ${DV}u;`,
    `  let id = ids[tok];`,
    `  if (id < u.r0 || id >= u.r0 + ${rows}u) { return; }`,
    `  out[g] = ${T("f32")}(table[(id - u.r0) * ${DV}u + j]);`,
    `}`,
  ].filter((l) => l !== "").join("\n");
}

/**
 * Validates token ids (B rows of S integers in [0, V)) and uploads them as `u32` words in a
 * (B, S) GpuTensor container for {@linkcode encodeGather}.
 *
 * @example
 * ```ts no-eval
 * import { getGpu } from "../runtime.ts";
 * import { uploadTokenIds } from "./gather.ts";
 * const ids = uploadTokenIds(await getGpu(), [[0, 5, 2]], 10);
 * console.assert(ids.shape.join() === "1,3");
 * ```
 *
 * @param gpu The device.
 * @param ids Token ids (B, S).
 * @param V Vocabulary size.
 * @returns The ids on the GPU.
 * @throws {RangeError} Naming the first bad row or id.
 */
export function uploadTokenIds(
  gpu: Gpu,
  ids: readonly (readonly number[])[],
  V: number,
): GpuTensor {
  if (!Array.isArray(ids) || ids.length === 0 || !Array.isArray(ids[0]) || ids[0].length === 0) {
    throw new RangeError(
      "Argument ids must be a non-empty array of non-empty token-id rows (B, S)",
    );
  }
  const B = ids.length, S = ids[0].length;
  const words = new Uint32Array(B * S);
  for (let b = 0; b < B; b++) {
    const row = ids[b];
    if (!Array.isArray(row) || row.length !== S) {
      throw new RangeError(
        `Argument ids must have rows of equal length: ids[0] has ${S} tokens, ids[${b}] has ${
          Array.isArray(row) ? row.length : "no array"
        }`,
      );
    }
    for (let s = 0; s < S; s++) {
      const id = row[s];
      if (!Number.isInteger(id) || id! < 0 || id! >= V) {
        throw new RangeError(
          `Argument ids[${b}][${s}] must be an integer token id in [0, ${V}), received ${id}`,
        );
      }
      words[b * S + s] = id!;
    }
  }
  const t = GpuTensor.empty(gpu, [B, S]);
  gpu.device.queue.writeBuffer(t.buffer, 0, words);
  return t;
}

/**
 * Encodes the gather `out (B, S, D) = table[ids]` into `batch`.
 *
 * @example
 * ```ts no-eval
 * import { DispatchBatch, getGpu, GpuTensor } from "../runtime.ts";
 * import { encodeGather, linearWeightFromTensor, uploadTokenIds } from "./mod.ts";
 * const gpu = await getGpu();
 * const table = linearWeightFromTensor(gpu, { shape: [3, 2], data: new Float64Array([0, 1, 2, 3, 4, 5]) });
 * const ids = uploadTokenIds(gpu, [[2, 0]], 3);
 * const out = GpuTensor.empty(gpu, [1, 2, 2]);
 * const batch = new DispatchBatch(gpu);
 * await encodeGather(batch, ids, table, out);
 * await batch.submit();
 * console.assert((await out.read()).data[0] === 4);
 * ```
 *
 * @param batch The batch.
 * @param ids Token ids from {@linkcode uploadTokenIds} (or a sampler), (B, S) u32 words.
 * @param table The embedding table (V × D).
 * @param out Output (B, S, D), f32.
 * @throws {TypeError} If the shapes disagree.
 */
export async function encodeGather(
  batch: DispatchBatch,
  ids: GpuTensor,
  table: LinearWeight,
  out: GpuTensor,
): Promise<void> {
  const D = table.K;
  const tokens = ids.size;
  if (out.dtype !== "f32" || out.size !== tokens * D || out.shape[out.shape.length - 1] !== D) {
    throw new TypeError(
      `Gather output must be f32 (…, ${D}) with ${tokens} rows, received ${
        formatShape(out.shape)
      } ${out.dtype}`,
    );
  }
  const gpu = batch.gpu;
  const V = D % 4 === 0 ? 4 : 1;
  let r0 = 0;
  for (const block of table.blocks) {
    const rows = block.shape[0]!;
    const pipeline = await getPipeline(
      gpu,
      `gather:${D}:${rows}:${table.dtype}`,
      () => gatherWgsl(D, rows, table.dtype),
      "main",
      storageThenUniform(3),
    );
    batch.dispatch({
      label: `gather D=${D} ${table.dtype}`,
      pipeline,
      buffers: [ids, block, out],
      uniforms: new Uint32Array([tokens, r0, 0, 0]),
      workgroups: grid((tokens * D) / V, WG, gpu.limits.maxComputeWorkgroupsPerDimension),
    });
    r0 += rows;
  }
}
